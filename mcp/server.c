/* server.c - the MCP server's state: its sandboxes and calls in flight. */
#include "mcp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void mcp_config_defaults(mcp_config *c) {
    memset(c, 0, sizeof *c);
    c->default_ttl = 600;
    c->max_sandboxes = 16;
    c->max_calls = 32;
    c->max_output_bytes = 1u << 20;
    c->max_archive_bytes = 64u << 20;
}

int mcp_server_init(mcp_server *s, nox_client *client, const mcp_config *cfg) {
    memset(s, 0, sizeof *s);
    s->client = client;
    s->cfg = *cfg;
    if (pthread_mutex_init(&s->lock, NULL) != 0)
        return NOX_ENOMEM;
    if (pthread_cond_init(&s->idle, NULL) != 0) {
        pthread_mutex_destroy(&s->lock);
        return NOX_ENOMEM;
    }
    return 0;
}

int mcp_server_add_ours(mcp_server *s, const char *id) {
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    if (s->n_ours == s->cap_ours) {
        size_t cap = s->cap_ours ? s->cap_ours * 2 : 8;
        char **grown = realloc(s->ours, cap * sizeof *grown);
        if (!grown)
            rc = NOX_ENOMEM;
        else {
            s->ours = grown;
            s->cap_ours = cap;
        }
    }
    if (rc == 0 && !(s->ours[s->n_ours] = strdup(id)))
        rc = NOX_ENOMEM;
    if (rc == 0)
        s->n_ours++;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int mcp_server_forget_ours(mcp_server *s, const char *id) {
    int found = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n_ours; i++)
        if (strcmp(s->ours[i], id) == 0) {
            free(s->ours[i]);
            s->ours[i] = s->ours[--s->n_ours];
            found = 1;
            break;
        }
    pthread_mutex_unlock(&s->lock);
    return found;
}

int mcp_server_is_ours(mcp_server *s, const char *id) {
    int found = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n_ours && !found; i++)
        found = strcmp(s->ours[i], id) == 0;
    pthread_mutex_unlock(&s->lock);
    return found;
}

size_t mcp_server_count_ours(mcp_server *s) {
    pthread_mutex_lock(&s->lock);
    size_t n = s->n_ours;
    pthread_mutex_unlock(&s->lock);
    return n;
}

char **mcp_server_ours_copy(mcp_server *s) {
    pthread_mutex_lock(&s->lock);
    char **v = calloc(s->n_ours + 1, sizeof *v);
    for (size_t i = 0; v && i < s->n_ours; i++)
        v[i] = strdup(s->ours[i]);
    pthread_mutex_unlock(&s->lock);
    return v;
}

/* Cancel every running exec and wait until no call runs (or wait_ms). */
static void stop_calls(mcp_server *s, int wait_ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    s->closing = 1;
    for (mcp_flight *f = s->flights; f; f = f->next) {
        f->cancelled = 1;
        if (f->stream)
            nox_exec_cancel(f->stream);
    }
    while (s->running > 0)
        if (pthread_cond_timedwait(&s->idle, &s->lock, &until) == ETIMEDOUT)
            break;
    if (s->running > 0)
        fprintf(stderr, "noxrunner-mcp: %d tool call(s) still running at exit\n",
                s->running);
    pthread_mutex_unlock(&s->lock);
}

void mcp_server_shutdown(mcp_server *s, int wait_ms) {
    stop_calls(s, wait_ms);
    if (s->cfg.keep_sandboxes)
        return;
    char **ids = mcp_server_ours_copy(s);
    for (size_t i = 0; ids && ids[i]; i++) {
        nox_error *err = NULL;
        int rc = nox_sandbox_delete(s->client, ids[i], &err);
        if (rc != 0 && rc != NOX_ENOTFOUND)
            fprintf(stderr, "noxrunner-mcp: deleting sandbox %s: %s\n", ids[i],
                    nox_error_message(err));
        else
            fprintf(stderr, "noxrunner-mcp: deleted sandbox %s\n", ids[i]);
        nox_error_free(err);
        mcp_server_forget_ours(s, ids[i]);
        free(ids[i]);
    }
    free(ids);
}

void mcp_server_destroy(mcp_server *s) {
    for (size_t i = 0; i < s->n_ours; i++)
        free(s->ours[i]);
    free(s->ours);
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
}

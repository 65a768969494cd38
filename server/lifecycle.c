/* lifecycle.c - what the server tracks across requests: which sandboxes
 * it created (deleted on exit unless --keep-sandboxes), which execs are
 * running (canceled when the shutdown grace period runs out), and how
 * many run in each sandbox (bounded, so one client cannot pile up
 * unlimited processes and threads on one sandbox). */
#include "server.h"

#include <stdlib.h>
#include <string.h>

struct srv_sid_node {
    srv_sid_node *next;
    char sid[];
};

struct srv_busy_node {
    srv_busy_node *next;
    unsigned running;
    char sid[];
};

struct srv_stream_node {
    srv_stream_node *next;
    nox_exec_stream *stream;
};

int lifecycle_init(server *s) {
    s->created = NULL;
    s->streams = NULL;
    s->busy = NULL;
    return pthread_mutex_init(&s->lock, NULL) == 0 ? 0 : -1;
}

void lifecycle_destroy(server *s) {
    pthread_mutex_lock(&s->lock);
    while (s->created) {
        srv_sid_node *n = s->created;
        s->created = n->next;
        free(n);
    }
    while (s->busy) {
        srv_busy_node *n = s->busy;
        s->busy = n->next;
        free(n);
    }
    while (s->streams) {
        srv_stream_node *n = s->streams;
        s->streams = n->next;
        free(n);
    }
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_destroy(&s->lock);
}

static srv_sid_node **find_sid(server *s, const char *sid) {
    srv_sid_node **p = &s->created;
    while (*p && strcmp((*p)->sid, sid) != 0)
        p = &(*p)->next;
    return p;
}

void lifecycle_note_created(server *s, const char *sid) {
    size_t n = strlen(sid);
    pthread_mutex_lock(&s->lock);
    srv_sid_node **p = find_sid(s, sid);
    if (!*p) {
        srv_sid_node *node = malloc(sizeof *node + n + 1);
        if (node) {
            memcpy(node->sid, sid, n + 1);
            node->next = s->created;
            s->created = node;
        }
    }
    pthread_mutex_unlock(&s->lock);
}

int lifecycle_is_created(server *s, const char *sid) {
    pthread_mutex_lock(&s->lock);
    int found = *find_sid(s, sid) != NULL;
    pthread_mutex_unlock(&s->lock);
    return found;
}

void lifecycle_forget(server *s, const char *sid) {
    pthread_mutex_lock(&s->lock);
    srv_sid_node **p = find_sid(s, sid);
    if (*p) {
        srv_sid_node *dead = *p;
        *p = dead->next;
        free(dead);
    }
    pthread_mutex_unlock(&s->lock);
}

unsigned lifecycle_delete_created(server *s) {
    unsigned deleted = 0;
    for (;;) {
        /* Take one at a time: a delete may be slow, and holding the lock
         * across it would stall any request still finishing. */
        pthread_mutex_lock(&s->lock);
        srv_sid_node *n = s->created;
        if (n)
            s->created = n->next;
        pthread_mutex_unlock(&s->lock);
        if (!n)
            break;
        nox_error *err = NULL;
        int rc = nox_sandbox_delete(s->client, n->sid, &err);
        if (rc == 0)
            deleted++;
        else if (rc != NOX_ENOTFOUND)
            log_msg("could not delete sandbox on exit: %s",
                    err ? nox_error_message(err) : nox_code_description(rc));
        nox_error_free(err);
        free(n);
    }
    return deleted;
}

void lifecycle_track_stream(server *s, nox_exec_stream *st) {
    srv_stream_node *n = malloc(sizeof *n);
    if (!n)
        return; /* only shutdown's cancel would miss it */
    n->stream = st;
    pthread_mutex_lock(&s->lock);
    n->next = s->streams;
    s->streams = n;
    pthread_mutex_unlock(&s->lock);
}

void lifecycle_untrack_stream(server *s, nox_exec_stream *st) {
    pthread_mutex_lock(&s->lock);
    for (srv_stream_node **p = &s->streams; *p; p = &(*p)->next) {
        if ((*p)->stream == st) {
            srv_stream_node *dead = *p;
            *p = dead->next;
            free(dead);
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
}

unsigned lifecycle_cancel_streams(server *s) {
    unsigned n = 0;
    /* Under the lock, so no stream is freed while we cancel it (its owner
     * untracks it, which takes the lock, before freeing). */
    pthread_mutex_lock(&s->lock);
    for (srv_stream_node *p = s->streams; p; p = p->next) {
        nox_exec_cancel(p->stream);
        n++;
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}

int lifecycle_exec_enter(server *s, const char *sid) {
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    srv_busy_node **p = &s->busy;
    while (*p && strcmp((*p)->sid, sid) != 0)
        p = &(*p)->next;
    if (!*p) {
        size_t n = strlen(sid);
        srv_busy_node *node = malloc(sizeof *node + n + 1);
        if (node) {
            memcpy(node->sid, sid, n + 1);
            node->running = 1;
            node->next = s->busy;
            s->busy = node;
        }
        /* Without memory for the count, let the exec run uncounted: a
         * leave without a node is ignored. */
    } else if ((*p)->running >= s->cfg.max_execs) {
        rc = -1;
    } else {
        (*p)->running++;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void lifecycle_exec_leave(server *s, const char *sid) {
    pthread_mutex_lock(&s->lock);
    for (srv_busy_node **p = &s->busy; *p; p = &(*p)->next) {
        if (strcmp((*p)->sid, sid) == 0) {
            if (--(*p)->running == 0) {
                srv_busy_node *dead = *p;
                *p = dead->next;
                free(dead);
            }
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
}

/*
 * lifecycle.c - the sandbox's life as pid 1 sees it: meta.json and the
 * limits report in it, the TTL watch (expiry, eviction, a removed session
 * directory), and ending everything.
 */
#include "agent.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DIR_CHECK_MS 2000 /* how often the TTL thread checks the session dir */

int64_t agent_expires_s_locked(const agent_ctx *ctx) { return (ctx->expires_ms + 999) / 1000; }

/* ---- the limits report --------------------------------------------------------- */

static void add_cg_limit(cJSON *o, const agent_ctx *ctx, const char *key, int ctl,
                         const char *rlimit) {
    nox__buf b = {0};
    if (cg_describe(&ctx->cg, ctl, rlimit, &b) == 0)
        cJSON_AddStringToObject(o, key, nox__buf_str(&b));
    nox__buf_free(&b);
}

/* The limits in force at the namespaces level, as meta.json's "limits"
 * (the library hands it to nox_info() as it is). */
static cJSON *limits_report(const agent_ctx *ctx) {
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    nox__buf nproc = {0}, dirs = {0};
    nox__buf_printf(&nproc, "rlimit-nproc %ld (%s)", ctx->iso.nproc,
                    ctx->iso.root_mode ? "the sandbox's own host uid"
                                       : "shared with the caller's uid");
    add_cg_limit(o, ctx, "memory", LOCAL_CG_MEMORY,
                 ctx->cfg.mem_bytes ? "rlimit-as per process" : NULL);
    add_cg_limit(o, ctx, "pids", LOCAL_CG_PIDS, nox__buf_str(&nproc));
    cJSON_AddStringToObject(o, "openFiles", "rlimit-nofile 4096");
    cJSON_AddStringToObject(o, "fileSize", ctx->cfg.storage_bytes
                                               ? "tmpfs size and nr_inodes for /workspace, /tmp "
                                                 "and /dev/shm together; rlimit-fsize per file"
                                               : "unlimited");
    add_cg_limit(o, ctx, "cpu", LOCAL_CG_CPU, NULL);
    if (cg_describe_dirs(&ctx->cg, &dirs) == 0)
        cJSON_AddStringToObject(o, "cgroups", nox__buf_str(&dirs));
    cJSON_AddNumberToObject(o, "hostUid", (double)ctx->iso.host_uid);
    nox__buf_free(&nproc);
    nox__buf_free(&dirs);
    return o;
}

int agent_write_meta_locked(agent_ctx *ctx) {
    cJSON *o = cJSON_CreateObject();
    char iso[32];
    if (!o)
        return -ENOMEM;
    int64_t expires = agent_expires_s_locked(ctx);
    nox__format_iso8601(expires, iso, sizeof iso);
    int ns = ctx->cfg.level == AGENT_LEVEL_NAMESPACES;
    cJSON_AddStringToObject(o, "sessionId", ctx->sid);
    cJSON_AddStringToObject(o, "podName", ctx->pod);
    cJSON_AddNumberToObject(o, "ttlSeconds", (double)ctx->ttl);
    cJSON_AddStringToObject(o, "expiresAt", iso);
    cJSON_AddNumberToObject(o, "expiresAtUnix", (double)expires);
    cJSON_AddNumberToObject(o, "agentPid", (double)ctx->host_pid);
    cJSON_AddNumberToObject(o, "agentStart", (double)ctx->host_start);
    cJSON_AddStringToObject(o, "isolation", ns ? "namespaces" : "none");
    cJSON *lim = ns ? limits_report(ctx) : NULL;
    if (lim)
        cJSON_AddItemToObject(o, "limits", lim);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return -ENOMEM;
    int rc = nox__write_file_at(ctx->dir_fd, NOX_META_FILE, s, strlen(s), 0600);
    cJSON_free(s);
    return rc;
}

/* ---- ending ---------------------------------------------------------------------- */

int agent_claim_end(agent_ctx *ctx) {
    pthread_mutex_lock(&ctx->mu);
    int mine = !ctx->terminating;
    ctx->terminating = 1;
    pthread_mutex_unlock(&ctx->mu);
    return mine;
}

void agent_terminate(agent_ctx *ctx, int remove_dir) {
    children_kill_all(ctx, 5000);
    if (remove_dir) {
        int rc = nox__rm_tree_at(ctx->base_fd, ctx->dir_name);
        if (rc == -EACCES || rc == -EPERM)
            ctx->exit_status = AGENT_EXIT_REMOVE; /* B removes it */
        else if (rc)
            agent_log("removing %s: %s", ctx->session_dir, strerror(-rc));
    } else {
        unlinkat(ctx->dir_fd, NOX_SOCK_FILE, 0);
    }
}

/* End the sandbox from the TTL thread (mu held, terminating claimed):
 * under the session lock when the session goes, so no create that is
 * refreshing the TTL races us. */
static void __attribute__((noreturn)) end_now(agent_ctx *ctx, int remove_dir, int locked) {
    pthread_mutex_unlock(&ctx->mu);
    while (remove_dir && !locked && flock(ctx->lock_fd, LOCK_EX) != 0 && errno == EINTR) {
    }
    agent_terminate(ctx, remove_dir);
    int code = remove_dir ? ctx->exit_status : 0;
    if (ctx->expired) /* B tells the next caller why */
        code = code == AGENT_EXIT_REMOVE ? AGENT_EXIT_EXPIRED_REMOVE : AGENT_EXIT_EXPIRED;
    _exit(code);
}

/* ---- the TTL watch --------------------------------------------------------------- */

/* Someone removed the session directory (rm -rf of the base dir): nobody
 * can reach us any more, so end everything. */
static void check_dir(agent_ctx *ctx) {
    struct stat st;
    if (ctx->terminating || fstat(ctx->dir_fd, &st) != 0 || st.st_nlink != 0)
        return;
    ctx->terminating = 1;
    agent_log("session directory removed; ending the sandbox");
    end_now(ctx, 0, 0);
}

/* Sleep until the expiry or the next check; 1 when it slept. */
static int wait_expiry(agent_ctx *ctx, int64_t now) {
    if (!ctx->terminating && now >= ctx->expires_ms)
        return 0;
    int64_t until = ctx->terminating ? now + 3600 * 1000 : ctx->expires_ms;
    if (until > now + DIR_CHECK_MS)
        until = now + DIR_CHECK_MS;
    struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (long)(until % 1000) * 1000000L};
    pthread_cond_timedwait(&ctx->cv, &ctx->mu, &ts);
    return 1;
}

/* Expired: take the session lock (a create refreshing the TTL holds it
 * while it touches us), look again, and end. */
static void expire(agent_ctx *ctx) {
    pthread_mutex_unlock(&ctx->mu);
    while (flock(ctx->lock_fd, LOCK_EX) != 0 && errno == EINTR) {
    }
    pthread_mutex_lock(&ctx->mu);
    if (nox__wall_ms() < ctx->expires_ms || ctx->terminating) {
        pthread_mutex_unlock(&ctx->mu);
        flock(ctx->lock_fd, LOCK_UN);
        pthread_mutex_lock(&ctx->mu);
        return;
    }
    ctx->terminating = 1;
    agent_log("session expired; removing it");
    ctx->expired = 1;
    end_now(ctx, 1, 1);
}

static void *ttl_thread(void *arg) {
    agent_ctx *ctx = arg;
    pthread_mutex_lock(&ctx->mu);
    for (;;) {
        check_dir(ctx);
        if (!wait_expiry(ctx, nox__wall_ms()))
            expire(ctx);
    }
    return NULL;
}

int agent_start_ttl_watch(agent_ctx *ctx, const pthread_attr_t *attr) {
    pthread_t t;
    return -pthread_create(&t, attr, ttl_thread, ctx);
}

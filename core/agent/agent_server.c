/*
 * agent_server.c - the agent's socket server: a pool of threads blocking
 * in accept(), one operation per connection; plus the TTL watch.
 */
#include "agent.h"
#include "archive.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

agent_state g_agent;

#define IO_TIMEOUT_MS 30000
#define DIR_CHECK_MS 2000 /* how often the TTL thread checks the session dir */

int agent_send_fail(int conn, int code, const char *fmt, ...) {
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    nox__buf b = {0};
    noxp_fail_payload(&b, code, msg);
    int rc = noxp_send(conn, NOXP_FAIL, b.data, b.len, nox__now_ms() + IO_TIMEOUT_MS);
    nox__buf_free(&b);
    return rc;
}

int agent_write_meta_locked(void) {
    cJSON *o = cJSON_CreateObject();
    char iso[32];
    if (!o)
        return -ENOMEM;
    int64_t expires = agent_expires_s_locked();
    nox__format_iso8601(expires, iso, sizeof iso);
    cJSON_AddStringToObject(o, "sessionId", g_agent.sid);
    cJSON_AddStringToObject(o, "podName", g_agent.pod);
    cJSON_AddNumberToObject(o, "ttlSeconds", (double)g_agent.ttl);
    cJSON_AddStringToObject(o, "expiresAt", iso);
    cJSON_AddNumberToObject(o, "expiresAtUnix", (double)expires);
    cJSON_AddNumberToObject(o, "agentPid", (double)g_agent.host_pid);
    cJSON_AddNumberToObject(o, "agentStart", (double)g_agent.host_start);
    cJSON_AddStringToObject(o, "isolation", g_iso.enabled ? "namespaces" : "none");
    if (g_iso.enabled) {
        char lim[1024];
        iso_describe_limits(lim, sizeof lim);
        cJSON *l = cJSON_Parse(lim);
        if (l)
            cJSON_AddItemToObject(o, "limits", l);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return -ENOMEM;
    int rc = nox__write_file_at(g_agent.dir_fd, NOX_META_FILE, s, strlen(s), 0600);
    cJSON_free(s);
    return rc;
}

static int send_info(int conn) {
    nox__buf b = {0};
    pthread_mutex_lock(&g_agent.mu);
    noxp_put_u64(&b, NOXK_EXPIRES, (uint64_t)agent_expires_s_locked());
    noxp_put_u64(&b, NOXK_TTL, (uint64_t)g_agent.ttl);
    pthread_mutex_unlock(&g_agent.mu);
    noxp_put_str(&b, NOXK_SID, g_agent.sid);
    noxp_put_str(&b, NOXK_POD, g_agent.pod);
    noxp_put_u64(&b, NOXK_PID, (uint64_t)g_agent.host_pid);
    int rc = noxp_send(conn, NOXP_OK, b.data, b.len, nox__now_ms() + IO_TIMEOUT_MS);
    nox__buf_free(&b);
    return rc;
}

static void do_touch(int conn, const uint8_t *req, size_t n) {
    pthread_mutex_lock(&g_agent.mu);
    uint64_t ttl = noxp_get_u64(req, n, NOXK_TTL, 0);
    if (ttl > 0 && ttl <= NOX_MAX_TTL_SECONDS)
        g_agent.ttl = (int64_t)ttl;
    g_agent.expires_ms = agent_wall_ms() + g_agent.ttl * 1000;
    int rc = agent_write_meta_locked();
    pthread_cond_broadcast(&g_agent.cv);
    pthread_mutex_unlock(&g_agent.mu);
    if (rc)
        agent_log("writing meta.json: %s", strerror(-rc));
    send_info(conn);
}

void agent_terminate(int remove_dir) {
    agent_kill_all(5000);
    if (remove_dir) {
        int rc = nox__rm_tree_at(g_agent.base_fd, g_agent.dir_name);
        if (rc == -EACCES || rc == -EPERM)
            g_agent.exit_status = AGENT_EXIT_REMOVE; /* B removes it */
        else if (rc)
            agent_log("removing %s: %s", g_agent.session_dir, strerror(-rc));
    } else {
        unlinkat(g_agent.dir_fd, NOX_SOCK_FILE, 0);
    }
}

/* Claim the right to end the agent; 0 when someone else already has. */
static int claim_termination(void) {
    pthread_mutex_lock(&g_agent.mu);
    int mine = !g_agent.terminating;
    g_agent.terminating = 1;
    pthread_mutex_unlock(&g_agent.mu);
    return mine;
}

static void do_end(int conn, int remove_dir) {
    if (!claim_termination()) {
        /* Expiry or another delete is ending us; the process exits soon
         * and the client sees the connection close. */
        for (;;)
            pause();
    }
    agent_terminate(remove_dir);
    noxp_send(conn, NOXP_OK, NULL, 0, nox__now_ms() + 2000);
    _exit(g_agent.exit_status);
}

/* dest/src must be /workspace or below it, also after resolving the
 * symlinks of its existing part inside the sandbox's view. */
static int check_ws_path(int conn, const char *what, const char *path) {
    size_t wl = strlen(NOX_WORKSPACE);
    if (strncmp(path, NOX_WORKSPACE, wl) != 0 || (path[wl] && path[wl] != '/')) {
        agent_send_fail(conn, NOX_EINVAL, "%s \"%s\" is outside " NOX_WORKSPACE,
                        what, path);
        return -1;
    }
    char cur[PATH_MAX], real[PATH_MAX];
    snprintf(cur, sizeof cur, "%s", path);
    for (;;) {
        if (realpath(cur, real)) {
            if (strncmp(real, NOX_WORKSPACE, wl) != 0 || (real[wl] && real[wl] != '/')) {
                agent_send_fail(conn, NOX_EINVAL,
                                "%s \"%s\" leads outside " NOX_WORKSPACE " (to \"%s\")",
                                what, path, real);
                return -1;
            }
            return 0;
        }
        char *slash = strrchr(cur, '/');
        if (!slash || slash == cur)
            return 0;
        *slash = 0;
    }
}

typedef struct up_ctx {
    int conn;
    noxp_reader *rd;
    const uint8_t *p;
    size_t left;
    int ended;
} up_ctx;

static int up_read(void *ctx, uint8_t *buf, size_t cap, size_t *got,
                   nox_error **err) {
    up_ctx *u = ctx;
    while (u->left == 0) {
        if (u->ended) {
            *got = 0;
            return 0;
        }
        uint8_t type;
        const uint8_t *p;
        uint32_t len;
        int rc = noxp_read(u->rd, nox__now_ms() + IO_TIMEOUT_MS, &type, &p, &len);
        if (rc)
            return nox__err(err, rc == -ETIMEDOUT ? NOX_ETIMEOUT : NOX_EIO,
                            "reading the upload: %s", strerror(-rc));
        if (type == NOXP_DATA_END) {
            u->ended = 1;
        } else if (type == NOXP_DATA) {
            u->p = p;
            u->left = len;
        } else {
            return nox__err(err, NOX_EPROTOCOL, "unexpected frame in upload");
        }
    }
    size_t n = u->left < cap ? u->left : cap;
    memcpy(buf, u->p, n);
    u->p += n;
    u->left -= n;
    *got = n;
    return 0;
}

static void drain_upload(up_ctx *u, int64_t deadline) {
    while (!u->ended) {
        uint8_t type;
        const uint8_t *p;
        uint32_t len;
        if (noxp_read(u->rd, deadline, &type, &p, &len) != 0)
            return;
        if (type == NOXP_DATA_END)
            u->ended = 1;
    }
}

static void do_upload(int conn, noxp_reader *rd, const uint8_t *req, size_t n) {
    char *dest = noxp_get_str(req, n, NOXK_PATH);
    if (!dest) {
        agent_send_fail(conn, NOX_EPROTOCOL, "upload request without a destination");
        return;
    }
    if (check_ws_path(conn, "destination", dest) != 0) {
        free(dest);
        return;
    }
    nox__archive_limits lim = {
        .max_bytes = noxp_get_u64(req, n, NOXK_MAXBYTES, NOX_DEFAULT_MAX_ARCHIVE_BYTES),
        .max_entries = noxp_get_u64(req, n, NOXK_MAXENTRIES, NOX_DEFAULT_MAX_ARCHIVE_ENTRIES),
    };
    if (noxp_send(conn, NOXP_STARTED, NULL, 0, nox__now_ms() + IO_TIMEOUT_MS) != 0) {
        free(dest);
        return;
    }
    up_ctx u = {.conn = conn, .rd = rd};
    nox_error *err = NULL;
    int rc = nox__archive_extract(up_read, &u, dest, &lim, &err);
    if (rc == 0) {
        drain_upload(&u, nox__now_ms() + IO_TIMEOUT_MS);
        noxp_send(conn, NOXP_OK, NULL, 0, nox__now_ms() + IO_TIMEOUT_MS);
    } else {
        agent_send_fail(conn, rc, "%s", err ? nox_error_message(err) : "extraction failed");
        shutdown(conn, SHUT_WR);
        drain_upload(&u, nox__now_ms() + 5000);
    }
    nox_error_free(err);
    free(dest);
}

static int dl_write(void *ctx, const uint8_t *data, size_t len, nox_error **err) {
    int conn = *(int *)ctx;
    while (len) {
        size_t n = len < NOXP_FILE_CHUNK ? len : NOXP_FILE_CHUNK;
        int rc = noxp_send(conn, NOXP_DATA, data, n, nox__now_ms() + IO_TIMEOUT_MS);
        if (rc)
            return nox__err(err, NOX_EIO, "sending the download: %s", strerror(-rc));
        data += n;
        len -= n;
    }
    return 0;
}

static void do_download(int conn, const uint8_t *req, size_t n) {
    char *src = noxp_get_str(req, n, NOXK_PATH);
    if (!src) {
        agent_send_fail(conn, NOX_EPROTOCOL, "download request without a source");
        return;
    }
    struct stat st;
    if (check_ws_path(conn, "source", src) != 0) {
        free(src);
        return;
    }
    if (stat(src, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            agent_send_fail(conn, NOX_ENOTFOUND, "path \"%s\" does not exist", src);
        else
            agent_send_fail(conn, NOX_EIO, "path \"%s\": %s", src, strerror(errno));
        free(src);
        return;
    }
    if (noxp_send(conn, NOXP_STARTED, NULL, 0, nox__now_ms() + IO_TIMEOUT_MS) != 0) {
        free(src);
        return;
    }
    uint64_t gz = noxp_get_u64(req, n, NOXK_GZIP, NOX__GZIP_DEFAULT);
    int level = gz == NOXP_TAR_PLAIN ? NOX__TAR_PLAIN : gz <= 9 ? (int)gz : NOX__GZIP_DEFAULT;
    nox__sink sink = {dl_write, &conn, 0};
    nox_error *err = NULL;
    int rc = nox__archive_write_dir_level(src, level, &sink, &err);
    if (rc == 0) {
        if (noxp_send(conn, NOXP_DATA_END, NULL, 0, nox__now_ms() + IO_TIMEOUT_MS) == 0)
            noxp_send(conn, NOXP_OK, NULL, 0, nox__now_ms() + IO_TIMEOUT_MS);
    } else {
        agent_send_fail(conn, rc, "%s", err ? nox_error_message(err) : "archiving failed");
    }
    nox_error_free(err);
    free(src);
}

static void *conn_thread(void *arg) {
    int conn = (int)(intptr_t)arg;
    noxp_reader rd;
    noxp_reader_init(&rd, conn);
    uint8_t type;
    const uint8_t *p;
    uint32_t n;
    int rc = noxp_read(&rd, nox__now_ms() + IO_TIMEOUT_MS, &type, &p, &n);
    if (rc == 0 && type != NOXP_REQ) {
        agent_send_fail(conn, NOX_EPROTOCOL, "expected a request frame");
    } else if (rc == 0) {
        uint64_t v = noxp_get_u64(p, n, NOXK_VERSION, 0);
        char *op = noxp_get_str(p, n, NOXK_OP);
        if (v != NOXP_VERSION) {
            agent_send_fail(conn, NOX_EPROTOCOL,
                            "the sandbox agent speaks protocol %d, the client %llu "
                            "(mixed installations?)",
                            NOXP_VERSION, (unsigned long long)v);
        } else if (!op) {
            agent_send_fail(conn, NOX_EPROTOCOL, "request without an operation");
        } else if (!strcmp(op, "exec")) {
            agent_exec(conn, &rd, p, n);
        } else if (!strcmp(op, "ping") || !strcmp(op, "info")) {
            send_info(conn);
        } else if (!strcmp(op, "touch")) {
            do_touch(conn, p, n);
        } else if (!strcmp(op, "upload")) {
            do_upload(conn, &rd, p, n);
        } else if (!strcmp(op, "download")) {
            do_download(conn, p, n);
        } else if (!strcmp(op, "delete")) {
            do_end(conn, 1);
        } else if (!strcmp(op, "shutdown")) {
            do_end(conn, 0);
        } else {
            agent_send_fail(conn, NOX_EUNSUPPORTED, "unknown operation \"%s\"", op);
        }
        free(op);
    }
    noxp_reader_free(&rd);
    close(conn);
    return NULL;
}

/* Expiry: when expiresAt passes without a touch, end everything. The
 * session lock keeps us from racing a create that is refreshing the TTL
 * (it holds the lock while it touches us). */
static void *ttl_thread(void *arg) {
    (void)arg;
    int64_t next_usage_check = 0;
    pthread_mutex_lock(&g_agent.mu);
    for (;;) {
        int64_t now = agent_wall_ms();
        struct stat st;
        if (!g_agent.terminating && fstat(g_agent.dir_fd, &st) == 0 && st.st_nlink == 0) {
            /* Someone removed the session directory (rm -rf of the base
             * dir): nobody can reach us any more, so end everything. */
            g_agent.terminating = 1;
            pthread_mutex_unlock(&g_agent.mu);
            agent_log("session directory removed; ending the sandbox");
            agent_terminate(0);
            _exit(0);
        }
        if (!g_agent.terminating && g_iso.storage_bytes && now >= next_usage_check) {
            pthread_mutex_unlock(&g_agent.mu);
            uint64_t used = agent_workspace_usage(g_iso.storage_bytes);
            pthread_mutex_lock(&g_agent.mu);
            next_usage_check = agent_wall_ms() + DIR_CHECK_MS;
            if (used > g_iso.storage_bytes && !g_agent.terminating) {
                /* Evicted, as a pod over its ephemeral-storage limit is. */
                g_agent.terminating = 1;
                pthread_mutex_unlock(&g_agent.mu);
                agent_log("evicted: /workspace holds more than ephemeralStorageLimit "
                          "(%llu bytes); removing the sandbox",
                          (unsigned long long)g_iso.storage_bytes);
                while (flock(g_agent.lock_fd, LOCK_EX) != 0 && errno == EINTR) {
                }
                agent_terminate(1);
                _exit(g_agent.exit_status);
            }
            continue;
        }
        if (g_agent.terminating || now < g_agent.expires_ms) {
            int64_t until = g_agent.terminating ? now + 3600 * 1000 : g_agent.expires_ms;
            if (until > now + DIR_CHECK_MS)
                until = now + DIR_CHECK_MS;
            struct timespec ts = {.tv_sec = until / 1000,
                                  .tv_nsec = (long)(until % 1000) * 1000000L};
            pthread_cond_timedwait(&g_agent.cv, &g_agent.mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&g_agent.mu);
        while (flock(g_agent.lock_fd, LOCK_EX) != 0 && errno == EINTR) {
        }
        pthread_mutex_lock(&g_agent.mu);
        if (agent_wall_ms() < g_agent.expires_ms || g_agent.terminating) {
            pthread_mutex_unlock(&g_agent.mu);
            flock(g_agent.lock_fd, LOCK_UN);
            pthread_mutex_lock(&g_agent.mu);
            continue;
        }
        g_agent.terminating = 1;
        pthread_mutex_unlock(&g_agent.mu);
        agent_log("session expired; removing it");
        agent_terminate(1);
        _exit(g_agent.exit_status);
    }
    return NULL;
}

/* Workers block in accept() themselves, so a connection wakes a thread
 * that handles it at once (no hand-off, no thread creation per exec).
 * When the last idle worker takes a connection it starts another, so
 * concurrent requests never wait for each other; surplus workers exit. */
#define MIN_IDLE 2
#define MAX_IDLE 8
#define MAX_WORKERS 1024 /* beyond this, connections wait in the backlog */

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static int pool_idle, pool_total;
static pthread_attr_t pool_attr;

static int start_worker(void);

static void *worker(void *arg) {
    (void)arg;
    for (;;) {
        int conn = accept4(g_agent.listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                /* Out of descriptors or memory: wait for connections to end. */
                struct timespec ts = {0, 50 * 1000000L};
                nanosleep(&ts, NULL);
                continue;
            }
            agent_log("accept: %s", strerror(errno));
            _exit(1);
        }
        pthread_mutex_lock(&pool_mu);
        int need = --pool_idle < 1;
        pthread_mutex_unlock(&pool_mu);
        if (need && start_worker() != 0)
            agent_log("cannot start a worker thread; requests may queue");
        conn_thread((void *)(intptr_t)conn);
        pthread_mutex_lock(&pool_mu);
        if (pool_idle >= MAX_IDLE) {
            pool_total--;
            pthread_mutex_unlock(&pool_mu);
            return NULL;
        }
        pool_idle++;
        pthread_mutex_unlock(&pool_mu);
    }
}

static int start_worker(void) {
    pthread_t t;
    pthread_mutex_lock(&pool_mu);
    if (pool_total >= MAX_WORKERS) {
        pthread_mutex_unlock(&pool_mu);
        return 0; /* a finishing worker goes back to accept() */
    }
    pool_idle++;
    pool_total++;
    pthread_mutex_unlock(&pool_mu);
    int rc = pthread_create(&t, &pool_attr, worker, NULL);
    if (rc) {
        pthread_mutex_lock(&pool_mu);
        pool_idle--;
        pool_total--;
        pthread_mutex_unlock(&pool_mu);
    }
    return rc;
}

void agent_serve(void) {
    pthread_attr_init(&pool_attr);
    pthread_attr_setdetachstate(&pool_attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&pool_attr, 1024 * 1024);
    pthread_t t;
    if (pthread_create(&t, &pool_attr, ttl_thread, NULL) != 0) {
        agent_log("cannot start the TTL thread");
        _exit(1);
    }
    for (int i = 0; i < MIN_IDLE; i++) {
        if (start_worker() != 0) {
            agent_log("cannot start worker threads");
            _exit(1);
        }
    }
    /* This thread is a worker too. */
    pthread_mutex_lock(&pool_mu);
    pool_idle++;
    pool_total++;
    pthread_mutex_unlock(&pool_mu);
    worker(NULL);
    for (;;)
        pause();
}

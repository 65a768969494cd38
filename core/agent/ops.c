/*
 * ops.c - the requests other than exec: info (and ping), touch, delete
 * and shutdown, upload and download. Each answers on its connection with
 * OK or FAIL (NOX codes are made here, at the protocol's edge), or with
 * STARTED and a stream.
 */
#include "agent.h"
#include "archive.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int agent_send_fail(int conn, int code, const char *fmt, ...) {
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    nox__buf b = {0};
    noxp_fail_payload(&b, code, msg ? msg : "out of memory");
    int rc = noxp_send(conn, NOXP_FAIL, b.data, b.len, nox__now_ms() + AGENT_IO_TIMEOUT_MS);
    nox__buf_free(&b);
    free(msg);
    return rc;
}

void op_info(agent_ctx *ctx, int conn) {
    nox__buf b = {0};
    pthread_mutex_lock(&ctx->mu);
    noxp_put_u64(&b, NOXK_EXPIRES, (uint64_t)agent_expires_s_locked(ctx));
    noxp_put_u64(&b, NOXK_TTL, (uint64_t)ctx->ttl);
    pthread_mutex_unlock(&ctx->mu);
    noxp_put_str(&b, NOXK_SID, ctx->sid);
    noxp_put_str(&b, NOXK_POD, ctx->pod);
    noxp_put_u64(&b, NOXK_PID, (uint64_t)ctx->host_pid);
    noxp_send(conn, NOXP_OK, b.data, b.len, nox__now_ms() + AGENT_IO_TIMEOUT_MS);
    nox__buf_free(&b);
}

void op_touch(agent_ctx *ctx, int conn, const uint8_t *req, size_t n) {
    pthread_mutex_lock(&ctx->mu);
    uint64_t ttl = noxp_get_u64(req, n, NOXK_TTL, 0);
    if (ttl > 0 && ttl <= NOX_MAX_TTL_SECONDS)
        ctx->ttl = (int64_t)ttl;
    ctx->expires_ms = nox__wall_ms() + ctx->ttl * 1000;
    int rc = agent_write_meta_locked(ctx);
    pthread_cond_broadcast(&ctx->cv);
    pthread_mutex_unlock(&ctx->mu);
    if (rc)
        agent_log("writing meta.json: %s", strerror(-rc));
    op_info(ctx, conn);
}

void op_end(agent_ctx *ctx, int conn, int remove_dir) {
    if (!agent_claim_end(ctx)) {
        /* Expiry or another delete is ending us; the process exits soon
         * and the client sees the connection close. */
        for (;;)
            pause();
    }
    agent_terminate(ctx, remove_dir);
    noxp_send(conn, NOXP_OK, NULL, 0, nox__now_ms() + 2000);
    _exit(ctx->exit_status);
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
        int rc = noxp_read(u->rd, nox__now_ms() + AGENT_IO_TIMEOUT_MS, &type, &p, &len);
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

/* An upload's data counts against ephemeralStorageLimit while it is
 * extracted: the room left caps the archive (its entries' declared sizes
 * are charged before a byte is written), so a small archive that unpacks
 * to gigabytes is refused before it lands. The workspace being memory
 * then, the memory cgroup's room caps it too (storage.c). The room, or 0
 * when no limit applies; *by_memory when the memory room was smaller. */
static uint64_t storage_room(const agent_ctx *ctx, uint64_t *used, int *by_memory) {
    uint64_t limit = ctx->cfg.storage_bytes;
    if (!limit)
        return 0;
    *used = agent_workspace_usage();
    uint64_t room = *used < limit ? limit - *used : 0;
    uint64_t mem = agent_memory_room(ctx);
    *by_memory = mem < room;
    if (*by_memory)
        room = mem;
    return room ? room : 1; /* 1: max_bytes 0 means no cap */
}

/* The extractor's "passes max_bytes" in the sandbox's words. */
static void storage_error(const agent_ctx *ctx, uint64_t used, int by_memory, nox_error **err) {
    char *was = *err ? nox__strdup(nox_error_message(*err)) : NULL;
    nox_error_free(*err);
    *err = NULL;
    if (by_memory)
        nox__err(err, NOX_ETOOBIG,
                 "the upload does not fit in the sandbox's memoryLimit of %llu bytes: with an "
                 "ephemeralStorageLimit the workspace is memory (a tmpfs), and what the "
                 "sandbox's processes and files already use leaves too little: %s; nothing of "
                 "it was kept",
                 (unsigned long long)ctx->cfg.mem_bytes, was ? was : "too large");
    else
        nox__err(err, NOX_ETOOBIG,
                 "the upload does not fit in the sandbox's ephemeralStorageLimit of %llu bytes "
                 "(%llu in use): %s; nothing of it was kept",
                 (unsigned long long)ctx->cfg.storage_bytes, (unsigned long long)used,
                 was ? was : "too large");
    free(was);
}

void op_upload(agent_ctx *ctx, int conn, noxp_reader *rd, const uint8_t *req, size_t n) {
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
    int by_memory = 0;
    uint64_t used = 0, room = storage_room(ctx, &used, &by_memory);
    int capped = room && room < lim.max_bytes;
    if (capped)
        lim.max_bytes = room;
    if (noxp_send(conn, NOXP_STARTED, NULL, 0, nox__now_ms() + AGENT_IO_TIMEOUT_MS) != 0) {
        free(dest);
        return;
    }
    up_ctx u = {.conn = conn, .rd = rd};
    nox_error *err = NULL;
    int rc = nox__archive_extract(up_read, &u, dest, &lim, &err);
    if (rc == NOX_ETOOBIG && capped && err && strstr(nox_error_message(err), "max_bytes"))
        storage_error(ctx, used, by_memory, &err);
    if (rc == 0) {
        drain_upload(&u, nox__now_ms() + AGENT_IO_TIMEOUT_MS);
        noxp_send(conn, NOXP_OK, NULL, 0, nox__now_ms() + AGENT_IO_TIMEOUT_MS);
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
        int rc = noxp_send(conn, NOXP_DATA, data, n, nox__now_ms() + AGENT_IO_TIMEOUT_MS);
        if (rc)
            return nox__err(err, NOX_EIO, "sending the download: %s", strerror(-rc));
        data += n;
        len -= n;
    }
    return 0;
}

void op_download(agent_ctx *ctx, int conn, const uint8_t *req, size_t n) {
    (void)ctx;
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
    if (noxp_send(conn, NOXP_STARTED, NULL, 0, nox__now_ms() + AGENT_IO_TIMEOUT_MS) != 0) {
        free(src);
        return;
    }
    uint64_t gz = noxp_get_u64(req, n, NOXK_GZIP, NOX__GZIP_DEFAULT);
    int level = gz == NOXP_TAR_PLAIN ? NOX__TAR_PLAIN : gz <= 9 ? (int)gz : NOX__GZIP_DEFAULT;
    nox__sink sink = {dl_write, &conn, 0};
    nox_error *err = NULL;
    int rc = nox__archive_write_dir_level(src, level, &sink, &err);
    if (rc == 0) {
        if (noxp_send(conn, NOXP_DATA_END, NULL, 0, nox__now_ms() + AGENT_IO_TIMEOUT_MS) == 0)
            noxp_send(conn, NOXP_OK, NULL, 0, nox__now_ms() + AGENT_IO_TIMEOUT_MS);
    } else {
        agent_send_fail(conn, rc, "%s", err ? nox_error_message(err) : "archiving failed");
    }
    nox_error_free(err);
    free(src);
}

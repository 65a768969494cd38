/*
 * server.c - pid 1's socket server: a pool of threads blocking in
 * accept(), one operation per connection.
 *
 * Workers block in accept() themselves, so a connection wakes a thread
 * that handles it at once (no hand-off, no thread creation per exec).
 * When the last idle worker takes a connection it starts another, so
 * concurrent requests never wait for each other; surplus workers exit.
 */
#include "agent.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MIN_IDLE 2
#define MAX_IDLE 8
#define MAX_WORKERS 1024 /* beyond this, connections wait in the backlog */

/* The operations, by name. */
typedef enum { OP_EXEC, OP_INFO, OP_TOUCH, OP_UPLOAD, OP_DOWNLOAD, OP_DELETE, OP_SHUTDOWN } op_id;
static const struct {
    const char *name;
    op_id id;
} OPS[] = {
    {"exec", OP_EXEC},         {"ping", OP_INFO},         {"info", OP_INFO},
    {"touch", OP_TOUCH},       {"upload", OP_UPLOAD},     {"download", OP_DOWNLOAD},
    {"delete", OP_DELETE},     {"shutdown", OP_SHUTDOWN},
};

static void dispatch(agent_ctx *ctx, int conn, noxp_reader *rd, const uint8_t *p, uint32_t n) {
    uint64_t v = noxp_get_u64(p, n, NOXK_VERSION, 0);
    char *op = noxp_get_str(p, n, NOXK_OP);
    size_t i = 0;
    while (op && i < sizeof OPS / sizeof OPS[0] && strcmp(op, OPS[i].name))
        i++;
    if (v != NOXP_VERSION)
        agent_send_fail(conn, NOX_EPROTOCOL,
                        "the sandbox agent speaks protocol %d, the client %llu "
                        "(mixed installations?)",
                        NOXP_VERSION, (unsigned long long)v);
    else if (!op)
        agent_send_fail(conn, NOX_EPROTOCOL, "request without an operation");
    else if (i == sizeof OPS / sizeof OPS[0])
        agent_send_fail(conn, NOX_EUNSUPPORTED, "unknown operation \"%s\"", op);
    else {
        switch (OPS[i].id) {
        case OP_EXEC: op_exec(ctx, conn, rd, p, n); break;
        case OP_INFO: op_info(ctx, conn); break;
        case OP_TOUCH: op_touch(ctx, conn, p, n); break;
        case OP_UPLOAD: op_upload(ctx, conn, rd, p, n); break;
        case OP_DOWNLOAD: op_download(ctx, conn, p, n); break;
        case OP_DELETE: op_end(ctx, conn, 1);
        case OP_SHUTDOWN: op_end(ctx, conn, 0);
        }
    }
    free(op);
}

static void handle(agent_ctx *ctx, int conn) {
    noxp_reader rd;
    noxp_reader_init(&rd, conn);
    uint8_t type;
    const uint8_t *p;
    uint32_t n;
    int rc = noxp_read(&rd, nox__now_ms() + AGENT_IO_TIMEOUT_MS, &type, &p, &n);
    if (rc == 0 && type != NOXP_REQ)
        agent_send_fail(conn, NOX_EPROTOCOL, "expected a request frame");
    else if (rc == 0)
        dispatch(ctx, conn, &rd, p, n);
    noxp_reader_free(&rd);
    close(conn);
}

static int start_worker(agent_ctx *ctx);

static void *worker(void *arg) {
    agent_ctx *ctx = arg;
    agent_pool *pool = &ctx->pool;
    for (;;) {
        int conn = accept4(ctx->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors or memory: wait for connections to end. */
                struct timespec ts = {0, 50 * 1000000L};
                nanosleep(&ts, NULL);
                continue;
            }
            agent_log("accept: %s", strerror(errno));
            _exit(1);
        }
        pthread_mutex_lock(&pool->mu);
        int need = --pool->idle < 1;
        pthread_mutex_unlock(&pool->mu);
        if (need && start_worker(ctx) != 0)
            agent_log("cannot start a worker thread; requests may queue");
        handle(ctx, conn);
        pthread_mutex_lock(&pool->mu);
        if (pool->idle >= MAX_IDLE) {
            pool->total--;
            pthread_mutex_unlock(&pool->mu);
            return NULL;
        }
        pool->idle++;
        pthread_mutex_unlock(&pool->mu);
    }
}

static int start_worker(agent_ctx *ctx) {
    agent_pool *pool = &ctx->pool;
    pthread_t t;
    pthread_mutex_lock(&pool->mu);
    if (pool->total >= MAX_WORKERS) {
        pthread_mutex_unlock(&pool->mu);
        return 0; /* a finishing worker goes back to accept() */
    }
    pool->idle++;
    pool->total++;
    pthread_mutex_unlock(&pool->mu);
    int rc = pthread_create(&t, &pool->attr, worker, ctx);
    if (rc) {
        pthread_mutex_lock(&pool->mu);
        pool->idle--;
        pool->total--;
        pthread_mutex_unlock(&pool->mu);
    }
    return rc;
}

void agent_serve(agent_ctx *ctx) {
    agent_pool *pool = &ctx->pool;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_attr_init(&pool->attr);
    pthread_attr_setdetachstate(&pool->attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&pool->attr, 1024 * 1024);
    if (agent_start_ttl_watch(ctx, &pool->attr) != 0) {
        agent_log("cannot start the TTL thread");
        _exit(1);
    }
    for (int i = 0; i < MIN_IDLE; i++) {
        if (start_worker(ctx) != 0) {
            agent_log("cannot start worker threads");
            _exit(1);
        }
    }
    /* This thread is a worker too. */
    pthread_mutex_lock(&pool->mu);
    pool->idle++;
    pool->total++;
    pthread_mutex_unlock(&pool->mu);
    worker(ctx);
    for (;;)
        pause();
}

/*
 * log.c - the bottom of the agent: its log (stderr, which the library
 * points at the session's agent.log) and the ready-fd protocol (agent.h).
 */
#include "agent.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere else to say it */
        p += w;
        n -= (size_t)w;
    }
}

static void NOX_PRINTF(1, 0) vlog(const char *fmt, va_list ap) {
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    nox__buf b = {0};
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    /* One write per line: B, C and D share the log. */
    if (nox__buf_printf(&b, "%s nox-sandbox[%d]: %s\n", ts, (int)getpid(),
                        msg ? msg : "(out of memory)") == 0)
        write_all(2, (const char *)b.data, b.len);
    free(msg);
    nox__buf_free(&b);
}

void agent_log(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

static void ready_write(agent_ctx *ctx, const char *line, int last) {
    if (ctx->ready_fd < 0)
        return;
    write_all(ctx->ready_fd, line, strlen(line));
    if (last)
        agent_ready_close(ctx);
}

void agent_ready_close(agent_ctx *ctx) {
    if (ctx->ready_fd >= 0)
        close(ctx->ready_fd);
    ctx->ready_fd = -1;
}

void agent_ready_pid(agent_ctx *ctx, pid_t pid) {
    char line[32];
    snprintf(line, sizeof line, "P %ld\n", (long)pid);
    ready_write(ctx, line, 0);
}

void agent_ready(agent_ctx *ctx, int64_t expires_s) {
    char line[32];
    snprintf(line, sizeof line, "R %lld\n", (long long)expires_s);
    ready_write(ctx, line, 1);
}

void agent_fail(agent_ctx *ctx, int code, const char *fmt, ...) {
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    agent_log("%s", msg ? msg : "setup failed (out of memory)");
    nox__buf line = {0};
    for (char *p = msg; p && *p; p++)
        if (*p == '\n')
            *p = ' ';
    /* The creator's line buffer is NOXP_READY_LINE_MAX: keep within it. */
    if (nox__buf_printf(&line, "E %d %.*s\n", code, NOXP_READY_LINE_MAX - 32,
                        msg ? msg : "out of memory") == 0)
        ready_write(ctx, (const char *)line.data, 1);
    _exit(1);
}

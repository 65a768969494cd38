/* access_log.c - request ids and the one-line-per-request log on stderr.
 *
 * Each line is written with a single write(2) so lines from concurrent
 * requests never interleave:
 *   2026-01-01T12:00:00.123Z <request-id> POST /v1/sandboxes/s1/exec 200 57B 12ms
 */
#include "server.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

void access_log_request_id(const char *given, char out[SRV_MAX_REQUEST_ID + 1]) {
    if (given) {
        size_t n = strlen(given);
        int sane = n > 0 && n <= SRV_MAX_REQUEST_ID;
        for (size_t i = 0; sane && i < n; i++)
            sane = given[i] > 0x20 && given[i] < 0x7f;
        if (sane) {
            memcpy(out, given, n + 1);
            return;
        }
    }
    static const char hex[] = "0123456789abcdef";
    uint8_t rnd[16];
    size_t got = 0;
    while (got < sizeof rnd) {
        ssize_t r = getrandom(rnd + got, sizeof rnd - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < sizeof rnd) {
        /* No entropy source: uniqueness still matters more than secrecy. */
        static atomic_uint_fast64_t counter;
        uint64_t v = atomic_fetch_add(&counter, 1) ^ (uint64_t)getpid() << 40;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v ^= (uint64_t)ts.tv_nsec << 8;
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (uint8_t)(v >> (i % 8 * 8)) ^ (uint8_t)i;
    }
    for (size_t i = 0; i < sizeof rnd; i++) {
        out[2 * i] = hex[rnd[i] >> 4];
        out[2 * i + 1] = hex[rnd[i] & 15];
    }
    out[2 * sizeof rnd] = 0;
}

static size_t format_now(char *out, size_t cap) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    int m = snprintf(out + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
    return n + (m > 0 ? (size_t)m : 0);
}

/* Append s with anything unprintable as \xHH, at most max bytes of s. */
static size_t append_clean(char *out, size_t cap, size_t at, const char *s,
                           size_t max) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; s && s[i] && i < max && at + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c > 0x20 && c < 0x7f && c != '\\') {
            out[at++] = (char)c;
        } else {
            out[at++] = '\\';
            out[at++] = 'x';
            out[at++] = hex[c >> 4];
            out[at++] = hex[c & 15];
        }
    }
    return at;
}

static void write_line(const char *buf, size_t len) {
    while (len) {
        ssize_t w = write(STDERR_FILENO, buf, len);
        if (w <= 0)
            return; /* nowhere to report a failing log */
        buf += w;
        len -= (size_t)w;
    }
}

void access_log_request(const request *r, enum MHD_RequestTerminationCode toe) {
    if (r->srv->cfg.quiet)
        return;
    char line[1024];
    size_t n = format_now(line, sizeof line);
    line[n++] = ' ';
    n = append_clean(line, sizeof line, n, r->request_id[0] ? r->request_id : "-", 128);
    line[n++] = ' ';
    n = append_clean(line, sizeof line, n, r->method[0] ? r->method : "-", 16);
    line[n++] = ' ';
    n = append_clean(line, sizeof line, n, r->uri ? r->uri : "-", 512);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ms = (long long)(now.tv_sec - r->started_at.tv_sec) * 1000 +
                   (now.tv_nsec - r->started_at.tv_nsec) / 1000000;
    const char *end = "";
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK: break;
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT: end = " client-aborted"; break;
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN: end = " shutdown"; break;
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED: end = " timed-out"; break;
    default: end = " aborted"; break;
    }
    char status[16] = "-"; /* no answer was queued: the connection just closed */
    if (r->status > 0)
        snprintf(status, sizeof status, "%d", r->status);
    int m = snprintf(line + n, sizeof line - n, " %s %lluB %lldms%s\n", status,
                     (unsigned long long)atomic_load(&r->bytes_out), ms, end);
    if (m > 0)
        n += (size_t)m < sizeof line - n ? (size_t)m : sizeof line - n - 1;
    write_line(line, n);
}

void log_msg(const char *fmt, ...) {
    char line[1024];
    size_t n = format_now(line, sizeof line);
    int m = snprintf(line + n, sizeof line - n, " " SRV_NAME ": ");
    n += (size_t)m;
    va_list ap;
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    if (m > 0)
        n += (size_t)m < sizeof line - n - 1 ? (size_t)m : sizeof line - n - 2;
    line[n++] = '\n';
    write_line(line, n);
}

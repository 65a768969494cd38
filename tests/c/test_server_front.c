/*
 * test_server_front.c - one client cannot starve noxrunnerd: idle and
 * trickling connections, bytes that are not HTTP, oversized heads and slow
 * bodies are refused or waited out at the cost of a file descriptor, and
 * every refusal is the server's JSON error.
 *
 * Real noxrunnerd on loopback, raw sockets for the hostile side, the real
 * HTTP client for the user who must still get through.
 */
#include "nox_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int dial(const nt_server *s) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_str(int fd, const char *s, size_t n) {
    return send(fd, s, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

/* Read until the peer closes (or timeout_ms): what it answered, malloc'd,
 * NUL-terminated; *closed is 1 when it closed in time. */
static char *read_answer(int fd, int timeout_ms, int *closed) {
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    int64_t end = mono_ms() + timeout_ms;
    *closed = 0;
    while (buf && len < cap) {
        int left = (int)(end - mono_ms());
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        ssize_t n = recv(fd, buf + len, cap - len, 0);
        if (n <= 0) {
            *closed = 1;
            break;
        }
        len += (size_t)n;
    }
    if (buf)
        buf[len] = 0;
    return buf;
}

/* The answer has this status line and the JSON error body with code. */
static int is_json_error(const char *answer, const char *status, const char *code) {
    char want[64];
    snprintf(want, sizeof want, "\"code\":\"%s\"", code);
    int ok = answer && strncmp(answer, status, strlen(status)) == 0 &&
             strstr(answer, "Content-Type: application/json") && strstr(answer, "{\"error\":\"") &&
             strstr(answer, want);
    if (!ok)
        fprintf(stderr, "    answer: %.300s\n", answer ? answer : "(none)");
    return ok;
}

/* Send bytes on a new connection; the server must answer status with the
 * JSON code and close within timeout_ms. */
static int refused_with(const nt_server *s, const char *bytes, size_t n, const char *status,
                        const char *code, int timeout_ms) {
    int fd = dial(s);
    if (fd < 0 || send_str(fd, bytes, n) != 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    int closed = 0;
    char *answer = read_answer(fd, timeout_ms, &closed);
    int ok = closed && is_json_error(answer, status, code);
    if (!closed)
        fprintf(stderr, "    not closed within %d ms\n", timeout_ms);
    free(answer);
    close(fd);
    return ok;
}

/* The user: a health check through the real client, within 5 s. */
static int user_gets_through(const nt_server *s) {
    nox_client *c = nt_http_client(s, NULL);
    nox_error *err = NULL;
    int64_t t0 = mono_ms();
    int rc = c ? nox_health(c, &err) : -1;
    int64_t took = mono_ms() - t0;
    if (rc != 0)
        fprintf(stderr, "    health: %s\n", err ? nox_error_message(err) : "no client");
    nox_error_free(err);
    nox_client_free(c);
    return rc == 0 && took < 5000;
}

/* ---- tests -------------------------------------------------------------- */

NT_TEST(idle_connections_beyond_the_thread_count_lock_nobody_out) {
    nt_server s;
    const char *args[] = {"--threads", "8", NULL};
    NT_CHECK_INT(nt_server_start(&s, args), 0);
    int fds[64];
    int opened = 0;
    for (int i = 0; i < 64; i++)
        if ((fds[i] = dial(&s)) >= 0)
            opened++;
    int through = user_gets_through(&s);
    for (int i = 0; i < 64; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    NT_CHECK_INT(nt_server_stop(&s), 0);
    NT_CHECK_INT(opened, 64);
    NT_CHECK(through);
}

NT_TEST(trickling_heads_lock_nobody_out) {
    nt_server s;
    const char *args[] = {"--threads", "8", NULL};
    NT_CHECK_INT(nt_server_start(&s, args), 0);
    int fds[16];
    for (int i = 0; i < 16; i++) {
        fds[i] = dial(&s);
        if (fds[i] >= 0)
            send_str(fds[i], "GET /healthz HTTP/1.1\r\nX-Slow: ", 31);
    }
    int through = 1;
    for (int round = 0; round < 5 && through; round++) {
        for (int i = 0; i < 16; i++)
            if (fds[i] >= 0)
                send_str(fds[i], "y", 1);
        through = user_gets_through(&s);
        usleep(100 * 1000);
    }
    for (int i = 0; i < 16; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    NT_CHECK_INT(nt_server_stop(&s), 0);
    NT_CHECK(through);
}

NT_TEST(bytes_that_are_not_http_are_refused_at_once) {
    nt_server s;
    NT_CHECK_INT(nt_server_start(&s, NULL), 0);
    /* The first bytes of a TLS 1.2 ClientHello record. */
    static const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    int a = refused_with(&s, tls, sizeof tls - 1, "HTTP/1.1 400", "NOX_EPROTOCOL", 2000);
    int b = refused_with(&s, "\0\0\0\0", 4, "HTTP/1.1 400", "NOX_EPROTOCOL", 2000);
    int c = refused_with(&s, "get / HTTP/1.1\r\n\r\n", 18, "HTTP/1.1 400", "NOX_EPROTOCOL", 2000);
    int d = refused_with(&s, "GET / HTTP/2.0\r\n\r\n", 18, "HTTP/1.1 505", "NOX_EPROTOCOL", 2000);
    NT_CHECK_INT(nt_server_stop(&s), 0);
    NT_CHECK(a);
    NT_CHECK(b);
    NT_CHECK(c);
    NT_CHECK(d);
}

NT_TEST(head_over_the_limit_is_refused_with_431) {
    nt_server s;
    NT_CHECK_INT(nt_server_start(&s, NULL), 0);
    size_t n = 70 * 1024;
    char *req = malloc(n + 64);
    NT_CHECK(req != NULL);
    int k = snprintf(req, n + 64, "GET /healthz HTTP/1.1\r\nX-Big: ");
    memset(req + k, 'b', n - (size_t)k - 4);
    memcpy(req + n - 4, "\r\n\r\n", 4);
    int ok = refused_with(&s, req, n, "HTTP/1.1 431", "NOX_ETOOBIG", 5000);
    free(req);
    NT_CHECK_INT(nt_server_stop(&s), 0);
    NT_CHECK(ok);
}

NT_TEST(head_that_never_completes_is_refused_with_408) {
    nt_server s;
    const char *args[] = {"--head-timeout", "1", NULL};
    NT_CHECK_INT(nt_server_start(&s, args), 0);
    int64_t t0 = mono_ms();
    const char *part = "GET /healthz HTTP/1.1\r\nHost: a\r\n";
    int ok = refused_with(&s, part, strlen(part), "HTTP/1.1 408",
                          "NOX_ETIMEOUT", 10000);
    int64_t took = mono_ms() - t0;
    NT_CHECK_INT(nt_server_stop(&s), 0);
    NT_CHECK(ok);
    NT_CHECK(took >= 900);
}

NT_TEST(connections_per_address_are_capped_with_429) {
    nt_server s;
    const char *args[] = {"--max-conns-per-ip", "4", NULL};
    NT_CHECK_INT(nt_server_start(&s, args), 0);
    int fds[4];
    for (int i = 0; i < 4; i++)
        fds[i] = dial(&s);
    usleep(200 * 1000); /* let the front count them */
    int capped = refused_with(&s, "GET /healthz HTTP/1.1\r\n\r\n", 25, "HTTP/1.1 429",
                              "NOX_ETOOBIG", 3000);
    for (int i = 0; i < 4; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    /* Closed connections stop counting: the user gets through again. */
    int through = 0;
    for (int i = 0; i < 50 && !through; i++) {
        usleep(100 * 1000);
        through = user_gets_through(&s);
    }
    NT_CHECK_INT(nt_server_stop(&s), 0);
    NT_CHECK(capped);
    NT_CHECK(through);
}

/* A JSON body that stops coming is cut off at the body deadline, with
 * the JSON error, and does not keep its thread. */
NT_TEST(body_that_stops_coming_is_refused_with_408) {
    nt_server s;
    const char *args[] = {"--body-timeout", "1", NULL};
    NT_CHECK_INT(nt_server_start(&s, args), 0);
    const char *req = "PUT /v1/sandboxes/slow-body HTTP/1.1\r\nHost: a\r\n"
                      "Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"ttl";
    int ok = refused_with(&s, req, strlen(req), "HTTP/1.1 408", "NOX_ETIMEOUT", 10000);
    NT_CHECK_INT(nt_server_stop(&s), 0);
    NT_CHECK(ok);
}

int main(void) {
    NT_RUN(idle_connections_beyond_the_thread_count_lock_nobody_out);
    NT_RUN(trickling_heads_lock_nobody_out);
    NT_RUN(bytes_that_are_not_http_are_refused_at_once);
    NT_RUN(head_over_the_limit_is_refused_with_431);
    NT_RUN(head_that_never_completes_is_refused_with_408);
    NT_RUN(connections_per_address_are_capped_with_429);
    NT_RUN(body_that_stops_coming_is_refused_with_408);
    return nt_main_end();
}

/* test_http_peer.c - the HTTP backend against tiny peers in this process:
 * servers that answer garbage, a Part-A-only server, scripted statuses,
 * slow and streaming answers. They prove what the real noxrunnerd cannot
 * show: fallbacks, retries, error mapping, connection reuse, the exact
 * bytes on the wire. */
#include "nox_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the peer ------------------------------------------------------------ */

typedef struct peer_req {
    char method[16];
    char target[2048]; /* path and query as sent */
    char headers[8192];
    char *body; /* de-chunked */
    size_t body_len;
    int chunked;
} peer_req;

typedef struct peer peer;
/* Write the answer to fd; return 0 to keep the connection, -1 to close. */
typedef int (*peer_handler)(peer *p, int fd, const peer_req *r);

#define PEER_LOG 64
struct peer {
    int lfd;
    int port;
    char url[64];
    peer_handler handler;
    pthread_t thread;
    pthread_mutex_t lock;
    int accepted;  /* connections accepted */
    int closed;    /* connections the client closed */
    int requests;  /* requests seen */
    int script[8]; /* statuses to answer first, for retry tests */
    int nscript;
    int delay_ms;  /* before answering */
    int greet;     /* speak first with plain text, then hang up */
    char last_target[2048];
    char last_headers[8192];
    char *last_body;
    size_t last_body_len;
    char reqids[PEER_LOG][40];
};

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_str(int fd, const char *s, size_t n) {
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static int respond(int fd, int status, const char *ctype, const char *body,
                   const char *extra_headers) {
    char head[1024];
    size_t n = strlen(body);
    snprintf(head, sizeof head,
             "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
             status, ctype, n, extra_headers ? extra_headers : "");
    if (write_str(fd, head, strlen(head)) || write_str(fd, body, n))
        return -1;
    return 0;
}

/* Connection buffer: bytes read but not consumed. */
typedef struct conn {
    int fd;
    char buf[65536];
    size_t len;
} conn;

static int fill(conn *c) {
    if (c->len == sizeof c->buf)
        return -1;
    ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (r <= 0)
        return -1;
    c->len += (size_t)r;
    return 0;
}

static void consume(conn *c, size_t n) {
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* A line ending in CRLF, copied into out without it. */
static int read_line(conn *c, char *out, size_t cap) {
    for (;;) {
        char *e = memmem(c->buf, c->len, "\r\n", 2);
        if (e) {
            size_t n = (size_t)(e - c->buf);
            if (n >= cap)
                return -1;
            memcpy(out, c->buf, n);
            out[n] = 0;
            consume(c, n + 2);
            return 0;
        }
        if (fill(c))
            return -1;
    }
}

static int read_bytes(conn *c, char *out, size_t n) {
    while (c->len < n)
        if (fill(c))
            return -1;
    memcpy(out, c->buf, n);
    consume(c, n);
    return 0;
}

static int read_request(conn *c, peer_req *r) {
    char line[4096];
    memset(r, 0, sizeof *r);
    if (read_line(c, line, sizeof line))
        return -1;
    if (sscanf(line, "%15s %2047s", r->method, r->target) != 2)
        return -1;
    size_t content_length = 0;
    for (;;) {
        if (read_line(c, line, sizeof line))
            return -1;
        if (!line[0])
            break;
        size_t hl = strlen(r->headers);
        snprintf(r->headers + hl, sizeof r->headers - hl, "%s\n", line);
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            content_length = (size_t)strtoul(line + 15, NULL, 10);
        if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 &&
            strstr(line, "chunked"))
            r->chunked = 1;
    }
    if (r->chunked) {
        for (;;) {
            if (read_line(c, line, sizeof line))
                return -1;
            size_t n = (size_t)strtoul(line, NULL, 16);
            if (n == 0) {
                read_line(c, line, sizeof line); /* trailer end */
                break;
            }
            char *nb = realloc(r->body, r->body_len + n + 1);
            if (!nb || read_bytes(c, nb + r->body_len, n))
                return free(nb), r->body = NULL, -1;
            r->body = nb;
            r->body_len += n;
            read_line(c, line, sizeof line);
        }
    } else if (content_length) {
        r->body = malloc(content_length + 1);
        if (!r->body || read_bytes(c, r->body, content_length))
            return -1;
        r->body_len = content_length;
    }
    if (r->body)
        r->body[r->body_len] = 0;
    return 0;
}

typedef struct conn_arg {
    peer *p;
    int fd;
} conn_arg;

static void *conn_main(void *arg) {
    conn_arg *a = arg;
    peer *p = a->p;
    conn *c = calloc(1, sizeof *c);
    c->fd = a->fd;
    free(a);
    pthread_mutex_lock(&p->lock);
    int greet = p->greet;
    pthread_mutex_unlock(&p->lock);
    if (greet) {
        write_str(c->fd, "plain text, no TLS here\r\n", 26);
        sleep_ms(100);
        goto done;
    }
    for (;;) {
        peer_req r;
        if (read_request(c, &r) != 0) {
            free(r.body);
            break;
        }
        pthread_mutex_lock(&p->lock);
        int idx = p->requests++;
        snprintf(p->last_target, sizeof p->last_target, "%s", r.target);
        snprintf(p->last_headers, sizeof p->last_headers, "%s", r.headers);
        free(p->last_body);
        p->last_body = malloc(r.body_len + 1);
        memcpy(p->last_body, r.body ? r.body : "", r.body_len);
        p->last_body[r.body_len] = 0;
        p->last_body_len = r.body_len;
        const char *rid = strcasestr(r.headers, "X-Request-Id: ");
        if (rid && idx < PEER_LOG)
            sscanf(rid + 14, "%39s", p->reqids[idx]);
        int scripted = 0;
        if (p->nscript > 0) {
            scripted = p->script[0];
            memmove(p->script, p->script + 1, sizeof p->script - sizeof p->script[0]);
            p->nscript--;
        }
        int delay = p->delay_ms;
        pthread_mutex_unlock(&p->lock);
        if (delay)
            sleep_ms(delay);
        int rc;
        if (scripted)
            rc = respond(c->fd, scripted, "application/json",
                         "{\"error\":\"scripted\"}", NULL);
        else
            rc = p->handler(p, c->fd, &r);
        free(r.body);
        if (rc != 0)
            break;
    }
done:
    close(c->fd);
    free(c);
    pthread_mutex_lock(&p->lock);
    p->closed++;
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static void *accept_main(void *arg) {
    peer *p = arg;
    for (;;) {
        int fd = accept(p->lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            return NULL; /* listening socket shut down */
        }
        pthread_mutex_lock(&p->lock);
        p->accepted++;
        pthread_mutex_unlock(&p->lock);
        conn_arg *a = malloc(sizeof *a);
        a->p = p;
        a->fd = fd;
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_create(&t, &attr, conn_main, a);
        pthread_attr_destroy(&attr);
    }
}

/* Peers are never freed: detached connection threads may still run. They
 * stay reachable here so leak checkers know they are kept on purpose. */
static peer *all_peers[64];
static int npeers;

static peer *peer_start(peer_handler h) {
    peer *p = calloc(1, sizeof *p);
    if (npeers < 64)
        all_peers[npeers++] = p;
    pthread_mutex_init(&p->lock, NULL);
    p->handler = h;
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (bind(p->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(p->lfd, 128) != 0 ||
        getsockname(p->lfd, (struct sockaddr *)&sa, &sl) != 0)
        return NULL;
    p->port = ntohs(sa.sin_port);
    snprintf(p->url, sizeof p->url, "http://127.0.0.1:%d", p->port);
    pthread_create(&p->thread, NULL, accept_main, p);
    return p;
}

static void peer_stop(peer *p) {
    shutdown(p->lfd, SHUT_RDWR);
    pthread_join(p->thread, NULL);
    close(p->lfd);
}

static int peer_get(peer *p, int *field) {
    pthread_mutex_lock(&p->lock);
    int v = *field;
    pthread_mutex_unlock(&p->lock);
    return v;
}

static nox_client *client_for(const char *url, const char *key, int retries,
                              uint32_t request_timeout_ms) {
    nox_client_options o;
    nox_client_options_init(&o, NOX_CLIENT_OPTIONS_VERSION);
    o.backend = NOX_BACKEND_HTTP;
    o.base_url = url;
    o.api_key = key;
    o.max_retries = retries;
    o.request_timeout_ms = request_timeout_ms;
    nox_client *c = NULL;
    nox_error *err = NULL;
    if (nox_client_new(&c, &o, &err) != 0) {
        fprintf(stderr, "    client: %s\n", err ? nox_error_message(err) : "?");
        nox_error_free(err);
        return NULL;
    }
    return c;
}

/* ---- handlers ------------------------------------------------------------ */

static const char PART_A_EXEC[] =
    "{\"exitCode\":3,\"stdout\":\"out\\n\",\"stderr\":\"err\",\"durationMs\":5}";

/* A server that knows only Part A of the contract. */
static int part_a_handler(peer *p, int fd, const peer_req *r) {
    (void)p;
    if (strcmp(r->target, "/healthz") == 0)
        return respond(fd, 200, "text/plain", "OK", NULL);
    if (strstr(r->target, "/exec"))
        return respond(fd, 200, "application/json", PART_A_EXEC, NULL);
    if (strcmp(r->method, "PUT") == 0)
        return respond(fd, 200, "application/json",
                       "{\"podName\":\"pod-1\",\"expiresAt\":\"2030-01-02T03:04:05Z\"}",
                       NULL);
    if (strcmp(r->method, "DELETE") == 0)
        return respond(fd, 204, "text/plain", "", NULL);
    if (strstr(r->target, "/touch"))
        return respond(fd, 200, "text/plain", "", NULL);
    if (strstr(r->target, "/files/download"))
        return respond(fd, 200, "application/x-tar", "TARBYTES\001\002", NULL);
    if (strstr(r->target, "/files/upload"))
        return respond(fd, 200, "application/json", "{}", NULL);
    return respond(fd, 404, "application/json", "{\"error\":\"no such route\"}",
                   NULL);
}

static int garbage_json_handler(peer *p, int fd, const peer_req *r) {
    (void)p;
    (void)r;
    return respond(fd, 200, "application/json", "<html>surprise</html>", NULL);
}

static int not_http_handler(peer *p, int fd, const peer_req *r) {
    (void)p;
    (void)r;
    write_str(fd, "SSH-2.0-OpenSSH_9.2\r\nnot http at all\r\n", 37);
    return -1;
}

static int status_handler(peer *p, int fd, const peer_req *r) {
    (void)p;
    const char *t = r->target;
    if (strstr(t, "s404"))
        return respond(fd, 404, "application/json",
                       "{\"error\":\"sandbox not found\"}",
                       "X-Request-Id: srv-req-42\r\n");
    if (strstr(t, "s401"))
        return respond(fd, 401, "application/json", "{\"error\":\"bad token\"}", NULL);
    if (strstr(t, "s403"))
        return respond(fd, 403, "application/json", "{\"error\":\"forbidden\"}", NULL);
    if (strstr(t, "s400"))
        return respond(fd, 400, "application/json", "{\"error\":\"bad ttl\"}", NULL);
    if (strstr(t, "s413"))
        return respond(fd, 413, "application/json", "{\"error\":\"too big\"}", NULL);
    if (strstr(t, "s500"))
        return respond(fd, 500, "text/plain", "internal kaboom\nstack trace here", NULL);
    return respond(fd, 200, "application/json",
                   "{\"podName\":\"p\",\"expiresAt\":\"2030-01-01T00:00:00Z\"}", NULL);
}

/* NDJSON streaming with a pause between lines. */
static int stream_handler(peer *p, int fd, const peer_req *r) {
    (void)p;
    if (!strstr(r->target, "/exec"))
        return respond(fd, 404, "application/json", "{\"error\":\"x\"}", NULL);
    const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n";
    if (write_str(fd, head, strlen(head)))
        return -1;
    int forever = strstr(r->body ? r->body : "", "forever") != NULL;
    const char *lines[] = {
        "{\"type\":\"stdout\",\"data\":\"one\\n\"}\n",
        "{\"type\":\"stderr\",\"data\":\"warn\"}\n",
        /* "\xff\x00\xfe" exactly: only Base64 can carry it */
        "{\"type\":\"stdout\",\"data\":\"\\ufffd\",\"dataBase64\":\"/wD+\"}\n",
        ("{\"type\":\"exit\",\"exitCode\":137,\"signal\":9,\"timedOut\":false,"
         "\"durationMs\":12,\"stdoutTruncated\":false,\"stderrTruncated\":false}\n"),
    };
    for (int i = 0; i < 4 || forever; i++) {
        const char *l = forever ? "{\"type\":\"stdout\",\"data\":\"tick\\n\"}\n"
                                : lines[i];
        char chunk[512];
        snprintf(chunk, sizeof chunk, "%zx\r\n%s\r\n", strlen(l), l);
        sleep_ms(forever ? 50 : 150);
        if (write_str(fd, chunk, strlen(chunk)))
            return -1;
    }
    write_str(fd, "0\r\n\r\n", 5);
    return 0;
}

/* A download that drips 8 bytes every 250 ms; "stall" stops after two and
 * stays silent until the client gives up and closes (20 s at most). */
static int drip_handler(peer *p, int fd, const peer_req *r) {
    (void)p;
    int stall = strstr(r->target, "stall") != NULL;
    const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\n"
                       "Content-Length: 64\r\n\r\n";
    if (write_str(fd, head, strlen(head)))
        return -1;
    for (int i = 0; i < 8; i++) {
        if (stall && i == 2) {
            struct pollfd pf = {.fd = fd, .events = POLLIN | POLLRDHUP};
            for (int t = 0; t < 200 && poll(&pf, 1, 100) == 0; t++) {
            }
            return -1;
        }
        if (write_str(fd, "01234567", 8))
            return -1;
        sleep_ms(250);
    }
    return 0;
}

/* ---- tests ----------------------------------------------------------------- */

NT_TEST(unreachable_server_fails_fast_with_econnect) {
    /* A port that was just free: nothing listens there. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    bind(s, (struct sockaddr *)&sa, sizeof sa);
    getsockname(s, (struct sockaddr *)&sa, &sl);
    close(s);
    char url[64], wantbuf[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    snprintf(wantbuf, sizeof wantbuf, "cannot connect to %s: Connection refused", url);
    const char *want = wantbuf;
    nox_client *c = client_for(url, NULL, 2, 0);
    NT_CHECK(c);
    int64_t t0 = now_ms();
    NT_FAILS(NOX_ECONNECT, want, nox_health(c, &err));
    NT_FAILS(NOX_ECONNECT, want, nox_sandbox_touch(c, "s1", &err));
    nox_exec_result *r = NULL;
    const char *argv[] = {"true", NULL};
    NT_FAILS(NOX_ECONNECT, "Connection refused", nox_exec(c, "s1", argv, NULL, &r, &err));
    nox_exec_stream *st = NULL;
    NT_FAILS(NOX_ECONNECT, "Connection refused",
             nox_exec_start(c, "s1", argv, NULL, &st, &err));
    NT_CHECK(now_ms() - t0 < 3000); /* retries back off briefly, no hang */
    nox_client_free(c);
}

NT_TEST(garbage_json_answer_is_eprotocol) {
    peer *p = peer_start(garbage_json_handler);
    NT_CHECK(p);
    nox_client *c = client_for(p->url, NULL, 0, 0);
    NT_CHECK(c);
    nox_exec_result *r = NULL;
    const char *argv[] = {"true", NULL};
    NT_FAILS(NOX_EPROTOCOL, "server answered invalid JSON for exec",
             nox_exec(c, "s", argv, NULL, &r, &err));
    nox_sandbox_info *i = NULL;
    NT_FAILS(NOX_EPROTOCOL, "invalid JSON for create",
             nox_sandbox_create(c, "s", NULL, &i, &err));
    nox_sandbox_list *l = NULL;
    NT_FAILS(NOX_EPROTOCOL, "invalid JSON for list", nox_sandbox_list_all(c, &l, &err));
    nox_client_free(c);
    peer_stop(p);
}

NT_TEST(non_http_peer_is_eprotocol) {
    peer *p = peer_start(not_http_handler);
    NT_CHECK(p);
    nox_client *c = client_for(p->url, NULL, 0, 0);
    NT_CHECK(c);
    NT_FAILS(NOX_EPROTOCOL, "no valid HTTP", nox_sandbox_touch(c, "s", &err));
    nox_client_free(c);
    peer_stop(p);
}

NT_TEST(tls_to_a_plain_http_peer_is_econnect_naming_tls) {
    peer *p = peer_start(part_a_handler);
    NT_CHECK(p);
    char url[96];
    pthread_mutex_lock(&p->lock);
    p->greet = 1;
    pthread_mutex_unlock(&p->lock);
    snprintf(url, sizeof url, "https://127.0.0.1:%d", p->port);
    nox_client *c = client_for(url, NULL, 0, 0);
    NT_CHECK(c);
    NT_FAILS(NOX_ECONNECT, "TLS with https://127.0.0.1:", nox_health(c, &err));
    nox_client_free(c);
    peer_stop(p);
}

NT_TEST(part_a_server_exec_and_stream_fallback) {
    peer *p = peer_start(part_a_handler);
    NT_CHECK(p);
    nox_client *c = client_for(p->url, NULL, 2, 0);
    NT_CHECK(c);
    NT_OK(nox_health(c, &err));
    const char *argv[] = {"echo", "out", NULL};
    nox_exec_result *r = NULL;
    NT_OK(nox_exec(c, "s", argv, NULL, &r, &err));
    size_t n;
    const uint8_t *d = nox_exec_result_stdout(r, &n);
    NT_CHECK_BYTES(d, n, "out\n");
    d = nox_exec_result_stderr(r, &n);
    NT_CHECK_BYTES(d, n, "err");
    NT_CHECK_INT(nox_exec_result_exit_code(r), 3);
    NT_CHECK_INT(nox_exec_result_timed_out(r), 0);
    NT_CHECK_INT(nox_exec_result_signal(r), 0);
    NT_CHECK_INT(nox_exec_result_duration_ms(r), 5);
    NT_CHECK_INT(nox_exec_result_stdout_truncated(r), 0);
    nox_exec_result_free(r);

    /* The server answers plain JSON: one stdout, one stderr, exit. */
    nox_exec_stream *st = NULL;
    NT_OK(nox_exec_start(c, "s", argv, NULL, &st, &err));
    int kind;
    const uint8_t *data;
    size_t len;
    NT_OK(nox_exec_next(st, 5000, &kind, &data, &len, &err));
    NT_CHECK_INT(kind, NOX_EVENT_STDOUT);
    NT_CHECK_BYTES(data, len, "out\n");
    NT_OK(nox_exec_next(st, 5000, &kind, &data, &len, &err));
    NT_CHECK_INT(kind, NOX_EVENT_STDERR);
    NT_CHECK_BYTES(data, len, "err");
    NT_OK(nox_exec_next(st, 5000, &kind, &data, &len, &err));
    NT_CHECK_INT(kind, NOX_EVENT_EXIT);
    NT_CHECK_INT(nox_exec_result_exit_code(nox_exec_stream_result(st)), 3);
    NT_OK(nox_exec_next(st, 5000, &kind, &data, &len, &err));
    NT_CHECK_INT(kind, NOX_EVENT_EXIT);
    nox_exec_stream_free(st);

    /* No /v1/info: unsupported, isolation unknown. */
    nox_bytes *info = NULL;
    NT_FAILS(NOX_EUNSUPPORTED, "server has no /v1/info (Part-A only)",
             nox_info(c, &info, &err));
    NT_CHECK_INT(nox_client_isolation(c), NOX_ISOLATION_AUTO);
    nox_sandbox_list *sl = NULL;
    NT_FAILS(NOX_EUNSUPPORTED, "Part-A only", nox_sandbox_list_all(c, &sl, &err));

    nox_sandbox_info *si = NULL;
    NT_OK(nox_sandbox_create(c, "s", NULL, &si, &err));
    NT_CHECK_STR(nox_sandbox_info_pod_name(si), "pod-1");
    NT_CHECK_STR(nox_sandbox_info_session_id(si), "s");
    NT_CHECK_STR(nox_sandbox_info_expires_at(si), "2030-01-02T03:04:05Z");
    NT_CHECK_INT(nox_sandbox_info_expires_at_unix(si), 1893553445);
    nox_sandbox_info_free(si);
    NT_OK(nox_sandbox_touch(c, "s", &err));
    NT_OK(nox_sandbox_wait_ready(c, "s", 2000, &err));
    nox_bytes *tgz = NULL;
    NT_OK(nox_download(c, "s", NULL, &tgz, &err));
    d = nox_bytes_data(tgz, &n);
    NT_CHECK_BYTES(d, n, "TARBYTES\001\002");
    nox_bytes_free(tgz);
    NT_OK(nox_sandbox_delete(c, "s", &err));
    nox_client_free(c);
    peer_stop(p);
}

NT_TEST(wire_format_encodes_ids_headers_and_bodies) {
    peer *p = peer_start(part_a_handler);
    NT_CHECK(p);
    /* A base URL with a path prefix and a trailing slash. */
    char url[96];
    snprintf(url, sizeof url, "%s/api/", p->url);
    nox_client *c = client_for(url, "tok-123", 0, 0);
    NT_CHECK(c);
    NT_OK(nox_sandbox_touch(c, "a b/c%d?e#f\xc3\xbc~._-", &err));
    NT_CHECK_STR(p->last_target,
                 "/api/v1/sandboxes/a%20b%2Fc%25d%3Fe%23f%C3%BC~._-/touch");
    NT_CHECK(strstr(p->last_headers, "Authorization: Bearer tok-123\n"));
    NT_CHECK(strstr(p->last_headers, "User-Agent: noxrunner-c/" NOX_VERSION_STRING "\n"));
    NT_CHECK(strlen(p->reqids[0]) == 32);
    NT_OK(nox_sandbox_touch(c, "x", &err));
    NT_CHECK(strlen(p->reqids[1]) == 32);
    NT_CHECK(strcmp(p->reqids[0], p->reqids[1]) != 0); /* fresh per call */
    /* A forked child draws its own ids, not the parent's next ones. */
    pid_t kid = fork();
    NT_CHECK(kid >= 0);
    if (kid == 0) {
        nox_client *c2 = client_for(url, "tok-123", 0, 0);
        nox_error *e2 = NULL;
        int rc = c2 ? nox_sandbox_touch(c2, "x", &e2) : 1;
        nox_error_free(e2);
        nox_client_free(c2);
        _exit(rc == 0 ? 0 : 1);
    }
    int kst = 0;
    NT_CHECK(waitpid(kid, &kst, 0) == kid && WIFEXITED(kst) && WEXITSTATUS(kst) == 0);
    NT_OK(nox_sandbox_touch(c, "x", &err));
    NT_CHECK(strlen(p->reqids[2]) == 32 && strlen(p->reqids[3]) == 32);
    NT_CHECK(strcmp(p->reqids[2], p->reqids[3]) != 0);
    /* Dot segments must reach the server, not be normalized away. */
    NT_OK(nox_sandbox_touch(c, "..", &err));
    NT_CHECK_STR(p->last_target, "/api/v1/sandboxes/%2E%2E/touch");
    NT_OK(nox_sandbox_touch(c, ".", &err));
    NT_CHECK_STR(p->last_target, "/api/v1/sandboxes/%2E/touch");

    nox_bytes *b = NULL;
    NT_OK(nox_download(c, "x", "/workspace/a b&c=d", &b, &err));
    nox_bytes_free(b);
    NT_CHECK_STR(p->last_target,
                 "/api/v1/sandboxes/x/files/download?src=%2Fworkspace%2Fa%20b%26c%3Dd");

    /* Binary stdin goes out exactly as stdinBase64, text stays JSON-valid. */
    const char *argv[] = {"cat", "\xff-arg", NULL};
    const char *env[] = {"A=1", "B=x=y", NULL};
    nox_exec_options eo;
    nox_exec_options_init(&eo, NOX_EXEC_OPTIONS_VERSION);
    static const uint8_t in[] = {'h', 'i', 0, 0xff, 0xfe, '\n'};
    eo.stdin_data = in;
    eo.stdin_len = sizeof in;
    eo.env = env;
    eo.workdir = "/workspace/sub";
    eo.timeout_seconds = 7;
    nox_exec_result *r = NULL;
    NT_OK(nox_exec(c, "x", argv, &eo, &r, &err));
    nox_exec_result_free(r);
    const char *body = p->last_body;
    NT_CHECK_STR(body, "{\"cmd\":[\"cat\",\"\\ufffd-arg\"],\"env\":{\"A\":\"1\",\"B\":\"x=y\"},"
                       "\"workdir\":\"/workspace/sub\",\"timeoutSeconds\":7,"
                       "\"stdin\":\"hi\\u0000\\ufffd\\ufffd\\n\",\"stdinBase64\":\"aGkA//4K\","
                       "\"rawOutput\":true}");
    NT_CHECK(strstr(body, "\"stdinBase64\":\"aGkA//4K\""));
    NT_CHECK(strstr(body, "\"stdin\":\"hi\\u0000\\ufffd\\ufffd\\n\""));
    NT_CHECK(strstr(body, "\"rawOutput\":true"));
    NT_CHECK(strstr(body, "\"timeoutSeconds\":7"));
    NT_CHECK(strstr(body, "\"workdir\":\"/workspace/sub\""));
    NT_CHECK(strstr(body, "\"env\":{\"A\":\"1\",\"B\":\"x=y\"}"));
    NT_CHECK(strstr(body, "\"cmd\":[\"cat\",\"\\ufffd-arg\"]"));
    NT_CHECK(strstr(p->last_headers, "Content-Type: application/json\n"));

    /* Upload: the archive streams with chunked encoding. */
    nox_files *f = NULL;
    NT_OK(nox_files_new(&f, &err));
    NT_OK(nox_files_add(f, "dir/a.txt", (const uint8_t *)"hello", 5, 0, &err));
    NT_OK(nox_upload(c, "x", f, "/workspace/up", &err));
    nox_files_free(f);
    NT_CHECK_STR(p->last_target, "/api/v1/sandboxes/x/files/upload?dest=%2Fworkspace%2Fup");
    NT_CHECK(strstr(p->last_headers, "Transfer-Encoding: chunked\n"));
    NT_CHECK(strstr(p->last_headers, "Content-Type: application/x-tar\n"));
    NT_CHECK(p->last_body_len > 20);
    NT_CHECK((uint8_t)p->last_body[0] == 0x1f && (uint8_t)p->last_body[1] == 0x8b);
    nox_client_free(c);

    /* No api_key: $NOXRUNNER_API_KEY; neither: no Authorization at all. */
    setenv("NOXRUNNER_API_KEY", "from-env", 1);
    c = client_for(p->url, NULL, 0, 0);
    unsetenv("NOXRUNNER_API_KEY");
    NT_CHECK(c);
    NT_OK(nox_sandbox_touch(c, "x", &err));
    NT_CHECK(strstr(p->last_headers, "Authorization: Bearer from-env\n"));
    nox_client_free(c);
    c = client_for(p->url, NULL, 0, 0);
    NT_CHECK(c);
    NT_OK(nox_sandbox_touch(c, "x", &err));
    NT_CHECK(!strcasestr(p->last_headers, "Authorization:"));
    nox_client_free(c);
    peer_stop(p);
}

NT_TEST(statuses_map_to_codes_with_server_message_body_and_request_id) {
    peer *p = peer_start(status_handler);
    NT_CHECK(p);
    nox_client *c = client_for(p->url, NULL, 0, 0);
    NT_CHECK(c);
    nox_sandbox_info *i = NULL;
    nox_error *e = NULL;
    NT_CHECK_INT(nox_sandbox_get(c, "s404", &i, &e), NOX_ENOTFOUND);
    NT_CHECK(e);
    NT_CHECK_INT(nox_error_http_status(e), 404);
    size_t bl = 0;
    const uint8_t *body = nox_error_body(e, &bl);
    NT_CHECK_BYTES(body, bl, "{\"error\":\"sandbox not found\"}");
    NT_CHECK(strstr(nox_error_message(e), "server answered 404: sandbox not found"));
    NT_CHECK(strstr(nox_error_message(e), "srv-req-42"));
    NT_CHECK(strstr(nox_error_message(e), "s404")); /* client.c names the session */
    nox_error_free(e);
    NT_FAILS(NOX_ENOTFOUND, "sandbox not found", nox_sandbox_delete(c, "s404", &err));
    NT_FAILS(NOX_EAUTH, "server answered 401: bad token", nox_sandbox_touch(c, "s401", &err));
    NT_FAILS(NOX_EAUTH, "403", nox_sandbox_touch(c, "s403", &err));
    NT_FAILS(NOX_EINVAL, "server answered 400: bad ttl",
             nox_sandbox_create(c, "s400", NULL, &i, &err));
    NT_FAILS(NOX_ETOOBIG, "413", nox_sandbox_touch(c, "s413", &err));
    NT_FAILS(NOX_EHTTP, "server answered 500: internal kaboom",
             nox_sandbox_touch(c, "s500", &err));
    nox_exec_stream *st = NULL;
    const char *argv[] = {"true", NULL};
    NT_FAILS(NOX_ENOTFOUND, "sandbox not found",
             nox_exec_start(c, "s404", argv, NULL, &st, &err));
    nox_client_free(c);
    peer_stop(p);
}

NT_TEST(safe_calls_retry_503_but_exec_is_never_replayed) {
    peer *p = peer_start(part_a_handler);
    NT_CHECK(p);
    nox_client *c = client_for(p->url, NULL, 2, 0);
    NT_CHECK(c);
    pthread_mutex_lock(&p->lock);
    p->script[0] = 503;
    p->script[1] = 502;
    p->nscript = 2;
    pthread_mutex_unlock(&p->lock);
    NT_OK(nox_sandbox_touch(c, "s", &err));
    NT_CHECK_INT(peer_get(p, &p->requests), 3);

    pthread_mutex_lock(&p->lock);
    p->script[0] = 503;
    p->nscript = 1;
    pthread_mutex_unlock(&p->lock);
    nox_exec_result *r = NULL;
    const char *argv[] = {"true", NULL};
    NT_FAILS(NOX_ENOTREADY, "503", nox_exec(c, "s", argv, NULL, &r, &err));
    NT_CHECK_INT(peer_get(p, &p->requests), 4); /* exactly one attempt */

    /* Retries give up after max_retries. */
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < 5; i++)
        p->script[i] = 504;
    p->nscript = 5;
    pthread_mutex_unlock(&p->lock);
    NT_FAILS(NOX_EHTTP, "504", nox_sandbox_touch(c, "s", &err));
    NT_CHECK_INT(peer_get(p, &p->requests), 7);
    pthread_mutex_lock(&p->lock);
    p->nscript = 0;
    pthread_mutex_unlock(&p->lock);
    nox_client_free(c);
    peer_stop(p);
}

NT_TEST(wait_ready_polls_through_503_until_its_deadline) {
    peer *p = peer_start(part_a_handler);
    NT_CHECK(p);
    nox_client *c = client_for(p->url, NULL, 0, 0);
    NT_CHECK(c);
    pthread_mutex_lock(&p->lock);
    p->script[0] = p->script[1] = p->script[2] = 503;
    p->nscript = 3;
    pthread_mutex_unlock(&p->lock);
    NT_OK(nox_sandbox_wait_ready(c, "s", 5000, &err));
    NT_CHECK_INT(peer_get(p, &p->requests), 4);

    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < 8; i++)
        p->script[i] = 503;
    p->nscript = 8;
    pthread_mutex_unlock(&p->lock);
    int64_t t0 = now_ms();
    NT_FAILS(NOX_ETIMEOUT, "not ready after 500 ms", nox_sandbox_wait_ready(c, "s", 500, &err));
    NT_CHECK(now_ms() - t0 < 5000); /* 500 ms, not the 8 answers' worth (ASan, load) */
    pthread_mutex_lock(&p->lock);
    p->nscript = 0;
    pthread_mutex_unlock(&p->lock);
    nox_client_free(c);
    peer_stop(p);
}

NT_TEST(connections_are_reused_across_calls_and_threads) {
    peer *p = peer_start(part_a_handler);
    NT_CHECK(p);
    nox_client *c = client_for(p->url, NULL, 0, 0);
    NT_CHECK(c);
    for (int i = 0; i < 20; i++)
        NT_OK(nox_sandbox_touch(c, "s", &err));
    NT_CHECK_INT(peer_get(p, &p->requests), 20);
    NT_CHECK_INT(peer_get(p, &p->accepted), 1);
    nox_client_free(c);
    peer_stop(p);
}

typedef struct reuse_arg {
    nox_client *c;
    int failures;
} reuse_arg;

static void *reuse_thread(void *arg) {
    reuse_arg *a = arg;
    for (int i = 0; i < 25; i++) {
        nox_error *e = NULL;
        if (nox_sandbox_touch(a->c, "s", &e) != 0)
            a->failures++;
        nox_error_free(e);
    }
    return NULL;
}

NT_TEST(threads_share_a_bounded_set_of_connections) {
    peer *p = peer_start(part_a_handler);
    NT_CHECK(p);
    nox_client *c = client_for(p->url, NULL, 0, 0);
    NT_CHECK(c);
    pthread_t t[8];
    reuse_arg a[8];
    for (int i = 0; i < 8; i++) {
        a[i].c = c;
        a[i].failures = 0;
        pthread_create(&t[i], NULL, reuse_thread, &a[i]);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 8; i++)
        NT_CHECK_INT(a[i].failures, 0);
    NT_CHECK_INT(peer_get(p, &p->requests), 200);
    /* One connection per concurrent caller at most, not one per call. */
    NT_CHECK(peer_get(p, &p->accepted) <= 8);
    nox_client_free(c);
    peer_stop(p);
}

NT_TEST(exec_deadline_is_its_timeout_plus_the_request_margin) {
    peer *p = peer_start(part_a_handler);
    NT_CHECK(p);
    /* Request timeout 600 ms, the server takes 1200 ms to answer. */
    nox_client *c = client_for(p->url, NULL, 0, 600);
    NT_CHECK(c);
    pthread_mutex_lock(&p->lock);
    p->delay_ms = 1200;
    pthread_mutex_unlock(&p->lock);
    NT_FAILS(NOX_ETIMEOUT, "timed out", nox_sandbox_touch(c, "s", &err));
    nox_exec_options eo;
    nox_exec_options_init(&eo, NOX_EXEC_OPTIONS_VERSION);
    eo.timeout_seconds = 2;
    nox_exec_result *r = NULL;
    const char *argv[] = {"sleep", "1", NULL};
    NT_OK(nox_exec(c, "s", argv, &eo, &r, &err));
    nox_exec_result_free(r);
    pthread_mutex_lock(&p->lock);
    p->delay_ms = 0;
    pthread_mutex_unlock(&p->lock);
    nox_client_free(c);
    peer_stop(p);
}

NT_TEST(ndjson_stream_delivers_chunks_in_order_with_raw_bytes) {
    peer *p = peer_start(stream_handler);
    NT_CHECK(p);
    nox_client *c = client_for(p->url, NULL, 0, 0);
    NT_CHECK(c);
    const char *argv[] = {"x", NULL};
    nox_exec_stream *st = NULL;
    NT_OK(nox_exec_start(c, "s", argv, NULL, &st, &err));
    int kind;
    const uint8_t *data;
    size_t len;
    /* The first line comes after 150 ms: a 10 ms wait sees nothing. */
    NT_OK(nox_exec_next(st, 10, &kind, &data, &len, &err));
    NT_CHECK_INT(kind, NOX_EVENT_NONE);
    NT_OK(nox_exec_next(st, 5000, &kind, &data, &len, &err));
    NT_CHECK_INT(kind, NOX_EVENT_STDOUT);
    NT_CHECK_BYTES(data, len, "one\n");
    NT_OK(nox_exec_next(st, 5000, &kind, &data, &len, &err));
    NT_CHECK_INT(kind, NOX_EVENT_STDERR);
    NT_CHECK_BYTES(data, len, "warn");
    NT_OK(nox_exec_next(st, 5000, &kind, &data, &len, &err));
    NT_CHECK_INT(kind, NOX_EVENT_STDOUT);
    NT_CHECK_INT(len, 3);
    NT_CHECK(memcmp(data, "\xff\x00\xfe", 3) == 0);
    NT_OK(nox_exec_next(st, 5000, &kind, &data, &len, &err));
    NT_CHECK_INT(kind, NOX_EVENT_EXIT);
    const nox_exec_result *r = nox_exec_stream_result(st);
    NT_CHECK(r);
    NT_CHECK_INT(nox_exec_result_exit_code(r), 137);
    NT_CHECK_INT(nox_exec_result_signal(r), 9);
    NT_CHECK_INT(nox_exec_result_duration_ms(r), 12);
    nox_exec_stream_free(st);

    /* Client-side cap: 2 bytes per stream, flagged as truncated. */
    nox_exec_options eo;
    nox_exec_options_init(&eo, NOX_EXEC_OPTIONS_VERSION);
    eo.max_output_bytes = 2;
    NT_OK(nox_exec_start(c, "s", argv, &eo, &st, &err));
    NT_OK(nox_exec_next(st, 5000, &kind, &data, &len, &err));
    NT_CHECK_INT(kind, NOX_EVENT_STDOUT);
    NT_CHECK_BYTES(data, len, "on");
    NT_OK(nox_exec_next(st, 5000, &kind, &data, &len, &err));
    NT_CHECK_INT(kind, NOX_EVENT_STDERR);
    NT_CHECK_BYTES(data, len, "wa");
    NT_OK(nox_exec_next(st, 5000, &kind, &data, &len, &err));
    NT_CHECK_INT(kind, NOX_EVENT_EXIT);
    NT_CHECK_INT(nox_exec_result_stdout_truncated(nox_exec_stream_result(st)), 1);
    NT_CHECK_INT(nox_exec_result_stderr_truncated(nox_exec_stream_result(st)), 1);
    nox_exec_stream_free(st);
    /* Streams read to their end leave the connection for the next one. */
    NT_CHECK_INT(peer_get(p, &p->requests), 2);
    NT_CHECK_INT(peer_get(p, &p->accepted), 1);
    nox_client_free(c);
    peer_stop(p);
}

typedef struct cancel_arg {
    nox_exec_stream *st;
    int delay_ms;
} cancel_arg;

static void *cancel_thread(void *arg) {
    cancel_arg *a = arg;
    sleep_ms(a->delay_ms);
    nox_exec_cancel(a->st);
    return NULL;
}

NT_TEST(cancel_from_another_thread_wakes_next_and_closes_the_connection) {
    peer *p = peer_start(stream_handler);
    NT_CHECK(p);
    nox_client *c = client_for(p->url, NULL, 0, 0);
    NT_CHECK(c);
    const char *argv[] = {"forever", NULL};
    nox_exec_stream *st = NULL;
    NT_OK(nox_exec_start(c, "s", argv, NULL, &st, &err));
    int kind;
    const uint8_t *data;
    size_t len;
    NT_OK(nox_exec_next(st, 5000, &kind, &data, &len, &err));
    NT_CHECK_INT(kind, NOX_EVENT_STDOUT);
    cancel_arg a = {st, 300};
    pthread_t t;
    pthread_create(&t, NULL, cancel_thread, &a);
    int64_t t0 = now_ms();
    int rc = 0;
    nox_error *e = NULL;
    while ((rc = nox_exec_next(st, -1, &kind, &data, &len, &e)) == 0)
        NT_CHECK(now_ms() - t0 < 5000);
    pthread_join(t, NULL);
    NT_CHECK_INT(rc, NOX_ECANCELED);
    NT_CHECK(e && strstr(nox_error_message(e), "canceled"));
    nox_error_free(e);
    e = NULL;
    NT_CHECK_INT(nox_exec_next(st, 0, &kind, &data, &len, &e), NOX_ECANCELED);
    nox_error_free(e);
    /* The peer sees its client go away while the stream object lives. */
    for (int i = 0; i < 200 && peer_get(p, &p->closed) < 1; i++)
        sleep_ms(10);
    NT_CHECK_INT(peer_get(p, &p->closed), 1);
    nox_exec_stream_free(st);

    /* Cancel while nobody is in next(): the connection closes at once. */
    NT_OK(nox_exec_start(c, "s", argv, NULL, &st, &err));
    nox_exec_cancel(st);
    nox_exec_cancel(st); /* idempotent */
    for (int i = 0; i < 200 && peer_get(p, &p->closed) < 2; i++)
        sleep_ms(10);
    NT_CHECK_INT(peer_get(p, &p->closed), 2);
    NT_FAILS(NOX_ECANCELED, "canceled", nox_exec_next(st, 100, &kind, &data, &len, &err));
    nox_exec_stream_free(st);
    nox_client_free(c);
    peer_stop(p);
}

NT_TEST(stream_outlives_its_client) {
    peer *p = peer_start(stream_handler);
    NT_CHECK(p);
    nox_client *c = client_for(p->url, NULL, 0, 0);
    NT_CHECK(c);
    const char *argv[] = {"x", NULL};
    nox_exec_stream *st = NULL;
    NT_OK(nox_exec_start(c, "s", argv, NULL, &st, &err));
    nox_client_free(c);
    int kind = 0, events = 0;
    const uint8_t *data;
    size_t len;
    while (kind != NOX_EVENT_EXIT && events < 10) {
        NT_OK(nox_exec_next(st, 5000, &kind, &data, &len, &err));
        events++;
    }
    NT_CHECK_INT(kind, NOX_EVENT_EXIT);
    NT_CHECK_INT(events, 4);
    nox_exec_stream_free(st);
    peer_stop(p);
}

NT_TEST(download_sink_failure_reports_the_sink_error) {
    peer *p = peer_start(part_a_handler);
    NT_CHECK(p);
    nox_client *c = client_for(p->url, NULL, 2, 0);
    NT_CHECK(c);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* writes fail: EBADF */
    nox_error *e = NULL;
    int rc = nox_download_fd(c, "s", NULL, fd, &e);
    close(fd);
    NT_CHECK(rc != 0);
    NT_CHECK(e);
    NT_CHECK(rc != NOX_ECONNECT && rc != NOX_EPROTOCOL);
    NT_CHECK(strstr(nox_error_message(e), "Bad file descriptor"));
    nox_error_free(e);
    NT_CHECK_INT(peer_get(p, &p->requests), 1); /* bytes were written: no retry */
    nox_client_free(c);
    peer_stop(p);
}

NT_TEST(archive_transfers_have_an_idle_deadline_not_a_total_one) {
    peer *p = peer_start(drip_handler);
    NT_CHECK(p);
    nox_client *c = client_for(p->url, NULL, 0, 1000);
    NT_CHECK(c);
    /* 2 s in total, longer than the 1 s request timeout, but never idle. */
    nox_bytes *b = NULL;
    NT_OK(nox_download(c, "steady", NULL, &b, &err));
    size_t n;
    nox_bytes_data(b, &n);
    NT_CHECK_INT(n, 64);
    nox_bytes_free(b);
    int64_t t0 = now_ms();
    NT_FAILS(NOX_ETIMEOUT, "timed out", nox_download(c, "stall", NULL, &b, &err));
    /* The idle deadline (1 s) fired, long before the peer's 20 s silence
     * ends; the margin holds under ASan on a loaded host. */
    NT_CHECK(now_ms() - t0 < 10000);
    nox_client_free(c);
    peer_stop(p);
}

int main(void) {
    /* The peers are on loopback: never through a proxy from the environment. */
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("https_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    NT_RUN(unreachable_server_fails_fast_with_econnect);
    NT_RUN(garbage_json_answer_is_eprotocol);
    NT_RUN(non_http_peer_is_eprotocol);
    NT_RUN(tls_to_a_plain_http_peer_is_econnect_naming_tls);
    NT_RUN(part_a_server_exec_and_stream_fallback);
    NT_RUN(wire_format_encodes_ids_headers_and_bodies);
    NT_RUN(statuses_map_to_codes_with_server_message_body_and_request_id);
    NT_RUN(safe_calls_retry_503_but_exec_is_never_replayed);
    NT_RUN(wait_ready_polls_through_503_until_its_deadline);
    NT_RUN(connections_are_reused_across_calls_and_threads);
    NT_RUN(threads_share_a_bounded_set_of_connections);
    NT_RUN(exec_deadline_is_its_timeout_plus_the_request_margin);
    NT_RUN(ndjson_stream_delivers_chunks_in_order_with_raw_bytes);
    NT_RUN(cancel_from_another_thread_wakes_next_and_closes_the_connection);
    NT_RUN(stream_outlives_its_client);
    NT_RUN(download_sink_failure_reports_the_sink_error);
    NT_RUN(archive_transfers_have_an_idle_deadline_not_a_total_one);
    return nt_main_end();
}

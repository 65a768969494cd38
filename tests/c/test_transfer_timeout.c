/* test_transfer_timeout.c - uploads and downloads over HTTP have a
 * deadline for the whole transfer (transfer_timeout_ms), not only the
 * idle limit: a peer in this process that trickles a download, or reads
 * an upload a byte at a time, must not hold the caller past it (issue 12
 * item 5). Also the ABI side of the option: a version-1 options struct,
 * which ends before the field, is neither written nor read past its end. */
#include "nox_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- the peer ------------------------------------------------------------ */

enum peer_mode {
    TRICKLE,   /* download: headers, then 1 byte every 200 ms */
    SLOW_READ, /* upload: read 64 KiB every 200 ms, never answer */
    SILENT,    /* download: headers, then nothing */
    QUICK      /* download: the whole answer at once */
};

/* The peer gives up by itself after this long, so a client that waits
 * for ever (the bug) still lets the test end, and fail. */
#define PEER_LIFETIME_MS 10000
#define QUICK_BODY "quick archive bytes"

typedef struct peer {
    int lfd;
    char url[64];
    enum peer_mode mode;
    int64_t end_ms; /* the peer's own deadline */
    volatile int stop;
    pthread_t thread;
} peer;

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int peer_over(const peer *p) {
    return p->stop || now_ms() >= p->end_ms;
}

static int send_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read the request head into buf (NUL-terminated); -1 on EOF or timeout. */
static int read_head(peer *p, int fd, char *buf, size_t cap) {
    size_t len = 0;
    while (!peer_over(p) && len + 1 < cap) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t r = recv(fd, buf + len, 1, 0); /* byte-wise: the body stays queued */
        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = 0;
        if (len >= 4 && memcmp(buf + len - 4, "\r\n\r\n", 4) == 0)
            return 0;
    }
    return -1;
}

static void trickle(peer *p, int fd) {
    const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\n"
                       "Content-Length: 1000000\r\n\r\n";
    if (send_all(fd, head, strlen(head)) != 0)
        return;
    while (!peer_over(p) && send_all(fd, "x", 1) == 0)
        sleep_ms(200);
}

/* 64 KiB every 200 ms: bytes keep moving, but far too few for the
 * upload to end before the peer gives up. */
static void slow_read(peer *p, int fd) {
    char buf[65536];
    while (!peer_over(p)) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 100) > 0 && recv(fd, buf, sizeof buf, 0) <= 0)
            return; /* the client hung up */
        sleep_ms(200);
    }
}

static void silent(peer *p, int fd) {
    const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\n"
                       "Content-Length: 1000\r\n\r\n";
    char c;
    if (send_all(fd, head, strlen(head)) != 0)
        return;
    while (!peer_over(p)) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 100) > 0 && recv(fd, &c, 1, MSG_PEEK) <= 0)
            return;
    }
}

static void answer(peer *p, int fd) {
    char head[8192], out[256];
    if (read_head(p, fd, head, sizeof head) != 0)
        return;
    if (strstr(head, "/files/upload") && p->mode == SLOW_READ) {
        slow_read(p, fd);
    } else if (strstr(head, "/files/download") && p->mode == TRICKLE) {
        trickle(p, fd);
    } else if (strstr(head, "/files/download") && p->mode == SILENT) {
        silent(p, fd);
    } else if (strstr(head, "/files/download") && p->mode == QUICK) {
        snprintf(out, sizeof out,
                 "HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                 strlen(QUICK_BODY), QUICK_BODY);
        send_all(fd, out, strlen(out));
    } else {
        const char *nf = "{\"error\":\"not found\"}";
        snprintf(out, sizeof out,
                 "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                 strlen(nf), nf);
        send_all(fd, out, strlen(out));
    }
}

static void *peer_main(void *arg) {
    peer *p = arg;
    while (!peer_over(p)) {
        struct pollfd pfd = {p->lfd, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        int fd = accept(p->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        answer(p, fd);
        close(fd);
    }
    return NULL;
}

static peer *peer_start(enum peer_mode mode) {
    peer *p = calloc(1, sizeof *p);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof a;
    int small = 4096; /* a small window: the upload cannot hide in buffers */
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(p->lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(p->lfd, 8) != 0 || getsockname(p->lfd, (struct sockaddr *)&a, &alen) != 0) {
        if (p->lfd >= 0)
            close(p->lfd);
        free(p);
        return NULL;
    }
    snprintf(p->url, sizeof p->url, "http://127.0.0.1:%d", ntohs(a.sin_port));
    p->mode = mode;
    p->end_ms = now_ms() + PEER_LIFETIME_MS;
    if (pthread_create(&p->thread, NULL, peer_main, p) != 0) {
        close(p->lfd);
        free(p);
        return NULL;
    }
    return p;
}

static void peer_stop(peer *p) {
    if (!p)
        return;
    p->stop = 1;
    pthread_join(p->thread, NULL);
    close(p->lfd);
    free(p);
}

/* An HTTP client with these deadlines (0: the defaults). */
static nox_client *client_for(const char *url, uint32_t request_ms, uint32_t transfer_ms) {
    nox_client_options o;
    nox_client *c = NULL;
    nox_client_options_init(&o, NOX_CLIENT_OPTIONS_VERSION);
    o.backend = NOX_BACKEND_HTTP;
    o.base_url = url;
    o.max_retries = 0;
    o.request_timeout_ms = request_ms;
    o.transfer_timeout_ms = transfer_ms;
    if (nox_client_new(&c, &o, NULL) != 0)
        return NULL;
    return c;
}

/* ---- deadlines ----------------------------------------------------------- */

NT_TEST(trickled_download_fails_at_the_transfer_deadline) {
    peer *p = peer_start(TRICKLE);
    NT_CHECK(p);
    /* Idle limit 2 s: bytes keep coming every 200 ms, so only the whole
     * transfer's 1 s deadline can end this. */
    nox_client *c = client_for(p->url, 2000, 1000);
    NT_CHECK(c);
    nox_bytes *b = NULL;
    int64_t t0 = now_ms();
    nox_error *err = NULL;
    int rc = nox_download(c, "s", NULL, &b, &err);
    int64_t took = now_ms() - t0;
    printf("  trickled download ended after %lld ms: %s\n", (long long)took,
           err ? nox_error_message(err) : "(no error)");
    nox_client_free(c);
    peer_stop(p);
    NT_CHECK_INT(rc, NOX_ETIMEOUT);
    NT_CHECK(err && strstr(nox_error_message(err), "within 1000 ms (transfer_timeout_ms)"));
    nox_error_free(err);
    NT_CHECK(b == NULL);
    NT_CHECK(took >= 900 && took < 5000);
}

NT_TEST(slowly_read_upload_fails_at_the_transfer_deadline) {
    peer *p = peer_start(SLOW_READ);
    NT_CHECK(p);
    /* The client's send buffer wakes the writer only when a good part of
     * it drained, so the upload's counters stand still for seconds: an
     * idle limit of 8 s keeps that out of the way. */
    nox_client *c = client_for(p->url, 8000, 1000);
    NT_CHECK(c);
    size_t n = 8u << 20; /* far more than the socket buffers hold */
    uint8_t *data = malloc(n);
    NT_CHECK(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 2654435761u >> 13);
    int64_t t0 = now_ms();
    nox_error *err = NULL;
    int rc = nox_upload_targz(c, "s", data, n, NULL, &err);
    int64_t took = now_ms() - t0;
    printf("  slowly read upload ended after %lld ms: %s\n", (long long)took,
           err ? nox_error_message(err) : "(no error)");
    free(data);
    nox_client_free(c);
    peer_stop(p);
    NT_CHECK_INT(rc, NOX_ETIMEOUT);
    NT_CHECK(err && strstr(nox_error_message(err), "within 1000 ms (transfer_timeout_ms)"));
    nox_error_free(err);
    NT_CHECK(took >= 900 && took < 5000);
}

NT_TEST(quick_download_succeeds_under_the_same_deadline) {
    peer *p = peer_start(QUICK);
    NT_CHECK(p);
    nox_client *c = client_for(p->url, 2000, 1000);
    NT_CHECK(c);
    nox_bytes *b = NULL;
    nox_error *err = NULL;
    int rc = nox_download(c, "s", NULL, &b, &err);
    nox_client_free(c);
    peer_stop(p);
    if (rc != 0)
        printf("  quick download: %s\n", err ? nox_error_message(err) : "?");
    nox_error_free(err);
    NT_CHECK_INT(rc, 0);
    size_t len = 0;
    const uint8_t *d = nox_bytes_data(b, &len);
    NT_CHECK_BYTES(d, len, QUICK_BODY);
    nox_bytes_free(b);
}

NT_TEST(stalled_download_still_fails_at_the_idle_limit) {
    peer *p = peer_start(SILENT);
    NT_CHECK(p);
    nox_client *c = client_for(p->url, 700, 8000);
    NT_CHECK(c);
    nox_bytes *b = NULL;
    int64_t t0 = now_ms();
    NT_FAILS(NOX_ETIMEOUT, "no data moved for 700 ms", nox_download(c, "s", NULL, &b, &err));
    int64_t took = now_ms() - t0;
    nox_client_free(c);
    peer_stop(p);
    NT_CHECK(took < 4000);
}

/* ---- the options struct across versions ---------------------------------- */

#define V1_SIZE offsetof(nox_client_options, transfer_timeout_ms)

/* malloc behind a call the compiler cannot see through, so that a struct
 * deliberately smaller than today's type draws no -Warray-bounds. */
__attribute__((noinline)) static void *alloc_exactly(size_t n) {
    return malloc(n);
}

NT_TEST(init_of_a_version_1_struct_writes_nothing_past_its_end) {
    unsigned char *mem = malloc(V1_SIZE + 64);
    NT_CHECK(mem);
    memset(mem, 0xA5, V1_SIZE + 64);
    NT_CHECK_INT(nox_client_options_init((nox_client_options *)(void *)mem, 1), 0);
    size_t bad = 0;
    for (size_t i = V1_SIZE; i < V1_SIZE + 64; i++)
        bad += mem[i] != 0xA5;
    uint32_t version;
    memcpy(&version, mem, sizeof version);
    free(mem);
    NT_CHECK_INT(bad, 0);
    NT_CHECK_INT(version, 1);
}

NT_TEST(version_1_client_works_and_gets_the_default_deadline) {
    peer *p = peer_start(QUICK);
    NT_CHECK(p);
    /* Exactly a version-1 struct: ASan catches any read past it. */
    nox_client_options *o = alloc_exactly(V1_SIZE);
    NT_CHECK(o);
    NT_CHECK_INT(nox_client_options_init(o, 1), 0);
    o->backend = NOX_BACKEND_HTTP;
    o->base_url = p->url;
    nox_client *c = NULL;
    nox_error *err = NULL;
    int rc = nox_client_new(&c, o, &err);
    free(o);
    nox_bytes *b = NULL;
    if (rc == 0)
        rc = nox_download(c, "s", NULL, &b, &err);
    if (rc != 0)
        printf("  version-1 client: %s\n", err ? nox_error_message(err) : "?");
    nox_error_free(err);
    nox_client_free(c);
    peer_stop(p);
    NT_CHECK_INT(rc, 0);
    size_t len = 0;
    const uint8_t *d = nox_bytes_data(b, &len);
    NT_CHECK_BYTES(d, len, QUICK_BODY);
    nox_bytes_free(b);
}

NT_TEST(options_versions_beyond_the_library_are_refused) {
    nox_client_options o;
    NT_CHECK_INT(nox_client_options_init(&o, NOX_CLIENT_OPTIONS_VERSION), 0);
    NT_CHECK_INT(o.version, 2);
    NT_CHECK_INT(o.transfer_timeout_ms, 0);
    NT_CHECK_INT(nox_client_options_init(&o, NOX_CLIENT_OPTIONS_VERSION + 1), NOX_EVERSION);
}

int main(void) {
    /* The peers are on loopback: never through a proxy from the environment. */
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    NT_RUN(trickled_download_fails_at_the_transfer_deadline);
    NT_RUN(slowly_read_upload_fails_at_the_transfer_deadline);
    NT_RUN(quick_download_succeeds_under_the_same_deadline);
    NT_RUN(stalled_download_still_fails_at_the_idle_limit);
    NT_RUN(init_of_a_version_1_struct_writes_nothing_past_its_end);
    NT_RUN(version_1_client_works_and_gets_the_default_deadline);
    NT_RUN(options_versions_beyond_the_library_are_refused);
    return nt_main_end();
}

/*
 * front.c - the front door (see front.h for what it refuses and why).
 *
 * One thread, one epoll set: the listening socket, an eventfd to stop, and
 * every connection still waiting for its head. Waiting connections are
 * watched edge-triggered and only peeked at (MSG_PEEK), so the bytes stay
 * in the socket for libmicrohttpd; each new arrival wakes the thread once.
 * Deadlines are kept in the slot table and swept on every wake-up; epoll
 * waits no longer than the nearest one.
 */
#include "front.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define IP_BUCKETS 1024
#define EV_LISTEN UINT32_MAX
#define EV_STOP (UINT32_MAX - 1)

typedef struct ip_count {
    struct ip_count *next;
    uint8_t key[17]; /* family byte + address (v4 mapped into 16 bytes) */
    unsigned n;
} ip_count;

typedef struct slot {
    int fd;            /* -1: free */
    int64_t deadline;  /* monotonic ms */
    int body;          /* the head is in; waiting for a small body */
    struct sockaddr_storage addr;
    socklen_t addrlen;
} slot;

struct front {
    front_config cfg;
    struct MHD_Daemon *daemon;
    int ep, stop_fd;
    pthread_t thread;
    int started;
    slot *slots; /* max_pending of them */
    char *peek;  /* max_head_bytes + FRONT_SMALL_BODY + 1 */
    pthread_mutex_t mu; /* guards ips (the daemon's threads close connections) */
    ip_count *ips[IP_BUCKETS];
    atomic_ulong refused;
};

static int64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- connections per address -------------------------------------------- */

static void ip_key(const struct sockaddr *a, uint8_t key[17]) {
    memset(key, 0, 17);
    key[0] = (uint8_t)a->sa_family;
    if (a->sa_family == AF_INET)
        memcpy(key + 1, &((const struct sockaddr_in *)a)->sin_addr, 4);
    else if (a->sa_family == AF_INET6)
        memcpy(key + 1, &((const struct sockaddr_in6 *)a)->sin6_addr, 16);
}

static ip_count **ip_find(front *f, const uint8_t key[17]) {
    uint32_t h = 2166136261u;
    for (int i = 0; i < 17; i++)
        h = (h ^ key[i]) * 16777619u;
    ip_count **p = &f->ips[h % IP_BUCKETS];
    while (*p && memcmp((*p)->key, key, 17) != 0)
        p = &(*p)->next;
    return p;
}

/* Count one more connection from a; 0 when it is over the limit (not
 * counted then) or out of memory. */
static int ip_take(front *f, const struct sockaddr *a) {
    uint8_t key[17];
    ip_key(a, key);
    pthread_mutex_lock(&f->mu);
    ip_count **p = ip_find(f, key);
    int ok = 1;
    if (!*p && (*p = calloc(1, sizeof **p)) != NULL)
        memcpy((*p)->key, key, 17);
    if (!*p || (f->cfg.max_per_ip && (*p)->n >= f->cfg.max_per_ip))
        ok = 0;
    else
        (*p)->n++;
    pthread_mutex_unlock(&f->mu);
    return ok;
}

static void ip_put(front *f, const struct sockaddr *a) {
    uint8_t key[17];
    ip_key(a, key);
    pthread_mutex_lock(&f->mu);
    ip_count **p = ip_find(f, key);
    if (*p && (*p)->n > 0 && --(*p)->n == 0) {
        ip_count *dead = *p;
        *p = dead->next;
        free(dead);
    }
    pthread_mutex_unlock(&f->mu);
}

void front_connection_closed(front *f, const struct sockaddr *addr) {
    if (f && addr)
        ip_put(f, addr);
}

unsigned long front_refused(const front *f) {
    return f ? atomic_load(&((front *)f)->refused) : 0;
}

/* ---- answering and closing ---------------------------------------------- */

/* Say why in the server's JSON error shape, then close so the client
 * reads it: unread input is drained first (closing with data unread sends
 * a reset, which can destroy the answer before the client sees it). */
static void refuse(front *f, int fd, int status, const char *reason, const char *code,
                   const char *msg) {
    char body[256], head[256];
    int bn = snprintf(body, sizeof body, "{\"error\":\"%s\",\"code\":\"%s\"}\n", msg, code);
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\nConnection: close\r\n\r\n",
                      status, reason, bn);
    (void)!send(fd, head, (size_t)hn, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)!send(fd, body, (size_t)bn, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(fd, SHUT_WR);
    char sink[4096];
    for (int i = 0; i < 64 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++)
        ;
    close(fd);
    atomic_fetch_add(&f->refused, 1);
}

static void drop(front *f, slot *s) {
    epoll_ctl(f->ep, EPOLL_CTL_DEL, s->fd, NULL);
    ip_put(f, (struct sockaddr *)&s->addr);
    s->fd = -1;
}

/* ---- is this an HTTP/1 request head? ------------------------------------ */

enum { HEAD_MORE, HEAD_DONE, HEAD_BAD, HEAD_VERSION };

/* The request line as far as it has come: METHOD SP target SP HTTP/1.x. */
static int check_request_line(const char *p, size_t n) {
    size_t i = 0;
    while (i < n && p[i] >= 'A' && p[i] <= 'Z' && i < 16)
        i++;
    if (i == n)
        return HEAD_MORE;
    if (p[i] != ' ' || i == 0)
        return HEAD_BAD; /* not a method: TLS, NUL, binary, lower case */
    size_t t = ++i;
    while (i < n && (unsigned char)p[i] > 0x20 && p[i] != 0x7f)
        i++;
    if (i == n)
        return HEAD_MORE;
    if (p[i] != ' ' || i == t)
        return HEAD_BAD;
    const char *v = p + i + 1;
    size_t left = n - i - 1, want = strlen("HTTP/1.1\r\n");
    size_t k = left < want ? left : want;
    if (strncmp(v, "HTTP/1.1\r\n", k) == 0 || strncmp(v, "HTTP/1.0\r\n", k) == 0)
        return k == want ? HEAD_DONE : HEAD_MORE;
    return strncmp(v, "HTTP/", k < 5 ? k : 5) == 0 ? HEAD_VERSION : HEAD_BAD;
}

/* The state of the head in p[0..n); *head_len its length when done. */
static int head_state(const char *p, size_t n, size_t *head_len) {
    int line = check_request_line(p, n);
    *head_len = n;
    if (line != HEAD_DONE)
        return line;
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    size_t len = end ? (size_t)(end - p) + 4 : n;
    if (memchr(p, 0, len))
        return HEAD_BAD;
    *head_len = len;
    return end ? HEAD_DONE : HEAD_MORE;
}

/* Every header line is "name: value" with a token for a name (no folded
 * continuation lines, which RFC 9112 forbids a server to take). */
static int fields_ok(const char *p, size_t head_len) {
    const char *end = p + head_len - 2; /* at the final CRLF */
    const char *l = memmem(p, head_len, "\r\n", 2) + 2;
    while (l < end) {
        const char *e = memmem(l, (size_t)(end - l) + 2, "\r\n", 2);
        const char *c = l;
        while (c < e && *c != ':' && (unsigned char)*c > 0x20 && *c != 0x7f && !strchr("\"(),/;<=>?@[\\]{}", *c))
            c++;
        if (c == l || c == e || *c != ':')
            return 0;
        l = e + 2;
    }
    return 1;
}

/* The value of header name (lower case, with its ':') in the head, or
 * NULL; *count how many times it appears. */
static const char *header(const char *p, size_t n, const char *name, int *count) {
    const char *found = NULL;
    size_t k = strlen(name);
    *count = 0;
    for (const char *l = memmem(p, n, "\r\n", 2); l && (size_t)(l - p) + 2 + k < n;
         l = memmem(l + 2, n - (size_t)(l + 2 - p), "\r\n", 2))
        if (strncasecmp(l + 2, name, k) == 0) {
            found = l + 2 + k;
            ++*count;
        }
    return found;
}

/* The small body the front waits for: its length, 0 for none (or one the
 * daemon takes as it comes: large, chunked, or after 100-continue), -1 for
 * a Content-Length that is not one decimal number. */
static long small_body(const char *p, size_t head_len) {
    int n_len, n_te, n_expect;
    const char *v = header(p, head_len, "content-length:", &n_len);
    (void)header(p, head_len, "transfer-encoding:", &n_te);
    (void)header(p, head_len, "expect:", &n_expect);
    if (n_len > 1)
        return -1;
    if (!v || n_te || n_expect)
        return 0;
    while (*v == ' ' || *v == '\t')
        v++;
    char *e;
    errno = 0;
    if (*v < '0' || *v > '9')
        return -1;
    unsigned long long len = strtoull(v, &e, 10);
    while (*e == ' ' || *e == '\t')
        e++;
    if (errno || *e != '\r')
        return -1;
    return len <= FRONT_SMALL_BODY ? (long)len : 0;
}

int front_verdict(const char *p, size_t n, size_t max_head_bytes) {
    size_t head_len = 0;
    int st = head_state(p, n, &head_len);
    if (head_len > max_head_bytes)
        return FRONT_TOO_BIG; /* whatever else it is */
    if (st == HEAD_MORE)
        return FRONT_MORE;
    if (st == HEAD_BAD)
        return FRONT_NOT_HTTP;
    if (st == HEAD_VERSION)
        return FRONT_VERSION;
    if (!fields_ok(p, head_len))
        return FRONT_BAD_FIELD;
    int hosts = 0;
    (void)header(p, head_len, "host:", &hosts);
    const char *line_end = memmem(p, head_len, "\r\n", 2);
    if (hosts != 1 && memcmp(line_end - 8, "HTTP/1.1", 8) == 0)
        return FRONT_BAD_HOST; /* RFC 9112 3.2: exactly one */
    long body = small_body(p, head_len);
    if (body < 0)
        return FRONT_BAD_LENGTH;
    return (size_t)body <= n - head_len ? FRONT_READY : FRONT_WAIT_BODY;
}

/* ---- the loop ----------------------------------------------------------- */

/* What each refusal answers. */
static const struct {
    int status;
    const char *reason, *code, *msg;
} refusals[] = {
    [FRONT_NOT_HTTP] = {400, "Bad Request", "NOX_EPROTOCOL", "not an HTTP/1 request"},
    [FRONT_VERSION] = {505, "HTTP Version Not Supported", "NOX_EPROTOCOL",
                       "only HTTP/1.0 and HTTP/1.1 are served"},
    [FRONT_BAD_FIELD] = {400, "Bad Request", "NOX_EPROTOCOL",
                         "a header line is not \\\"name: value\\\""},
    [FRONT_BAD_HOST] = {400, "Bad Request", "NOX_EPROTOCOL",
                        "an HTTP/1.1 request needs exactly one Host header"},
    [FRONT_BAD_LENGTH] = {400, "Bad Request", "NOX_EPROTOCOL",
                          "Content-Length is not one decimal number"},
    [FRONT_TOO_BIG] = {431, "Request Header Fields Too Large", "NOX_ETOOBIG",
                       "the request head is larger than the server's limit"},
};

static void hand_over(front *f, slot *s) {
    int fd = s->fd;
    epoll_ctl(f->ep, EPOLL_CTL_DEL, fd, NULL);
    s->fd = -1;
    /* The daemon counts it from here; it closes fd itself on failure. */
    if (MHD_add_connection(f->daemon, fd, (struct sockaddr *)&s->addr, s->addrlen) != MHD_YES)
        ip_put(f, (struct sockaddr *)&s->addr);
}

static void on_readable(front *f, slot *s) {
    size_t cap = f->cfg.max_head_bytes + FRONT_SMALL_BODY + 1;
    ssize_t n = recv(s->fd, f->peek, cap, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    int fd = s->fd;
    if (n <= 0) { /* gone before asking anything */
        drop(f, s);
        close(fd);
        return;
    }
    int v = front_verdict(f->peek, (size_t)n, f->cfg.max_head_bytes);
    if (v == FRONT_READY)
        return hand_over(f, s);
    if (v == FRONT_WAIT_BODY && !s->body) {
        s->body = 1; /* the head is in: the body's own deadline starts */
        s->deadline = now_ms() + f->cfg.body_timeout_ms;
    }
    if (v == FRONT_MORE || v == FRONT_WAIT_BODY)
        return;
    drop(f, s);
    refuse(f, fd, refusals[v].status, refusals[v].reason, refusals[v].code, refusals[v].msg);
}

static slot *free_slot(front *f) {
    for (unsigned i = 0; i < f->cfg.max_pending; i++)
        if (f->slots[i].fd < 0)
            return &f->slots[i];
    return NULL;
}

static void on_accept(front *f) {
    for (;;) {
        struct sockaddr_storage a;
        socklen_t len = sizeof a;
        int fd = accept4(f->cfg.listen_fd, (struct sockaddr *)&a, &len,
                         SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return; /* EAGAIN, or out of fds: the next wake-up tries again */
        slot *s = free_slot(f);
        if (!ip_take(f, (struct sockaddr *)&a)) {
            refuse(f, fd, 429, "Too Many Requests", "NOX_ETOOBIG",
                   "too many connections from this address");
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET};
        if (s)
            ev.data.u32 = (uint32_t)(s - f->slots);
        if (!s || epoll_ctl(f->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            ip_put(f, (struct sockaddr *)&a);
            refuse(f, fd, 503, "Service Unavailable", "NOX_ENOTREADY",
                   "too many connections waiting; try again");
            continue;
        }
        *s = (slot){.fd = fd, .body = 0, .deadline = now_ms() + f->cfg.head_timeout_ms,
                    .addr = a, .addrlen = len};
        on_readable(f, s); /* the head may be there already */
    }
}

/* Refuse whatever is past its deadline; the time until the next one. */
static int sweep(front *f) {
    int64_t now = now_ms(), next = -1;
    for (unsigned i = 0; i < f->cfg.max_pending; i++) {
        slot *s = &f->slots[i];
        if (s->fd < 0)
            continue;
        if (s->deadline <= now) {
            int fd = s->fd, body = s->body;
            drop(f, s);
            refuse(f, fd, 408, "Request Timeout", "NOX_ETIMEOUT",
                   body ? "the request body did not arrive in time"
                        : "the request head did not arrive in time");
        } else if (next < 0 || s->deadline - now < next) {
            next = s->deadline - now;
        }
    }
    return (int)next;
}

static void *front_main(void *arg) {
    front *f = arg;
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(f->ep, evs, 64, sweep(f));
        for (int i = 0; i < n; i++) {
            uint32_t id = evs[i].data.u32;
            if (id == EV_STOP)
                return NULL;
            if (id == EV_LISTEN)
                on_accept(f);
            else if (id < f->cfg.max_pending && f->slots[id].fd >= 0)
                on_readable(f, &f->slots[id]);
        }
    }
}

/* ---- life --------------------------------------------------------------- */

static int watch(int ep, int fd, uint32_t id) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = id};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int front_start(front **out, const front_config *cfg, struct MHD_Daemon *d, char *err,
                size_t cap) {
    *out = NULL;
    front *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    f->cfg = *cfg;
    f->daemon = d;
    f->ep = epoll_create1(EPOLL_CLOEXEC);
    f->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    f->slots = calloc(cfg->max_pending ? cfg->max_pending : 1, sizeof *f->slots);
    f->peek = malloc(cfg->max_head_bytes + FRONT_SMALL_BODY + 1);
    pthread_mutex_init(&f->mu, NULL);
    for (unsigned i = 0; f->slots && i < cfg->max_pending; i++)
        f->slots[i].fd = -1;
    int ok = f->ep >= 0 && f->stop_fd >= 0 && f->slots && f->peek &&
             watch(f->ep, cfg->listen_fd, EV_LISTEN) == 0 &&
             watch(f->ep, f->stop_fd, EV_STOP) == 0;
    if (ok && pthread_create(&f->thread, NULL, front_main, f) == 0)
        f->started = 1;
    if (!f->started) {
        snprintf(err, cap, "cannot start the connection front: %s", strerror(errno));
        front_free(f);
        return -1;
    }
    *out = f;
    return 0;
}

void front_stop(front *f) {
    if (!f || !f->started)
        return;
    uint64_t one = 1;
    (void)!write(f->stop_fd, &one, sizeof one);
    pthread_join(f->thread, NULL);
    f->started = 0;
    for (unsigned i = 0; i < f->cfg.max_pending; i++)
        if (f->slots[i].fd >= 0) {
            int fd = f->slots[i].fd;
            drop(f, &f->slots[i]);
            refuse(f, fd, 503, "Service Unavailable", "NOX_ENOTREADY",
                   "the server is shutting down");
        }
    if (f->cfg.listen_fd >= 0)
        close(f->cfg.listen_fd);
    f->cfg.listen_fd = -1;
}

void front_free(front *f) {
    if (!f)
        return;
    front_stop(f);
    for (int i = 0; i < IP_BUCKETS; i++)
        while (f->ips[i]) {
            ip_count *next = f->ips[i]->next;
            free(f->ips[i]);
            f->ips[i] = next;
        }
    if (f->ep >= 0)
        close(f->ep);
    if (f->stop_fd >= 0)
        close(f->stop_fd);
    if (f->cfg.listen_fd >= 0)
        close(f->cfg.listen_fd);
    pthread_mutex_destroy(&f->mu);
    free(f->slots);
    free(f->peek);
    free(f);
}

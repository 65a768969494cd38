/* proto.c - frames and fields of the library <-> agent protocol. */
#include "base/proto.h"
#include "base/clock.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

int noxp_put_bytes(nox__buf *b, uint8_t key, const void *v, size_t n) {
    if (n > NOXP_MAX_FRAME)
        return NOX_ETOOBIG;
    uint8_t h[5];
    h[0] = key;
    put_be32(h + 1, (uint32_t)n);
    if (nox__buf_append(b, h, sizeof h) != 0)
        return NOX_ENOMEM;
    if (n && nox__buf_append(b, v, n) != 0)
        return NOX_ENOMEM;
    return 0;
}

int noxp_put_str(nox__buf *b, uint8_t key, const char *s) {
    return noxp_put_bytes(b, key, s, strlen(s));
}

int noxp_put_u64(nox__buf *b, uint8_t key, uint64_t v) {
    uint8_t d[8];
    for (int i = 0; i < 8; i++)
        d[i] = (uint8_t)(v >> (56 - 8 * i));
    return noxp_put_bytes(b, key, d, sizeof d);
}

int noxp_next(noxp_iter *it, uint8_t *key, const uint8_t **val, uint32_t *len) {
    if (it->n == 0)
        return 0;
    if (it->n < 5)
        return -1;
    uint32_t l = get_be32(it->p + 1);
    if (l > it->n - 5)
        return -1;
    *key = it->p[0];
    *val = it->p + 5;
    *len = l;
    it->p += 5 + (size_t)l;
    it->n -= 5 + (size_t)l;
    return 1;
}

uint64_t noxp_u64(const uint8_t *val, uint32_t len) {
    if (len != 8)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | val[i];
    return v;
}

static int find(const uint8_t *p, size_t n, uint8_t key, const uint8_t **val,
                uint32_t *len) {
    noxp_iter it = {p, n};
    uint8_t k;
    while (noxp_next(&it, &k, val, len) == 1)
        if (k == key)
            return 1;
    return 0;
}

char *noxp_get_str(const uint8_t *p, size_t n, uint8_t key) {
    const uint8_t *v;
    uint32_t l;
    if (!find(p, n, key, &v, &l) || memchr(v, 0, l))
        return NULL;
    return nox__strndup((const char *)v, l);
}

uint64_t noxp_get_u64(const uint8_t *p, size_t n, uint8_t key, uint64_t def) {
    const uint8_t *v;
    uint32_t l;
    if (!find(p, n, key, &v, &l) || l != 8)
        return def;
    return noxp_u64(v, l);
}

int noxp_has(const uint8_t *p, size_t n, uint8_t key) {
    const uint8_t *v;
    uint32_t l;
    return find(p, n, key, &v, &l);
}

int noxp_fail_payload(nox__buf *b, int code, const char *msg) {
    if (noxp_put_u64(b, NOXK_CODE, (uint64_t)(int64_t)code) != 0 ||
        noxp_put_str(b, NOXK_MSG, msg ? msg : "") != 0)
        return NOX_ENOMEM;
    return 0;
}

void noxp_header(uint8_t out[NOXP_HEADER], uint8_t type, uint32_t n) {
    out[0] = type;
    put_be32(out + 1, n);
}

static int wait_fd(int fd, short ev, int64_t deadline_ms) {
    for (;;) {
        int t = -1;
        if (deadline_ms >= 0) {
            int64_t left = deadline_ms - nox__now_ms();
            if (left <= 0)
                return -ETIMEDOUT;
            t = left > 1000000 ? 1000000 : (int)left;
        }
        struct pollfd p = {.fd = fd, .events = ev};
        int r = poll(&p, 1, t);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -errno;
    }
}

static int send_all(int fd, const uint8_t *p, size_t n, int64_t deadline_ms) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_fd(fd, POLLOUT, deadline_ms);
            if (rc)
                return rc;
            continue;
        }
        return w < 0 ? -errno : -EPIPE;
    }
    return 0;
}

int noxp_send(int fd, uint8_t type, const void *payload, size_t n,
              int64_t deadline_ms) {
    if (n > NOXP_MAX_FRAME)
        return -EMSGSIZE;
    uint8_t h[NOXP_HEADER];
    noxp_header(h, type, (uint32_t)n);
    if (n && n <= 4096) {
        /* One send for small frames: fewer syscalls and wakeups. */
        uint8_t tmp[NOXP_HEADER + 4096];
        memcpy(tmp, h, NOXP_HEADER);
        memcpy(tmp + NOXP_HEADER, payload, n);
        return send_all(fd, tmp, NOXP_HEADER + n, deadline_ms);
    }
    int rc = send_all(fd, h, NOXP_HEADER, deadline_ms);
    if (rc == 0 && n)
        rc = send_all(fd, payload, n, deadline_ms);
    return rc;
}

void noxp_reader_init(noxp_reader *r, int fd) {
    memset(r, 0, sizeof *r);
    r->fd = fd;
}

void noxp_reader_free(noxp_reader *r) {
    free(r->buf);
    r->buf = NULL;
    r->off = r->len = r->cap = r->consumed = 0;
}

static int complete_frame(const noxp_reader *r, uint32_t *plen) {
    size_t avail = r->len - r->off;
    if (avail < NOXP_HEADER)
        return 0;
    uint32_t l = get_be32(r->buf + r->off + 1);
    if (l > NOXP_MAX_FRAME)
        return -EPROTO;
    *plen = l;
    return avail >= NOXP_HEADER + (size_t)l;
}

int noxp_reader_has_frame(const noxp_reader *r) {
    uint32_t l;
    size_t off = r->off + r->consumed;
    if (r->len - off < NOXP_HEADER)
        return 0;
    noxp_reader tmp = *r;
    tmp.off = off;
    return complete_frame(&tmp, &l) != 0;
}

int noxp_read(noxp_reader *r, int64_t deadline_ms, uint8_t *type,
              const uint8_t **payload, uint32_t *len) {
    r->off += r->consumed;
    r->consumed = 0;
    if (r->off == r->len)
        r->off = r->len = 0;
    for (;;) {
        uint32_t l = 0;
        int c = complete_frame(r, &l);
        if (c < 0)
            return c;
        if (c > 0) {
            *type = r->buf[r->off];
            *payload = r->buf + r->off + NOXP_HEADER;
            *len = l;
            r->consumed = NOXP_HEADER + (size_t)l;
            return 0;
        }
        /* Make room: move the partial frame to the front, grow to fit. */
        if (r->off) {
            memmove(r->buf, r->buf + r->off, r->len - r->off);
            r->len -= r->off;
            r->off = 0;
        }
        size_t need = r->len >= NOXP_HEADER ? NOXP_HEADER + (size_t)l : 64 * 1024;
        if (need < 64 * 1024)
            need = 64 * 1024;
        if (r->cap < need) {
            uint8_t *nb = realloc(r->buf, need);
            if (!nb)
                return -ENOMEM;
            r->buf = nb;
            r->cap = need;
        }
        ssize_t got = recv(r->fd, r->buf + r->len, r->cap - r->len, MSG_DONTWAIT);
        if (got > 0) {
            r->len += (size_t)got;
            continue;
        }
        if (got == 0)
            return -EPIPE;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return errno == ECONNRESET ? -EPIPE : -errno;
        int rc = wait_fd(r->fd, POLLIN, deadline_ms);
        if (rc)
            return rc;
    }
}

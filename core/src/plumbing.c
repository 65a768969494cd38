/* plumbing.c - moving bytes between sinks, readers, fds and threads.
 *
 * Archives are produced by libarchive's push-style writer and consumed by
 * its pull-style reader; libcurl and the agent protocol each want one or
 * the other. A bounded ring and a thread turn one style into the other
 * without ever holding a whole archive in memory. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a bounded ring between two threads ---------------------------------- */

/* Bytes move between a pushing thread and a pulling one through a ring
 * in memory: the writer copies in; the reader either borrows pointers
 * into the ring (libarchive reads there in place; what it was lent is
 * given back on its next call) or copies out (libcurl wants its own
 * buffer filled). A pipe did the same with two copies through the
 * kernel and a page allocation per 4 KiB. */
#define RING_SIZE (2u << 20)
#define RING_LEND_MAX (256u << 10) /* at most this much lent at a time */

typedef struct ring {
    pthread_mutex_t mu;
    pthread_cond_t data, space;
    uint8_t *buf;
    size_t head, len; /* bytes [head, head + len) mod RING_SIZE are queued */
    size_t lent;      /* the first `lent` of them are with the reader */
    int eof;          /* the writer is done */
    int closed;       /* the reader is done: later writes are refused */
} ring;

static int ring_init(ring *r) {
    memset(r, 0, sizeof *r);
    if (!(r->buf = malloc(RING_SIZE)))
        return -1;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->data, NULL);
    pthread_cond_init(&r->space, NULL);
    return 0;
}

static void ring_destroy(ring *r) {
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->data);
    pthread_cond_destroy(&r->space);
    free(r->buf);
}

/* Queue all n bytes; -1 (the rest dropped) once the reader closed. */
static int ring_put(ring *r, const uint8_t *d, size_t n) {
    pthread_mutex_lock(&r->mu);
    while (n && !r->closed) {
        size_t free_ = RING_SIZE - r->len;
        if (free_ == 0) {
            pthread_cond_wait(&r->space, &r->mu);
            continue;
        }
        size_t tail = (r->head + r->len) % RING_SIZE;
        size_t k = n < free_ ? n : free_;
        if (k > RING_SIZE - tail)
            k = RING_SIZE - tail;
        /* The copy runs unlocked: it goes into free space, which the
         * reader never touches, and len only grows once it is done. */
        pthread_mutex_unlock(&r->mu);
        memcpy(r->buf + tail, d, k);
        pthread_mutex_lock(&r->mu);
        r->len += k;
        d += k;
        n -= k;
        pthread_cond_signal(&r->data);
    }
    int closed = r->closed;
    pthread_mutex_unlock(&r->mu);
    return n && closed ? -1 : 0;
}

/* Called with mu held: drop what the reader was lent last time. */
static void ring_give_back(ring *r) {
    if (r->lent) {
        r->head = (r->head + r->lent) % RING_SIZE;
        r->len -= r->lent;
        r->lent = 0;
        pthread_cond_signal(&r->space);
    }
}

/* Lend the reader the next contiguous bytes; *n = 0 at the end. */
static void ring_lend(ring *r, const uint8_t **data, size_t *n) {
    pthread_mutex_lock(&r->mu);
    ring_give_back(r);
    while (r->len == 0 && !r->eof)
        pthread_cond_wait(&r->data, &r->mu);
    size_t k = r->len;
    if (k > RING_SIZE - r->head)
        k = RING_SIZE - r->head; /* contiguous */
    if (k > RING_LEND_MAX)
        k = RING_LEND_MAX;
    r->lent = k;
    *data = r->buf + r->head;
    *n = k;
    pthread_mutex_unlock(&r->mu);
}

/* Copy up to cap queued bytes out; 0 at the end. */
static size_t ring_take(ring *r, uint8_t *out, size_t cap) {
    const uint8_t *d;
    size_t n;
    ring_lend(r, &d, &n);
    if (n > cap)
        n = cap;
    memcpy(out, d, n); /* unlocked: lent bytes are the reader's alone */
    pthread_mutex_lock(&r->mu);
    r->lent = n;
    ring_give_back(r);
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void ring_set(ring *r, int *flag) {
    pthread_mutex_lock(&r->mu);
    *flag = 1;
    pthread_cond_broadcast(&r->data);
    pthread_cond_broadcast(&r->space);
    pthread_mutex_unlock(&r->mu);
}

/* ---- push into a ring, a thread pulls ----------------------------------- */

struct nox__pipe_consumer {
    pthread_t thread;
    ring r;
    nox__consume_fn fn;
    void *ctx;
    int status;       /* the consumer's, once it returned (under r.mu) */
    int failed;       /* the consumer gave up: writes are refused (r.mu) */
    nox_error *error;
    int write_failed; /* the pushing side was refused because of it */
};

static int ring_read(void *ctx, const uint8_t **data, size_t *n, nox_error **err) {
    (void)err;
    ring_lend(&((nox__pipe_consumer *)ctx)->r, data, n);
    return 0;
}

static void *consumer_main(void *arg) {
    nox__pipe_consumer *pc = arg;
    int st = pc->fn(pc->ctx, ring_read, pc, &pc->error);
    pthread_mutex_lock(&pc->r.mu);
    pc->status = st;
    pc->failed = st != 0;
    pthread_mutex_unlock(&pc->r.mu);
    /* Later bytes are dropped; refused, when the consumer failed. */
    ring_set(&pc->r, &pc->r.closed);
    return NULL;
}

static int pipe_consumer_write(void *ctx, const uint8_t *d, size_t n, nox_error **err) {
    nox__pipe_consumer *pc = ctx;
    ring_put(&pc->r, d, n);
    pthread_mutex_lock(&pc->r.mu);
    int failed = pc->failed;
    pthread_mutex_unlock(&pc->r.mu);
    if (failed) {
        pc->write_failed = 1;
        return nox__err(err, NOX_EIO, "consumer stopped reading");
    }
    return 0;
}

int nox__pipe_consumer_start(nox__pipe_consumer **out, nox__consume_fn fn, void *ctx,
                             nox__sink *sink_out, nox_error **err) {
    nox__pipe_consumer *pc = calloc(1, sizeof *pc);
    if (!pc || ring_init(&pc->r) != 0) {
        free(pc);
        return nox__err(err, NOX_ENOMEM, "out of memory");
    }
    pc->fn = fn;
    pc->ctx = ctx;
    int e = pthread_create(&pc->thread, NULL, consumer_main, pc);
    if (e) {
        ring_destroy(&pc->r);
        free(pc);
        return nox__err(err, NOX_EIO, "cannot start a thread: %s", strerror(e));
    }
    sink_out->write = pipe_consumer_write;
    sink_out->ctx = pc;
    sink_out->takes_plain_tar = 0;
    *out = pc;
    return 0;
}

int nox__pipe_consumer_finish(nox__pipe_consumer *pc, int status, nox_error **err) {
    ring_set(&pc->r, &pc->r.eof);
    pthread_join(pc->thread, NULL);
    int rc = status;
    /* The consumer's error is the cause when the transfer succeeded or
     * failed only because the consumer stopped taking data; otherwise the
     * transfer's own failure is (the consumer then just saw a cut stream),
     * and the caller reports it. */
    if (pc->status != 0 && (status == 0 || pc->write_failed)) {
        if (err && !*err) {
            *err = pc->error;
            pc->error = NULL;
        }
        rc = pc->status;
    }
    nox_error_free(pc->error);
    ring_destroy(&pc->r);
    free(pc);
    return rc;
}

/* ---- a thread pushes into a ring, the caller pulls ---------------------- */

struct nox__ring_producer {
    pthread_t thread;
    ring r;
    nox__producer producer;
    int level;
    int status;
    nox_error *error;
};

static int ring_producer_write(void *ctx, const uint8_t *d, size_t n, nox_error **err) {
    nox__ring_producer *rp = ctx;
    if (ring_put(&rp->r, d, n) != 0)
        return nox__err(err, NOX_ECANCELED, "the receiving side stopped reading");
    return 0;
}

static void *producer_main(void *arg) {
    nox__ring_producer *rp = arg;
    nox__sink sink = {ring_producer_write, rp, 0};
    rp->status = rp->producer.run(rp->producer.ctx, rp->level, &sink, &rp->error);
    ring_set(&rp->r, &rp->r.eof); /* the end for the reader */
    return NULL;
}

int nox__ring_producer_start(nox__ring_producer **out, nox__producer *p, int level,
                             nox_error **err) {
    nox__ring_producer *rp = calloc(1, sizeof *rp);
    if (!rp || ring_init(&rp->r) != 0) {
        free(rp);
        return nox__err(err, NOX_ENOMEM, "out of memory");
    }
    rp->producer = *p;
    rp->level = level;
    int e = pthread_create(&rp->thread, NULL, producer_main, rp);
    if (e) {
        ring_destroy(&rp->r);
        free(rp);
        return nox__err(err, NOX_EIO, "cannot start a thread: %s", strerror(e));
    }
    *out = rp;
    return 0;
}

size_t nox__ring_producer_read(nox__ring_producer *rp, uint8_t *buf, size_t cap) {
    return ring_take(&rp->r, buf, cap);
}

int nox__ring_producer_finish(nox__ring_producer *rp, nox_error **err) {
    /* Closing first unblocks a producer waiting for space. */
    ring_set(&rp->r, &rp->r.closed);
    pthread_join(rp->thread, NULL);
    int rc = rp->status;
    if (rc != 0 && err && !*err) {
        *err = rp->error;
        rp->error = NULL;
    }
    nox_error_free(rp->error);
    ring_destroy(&rp->r);
    free(rp);
    return rc;
}

/* plumbing.c - moving bytes between sinks, readers, fds and threads.
 *
 * Archives are produced by libarchive's push-style writer and consumed by
 * its pull-style reader; libcurl and the agent protocol each want one or
 * the other. A pipe and a thread turn one style into the other without
 * ever holding a whole archive in memory. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int nox__write_all(int fd, const void *data, size_t len) {
    const uint8_t *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

ssize_t nox__read_some(int fd, void *buf, size_t cap) {
    for (;;) {
        ssize_t r = read(fd, buf, cap);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return -errno;
    }
}

int nox__sink_buf_write(void *buf, const uint8_t *d, size_t n, nox_error **err) {
    if (nox__buf_append(buf, d, n) != 0)
        return nox__err(err, NOX_ENOMEM, "out of memory");
    return 0;
}

int nox__sink_fd_write(void *fdp, const uint8_t *d, size_t n, nox_error **err) {
    int rc = nox__write_all(*(int *)fdp, d, n);
    if (rc < 0)
        return nox__err(err, nox__code_from_errno(-rc), "cannot write output: %s",
                        strerror(-rc));
    return 0;
}

int nox__read_fd_fn(void *fdp, uint8_t *buf, size_t cap, size_t *got, nox_error **err) {
    ssize_t r = nox__read_some(*(int *)fdp, buf, cap);
    if (r < 0) {
        *got = 0;
        return nox__err(err, nox__code_from_errno((int)-r), "cannot read input: %s",
                        strerror((int)-r));
    }
    *got = (size_t)r;
    return 0;
}

/* Writing into a pipe whose reader went away must give EPIPE, never
 * kill the caller's process with SIGPIPE. Blocking SIGPIPE in the
 * writing thread turns the signal into a pending one we then discard. */
static int write_nosigpipe(int fd, const uint8_t *d, size_t n) {
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    int rc = nox__write_all(fd, d, n);
    if (rc == -EPIPE) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* ---- push into a ring, a thread pulls ----------------------------------- */

/* A bounded ring in memory between the pushing caller and the consumer
 * thread. The writer copies in; the reader gets pointers into the ring
 * (libarchive reads there in place), and what it was lent is only given
 * back on its next call. A pipe did the same with two copies through
 * the kernel and a page allocation per 4 KiB. */
#define RING_SIZE (2u << 20)
#define RING_LEND_MAX (256u << 10) /* at most this much lent at a time */

struct nox__pipe_consumer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t data, space;
    uint8_t *buf;
    size_t head, len; /* bytes [head, head + len) mod RING_SIZE are queued */
    size_t lent;      /* the first `lent` of them are with the reader */
    int eof;          /* the writer is done */
    int done;         /* the consumer returned: later bytes are dropped */
    int failed;       /* the consumer gave up */
    nox__consume_fn fn;
    void *ctx;
    int status;
    nox_error *error;
    int write_failed; /* the pushing side was refused because of it */
};

static int ring_read(void *ctx, const uint8_t **data, size_t *n, nox_error **err) {
    (void)err;
    nox__pipe_consumer *pc = ctx;
    pthread_mutex_lock(&pc->mu);
    if (pc->lent) { /* give back what the last call lent */
        pc->head = (pc->head + pc->lent) % RING_SIZE;
        pc->len -= pc->lent;
        pc->lent = 0;
        pthread_cond_signal(&pc->space);
    }
    while (pc->len == 0 && !pc->eof)
        pthread_cond_wait(&pc->data, &pc->mu);
    size_t k = pc->len;
    if (k > RING_SIZE - pc->head)
        k = RING_SIZE - pc->head; /* contiguous */
    if (k > RING_LEND_MAX)
        k = RING_LEND_MAX;
    pc->lent = k;
    *data = pc->buf + pc->head;
    *n = k;
    pthread_mutex_unlock(&pc->mu);
    return 0;
}

static void *consumer_main(void *arg) {
    nox__pipe_consumer *pc = arg;
    int st = pc->fn(pc->ctx, ring_read, pc, &pc->error);
    pthread_mutex_lock(&pc->mu);
    pc->status = st;
    pc->done = 1;
    pthread_cond_broadcast(&pc->space);
    if (st != 0) {
        /* Tell the pushing side to stop: its writes fail from now on. */
        pc->failed = 1;
        pthread_cond_broadcast(&pc->space);
    }
    pthread_mutex_unlock(&pc->mu);
    return NULL;
}

static int pipe_consumer_write(void *ctx, const uint8_t *d, size_t n, nox_error **err) {
    nox__pipe_consumer *pc = ctx;
    pthread_mutex_lock(&pc->mu);
    while (n && !pc->done) {
        size_t free_ = RING_SIZE - pc->len;
        if (free_ == 0) {
            pthread_cond_wait(&pc->space, &pc->mu);
            continue;
        }
        size_t tail = (pc->head + pc->len) % RING_SIZE;
        size_t k = n < free_ ? n : free_;
        if (k > RING_SIZE - tail)
            k = RING_SIZE - tail;
        /* The copy runs unlocked: it goes into free space, which the
         * reader never touches, and len only grows once it is done. */
        pthread_mutex_unlock(&pc->mu);
        memcpy(pc->buf + tail, d, k);
        pthread_mutex_lock(&pc->mu);
        pc->len += k;
        d += k;
        n -= k;
        pthread_cond_signal(&pc->data);
    }
    int failed = pc->failed;
    pthread_mutex_unlock(&pc->mu);
    if (failed) {
        pc->write_failed = 1;
        return nox__err(err, NOX_EIO, "consumer stopped reading");
    }
    return 0;
}

int nox__pipe_consumer_start(nox__pipe_consumer **out, nox__consume_fn fn, void *ctx,
                             nox__sink *sink_out, nox_error **err) {
    nox__pipe_consumer *pc = calloc(1, sizeof *pc);
    if (!pc || !(pc->buf = malloc(RING_SIZE))) {
        free(pc);
        return nox__err(err, NOX_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&pc->mu, NULL);
    pthread_cond_init(&pc->data, NULL);
    pthread_cond_init(&pc->space, NULL);
    pc->fn = fn;
    pc->ctx = ctx;
    int e = pthread_create(&pc->thread, NULL, consumer_main, pc);
    if (e) {
        pthread_mutex_destroy(&pc->mu);
        pthread_cond_destroy(&pc->data);
        pthread_cond_destroy(&pc->space);
        free(pc->buf);
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
    pthread_mutex_lock(&pc->mu);
    pc->eof = 1;
    pthread_cond_signal(&pc->data);
    pthread_mutex_unlock(&pc->mu);
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
    pthread_mutex_destroy(&pc->mu);
    pthread_cond_destroy(&pc->data);
    pthread_cond_destroy(&pc->space);
    free(pc->buf);
    free(pc);
    return rc;
}

/* ---- a thread pushes into a pipe, the caller pulls ---------------------- */

struct nox__pipe_producer {
    pthread_t thread;
    int fds[2];
    nox__producer producer;
    int level;
    int status;
    nox_error *error;
};

static int pipe_producer_write(void *ctx, const uint8_t *d, size_t n, nox_error **err) {
    nox__pipe_producer *pp = ctx;
    int rc = write_nosigpipe(pp->fds[1], d, n);
    if (rc < 0)
        return nox__err(err, NOX_ECANCELED, "the receiving side stopped reading");
    return 0;
}

static void *producer_main(void *arg) {
    nox__pipe_producer *pp = arg;
    nox__sink sink = {pipe_producer_write, pp, 0};
    pp->status = pp->producer.run(pp->producer.ctx, pp->level, &sink, &pp->error);
    close(pp->fds[1]); /* EOF for the reader */
    pp->fds[1] = -1;
    return NULL;
}

int nox__pipe_producer_start(nox__pipe_producer **out, nox__producer *p, int level,
                             int *read_fd, nox_error **err) {
    nox__pipe_producer *pp = calloc(1, sizeof *pp);
    if (!pp)
        return nox__err(err, NOX_ENOMEM, "out of memory");
    if (pipe2(pp->fds, O_CLOEXEC) != 0) {
        int e = errno;
        free(pp);
        return nox__err(err, NOX_EIO, "pipe: %s", strerror(e));
    }
    fcntl(pp->fds[1], F_SETPIPE_SZ, 1 << 20); /* as above */
    pp->producer = *p;
    pp->level = level;
    int e = pthread_create(&pp->thread, NULL, producer_main, pp);
    if (e) {
        close(pp->fds[0]);
        close(pp->fds[1]);
        free(pp);
        return nox__err(err, NOX_EIO, "cannot start a thread: %s", strerror(e));
    }
    *read_fd = pp->fds[0];
    *out = pp;
    return 0;
}

int nox__pipe_producer_finish(nox__pipe_producer *pp, nox_error **err) {
    /* Closing the read end first unblocks a producer stuck in write(). */
    close(pp->fds[0]);
    pthread_join(pp->thread, NULL);
    int rc = pp->status;
    if (rc != 0 && err && !*err) {
        *err = pp->error;
        pp->error = NULL;
    }
    nox_error_free(pp->error);
    free(pp);
    return rc;
}

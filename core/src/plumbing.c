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

/* ---- push into a pipe, a thread pulls ----------------------------------- */

struct nox__pipe_consumer {
    pthread_t thread;
    int fds[2];
    nox__consume_fn fn;
    void *ctx;
    int status;
    nox_error *error;
    int failed;       /* atomic: the consumer gave up */
    int write_failed; /* the pushing side was refused because of it */
};

static void *consumer_main(void *arg) {
    nox__pipe_consumer *pc = arg;
    pc->status = pc->fn(pc->ctx, pc->fds[0], &pc->error);
    /* Tell the pushing side to stop, and drain so a write already blocked
     * on the pipe returns. */
    if (pc->status != 0) {
        __atomic_store_n(&pc->failed, 1, __ATOMIC_SEQ_CST);
        uint8_t sink[4096];
        while (nox__read_some(pc->fds[0], sink, sizeof sink) > 0)
            ;
    }
    return NULL;
}

static int pipe_consumer_write(void *ctx, const uint8_t *d, size_t n, nox_error **err) {
    nox__pipe_consumer *pc = ctx;
    int rc = __atomic_load_n(&pc->failed, __ATOMIC_SEQ_CST) ? -EPIPE
                                                           : write_nosigpipe(pc->fds[1], d, n);
    if (rc < 0) {
        pc->write_failed = 1;
        return nox__err(err, NOX_EIO, "consumer stopped reading: %s", strerror(-rc));
    }
    return 0;
}

int nox__pipe_consumer_start(nox__pipe_consumer **out, nox__consume_fn fn, void *ctx,
                             nox__sink *sink_out, nox_error **err) {
    nox__pipe_consumer *pc = calloc(1, sizeof *pc);
    if (!pc)
        return nox__err(err, NOX_ENOMEM, "out of memory");
    if (pipe2(pc->fds, O_CLOEXEC) != 0) {
        int e = errno;
        free(pc);
        return nox__err(err, NOX_EIO, "pipe: %s", strerror(e));
    }
    /* Fewer wake-ups per megabyte when the pipe may hold more (best
     * effort: an unprivileged process is capped by pipe-max-size). */
    fcntl(pc->fds[1], F_SETPIPE_SZ, 1 << 20);
    pc->fn = fn;
    pc->ctx = ctx;
    int e = pthread_create(&pc->thread, NULL, consumer_main, pc);
    if (e) {
        close(pc->fds[0]);
        close(pc->fds[1]);
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
    close(pc->fds[1]);
    pthread_join(pc->thread, NULL);
    close(pc->fds[0]);
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

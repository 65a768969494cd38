/*
 * local_exec.c - exec through the sandbox agent: one connection per
 * command; output arrives as frames, the result as the EXIT frame.
 * Closing the connection early makes the agent kill the command's tree,
 * which is how cancel and stream_free stop a running command.
 */
#include "local/local_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define STDIN_FRAME (1024u * 1024u)
/* The agent enforces the command's timeout; this only guards against an
 * agent that hangs. */
#define SAFETY_MS 30000

static int send_exec_request(int fd, const char *const *argv, size_t argc,
                             const nox__exec_opts *o, int ack) {
    nox__buf b = {0};
    int rc = 0;
    for (size_t i = 0; i < argc && !rc; i++)
        rc = noxp_put_str(&b, NOXK_ARG, argv[i]);
    for (size_t i = 0; i < o->env_count && !rc; i++)
        rc = noxp_put_str(&b, NOXK_ENV, o->env[i]);
    if (!rc)
        rc = noxp_put_str(&b, NOXK_WORKDIR, o->workdir);
    if (!rc)
        rc = noxp_put_u64(&b, NOXK_TIMEOUT, (uint64_t)o->timeout_seconds);
    if (!rc)
        rc = noxp_put_u64(&b, NOXK_MAXOUT, o->max_output_bytes);
    if (!rc)
        rc = noxp_put_u64(&b, NOXK_HAS_STDIN, o->has_stdin ? 1 : 0);
    if (!rc && ack)
        rc = noxp_put_u64(&b, NOXK_ACK_START, 1);
    if (rc) {
        nox__buf_free(&b);
        return rc == NOX_ETOOBIG ? -EMSGSIZE : -ENOMEM;
    }
    rc = local_request(fd, "exec", &b);
    nox__buf_free(&b);
    if (rc || !o->has_stdin)
        return rc;
    /* The agent takes all of stdin before it starts the command, so this
     * cannot deadlock against output. */
    int64_t dl = nox__now_ms() + LOCAL_IO_TIMEOUT_MS;
    size_t off = 0;
    while (off < o->stdin_len) {
        size_t n = o->stdin_len - off;
        if (n > STDIN_FRAME)
            n = STDIN_FRAME;
        rc = noxp_send(fd, NOXP_STDIN, o->stdin_data + off, n, dl);
        if (rc)
            return rc;
        off += n;
        dl = nox__now_ms() + LOCAL_IO_TIMEOUT_MS;
    }
    return noxp_send(fd, NOXP_STDIN_END, NULL, 0, dl);
}

/* Connect, send the request, and wait for STARTED (or the FAIL that says
 * why not: workdir missing, sandbox shutting down). */
static int start(local_be *L, const char *sid, const char *const *argv, size_t argc,
                 const nox__exec_opts *o, int ack, int *fd_out, noxp_reader *rd,
                 nox_error **err) {
    int fd;
    int rc = local_connect(L, sid, &fd, err);
    if (rc)
        return rc;
    noxp_reader_init(rd, fd);
    rc = send_exec_request(fd, argv, argc, o, ack);
    if (!ack && (rc == 0 || rc == -EPIPE)) {
        /* The first frame read by the caller says how it went. */
        *fd_out = fd;
        return 0;
    }
    uint8_t type = 0;
    const uint8_t *p = NULL;
    uint32_t n = 0;
    if (rc == -EPIPE) {
        /* The agent may have refused early and closed: its answer is
         * still in our receive buffer. */
        rc = 0;
    }
    if (!rc)
        rc = noxp_read(rd, nox__now_ms() + LOCAL_IO_TIMEOUT_MS, &type, &p, &n);
    if (rc)
        rc = local_hangup_error(L, sid, rc, "exec", err);
    else if (type == NOXP_FAIL)
        rc = local_fail_from_frame(p, n, err);
    else if (type != NOXP_STARTED)
        rc = nox__err(err, NOX_EPROTOCOL, "the sandbox agent answered frame '%c' to exec",
                      type);
    if (rc) {
        noxp_reader_free(rd);
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

static void fill_result(nox_exec_result *r, const uint8_t *p, uint32_t n) {
    r->exit_code = (int)noxp_get_u64(p, n, NOXK_EXIT, 255);
    r->signal = (int)noxp_get_u64(p, n, NOXK_SIGNAL, 0);
    r->timed_out = (int)noxp_get_u64(p, n, NOXK_TIMEDOUT, 0);
    r->stdout_truncated |= (int)noxp_get_u64(p, n, NOXK_OUTTRUNC, 0);
    r->stderr_truncated |= (int)noxp_get_u64(p, n, NOXK_ERRTRUNC, 0);
    r->duration_ms = (int64_t)noxp_get_u64(p, n, NOXK_DURATION, 0);
}

static int append_capped(nox__buf *b, int *trunc, uint64_t cap, const uint8_t *d,
                         uint32_t n) {
    uint64_t room = cap > b->len ? cap - b->len : 0;
    size_t keep = n > room ? (size_t)room : n;
    if (keep < n)
        *trunc = 1;
    return keep ? nox__buf_append(b, d, keep) : 0;
}

int local_exec(void *impl, const char *sid, const char *const *argv, size_t argc,
               const nox__exec_opts *o, nox_exec_result **out, nox_error **err) {
    local_be *L = impl;
    int fd;
    noxp_reader rd;
    int rc = start(L, sid, argv, argc, o, 0, &fd, &rd, err);
    if (rc)
        return rc;
    nox_exec_result *r = nox__exec_result_new();
    if (!r) {
        rc = nox__err(err, NOX_ENOMEM, "out of memory");
        goto done;
    }
    int64_t deadline = nox__now_ms() + (int64_t)o->timeout_seconds * 1000 + SAFETY_MS;
    for (int first = 1;; first = 0) {
        uint8_t type;
        const uint8_t *p;
        uint32_t n;
        rc = noxp_read(&rd, deadline, &type, &p, &n);
        if (rc) {
            rc = first ? local_hangup_error(L, sid, rc, "exec", err)
                       : local_io_error(rc, "exec", err);
            break;
        }
        if (type == NOXP_STDOUT || type == NOXP_STDERR) {
            int stdout_ = type == NOXP_STDOUT;
            if (append_capped(stdout_ ? &r->out : &r->err,
                              stdout_ ? &r->stdout_truncated : &r->stderr_truncated,
                              o->max_output_bytes, p, n) != 0) {
                rc = nox__err(err, NOX_ENOMEM, "out of memory");
                break;
            }
        } else if (type == NOXP_EXIT) {
            fill_result(r, p, n);
            break;
        } else if (type == NOXP_FAIL) {
            rc = local_fail_from_frame(p, n, err);
            break;
        } else {
            rc = nox__err(err, NOX_EPROTOCOL, "unexpected frame '%c' during exec", type);
            break;
        }
    }
    if (!rc && (nox__buf_terminate(&r->out) || nox__buf_terminate(&r->err)))
        rc = nox__err(err, NOX_ENOMEM, "out of memory");
done:
    noxp_reader_free(&rd);
    close(fd);
    if (rc) {
        nox_exec_result_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* ---- streaming ---------------------------------------------------------- */

typedef struct lstream {
    int fd;
    noxp_reader rd;
    int canceled; /* atomic */
    int failed;
} lstream;

static int s_next(nox_exec_stream *s, int32_t timeout_ms, int *kind,
                  const uint8_t **data, size_t *len, nox_error **err) {
    lstream *ls = s->impl;
    *kind = NOX_EVENT_NONE;
    if (__atomic_load_n(&ls->canceled, __ATOMIC_ACQUIRE))
        return nox__err(err, NOX_ECANCELED, "the command was canceled");
    if (ls->failed)
        return nox__err(err, NOX_ESANDBOX, "the stream already failed");
    int64_t dl = timeout_ms < 0 ? -1 : nox__now_ms() + timeout_ms;
    uint8_t type;
    const uint8_t *p;
    uint32_t n;
    int rc = noxp_read(&ls->rd, dl, &type, &p, &n);
    if (rc == -ETIMEDOUT)
        return 0;
    if (__atomic_load_n(&ls->canceled, __ATOMIC_ACQUIRE))
        return nox__err(err, NOX_ECANCELED, "the command was canceled");
    if (rc) {
        ls->failed = 1;
        return local_io_error(rc, "exec", err);
    }
    switch (type) {
    case NOXP_STDOUT:
    case NOXP_STDERR:
        *kind = type == NOXP_STDOUT ? NOX_EVENT_STDOUT : NOX_EVENT_STDERR;
        *data = p;
        *len = n;
        return 0;
    case NOXP_EXIT: {
        nox_exec_result *r = nox__exec_result_new();
        if (!r || nox__buf_terminate(&r->out) || nox__buf_terminate(&r->err)) {
            nox_exec_result_free(r);
            return nox__err(err, NOX_ENOMEM, "out of memory");
        }
        fill_result(r, p, n);
        s->result = r;
        *kind = NOX_EVENT_EXIT;
        return 0;
    }
    case NOXP_FAIL:
        ls->failed = 1;
        return local_fail_from_frame(p, n, err);
    default:
        ls->failed = 1;
        return nox__err(err, NOX_EPROTOCOL, "unexpected frame '%c' during exec", type);
    }
}

static void s_cancel(nox_exec_stream *s) {
    lstream *ls = s->impl;
    if (!ls)
        return;
    __atomic_store_n(&ls->canceled, 1, __ATOMIC_RELEASE);
    /* Wakes a next() blocked in poll, and tells the agent to kill the
     * command's tree. The fd stays open until destroy. */
    shutdown(ls->fd, SHUT_RDWR);
}

static void s_destroy(nox_exec_stream *s) {
    lstream *ls = s->impl;
    if (!ls)
        return;
    close(ls->fd); /* a running command dies with the connection */
    noxp_reader_free(&ls->rd);
    free(ls);
    s->impl = NULL;
}

static const nox__stream_ops local_stream_ops = {s_next, s_cancel, s_destroy};

int local_exec_start(void *impl, const char *sid, const char *const *argv,
                     size_t argc, const nox__exec_opts *o, nox_exec_stream **out,
                     nox_error **err) {
    local_be *L = impl;
    lstream *ls = calloc(1, sizeof *ls);
    nox_exec_stream *s = calloc(1, sizeof *s);
    if (!ls || !s) {
        free(ls);
        free(s);
        return nox__err(err, NOX_ENOMEM, "out of memory");
    }
    int rc = start(L, sid, argv, argc, o, 1, &ls->fd, &ls->rd, err);
    if (rc) {
        free(ls);
        free(s);
        return rc;
    }
    s->ops = &local_stream_ops;
    s->impl = ls;
    *out = s;
    return 0;
}

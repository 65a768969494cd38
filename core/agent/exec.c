/*
 * exec.c - one exec request, as a small state machine:
 *
 *   PARSE   the request's fields (argv, env, workdir, limits) and its
 *           stdin frames; the workdir and the program are checked
 *   SPAWN   pipes, the command under the sandbox's spawn_policy
 *   PUMP    one poll loop: output to the client one frame at a time,
 *           stdin to the command, the exit, the timeout, a cancel
 *   FINISH  reap what is left, send EXIT
 *
 * A missing or non-executable program is a result (exit 127 or 126 with
 * the shell's words on stderr), not an error, as in a shell.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define GRACE_MS 200 /* keep reading output this long after the main exit */

typedef enum { EXEC_PARSE, EXEC_SPAWN, EXEC_PUMP, EXEC_FINISH, EXEC_DONE } exec_state;

typedef struct strv {
    char **v;
    size_t n, cap;
} strv;

/* Output travelling to the client: one frame at a time, so a slow reader
 * stops us from reading the pipes (and the command blocks on its output)
 * instead of memory growing. The size is the protocol's frame. */
typedef struct outq {
    uint8_t buf[NOXP_HEADER + NOXP_CHUNK];
    size_t len, off;
} outq;

typedef struct exec_run {
    agent_ctx *ctx;
    int conn;
    noxp_reader *rd;
    /* PARSE */
    strv argv, env;
    char *workdir, *prog;
    uint64_t timeout_s, max_out;
    int has_stdin, ack;
    nox__buf in;
    /* SPAWN */
    child *c;
    int out_fd, err_fd, in_fd; /* our ends of the pipes; -1 when closed */
    int64_t t0;
    /* PUMP */
    size_t in_off;
    uint64_t sent[2];
    int trunc[2];
    outq q;
    int client_gone, exited, timed_out, killed, status, use_pidfd;
    int64_t deadline, grace_end, t_exit;
} exec_run;

/* ---- PARSE ------------------------------------------------------------------ */

static int strv_push(strv *s, char *p) {
    if (!p)
        return -ENOMEM;
    if (s->n + 2 > s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 16;
        char **nv = realloc(s->v, nc * sizeof *nv);
        if (!nv) {
            free(p);
            return -ENOMEM;
        }
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = p;
    s->v[s->n] = NULL;
    return 0;
}

static void strv_free(strv *s) {
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

/* Set K=V in env, replacing an earlier K. */
static int env_set(strv *env, const char *kv, size_t kvlen) {
    const char *eq = memchr(kv, '=', kvlen);
    size_t klen = eq ? (size_t)(eq - kv) : kvlen;
    char *copy = nox__strndup(kv, kvlen);
    if (!copy)
        return -ENOMEM;
    for (size_t i = 0; i < env->n; i++) {
        if (!strncmp(env->v[i], kv, klen) && env->v[i][klen] == '=') {
            free(env->v[i]);
            env->v[i] = copy;
            return 0;
        }
    }
    return strv_push(env, copy);
}

/* Resolve argv0 the way a shell would, with the command's own PATH.
 * 0 with *out set; -ENOENT, -EACCES or -ENOMEM. */
static int find_program(const char *argv0, const strv *env, char **out) {
    if (strchr(argv0, '/')) {
        /* A path, maybe relative to the workdir: exec() itself says
         * whether it exists (the spawner reports its errno). */
        *out = strdup(argv0);
        return *out ? 0 : -ENOMEM;
    }
    const char *path = DEFAULT_PATH;
    for (size_t i = 0; i < env->n; i++)
        if (!strncmp(env->v[i], "PATH=", 5))
            path = env->v[i] + 5;
    int seen_eacces = 0;
    for (const char *p = path;;) {
        const char *colon = strchr(p, ':');
        size_t dl = colon ? (size_t)(colon - p) : strlen(p);
        char cand[PATH_MAX];
        int n = snprintf(cand, sizeof cand, "%.*s%s%s", (int)dl, p, dl ? "/" : "", argv0);
        struct stat st;
        if (n > 0 && (size_t)n < sizeof cand && stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
            if (access(cand, X_OK) == 0) {
                *out = strdup(cand);
                return *out ? 0 : -ENOMEM;
            }
            seen_eacces = 1;
        }
        if (!colon)
            break;
        p = colon + 1;
    }
    return seen_eacces ? -EACCES : -ENOENT;
}

static int read_stdin_frames(exec_run *x) {
    for (;;) {
        uint8_t type;
        const uint8_t *p;
        uint32_t len;
        int rc = noxp_read(x->rd, nox__now_ms() + 60000, &type, &p, &len);
        if (rc)
            return rc;
        if (type == NOXP_STDIN_END)
            return 0;
        if (type != NOXP_STDIN)
            return -EPROTO;
        if (len && nox__buf_append(&x->in, p, len) != 0) {
            agent_send_fail(x->conn, NOX_ENOMEM, "stdin does not fit in memory");
            return -ENOMEM;
        }
    }
}

/* What a shell answers when it cannot run argv0: a result, not an error. */
static exec_state send_synthetic(exec_run *x, int code, const char *why) {
    nox__buf e = {0}, f = {0};
    nox__buf_printf(&e, "%s: %s\n", x->argv.v[0], why);
    if (x->ack)
        noxp_send(x->conn, NOXP_STARTED, NULL, 0, -1);
    noxp_send(x->conn, NOXP_STDERR, e.data, e.len, -1);
    noxp_put_u64(&f, NOXK_EXIT, (uint64_t)code);
    noxp_put_u64(&f, NOXK_DURATION, 0);
    noxp_send(x->conn, NOXP_EXIT, f.data, f.len, -1);
    nox__buf_free(&f);
    nox__buf_free(&e);
    return EXEC_DONE;
}

static int parse_fields(exec_run *x, const uint8_t *req, size_t n) {
    static const char base_path[] = "PATH=" DEFAULT_PATH;
    static const char *const base_env[] = {base_path, "HOME=/workspace", "LANG=C.UTF-8",
                                           "TERM=xterm"};
    int bad = 0;
    for (size_t i = 0; i < sizeof base_env / sizeof base_env[0]; i++)
        bad |= env_set(&x->env, base_env[i], strlen(base_env[i]));
    noxp_iter it = {req, n};
    uint8_t key;
    const uint8_t *val;
    uint32_t vlen;
    while (noxp_next(&it, &key, &val, &vlen) == 1) {
        if (key == NOXK_ARG)
            bad |= memchr(val, 0, vlen) != NULL ||
                   strv_push(&x->argv, nox__strndup((const char *)val, vlen));
        else if (key == NOXK_ENV)
            bad |= memchr(val, 0, vlen) != NULL || env_set(&x->env, (const char *)val, vlen);
    }
    x->workdir = noxp_get_str(req, n, NOXK_WORKDIR);
    x->timeout_s = noxp_get_u64(req, n, NOXK_TIMEOUT, NOX_DEFAULT_EXEC_TIMEOUT);
    x->max_out = noxp_get_u64(req, n, NOXK_MAXOUT, NOX_DEFAULT_MAX_OUTPUT);
    x->has_stdin = (int)noxp_get_u64(req, n, NOXK_HAS_STDIN, 0);
    /* Streams want to know the command runs before they return; a plain
     * exec saves the frame (and a wakeup of the caller). */
    x->ack = (int)noxp_get_u64(req, n, NOXK_ACK_START, 0);
    return bad || x->argv.n == 0 || !x->workdir ? -EPROTO : 0;
}

static exec_state exec_parse(exec_run *x, const uint8_t *req, size_t n) {
    if (parse_fields(x, req, n) != 0) {
        agent_send_fail(x->conn, NOX_EPROTOCOL, "malformed exec request");
        return EXEC_DONE;
    }
    if (x->has_stdin && read_stdin_frames(x) != 0)
        return EXEC_DONE;
    struct stat st;
    if (stat(x->workdir, &st) != 0) {
        if (errno == ENOENT)
            agent_send_fail(x->conn, NOX_EINVAL, "workdir \"%s\" does not exist", x->workdir);
        else
            agent_send_fail(x->conn, NOX_EINVAL, "workdir \"%s\": %s", x->workdir,
                            strerror(errno));
        return EXEC_DONE;
    }
    if (!S_ISDIR(st.st_mode)) {
        agent_send_fail(x->conn, NOX_EINVAL, "workdir \"%s\" is not a directory", x->workdir);
        return EXEC_DONE;
    }
    int rc = find_program(x->argv.v[0], &x->env, &x->prog);
    if (rc == -ENOENT || rc == -EACCES)
        return send_synthetic(x, rc == -ENOENT ? 127 : 126,
                              rc == -ENOENT ? "command not found" : "Permission denied");
    if (rc) {
        agent_send_fail(x->conn, NOX_ENOMEM, "out of memory");
        return EXEC_DONE;
    }
    return EXEC_SPAWN;
}

/* ---- SPAWN ------------------------------------------------------------------ */

static void close_fd(int *fd) {
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static exec_state exec_spawn(exec_run *x) {
    int pout[2] = {-1, -1}, perr[2] = {-1, -1}, pin[2] = {-1, -1};
    if (pipe2(pout, O_CLOEXEC) != 0 || pipe2(perr, O_CLOEXEC) != 0 ||
        (x->has_stdin && pipe2(pin, O_CLOEXEC) != 0)) {
        agent_send_fail(x->conn, NOX_EIO, "pipe: %s", strerror(errno));
        for (int i = 0; i < 2; i++) {
            close_fd(&pout[i]);
            close_fd(&perr[i]);
            close_fd(&pin[i]);
        }
        return EXEC_DONE;
    }
    spawn_policy pol;
    lockdown_policy(x->ctx, &pol);
    pol.fds[0] = x->has_stdin ? pin[0] : x->ctx->devnull;
    pol.fds[1] = pout[1];
    pol.fds[2] = perr[1];
    pol.workdir = x->workdir;
    x->t0 = nox__now_ms();
    int rc = children_spawn(x->ctx, &pol, x->prog, x->argv.v, x->env.v, &x->c);
    close_fd(&pout[1]);
    close_fd(&perr[1]);
    close_fd(&pin[0]);
    x->out_fd = pout[0];
    x->err_fd = perr[0];
    x->in_fd = pin[1];
    if (rc == -ENOENT || rc == -EACCES || rc == -ENOEXEC || rc == -ENOTDIR)
        return send_synthetic(x, rc == -ENOENT ? 127 : 126, strerror(-rc));
    if (rc) {
        /* The protocol's edge: -errno becomes a NOX code here. */
        agent_send_fail(x->conn, rc == -ESHUTDOWN ? NOX_ESANDBOX : rc == -E2BIG ? NOX_ETOOBIG
                                                                                : NOX_EIO,
                        "cannot start %s: %s", x->argv.v[0],
                        rc == -ESHUTDOWN ? "the sandbox is shutting down" : strerror(-rc));
        return EXEC_DONE;
    }
    fcntl(x->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(x->err_fd, F_SETFL, O_NONBLOCK);
    if (x->in_fd >= 0)
        fcntl(x->in_fd, F_SETFL, O_NONBLOCK);
    x->deadline = x->t0 + (int64_t)x->timeout_s * 1000;
    x->grace_end = -1;
    x->use_pidfd = 1;
    return EXEC_PUMP;
}

/* ---- PUMP ------------------------------------------------------------------- */

static int q_flush(exec_run *x) {
    while (x->q.off < x->q.len) {
        ssize_t w = send(x->conn, x->q.buf + x->q.off, x->q.len - x->q.off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            x->q.off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        x->client_gone = 1;
        x->q.len = x->q.off = 0;
        return -1;
    }
    x->q.len = x->q.off = 0;
    return 0;
}

/* Read what a pipe has (stream 0 = stdout, 1 = stderr) into the queue,
 * within the cap; past the cap the bytes are read and dropped. */
static void pump(exec_run *x, int which) {
    int *fd = which ? &x->err_fd : &x->out_fd;
    uint8_t *data = x->q.buf + NOXP_HEADER;
    ssize_t n = read(*fd, data, NOXP_CHUNK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        close_fd(fd);
        return;
    }
    uint64_t room = x->max_out > x->sent[which] ? x->max_out - x->sent[which] : 0;
    size_t keep = (uint64_t)n > room ? (size_t)room : (size_t)n;
    if (keep < (size_t)n)
        x->trunc[which] = 1;
    if (!keep || x->client_gone)
        return;
    x->sent[which] += keep;
    noxp_header(x->q.buf, which ? NOXP_STDERR : NOXP_STDOUT, (uint32_t)keep);
    x->q.len = NOXP_HEADER + keep;
    x->q.off = 0;
    q_flush(x);
}

static void feed_stdin(exec_run *x) {
    while (x->in_fd >= 0 && x->in_off < x->in.len) {
        ssize_t w = write(x->in_fd, x->in.data + x->in_off, x->in.len - x->in_off);
        if (w > 0) {
            x->in_off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            return;
        break; /* EPIPE: the command does not want it */
    }
    close_fd(&x->in_fd);
}

/* Watch the client: anything readable (EOF, or bytes it should not send)
 * means it went away or cancelled. */
static int client_left(int conn) {
    char b[64];
    ssize_t n = recv(conn, b, sizeof b, MSG_DONTWAIT);
    return !(n < 0 && (errno == EAGAIN || errno == EINTR));
}

/* Cancel, timeout and the grace after the exit; 1 when the pump is done. */
static int pump_check(exec_run *x, int64_t now) {
    if (x->client_gone && !x->killed && !x->exited) {
        /* Cancel, stream freed, or the caller died. Once the main process
         * has ended, what it left running in the background stays, as it
         * would after a normal exit. */
        kill_tree(x->ctx, child_pid(x->c));
        x->killed = 1;
    }
    if (x->exited && x->q.len == 0 && ((x->out_fd < 0 && x->err_fd < 0) || x->client_gone))
        return 1;
    if (x->exited && x->grace_end >= 0 && now >= x->grace_end) {
        /* Background processes keep the pipes open: stop waiting. */
        close_fd(&x->out_fd);
        close_fd(&x->err_fd);
        if (x->q.len == 0 || x->client_gone)
            return 1;
    }
    if (!x->exited && !x->killed && now >= x->deadline) {
        kill_tree(x->ctx, child_pid(x->c));
        x->killed = 1;
        x->timed_out = 1;
    }
    return 0;
}

enum { P_CONN, P_OUT, P_ERR, P_IN, P_EXIT, P_COUNT };

/* The poll set for this round (an fd of -1 is ignored by poll), and how
 * long to wait. */
static int pump_fds(exec_run *x, struct pollfd pf[P_COUNT], int64_t now) {
    short conn_ev = (short)((x->q.len ? POLLOUT : 0) | (x->client_gone ? 0 : POLLIN));
    pf[P_CONN] = (struct pollfd){.fd = x->client_gone ? -1 : x->conn, .events = conn_ev};
    pf[P_OUT] = (struct pollfd){.fd = x->q.len ? -1 : x->out_fd, .events = POLLIN};
    pf[P_ERR] = (struct pollfd){.fd = x->q.len ? -1 : x->err_fd, .events = POLLIN};
    pf[P_IN] = (struct pollfd){.fd = x->in_fd, .events = POLLOUT};
    pf[P_EXIT] = (struct pollfd){.fd = x->exited ? -1 : child_wait_fd(x->c, x->use_pidfd),
                                 .events = POLLIN};
    int64_t wake = -1;
    if (!x->exited && !x->killed)
        wake = x->deadline;
    if (x->exited && x->grace_end >= 0)
        wake = x->grace_end;
    if (wake < 0)
        return -1;
    int64_t left = wake - now;
    return left < 0 ? 0 : (left > 1000000 ? 1000000 : (int)left);
}

static void pump_events(exec_run *x, const struct pollfd pf[P_COUNT]) {
    const short in = POLLIN | POLLHUP | POLLERR;
    if ((pf[P_CONN].revents & in) && client_left(x->conn))
        x->client_gone = 1;
    if (!x->client_gone && (pf[P_CONN].revents & POLLOUT))
        q_flush(x);
    if (pf[P_EXIT].revents & in) {
        if (child_try_reap(x->ctx, x->c)) {
            x->exited = 1;
            x->status = child_status(x->c);
            x->t_exit = nox__now_ms();
            x->grace_end = x->t_exit + GRACE_MS;
        } else {
            /* The reaper took it and is about to tell us. */
            x->use_pidfd = 0;
        }
    }
    if (pf[P_IN].revents & (POLLOUT | POLLERR | POLLHUP))
        feed_stdin(x);
    if (x->q.len == 0 && (pf[P_OUT].revents & in))
        pump(x, 0);
    if (x->q.len == 0 && (pf[P_ERR].revents & in))
        pump(x, 1);
}

static exec_state exec_pump(exec_run *x) {
    if (x->in_fd >= 0)
        feed_stdin(x);
    if (x->ack && noxp_send(x->conn, NOXP_STARTED, NULL, 0, -1) != 0)
        x->client_gone = 1;
    for (;;) {
        int64_t now = nox__now_ms();
        if (pump_check(x, now))
            break;
        struct pollfd pf[P_COUNT];
        int tmo = pump_fds(x, pf, now);
        int pr = poll(pf, P_COUNT, tmo);
        if (pr < 0 && errno != EINTR)
            break;
        if (pr > 0)
            pump_events(x, pf);
    }
    return EXEC_FINISH;
}

/* ---- FINISH ----------------------------------------------------------------- */

static void send_exit(exec_run *x) {
    int code, sig = 0;
    if (x->timed_out) {
        code = 124;
        sig = SIGKILL;
    } else if (WIFEXITED(x->status)) {
        code = WEXITSTATUS(x->status);
    } else if (WIFSIGNALED(x->status)) {
        sig = WTERMSIG(x->status);
        code = 128 + sig;
    } else {
        code = 255;
    }
    nox__buf f = {0};
    noxp_put_u64(&f, NOXK_EXIT, (uint64_t)code);
    noxp_put_u64(&f, NOXK_SIGNAL, (uint64_t)sig);
    noxp_put_u64(&f, NOXK_TIMEDOUT, (uint64_t)x->timed_out);
    noxp_put_u64(&f, NOXK_OUTTRUNC, (uint64_t)x->trunc[0]);
    noxp_put_u64(&f, NOXK_ERRTRUNC, (uint64_t)x->trunc[1]);
    noxp_put_u64(&f, NOXK_DURATION,
                 (uint64_t)((x->exited ? x->t_exit : nox__now_ms()) - x->t0));
    noxp_send(x->conn, NOXP_EXIT, f.data, f.len, nox__now_ms() + 10000);
    nox__buf_free(&f);
}

static exec_state exec_finish(exec_run *x) {
    if (!x->exited) {
        /* The client left or poll failed before the command ended: make
         * sure it is dead and reaped before we forget it. */
        if (!x->killed)
            kill_tree(x->ctx, child_pid(x->c));
        int64_t until = nox__now_ms() + 5000;
        while (!child_try_reap(x->ctx, x->c) && nox__now_ms() < until) {
            struct pollfd pf[2] = {{.fd = child_wait_fd(x->c, 0), .events = POLLIN},
                                   {.fd = child_wait_fd(x->c, 1), .events = POLLIN}};
            poll(pf, 2, 100);
        }
    }
    if (!x->client_gone)
        send_exit(x);
    return EXEC_DONE;
}

void op_exec(agent_ctx *ctx, int conn, noxp_reader *rd, const uint8_t *req, size_t n) {
    exec_run *x = calloc(1, sizeof *x);
    if (!x) {
        agent_send_fail(conn, NOX_ENOMEM, "out of memory");
        return;
    }
    *x = (exec_run){.ctx = ctx, .conn = conn, .rd = rd, .out_fd = -1, .err_fd = -1,
                    .in_fd = -1};
    for (exec_state st = EXEC_PARSE; st != EXEC_DONE;) {
        switch (st) {
        case EXEC_PARSE: st = exec_parse(x, req, n); break;
        case EXEC_SPAWN: st = exec_spawn(x); break;
        case EXEC_PUMP: st = exec_pump(x); break;
        case EXEC_FINISH: st = exec_finish(x); break;
        case EXEC_DONE: break;
        }
    }
    if (x->c)
        child_forget(ctx, x->c);
    close_fd(&x->out_fd);
    close_fd(&x->err_fd);
    close_fd(&x->in_fd);
    strv_free(&x->argv);
    strv_free(&x->env);
    nox__buf_free(&x->in);
    free(x->workdir);
    free(x->prog);
    free(x);
}

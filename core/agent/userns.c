/*
 * userns.c - B and C at the namespaces level: the user namespace.
 *
 *   C  unshare(CLONE_NEWUSER), then tells B "U";
 *   B  writes C's uid_map/gid_map from outside (one id: the sandbox's
 *      host id), moves C into the cgroups, and answers "M" with its
 *      cgroup state (so pid 1 reports what really holds), or "E" and a
 *      message for C to report;
 *   C  becomes uid/gid 0 of the namespace, unshares mount, pid, net, ipc,
 *      uts and cgroup namespaces and forks D, pid 1 of the sandbox, which
 *      runs inner_run(). C only waits for D and exits with it.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define NS_FAIL "cannot set up the namespace sandbox: "

static ssize_t read_full(int fd, void *buf, size_t cap) {
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(fd, (char *)buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    return (ssize_t)n;
}

/* B: map C's namespace. 0, or -errno with the reason in msg. */
static int write_maps(const agent_ctx *ctx, pid_t c, nox__buf *msg) {
    char path[64], map[64];
    int rc;
    if (!ctx->iso.root_mode) {
        snprintf(path, sizeof path, "/proc/%d/setgroups", (int)c);
        rc = nox__write_str_at(AT_FDCWD, path, "deny", 0);
        if (rc && rc != -ENOENT)
            goto fail;
    }
    snprintf(path, sizeof path, "/proc/%d/uid_map", (int)c);
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)ctx->iso.host_uid);
    if ((rc = nox__write_str_at(AT_FDCWD, path, map, 0)) != 0)
        goto fail;
    snprintf(path, sizeof path, "/proc/%d/gid_map", (int)c);
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)ctx->iso.host_gid);
    if ((rc = nox__write_str_at(AT_FDCWD, path, map, 0)) != 0)
        goto fail;
    return 0;
fail:
    nox__buf_printf(msg, NS_FAIL "writing %s: %s", path, strerror(-rc));
    return rc;
}

/* C: wait for B's answer; 0 when mapped (ctx->cg updated). */
static int await_maps(agent_ctx *ctx, int sock) {
    if (write(sock, "U", 1) != 1)
        _exit(1);
    char tag;
    ssize_t n = read_full(sock, &tag, 1);
    if (n == 1 && tag == 'M')
        return read_full(sock, &ctx->cg, sizeof ctx->cg) == (ssize_t)sizeof ctx->cg ? 0 : -1;
    if (n == 1) {
        char msg[1024]; /* B's message: NS_FAIL and a /proc path */
        n = read_full(sock, msg, sizeof msg - 1);
        msg[n > 0 ? n : 0] = 0;
        agent_fail(ctx, NOX_ESANDBOX, "%s", msg);
    }
    return -1;
}

static void become_root(agent_ctx *ctx, pid_t b) {
    if (setresgid(0, 0, 0) != 0)
        agent_fail(ctx, NOX_ESANDBOX, NS_FAIL "setresgid(0) in the user namespace: %s",
                   strerror(errno));
    /* Root's supplementary groups would still count on host files. */
    if (ctx->iso.root_mode && setgroups(0, NULL) != 0)
        agent_fail(ctx, NOX_ESANDBOX, NS_FAIL "setgroups in the user namespace: %s",
                   strerror(errno));
    if (setresuid(0, 0, 0) != 0)
        agent_fail(ctx, NOX_ESANDBOX, NS_FAIL "setresuid(0) in the user namespace: %s",
                   strerror(errno));
    /* Credential changes reset the parent-death signal: set it now. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != b)
        _exit(1);
}

static void __attribute__((noreturn)) run_c(agent_ctx *ctx, int sock, pid_t b) {
    if (unshare(CLONE_NEWUSER) != 0)
        agent_fail(ctx, NOX_EUNSUPPORTED, NS_FAIL "unshare(CLONE_NEWUSER) failed: %s",
                   strerror(errno));
    int rc = await_maps(ctx, sock);
    close(sock);
    if (rc)
        _exit(1);
    become_root(ctx, b);
    /* The cgroup namespace only now: B has moved us into the sandbox's
     * cgroups, so those become its root and nothing above shows. */
    if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
                CLONE_NEWCGROUP) != 0)
        agent_fail(ctx, NOX_ESANDBOX, NS_FAIL "unshare(mount, pid, net, ipc, uts, cgroup) "
                   "failed: %s", strerror(errno));
    pid_t d = fork();
    if (d < 0)
        agent_fail(ctx, NOX_ESANDBOX, NS_FAIL "fork: %s", strerror(errno));
    if (d == 0) {
        cg_enter_agent(&ctx->cg); /* its CPU share apart from the commands' */
        inner_run(ctx);
    }
    /* Only D reports on the ready fd and serves. */
    agent_ready_close(ctx);
    close(ctx->listen_fd);
    int st;
    while (waitpid(d, &st, 0) < 0) {
        if (errno != EINTR)
            _exit(1);
    }
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

/* B's side of the handshake. */
static void serve_maps(agent_ctx *ctx, int sock, pid_t c) {
    char tag;
    if (read_full(sock, &tag, 1) != 1 || tag != 'U')
        return; /* C failed and said so itself */
    nox__buf msg = {0};
    if (write_maps(ctx, c, &msg) != 0) {
        if (write(sock, "E", 1) != 1 ||
            write(sock, nox__buf_str(&msg), msg.len) < 0) { /* C notices EOF */ }
    } else {
        cg_attach(&ctx->cg, c);
        if (write(sock, "M", 1) != 1 ||
            write(sock, &ctx->cg, sizeof ctx->cg) != (ssize_t)sizeof ctx->cg) { /* C: EOF */ }
    }
    nox__buf_free(&msg);
}

pid_t userns_spawn(agent_ctx *ctx) {
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
        return -errno;
    pid_t b = getpid();
    pid_t c = fork();
    if (c < 0) {
        int e = errno;
        close(sp[0]);
        close(sp[1]);
        return -e;
    }
    if (c == 0) {
        close(sp[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        run_c(ctx, sp[1], b);
    }
    close(sp[1]);
    serve_maps(ctx, sp[0], c);
    close(sp[0]);
    return c;
}

/*
 * outer.c - B, the agent's outer process: binds the socket, enters the
 * level's namespaces (level none here; level namespaces through
 * outer_ids.c, outer_cgroup.c and userns.c), starts the sandbox's pid 1,
 * and waits for it. B stays outside to remove what the sandbox's own id
 * may not (the session directory in root's base directory, the cgroups).
 */
#include "agent.h"

#include "base/ended.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define PRIVATE_WS "cannot give the sandbox a private /workspace: "

static int listen_socket(agent_ctx *ctx) {
    struct sockaddr_un sa;
    int alen = nox__unix_addr(&sa, ctx->dir_fd, ctx->session_dir, NOX_SOCK_FILE);
    if (alen < 0)
        agent_fail(ctx, NOX_ESANDBOX, "socket path too long under %s", ctx->session_dir);
    unlinkat(ctx->dir_fd, NOX_SOCK_FILE, 0);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        agent_fail(ctx, NOX_ESANDBOX, "socket: %s", strerror(errno));
    mode_t old = umask(077);
    int rc = bind(fd, (struct sockaddr *)&sa, (socklen_t)alen);
    umask(old);
    if (rc != 0)
        agent_fail(ctx, NOX_ESANDBOX, "bind %s/%s: %s", ctx->session_dir, NOX_SOCK_FILE,
                   strerror(errno));
    if (listen(fd, 512) != 0)
        agent_fail(ctx, NOX_ESANDBOX, "listen: %s", strerror(errno));
    return fd;
}

/* ---- level none ------------------------------------------------------------------ */

/* A user namespace mapping only ourselves: files keep their owner,
 * commands run as the caller and lose the namespace capabilities on exec. */
static void enter_own_userns(agent_ctx *ctx) {
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER) != 0)
        agent_fail(ctx, NOX_EUNSUPPORTED, PRIVATE_WS "unshare(CLONE_NEWUSER) failed: %s",
                   strerror(errno));
    char map[64];
    int rc = nox__write_str_at(AT_FDCWD, "/proc/self/setgroups", "deny", 0);
    if (rc && rc != -ENOENT)
        agent_fail(ctx, NOX_EUNSUPPORTED, PRIVATE_WS "writing /proc/self/setgroups failed: %s",
                   strerror(-rc));
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
    if ((rc = nox__write_str_at(AT_FDCWD, "/proc/self/uid_map", map, 0)) != 0)
        agent_fail(ctx, NOX_EUNSUPPORTED, PRIVATE_WS "writing /proc/self/uid_map failed: %s",
                   strerror(-rc));
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
    if ((rc = nox__write_str_at(AT_FDCWD, "/proc/self/gid_map", map, 0)) != 0)
        agent_fail(ctx, NOX_EUNSUPPORTED, PRIVATE_WS "writing /proc/self/gid_map failed: %s",
                   strerror(-rc));
}

/* B, single-threaded: a mount namespace (in a user namespace unless we
 * are root) and, where allowed, a pid namespace; then fork pid 1. */
static pid_t start_level_none(agent_ctx *ctx) {
    int userns = geteuid() != 0;
    if (userns)
        enter_own_userns(ctx);
    if (unshare(CLONE_NEWNS) != 0) {
        int e = errno;
        /* Root without CAP_SYS_ADMIN (a container): a user namespace may
         * still give us one. */
        if (!userns && e == EPERM) {
            enter_own_userns(ctx);
            e = unshare(CLONE_NEWNS) == 0 ? 0 : errno;
        }
        if (e)
            agent_fail(ctx, NOX_EUNSUPPORTED, PRIVATE_WS "unshare(CLONE_NEWNS) failed: %s",
                       strerror(e));
    }
    /* A pid namespace makes the agent pid 1: every orphan comes back to
     * it and delete kills everything at once. Without one, the agent
     * becomes a child subreaper and kills by walking /proc. */
    ctx->pidns = unshare(CLONE_NEWPID) == 0;
    if (!ctx->pidns)
        agent_log("no pid namespace (unshare(CLONE_NEWPID): %s); using a subreaper",
                  strerror(errno));
    pid_t c = fork();
    if (c == 0)
        inner_run(ctx);
    return c < 0 ? -errno : c;
}

/* ---- level namespaces ------------------------------------------------------------- */

static pid_t start_level_namespaces(agent_ctx *ctx) {
    nox__buf msg = {0};
    int rc = outer_prepare_ids(ctx, &msg);
    if (rc)
        agent_fail(ctx, rc, "%s", nox__buf_str(&msg));
    nox__buf_free(&msg);
    /* The cgroup counts the sandbox's tasks only, whatever uid they share. */
    local_cg_plan *plan = calloc(1, sizeof *plan);
    if (!plan)
        agent_fail(ctx, NOX_ENOMEM, "out of memory");
    local_cgroup_plan(plan);
    uint64_t values[LOCAL_CG_COUNT] = {
        [LOCAL_CG_MEMORY] = ctx->cfg.mem_bytes,
        [LOCAL_CG_PIDS] = AGENT_NPROC + AGENT_PIDS_HEADROOM,
        [LOCAL_CG_CPU] = ctx->cfg.cpu_milli,
    };
    cg_setup(&ctx->cg, plan, ctx->dir_name + strlen(NOX_SESSION_PREFIX), values);
    free(plan);
    ctx->pidns = 1;
    /* Never silent: a cpuLimit without a cgroup has nothing else. */
    if (ctx->cfg.cpu_milli && ctx->cg.ctl[LOCAL_CG_CPU].where == LOCAL_CG_NONE)
        agent_log("warning: cpuLimit %llum is not enforced: %s",
                  (unsigned long long)ctx->cfg.cpu_milli, ctx->cg.ctl[LOCAL_CG_CPU].why);
    pid_t c = userns_spawn(ctx);
    if (c < 0)
        cg_cleanup(&ctx->cg);
    return c;
}

/* ---- B ---------------------------------------------------------------------------- */

/* Tell the next caller why the sandbox went, when nobody deleted it:
 * its TTL ran out, or its init died (ended.h). st is pid 1's status as
 * B sees it (through the namespaces level's intermediate process a
 * signal arrives as exit status 128 + signal). */
static void record_end(agent_ctx *ctx, int st) {
    char why[200];
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    int sig = WIFSIGNALED(st) ? WTERMSIG(st) : code > 128 && code < 128 + 65 ? code - 128 : 0;
    if (code == AGENT_EXIT_EXPIRED || code == AGENT_EXIT_EXPIRED_REMOVE)
        snprintf(why, sizeof why, "it expired: its TTL ran out with no call refreshing it");
    else if (sig)
        snprintf(why, sizeof why, "its init process (the agent, pid 1) was killed by signal "
                 "%d (%s)%s", sig, strsignal(sig),
                 sig == SIGKILL ? "; the OOM killer or an administrator sends that" : "");
    else if (code != 0 && code != AGENT_EXIT_REMOVE)
        snprintf(why, sizeof why, "its init process (the agent, pid 1) stopped with exit "
                 "status %d; the agent log in the session directory said why", code);
    else
        return;
    int rc = nox__ended_record(ctx->base_fd, ctx->dir_name, why);
    if (rc)
        agent_log("recording why the sandbox ended: %s", strerror(-rc));
}

/* Wait for pid 1's process and go with it. */
static int wait_sandbox(agent_ctx *ctx, pid_t c) {
    int st;
    while (waitpid(c, &st, 0) < 0) {
        if (errno != EINTR) {
            cg_cleanup(&ctx->cg);
            return 1;
        }
    }
    /* Nothing of the sandbox may outlive it, whichever way it ended. */
    cg_cleanup(&ctx->cg);
    record_end(ctx, st);
    if (WIFEXITED(st) &&
        (WEXITSTATUS(st) == AGENT_EXIT_REMOVE || WEXITSTATUS(st) == AGENT_EXIT_EXPIRED_REMOVE)) {
        /* The sandbox's own id could not remove its session directory
         * (root's base directory): we can. */
        int rc = nox__rm_tree_at(ctx->base_fd, ctx->dir_name);
        if (rc)
            agent_log("removing %s: %s", ctx->session_dir, strerror(-rc));
        return 0;
    }
    if (WIFSIGNALED(st)) {
        agent_log("sandbox init died of signal %d", WTERMSIG(st));
        return 128 + WTERMSIG(st);
    }
    return WEXITSTATUS(st);
}

int outer_run(agent_ctx *ctx) {
    ctx->host_pid = getpid();
    ctx->host_start = nox__proc_starttime(getpid());
    ctx->listen_fd = listen_socket(ctx);
    if (ctx->cfg.note)
        agent_log("isolation: %s", ctx->cfg.note);
    /* pid 1 builds its root relative to the session directory (root.c). */
    if (fchdir(ctx->dir_fd) != 0)
        agent_fail(ctx, NOX_ESANDBOX, "chdir %s: %s", ctx->session_dir, strerror(errno));
    pid_t c = ctx->cfg.level == AGENT_LEVEL_NAMESPACES ? start_level_namespaces(ctx)
                                                        : start_level_none(ctx);
    if (c < 0)
        agent_fail(ctx, NOX_ESANDBOX, "fork: %s", strerror((int)-c));
    /* Only pid 1 reports on the ready fd and serves. */
    agent_ready_close(ctx);
    close(ctx->listen_fd);
    return wait_sandbox(ctx, c);
}

/*
 * spawn.c - the one way the agent starts a command (spawn_policy in
 * agent.h says what a command gets).
 *
 * Commands start the way posix_spawn() starts them: a CLONE_VM |
 * CLONE_VFORK child on a stack of our own, which only makes system calls
 * until execve(). Unlike posix_spawn it can set rlimits on the command
 * alone: the agent's own threads, connections and malloc arenas must not
 * count against memoryLimit, and an RLIMIT_AS on the agent would break
 * sanitizer builds outright.
 */
#include "agent.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct spawn_req {
    const spawn_policy *pol;
    const char *path;
    char *const *argv, *const *envp;
    int err; /* the child's errno when it could not exec (shared memory) */
} spawn_req;

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPAWN_NO_ASAN __attribute__((no_sanitize("address")))
#endif
#endif
#if !defined(SPAWN_NO_ASAN) && defined(__SANITIZE_ADDRESS__)
#define SPAWN_NO_ASAN __attribute__((no_sanitize_address))
#endif
#ifndef SPAWN_NO_ASAN
#define SPAWN_NO_ASAN
#endif

static SPAWN_NO_ASAN int set_limit(int res, uint64_t v) {
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = v ? (rlim_t)v : RLIM_INFINITY;
    return setrlimit(res, &rl);
}

/* Exactly v (0 included). */
static SPAWN_NO_ASAN int set_exact(int res, rlim_t v) {
    struct rlimit rl = {v, v};
    return setrlimit(res, &rl);
}

static SPAWN_NO_ASAN int apply_limits(const spawn_policy *p) {
    if (set_limit(RLIMIT_NOFILE, p->nofile) != 0 || set_limit(RLIMIT_NPROC, p->nproc) != 0)
        return -1;
    /* The creator's values must not reach a command (agent.h). RLIMIT_CORE
     * is inherited from pid 1, which set it before the seccomp filter that
     * refuses to change it (seccomp.c). */
    if (set_exact(RLIMIT_RTPRIO, AGENT_RTPRIO) != 0 || set_exact(RLIMIT_NICE, AGENT_NICE) != 0 ||
        set_exact(RLIMIT_MEMLOCK, AGENT_MEMLOCK) != 0)
        return -1;
    if (p->as_bytes && set_limit(RLIMIT_AS, p->as_bytes) != 0)
        return -1;
    if (p->fsize_bytes && set_limit(RLIMIT_FSIZE, p->fsize_bytes) != 0)
        return -1;
    return 0;
}

static SPAWN_NO_ASAN int child_fn(void *arg) {
    spawn_req *r = arg;
    const spawn_policy *p = r->pol;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    /* Into the commands' cgroup, so the agent keeps its CPU share
     * (outer_cgroup.c). "0" is the writer; the fd was opened by B, whose
     * credentials the kernel checks. Where it fails, the command runs
     * beside the agent, as before. */
    if (p->cgroup_fd > 0 && write(p->cgroup_fd, "0", 1) != 1) {
    }
    /* Its own session and process group: a timeout kills the group. */
    if (setsid() < 0)
        goto fail;
    /* The agent ignores these; commands get the usual behaviour. */
    sigaction(SIGPIPE, &dfl, NULL);
    sigaction(SIGXFSZ, &dfl, NULL);
    for (int i = 0; i < 3; i++)
        if (dup2(p->fds[i], i) < 0)
            goto fail;
    if (chdir(p->workdir) != 0)
        goto fail;
    if (p->limits && apply_limits(p) != 0)
        goto fail;
    /* Orphans of the command's descendants come back to the command, not
     * to pid 1: a daemon that double-forks stays in the tree a timeout or
     * a cancel kills. Kept across execve; once the command exits, what it
     * left running is adopted by pid 1 and lives on as before. */
    if (p->subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        goto fail;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(r->path, r->argv, r->envp);
fail:
    r->err = errno ? errno : EIO;
    _exit(127);
}

int agent_spawn(const spawn_policy *pol, const char *path, char *const *argv,
                char *const *envp, pid_t *pid) {
    enum { STACK = 32 * 1024 };
    char *stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return -errno;
    spawn_req r = {pol, path, argv, envp, 0};
    /* No signal may run a handler on the child's borrowed stack. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t p = clone(child_fn, stack + STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &r);
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(stack, STACK);
    if (p < 0)
        return -e;
    if (r.err) {
        /* It never ran the command: reap it here, nobody else knows it. */
        while (waitpid(p, NULL, 0) < 0 && errno == EINTR) {
        }
        return -r.err;
    }
    *pid = p;
    return 0;
}

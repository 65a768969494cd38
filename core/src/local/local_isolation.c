/*
 * local_isolation.c - which isolation level the local backend runs at,
 * why, and what a create's limits and image become for the agent.
 *
 * The level is resolved once per client: a forked child tries exactly
 * what the agent will do (a user namespace, then mount, pid, net, ipc,
 * uts and cgroup namespaces inside it, then a seccomp filter). `auto`
 * takes `namespaces` when that works, else `none`, and keeps the reason,
 * which nox_info() reports as "isolationFallbackReason" and every agent
 * of this client writes to its log. An explicit `namespaces` that the host
 * cannot give fails at create with that reason. $NOXRUNNER_ISOLATION
 * ("none" or "namespaces") pins what auto means.
 */
#include "local/local_impl.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const PROBE_STEPS[] = {
    "unshare(CLONE_NEWUSER)",
    "unshare(mount, pid, net, ipc, uts, cgroup namespaces) in a user namespace",
    "mounting a fresh /proc in a pid namespace (is the host's /proc partly masked?)",
    "PR_SET_NO_NEW_PRIVS",
    "installing a seccomp filter",
};

/* In the probe child, inside the new namespaces: the agent's pid 1 mounts
 * a fresh /proc, which the kernel refuses when the host's /proc is partly
 * covered (as in many containers). 0 or an errno value. */
static int probe_proc(void) {
    pid_t p = fork(); /* the first child is pid 1 of the new pid namespace */
    if (p < 0)
        return errno;
    if (p == 0) {
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
            _exit(errno & 0xff ? errno & 0xff : 1);
        _exit(0);
    }
    int st;
    while (waitpid(p, &st, 0) < 0)
        if (errno != EINTR)
            return errno;
    return WIFEXITED(st) ? WEXITSTATUS(st) : EPERM;
}

/* 0 when the host allows the namespaces level; else the reason in msg. */
static int probe(char *msg, size_t cap) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        snprintf(msg, cap, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        /* Only async-signal-safe calls: the caller may be threaded. */
        int step = 0, e = 0;
        if (unshare(CLONE_NEWUSER) != 0) {
            e = errno;
        } else if (step = 1, unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
                                     CLONE_NEWUTS | CLONE_NEWCGROUP) != 0) {
            e = errno;
        } else if (step = 2, (e = probe_proc()) != 0) {
            /* errno already in e */
        } else if (step = 3, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
            e = errno;
        } else {
            struct sock_filter f[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
            struct sock_fprog prog = {1, f};
            step = 4;
            if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
                e = errno;
        }
        int out[2] = {step, e};
        if (write(p[1], out, sizeof out) < 0) { /* the parent sees EOF */ }
        _exit(0);
    }
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        snprintf(msg, cap, "fork: %s", strerror(errno));
        return -1;
    }
    int res[2] = {0, 0};
    ssize_t n;
    do {
        n = read(p[0], res, sizeof res);
    } while (n < 0 && errno == EINTR);
    close(p[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    if (n != (ssize_t)sizeof res) {
        snprintf(msg, cap, "the namespace probe died");
        return -1;
    }
    if (res[1] == 0)
        return 0;
    int step = res[0] >= 0 && res[0] < 5 ? res[0] : 0;
    snprintf(msg, cap, "%s failed: %s", PROBE_STEPS[step], strerror(res[1]));
    return -1;
}

void local_isolation_resolve(local_be *L) {
    int want = L->cfg->isolation;
    /* auto can be pinned from outside, so a whole test suite or service
     * runs at one level without code changes. */
    const char *env = getenv("NOXRUNNER_ISOLATION");
    if (want == NOX_ISOLATION_AUTO && env && !strcmp(env, "none"))
        want = NOX_ISOLATION_NONE;
    else if (want == NOX_ISOLATION_AUTO && env && !strcmp(env, "namespaces"))
        want = NOX_ISOLATION_NAMESPACES;
    L->iso_want = want;
    L->iso = NOX_ISOLATION_NONE;
    L->iso_reason[0] = 0;
    if (want == NOX_ISOLATION_NONE)
        return;
    char why[400];
#if !defined(__x86_64__) && !defined(__aarch64__)
    /* The agent's seccomp filter is written for these two only. */
    snprintf(why, sizeof why, "no seccomp filter for this architecture");
    if (0) {
#else
    if (probe(why, sizeof why) == 0) {
#endif
        L->iso = NOX_ISOLATION_NAMESPACES;
        return;
    }
    if (want == NOX_ISOLATION_NAMESPACES) {
        L->iso = NOX_ISOLATION_NAMESPACES;
        L->iso_unavailable = 1;
    }
    snprintf(L->iso_reason, sizeof L->iso_reason, "the host forbids namespaces: %s", why);
}

/* ---- create options -------------------------------------------------------- */

/* Kubernetes-style quantity ("512Mi", "1G", "500m", "0.5") as a number of
 * units (bytes, or cores). -1 when malformed. */
static double quantity(const char *s) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0)
        return -1;
    static const struct {
        const char *suffix;
        double mul;
    } sfx[] = {{"", 1},
               {"m", 1e-3},
               {"k", 1e3},
               {"K", 1e3},
               {"M", 1e6},
               {"G", 1e9},
               {"T", 1e12},
               {"P", 1e15},
               {"E", 1e18},
               {"Ki", 1024.0},
               {"Mi", 1024.0 * 1024},
               {"Gi", 1024.0 * 1024 * 1024},
               {"Ti", 1024.0 * 1024 * 1024 * 1024},
               {"Pi", 1024.0 * 1024 * 1024 * 1024 * 1024},
               {"Ei", 1024.0 * 1024 * 1024 * 1024 * 1024 * 1024}};
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++)
        if (!strcmp(end, sfx[i].suffix))
            return v * sfx[i].mul;
    return -1;
}

/* Smallest memory limit the agent itself runs within (its own address
 * space counts against RLIMIT_AS). */
#define MIN_MEMORY (64.0 * 1024 * 1024)

int local_isolation_args(local_be *L, const nox__sandbox_opts *o, char **args, size_t cap,
                         size_t *n, nox_error **err) {
    *n = 0;
    args[0] = NULL;
    int ns = L->iso == NOX_ISOLATION_NAMESPACES;
    if (ns && L->iso_unavailable)
        return nox__err(err, NOX_EUNSUPPORTED,
                        "isolation level 'namespaces' is not available on this host: %s",
                        L->iso_reason);
    if (o->image) {
        struct stat st;
        char sh[PATH_MAX];
        if (o->image[0] != '/' || stat(o->image, &st) != 0 || !S_ISDIR(st.st_mode))
            return nox__err(err, NOX_EINVAL,
                            "image \"%s\" is not available to the local backend: it runs the "
                            "host's system directories (no image) or a root file system "
                            "directory given by its absolute path",
                            o->image);
        snprintf(sh, sizeof sh, "%s/bin/sh", o->image);
        struct stat sst;
        if (lstat(sh, &sst) != 0 && (snprintf(sh, sizeof sh, "%s/usr/bin/sh", o->image),
                                     lstat(sh, &sst) != 0))
            return nox__err(err, NOX_EINVAL,
                            "image \"%s\" does not hold a root file system (no bin/sh)",
                            o->image);
        if (!ns)
            return nox__err(err, NOX_EUNSUPPORTED,
                            "image \"%s\" needs isolation level 'namespaces' (in force: "
                            "'none'%s%s)",
                            o->image, *L->iso_reason ? ": " : "", L->iso_reason);
    }
    double mem = o->memory_limit ? quantity(o->memory_limit) : 0;
    double cpu = o->cpu_limit ? quantity(o->cpu_limit) : 0;
    double sto = o->ephemeral_storage_limit ? quantity(o->ephemeral_storage_limit) : 0;
    if (mem < 0 || cpu < 0 || sto < 0)
        return nox__err(err, NOX_EINVAL, "%s \"%s\" is not a quantity like \"512Mi\" or \"500m\"",
                        mem < 0 ? "memory_limit" : cpu < 0 ? "cpu_limit" : "ephemeral_storage_limit",
                        mem < 0 ? o->memory_limit : cpu < 0 ? o->cpu_limit
                                                            : o->ephemeral_storage_limit);
    if (o->memory_limit && mem < MIN_MEMORY)
        return nox__err(err, NOX_EINVAL, "memory_limit \"%s\" is below the local backend's "
                        "minimum of 64Mi", o->memory_limit);
    if (!ns)
        return 0; /* level none enforces no limits: nox_info says so */
    size_t k = 0;
#define PUSH(s)                                                           \
    do {                                                                  \
        if (k + 1 >= cap || !(args[k] = (s)))                             \
            goto nomem;                                                   \
        k++;                                                              \
    } while (0)
    PUSH(strdup("--isolation"));
    PUSH(strdup("namespaces"));
    if (mem > 0) {
        PUSH(strdup("--memory"));
        PUSH(nox__asprintf("%.0f", mem));
    }
    if (cpu > 0) {
        PUSH(strdup("--cpu-milli"));
        PUSH(nox__asprintf("%.0f", cpu * 1000 < 1 ? 1 : cpu * 1000));
    }
    if (sto > 0) {
        PUSH(strdup("--storage"));
        PUSH(nox__asprintf("%.0f", sto < 4096 ? 4096 : sto));
    }
    if (o->image) {
        PUSH(strdup("--image"));
        PUSH(strdup(o->image));
    }
#undef PUSH
    args[k] = NULL;
    *n = k;
    return 0;
nomem:
    for (size_t i = 0; i < k; i++)
        free(args[i]);
    *n = 0;
    return nox__err(err, NOX_ENOMEM, "out of memory");
}

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
        char sh[4200];
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

/* ---- cgroups ------------------------------------------------------------------ */

const char *const local_cg_names[LOCAL_CG_COUNT] = {"memory", "pids", "cpu"};

/* Whether the space-separated list holds word (cgroup.controllers). */
static int has_word(const char *list, const char *word) {
    size_t n = strlen(word);
    for (const char *p = list; p && *p;) {
        p += strspn(p, " \t\n");
        size_t e = strcspn(p, " \t\n");
        if (e == n && !strncmp(p, word, n))
            return 1;
        p += e;
    }
    return 0;
}

/* Whether the comma-separated list holds word (mount options, the
 * controller field of /proc/self/cgroup). */
static int has_item(const char *list, size_t len, const char *word) {
    size_t n = strlen(word);
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && list[e] != ',')
            e++;
        if (e - i == n && !strncmp(list + i, word, n))
            return 1;
        i = e + 1;
    }
    return 0;
}

/* Our path in the hierarchy whose controller field holds ctl ("" for v2's
 * "0::" line), into out; 0, or -1 when /proc/self/cgroup has no line. */
static int own_path(const char *self, const char *ctl, char *out, size_t cap) {
    for (const char *l = self; l && *l;) {
        const char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l) : strlen(l);
        const char *c1 = memchr(l, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - l)) : NULL;
        if (c2) {
            size_t clen = (size_t)(c2 - c1 - 1);
            int match = *ctl ? has_item(c1 + 1, clen, ctl) : (clen == 0 && !strncmp(l, "0:", 2));
            if (match) {
                snprintf(out, cap, "%.*s", (int)(len - (size_t)(c2 + 1 - l)), c2 + 1);
                return 0;
            }
        }
        l = nl ? nl + 1 : NULL;
    }
    return -1;
}

/* The mount point of the cgroup hierarchy with ctl (v1), or of cgroup2
 * when ctl is "". 0 or -1. */
static int mount_of(const char *mi, const char *ctl, char *out, size_t cap) {
    for (const char *l = mi; l && *l;) {
        const char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l) : strlen(l);
        char line[4096];
        snprintf(line, sizeof line, "%.*s", (int)len, l);
        l = nl ? nl + 1 : NULL;
        /* id parent maj:min root mountpoint opts ... - fstype source superopts */
        char *dash = strstr(line, " - ");
        if (!dash)
            continue;
        char fstype[32], source[256], super[1024];
        if (sscanf(dash + 3, "%31s %255s %1023s", fstype, source, super) != 3)
            continue;
        if (*ctl ? strcmp(fstype, "cgroup") || !has_item(super, strlen(super), ctl)
                 : strcmp(fstype, "cgroup2"))
            continue;
        char root[1024], mnt[1024];
        if (sscanf(line, "%*s %*s %*s %1023s %1023s", root, mnt) != 2)
            continue;
        /* Only a mount of the hierarchy's (or our namespace's) root:
         * a bind of a subtree would need path arithmetic we can skip. */
        if (strcmp(root, "/") != 0)
            continue;
        snprintf(out, cap, "%s", mnt);
        return 0;
    }
    return -1;
}

static char *read_small(const char *dir, const char *file) {
    char path[2200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return nox__read_file_at(AT_FDCWD, path, 4096, NULL);
}

void local_cgroup_plan(local_cg_plan *p) {
    memset(p, 0, sizeof *p);
    char *self = nox__read_file_at(AT_FDCWD, "/proc/self/cgroup", 64 * 1024, NULL);
    char *mi = nox__read_file_at(AT_FDCWD, "/proc/self/mountinfo", 1 << 20, NULL);
    uid_t uid = geteuid();
    /* The v2 parent: the delegated cgroup we are told, or our own. */
    const char *env = getenv("NOXRUNNER_CGROUP");
    char mnt[1024], path[1024];
    if (env && *env) {
        struct stat st;
        p->v2_from_env = 1;
        struct statfs sf;
        /* A plain directory would take the limit files and hold nothing:
         * only the tests' stand-in tree may be one, and says so. */
        const char *standin = getenv("NOXRUNNER_CGROUP_STANDIN");
        if (env[0] != '/' || stat(env, &st) != 0 || !S_ISDIR(st.st_mode))
            snprintf(p->v2_why, sizeof p->v2_why,
                     "NOXRUNNER_CGROUP=%.900s is not an absolute path of a directory", env);
        else if ((statfs(env, &sf) != 0 || sf.f_type != 0x63677270 /* CGROUP2_SUPER_MAGIC */) &&
                 !(standin && !strcmp(standin, "1")))
            snprintf(p->v2_why, sizeof p->v2_why,
                     "NOXRUNNER_CGROUP=%.900s is not on a cgroup v2 file system", env);
        else
            snprintf(p->v2_parent, sizeof p->v2_parent, "%.1000s", env);
    } else if (mount_of(mi, "", mnt, sizeof mnt) != 0 || own_path(self, "", path, sizeof path)) {
        snprintf(p->v2_why, sizeof p->v2_why, "no cgroup v2 hierarchy is mounted");
    } else {
        char own[2100];
        snprintf(own, sizeof own, "%s%s", mnt, strcmp(path, "/") ? path : "");
        char *sub = read_small(own, "cgroup.subtree_control");
        int usable = !strcmp(path, "/");
        for (int c = 0; c < LOCAL_CG_COUNT && !usable; c++)
            usable = sub && has_word(sub, local_cg_names[c]);
        free(sub);
        if (usable)
            snprintf(p->v2_parent, sizeof p->v2_parent, "%.1000s", own);
        else
            snprintf(p->v2_why, sizeof p->v2_why,
                     "own cgroup %.900s holds processes; point NOXRUNNER_CGROUP at a "
                     "delegated cgroup", own);
    }
    char *ctl = NULL, *sub = NULL;
    if (*p->v2_parent) {
        char procs[1200];
        snprintf(procs, sizeof procs, "%s/cgroup.procs", p->v2_parent);
        p->v2_writable = access(p->v2_parent, W_OK | X_OK) == 0 && access(procs, W_OK) == 0;
        if (!p->v2_writable)
            snprintf(p->v2_why, sizeof p->v2_why, "cgroup v2 %.900s is not writable by uid %u",
                     p->v2_parent, (unsigned)uid);
        ctl = read_small(p->v2_parent, "cgroup.controllers");
        sub = read_small(p->v2_parent, "cgroup.subtree_control");
    }
    for (int c = 0; c < LOCAL_CG_COUNT; c++) {
        const char *name = local_cg_names[c];
        char v2why[1200] = "";
        if (*p->v2_parent && p->v2_writable && ctl && has_word(ctl, name)) {
            char sc[1200];
            snprintf(sc, sizeof sc, "%s/cgroup.subtree_control", p->v2_parent);
            p->ctl[c].v2_enabled = sub && has_word(sub, name);
            if (p->ctl[c].v2_enabled || access(sc, W_OK) == 0) {
                p->ctl[c].where = LOCAL_CG_V2;
            } else {
                snprintf(v2why, sizeof v2why, "%.900s/cgroup.subtree_control is not writable",
                         p->v2_parent);
            }
        } else if (*p->v2_parent && p->v2_writable) {
            char has[64];
            snprintf(has, sizeof has, "%s", ctl && *ctl && *ctl != '\n' ? ctl : "none");
            has[strcspn(has, "\n")] = 0;
            snprintf(v2why, sizeof v2why, "cgroup v2 %.900s lacks the %s controller (has: %s)",
                     p->v2_parent, name, has);
        } else {
            snprintf(v2why, sizeof v2why, "%.1000s", *p->v2_why ? p->v2_why : "no cgroup v2");
        }
        /* v1: our own cgroup in the hierarchy that holds the controller. */
        char v1why[1200] = "";
        if (mount_of(mi, name, mnt, sizeof mnt) != 0 || own_path(self, name, path, sizeof path)) {
            snprintf(v1why, sizeof v1why, "no cgroup v1 %s hierarchy", name);
        } else {
            char dir[2100];
            snprintf(dir, sizeof dir, "%s%s", mnt, strcmp(path, "/") ? path : "");
            if (access(dir, W_OK | X_OK) == 0)
                snprintf(p->ctl[c].v1_parent, sizeof p->ctl[c].v1_parent, "%.1000s", dir);
            else
                snprintf(v1why, sizeof v1why, "cgroup v1 %s at %.900s is not writable by uid %u",
                         name, dir, (unsigned)uid);
        }
        if (p->ctl[c].where == LOCAL_CG_NONE && *p->ctl[c].v1_parent)
            p->ctl[c].where = LOCAL_CG_V1;
        if (p->ctl[c].where == LOCAL_CG_NONE)
            snprintf(p->ctl[c].why, sizeof p->ctl[c].why, "%.500s; %.500s", v2why, v1why);
    }
    free(ctl);
    free(sub);
    free(self);
    free(mi);
}

void local_cgroup_status(char *out, size_t cap) {
    local_cg_plan p;
    local_cgroup_plan(&p);
    size_t n = 0;
#define ADD(...)                                                                   \
    do {                                                                           \
        if (n < cap)                                                               \
            n += (size_t)snprintf(out + n, cap - n, __VA_ARGS__);                  \
    } while (0)
    if (*p.v2_parent && p.v2_writable)
        ADD("cgroup v2 %s%s: a cgroup per sandbox (membership, cgroup.kill)", p.v2_parent,
            p.v2_from_env ? " (NOXRUNNER_CGROUP)" : "");
    else
        ADD("no cgroup v2 per sandbox: %s", p.v2_why);
    for (int c = 0; c < LOCAL_CG_COUNT; c++) {
        if (p.ctl[c].where == LOCAL_CG_V2)
            ADD("; %s: cgroup v2", local_cg_names[c]);
        else if (p.ctl[c].where == LOCAL_CG_V1)
            ADD("; %s: cgroup v1 under %s", local_cg_names[c], p.ctl[c].v1_parent);
        else
            ADD("; %s: not enforced (%s)", local_cg_names[c], p.ctl[c].why);
    }
#undef ADD
}

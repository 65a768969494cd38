/*
 * outer_cgroup.c - the sandbox's own cgroups, held by B (outside).
 *
 * rlimits bound each process; a cgroup bounds the sandbox as a whole
 * (memory, pids, cpu) and lets B kill every process in it at the end.
 * Where each controller is enforced comes from local_cgroup_plan(): cgroup
 * v2 under a parent that offers it, else the controller's v1 hierarchy
 * (hybrid hosts), else nowhere, and then the reason is reported and
 * logged, never dropped.
 *
 *   B: cg_setup()    before C exists: make nox-<session hash> in each
 *                    hierarchy used and write the limits;
 *      cg_attach(C)  while C waits for its id maps: move C in. C enters
 *                    its cgroup namespace only after that, so the sandbox
 *                    sees its own cgroup as "/" and nothing above it;
 *      cg_cleanup()  once C is gone: kill what is left, remove the dirs.
 *
 * CPU is shared fairly even without a cpuLimit: the cgroup holding the
 * cpu controller is always made, with the default weight (cpu.weight
 * 100, v1 cpu.shares 1024), so each sandbox is one group beside the
 * others and the host's processes, however many sessions (setsid(),
 * which dodges autogroup) its processes make. Inside it, two leaves of
 * the same weight: cmds/, where C is attached (its cgroup namespace's
 * root: a command sees "/") and every command goes before exec (the
 * spawner writes cg->cmds_fd), and agent/, where pid 1 moves at its start
 * (cg_enter_agent). Leaves, because the scheduler weighs a task beside a
 * group as one more entity: 150 busy tasks next to agent/ would leave it
 * 1/151. So a fork bomb among the commands leaves the agent half the
 * sandbox's share, and delete and the other requests still get through.
 * B opens both cgroup.procs files: the kernel checks the opener's
 * credentials and cgroup namespace (Linux 5.16 and later); where a move
 * is refused, the process stays where it is and only the split is lost.

 * B itself stays outside: it must outlive everything in there. The state
 * (a cg_state) travels from B to C over their socket after the attach
 * (userns.c), so pid 1 reports what really holds. Everything here works
 * on a cg_state and a plan it is given, so a test can run it against a
 * directory tree standing in for a cgroup file system.
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define CPU_PERIOD 100000 /* us */
#define CPU_MIN_QUOTA 1000
#define CG_AGENT "agent" /* the agent's child cgroup, in the cpu one */
#define CG_CMDS "cmds"   /* the commands' */

static int is_cgroupfs(const char *dir) {
    return local_cgroupfs_version(dir) != 0;
}

/* Write value to d/file. A directory that is not a cgroup file system
 * (a test's stand-in for a delegated cgroup) gets the file created, and
 * appended to as a cgroup file would take one write after another. */
static int cg_write(const cg_dir *d, const char *file, const char *value) {
    int dfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    int rc = nox__write_str_at(dfd, file, value,
                               O_NOFOLLOW | (d->fake ? O_CREAT | O_APPEND : 0));
    close(dfd);
    return rc;
}

static int cg_has(const cg_dir *d, const char *file) {
    int dfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int ok = dfd >= 0 && faccessat(dfd, file, F_OK, 0) == 0;
    if (dfd >= 0)
        close(dfd);
    return ok;
}

/* rmdir parent/name and the agent/ and cmds/ children it may hold. */
static int rmdir_cgroup(int pfd, const char *name) {
    int dfd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd >= 0) {
        unlinkat(dfd, CG_AGENT, AT_REMOVEDIR);
        unlinkat(dfd, CG_CMDS, AT_REMOVEDIR);
        close(dfd);
    }
    return unlinkat(pfd, name, AT_REMOVEDIR) == 0 ? 0 : -errno;
}

/* Make parent/nox-<hash> (or reuse the one we already made there). The
 * name is the session's, so a dir left by a killed agent is found again:
 * empty, it is removed and made anew; still in use (the same session id
 * under another base directory), ours gets our pid added. */
static cg_dir *cg_make(cg_state *cg, const char *hash, const char *parent, int version,
                       char *why, size_t cap) {
    for (int i = 0; i < cg->ndirs; i++)
        if (!strcmp(cg->dirs[i].parent, parent))
            return &cg->dirs[i];
    if (cg->ndirs >= CG_MAX_DIRS) {
        snprintf(why, cap, "too many cgroup hierarchies");
        return NULL;
    }
    cg_dir *d = &cg->dirs[cg->ndirs];
    memset(d, 0, sizeof *d);
    d->version = version;
    d->fake = !is_cgroupfs(parent);
    snprintf(d->parent, sizeof d->parent, "%s", parent);
    snprintf(d->name, sizeof d->name, "nox-%s", hash);
    for (int attempt = 0; attempt < 2; attempt++) {
        char path[PATH_MAX]; /* parent may lie in *cg: no snprintf into it */
        snprintf(path, sizeof path, "%.3900s/%s", parent, d->name);
        memcpy(d->path, path, sizeof path);
        if (mkdir(d->path, 0755) == 0) {
            cg->ndirs++;
            return d;
        }
        if (errno != EEXIST)
            break;
        int pfd = open(d->parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int gone = pfd >= 0 && (d->fake ? nox__rm_tree_at(pfd, d->name) == 0
                                        : rmdir_cgroup(pfd, d->name) == 0);
        if (pfd >= 0)
            close(pfd);
        if (gone) {
            agent_log("removed the stale cgroup %s", d->path);
            if (mkdir(d->path, 0755) == 0) {
                cg->ndirs++;
                return d;
            }
            break;
        }
        snprintf(d->name, sizeof d->name, "nox-%s-%d", hash, (int)getpid());
    }
    snprintf(why, cap, "mkdir %s: %s", d->path, strerror(errno));
    return NULL;
}

static void not_enforced(cg_state *cg, int c, const char *why) {
    cg_ctl *k = &cg->ctl[c];
    k->where = LOCAL_CG_NONE;
    k->dir = -1;
    snprintf(k->why, sizeof k->why, "%s", why);
}

/* The controller's limit files in d. 0 or -errno (file named in why). */
static int write_limits(cg_state *cg, int c, const cg_dir *d, char *why, size_t cap) {
    cg_ctl *k = &cg->ctl[c];
    char v[64];
    const char *file = "";
    int rc = 0;
    if (c == LOCAL_CG_MEMORY) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)k->value);
        file = d->version == 2 ? "memory.max" : "memory.limit_in_bytes";
        rc = cg_write(d, file, v);
        /* Swap would let the sandbox hold more than its limit. */
        if (!rc && d->version == 2 && cg_has(d, "memory.swap.max"))
            rc = cg_write(d, file = "memory.swap.max", "0");
        if (!rc && d->version == 1 && cg_has(d, "memory.memsw.limit_in_bytes"))
            rc = cg_write(d, file = "memory.memsw.limit_in_bytes", v);
        snprintf(k->setting, sizeof k->setting, "%s %s",
                 d->version == 2 ? "memory.max" : "memory.limit_in_bytes", v);
    } else if (c == LOCAL_CG_PIDS) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)k->value);
        rc = cg_write(d, file = "pids.max", v);
        snprintf(k->setting, sizeof k->setting, "pids.max %s", v);
    } else if (!k->value) {
        /* No cpuLimit: the default weight, written so that it holds. */
        file = d->version == 2 ? "cpu.weight" : "cpu.shares";
        rc = cg_write(d, file, d->version == 2 ? "100" : "1024");
        snprintf(k->setting, sizeof k->setting, "%s %s", file, d->version == 2 ? "100" : "1024");
    } else {
        unsigned long long q = k->value * CPU_PERIOD / 1000;
        if (q < CPU_MIN_QUOTA)
            q = CPU_MIN_QUOTA;
        if (d->version == 2) {
            snprintf(v, sizeof v, "%llu %d", q, CPU_PERIOD);
            rc = cg_write(d, file = "cpu.max", v);
            snprintf(k->setting, sizeof k->setting, "cpu.max %s", v);
        } else {
            snprintf(v, sizeof v, "%d", CPU_PERIOD);
            rc = cg_write(d, file = "cpu.cfs_period_us", v);
            snprintf(v, sizeof v, "%llu", q);
            if (!rc)
                rc = cg_write(d, file = "cpu.cfs_quota_us", v);
            snprintf(k->setting, sizeof k->setting, "cpu.cfs_quota_us %llu per cpu.cfs_period_us %d",
                     q, CPU_PERIOD);
        }
    }
    if (rc)
        snprintf(why, cap, "writing %s/%s: %s", d->path, file, strerror(-rc));
    return rc;
}

/* Where controller c ends up, given the plan and the v2 cgroup made (or
 * not): its directory, or NULL with the reason in why. */
static cg_dir *place_ctl(cg_state *cg, const local_cg_plan *p, const char *hash, cg_dir *v2,
                         const char *v2_why, int c, int *where, char *why, size_t cap) {
    const char *name = local_cg_names[c];
    *where = p->ctl[c].where;
    why[0] = 0;
    if (*where == LOCAL_CG_V2 && !v2) {
        snprintf(why, cap, "%s", v2_why);
        *where = *p->ctl[c].v1_parent ? LOCAL_CG_V1 : LOCAL_CG_NONE;
    }
    if (*where == LOCAL_CG_V2 && !p->ctl[c].v2_enabled) {
        cg_dir parent = {.version = 2, .fake = v2->fake};
        snprintf(parent.path, sizeof parent.path, "%s", p->v2_parent);
        char plus[32];
        snprintf(plus, sizeof plus, "+%s", name);
        int rc = cg_write(&parent, "cgroup.subtree_control", plus);
        if (rc) {
            snprintf(why, cap, "enabling %s in %s/cgroup.subtree_control: %s", name,
                     p->v2_parent, strerror(-rc));
            *where = *p->ctl[c].v1_parent ? LOCAL_CG_V1 : LOCAL_CG_NONE;
        }
    }
    cg_dir *d = NULL;
    if (*where == LOCAL_CG_V2)
        d = v2;
    else if (*where == LOCAL_CG_V1 &&
             !(d = cg_make(cg, hash, p->ctl[c].v1_parent, 1, why, cap)))
        *where = LOCAL_CG_NONE;
    if (d && write_limits(cg, c, d, why, cap) != 0) {
        d = NULL;
        *where = LOCAL_CG_NONE;
    }
    return d;
}

/* Where the sandbox's processes go in d: its cmds/ child when split. */
static const char *cmds_procs(const cg_dir *d) {
    return d->split ? CG_CMDS "/cgroup.procs" : "cgroup.procs";
}

/* d (the cgroup holding cpu) gets its agent/ and cmds/ children (v2: with
 * cpu enabled for them), and both cgroup.procs files are opened. */
static void cg_split(cg_state *cg, cg_dir *d) {
    int dfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int ok = dfd >= 0 && (mkdirat(dfd, CG_AGENT, 0755) == 0 || errno == EEXIST) &&
             (mkdirat(dfd, CG_CMDS, 0755) == 0 || errno == EEXIST);
    int rc = ok ? 0 : -errno;
    if (ok && d->version == 2)
        ok = (rc = cg_write(d, "cgroup.subtree_control", "+cpu")) == 0;
    int fl = O_WRONLY | O_CLOEXEC | O_NOFOLLOW | (d->fake ? O_CREAT : 0);
    d->split = 1;
    if (ok && ((cg->cmds_fd = openat(dfd, cmds_procs(d), fl, 0644)) < 0 ||
               (cg->agent_fd = openat(dfd, CG_AGENT "/cgroup.procs", fl, 0644)) < 0)) {
        ok = 0;
        rc = -errno;
    }
    if (ok) {
        d->split = 1;
    } else {
        agent_log("commands share the agent's cpu cgroup %s: %s", d->path, strerror(-rc));
        d->split = 0;
        if (cg->cmds_fd >= 0)
            close(cg->cmds_fd);
        cg->cmds_fd = -1;
        if (dfd >= 0) {
            unlinkat(dfd, CG_AGENT, AT_REMOVEDIR);
            unlinkat(dfd, CG_CMDS, AT_REMOVEDIR);
        }
    }
    if (dfd >= 0)
        close(dfd);
}

void cg_setup(cg_state *cg, const local_cg_plan *p, const char *hash,
              const uint64_t values[LOCAL_CG_COUNT]) {
    memset(cg, 0, sizeof *cg);
    cg->cmds_fd = cg->agent_fd = -1;
    char why[CG_WHY_MAX], v2_why[CG_WHY_MAX];
    snprintf(v2_why, sizeof v2_why, "%s", p->v2_why);
    /* The v2 cgroup: membership and cgroup.kill even with no controller. */
    cg_dir *v2 = NULL;
    if (*p->v2_parent && p->v2_writable) {
        v2 = cg_make(cg, hash, p->v2_parent, 2, why, sizeof why);
        if (!v2) {
            agent_log("cannot make the sandbox's cgroup v2: %s", why);
            snprintf(v2_why, sizeof v2_why, "%s", why);
        }
    }
    for (int c = 0; c < LOCAL_CG_COUNT; c++) {
        cg_ctl *k = &cg->ctl[c];
        k->value = values[c];
        k->dir = -1;
        k->where = LOCAL_CG_NONE;
        if (!k->value && c != LOCAL_CG_CPU)
            continue; /* nothing asked: nothing to enforce (cpu: the fair share) */
        int where;
        cg_dir *d = place_ctl(cg, p, hash, v2, v2_why, c, &where, why, sizeof why);
        if (!d) {
            not_enforced(cg, c, *why ? why : p->ctl[c].why);
            agent_log("warning: the sandbox's %s limit is not enforced by a cgroup: %s",
                      local_cg_names[c], k->why);
            continue;
        }
        if (*why) /* v2 failed, v1 holds: say why not v2 */
            agent_log("%s: cgroup v1 instead of v2: %s", local_cg_names[c], why);
        k->where = where;
        k->dir = (int)(d - cg->dirs);
    }
    if (cg->ctl[LOCAL_CG_CPU].where != LOCAL_CG_NONE)
        cg_split(cg, &cg->dirs[cg->ctl[LOCAL_CG_CPU].dir]);
}

void cg_attach(cg_state *cg, pid_t pid) {
    char v[32];
    snprintf(v, sizeof v, "%d", (int)pid);
    for (int i = 0; i < cg->ndirs; i++) {
        cg_dir *d = &cg->dirs[i];
        int rc = cg_write(d, cmds_procs(d), v);
        if (!rc) {
            d->attached = 1;
            continue;
        }
        char why[CG_WHY_MAX];
        snprintf(why, sizeof why, "moving the sandbox into %s: %s", d->path, strerror(-rc));
        agent_log("%s", why);
        for (int c = 0; c < LOCAL_CG_COUNT; c++)
            if (cg->ctl[c].dir == i)
                not_enforced(cg, c, why);
    }
}

void cg_enter_agent(cg_state *cg) {
    if (cg->agent_fd < 0)
        return;
    if (write(cg->agent_fd, "0", 1) != 1)
        agent_log("pid 1 stays with the commands' cpu cgroup: %s", strerror(errno));
    close(cg->agent_fd);
    cg->agent_fd = -1;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* SIGKILL every process listed in d's cgroup.procs (v1, or v2 before
 * cgroup.kill); 1 when there was any. */
static int kill_members(const cg_dir *d, const char *sub) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s%s%s", d->path, sub ? "/" : "", sub ? sub : "");
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char *list = dfd >= 0 ? nox__read_file_at(dfd, "cgroup.procs", 1 << 20, NULL) : NULL;
    if (dfd >= 0)
        close(dfd);
    int any = 0;
    for (char *p = list; p && *p;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        if (pid > 1 && pid != getpid()) {
            kill((pid_t)pid, SIGKILL);
            any = 1;
        }
        p = end + strspn(end, "\n");
    }
    free(list);
    return any;
}

void cg_cleanup(cg_state *cg) {
    for (int i = cg->ndirs - 1; i >= 0; i--) {
        cg_dir *d = &cg->dirs[i];
        int pfd = open(d->parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d->fake) {
            /* Not a cgroup: the files are ours, and nothing is in it. */
            int rc = pfd >= 0 ? nox__rm_tree_at(pfd, d->name) : -errno;
            if (rc)
                agent_log("removing %s: %s", d->path, strerror(-rc));
        } else {
            if (d->version == 2 && cg_has(d, "cgroup.kill"))
                cg_write(d, "cgroup.kill", "1");
            /* rmdir answers EBUSY until the killed tasks are gone. */
            int rc = -EBADF;
            for (int t = 0; t < 250 && pfd >= 0; t++) {
                if (d->version == 1 || !cg_has(d, "cgroup.kill")) {
                    kill_members(d, NULL);
                    if (d->split)
                        kill_members(d, CG_AGENT), kill_members(d, CG_CMDS);
                }
                rc = rmdir_cgroup(pfd, d->name);
                if (rc != -EBUSY)
                    break;
                sleep_ms(t < 20 ? 2 : 20);
            }
            if (rc && rc != -ENOENT)
                agent_log("removing the cgroup %s: %s", d->path, strerror(-rc));
        }
        if (pfd >= 0)
            close(pfd);
    }
    cg->ndirs = 0;
    if (cg->cmds_fd >= 0)
        close(cg->cmds_fd);
    if (cg->agent_fd >= 0)
        close(cg->agent_fd);
    cg->cmds_fd = cg->agent_fd = -1;
}

/* ---- reporting ----------------------------------------------------------- */

/* The cpu line: the fair share always, and the cpuLimit when asked. */
static int describe_cpu(const cg_state *cg, nox__buf *out) {
    const cg_ctl *k = &cg->ctl[LOCAL_CG_CPU];
    if (k->where == LOCAL_CG_NONE)
        return nox__buf_printf(out, "%s: %s", k->value ? "not enforced"
                               : "unlimited, and no fair share (a busy sandbox can starve "
                                 "the others and the host)", k->why);
    int split = k->dir >= 0 && cg->dirs[k->dir].split;
    return nox__buf_printf(out, "cgroup v%d %s (%s); a group of its own beside the other "
                           "sandboxes%s", k->where == LOCAL_CG_V2 ? 2 : 1, k->setting,
                           k->value ? "cpuLimit" : "fair share, no cpuLimit",
                           split ? ", the agent in a child cgroup agent/ beside its commands" : "");
}

int cg_describe(const cg_state *cg, int c, const char *rlimit, nox__buf *out) {
    const cg_ctl *k = &cg->ctl[c];
    if (c == LOCAL_CG_CPU)
        return describe_cpu(cg, out);
    if (!k->value)
        return nox__buf_printf(out, "%s", rlimit ? rlimit : "unlimited");
    if (k->where != LOCAL_CG_NONE)
        return nox__buf_printf(out, "cgroup v%d %s%s%s%s", k->where == LOCAL_CG_V2 ? 2 : 1,
                               k->setting, " (whole sandbox)",
                               rlimit ? " + " : "", rlimit ? rlimit : "");
    if (rlimit)
        return nox__buf_printf(out, "%s; whole sandbox not enforced: %s", rlimit, k->why);
    return nox__buf_printf(out, "not enforced: %s", k->why);
}

int cg_describe_dirs(const cg_state *cg, nox__buf *out) {
    int rc = 0, any = 0;
    for (int i = 0; i < cg->ndirs && rc == 0; i++)
        if (cg->dirs[i].attached) /* where the sandbox is: cmds/ when split */
            rc = nox__buf_printf(out, "%s%s%s", any++ ? " " : "", cg->dirs[i].path,
                                 cg->dirs[i].split ? "/" CG_CMDS : "");
    return rc || any ? rc : nox__buf_printf(out, "none");
}

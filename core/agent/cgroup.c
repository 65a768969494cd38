/*
 * cgroup.c - the sandbox's own cgroups, held by agent B (outside).
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
 * B itself stays outside: it must outlive everything in there. The state
 * (g_cg) travels from B to C over their socket after the attach, so D
 * reports what really holds.
 */
#include "agent.h"

#include <cJSON.h>
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

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define CPU_PERIOD 100000 /* us */
#define CPU_MIN_QUOTA 1000

cg_state g_cg;

static int is_cgroupfs(const char *dir) {
    struct statfs sf;
    return statfs(dir, &sf) == 0 &&
           (sf.f_type == CGROUP2_SUPER_MAGIC || sf.f_type == CGROUP_SUPER_MAGIC);
}

/* Write value to dir/file. A directory that is not a cgroup file system
 * (a test's stand-in for a delegated cgroup) gets the file created, and
 * appended to as a cgroup file would take one write after another. */
static int cg_write(const cg_dir *d, const char *file, const char *value) {
    char path[sizeof d->path + 64];
    snprintf(path, sizeof path, "%s/%s", d->path, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | (d->fake ? O_CREAT | O_APPEND : 0),
                  0644);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, value, strlen(value));
    int e = n < 0 ? errno : 0;
    close(fd);
    return n < 0 ? -e : 0;
}

static int cg_has(const cg_dir *d, const char *file) {
    char path[sizeof d->path + 64];
    snprintf(path, sizeof path, "%s/%s", d->path, file);
    return access(path, F_OK) == 0;
}

/* Make parent/nox-<hash> (or reuse the one we already made there). The
 * name is the session's, so a dir left by a killed agent is found again:
 * empty, it is removed and made anew; still in use (the same session id
 * under another base directory), ours gets our pid added. */
static cg_dir *cg_make(const char *parent, int version, char *why, size_t cap) {
    for (int i = 0; i < g_cg.ndirs; i++)
        if (!strcmp(g_cg.dirs[i].parent, parent))
            return &g_cg.dirs[i];
    if (g_cg.ndirs >= CG_MAX_DIRS) {
        snprintf(why, cap, "too many cgroup hierarchies");
        return NULL;
    }
    cg_dir *d = &g_cg.dirs[g_cg.ndirs];
    memset(d, 0, sizeof *d);
    d->version = version;
    d->fake = !is_cgroupfs(parent);
    snprintf(d->parent, sizeof d->parent, "%s", parent);
    snprintf(d->name, sizeof d->name, "nox-%s", g_agent.dir_name + 2);
    for (int attempt = 0; attempt < 2; attempt++) {
        char path[sizeof d->path];
        snprintf(path, sizeof path, "%s/%s", parent, d->name);
        memcpy(d->path, path, sizeof path);
        if (mkdir(d->path, 0755) == 0) {
            g_cg.ndirs++;
            return d;
        }
        if (errno != EEXIST)
            break;
        int pfd = open(d->parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int gone = pfd >= 0 && (d->fake ? nox__rm_tree_at(pfd, d->name) == 0
                                        : unlinkat(pfd, d->name, AT_REMOVEDIR) == 0);
        if (pfd >= 0)
            close(pfd);
        if (gone) {
            agent_log("removed the stale cgroup %s", d->path);
            if (mkdir(d->path, 0755) == 0) {
                g_cg.ndirs++;
                return d;
            }
            break;
        }
        snprintf(d->name, sizeof d->name, "nox-%s-%d", g_agent.dir_name + 2, (int)getpid());
    }
    snprintf(why, cap, "mkdir %.900s: %s", d->path, strerror(errno));
    return NULL;
}

static void not_enforced(int c, const char *why) {
    cg_ctl *k = &g_cg.ctl[c];
    k->where = LOCAL_CG_NONE;
    k->dir = -1;
    snprintf(k->why, sizeof k->why, "%s", why);
}

/* The controller's limit files in d. 0 or -errno (file named in why). */
static int write_limits(int c, const cg_dir *d, char *why, size_t cap) {
    cg_ctl *k = &g_cg.ctl[c];
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
        snprintf(why, cap, "writing %.900s/%s: %s", d->path, file, strerror(-rc));
    return rc;
}

void cg_setup(uint64_t mem_bytes, uint64_t pids, uint64_t cpu_milli) {
    memset(&g_cg, 0, sizeof g_cg);
    local_cg_plan *p = calloc(1, sizeof *p);
    if (!p) {
        for (int c = 0; c < LOCAL_CG_COUNT; c++)
            not_enforced(c, "out of memory");
        return;
    }
    local_cgroup_plan(p);
    g_cg.ctl[LOCAL_CG_MEMORY].value = mem_bytes;
    g_cg.ctl[LOCAL_CG_PIDS].value = pids;
    g_cg.ctl[LOCAL_CG_CPU].value = cpu_milli;
    char why[1100];
    /* The v2 cgroup: membership and cgroup.kill even with no controller. */
    cg_dir *v2 = NULL;
    if (*p->v2_parent && p->v2_writable) {
        v2 = cg_make(p->v2_parent, 2, why, sizeof why);
        if (!v2) {
            agent_log("cannot make the sandbox's cgroup v2: %s", why);
            snprintf(p->v2_why, sizeof p->v2_why, "%.1000s", why);
        }
    }
    for (int c = 0; c < LOCAL_CG_COUNT; c++) {
        cg_ctl *k = &g_cg.ctl[c];
        const char *name = local_cg_names[c];
        k->dir = -1;
        k->where = LOCAL_CG_NONE;
        if (!k->value)
            continue; /* nothing asked: nothing to enforce */
        int where = p->ctl[c].where;
        why[0] = 0;
        if (where == LOCAL_CG_V2 && !v2) {
            snprintf(why, sizeof why, "%.1000s", p->v2_why);
            where = *p->ctl[c].v1_parent ? LOCAL_CG_V1 : LOCAL_CG_NONE;
        }
        if (where == LOCAL_CG_V2 && !p->ctl[c].v2_enabled) {
            cg_dir parent = {.version = 2, .fake = v2->fake};
            snprintf(parent.path, sizeof parent.path, "%s", p->v2_parent);
            char plus[32];
            snprintf(plus, sizeof plus, "+%s", name);
            int rc = cg_write(&parent, "cgroup.subtree_control", plus);
            if (rc) {
                snprintf(why, sizeof why, "enabling %s in %.900s/cgroup.subtree_control: %s",
                         name, p->v2_parent, strerror(-rc));
                where = *p->ctl[c].v1_parent ? LOCAL_CG_V1 : LOCAL_CG_NONE;
            }
        }
        cg_dir *d = NULL;
        if (where == LOCAL_CG_V2)
            d = v2;
        else if (where == LOCAL_CG_V1 && !(d = cg_make(p->ctl[c].v1_parent, 1, why, sizeof why)))
            where = LOCAL_CG_NONE;
        if (d && write_limits(c, d, why, sizeof why) != 0) {
            d = NULL;
            where = LOCAL_CG_NONE;
        }
        if (where == LOCAL_CG_NONE) {
            not_enforced(c, *why ? why : p->ctl[c].why);
            agent_log("warning: the sandbox's %s limit is not enforced by a cgroup: %s", name,
                      k->why);
            continue;
        }
        if (*why) /* v2 failed, v1 holds: say why not v2 */
            agent_log("%s: cgroup v1 instead of v2: %s", name, why);
        k->where = where;
        k->dir = (int)(d - g_cg.dirs);
    }
    free(p);
}

void cg_attach(pid_t pid) {
    char v[32];
    snprintf(v, sizeof v, "%d", (int)pid);
    for (int i = 0; i < g_cg.ndirs; i++) {
        cg_dir *d = &g_cg.dirs[i];
        int rc = cg_write(d, "cgroup.procs", v);
        if (!rc) {
            d->attached = 1;
            continue;
        }
        char why[1100];
        snprintf(why, sizeof why, "moving the sandbox into %.900s: %s", d->path, strerror(-rc));
        agent_log("%s", why);
        for (int c = 0; c < LOCAL_CG_COUNT; c++)
            if (g_cg.ctl[c].dir == i)
                not_enforced(c, why);
    }
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* SIGKILL every process listed in d's cgroup.procs (v1, or v2 before
 * cgroup.kill); 1 when there was any. */
static int kill_members(const cg_dir *d) {
    char path[sizeof d->path + 16];
    snprintf(path, sizeof path, "%s/cgroup.procs", d->path);
    char *list = nox__read_file_at(AT_FDCWD, path, 1 << 20, NULL);
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

void cg_cleanup(void) {
    for (int i = g_cg.ndirs - 1; i >= 0; i--) {
        cg_dir *d = &g_cg.dirs[i];
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
                if (d->version == 1 || !cg_has(d, "cgroup.kill"))
                    kill_members(d);
                rc = unlinkat(pfd, d->name, AT_REMOVEDIR) == 0 ? 0 : -errno;
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
    g_cg.ndirs = 0;
}

/* ---- reporting ----------------------------------------------------------- */

void cg_describe(int c, const char *rlimit, int why_max, char *out, size_t cap) {
    const cg_ctl *k = &g_cg.ctl[c];
    if (!k->value) {
        snprintf(out, cap, "%s", rlimit ? rlimit : "unlimited");
        return;
    }
    if (k->where != LOCAL_CG_NONE) {
        snprintf(out, cap, "cgroup v%d %s%s%s%s", k->where == LOCAL_CG_V2 ? 2 : 1, k->setting,
                 c == LOCAL_CG_CPU ? "" : " (whole sandbox)", rlimit ? " + " : "",
                 rlimit ? rlimit : "");
        return;
    }
    if (rlimit)
        snprintf(out, cap, "%s; whole sandbox not enforced: %.*s", rlimit, why_max, k->why);
    else
        snprintf(out, cap, "not enforced: %.*s", why_max, k->why);
}

void cg_describe_dirs(char *out, size_t cap) {
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; i < g_cg.ndirs && n < cap; i++)
        if (g_cg.dirs[i].attached)
            n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? " " : "", g_cg.dirs[i].path);
    if (!n)
        snprintf(out, cap, "none");
}

/*
 * cgroup_plan.c - where each cgroup controller of a sandbox can be
 * enforced, seen from this process (see cgroup_plan.h). The library
 * reports it in nox_info(); the agent (core/agent/outer_cgroup.c) acts on it.
 */
#include "base/cgroup_plan.h"
#include "base/fsutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

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

/* One line of mountinfo: 1 with the mount point in out when it is the
 * root of the hierarchy asked for. */
static int mount_line(const char *line, const char *ctl, char *out, size_t cap) {
    /* id parent maj:min root mountpoint opts ... - fstype source superopts */
    const char *dash = strstr(line, " - ");
    if (!dash)
        return 0;
    char fstype[32], source[256], super[1024]; /* what a cgroup mount has there */
    if (sscanf(dash + 3, "%31s %255s %1023s", fstype, source, super) != 3)
        return 0;
    if (*ctl ? strcmp(fstype, "cgroup") || !has_item(super, strlen(super), ctl)
             : strcmp(fstype, "cgroup2"))
        return 0;
    char root[PATH_MAX], mnt[PATH_MAX];
    if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2)
        return 0;
    /* Only a mount of the hierarchy's (or our namespace's) root: a bind
     * of a subtree would need path arithmetic we can skip. */
    if (strcmp(root, "/") != 0)
        return 0;
    snprintf(out, cap, "%s", mnt);
    return 1;
}

/* The mount point of the cgroup hierarchy with ctl (v1), or of cgroup2
 * when ctl is "". 0 or -1. */
static int mount_of(const char *mi, const char *ctl, char *out, size_t cap) {
    for (const char *l = mi; l && *l;) {
        const char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l) : strlen(l);
        char *line = strndup(l, len);
        l = nl ? nl + 1 : NULL;
        int found = line && mount_line(line, ctl, out, cap);
        free(line);
        if (found)
            return 0;
    }
    return -1;
}

static char *read_small(const char *dir, const char *file) {
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char *s = dfd >= 0 ? nox__read_file_at(dfd, file, 4096, NULL) : NULL;
    if (dfd >= 0)
        close(dfd);
    return s;
}

int local_cgroupfs_version(const char *dir) {
    struct statfs sf;
    if (statfs(dir, &sf) != 0)
        return 0;
    return sf.f_type == 0x63677270 /* CGROUP2_SUPER_MAGIC */ ? 2
         : sf.f_type == 0x27e0eb /* CGROUP_SUPER_MAGIC */   ? 1
                                                             : 0;
}

void local_cgroup_plan(local_cg_plan *p) {
    char *self = nox__read_file_at(AT_FDCWD, "/proc/self/cgroup", 64 * 1024, NULL);
    char *mi = nox__read_file_at(AT_FDCWD, "/proc/self/mountinfo", 1 << 20, NULL);
    local_cgroup_plan_from(p, self, mi);
    free(self);
    free(mi);
}

void local_cgroup_plan_from(local_cg_plan *p, const char *self, const char *mi) {
    memset(p, 0, sizeof *p);
    uid_t uid = geteuid();
    /* The v2 parent: the delegated cgroup we are told, or our own. */
    const char *env = getenv("NOXRUNNER_CGROUP");
    char mnt[PATH_MAX], path[PATH_MAX];
    if (env && *env) {
        struct stat st;
        p->v2_from_env = 1;
        /* A plain directory would take the limit files and hold nothing:
         * only the tests' stand-in tree may be one, and says so. */
        const char *standin = getenv("NOXRUNNER_CGROUP_STANDIN");
        if (env[0] != '/' || stat(env, &st) != 0 || !S_ISDIR(st.st_mode))
            snprintf(p->v2_why, sizeof p->v2_why,
                     "NOXRUNNER_CGROUP=%.900s is not an absolute path of a directory", env);
        else if (local_cgroupfs_version(env) != 2 && !(standin && !strcmp(standin, "1")))
            snprintf(p->v2_why, sizeof p->v2_why,
                     "NOXRUNNER_CGROUP=%.900s is not on a cgroup v2 file system", env);
        else
            snprintf(p->v2_parent, sizeof p->v2_parent, "%.1000s", env);
    } else if (mount_of(mi, "", mnt, sizeof mnt) != 0 || own_path(self, "", path, sizeof path)) {
        snprintf(p->v2_why, sizeof p->v2_why, "no cgroup v2 hierarchy is mounted");
    } else {
        char own[2 * PATH_MAX];
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
        char procs[PATH_MAX + 32];
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
        char v2why[LOCAL_CG_WHY_MAX] = "";
        if (*p->v2_parent && p->v2_writable && ctl && has_word(ctl, name)) {
            char sc[PATH_MAX + 32];
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
        char v1why[LOCAL_CG_WHY_MAX] = "";
        if (mount_of(mi, name, mnt, sizeof mnt) != 0 || own_path(self, name, path, sizeof path)) {
            snprintf(v1why, sizeof v1why, "no cgroup v1 %s hierarchy", name);
        } else {
            char dir[2 * PATH_MAX];
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
            snprintf(p->ctl[c].why, sizeof p->ctl[c].why, "%s; %s", v2why, v1why);
    }
    free(ctl);
    free(sub);
}

int local_cgroup_status(nox__buf *out) {
    local_cg_plan *p = calloc(1, sizeof *p);
    if (!p)
        return NOX_ENOMEM;
    local_cgroup_plan(p);
    int rc;
    if (*p->v2_parent && p->v2_writable)
        rc = nox__buf_printf(out, "cgroup v2 %s%s: a cgroup per sandbox (membership, "
                             "cgroup.kill)", p->v2_parent,
                             p->v2_from_env ? " (NOXRUNNER_CGROUP)" : "");
    else
        rc = nox__buf_printf(out, "no cgroup v2 per sandbox: %s", p->v2_why);
    for (int c = 0; c < LOCAL_CG_COUNT && rc == 0; c++) {
        const char *name = local_cg_names[c];
        if (p->ctl[c].where == LOCAL_CG_V2)
            rc = nox__buf_printf(out, "; %s: cgroup v2", name);
        else if (p->ctl[c].where == LOCAL_CG_V1)
            rc = nox__buf_printf(out, "; %s: cgroup v1 under %s", name, p->ctl[c].v1_parent);
        else
            rc = nox__buf_printf(out, "; %s: not enforced (%s)", name, p->ctl[c].why);
    }
    free(p);
    return rc;
}

/* cgroup_plan.h - where a sandbox's cgroup limits can hold (cgroup_plan.c). */
#ifndef NOX_BASE_CGROUP_PLAN_H
#define NOX_BASE_CGROUP_PLAN_H

#include <limits.h>
#include <stddef.h>

#include "base/buf.h"

/* Where each cgroup controller of a sandbox gets enforced from this
 * process's point of view (the agent is started from here and inherits
 * our cgroups and environment): cgroup v2 under a parent that offers the
 * controller (NOXRUNNER_CGROUP, or our own v2 cgroup when it is the root
 * or already delegates), else the controller's v1 hierarchy when we may
 * write there, else nowhere, with the reason. Nothing is created. */
enum { LOCAL_CG_MEMORY, LOCAL_CG_PIDS, LOCAL_CG_CPU, LOCAL_CG_COUNT };
enum { LOCAL_CG_NONE, LOCAL_CG_V1, LOCAL_CG_V2 };
extern const char *const local_cg_names[LOCAL_CG_COUNT]; /* "memory", "pids", "cpu" */
/* Paths are bounded by the kernel's PATH_MAX; a reason holds a path and
 * a few words about it. */
#define LOCAL_CG_WHY_MAX (PATH_MAX + 256)
typedef struct local_cg_plan {
    char v2_parent[PATH_MAX]; /* "" when there is none */
    int v2_writable;      /* a cgroup per sandbox can be made under it */
    int v2_from_env;      /* v2_parent is $NOXRUNNER_CGROUP */
    char v2_why[LOCAL_CG_WHY_MAX]; /* why no (writable) v2 parent */
    struct {
        int where;            /* LOCAL_CG_* */
        int v2_enabled;       /* already in the v2 parent's subtree_control */
        char v1_parent[PATH_MAX]; /* our own cgroup in the v1 hierarchy, if writable */
        char why[2 * LOCAL_CG_WHY_MAX + 8]; /* where == LOCAL_CG_NONE: why not v2; why not v1 */
    } ctl[LOCAL_CG_COUNT];
} local_cg_plan;
void local_cgroup_plan(local_cg_plan *p);
/* The cgroup version of the file system dir lies on: 2, 1, or 0 when it
 * is no cgroup file system (or cannot be looked at). */
int local_cgroupfs_version(const char *dir);
/* The same from the texts of /proc/self/cgroup and /proc/self/mountinfo
 * (either may be NULL); the directories they name are looked at. */
void local_cgroup_plan_from(local_cg_plan *p, const char *self, const char *mountinfo);
/* The plan in words (the "cgroup" entry of nox_info's limits), appended
 * to out. 0 or NOX_ENOMEM. */
int local_cgroup_status(nox__buf *out);

#endif /* NOX_BASE_CGROUP_PLAN_H */

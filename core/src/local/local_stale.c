/*
 * local_stale.c - what an agent killed outright leaves behind: its
 * sandbox's cgroups.
 *
 * The agent's outer process removes the sandbox's cgroups when the sandbox
 * ends. Killed with SIGKILL, it cannot: everything inside dies with it
 * (parent-death signal, then the pid namespace), but the empty cgroup
 * directories stay, one per hierarchy, until something removes them. The
 * session directory stays too, and whoever finds it stale (create, delete
 * or any call on that session) removes it under the session lock; the
 * cgroups go first: those its meta.json names, and, for an agent killed
 * before it wrote them there (during create), those of the session's
 * name under the parents this process's cgroup plan would use.
 *
 * Only names that can be this session's own (nox-<its hash>, optionally
 * -<pid>) on a cgroup file system are touched, and only by rmdir, which
 * leaves a cgroup with tasks in it alone: a damaged or hostile meta.json
 * cannot make the caller remove any other cgroup.
 */
#include "local/local_impl.h"
#include "base/cgroup_plan.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* name is "nox-<hash>" or "nox-<hash>-<pid>" for the session whose
 * directory is "s-<hash>". */
static int own_name(const char *name, const char *session_dir_name) {
    const char *hash = session_dir_name + strlen(NOX_SESSION_PREFIX);
    size_t hl = strlen(hash);
    if (strncmp(name, "nox-", 4) || strncmp(name + 4, hash, hl))
        return 0;
    const char *rest = name + 4 + hl;
    if (*rest == '-')
        rest += 1 + strspn(rest + 1, "0123456789");
    return *rest == 0;
}

/* path names a cgroup of that session on a cgroup file system. */
static int is_own_cgroup(const char *path, const char *session_dir_name) {
    const char *base = strrchr(path, '/');
    return base && path[0] == '/' && !strstr(path, "/../") &&
           own_name(base + 1, session_dir_name) && local_cgroupfs_version(path) != 0;
}

/* rmdir, which answers EBUSY while tasks are still in it: the sandbox's
 * processes die with its pid 1, so wait up to about a second. Nothing is
 * killed here: a cgroup of the same name may meanwhile belong to a live
 * sandbox of the same session id under another base directory, and
 * rmdir leaves a populated cgroup alone. */
static void rmdir_patiently(const char *path, int tries) {
    for (int t = 1; rmdir(path) != 0 && errno == EBUSY && t < tries; t++) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* tries: how many rmdir attempts 20 ms apart (1: only an empty one goes). */
static void remove_cgroup(const char *path, int tries) {
    /* The agent's and the commands' children of the cpu cgroup first
     * (core/agent/outer_cgroup.c): a cgroup with children stays. */
    static const char *const kids[] = {"agent", "cmds"};
    for (size_t i = 0; i < sizeof kids / sizeof kids[0]; i++) {
        char kid[PATH_MAX + 300];
        snprintf(kid, sizeof kid, "%s/%s", path, kids[i]);
        rmdir_patiently(kid, tries);
    }
    rmdir_patiently(path, tries);
}

/* Every cgroup of the session's name directly under parent. */
static void remove_by_name(const char *parent, const char *session_dir_name, int tries) {
    DIR *d = parent[0] && local_cgroupfs_version(parent) ? opendir(parent) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char path[PATH_MAX + 256];
        if (!own_name(de->d_name, session_dir_name))
            continue;
        snprintf(path, sizeof path, "%s/%s", parent, de->d_name);
        remove_cgroup(path, tries);
    }
    if (d)
        closedir(d);
}

/* Where this process would have made them (an agent inherits our cgroups). */
static void remove_from_plan(const char *session_dir_name, int tries) {
    local_cg_plan *p = malloc(sizeof *p);
    if (!p)
        return;
    local_cgroup_plan(p);
    remove_by_name(p->v2_parent, session_dir_name, tries);
    for (int c = 0; c < LOCAL_CG_COUNT; c++)
        remove_by_name(p->ctl[c].v1_parent, session_dir_name, tries);
    free(p);
}

/* After a delete: what earlier sandboxes of the session left (an agent
 * killed twice in a row can leave a nox-<hash>-<pid> whose removal met
 * its dying tasks, and no later lookup finds it stale). Empty ones only,
 * one try each: a live sandbox of the same id elsewhere is left alone. */
void lsess_sweep_cgroups(const char *session_dir_name) {
    remove_from_plan(session_dir_name, 1);
}

void lsess_remove_stale_cgroups(lsess *s) {
    char *txt = nox__read_file_at(s->dfd, NOX_META_FILE, 64 * 1024, NULL);
    cJSON *j = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    const cJSON *lim = cJSON_GetObjectItemCaseSensitive(j, "limits");
    const cJSON *dirs = cJSON_GetObjectItemCaseSensitive(lim, "cgroups");
    char *list = cJSON_IsString(dirs) ? nox__strdup(dirs->valuestring) : NULL;
    cJSON_Delete(j);
    char *save = NULL;
    for (char *p = list ? strtok_r(list, " ", &save) : NULL; p; p = strtok_r(NULL, " ", &save))
        if (is_own_cgroup(p, s->name))
            remove_cgroup(p, 50);
    free(list);
    remove_from_plan(s->name, 50);
}

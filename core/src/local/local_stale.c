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
 * cgroups its meta.json names go first.
 *
 * meta.json is only trusted for names that can be this session's own
 * (nox-<its hash>, optionally -<pid>) on a cgroup file system, so a
 * damaged or hostile file cannot make the caller kill or remove any other
 * cgroup.
 */
#include "local/local_impl.h"
#include "base/cgroup_plan.h"

#include <cJSON.h>
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

/* path names a cgroup of the session whose directory is "s-<hash>". */
static int is_own_cgroup(const char *path, const char *session_dir_name) {
    const char *base = strrchr(path, '/');
    const char *hash = session_dir_name + strlen(NOX_SESSION_PREFIX);
    size_t hl = strlen(hash);
    if (!base || path[0] != '/' || strstr(path, "/../") || strncmp(base + 1, "nox-", 4) ||
        strncmp(base + 5, hash, hl))
        return 0;
    const char *rest = base + 5 + hl;
    if (*rest == '-')
        rest += 1 + strspn(rest + 1, "0123456789");
    return *rest == 0 && local_cgroupfs_version(path) != 0;
}

/* Kill what may still be in it (normally nothing), then rmdir, which
 * answers EBUSY until the killed tasks are gone: up to about a second. */
static void remove_cgroup(const char *path) {
    char kill_file[PATH_MAX + 16];
    snprintf(kill_file, sizeof kill_file, "%s/cgroup.kill", path);
    int fd = open(kill_file, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)!write(fd, "1", 1);
        close(fd);
    }
    for (int t = 0; t < 50 && rmdir(path) != 0 && errno == EBUSY; t++) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
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
            remove_cgroup(p);
    free(list);
}

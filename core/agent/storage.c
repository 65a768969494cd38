/*
 * storage.c - the workspace's size, for ephemeralStorageLimit.
 *
 * RLIMIT_FSIZE bounds each file; this bounds their sum. The TTL thread
 * measures /workspace every couple of seconds and, like a kubelet evicting
 * a pod over its ephemeral-storage limit, ends the sandbox when the total
 * passes the limit (lifecycle.c). Growth between two checks is bounded
 * by what a sandbox can write in that time, each file by RLIMIT_FSIZE.
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t dir_usage(int dfd, dev_t dev, int depth, uint64_t stop_at) {
    if (depth > 256)
        return 0;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return 0;
    }
    uint64_t sum = 0;
    struct dirent *de;
    while (sum <= stop_at && (de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, ".."))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        sum += (uint64_t)st.st_blocks * 512;
        if (!S_ISDIR(st.st_mode) || st.st_dev != dev)
            continue;
        int sub = openat(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0 && errno == EACCES) {
            /* Sandboxed code may hide a tree behind chmod 0: it is ours. */
            fchmodat(dirfd(d), n, (st.st_mode & 07777) | 0700, 0);
            sub = openat(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (sub >= 0)
            sum += dir_usage(sub, dev, depth + 1, stop_at - sum);
    }
    closedir(d);
    return sum;
}

uint64_t agent_workspace_usage(uint64_t stop_at) {
    int fd = open(NOX_WORKSPACE, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return 0;
    }
    return (uint64_t)st.st_blocks * 512 + dir_usage(fd, st.st_dev, 0, stop_at);
}

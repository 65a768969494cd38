/*
 * ended.c - records of sandboxes that ended on their own (ended.h).
 */
#include "ended.h"

#include "fdio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int nox__ended_record(int base_fd, const char *name, const char *why) {
    if (mkdirat(base_fd, NOX_ENDED_DIR, 0700) != 0 && errno != EEXIST)
        return -errno;
    char line[512], when[32], tmp[96], path[96];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    int n = snprintf(line, sizeof line, "%s (at %s)", why, when);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n >= sizeof line)
        n = (int)sizeof line - 1;
    /* Whole or not at all: a reader never sees half a line. */
    snprintf(tmp, sizeof tmp, NOX_ENDED_DIR "/.%s.%d", name, (int)getpid());
    snprintf(path, sizeof path, NOX_ENDED_DIR "/%s", name);
    int fd = openat(base_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    int rc = nox__write_all(fd, line, (size_t)n);
    close(fd);
    if (rc == 0 && renameat(base_fd, tmp, base_fd, path) != 0)
        rc = -errno;
    if (rc)
        unlinkat(base_fd, tmp, 0);
    return rc;
}

int nox__ended_read(int base_fd, const char *name, char *out, size_t cap) {
    char path[96];
    snprintf(path, sizeof path, NOX_ENDED_DIR "/%s", name);
    int fd = openat(base_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    ssize_t n = cap ? read(fd, out, cap - 1) : -1;
    int e = errno;
    close(fd);
    if (n <= 0)
        return n < 0 ? -e : -ENOENT;
    out[n] = 0;
    return 0;
}

void nox__ended_clear(int base_fd, const char *name) {
    char path[96];
    snprintf(path, sizeof path, NOX_ENDED_DIR "/%s", name);
    unlinkat(base_fd, path, 0);
}

void nox__ended_sweep(int base_fd, int64_t max_age_s) {
    int dfd = openat(base_fd, NOX_ENDED_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return;
    }
    time_t now = time(NULL);
    struct dirent *de;
    struct stat st;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
            continue;
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
            now - st.st_mtime > max_age_s)
            unlinkat(dfd, de->d_name, 0);
    }
    closedir(d);
}

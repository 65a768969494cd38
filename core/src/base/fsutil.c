/* fsutil.c - session naming and careful file operations (library + agent). */
#include "base/fsutil.h"
#include "base/sha256.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

void nox__session_dirname(const char *sid, char out[67]) {
    char hex[65];
    nox__sha256_hex(sid, strlen(sid), hex);
    memcpy(out, NOX_SESSION_PREFIX, 2);
    memcpy(out + 2, hex, 65);
}

void nox__session_podname(const char *sid, char out[17]) {
    char hex[65];
    nox__sha256_hex(sid, strlen(sid), hex);
    memcpy(out, "nox-", 4);
    memcpy(out + 4, hex, 12);
    out[16] = 0;
}

static int rm_contents(int dfd, dev_t dev, const char *keep, int depth);

int nox__rm_tree_at(int dirfd, const char *name) {
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dirfd, name, 0) == 0 || errno == ENOENT ? 0 : -errno;
    /* A directory left read-only (chmod 0 by sandboxed code) cannot be
     * emptied until we may write to it. */
    if ((st.st_mode & 0700) != 0700)
        fchmodat(dirfd, name, 0700, 0);
    int fd = openat(dirfd, name,
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    struct stat dst;
    int rc = 0;
    if (fstat(fd, &dst) != 0)
        rc = -errno;
    else if (dst.st_dev != st.st_dev || dst.st_ino != st.st_ino)
        rc = -EAGAIN; /* swapped while we looked: leave it */
    else
        rc = rm_contents(fd, dst.st_dev, NULL, 0);
    close(fd);
    if (rc)
        return rc;
    return unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT
               ? 0 : -errno;
}

static int rm_contents(int dfd, dev_t dev, const char *keep, int depth) {
    if (depth > 4096)
        return -ELOOP;
    int fd2 = dup(dfd);
    if (fd2 < 0)
        return -errno;
    fcntl(fd2, F_SETFD, FD_CLOEXEC);
    DIR *d = fdopendir(fd2);
    if (!d) {
        int e = errno;
        close(fd2);
        return -e;
    }
    int first = 0;
    struct dirent *de;
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (!de)
            break;
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..") || (keep && !strcmp(n, keep)))
            continue;
        struct stat st;
        if (fstatat(dfd, n, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT && !first)
                first = -errno;
            continue;
        }
        int rc;
        if (S_ISDIR(st.st_mode)) {
            if (st.st_dev != dev) {
                /* Another file system is mounted here: never descend. */
                if (!first)
                    first = -EXDEV;
                continue;
            }
            if ((st.st_mode & 0700) != 0700)
                fchmodat(dfd, n, 0700, 0);
            int sub = openat(dfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                rc = errno == ENOENT ? 0 : -errno;
            } else {
                rc = rm_contents(sub, dev, NULL, depth + 1);
                close(sub);
                if (rc == 0 && unlinkat(dfd, n, AT_REMOVEDIR) != 0 && errno != ENOENT)
                    rc = -errno;
            }
        } else {
            rc = unlinkat(dfd, n, 0) == 0 || errno == ENOENT ? 0 : -errno;
        }
        if (rc && !first)
            first = rc;
    }
    closedir(d);
    return first;
}

int nox__empty_dir_at(int dirfd, const char *keep) {
    struct stat st;
    if (fstat(dirfd, &st) != 0)
        return -errno;
    return rm_contents(dirfd, st.st_dev, keep, 0);
}

int nox__write_file_at(int dirfd, const char *name, const void *data,
                       size_t len, mode_t mode) {
    char tmp[256];
    static int counter;
    int n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    snprintf(tmp, sizeof tmp, ".%s.%d.%d.tmp", name, (int)getpid(), n);
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                    mode);
    if (fd < 0)
        return -errno;
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            close(fd);
            unlinkat(dirfd, tmp, 0);
            return -e;
        }
        p += w;
        left -= (size_t)w;
    }
    if (close(fd) != 0 || renameat(dirfd, tmp, dirfd, name) != 0) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        return -e;
    }
    return 0;
}

char *nox__read_file_at(int dirfd, const char *name, size_t max, size_t *len) {
    /* Session directories may belong to a sandbox's id: a FIFO planted as
     * meta.json must not hang the caller, nor a device be read. */
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = EINVAL;
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = 0;
    while (buf && n < max) {
        ssize_t r = read(fd, buf + n, max - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            errno = e;
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (!buf) {
        errno = ENOMEM;
        return NULL;
    }
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

uint64_t nox__proc_starttime(pid_t pid) {
    return nox__proc_starttime_state(pid, NULL);
}

uint64_t nox__proc_starttime_state(pid_t pid, char *state) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    /* The command name may hold spaces and parentheses: fields start
     * after the last ')'. starttime is field 22; after ')' comes field 3. */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p++;
    if (state)
        *state = p[0] == ' ' ? p[1] : '?';
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return 0;
    }
    return strtoull(p + 1, NULL, 10);
}

int nox__unix_addr(struct sockaddr_un *sa, int dirfd, const char *dir,
                   const char *name) {
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    int n = snprintf(sa->sun_path, sizeof sa->sun_path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof sa->sun_path) {
        if (dirfd < 0)
            return -ENAMETOOLONG;
        n = snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/%s",
                     dirfd, name);
        if (n < 0 || (size_t)n >= sizeof sa->sun_path)
            return -ENAMETOOLONG;
    }
    return (int)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
}

int nox__unix_connect_at(int dirfd, const char *dir, const char *name) {
    struct sockaddr_un sa;
    int alen = nox__unix_addr(&sa, dirfd, dir, name);
    if (alen < 0)
        return alen;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    for (;;) {
        if (connect(fd, (struct sockaddr *)&sa, (socklen_t)alen) == 0)
            return fd;
        if (errno != EINTR)
            break;
    }
    int e = errno;
    close(fd);
    return -e;
}

int nox__write_str_at(int dirfd, const char *path, const char *s, int oflags) {
    int fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC | oflags, 0644);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, s, strlen(s));
    int e = n < 0 ? errno : 0;
    close(fd);
    return n < 0 ? -e : 0;
}

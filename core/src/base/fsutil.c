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

static int rm_contents(int dfd, dev_t dev, const char *keep);

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
        rc = rm_contents(fd, dst.st_dev, NULL);
    close(fd);
    if (rc)
        return rc;
    return unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT
               ? 0 : -errno;
}

/*
 * Removing a tree of any depth (a sandbox can make one deeper than any
 * path or fd budget): one directory open at a time, walking down by name
 * and back up by "..", checked against the device and inode recorded on
 * the way down (a directory moved meanwhile stops the walk: -EAGAIN). The
 * way back lives in a heap array, so neither the stack nor the fd table
 * grows with the depth. Entries that cannot be removed are remembered per
 * directory and not tried again; the first failure is returned.
 */
typedef struct rm_level {
    dev_t dev;
    ino_t ino;
    char *name;     /* in the parent; NULL for the top */
    long pos;       /* telldir() cookie to resume at; -1: the start */
    int resumed;    /* began past the start: read it once more from there */
    int err;        /* first failure in here or below */
    char **skip;    /* entries that failed */
    size_t nskip;
} rm_level;

static void rm_fail(rm_level *l, const char *name, int err) {
    if (!l->err)
        l->err = err;
    char **s = realloc(l->skip, (l->nskip + 1) * sizeof *s);
    char *copy = s ? strdup(name) : NULL;
    if (s)
        l->skip = s;
    if (copy)
        s[l->nskip++] = copy;
}

static int rm_skipped(const rm_level *l, const char *name) {
    for (size_t i = 0; i < l->nskip; i++)
        if (!strcmp(l->skip[i], name))
            return 1;
    return 0;
}

static void rm_level_free(rm_level *l) {
    for (size_t i = 0; i < l->nskip; i++)
        free(l->skip[i]);
    free(l->skip);
    free(l->name);
}

/* Unlink what is not a directory in fd; return (malloc'd) the name of the
 * first directory to empty next, or NULL when none is left. */
static char *rm_scan(int fd, rm_level *l, dev_t dev, const char *keep) {
    int fd2 = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd2 >= 0 ? fdopendir(fd2) : NULL;
    if (!d) {
        if (!l->err)
            l->err = -errno;
        if (fd2 >= 0)
            close(fd2);
        return NULL;
    }
    if (l->pos >= 0) {
        seekdir(d, l->pos);
        l->resumed = 1;
        l->pos = -1;
    }
    char *down = NULL;
    for (;;) {
        struct dirent *de = readdir(d);
        if (!de && l->resumed) {
            /* Offsets may have shifted as entries went: once more. */
            l->resumed = 0;
            rewinddir(d);
            continue;
        }
        if (!de)
            break;
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..") || (keep && !strcmp(n, keep)) ||
            rm_skipped(l, n))
            continue;
        struct stat st;
        if (fstatat(fd, n, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT)
                rm_fail(l, n, -errno);
        } else if (!S_ISDIR(st.st_mode)) {
            if (unlinkat(fd, n, 0) != 0 && errno != ENOENT)
                rm_fail(l, n, -errno);
        } else if (st.st_dev != dev) {
            rm_fail(l, n, -EXDEV); /* another file system is mounted here */
        } else {
            /* Left unwritable (chmod 0 inside): we must write to empty it. */
            if ((st.st_mode & 0700) != 0700)
                fchmodat(fd, n, 0700, 0);
            if (!(down = strdup(n)))
                rm_fail(l, n, -ENOMEM);
            else
                l->pos = telldir(d);
            if (down)
                break;
        }
    }
    closedir(d);
    return down;
}

/* Open name in *fd as the next level down; 0, or -errno (recorded). */
static int rm_down(int *fd, rm_level **lv, size_t *n, size_t *cap, char *name, dev_t dev) {
    rm_level *up = &(*lv)[*n - 1];
    int sub = openat(*fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    int rc = sub < 0 ? -errno : fstat(sub, &st) != 0 ? -errno : st.st_dev != dev ? -EXDEV : 0;
    if (!rc && *n == *cap) {
        rm_level *more = realloc(*lv, 2 * *cap * sizeof *more);
        if (!more)
            rc = -ENOMEM;
        else
            *lv = more, *cap *= 2, up = &(*lv)[*n - 1];
    }
    if (rc) {
        if (rc != -ENOENT)
            rm_fail(up, name, rc);
        free(name);
        if (sub >= 0)
            close(sub);
        return rc;
    }
    (*lv)[(*n)++] = (rm_level){st.st_dev, st.st_ino, name, -1, 0, 0, NULL, 0};
    close(*fd);
    *fd = sub;
    return 0;
}

/* Back to the parent of the level done, removing it there. 0, or -EAGAIN
 * when ".." is not the directory we came down from. */
static int rm_up(int *fd, rm_level *lv, size_t *n) {
    rm_level *done = &lv[*n - 1], *parent = &lv[*n - 2];
    int up = openat(*fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (up < 0 || fstat(up, &st) != 0 || st.st_dev != parent->dev || st.st_ino != parent->ino) {
        if (up >= 0)
            close(up);
        return -EAGAIN;
    }
    close(*fd);
    *fd = up;
    if (!done->err && unlinkat(up, done->name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        done->err = -errno;
    if (done->err)
        rm_fail(parent, done->name, done->err);
    rm_level_free(done);
    (*n)--;
    return 0;
}

static int rm_contents(int dfd, dev_t dev, const char *keep) {
    struct stat st;
    size_t n = 1, cap = 64;
    rm_level *lv = calloc(cap, sizeof *lv);
    int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    if (!lv || fd < 0 || fstat(fd, &st) != 0) {
        int e = !lv ? -ENOMEM : -errno;
        free(lv);
        if (fd >= 0)
            close(fd);
        return e;
    }
    lv[0] = (rm_level){st.st_dev, st.st_ino, NULL, -1, 0, 0, NULL, 0};
    int rc = 0;
    for (;;) {
        char *down = rm_scan(fd, &lv[n - 1], dev, n == 1 ? keep : NULL);
        if (down) {
            rm_down(&fd, &lv, &n, &cap, down, dev);
            continue;
        }
        if (n == 1 || (rc = rm_up(&fd, lv, &n)) != 0)
            break;
    }
    if (!rc)
        rc = lv[0].err;
    while (n > 0)
        rm_level_free(&lv[--n]);
    free(lv);
    close(fd);
    return rc;
}

int nox__empty_dir_at(int dirfd, const char *keep) {
    struct stat st;
    if (fstat(dirfd, &st) != 0)
        return -errno;
    return rm_contents(dirfd, st.st_dev, keep);
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

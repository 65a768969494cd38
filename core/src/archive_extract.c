/*
 * archive_extract.c - safe, streaming extraction of tar and tar.gz.
 *
 * libarchive only parses. Every file is created here with *at() calls
 * relative to an fd of the destination, going down one name at a time
 * with O_NOFOLLOW, so no entry and no symlink met on the way (from the
 * archive or already on disk) can make us write outside the destination.
 * The working directory is never touched: the library is multi-threaded.
 *
 * All or nothing: entries are written into a staging directory inside
 * the destination and moved into place only when the whole archive was
 * read, valid and within its limits (archive_stage.c); on any failure the
 * destination is left as it was.
 *
 * Memory is bounded: input and file data move through two CHUNK buffers.
 * Only the list of directory modes to apply at the end grows, by one
 * small record per directory entry.
 */
#include "archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
/* After the end of the archive, read on so a producer writing the last
 * padding into a pipe is not cut off, but not forever. */
#define MAX_DRAIN (16u * 1024 * 1024)

/* A directory's mode and mtime, applied once its contents are written: a
 * 0555 directory entry must not block the files that follow it. */
typedef struct dir_fix {
    char *path; /* normalized */
    size_t depth;
    size_t seq; /* archive order: of two entries for one directory, the
                   later wins */
    mode_t mode;
    struct timespec mtime; /* tv_nsec == UTIME_OMIT: keep */
} dir_fix;

/* The files this extraction created, by (device, inode): a hardlink may
 * only point at one of them, never at a file that was there before (a
 * link to ~/.ssh/id_rsa inside a directory later uploaded would leak it). */
typedef struct file_id {
    uint64_t dev, ino;
    int used;
} file_id;

typedef struct file_ids {
    file_id *slots;
    size_t cap; /* a power of two */
    size_t count;
} file_ids;

typedef struct extractor {
    struct archive *a;
    nox__read_fn read;
    nox__zread_fn zread; /* instead of read: hands out its own buffers */
    void *read_ctx;
    int read_rc; /* the reader's failure, reported instead of libarchive's */
    nox__gunzip *gz; /* between the reader and libarchive */
    nox_error **err;
    int root;        /* O_PATH fd where entries go: the staging directory */
    uint8_t *inbuf;  /* CHUNK: archive bytes for libarchive */
    nox__archive_limits limits;
    uint64_t bytes;   /* file data extracted so far */
    uint64_t entries; /* entries seen so far */
    dir_fix *fixes;
    size_t nfixes, capfixes;
    file_ids created;
    const char *name; /* the current entry as the archive names it */
} extractor;

/* ---- errors ------------------------------------------------------------- */

/* strerror() may share a buffer between threads; this does not. */
static const char *errstr(int e, char *buf, size_t cap) {
    return strerror_r(e, buf, cap);
}

static int entry_err(extractor *x, int code, const char *fmt, ...)
    NOX_PRINTF(3, 4);

/* An error naming the current entry: archive entry "a/b": <what>. */
static int entry_err(extractor *x, int code, const char *fmt, ...) {
    char *what = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&what, fmt, ap);
    va_end(ap);
    if (n < 0)
        return nox__err(x->err, code, "archive entry \"%s\": %s", x->name,
                        "(out of memory formatting the error)");
    code = nox__err(x->err, code, "archive entry \"%s\": %s", x->name, what);
    free(what);
    return code;
}

static int sys_err(extractor *x, const char *verb, const char *path, int e) {
    char eb[128];
    return entry_err(x, nox__code_from_errno(e), "cannot %s \"%s\": %s", verb,
                     path, errstr(e, eb, sizeof eb));
}

/* libarchive gave up: the reader's own error when it caused that, else
 * the data is bad. */
static int corrupt(extractor *x) {
    if (x->read_rc)
        return nox__err(x->err, x->read_rc, "cannot read the archive");
    const char *msg = archive_error_string(x->a);
    if (!msg)
        msg = "unknown error";
    if (x->name)
        return entry_err(x, NOX_EARCHIVE, "corrupt archive: %s", msg);
    return nox__err(x->err, NOX_EARCHIVE, "corrupt archive: %s", msg);
}

/* ---- names -------------------------------------------------------------- */

/* Refuse name (the entry's own when what is NULL, else e.g. its hardlink
 * target): why is "is absolute" or "escapes the destination". */
static int bad_name(extractor *x, const char *what, const char *name,
                    const char *why) {
    if (!what)
        return entry_err(x, NOX_EARCHIVE, "path %s", why);
    return entry_err(x, NOX_EARCHIVE, "%s \"%s\" %s", what, name, why);
}

/* Reduce an archive name to "a/b/c": "." and empty components go (so do
 * "./" prefixes and trailing slashes). Absolute names and ".." are refused
 * (what: see bad_name). "" means the destination itself. *out is
 * malloc'd. */
static int normalize(extractor *x, const char *name, const char *what,
                     char **out) {
    if (name[0] == '/')
        return bad_name(x, what, name, "is absolute");
    char *p = malloc(strlen(name) + 1);
    if (!p)
        return entry_err(x, NOX_ENOMEM, "out of memory");
    size_t len = 0;
    for (const char *s = name; *s;) {
        const char *end = strchrnul(s, '/');
        size_t n = (size_t)(end - s);
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            free(p);
            return bad_name(x, what, name, "escapes the destination");
        }
        if (n > 0 && !(n == 1 && s[0] == '.')) {
            if (len)
                p[len++] = '/';
            memcpy(p + len, s, n);
            len += n;
        }
        s = *end ? end + 1 : end;
    }
    p[len] = 0;
    *out = p;
    return 0;
}

static size_t depth_of(const char *path) {
    size_t d = *path ? 1 : 0;
    for (; *path; path++)
        d += *path == '/';
    return d;
}

/* A symlink at a path of the given depth may point at target: relative,
 * and resolved lexically from the link's directory it stays inside. ".."
 * is only allowed before the first name: after one ("a/../.."), a symlink
 * at "a" could take the walk somewhere lexical resolution cannot see. */
static int check_symlink_target(extractor *x, const char *target,
                                size_t depth) {
    if (!*target)
        return entry_err(x, NOX_EARCHIVE, "symlink has an empty target");
    if (target[0] == '/')
        return entry_err(x, NOX_EARCHIVE, "symlink target \"%s\" is absolute",
                         target);
    size_t up_left = depth - 1; /* directories above the link's own */
    int seen_name = 0;
    for (const char *s = target; *s;) {
        const char *end = strchrnul(s, '/');
        size_t n = (size_t)(end - s);
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            if (seen_name)
                return entry_err(x, NOX_EARCHIVE,
                                 "symlink target \"%s\" has \"..\" after a "
                                 "name, which another symlink could lead "
                                 "out of the destination",
                                 target);
            if (up_left == 0)
                return entry_err(x, NOX_EARCHIVE,
                                 "symlink target \"%s\" leaves the "
                                 "destination",
                                 target);
            up_left--;
        } else if (n > 0 && !(n == 1 && s[0] == '.')) {
            seen_name = 1;
        }
        s = *end ? end + 1 : end;
    }
    return 0;
}

/* ---- walking the destination -------------------------------------------- */

static void close_dir(extractor *x, int fd) {
    if (fd >= 0 && fd != x->root)
        close(fd);
}

/* prefix could not be opened as a directory: say what is in the way. */
static int not_a_dir(extractor *x, int dfd, const char *comp,
                     const char *prefix) {
    struct stat st;
    if (fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISLNK(st.st_mode))
        return entry_err(x, NOX_EARCHIVE,
                         "\"%s\" is a symlink; refusing to write through it",
                         prefix);
    return entry_err(x, NOX_EARCHIVE, "\"%s\" exists and is not a directory",
                     prefix);
}

/* Open directory comp in dfd (prefix: its path, for messages) without
 * following a symlink, creating it (0755) when missing and create is set. */
static int open_subdir(extractor *x, int dfd, const char *comp,
                       const char *prefix, int create, int *out) {
    for (int tries = 0;; tries++) {
        /* O_PATH: only search permission is needed to go through. */
        int fd = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW |
                                       O_CLOEXEC);
        if (fd >= 0) {
            *out = fd;
            return 0;
        }
        int e = errno;
        if (e == ENOENT && create && tries == 0) {
            if (mkdirat(dfd, comp, 0755) != 0 && errno != EEXIST)
                return sys_err(x, "create", prefix, errno);
            continue;
        }
        if (e == ENOENT)
            return entry_err(x, NOX_EARCHIVE, "\"%s\" does not exist",
                             prefix);
        if (e == ENOTDIR || e == ELOOP)
            return not_a_dir(x, dfd, comp, prefix);
        return sys_err(x, "open", prefix, e);
    }
}

/* Open the directory holding the last name of path (normalized, not
 * empty), one name at a time. *leaf points into path. The fd may be
 * x->root: release it with close_dir(). */
static int open_parent(extractor *x, char *path, int create, int *out_fd,
                       const char **leaf) {
    int fd = x->root;
    char *comp = path;
    for (char *slash = strchr(comp, '/'); slash; slash = strchr(comp, '/')) {
        int next = -1;
        *slash = 0; /* path now names this directory, for messages */
        int rc = open_subdir(x, fd, comp, path, create, &next);
        *slash = '/';
        close_dir(x, fd);
        if (rc != 0)
            return rc;
        fd = next;
        comp = slash + 1;
    }
    *out_fd = fd;
    *leaf = comp;
    return 0;
}

/* Make way for a new entry at leaf: whatever is there goes (a symlink is
 * removed, never followed), except a directory, which the archive may not
 * replace with something else. */
static int clear_way(extractor *x, int pfd, const char *leaf,
                     const char *path) {
    struct stat st;
    if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : sys_err(x, "inspect", path, errno);
    if (S_ISDIR(st.st_mode))
        return entry_err(x, NOX_EARCHIVE,
                         "a directory \"%s\" is in the way", path);
    if (unlinkat(pfd, leaf, 0) != 0 && errno != ENOENT)
        return sys_err(x, "replace", path, errno);
    return 0;
}

/* ---- files created so far ---------------------------------------------- */

static file_id *ids_slot(file_id *slots, size_t cap, uint64_t dev,
                         uint64_t ino) {
    uint64_t h = (ino ^ (dev << 32) ^ (dev >> 32)) * 0x9e3779b97f4a7c15ull;
    size_t i = (size_t)(h >> 20) & (cap - 1);
    while (slots[i].used && !(slots[i].dev == dev && slots[i].ino == ino))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int ids_grow(file_ids *ids) {
    size_t cap = ids->cap ? ids->cap * 2 : 64;
    file_id *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return NOX_ENOMEM;
    for (size_t i = 0; i < ids->cap; i++) {
        file_id *old = &ids->slots[i];
        if (old->used)
            *ids_slot(slots, cap, old->dev, old->ino) = *old;
    }
    free(ids->slots);
    ids->slots = slots;
    ids->cap = cap;
    return 0;
}

static int ids_add(extractor *x, const struct stat *st) {
    file_ids *ids = &x->created;
    if ((ids->count + 1) * 2 > ids->cap && ids_grow(ids) != 0)
        return entry_err(x, NOX_ENOMEM, "out of memory");
    file_id *slot = ids_slot(ids->slots, ids->cap, st->st_dev, st->st_ino);
    if (!slot->used) {
        *slot = (file_id){st->st_dev, st->st_ino, 1};
        ids->count++;
    }
    return 0;
}

static int ids_has(const file_ids *ids, const struct stat *st) {
    return ids->cap &&
           ids_slot(ids->slots, ids->cap, st->st_dev, st->st_ino)->used;
}

/* ---- entries ------------------------------------------------------------ */

static int charge_bytes(extractor *x, uint64_t n) {
    uint64_t max = x->limits.max_bytes;
    if (max && n > max - x->bytes)
        return entry_err(x, NOX_ETOOBIG,
                         "extracting it passes max_bytes (%llu bytes of file "
                         "data)",
                         (unsigned long long)max);
    x->bytes += n;
    return 0;
}

static int pwrite_all(int fd, const uint8_t *p, size_t n, off_t off) {
    while (n) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

/* Write the entry's data into fd straight from libarchive's blocks (no
 * copy of our own), each at its offset: a sparse entry's holes stay
 * holes, and the file ends at the entry's size. */
static int copy_data(extractor *x, int fd, const char *path,
                     uint64_t announced, int64_t size) {
    uint64_t end = 0;
    for (;;) {
        const void *buf;
        size_t n;
        la_int64_t off;
        int r = archive_read_data_block(x->a, &buf, &n, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN || off < 0)
            return corrupt(x);
        if ((uint64_t)off + n > end)
            end = (uint64_t)off + n;
        /* The header's size was charged already; charge anything beyond. */
        if (end > announced) {
            uint64_t extra = end - announced;
            announced = end;
            int rc = charge_bytes(x, extra);
            if (rc != 0)
                return rc;
        }
        int rc = pwrite_all(fd, buf, n, (off_t)off);
        if (rc < 0)
            return sys_err(x, "write", path, -rc);
    }
    if (size > 0 && end < (uint64_t)size && ftruncate(fd, (off_t)size) != 0)
        return sys_err(x, "write", path, errno);
    return 0;
}

static void set_times(int fd, struct archive_entry *e) {
    if (!archive_entry_mtime_is_set(e))
        return;
    struct timespec t[2] = {
        {.tv_sec = 0, .tv_nsec = UTIME_OMIT},
        {.tv_sec = archive_entry_mtime(e),
         .tv_nsec = archive_entry_mtime_nsec(e)},
    };
    /* Best effort, as with tar: the data is what matters. */
    (void)futimens(fd, t);
}

/* Create path as a new empty file: O_EXCL|O_NOFOLLOW, so neither a file
 * nor a symlink already there is ever written through; they are replaced. */
static int create_file(extractor *x, int pfd, const char *leaf,
                       const char *path, int *out) {
    for (int tries = 0;; tries++) {
        int fd = openat(pfd, leaf,
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        0600);
        if (fd >= 0) {
            *out = fd;
            return 0;
        }
        if (errno != EEXIST || tries > 0)
            return sys_err(x, "create", path, errno);
        int rc = clear_way(x, pfd, leaf, path);
        if (rc != 0)
            return rc;
    }
}

static int write_file(extractor *x, struct archive_entry *e, int fd,
                      const char *path, uint64_t size) {
    struct stat st;
    if (fstat(fd, &st) != 0)
        return sys_err(x, "inspect", path, errno);
    int rc = ids_add(x, &st);
    if (rc == 0)
        rc = copy_data(x, fd, path, size, (int64_t)size);
    /* Set after writing, so a read-only mode does not get in the way;
     * fchmod, so the umask does not change it. No setuid/setgid/sticky. */
    if (rc == 0 && fchmod(fd, archive_entry_perm(e) & 0777) != 0)
        rc = sys_err(x, "set the mode of", path, errno);
    if (rc == 0)
        set_times(fd, e);
    return rc;
}

static int extract_file(extractor *x, struct archive_entry *e, char *path) {
    int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    if (size < 0)
        size = 0;
    int rc = charge_bytes(x, (uint64_t)size);
    int pfd = -1, fd = -1;
    const char *leaf = NULL;
    if (rc == 0)
        rc = open_parent(x, path, 1, &pfd, &leaf);
    if (rc == 0)
        rc = create_file(x, pfd, leaf, path, &fd);
    if (rc == 0)
        rc = write_file(x, e, fd, path, (uint64_t)size);
    if (fd >= 0 && close(fd) != 0 && rc == 0)
        rc = sys_err(x, "write", path, errno);
    close_dir(x, pfd);
    return rc;
}

static int defer_dir_fix(extractor *x, struct archive_entry *e,
                         const char *path) {
    if (x->nfixes == x->capfixes) {
        size_t cap = x->capfixes ? x->capfixes * 2 : 16;
        dir_fix *f = realloc(x->fixes, cap * sizeof *f);
        if (!f)
            return entry_err(x, NOX_ENOMEM, "out of memory");
        x->fixes = f;
        x->capfixes = cap;
    }
    dir_fix *f = &x->fixes[x->nfixes];
    f->path = nox__strdup(path);
    if (!f->path)
        return entry_err(x, NOX_ENOMEM, "out of memory");
    f->depth = depth_of(path);
    f->seq = x->nfixes;
    f->mode = archive_entry_perm(e) & 0777;
    f->mtime.tv_sec = archive_entry_mtime(e);
    f->mtime.tv_nsec = archive_entry_mtime_is_set(e)
                           ? archive_entry_mtime_nsec(e)
                           : UTIME_OMIT;
    x->nfixes++;
    return 0;
}

static int extract_dir(extractor *x, struct archive_entry *e, char *path) {
    int pfd = -1;
    const char *leaf = NULL;
    int rc = open_parent(x, path, 1, &pfd, &leaf);
    /* Owner rwx until the fix at the end, so the contents can go in. */
    mode_t mode = (archive_entry_perm(e) & 0777) | 0700;
    for (int tries = 0; rc == 0; tries++) {
        if (mkdirat(pfd, leaf, mode) == 0)
            break;
        struct stat st;
        if (errno != EEXIST || tries > 0) {
            rc = sys_err(x, "create", path, errno);
        } else if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = sys_err(x, "inspect", path, errno);
        } else if (S_ISDIR(st.st_mode)) {
            break; /* already there: its mode is fixed at the end */
        } else {
            rc = clear_way(x, pfd, leaf, path);
        }
    }
    close_dir(x, pfd);
    return rc == 0 ? defer_dir_fix(x, e, path) : rc;
}

static int extract_symlink(extractor *x, struct archive_entry *e,
                           char *path) {
    const char *target = archive_entry_symlink(e);
    int rc = check_symlink_target(x, target ? target : "", depth_of(path));
    int pfd = -1;
    const char *leaf = NULL;
    if (rc == 0)
        rc = open_parent(x, path, 1, &pfd, &leaf);
    for (int tries = 0; rc == 0; tries++) {
        if (symlinkat(target, pfd, leaf) == 0)
            break;
        if (errno != EEXIST || tries > 0)
            rc = sys_err(x, "create", path, errno);
        else
            rc = clear_way(x, pfd, leaf, path);
    }
    close_dir(x, pfd);
    return rc;
}

/* Link path to target: a file an earlier entry created (checked by the
 * caller), reached without a symlink. */
static int link_to(extractor *x, int tpfd, const char *tleaf, char *path) {
    int pfd = -1;
    const char *leaf = NULL;
    int rc = open_parent(x, path, 1, &pfd, &leaf);
    for (int tries = 0; rc == 0; tries++) {
        /* flags 0: link the name itself, never what a symlink points to */
        if (linkat(tpfd, tleaf, pfd, leaf, 0) == 0)
            break;
        if (errno != EEXIST || tries > 0)
            rc = sys_err(x, "create", path, errno);
        else
            rc = clear_way(x, pfd, leaf, path);
    }
    close_dir(x, pfd);
    return rc;
}

static int extract_hardlink(extractor *x, const char *hardlink, char *path) {
    char *target = NULL;
    int rc = normalize(x, hardlink, "hardlink target", &target);
    if (rc != 0)
        return rc;
    int tpfd = -1;
    const char *tleaf = NULL;
    struct stat st;
    if (!*target)
        rc = entry_err(x, NOX_EARCHIVE, "hardlink target \"%s\" is not a file",
                       hardlink);
    if (rc == 0)
        rc = open_parent(x, target, 0, &tpfd, &tleaf);
    if (rc == 0 && (fstatat(tpfd, tleaf, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
                    !S_ISREG(st.st_mode) || !ids_has(&x->created, &st)))
        rc = entry_err(x, NOX_EARCHIVE,
                       "hardlink target \"%s\" is not a file extracted before",
                       hardlink);
    /* GNU tar stores a name listed twice as a link to itself: done. */
    if (rc == 0 && strcmp(target, path) != 0)
        rc = link_to(x, tpfd, tleaf, path);
    close_dir(x, tpfd);
    free(target);
    return rc;
}

static int extract_entry(extractor *x, struct archive_entry *e) {
    x->entries++;
    uint64_t max = x->limits.max_entries;
    if (max && x->entries > max)
        return entry_err(x, NOX_ETOOBIG,
                         "the archive has more than max_entries (%llu) entries",
                         (unsigned long long)max);
    char *path = NULL;
    int rc = normalize(x, x->name, NULL, &path);
    if (rc != 0)
        return rc;
    const char *hardlink = archive_entry_hardlink(e);
    if (!*path) {
        rc = 0; /* "." or "./": the destination itself */
    } else if (hardlink) {
        rc = extract_hardlink(x, hardlink, path);
    } else {
        switch (archive_entry_filetype(e)) {
        case AE_IFREG:
            rc = extract_file(x, e, path);
            break;
        case AE_IFDIR:
            rc = extract_dir(x, e, path);
            break;
        case AE_IFLNK:
            rc = extract_symlink(x, e, path);
            break;
        case AE_IFCHR:
            rc = entry_err(x, NOX_EARCHIVE, "character devices are refused");
            break;
        case AE_IFBLK:
            rc = entry_err(x, NOX_EARCHIVE, "block devices are refused");
            break;
        case AE_IFIFO:
            rc = entry_err(x, NOX_EARCHIVE, "FIFOs are refused");
            break;
        case AE_IFSOCK:
            rc = entry_err(x, NOX_EARCHIVE, "sockets are refused");
            break;
        default:
            rc = entry_err(x, NOX_EARCHIVE, "unsupported entry type 0%o",
                           (unsigned)archive_entry_filetype(e));
            break;
        }
    }
    free(path);
    return rc;
}

/* ---- directory modes, last ---------------------------------------------- */

/* Deepest first, so no directory is closed before what is inside it is
 * done; the same directory twice: archive order. */
static int fix_order(const void *pa, const void *pb) {
    const dir_fix *a = pa, *b = pb;
    if (a->depth != b->depth)
        return a->depth > b->depth ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int apply_fix(extractor *x, dir_fix *f) {
    int pfd = -1;
    const char *leaf = NULL;
    x->name = f->path;
    int rc = open_parent(x, f->path, 0, &pfd, &leaf);
    if (rc != 0)
        return rc;
    struct timespec t[2] = {{.tv_sec = 0, .tv_nsec = UTIME_OMIT}, f->mtime};
    int fd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        if (fchmod(fd, f->mode) != 0)
            rc = sys_err(x, "set the mode of", f->path, errno);
        (void)futimens(fd, t); /* best effort, as with tar */
        close(fd);
    } else if (errno == EACCES) {
        /* Not readable (a directory that was already there): change it by
         * name, still without following a symlink. */
        if (fchmodat(pfd, leaf, f->mode, AT_SYMLINK_NOFOLLOW) != 0)
            rc = sys_err(x, "set the mode of", f->path, errno);
        (void)utimensat(pfd, leaf, t, AT_SYMLINK_NOFOLLOW);
    } else if (errno != ELOOP && errno != ENOTDIR && errno != ENOENT) {
        /* (Replaced or removed by someone else meanwhile: not ours.) */
        rc = sys_err(x, "open", f->path, errno);
    }
    close_dir(x, pfd);
    return rc;
}

static int apply_fixes(extractor *x) {
    if (x->nfixes == 0)
        return 0; /* (qsort must not see a NULL array) */
    qsort(x->fixes, x->nfixes, sizeof *x->fixes, fix_order);
    for (size_t i = 0; i < x->nfixes; i++) {
        int rc = apply_fix(x, &x->fixes[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- the stream --------------------------------------------------------- */

/* One chunk of archive for libarchive: copied into inbuf from a reader,
 * or lent by a zero-copy reader until the next call. */
static int next_chunk(extractor *x, const uint8_t **p, size_t *got, nox_error **err) {
    if (x->zread)
        return x->zread(x->read_ctx, p, got, err);
    *p = x->inbuf;
    return x->read(x->read_ctx, x->inbuf, CHUNK, got, err);
}

static int next_chunk_cb(void *ctx, const uint8_t **p, size_t *got, nox_error **err) {
    return next_chunk(ctx, p, got, err);
}

static la_ssize_t read_cb(struct archive *a, void *ctx, const void **buf) {
    extractor *x = ctx;
    size_t got = 0;
    const uint8_t *p = NULL;
    int rc = nox__gunzip_read(x->gz, &p, &got, x->err);
    if (rc == NOX_EARCHIVE && x->name) /* bad data inside this entry */
        nox__err_prefix(x->err, "archive entry \"%s\"", x->name);
    if (rc != 0) {
        x->read_rc = rc;
        archive_set_error(a, EIO, "cannot read the archive");
        return -1;
    }
    *buf = p;
    return (la_ssize_t)got;
}

static void drain(extractor *x) {
    uint64_t total = 0;
    while (total < MAX_DRAIN) {
        size_t got = 0;
        const uint8_t *p;
        nox_error *ignored = NULL;
        int rc = next_chunk(x, &p, &got, &ignored);
        nox_error_free(ignored);
        if (rc != 0 || got == 0)
            return;
        total += got;
    }
}

static int extract_all(extractor *x) {
    for (;;) {
        struct archive_entry *e = NULL;
        x->name = NULL;
        int r = archive_read_next_header(x->a, &e);
        if (r == ARCHIVE_EOF)
            return 0;
        /* ARCHIVE_WARN only says a name is not valid in the current
         * locale; it is then kept as raw bytes, which is what we want. */
        if (r < ARCHIVE_WARN)
            return corrupt(x);
        x->name = archive_entry_pathname(e);
        if (!x->name) {
            x->name = "";
            return entry_err(x, NOX_EARCHIVE, "entry without a name");
        }
        int rc = extract_entry(x, e);
        if (rc != 0)
            return rc;
    }
}

static int open_reader(extractor *x) {
    x->a = archive_read_new();
    x->gz = nox__gunzip_new(next_chunk_cb, x);
    if (!x->zread)
        x->inbuf = malloc(CHUNK);
    if (!x->a || !x->gz || (!x->zread && !x->inbuf))
        return nox__err(x->err, NOX_ENOMEM, "out of memory");
    /* Tar in all its variants, and no formats we never produce. gzip is
     * undone in front of libarchive (archive_gunzip.c), which checks the
     * trailers that libarchive's own filter skips. */
    if (archive_read_support_filter_none(x->a) != ARCHIVE_OK ||
        archive_read_support_format_tar(x->a) != ARCHIVE_OK)
        return nox__err(x->err, NOX_EUNSUPPORTED,
                        "libarchive cannot read tar.gz: %s",
                        archive_error_string(x->a));
    if (archive_read_open(x->a, x, NULL, read_cb, NULL) != ARCHIVE_OK)
        return corrupt(x);
    return 0;
}

static const char *fix_path_at(void *ctx, size_t i) {
    return ((extractor *)ctx)->fixes[i].path;
}

static int extract(nox__read_fn read, nox__zread_fn zread, void *read_ctx,
                   const char *dest_dir, const nox__archive_limits *limits, nox_error **err) {
    if ((!read && !zread) || !dest_dir || !*dest_dir)
        return nox__err(err, NOX_EINVAL, "no archive or destination");
    extractor x;
    memset(&x, 0, sizeof x);
    x.read = read;
    x.zread = zread;
    x.read_ctx = read_ctx;
    x.err = err;
    x.root = -1;
    if (limits)
        x.limits = *limits;
    nox__stage st;
    int rc = nox__stage_open(&st, dest_dir, err);
    x.root = st.fd;
    if (rc == 0)
        rc = open_reader(&x);
    if (rc == 0)
        rc = extract_all(&x);
    if (rc == 0)
        rc = nox__gunzip_finish(x.gz, MAX_DRAIN, err);
    nox__stage_dirs dirs = {x.nfixes, fix_path_at, &x};
    if (rc == 0)
        rc = nox__stage_commit(&st, &dirs, err);
    x.root = st.dest; /* the directory modes, on what moved into place */
    if (rc == 0)
        rc = apply_fixes(&x);
    if (rc == 0)
        drain(&x);
    nox__stage_abort(&st);
    if (x.a)
        archive_read_free(x.a);
    nox__gunzip_free(x.gz);
    for (size_t i = 0; i < x.nfixes; i++)
        free(x.fixes[i].path);
    free(x.fixes);
    free(x.created.slots);
    free(x.inbuf);
    return rc;
}

int nox__archive_extract(nox__read_fn read, void *read_ctx, const char *dest_dir,
                         const nox__archive_limits *limits, nox_error **err) {
    return extract(read, NULL, read_ctx, dest_dir, limits, err);
}

int nox__archive_extract_z(nox__zread_fn zread, void *read_ctx, const char *dest_dir,
                           const nox__archive_limits *limits, nox_error **err) {
    return extract(NULL, zread, read_ctx, dest_dir, limits, err);
}

int nox__archive_extract_fd(int fd, const char *dest_dir,
                            const nox__archive_limits *limits,
                            nox_error **err) {
    if (fd < 0)
        return nox__err(err, NOX_EINVAL, "no archive to read (fd %d)", fd);
    int fdv = fd;
    return nox__archive_extract(nox__read_fd_fn, &fdv, dest_dir, limits, err);
}

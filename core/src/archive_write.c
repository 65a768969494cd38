/*
 * archive_write.c - tar.gz writers: an in-memory file set, or a directory
 * tree walked without ever following a symlink.
 *
 * libarchive's gzip filter hands its output to writer_cb in blocks of
 * bytes_per_block, which go straight into the caller's sink, and file data
 * is copied in CHUNK-sized pieces, so memory stays flat however large the
 * archive grows. The format is restricted pax: plain ustar headers where
 * they suffice, pax extensions only for long names or files over 8 GiB.
 */
#include "archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define BLOCK 10240 /* what the sink receives at a time (gzip) */
#define PLAIN_BLOCK (256 * 1024) /* the same for a plain tar: one frame */

typedef struct writer {
    struct archive *a;
    struct archive_entry *entry; /* reused for every entry */
    nox__sink *sink;
    nox_error **err;
    int sink_rc; /* the sink's failure, reported instead of libarchive's */
    int aborted; /* stop forwarding: a truncated archive must not look whole */
    uint8_t *chunk; /* CHUNK bytes for file data read from disk */
} writer;

/* strerror() may share a buffer between threads; this does not. */
static const char *errstr(int e, char *buf, size_t cap) {
    return strerror_r(e, buf, cap);
}

static int sys_fail(writer *w, const char *what, const char *path, int e) {
    char eb[128];
    return nox__err(w->err, nox__code_from_errno(e), "cannot %s \"%s\": %s",
                    what, path, errstr(e, eb, sizeof eb));
}

static la_ssize_t writer_cb(struct archive *a, void *ctx, const void *data,
                            size_t len) {
    writer *w = ctx;
    if (w->aborted)
        return (la_ssize_t)len;
    int rc = w->sink->write(w->sink->ctx, data, len, w->err);
    if (rc != 0) {
        w->sink_rc = rc;
        archive_set_error(a, EIO, "the archive's consumer failed");
        return -1;
    }
    return (la_ssize_t)len;
}

/* Report a libarchive failure; when the sink caused it, its own error
 * (already stored by the sink, or a generic one) wins. */
static int archive_fail(writer *w, const char *name) {
    if (w->sink_rc)
        return nox__err(w->err, w->sink_rc, "cannot send the archive");
    int e = archive_errno(w->a);
    int code = e == ENOMEM ? NOX_ENOMEM : NOX_EIO;
    const char *msg = archive_error_string(w->a);
    if (name)
        return nox__err(w->err, code, "cannot archive \"%s\": %s", name,
                        msg ? msg : "unknown error");
    return nox__err(w->err, code, "cannot write the archive: %s",
                    msg ? msg : "unknown error");
}

static void writer_free(writer *w) {
    /* archive_write_free() closes first, which would flush the end of the
     * archive: drop that, so a failed stream stays visibly truncated. */
    w->aborted = 1;
    if (w->a)
        archive_write_free(w->a);
    archive_entry_free(w->entry);
    free(w->chunk);
    w->a = NULL;
    w->entry = NULL;
    w->chunk = NULL;
}

static int writer_open(writer *w, nox__sink *sink, int level, nox_error **err) {
    memset(w, 0, sizeof *w);
    w->sink = sink;
    w->err = err;
    w->a = archive_write_new();
    w->entry = archive_entry_new();
    w->chunk = malloc(CHUNK);
    if (!w->a || !w->entry || !w->chunk) {
        writer_free(w);
        return nox__err(err, NOX_ENOMEM, "out of memory creating an archive");
    }
    struct archive *a = w->a;
    char lv[2] = {(char)('0' + (level < 0 ? 0 : level > 9 ? 9 : level)), 0};
    /* A plain tar goes out in big blocks (each one a write to a socket);
     * gzip output is small already. No padding after the gzip trailer or
     * the tar's end blocks: the stream ends where its data does. */
    int filter_ok = level == NOX__TAR_PLAIN
                        ? archive_write_add_filter_none(a) == ARCHIVE_OK
                        : archive_write_add_filter_gzip(a) == ARCHIVE_OK &&
                              archive_write_set_filter_option(a, "gzip", "compression-level",
                                                              lv) == ARCHIVE_OK;
    if (!filter_ok ||
        archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(a, level == NOX__TAR_PLAIN ? PLAIN_BLOCK : BLOCK) !=
            ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
        archive_write_open2(a, w, NULL, writer_cb, NULL, NULL) != ARCHIVE_OK) {
        int rc = archive_fail(w, NULL);
        writer_free(w);
        return rc;
    }
    return 0;
}

/* Finish the archive when everything went well (rc == 0), free it always. */
static int writer_finish(writer *w, int rc) {
    if (rc == 0 && archive_write_close(w->a) != ARCHIVE_OK)
        rc = archive_fail(w, NULL);
    writer_free(w);
    return rc;
}

static int put_header(writer *w, const char *name, mode_t type, mode_t perm,
                      int64_t size, const struct timespec *mtime,
                      const char *symlink) {
    struct archive_entry *e = archive_entry_clear(w->entry);
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm & 07777);
    archive_entry_set_size(e, size);
    archive_entry_set_mtime(e, mtime->tv_sec, mtime->tv_nsec);
    if (symlink)
        archive_entry_set_symlink(e, symlink);
    /* ARCHIVE_WARN only says a name is not valid in the current locale;
     * it is then stored as raw bytes, which is what we want. */
    if (archive_write_header(w->a, e) < ARCHIVE_WARN)
        return archive_fail(w, name);
    return 0;
}

static int put_data(writer *w, const char *name, const uint8_t *data,
                    size_t len) {
    while (len > 0) {
        size_t n = len < CHUNK ? len : CHUNK;
        la_ssize_t put = archive_write_data(w->a, data, n);
        if (put <= 0)
            return archive_fail(w, name);
        data += put;
        len -= (size_t)put;
    }
    return 0;
}

/* ---- in-memory file sets ------------------------------------------------ */

/* Names already in the archive, so each parent directory is added once and
 * a name used both as a file and as a directory is caught. */
enum { KIND_FILE = 1, KIND_DIR = 2 };

typedef struct name_slot {
    char *name; /* NULL: empty */
    int kind;
} name_slot;

typedef struct name_set {
    name_slot *slots;
    size_t cap; /* a power of two */
    size_t count;
} name_set;

static uint64_t name_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static name_slot *set_slot(name_slot *slots, size_t cap, const char *s,
                           size_t n) {
    size_t i = (size_t)name_hash(s, n) & (cap - 1);
    while (slots[i].name &&
           !(strncmp(slots[i].name, s, n) == 0 && slots[i].name[n] == 0))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int set_grow(name_set *set) {
    size_t cap = set->cap ? set->cap * 2 : 64;
    name_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return NOX_ENOMEM;
    for (size_t i = 0; i < set->cap; i++) {
        name_slot *old = &set->slots[i];
        if (old->name)
            *set_slot(slots, cap, old->name, strlen(old->name)) = *old;
    }
    free(set->slots);
    set->slots = slots;
    set->cap = cap;
    return 0;
}

/* Record s[0..n) with kind; *had gets the kind it already had (0: new). */
static int set_note(name_set *set, const char *s, size_t n, int kind,
                    int *had) {
    if ((set->count + 1) * 2 > set->cap && set_grow(set) != 0)
        return NOX_ENOMEM;
    name_slot *slot = set_slot(set->slots, set->cap, s, n);
    *had = slot->name ? slot->kind : 0;
    if (slot->name)
        return 0;
    slot->name = nox__strndup(s, n);
    if (!slot->name)
        return NOX_ENOMEM;
    slot->kind = kind;
    set->count++;
    return 0;
}

static void set_free(name_set *set) {
    for (size_t i = 0; i < set->cap; i++)
        free(set->slots[i].name);
    free(set->slots);
}

static int note_name(writer *w, name_set *set, const char *path, size_t n,
                     int kind, int *had) {
    if (set_note(set, path, n, kind, had) != 0)
        return nox__err(w->err, NOX_ENOMEM, "out of memory archiving \"%s\"",
                        path);
    if (*had && (*had != kind || kind == KIND_FILE))
        return nox__err(w->err, NOX_EINVAL,
                        "\"%.*s\" is in the file set twice, or both as a "
                        "file and as a directory",
                        (int)n, path);
    return 0;
}

/* Add a 0755 entry for every parent directory of path not added yet. */
static int add_parents(writer *w, name_set *set, const char *path,
                       const struct timespec *now) {
    for (const char *slash = strchr(path, '/'); slash;
         slash = strchr(slash + 1, '/')) {
        size_t n = (size_t)(slash - path);
        int had = 0;
        int rc = note_name(w, set, path, n, KIND_DIR, &had);
        if (rc != 0)
            return rc;
        if (had)
            continue;
        char *name = nox__asprintf("%.*s/", (int)n, path);
        if (!name)
            return nox__err(w->err, NOX_ENOMEM, "out of memory");
        rc = put_header(w, name, AE_IFDIR, 0755, 0, now, NULL);
        free(name);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int add_file_item(writer *w, name_set *set, const nox__file_entry *f,
                         const struct timespec *now) {
    int had = 0;
    int rc = add_parents(w, set, f->path, now);
    if (rc == 0)
        rc = note_name(w, set, f->path, strlen(f->path), KIND_FILE, &had);
    if (rc == 0)
        rc = put_header(w, f->path, AE_IFREG, f->mode ? f->mode : 0644,
                        (int64_t)f->len, now, NULL);
    if (rc == 0)
        rc = put_data(w, f->path, f->data, f->len);
    return rc;
}

int nox__archive_write_files(const nox_files *files, nox__sink *sink,
                             nox_error **err) {
    return nox__archive_write_files_level(files, NOX__GZIP_DEFAULT, sink, err);
}

int nox__archive_write_files_level(const nox_files *files, int level, nox__sink *sink,
                                   nox_error **err) {
    if (!files || !sink)
        return nox__err(err, NOX_EINVAL, "no file set or sink to archive");
    writer w;
    int rc = writer_open(&w, sink, level, err);
    if (rc != 0)
        return rc;
    name_set set = {0};
    /* Whole seconds: sub-second times would cost a pax header per entry. */
    struct timespec now = {.tv_sec = time(NULL), .tv_nsec = 0};
    for (size_t i = 0; rc == 0 && i < files->count; i++)
        rc = add_file_item(&w, &set, &files->items[i], &now);
    set_free(&set);
    return writer_finish(&w, rc);
}

/* ---- directory trees ---------------------------------------------------- */

/* The relative name of the entry being walked, grown and cut back as the
 * walk goes down and up. */
typedef struct relpath {
    char *s;
    size_t len;
    size_t cap;
} relpath;

/* Append "/name" (or "name" at the top); returns the old length, to cut
 * back to, or (size_t)-1 when out of memory. */
static size_t rel_push(relpath *p, const char *name) {
    size_t old = p->len, n = strlen(name), need = old + n + 3;
    if (need > p->cap) {
        size_t cap = p->cap ? p->cap : 256;
        while (cap < need)
            cap *= 2;
        char *s = realloc(p->s, cap);
        if (!s)
            return (size_t)-1;
        p->s = s;
        p->cap = cap;
    }
    if (old)
        p->s[p->len++] = '/';
    memcpy(p->s + p->len, name, n + 1);
    p->len += n;
    return old;
}

static void rel_cut(relpath *p, size_t len) {
    p->len = len;
    p->s[len] = 0;
}

static int walk_dir(writer *w, int fd, relpath *rel);

static int add_dir(writer *w, int dfd, const char *name, relpath *rel) {
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        /* Gone, or replaced by a symlink or file since we looked: it is no
         * longer the directory we saw, so it is not ours to archive. */
        if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)
            return 0;
        return sys_fail(w, "open", rel->s, errno);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return sys_fail(w, "stat", rel->s, e);
    }
    /* A directory entry's name ends in '/'; rel has room for it. */
    size_t len = rel->len;
    memcpy(rel->s + len, "/", 2);
    int rc = put_header(w, rel->s, AE_IFDIR, st.st_mode, 0, &st.st_mtim, NULL);
    rel_cut(rel, len);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return walk_dir(w, fd, rel);
}

/* Copy size bytes of fd into the current entry. A file that shrank while
 * we read it is padded with zeros by libarchive; one that grew is cut at
 * the size the header announced. */
static int copy_file_data(writer *w, int fd, const char *name, off_t size) {
    uint64_t left = (uint64_t)size;
    while (left > 0) {
        size_t want = left < CHUNK ? (size_t)left : CHUNK;
        ssize_t got = read(fd, w->chunk, want);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return sys_fail(w, "read", name, errno);
        if (got == 0)
            break;
        int rc = put_data(w, name, w->chunk, (size_t)got);
        if (rc != 0)
            return rc;
        left -= (uint64_t)got;
    }
    return 0;
}

static int add_file(writer *w, int dfd, const char *name, relpath *rel) {
    /* O_NONBLOCK: a FIFO swapped in since the stat must not block us. */
    int fd = openat(dfd, name,
                    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        /* Gone, or swapped for a symlink or socket since we looked. */
        if (errno == ENOENT || errno == ELOOP || errno == ENXIO)
            return 0;
        return sys_fail(w, "open", rel->s, errno);
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = sys_fail(w, "stat", rel->s, errno);
    else if (S_ISREG(st.st_mode)) {
        rc = put_header(w, rel->s, AE_IFREG, st.st_mode, (int64_t)st.st_size,
                        &st.st_mtim, NULL);
        if (rc == 0)
            rc = copy_file_data(w, fd, rel->s, st.st_size);
    }
    close(fd);
    return rc;
}

static int add_symlink(writer *w, int dfd, const char *name, relpath *rel,
                       const struct stat *st) {
    /* st_size is the target's length on most filesystems, but not all
     * (procfs says 0): grow until the target fits. */
    size_t cap = st->st_size > 0 ? (size_t)st->st_size + 1 : 256;
    for (;;) {
        char *target = malloc(cap);
        if (!target)
            return nox__err(w->err, NOX_ENOMEM, "out of memory");
        ssize_t n = readlinkat(dfd, name, target, cap);
        if (n < 0) {
            int e = errno;
            free(target);
            if (e == ENOENT || e == EINVAL)
                return 0; /* gone or no longer a symlink */
            return sys_fail(w, "read the symlink", rel->s, e);
        }
        if ((size_t)n < cap) {
            target[n] = 0;
            int rc = put_header(w, rel->s, AE_IFLNK, st->st_mode & 0777, 0,
                                &st->st_mtim, target);
            free(target);
            return rc;
        }
        free(target);
        cap *= 2;
    }
}

static int add_child(writer *w, int dfd, const char *name, relpath *rel) {
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return 0; /* removed while we walk */
        return sys_fail(w, "stat", rel->s, errno);
    }
    switch (st.st_mode & S_IFMT) {
    case S_IFDIR:
        return add_dir(w, dfd, name, rel);
    case S_IFREG:
        return add_file(w, dfd, name, rel);
    case S_IFLNK:
        return add_symlink(w, dfd, name, rel, &st);
    default:
        return 0; /* FIFOs, sockets and devices are not archived */
    }
}

/* Archive the contents of the directory open as fd (taken over and
 * closed). One directory stream stays open per level of depth. */
static int walk_dir(writer *w, int fd, relpath *rel) {
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return sys_fail(w, "list", rel->len ? rel->s : ".", e);
    }
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno != 0)
                rc = sys_fail(w, "list", rel->len ? rel->s : ".", errno);
            break;
        }
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        size_t old = rel_push(rel, name);
        if (old == (size_t)-1) {
            rc = nox__err(w->err, NOX_ENOMEM, "out of memory");
            break;
        }
        rc = add_child(w, dirfd(d), name, rel);
        rel_cut(rel, old);
        if (rc != 0)
            break;
    }
    closedir(d);
    return rc;
}

/* Open the top directory, which may itself be reached through symlinks:
 * the caller named it. Only what lies below it is never followed. */
static int open_top(const char *dir, nox_error **err) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0)
        return fd;
    int e = errno;
    char eb[128];
    if (e == ENOENT)
        return nox__err(err, NOX_ENOTFOUND, "directory \"%s\" does not exist",
                        dir);
    if (e == ENOTDIR)
        return nox__err(err, NOX_EINVAL, "\"%s\" is not a directory", dir);
    return nox__err(err, nox__code_from_errno(e), "cannot open \"%s\": %s",
                    dir, errstr(e, eb, sizeof eb));
}

int nox__archive_write_dir(const char *dir, nox__sink *sink, nox_error **err) {
    return nox__archive_write_dir_level(dir, NOX__GZIP_DEFAULT, sink, err);
}

int nox__archive_write_dir_level(const char *dir, int level, nox__sink *sink, nox_error **err) {
    if (!dir || !*dir || !sink)
        return nox__err(err, NOX_EINVAL, "no directory or sink to archive");
    /* Check the directory before a single byte reaches the sink. */
    int fd = open_top(dir, err);
    if (fd < 0)
        return fd;
    writer w;
    int rc = writer_open(&w, sink, level, err);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    relpath rel = {0};
    if (rel_push(&rel, "") == (size_t)-1) {
        close(fd);
        rc = nox__err(err, NOX_ENOMEM, "out of memory");
    } else {
        rc = walk_dir(&w, fd, &rel);
    }
    free(rel.s);
    if (rc != 0 && !w.sink_rc) /* the sink's errors speak for themselves */
        nox__err_prefix(err, "archiving \"%s\"", dir);
    return writer_finish(&w, rc);
}

int nox__archive_produce_files(void *files, int level, nox__sink *sink, nox_error **err) {
    return nox__archive_write_files_level(files, level, sink, err);
}

int nox__archive_produce_dir(void *dir, int level, nox__sink *sink, nox_error **err) {
    return nox__archive_write_dir_level(dir, level, sink, err);
}

/*
 * archive_stage.c - extraction that is all or nothing.
 *
 * An extraction writes into a staging directory inside its destination
 * (".nox-stage-<pid>-<n>", so on the same file system), and its entries
 * are moved into place only when the whole archive was read, valid and
 * within its limits. The move is renames: a name the destination lacks
 * moves whole (a directory with everything in it in one step); a
 * directory the destination has already is merged into one level down.
 *
 * Before anything moves, the same walk runs once without changing
 * anything and looks for what the move would meet, with the messages the
 * extractor gives for the same conflicts: a directory where the archive
 * has something else, and a file or symlink where the archive only implies
 * a directory (an explicit directory entry replaces them, as tar does).
 * So a failure leaves the destination as it was; only an error of the
 * file system itself during the renames (EIO, ENOSPC on a directory
 * block) can stop half way, and it is reported.
 */
#include "archive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsutil.h" /* nox__rm_tree_at */

typedef struct walk {
    nox__stage *st;
    const nox__stage_dirs *explicit_dirs;
    int commit; /* 0: only look for conflicts */
    nox_error **err;
} walk;

static int stage_err(nox_error **err, int code, const char *path, const char *what, int e) {
    char eb[128];
    if (e)
        return nox__err(err, code, "archive entry \"%s\": cannot %s: %s", path, what,
                        strerror_r(e, eb, sizeof eb));
    return nox__err(err, code, "archive entry \"%s\": %s", path, what);
}

/* mkdir -p dest (0755), remembering each directory made, and open it. */
static int make_dest(nox__stage *st, const char *dest, nox_error **err) {
    char eb[128];
    char *p = nox__strdup(dest);
    if (!p)
        return nox__err(err, NOX_ENOMEM, "out of memory");
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != 0)
            continue;
        char c = *s;
        *s = 0;
        if (mkdir(p, 0755) == 0 && st->nmade < NOX__STAGE_MAX_MADE) {
            st->made[st->nmade++] = nox__strdup(p);
        } else if (errno != EEXIST) {
            int e = errno, rc = nox__err(err, nox__code_from_errno(e),
                                         "cannot create \"%s\": %s", p,
                                         strerror_r(e, eb, sizeof eb));
            free(p);
            return rc;
        }
        *s = c;
        if (!c)
            break;
    }
    free(p);
    return 0;
}

/* Open dest (the caller named it: symlinks on the way are followed;
 * nothing below it is), creating it when missing. */
static int open_dest(nox__stage *st, const char *dest, nox_error **err) {
    char eb[128];
    st->dest = open(dest, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (st->dest < 0 && errno == ENOENT) {
        int rc = make_dest(st, dest, err);
        if (rc != 0)
            return rc;
        st->dest = open(dest, O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    if (st->dest >= 0)
        return 0;
    int e = errno;
    if (e == ENOTDIR)
        return nox__err(err, NOX_EINVAL, "destination \"%s\" is not a directory", dest);
    return nox__err(err, nox__code_from_errno(e), "cannot open \"%s\": %s", dest,
                    strerror_r(e, eb, sizeof eb));
}

int nox__stage_open(nox__stage *st, const char *dest, nox_error **err) {
    static unsigned counter; /* only makes names differ; races are retried */
    char eb[128];
    memset(st, 0, sizeof *st);
    st->dest = st->fd = -1;
    int rc = open_dest(st, dest, err);
    for (int tries = 0; rc == 0 && tries < 100; tries++) {
        snprintf(st->name, sizeof st->name, ".nox-stage-%ld-%u", (long)getpid(),
                 __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
        if (mkdirat(st->dest, st->name, 0700) == 0)
            break;
        if (errno != EEXIST || tries == 99) {
            int e = errno;
            st->name[0] = 0;
            rc = nox__err(err, nox__code_from_errno(e),
                          "cannot create a staging directory in \"%s\": %s", dest,
                          strerror_r(e, eb, sizeof eb));
        }
    }
    if (rc == 0) {
        st->fd = openat(st->dest, st->name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (st->fd < 0)
            rc = nox__err(err, nox__code_from_errno(errno),
                          "cannot open the staging directory in \"%s\"", dest);
    }
    if (rc != 0)
        nox__stage_abort(st);
    return rc;
}

/* The names in directory fd, NUL-separated, read before any of them moves
 * (renaming out of a directory while reading it may skip entries). */
static int list_names(int fd, nox__buf *names, const char *path, nox_error **err) {
    int lfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
    if (!d) {
        int e = errno;
        if (lfd >= 0)
            close(lfd);
        return stage_err(err, nox__code_from_errno(e), path, "read the staged directory", e);
    }
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            rc = nox__buf_append(names, de->d_name, strlen(de->d_name) + 1);
    closedir(d);
    return rc == 0 ? 0 : nox__err(err, NOX_ENOMEM, "out of memory");
}

static int merge_dir(walk *w, int sfd, int dfd, const char *path);

static int is_explicit(const walk *w, const char *path) {
    const nox__stage_dirs *dirs = w->explicit_dirs;
    for (size_t i = 0; dirs && i < dirs->count; i++)
        if (strcmp(dirs->at(dirs->ctx, i), path) == 0)
            return 1;
    return 0;
}

/* Both sides hold a directory name: go down into both. */
static int merge_subdirs(walk *w, int sfd, int dfd, const char *name, const char *path) {
    int s = openat(sfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int d = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int rc = s < 0 || d < 0 ? stage_err(w->err, nox__code_from_errno(errno), path, "open", errno)
                            : merge_dir(w, s, d, path);
    if (s >= 0)
        close(s);
    if (d >= 0)
        close(d);
    return rc;
}

/* The first entry staged under sfd/name (depth first), as the archive
 * named it: the one a conflict at name is reported for. malloc'd. */
static char *first_entry_under(int sfd, const char *name, const char *path) {
    char *found = nox__strdup(path);
    int fd = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return found;
    }
    struct dirent *de;
    while ((de = readdir(d)) && (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")))
        ;
    char *sub = de ? nox__asprintf("%s/%s", path, de->d_name) : NULL;
    if (sub) {
        free(found);
        found = first_entry_under(dirfd(d), de->d_name, sub);
        free(sub);
    }
    closedir(d);
    return found;
}

/* The archive implies a directory where dest has a file or symlink: the
 * extractor's own words for it, naming an entry that needs the directory. */
static int not_a_dir(walk *w, int sfd, const char *name, const char *path, int symlink) {
    char *entry = first_entry_under(sfd, name, path);
    int rc = nox__err(w->err, NOX_EARCHIVE,
                      symlink ? "archive entry \"%s\": \"%s\" is a symlink; refusing to "
                                "write through it"
                              : "archive entry \"%s\": \"%s\" exists and is not a directory",
                      entry ? entry : path, path);
    free(entry);
    return rc;
}

static int merge_entry(walk *w, int sfd, int dfd, const char *name, const char *path) {
    struct stat ss, ds;
    if (fstatat(sfd, name, &ss, AT_SYMLINK_NOFOLLOW) != 0)
        return stage_err(w->err, nox__code_from_errno(errno), path, "inspect", errno);
    int have = fstatat(dfd, name, &ds, AT_SYMLINK_NOFOLLOW) == 0;
    if (!have && errno != ENOENT)
        return stage_err(w->err, nox__code_from_errno(errno), path, "inspect", errno);
    int sdir = S_ISDIR(ss.st_mode), ddir = have && S_ISDIR(ds.st_mode);
    if (sdir && ddir)
        return merge_subdirs(w, sfd, dfd, name, path);
    if (ddir) {
        char *msg = nox__asprintf("a directory \"%s\" is in the way", path);
        int rc = stage_err(w->err, NOX_EARCHIVE, path, msg ? msg : "in the way", 0);
        free(msg);
        return rc;
    }
    if (have && sdir && !is_explicit(w, path))
        return not_a_dir(w, sfd, name, path, S_ISLNK(ds.st_mode));
    if (!w->commit)
        return 0;
    /* A file over a file (or symlink) is replaced by the rename itself; a
     * directory over one needs the name free first. */
    if (have && sdir && unlinkat(dfd, name, 0) != 0 && errno != ENOENT)
        return stage_err(w->err, nox__code_from_errno(errno), path, "replace", errno);
    if (renameat(sfd, name, dfd, name) != 0)
        return stage_err(w->err, nox__code_from_errno(errno), path, "move into place", errno);
    return 0;
}

static int merge_dir(walk *w, int sfd, int dfd, const char *path) {
    nox__buf names = {0};
    int rc = list_names(sfd, &names, *path ? path : ".", w->err);
    for (size_t off = 0; rc == 0 && off < names.len;) {
        const char *name = (const char *)names.data + off;
        off += strlen(name) + 1;
        char *sub = *path ? nox__asprintf("%s/%s", path, name) : nox__strdup(name);
        rc = sub ? merge_entry(w, sfd, dfd, name, sub) : nox__err(w->err, NOX_ENOMEM,
                                                                   "out of memory");
        free(sub);
    }
    nox__buf_free(&names);
    return rc;
}

int nox__stage_commit(nox__stage *st, const nox__stage_dirs *explicit_dirs, nox_error **err) {
    walk w = {st, explicit_dirs, 0, err};
    int rc = merge_dir(&w, st->fd, st->dest, "");
    if (rc == 0) {
        w.commit = 1;
        rc = merge_dir(&w, st->fd, st->dest, "");
    }
    if (rc == 0)
        st->committed = 1; /* what was made for dest holds the entries now */
    return rc;
}

void nox__stage_abort(nox__stage *st) {
    if (st->fd >= 0)
        close(st->fd);
    st->fd = -1;
    if (st->dest >= 0 && st->name[0])
        (void)nox__rm_tree_at(st->dest, st->name);
    st->name[0] = 0;
    /* The directories made for the destination, deepest first, when they
     * are empty again (someone else may have put something there). */
    while (st->nmade > 0) {
        char *p = st->made[--st->nmade];
        if (!st->committed)
            (void)rmdir(p);
        free(p);
    }
    if (st->dest >= 0)
        close(st->dest);
    st->dest = -1;
}

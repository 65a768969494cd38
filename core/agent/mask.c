/*
 * mask.c - no way out through a socket or a FIFO in the host trees a
 * sandbox sees.
 *
 * Neither a read-only mount nor a network namespace stops connect() to a
 * path socket or open() of a FIFO: both reach the host process behind
 * them (a 0666 socket in an image directory answered from inside). So
 * pid 1, before pivot_root, walks the host trees it lent the sandbox and
 * binds /dev/null over every socket and FIFO in them: connect() then
 * meets a character device (ECONNREFUSED) and a FIFO reads as empty.
 *
 * What is walked: an image whole; of the host's own system view, /etc
 * and /opt. /usr, /bin, /sbin and /lib* are not walked: only the host's
 * package manager writes there and no daemon puts a socket there (none in
 * 17,074 directories of /usr on the machine this was measured on), and a
 * walk of /usr would cost tens of milliseconds per create. The walk
 * reads directory entries' types only (no stat, except where the file
 * system gives no type) and stops at MASK_MAX masks or a path longer than
 * PATH_MAX, both reported as errors rather than left open.
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define NS_FAIL "cannot set up the namespace sandbox: "
#define MASK_MAX 4096

typedef struct mask_walk {
    char **dirs; /* to visit, relative to the tree's top ("" is the top) */
    size_t n, cap;
    const char *host; /* the tree on the host */
    const char *root; /* where it is in the new root */
    unsigned masked;
} mask_walk;

static int push(mask_walk *w, const char *rel, const char *name) {
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        char **d = realloc(w->dirs, cap * sizeof *d);
        if (!d)
            return -ENOMEM;
        w->dirs = d;
        w->cap = cap;
    }
    char *p = *rel ? nox__asprintf("%s/%s", rel, name) : strdup(name);
    if (!p)
        return -ENOMEM;
    w->dirs[w->n++] = p;
    return 0;
}

/* /dev/null over the socket or FIFO rel/name. */
static int mask_one(mask_walk *w, const char *rel, const char *name, nox__buf *msg) {
    char target[PATH_MAX];
    int n = snprintf(target, sizeof target, "%s/%s%s%s", w->root, rel, *rel ? "/" : "", name);
    if (n < 0 || (size_t)n >= sizeof target) {
        nox__buf_printf(msg, NS_FAIL "a socket or FIFO in %s lies deeper than PATH_MAX",
                        w->host);
        return NOX_EINVAL;
    }
    if (++w->masked > MASK_MAX) {
        nox__buf_printf(msg, NS_FAIL "%s holds more than %d sockets and FIFOs", w->host,
                        MASK_MAX);
        return NOX_EINVAL;
    }
    if (mount("/dev/null", target, NULL, MS_BIND, NULL) != 0) {
        nox__buf_printf(msg, NS_FAIL "masking the socket or FIFO %s/%s%s%s: %s", w->host, rel,
                        *rel ? "/" : "", name, strerror(errno));
        return NOX_ESANDBOX;
    }
    return 0;
}

/* One directory of the walk: its sockets and FIFOs masked, its
 * directories queued. */
static int visit(mask_walk *w, const char *rel, nox__buf *msg) {
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", w->host, rel);
    if (n < 0 || (size_t)n >= sizeof path) {
        nox__buf_printf(msg, NS_FAIL "%s holds a directory deeper than PATH_MAX", w->host);
        return NOX_EINVAL;
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return 0; /* unreadable here: unreadable inside as well */
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (!strcmp(nm, ".") || !strcmp(nm, ".."))
            continue;
        unsigned t = de->d_type;
        struct stat st;
        if (t == DT_UNKNOWN && fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) == 0)
            t = S_ISDIR(st.st_mode)    ? DT_DIR
                : S_ISSOCK(st.st_mode) ? DT_SOCK
                : S_ISFIFO(st.st_mode) ? DT_FIFO
                                       : DT_REG;
        if (t == DT_DIR)
            rc = push(w, rel, nm) ? NOX_ENOMEM : 0;
        else if (t == DT_SOCK || t == DT_FIFO)
            rc = mask_one(w, rel, nm, msg);
    }
    closedir(d);
    if (rc == NOX_ENOMEM)
        nox__buf_printf(msg, NS_FAIL "out of memory");
    return rc;
}

int root_mask_specials(const char *host, const char *root, nox__buf *msg) {
    mask_walk w = {.host = host, .root = root};
    int rc = visit(&w, "", msg);
    while (rc == 0 && w.n > 0) {
        char *rel = w.dirs[--w.n];
        rc = visit(&w, rel, msg);
        free(rel);
    }
    while (w.n > 0)
        free(w.dirs[--w.n]);
    free(w.dirs);
    return rc;
}

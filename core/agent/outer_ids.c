/*
 * outer_ids.c - B at the namespaces level: the host id the sandbox runs
 * as. Only one id is mapped into the sandbox's user namespace, so nothing
 * in it can become any other user; host files owned by anybody else show
 * as nobody/nogroup. As root, each sandbox gets a host uid of its own (a
 * slot in root's /etc/subuid range, or a built-in range), held by a lock
 * file while the sandbox lives, so RLIMIT_NPROC counts exactly that
 * sandbox's processes. Otherwise it is the caller's own uid.
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define NS_FAIL "cannot set up the namespace sandbox: "

/* Built-in host id range for root when /etc/subuid has no line for it:
 * high enough to collide with no ordinary account. */
#define DEFAULT_ID_START 0x70000000u
#define DEFAULT_ID_COUNT 65536u
#define ID_LOCK_DIR "/run/noxrunner-ids"

static int read_subid(const char *file, uint32_t *start, uint32_t *count) {
    FILE *f = fopen(file, "re");
    if (!f)
        return -1;
    char line[256];
    int found = -1;
    while (found && fgets(line, sizeof line, f)) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = 0;
        if (strcmp(line, "root") != 0 && strcmp(line, "0") != 0)
            continue;
        unsigned long s = strtoul(c1 + 1, NULL, 10), n = strtoul(c2 + 1, NULL, 10);
        if (s > 0 && n > 0 && s + n < 0xfffffffful) {
            *start = (uint32_t)s;
            *count = (uint32_t)n;
            found = 0;
        }
    }
    fclose(f);
    return found;
}

/* Root: claim a host id of our own for the sandbox's lifetime. */
static int claim_host_id(agent_ctx *ctx, uint32_t *id, nox__buf *msg) {
    uint32_t ustart = DEFAULT_ID_START, ucount = DEFAULT_ID_COUNT;
    uint32_t gstart = 0, gcount = 0;
    int from_file = read_subid("/etc/subuid", &ustart, &ucount) == 0 &&
                    read_subid("/etc/subgid", &gstart, &gcount) == 0 &&
                    gstart == ustart;
    if (!from_file) {
        ustart = DEFAULT_ID_START;
        ucount = DEFAULT_ID_COUNT;
    } else if (gcount < ucount) {
        ucount = gcount;
    }
    if (mkdir(ID_LOCK_DIR, 0700) != 0 && errno != EEXIST) {
        nox__buf_printf(msg, NS_FAIL "mkdir " ID_LOCK_DIR ": %s", strerror(errno));
        return NOX_ESANDBOX;
    }
    int dfd = open(ID_LOCK_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (dfd < 0 || fstat(dfd, &st) != 0 || st.st_uid != 0 || (st.st_mode & 022)) {
        nox__buf_printf(msg, NS_FAIL ID_LOCK_DIR " is missing or not root's own private "
                 "directory");
        if (dfd >= 0)
            close(dfd);
        return NOX_ESANDBOX;
    }
    /* Start where the session's name points, so sandboxes spread out. */
    uint32_t h = (uint32_t)strtoul(ctx->dir_name + 2 + 56, NULL, 16);
    uint32_t tries = ucount < 4096 ? ucount : 4096;
    for (uint32_t i = 0; i < tries; i++) {
        uint32_t cand = ustart + (h + i) % ucount;
        char name[16];
        snprintf(name, sizeof name, "%u", (unsigned)cand);
        int fd = openat(dfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            continue;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            ctx->iso.id_lock_fd = fd; /* held until the whole sandbox is gone */
            close(dfd);
            *id = cand;
            return 0;
        }
        close(fd);
    }
    close(dfd);
    nox__buf_printf(msg, NS_FAIL "no free host id in %u..%u (%s)", (unsigned)ustart,
             (unsigned)(ustart + ucount - 1), from_file ? "/etc/subuid" : "built-in range");
    return NOX_ESANDBOX;
}

/* Tasks (threads count) of uid on the host: RLIMIT_NPROC counts them all. */
static long count_tasks_of(uid_t uid) {
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    long n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char path[64 + 256], buf[1024]; /* /proc/<name>/stat; its first 20 fields */
        struct stat st;
        snprintf(path, sizeof path, "/proc/%s", de->d_name);
        if (stat(path, &st) != 0 || st.st_uid != uid)
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t r = read(fd, buf, sizeof buf - 1);
        close(fd);
        long threads = 1;
        if (r > 0) {
            buf[r] = 0;
            char *p = strrchr(buf, ')');
            for (int f = 2; p && f < 20; f++)
                p = strchr(p + 1, ' ');
            if (p)
                threads = strtol(p + 1, NULL, 10);
        }
        n += threads > 0 ? threads : 1;
    }
    closedir(d);
    return n;
}

int outer_prepare_ids(agent_ctx *ctx, nox__buf *msg) {
    ctx->iso.id_lock_fd = -1;
    ctx->iso.root_mode = geteuid() == 0;
    if (ctx->iso.root_mode) {
        uint32_t id;
        int rc = claim_host_id(ctx, &id, msg);
        if (rc)
            return rc;
        ctx->iso.host_uid = id;
        ctx->iso.host_gid = id;
        ctx->iso.nproc = AGENT_NPROC;
        /* The sandbox's id owns the session directory (reachable only
         * through the root-only base directory) and its workspace. */
        int ws = openat(ctx->dir_fd, NOX_WORKSPACE_DIR,
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (ws < 0 || fchown(ws, id, id) != 0 || fchmod(ws, 0755) != 0 ||
            fchown(ctx->dir_fd, id, id) != 0) {
            nox__buf_printf(msg, NS_FAIL "handing %s to host uid %u: %s", ctx->session_dir,
                     (unsigned)id, strerror(errno));
            if (ws >= 0)
                close(ws);
            return NOX_ESANDBOX;
        }
        close(ws);
    } else {
        ctx->iso.host_uid = geteuid();
        ctx->iso.host_gid = getegid();
        /* Our uid is shared with the caller's other processes. */
        ctx->iso.nproc = count_tasks_of(getuid()) + AGENT_NPROC;
    }
    /* C and D find the workspace relative to their working directory:
     * the root-only base directory above is out of the sandbox id's reach. */
    if (fchdir(ctx->dir_fd) != 0) {
        nox__buf_printf(msg, NS_FAIL "chdir %s: %s", ctx->session_dir, strerror(errno));
        return NOX_ESANDBOX;
    }
    return 0;
}

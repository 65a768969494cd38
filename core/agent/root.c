/*
 * root.c - the sandbox's root file system, built by its pid 1 for either
 * level with one recipe:
 *
 *   private mounts -> a tmpfs at .root -> fill it (the level's part) ->
 *   /workspace -> /proc -> name and loopback (namespaces) -> pivot_root
 *   -> the root tmpfs read-only
 *
 * Level none fills it with read-write binds of every top-level entry of
 * the host: the host's file system stays visible and writable as the
 * calling user; only /workspace is new. Level namespaces fills it with
 * read-only binds of the system directories (or of an image), a minimal
 * /dev, a private /tmp, and masks over secrets; its /proc hides what
 * tells about the host.
 *
 * pid 1's working directory is the session directory (B went there before
 * any namespace was made: an fd opened before unshare(CLONE_NEWNS) still
 * points into the host's mounts, a working directory moves along), so
 * paths here are relative to it (".root/...").
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NS_FAIL "cannot set up the namespace sandbox: "
#define PRIVATE_WS "cannot give the sandbox a private /workspace: "
#define TMP_SIZE "size=512m"
#define SHM_SIZE "size=64m"

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#define ISO_MA_RDONLY 0x1ull
#define ISO_MA_NOSUID 0x2ull
#define ISO_MA_NODEV 0x4ull
#define ISO_MA_NOEXEC 0x8ull
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

struct iso_mount_attr {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};

/* Add flags to the mount at path (and every mount below it when rec). */
static int set_flags(const char *path, uint64_t attrs, int rec) {
    struct iso_mount_attr a = {.attr_set = attrs};
    if (syscall(SYS_mount_setattr, AT_FDCWD, path, rec ? AT_RECURSIVE : 0, &a,
                sizeof a) == 0)
        return 0;
    if (errno != ENOSYS)
        return -errno;
    /* Before 5.12: remount the top mount, keeping its locked flags. */
    struct statvfs sv;
    if (statvfs(path, &sv) != 0)
        return -errno;
    unsigned long f = MS_REMOUNT | MS_BIND;
    if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
    if (sv.f_flag & ST_RDONLY) f |= MS_RDONLY;
    if (attrs & ISO_MA_RDONLY) f |= MS_RDONLY;
    if (attrs & ISO_MA_NOSUID) f |= MS_NOSUID;
    if (attrs & ISO_MA_NODEV) f |= MS_NODEV;
    if (attrs & ISO_MA_NOEXEC) f |= MS_NOEXEC;
    return mount(NULL, path, NULL, f, NULL) == 0 ? 0 : -errno;
}

#define R ".root" /* the new root, relative to the session directory */

static int bind_ro(const char *src, const char *name, int is_dir, nox__buf *msg) {
    char target[PATH_MAX];
    snprintf(target, sizeof target, R "/%s", name);
    if (is_dir) {
        if (mkdir(target, 0755) != 0 && errno != EEXIST)
            goto fail;
    } else {
        int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
            goto fail;
        close(fd);
    }
    if (mount(src, target, NULL, MS_BIND | MS_REC, NULL) != 0)
        goto fail;
    int rc = set_flags(target, ISO_MA_RDONLY | ISO_MA_NOSUID | ISO_MA_NODEV, 1);
    if (rc) {
        errno = -rc;
        goto fail;
    }
    return 0;
fail:
    nox__buf_printf(msg, NS_FAIL "read-only bind of %s at /%s: %s", src, name, strerror(errno));
    return NOX_ESANDBOX;
}

/* A top-level entry of the system tree (host / or the image); with walk,
 * its sockets and FIFOs are masked (mask.c). */
static int add_system_entry(const char *top, const char *name, int walk, nox__buf *msg) {
    char src[PATH_MAX];
    snprintf(src, sizeof src, "%s/%s", top, name);
    struct stat st;
    if (lstat(src, &st) != 0)
        return 0;
    if (S_ISLNK(st.st_mode)) {
        char link[PATH_MAX], target[PATH_MAX];
        ssize_t n = readlink(src, link, sizeof link - 1);
        if (n < 0)
            return 0;
        link[n] = 0;
        snprintf(target, sizeof target, R "/%s", name);
        if (symlink(link, target) != 0 && errno != EEXIST) {
            nox__buf_printf(msg, NS_FAIL "symlink /%s: %s", name, strerror(errno));
            return NOX_ESANDBOX;
        }
        return 0;
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return 0;
    int rc = bind_ro(src, name, S_ISDIR(st.st_mode), msg);
    if (rc == 0 && walk && S_ISDIR(st.st_mode)) {
        char target[PATH_MAX];
        snprintf(target, sizeof target, R "/%s", name);
        rc = root_mask_specials(src, target, msg);
    }
    return rc;
}

/* What the host lends the sandbox: enough to run sh, bash, coreutils and
 * python3; nothing of /home, /root, /var, /run, /srv or /mnt. */
static const char *const HOST_DIRS[] = {"usr", "bin", "sbin", "lib", "lib32", "lib64",
                                        "libx32", "etc", "opt", NULL};
/* Of those, the ones walked for sockets and FIFOs (mask.c says why). */
static const char *const HOST_DIRS_WALKED[] = {"etc", "opt", NULL};
/* Host files that stay hidden even inside the read-only /etc. */
static const char *const MASKED[] = {"etc/shadow", "etc/shadow-", "etc/gshadow",
                                     "etc/gshadow-", "etc/sudoers", "etc/security/opasswd",
                                     NULL};
static const char *const DEV_NODES[] = {"null", "zero", "full", "random", "urandom",
                                        "tty", NULL};
static const char *const SKIP_IN_IMAGE[] = {"proc", "dev", "sys", "tmp", "run",
                                            "workspace", NULL};

static int in_list(const char *const *l, const char *s) {
    for (; *l; l++)
        if (!strcmp(*l, s))
            return 1;
    return 0;
}

static int mount_tmpfs(const char *target, const char *opts, unsigned long flags,
                       nox__buf *msg) {
    if (mkdir(target, 0755) != 0 && errno != EEXIST) {
        nox__buf_printf(msg, NS_FAIL "mkdir %s: %s", target + strlen(R), strerror(errno));
        return NOX_ESANDBOX;
    }
    if (mount("tmpfs", target, "tmpfs", flags, opts) != 0) {
        nox__buf_printf(msg, NS_FAIL "tmpfs at %s: %s", target + strlen(R), strerror(errno));
        return NOX_ESANDBOX;
    }
    return 0;
}

/* ---- the store: one tmpfs the kernel keeps to ephemeralStorageLimit ------------- */

/* With a storage limit, /workspace, /tmp and /dev/shm are three views of
 * one tmpfs of that size (mounted at STORE while the root is built, then
 * detached from it): the kernel refuses a write past it with ENOSPC to the
 * writer, whatever the directory's mode or depth, and blocks of a file
 * deleted while still open stay counted until it is closed. Its inodes
 * are capped as well (STORE_INODE_BYTES of the limit each, at least
 * STORE_MIN_INODES), since an inode costs kernel memory that size= does
 * not count. Its pages are memory: they count against the writer's
 * memory cgroup, as a Kubernetes emptyDir with medium Memory does. */
#define STORE R "/.store"
#define STORE_INODE_BYTES 4096
#define STORE_MIN_INODES 1024

static int has_store(const agent_ctx *ctx) {
    return ctx->cfg.level == AGENT_LEVEL_NAMESPACES && ctx->cfg.storage_bytes > 0;
}

static int mount_store(const agent_ctx *ctx, nox__buf *msg) {
    uint64_t bytes = ctx->cfg.storage_bytes;
    uint64_t inodes = bytes / STORE_INODE_BYTES;
    if (inodes < STORE_MIN_INODES)
        inodes = STORE_MIN_INODES;
    char opts[128];
    snprintf(opts, sizeof opts, "mode=0755,size=%llu,nr_inodes=%llu",
             (unsigned long long)bytes, (unsigned long long)inodes);
    int rc = mount_tmpfs(STORE, opts, MS_NOSUID | MS_NODEV, msg);
    if (rc)
        return rc;
    static const struct {
        const char *name;
        mode_t mode;
    } parts[] = {{"workspace", 0755}, {"tmp", 01777}, {"shm", 01777}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, STORE "/%s", parts[i].name);
        if (mkdir(path, parts[i].mode) != 0 || chmod(path, parts[i].mode) != 0) {
            nox__buf_printf(msg, NS_FAIL "mkdir %s in the storage tmpfs: %s", parts[i].name,
                            strerror(errno));
            return NOX_ESANDBOX;
        }
    }
    return 0;
}

/* target (under R) becomes the store's part `name` when there is a store,
 * else a tmpfs of its own with opts. */
static int mount_part(const agent_ctx *ctx, const char *target, const char *name,
                      const char *opts, unsigned long flags, nox__buf *msg) {
    if (!has_store(ctx))
        return mount_tmpfs(target, opts, flags, msg);
    char src[64];
    snprintf(src, sizeof src, STORE "/%s", name);
    uint64_t attrs = ISO_MA_NOSUID | ISO_MA_NODEV | (flags & MS_NOEXEC ? ISO_MA_NOEXEC : 0);
    if ((mkdir(target, 0755) != 0 && errno != EEXIST) ||
        mount(src, target, NULL, MS_BIND, NULL) != 0 || set_flags(target, attrs, 0) != 0) {
        nox__buf_printf(msg, NS_FAIL "binding the storage tmpfs at %s: %s",
                        target + strlen(R), strerror(errno));
        return NOX_ESANDBOX;
    }
    return 0;
}

/* The store stays reachable only through its three views. */
static void unmount_store(const agent_ctx *ctx) {
    if (!has_store(ctx))
        return;
    if (umount2(STORE, MNT_DETACH) != 0 || rmdir(STORE) != 0)
        agent_log("detaching the storage tmpfs from the root: %s", strerror(errno));
}

static int build_dev(const agent_ctx *ctx, nox__buf *msg) {
    int rc = mount_tmpfs(R "/dev", "mode=0755,size=64k", MS_NOSUID | MS_NOEXEC, msg);
    if (rc)
        return rc;
    char target[64], src[64];
    for (int i = 0; DEV_NODES[i]; i++) {
        snprintf(target, sizeof target, R "/dev/%s", DEV_NODES[i]);
        snprintf(src, sizeof src, "/dev/%s", DEV_NODES[i]);
        int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        if (fd >= 0)
            close(fd);
        if (fd < 0 || mount(src, target, NULL, MS_BIND, NULL) != 0 ||
            set_flags(target, ISO_MA_NOSUID | ISO_MA_NOEXEC, 0) != 0) {
            nox__buf_printf(msg, NS_FAIL "binding %s: %s", src, strerror(errno));
            return NOX_ESANDBOX;
        }
    }
    static const char *const links[][2] = {{"/proc/self/fd", "fd"},
                                           {"/proc/self/fd/0", "stdin"},
                                           {"/proc/self/fd/1", "stdout"},
                                           {"/proc/self/fd/2", "stderr"}};
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        snprintf(target, sizeof target, R "/dev/%s", links[i][1]);
        if (symlink(links[i][0], target) != 0) {
            nox__buf_printf(msg, NS_FAIL "symlink /dev/%s: %s", links[i][1], strerror(errno));
            return NOX_ESANDBOX;
        }
    }
    if (mkdir(R "/dev/shm", 01777) != 0 || mkdir(R "/dev/pts", 0755) != 0) {
        nox__buf_printf(msg, NS_FAIL "mkdir in /dev: %s", strerror(errno));
        return NOX_ESANDBOX;
    }
    if (set_flags(R "/dev", ISO_MA_RDONLY, 0) != 0) {
        nox__buf_printf(msg, NS_FAIL "making /dev read-only: %s", strerror(errno));
        return NOX_ESANDBOX;
    }
    return mount_part(ctx, R "/dev/shm", "shm", "mode=1777," SHM_SIZE,
                      MS_NOSUID | MS_NODEV | MS_NOEXEC, msg);
}

static int build_proc(nox__buf *msg) {
    if (mkdir(R "/proc", 0555) != 0 && errno != EEXIST)
        goto fail;
    if (mount("proc", R "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        goto fail;
    /* Kernel knobs stay read-only even where the namespace could write. */
    static const char *const ro[] = {R "/proc/sys", R "/proc/sysrq-trigger", R "/proc/irq",
                                     R "/proc/bus", R "/proc/fs", NULL};
    for (int i = 0; ro[i]; i++) {
        struct stat st;
        if (lstat(ro[i], &st) != 0)
            continue;
        if (mount(ro[i], ro[i], NULL, MS_BIND | MS_REC, NULL) != 0 ||
            set_flags(ro[i], ISO_MA_RDONLY | ISO_MA_NOSUID | ISO_MA_NODEV, 1) != 0)
            goto fail;
    }
    /* Files that tell about the host's kernel rather than the sandbox. */
    static const char *const hide[] = {R "/proc/kcore", R "/proc/keys", R "/proc/timer_list",
                                       R "/proc/sched_debug", R "/proc/kallsyms", NULL};
    for (int i = 0; hide[i]; i++) {
        struct stat st;
        if (lstat(hide[i], &st) == 0 && S_ISREG(st.st_mode) &&
            mount(R "/dev/null", hide[i], NULL, MS_BIND, NULL) != 0)
            goto fail;
    }
    return 0;
fail:
    nox__buf_printf(msg, NS_FAIL "mounting /proc: %s", strerror(errno));
    return NOX_EUNSUPPORTED;
}

static int loopback_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    int rc = 0;
    if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) {
        rc = -errno;
    } else {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
            rc = -errno;
    }
    close(s);
    return rc;
}

/* ---- level none: the host's view -------------------------------------------- */

/* One top-level entry of the host, bound read-write (recursively). */
static int bind_host_entry(int rootfd, const char *name, nox__buf *msg) {
    char host[PATH_MAX], target[PATH_MAX];
    snprintf(host, sizeof host, "/%s", name);
    snprintf(target, sizeof target, R "/%s", name);
    struct stat st;
    if (lstat(host, &st) != 0)
        return 0; /* vanished meanwhile */
    if (S_ISLNK(st.st_mode)) {
        char link[PATH_MAX];
        ssize_t n = readlink(host, link, sizeof link - 1);
        if (n < 0)
            return 0;
        link[n] = 0;
        if (symlinkat(link, rootfd, name) != 0) {
            nox__buf_printf(msg, "symlink /%s in the sandbox root: %s", name, strerror(errno));
            return NOX_ESANDBOX;
        }
        return 0;
    }
    int fd = -1;
    if (S_ISDIR(st.st_mode) ? mkdirat(rootfd, name, 0755) != 0 && errno != EEXIST
                            : (fd = openat(rootfd, name, O_WRONLY | O_CREAT | O_CLOEXEC,
                                           0644)) < 0) {
        nox__buf_printf(msg, "%s /%s in the sandbox root: %s",
                        S_ISDIR(st.st_mode) ? "mkdir" : "create", name, strerror(errno));
        return NOX_ESANDBOX;
    }
    if (fd >= 0)
        close(fd);
    if (mount(host, target, NULL, MS_BIND | MS_REC, NULL) != 0) {
        /* One odd top-level entry should not sink the sandbox; leave the
         * empty mount point and say so in the agent log. */
        agent_log("bind-mounting /%s: %s", name, strerror(errno));
    }
    return 0;
}

static int fill_host_view(agent_ctx *ctx, nox__buf *msg) {
    /* Unbindable, so the recursive binds of the host's directories below
     * (one of which holds this very mount point) leave it out. */
    if (mount(NULL, R, NULL, MS_UNBINDABLE, NULL) != 0) {
        nox__buf_printf(msg, "making the sandbox root unbindable: %s", strerror(errno));
        return NOX_ESANDBOX;
    }
    int rootfd = open(R, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = rootfd >= 0 ? opendir("/") : NULL;
    if (!d) {
        nox__buf_printf(msg, "opening %s/" R " and /: %s", ctx->session_dir, strerror(errno));
        if (rootfd >= 0)
            close(rootfd);
        return NOX_ESANDBOX;
    }
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strcmp(n, ".") && strcmp(n, "..") && strcmp(n, "workspace"))
            rc = bind_host_entry(rootfd, n, msg);
    }
    closedir(d);
    close(rootfd);
    return rc;
}

static int proc_host_view(agent_ctx *ctx, nox__buf *msg) {
    (void)msg;
    ctx->proc_ok = !ctx->pidns;
    if (!ctx->pidns)
        return 0;
    /* A /proc that shows the sandbox's own pid namespace: the timeout
     * kill walks it to find a command's descendants. */
    if (mkdir(R "/proc", 0555) != 0 && errno != EEXIST)
        agent_log("mkdir /proc in the sandbox root: %s", strerror(errno));
    if (mount("proc", R "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0)
        ctx->proc_ok = 1;
    else
        agent_log("mounting /proc for the pid namespace: %s (timeouts kill process groups "
                  "only)", strerror(errno));
    return 0;
}

/* ---- level namespaces: a system of its own ------------------------------------ */

static int fill_system(agent_ctx *ctx, nox__buf *msg) {
    int rc = 0;
    const char *image = ctx->cfg.image;
    if (image) {
        DIR *d = opendir(image);
        if (!d) {
            nox__buf_printf(msg, "image \"%s\": %s", image, strerror(errno));
            return NOX_EINVAL;
        }
        struct dirent *de;
        while (rc == 0 && (de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
                in_list(SKIP_IN_IMAGE, de->d_name))
                continue;
            rc = add_system_entry(image, de->d_name, 1, msg);
        }
        closedir(d);
    } else {
        for (int i = 0; rc == 0 && HOST_DIRS[i]; i++)
            rc = add_system_entry("", HOST_DIRS[i], in_list(HOST_DIRS_WALKED, HOST_DIRS[i]),
                                  msg);
    }
    if (rc || (rc = build_dev(ctx, msg)) != 0)
        return rc;
    for (int i = 0; MASKED[i]; i++) {
        char target[PATH_MAX];
        snprintf(target, sizeof target, R "/%s", MASKED[i]);
        struct stat st;
        if (lstat(target, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (mount(R "/dev/null", target, NULL, MS_BIND, NULL) != 0) {
            nox__buf_printf(msg, NS_FAIL "masking /%s: %s", MASKED[i], strerror(errno));
            return NOX_ESANDBOX;
        }
    }
    return mount_part(ctx, R "/tmp", "tmp", "mode=1777," TMP_SIZE, MS_NOSUID | MS_NODEV, msg);
}

static int proc_system(agent_ctx *ctx, nox__buf *msg) {
    ctx->proc_ok = 1;
    return build_proc(msg);
}

static int name_system(agent_ctx *ctx, nox__buf *msg) {
    (void)msg;
    if (sethostname(ctx->pod, strlen(ctx->pod)) != 0)
        agent_log("sethostname: %s", strerror(errno));
    int lo = loopback_up();
    if (lo)
        agent_log("bringing up the loopback interface: %s", strerror(-lo));
    return 0;
}

/* ---- the recipe ------------------------------------------------------------------ */

typedef struct root_level {
    const char *fail;       /* how its messages start */
    const char *root_opts;  /* the root tmpfs */
    uint64_t ws_attrs;      /* flags added to the /workspace bind */
    int (*fill)(agent_ctx *ctx, nox__buf *msg);
    int (*proc)(agent_ctx *ctx, nox__buf *msg);
    int (*name)(agent_ctx *ctx, nox__buf *msg); /* may be NULL */
} root_level;

static const root_level LEVELS[] = {
    [AGENT_LEVEL_NONE] = {PRIVATE_WS, "mode=0755,size=4m", 0, fill_host_view, proc_host_view,
                          NULL},
    [AGENT_LEVEL_NAMESPACES] = {NS_FAIL, "mode=0755,size=1m", ISO_MA_NOSUID | ISO_MA_NODEV,
                                fill_system, proc_system, name_system},
};

static int make_root(agent_ctx *ctx, const root_level *lv, nox__buf *msg) {
    /* Nothing we mount may leak back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        nox__buf_printf(msg, "%smaking mounts private failed: %s", lv->fail, strerror(errno));
        return NOX_EUNSUPPORTED;
    }
    if (mkdir(R, 0755) != 0 && errno != EEXIST) {
        nox__buf_printf(msg, "%smkdir %s/" R ": %s", lv->fail, ctx->session_dir,
                        strerror(errno));
        return NOX_ESANDBOX;
    }
    if (mount("tmpfs", R, "tmpfs", MS_NOSUID | MS_NODEV, lv->root_opts) != 0) {
        nox__buf_printf(msg, "%smounting a tmpfs root failed: %s", lv->fail, strerror(errno));
        return NOX_EUNSUPPORTED;
    }
    return 0;
}

static int bind_workspace(const agent_ctx *ctx, const root_level *lv, nox__buf *msg) {
    const char *src = has_store(ctx) ? STORE "/workspace" : NOX_WORKSPACE_DIR;
    if ((mkdir(R "/workspace", 0755) != 0 && errno != EEXIST) ||
        mount(src, R "/workspace", NULL, MS_BIND, NULL) != 0 ||
        (lv->ws_attrs && set_flags(R "/workspace", lv->ws_attrs, 0) != 0)) {
        nox__buf_printf(msg, "%sbind-mounting the workspace failed: %s", lv->fail,
                        strerror(errno));
        return NOX_EUNSUPPORTED;
    }
    return 0;
}

static int enter_root(const root_level *lv, nox__buf *msg) {
    /* pivot_root(".", ".") stacks the old root on the new one; detaching
     * it leaves only the new root. */
    if (chdir(R) != 0 || syscall(SYS_pivot_root, ".", ".") != 0 ||
        umount2(".", MNT_DETACH) != 0 || chdir("/") != 0) {
        nox__buf_printf(msg, "%spivot_root failed: %s", lv->fail, strerror(errno));
        return NOX_EUNSUPPORTED;
    }
    /* The root tmpfs only holds mount points: freeze it. */
    if (set_flags("/", ISO_MA_RDONLY, 0) != 0)
        agent_log("remounting the sandbox root read-only: %s", strerror(errno));
    return 0;
}

int root_build(agent_ctx *ctx, nox__buf *msg) {
    const root_level *lv =
        &LEVELS[ctx->cfg.level == AGENT_LEVEL_NAMESPACES ? AGENT_LEVEL_NAMESPACES
                                                          : AGENT_LEVEL_NONE];
    int rc;
    agent_open_memory_usage(ctx); /* the cgroup file system is out of view after pivot */
    if ((rc = make_root(ctx, lv, msg)) != 0 ||
        (has_store(ctx) && (rc = mount_store(ctx, msg)) != 0) ||
        (rc = lv->fill(ctx, msg)) != 0 || (rc = bind_workspace(ctx, lv, msg)) != 0 ||
        (rc = lv->proc(ctx, msg)) != 0 || (lv->name && (rc = lv->name(ctx, msg)) != 0))
        return rc;
    unmount_store(ctx);
    return enter_root(lv, msg);
}

/*
 * ns_isolate.c - the "namespaces" isolation level.
 *
 * Process picture for this level (see agent.h for the "none" level):
 *
 *   B  host ids (root, or the calling user); binds the socket, picks the
 *      sandbox's host id, hands the session directory to it, makes the
 *      sandbox's cgroups (cgroup.c), forks C, writes C's uid_map/gid_map
 *      from outside and moves C into the cgroups. B stays outside to
 *      remove the session directory and the cgroups at the end when the
 *      sandbox's id may not (root: the base directory is root's, 0700).
 *   C  unshare(CLONE_NEWUSER); once B mapped and moved it, becomes uid/gid
 *      0 of that namespace (one id: the sandbox's host id), unshares
 *      mount, pid, net, ipc, uts and cgroup namespaces and forks D.
 *   D  pid 1 of the sandbox: builds the root (iso_build_root), locks
 *      itself down (iso_lockdown: rlimits, no capabilities, no_new_privs,
 *      not dumpable, seccomp) and only then starts threads and serves.
 *      Every command inherits all of it; nothing is done per exec.
 *
 * Only one id is mapped, so nothing in the sandbox can become any other
 * user; host files owned by anybody else show as nobody/nogroup. As root,
 * each sandbox gets a host uid of its own (a slot in root's /etc/subuid
 * range, or a built-in range), held by a lock file while the sandbox
 * lives, so RLIMIT_NPROC counts exactly that sandbox's processes.
 */
#include "agent.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NS_FAIL "cannot set up the namespace sandbox: "

/* Built-in host id range for root when /etc/subuid has no line for it:
 * high enough to collide with no ordinary account. */
#define DEFAULT_ID_START 0x70000000u
#define DEFAULT_ID_COUNT 65536u
#define ID_LOCK_DIR "/run/noxrunner-ids"
#define DEFAULT_NPROC 1024
/* pids.max over RLIMIT_NPROC: the agent's own threads count there too. */
#define CG_PIDS_HEADROOM 64
#define DEFAULT_NOFILE 4096
#define TMP_SIZE "size=512m"
#define SHM_SIZE "size=64m"

iso_config g_iso;

/* ---- B: host side ------------------------------------------------------- */

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
static int claim_host_id(uint32_t *id, char *msg, size_t cap) {
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
        snprintf(msg, cap, NS_FAIL "mkdir " ID_LOCK_DIR ": %s", strerror(errno));
        return NOX_ESANDBOX;
    }
    int dfd = open(ID_LOCK_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (dfd < 0 || fstat(dfd, &st) != 0 || st.st_uid != 0 || (st.st_mode & 022)) {
        snprintf(msg, cap, NS_FAIL ID_LOCK_DIR " is missing or not root's own private "
                 "directory");
        if (dfd >= 0)
            close(dfd);
        return NOX_ESANDBOX;
    }
    /* Start where the session's name points, so sandboxes spread out. */
    uint32_t h = (uint32_t)strtoul(g_agent.dir_name + 2 + 56, NULL, 16);
    uint32_t tries = ucount < 4096 ? ucount : 4096;
    for (uint32_t i = 0; i < tries; i++) {
        uint32_t cand = ustart + (h + i) % ucount;
        char name[16];
        snprintf(name, sizeof name, "%u", (unsigned)cand);
        int fd = openat(dfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            continue;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            g_iso.id_lock_fd = fd; /* held until the whole sandbox is gone */
            close(dfd);
            *id = cand;
            return 0;
        }
        close(fd);
    }
    close(dfd);
    snprintf(msg, cap, NS_FAIL "no free host id in %u..%u (%s)", (unsigned)ustart,
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
        char path[300], buf[1024];
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

int iso_prepare_outer(char *msg, size_t cap) {
    g_iso.id_lock_fd = -1;
    g_iso.root_mode = geteuid() == 0;
    if (g_iso.root_mode) {
        uint32_t id;
        int rc = claim_host_id(&id, msg, cap);
        if (rc)
            return rc;
        g_iso.host_uid = id;
        g_iso.host_gid = id;
        g_iso.nproc = DEFAULT_NPROC;
        /* The sandbox's id owns the session directory (reachable only
         * through the root-only base directory) and its workspace. */
        int ws = openat(g_agent.dir_fd, NOX_WORKSPACE_DIR,
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (ws < 0 || fchown(ws, id, id) != 0 || fchmod(ws, 0755) != 0 ||
            fchown(g_agent.dir_fd, id, id) != 0) {
            snprintf(msg, cap, NS_FAIL "handing %s to host uid %u: %s", g_agent.session_dir,
                     (unsigned)id, strerror(errno));
            if (ws >= 0)
                close(ws);
            return NOX_ESANDBOX;
        }
        close(ws);
    } else {
        g_iso.host_uid = geteuid();
        g_iso.host_gid = getegid();
        /* Our uid is shared with the caller's other processes. */
        g_iso.nproc = count_tasks_of(getuid()) + DEFAULT_NPROC;
    }
    /* C and D find the workspace relative to their working directory:
     * the root-only base directory above is out of the sandbox id's reach. */
    if (fchdir(g_agent.dir_fd) != 0) {
        snprintf(msg, cap, NS_FAIL "chdir %s: %s", g_agent.session_dir, strerror(errno));
        return NOX_ESANDBOX;
    }
    /* The cgroup counts the sandbox's tasks only, whatever uid they share. */
    cg_setup(g_iso.mem_bytes, DEFAULT_NPROC + CG_PIDS_HEADROOM, g_iso.cpu_milli);
    return 0;
}

static int write_file(const char *path, const char *data) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, data, strlen(data));
    int e = n < 0 ? errno : 0;
    close(fd);
    return n < 0 ? -e : 0;
}

/* B: map C's namespace. "" or a message for C to report. */
static void write_maps(pid_t c, char *msg, size_t cap) {
    char path[64], map[64];
    int rc = 0;
    msg[0] = 0;
    if (!g_iso.root_mode) {
        snprintf(path, sizeof path, "/proc/%d/setgroups", (int)c);
        rc = write_file(path, "deny");
        if (rc && rc != -ENOENT) {
            snprintf(msg, cap, NS_FAIL "writing %s: %s", path, strerror(-rc));
            return;
        }
    }
    snprintf(path, sizeof path, "/proc/%d/uid_map", (int)c);
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)g_iso.host_uid);
    if ((rc = write_file(path, map)) != 0) {
        snprintf(msg, cap, NS_FAIL "writing %s: %s", path, strerror(-rc));
        return;
    }
    snprintf(path, sizeof path, "/proc/%d/gid_map", (int)c);
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)g_iso.host_gid);
    if ((rc = write_file(path, map)) != 0)
        snprintf(msg, cap, NS_FAIL "writing %s: %s", path, strerror(-rc));
}

static ssize_t read_full(int fd, char *buf, size_t cap) {
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    return (ssize_t)n;
}

/* ---- C: the user namespace ---------------------------------------------- */

static void NOX_PRINTF(1, 2) c_fail(const char *fmt, ...);

static void (*c_inner)(void);
static void (*c_fail_fn)(int code, const char *msg);

static void c_fail(const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c_fail_fn(NOX_ESANDBOX, msg);
    _exit(1);
}

static void run_c(int sock, pid_t b) {
    if (unshare(CLONE_NEWUSER) != 0) {
        int e = errno;
        char m[512];
        snprintf(m, sizeof m, NS_FAIL "unshare(CLONE_NEWUSER) failed: %s", strerror(e));
        c_fail_fn(NOX_EUNSUPPORTED, m);
        _exit(1);
    }
    char msg[1024];
    if (write(sock, "U", 1) != 1)
        _exit(1);
    /* "M" and B's cgroup state after the move, or "E" and a message. */
    ssize_t n = read_full(sock, msg, 1);
    if (n == 1 && msg[0] == 'M') {
        n = read_full(sock, (char *)&g_cg, sizeof g_cg);
        if (n != (ssize_t)sizeof g_cg)
            _exit(1);
    } else if (n == 1) {
        n = read_full(sock, msg, sizeof msg - 1);
        msg[n > 0 ? n : 0] = 0;
        close(sock);
        c_fail("%s", msg);
    }
    close(sock);
    if (n <= 0)
        _exit(1);
    if (setresgid(0, 0, 0) != 0)
        c_fail(NS_FAIL "setresgid(0) in the user namespace: %s", strerror(errno));
    /* Root's supplementary groups would still count on host files. */
    if (g_iso.root_mode && setgroups(0, NULL) != 0)
        c_fail(NS_FAIL "setgroups in the user namespace: %s", strerror(errno));
    if (setresuid(0, 0, 0) != 0)
        c_fail(NS_FAIL "setresuid(0) in the user namespace: %s", strerror(errno));
    /* Credential changes reset the parent-death signal: set it now. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != b)
        _exit(1);
    /* The cgroup namespace only now: B has moved us into the sandbox's
     * cgroups, so those become its root and nothing above shows. */
    if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
                CLONE_NEWCGROUP) != 0)
        c_fail(NS_FAIL "unshare(mount, pid, net, ipc, uts, cgroup) failed: %s",
               strerror(errno));
    pid_t d = fork();
    if (d < 0)
        c_fail(NS_FAIL "fork: %s", strerror(errno));
    if (d == 0) {
        c_inner();
        _exit(1);
    }
    /* Only D reports on the ready fd and serves. */
    agent_close_inherited();
    int st;
    while (waitpid(d, &st, 0) < 0) {
        if (errno != EINTR)
            _exit(1);
    }
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

pid_t iso_spawn(void (*inner)(void), void (*fail_fn)(int code, const char *msg)) {
    c_inner = inner;
    c_fail_fn = fail_fn;
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
        return -1;
    pid_t b = getpid();
    pid_t c = fork();
    if (c < 0) {
        close(sp[0]);
        close(sp[1]);
        return -1;
    }
    if (c == 0) {
        close(sp[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        run_c(sp[1], b);
        _exit(1);
    }
    close(sp[1]);
    char b1;
    char msg[1024];
    if (read_full(sp[0], &b1, 1) == 1 && b1 == 'U') {
        msg[0] = 'M';
        write_maps(c, msg + 1, sizeof msg - 1);
        if (msg[1]) {
            msg[0] = 'E';
            if (write(sp[0], msg, strlen(msg)) < 0) { /* C notices EOF */ }
        } else {
            cg_attach(c);
            if (write(sp[0], "M", 1) != 1 ||
                write(sp[0], &g_cg, sizeof g_cg) != (ssize_t)sizeof g_cg) { /* C: EOF */ }
        }
    }
    close(sp[0]);
    return c;
}

/* ---- D: the root ---------------------------------------------------------- */

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

static int bind_ro(const char *src, const char *name, int is_dir, char *msg, size_t cap) {
    char target[4200];
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
    snprintf(msg, cap, NS_FAIL "read-only bind of %s at /%s: %s", src, name, strerror(errno));
    return NOX_ESANDBOX;
}

/* A top-level entry of the system tree (host / or the image). */
static int add_system_entry(const char *top, const char *name, char *msg, size_t cap) {
    char src[4200];
    snprintf(src, sizeof src, "%s/%s", top, name);
    struct stat st;
    if (lstat(src, &st) != 0)
        return 0;
    if (S_ISLNK(st.st_mode)) {
        char link[4096], target[4200];
        ssize_t n = readlink(src, link, sizeof link - 1);
        if (n < 0)
            return 0;
        link[n] = 0;
        snprintf(target, sizeof target, R "/%s", name);
        if (symlink(link, target) != 0 && errno != EEXIST) {
            snprintf(msg, cap, NS_FAIL "symlink /%s: %s", name, strerror(errno));
            return NOX_ESANDBOX;
        }
        return 0;
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return 0;
    return bind_ro(src, name, S_ISDIR(st.st_mode), msg, cap);
}

/* What the host lends the sandbox: enough to run sh, bash, coreutils and
 * python3; nothing of /home, /root, /var, /run, /srv or /mnt. */
static const char *const HOST_DIRS[] = {"usr", "bin", "sbin", "lib", "lib32", "lib64",
                                        "libx32", "etc", "opt", NULL};
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
                       char *msg, size_t cap) {
    if (mkdir(target, 0755) != 0 && errno != EEXIST) {
        snprintf(msg, cap, NS_FAIL "mkdir %s: %s", target + strlen(R), strerror(errno));
        return NOX_ESANDBOX;
    }
    if (mount("tmpfs", target, "tmpfs", flags, opts) != 0) {
        snprintf(msg, cap, NS_FAIL "tmpfs at %s: %s", target + strlen(R), strerror(errno));
        return NOX_ESANDBOX;
    }
    return 0;
}

static int build_dev(char *msg, size_t cap) {
    int rc = mount_tmpfs(R "/dev", "mode=0755,size=64k", MS_NOSUID | MS_NOEXEC, msg, cap);
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
            snprintf(msg, cap, NS_FAIL "binding %s: %s", src, strerror(errno));
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
            snprintf(msg, cap, NS_FAIL "symlink /dev/%s: %s", links[i][1], strerror(errno));
            return NOX_ESANDBOX;
        }
    }
    if (mkdir(R "/dev/shm", 01777) != 0 || mkdir(R "/dev/pts", 0755) != 0) {
        snprintf(msg, cap, NS_FAIL "mkdir in /dev: %s", strerror(errno));
        return NOX_ESANDBOX;
    }
    if (set_flags(R "/dev", ISO_MA_RDONLY, 0) != 0) {
        snprintf(msg, cap, NS_FAIL "making /dev read-only: %s", strerror(errno));
        return NOX_ESANDBOX;
    }
    return mount_tmpfs(R "/dev/shm", "mode=1777," SHM_SIZE,
                       MS_NOSUID | MS_NODEV | MS_NOEXEC, msg, cap);
}

static int build_proc(char *msg, size_t cap) {
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
    snprintf(msg, cap, NS_FAIL "mounting /proc: %s", strerror(errno));
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

int iso_build_root(char *msg, size_t cap) {
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        snprintf(msg, cap, NS_FAIL "making mounts private failed: %s", strerror(errno));
        return NOX_EUNSUPPORTED;
    }
    if (mkdir(R, 0755) != 0 && errno != EEXIST) {
        snprintf(msg, cap, NS_FAIL "mkdir %s/" R ": %s", g_agent.session_dir, strerror(errno));
        return NOX_ESANDBOX;
    }
    if (mount("tmpfs", R, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") != 0) {
        snprintf(msg, cap, NS_FAIL "mounting a tmpfs root failed: %s", strerror(errno));
        return NOX_EUNSUPPORTED;
    }
    int rc = 0;
    if (g_iso.image) {
        DIR *d = opendir(g_iso.image);
        if (!d) {
            snprintf(msg, cap, "image \"%s\": %s", g_iso.image, strerror(errno));
            return NOX_EINVAL;
        }
        struct dirent *de;
        while (rc == 0 && (de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
                in_list(SKIP_IN_IMAGE, de->d_name))
                continue;
            rc = add_system_entry(g_iso.image, de->d_name, msg, cap);
        }
        closedir(d);
    } else {
        for (int i = 0; rc == 0 && HOST_DIRS[i]; i++)
            rc = add_system_entry("", HOST_DIRS[i], msg, cap);
    }
    if (rc)
        return rc;
    if ((rc = build_dev(msg, cap)) != 0)
        return rc;
    for (int i = 0; MASKED[i]; i++) {
        char target[256];
        snprintf(target, sizeof target, R "/%s", MASKED[i]);
        struct stat st;
        if (lstat(target, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (mount(R "/dev/null", target, NULL, MS_BIND, NULL) != 0) {
            snprintf(msg, cap, NS_FAIL "masking /%s: %s", MASKED[i], strerror(errno));
            return NOX_ESANDBOX;
        }
    }
    if ((rc = mount_tmpfs(R "/tmp", "mode=1777," TMP_SIZE, MS_NOSUID | MS_NODEV, msg, cap)))
        return rc;
    if (mkdir(R "/workspace", 0755) != 0 ||
        mount(NOX_WORKSPACE_DIR, R "/workspace", NULL, MS_BIND, NULL) != 0 ||
        set_flags(R "/workspace", ISO_MA_NOSUID | ISO_MA_NODEV, 0) != 0) {
        snprintf(msg, cap, NS_FAIL "bind-mounting the workspace failed: %s", strerror(errno));
        return NOX_EUNSUPPORTED;
    }
    if ((rc = build_proc(msg, cap)) != 0)
        return rc;
    if (sethostname(g_agent.pod, strlen(g_agent.pod)) != 0)
        agent_log("sethostname: %s", strerror(errno));
    int lo = loopback_up();
    if (lo)
        agent_log("bringing up the loopback interface: %s", strerror(-lo));
    if (chdir(R) != 0 || syscall(SYS_pivot_root, ".", ".") != 0 ||
        umount2(".", MNT_DETACH) != 0 || chdir("/") != 0) {
        snprintf(msg, cap, NS_FAIL "pivot_root failed: %s", strerror(errno));
        return NOX_EUNSUPPORTED;
    }
    if (set_flags("/", ISO_MA_RDONLY, 0) != 0)
        agent_log("remounting the sandbox root read-only: %s", strerror(errno));
    return 0;
}

/* ---- D: lockdown ---------------------------------------------------------- */

#if defined(__x86_64__)
#define ISO_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ISO_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef ISO_AUDIT_ARCH
/* Calls that could give back what the namespaces took, or reach the
 * kernel's least-hardened surfaces. */
static const int DENIED[] = {
    __NR_unshare, __NR_setns, __NR_mount, __NR_umount2, __NR_pivot_root, __NR_chroot,
#ifdef __NR_open_tree
    __NR_open_tree, __NR_move_mount, __NR_fsopen, __NR_fsconfig, __NR_fsmount,
    __NR_fspick,
#endif
#ifdef __NR_mount_setattr
    __NR_mount_setattr,
#endif
    __NR_ptrace, __NR_process_vm_readv, __NR_process_vm_writev, __NR_kcmp,
#ifdef __NR_pidfd_getfd
    __NR_pidfd_getfd,
#endif
#ifdef __NR_process_madvise
    __NR_process_madvise,
#endif
    __NR_init_module, __NR_finit_module, __NR_delete_module, __NR_kexec_load,
#ifdef __NR_kexec_file_load
    __NR_kexec_file_load,
#endif
    __NR_bpf, __NR_perf_event_open, __NR_userfaultfd, __NR_keyctl, __NR_add_key,
    __NR_request_key,
#ifdef __NR_io_uring_setup
    __NR_io_uring_setup, __NR_io_uring_enter, __NR_io_uring_register,
#endif
    __NR_acct, __NR_swapon, __NR_swapoff, __NR_reboot, __NR_syslog, __NR_quotactl,
#ifdef __NR_quotactl_fd
    __NR_quotactl_fd,
#endif
    __NR_open_by_handle_at, __NR_name_to_handle_at, __NR_settimeofday,
    __NR_clock_settime, __NR_clock_adjtime, __NR_adjtimex, __NR_vhangup,
    __NR_fanotify_init, __NR_sethostname, __NR_setdomainname,
#ifdef __NR_lookup_dcookie
    __NR_lookup_dcookie,
#endif
#ifdef __NR_iopl
    __NR_iopl, __NR_ioperm,
#endif
#ifdef __NR_modify_ldt
    __NR_modify_ldt,
#endif
#ifdef __NR_uselib
    __NR_uselib,
#endif
#ifdef __NR__sysctl
    __NR__sysctl,
#endif
#ifdef __NR_nfsservctl
    __NR_nfsservctl,
#endif
};

#define NS_CLONE_FLAGS (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | \
                        CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET)
#define ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))

static int install_seccomp(void) {
    size_t nd = sizeof DENIED / sizeof DENIED[0];
    struct sock_filter f[32 + 2 * sizeof DENIED / sizeof DENIED[0] + 16];
    size_t n = 0;
    /* Another ABI (x32, ia32 through int 0x80) would see other numbers:
     * such a process is killed outright. */
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                          offsetof(struct seccomp_data, arch));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ISO_AUDIT_ARCH, 1, 0);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                          offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
#endif
    for (size_t i = 0; i < nd; i++) {
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)DENIED[i], 0, 1);
        f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ERRNO(EPERM));
    }
    /* clone3 hides its flags in memory the filter cannot read: ENOSYS
     * makes glibc fall back to clone, whose flags we can check. */
#ifdef __NR_clone3
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ERRNO(ENOSYS));
#endif
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 4);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(0));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, NS_CLONE_FLAGS, 0, 1);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ERRNO(EPERM));
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    /* personality: only queries and the plain Linux personalities, as
     * container runtimes allow (others weaken ASLR and the like). */
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_personality, 0, 7);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(0));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0, 4, 0);
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x8, 3, 0);
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffffu, 2, 0);
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x20000, 1, 0);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ERRNO(EPERM));
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    /* ioctl's command is 32 bits wide in the kernel: the low word decides.
     * TIOCSTI fakes terminal input, TIOCLINUX reaches the console. */
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 4);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(1));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TIOCSTI, 1, 0);
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TIOCLINUX, 0, 1);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ERRNO(EPERM));
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = {(unsigned short)n, f};
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0 ? 0 : -errno;
}
#else
static int install_seccomp(void) { return -ENOSYS; }
#endif

struct cap_header {
    uint32_t version;
    int pid;
};
struct cap_data {
    uint32_t effective, permitted, inheritable;
};

static int set_limit(int res, uint64_t v) {
    struct rlimit rl = {(rlim_t)v, (rlim_t)v};
    return setrlimit(res, &rl) == 0 ? 0 : -errno;
}

int iso_lockdown(char *msg, size_t cap) {
    int rc;
    /* The limits go on each command (iso_spawn_command); here only a
     * check that they can be set at all, so create reports it. */
    struct rlimit cur;
    if (getrlimit(RLIMIT_NPROC, &cur) == 0 && cur.rlim_max != RLIM_INFINITY &&
        cur.rlim_max < (rlim_t)g_iso.nproc)
        g_iso.nproc = (long)cur.rlim_max;
    if ((rc = set_limit(RLIMIT_CORE, 0)) != 0) {
        snprintf(msg, cap, NS_FAIL "setrlimit: %s", strerror(-rc));
        return NOX_ESANDBOX;
    }
    /* Nobody inside may read our memory or descriptors through /proc/1. */
    prctl(PR_SET_DUMPABLE, 0);
    for (int c = 0; c < 64; c++)
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno == EINVAL)
            break;
    /* SECBIT_NOROOT | NO_SETUID_FIXUP | KEEP_CAPS_LOCKED | NO_CAP_AMBIENT_RAISE,
     * each locked: uid 0 of the namespace never gains anything by exec. */
    unsigned long bits = 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80;
    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0) {
        snprintf(msg, cap, NS_FAIL "PR_SET_SECUREBITS: %s", strerror(errno));
        return NOX_ESANDBOX;
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct cap_header h = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
    struct cap_data d[2];
    memset(d, 0, sizeof d);
    if (syscall(SYS_capset, &h, d) != 0) {
        snprintf(msg, cap, NS_FAIL "dropping capabilities: %s", strerror(errno));
        return NOX_ESANDBOX;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(msg, cap, NS_FAIL "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
        return NOX_ESANDBOX;
    }
    if ((rc = install_seccomp()) != 0) {
        snprintf(msg, cap, NS_FAIL "installing the seccomp filter: %s", strerror(-rc));
        return NOX_EUNSUPPORTED;
    }
    return 0;
}

/* ---- reporting ----------------------------------------------------------- */

void iso_describe_limits(char *out, size_t cap) {
    char nproc[160], fsize[80], nofile[40];
    snprintf(nofile, sizeof nofile, "rlimit-nofile %d", DEFAULT_NOFILE);
    snprintf(nproc, sizeof nproc, "rlimit-nproc %ld (%s)", g_iso.nproc,
             g_iso.root_mode ? "the sandbox's own host uid" : "shared with the caller's uid");
    snprintf(fsize, sizeof fsize, "%s",
             g_iso.storage_bytes ? "rlimit-fsize per file, eviction past the total" : "unlimited");
    /* The caller's buffer is all there is: shorter reasons, then no list
     * of directories, rather than JSON cut in the middle. */
    static const int why_max[] = {400, 160, 60, 0};
    out[0] = 0;
    for (size_t t = 0; t < sizeof why_max / sizeof why_max[0]; t++) {
        char mem[1400], pids[1400], cpu[1400], dirs[4700];
        cg_describe(LOCAL_CG_MEMORY, g_iso.mem_bytes ? "rlimit-as per process" : NULL,
                    why_max[t], mem, sizeof mem);
        cg_describe(LOCAL_CG_PIDS, nproc, why_max[t], pids, sizeof pids);
        cg_describe(LOCAL_CG_CPU, NULL, why_max[t], cpu, sizeof cpu);
        cg_describe_dirs(dirs, sizeof dirs);
        cJSON *o = cJSON_CreateObject();
        if (!o)
            return;
        cJSON_AddStringToObject(o, "memory", mem);
        cJSON_AddStringToObject(o, "pids", pids);
        cJSON_AddStringToObject(o, "openFiles", nofile);
        cJSON_AddStringToObject(o, "fileSize", fsize);
        cJSON_AddStringToObject(o, "cpu", cpu);
        if (t < 2)
            cJSON_AddStringToObject(o, "cgroups", dirs);
        cJSON_AddNumberToObject(o, "hostUid", (double)g_iso.host_uid);
        char *s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        size_t n = s ? strlen(s) : 0;
        if (s && n < cap)
            memcpy(out, s, n + 1);
        cJSON_free(s);
        if (n && n < cap)
            return;
    }
}

/* ---- D: spawning a command with the sandbox's limits -------------------- */

/* The limits go on each command, not on the agent: its own threads,
 * connections and malloc arenas must not count against memoryLimit, and
 * an RLIMIT_AS on the agent would break sanitizer builds outright. So
 * commands start like posix_spawn() does it (a CLONE_VM | CLONE_VFORK
 * child on a stack of our own, which only makes system calls), with a
 * setrlimit() step before execve(). */

typedef struct spawn_req {
    const char *path;
    char *const *argv, *const *envp;
    const char *workdir;
    int fds[3];
    int err; /* the child's errno when it could not exec (shared memory) */
} spawn_req;

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ISO_NO_ASAN __attribute__((no_sanitize("address")))
#endif
#endif
#if !defined(ISO_NO_ASAN) && defined(__SANITIZE_ADDRESS__)
#define ISO_NO_ASAN __attribute__((no_sanitize_address))
#endif
#ifndef ISO_NO_ASAN
#define ISO_NO_ASAN
#endif

static ISO_NO_ASAN int spawn_child_fn(void *arg) {
    spawn_req *r = arg;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    if (setsid() < 0)
        goto fail;
    /* Ignored in the agent; commands get the usual behaviour. */
    sigaction(SIGPIPE, &dfl, NULL);
    sigaction(SIGXFSZ, &dfl, NULL);
    for (int i = 0; i < 3; i++)
        if (dup2(r->fds[i], i) < 0)
            goto fail;
    if (chdir(r->workdir) != 0)
        goto fail;
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = DEFAULT_NOFILE;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        goto fail;
    rl.rlim_cur = rl.rlim_max = (rlim_t)g_iso.nproc;
    if (setrlimit(RLIMIT_NPROC, &rl) != 0)
        goto fail;
    rl.rlim_cur = rl.rlim_max = 0;
    setrlimit(RLIMIT_CORE, &rl);
    if (g_iso.mem_bytes) {
        rl.rlim_cur = rl.rlim_max = (rlim_t)g_iso.mem_bytes;
        if (setrlimit(RLIMIT_AS, &rl) != 0)
            goto fail;
    }
    if (g_iso.storage_bytes) {
        rl.rlim_cur = rl.rlim_max = (rlim_t)g_iso.storage_bytes;
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            goto fail;
    }
    /* Orphans of the command's descendants come back to the command, not
     * to us: a daemon that double-forks stays in the tree a timeout or a
     * cancel kills. Kept across execve; once the command exits, what it
     * left running is adopted by pid 1 and lives on as before. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        goto fail;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(r->path, r->argv, r->envp);
fail:
    r->err = errno ? errno : EIO;
    _exit(127);
}

int iso_spawn_command(pid_t *pid, const char *path, char *const *argv, char *const *envp,
                      const char *workdir, int in_fd, int out_fd, int err_fd) {
    enum { STACK = 32 * 1024 };
    char *stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return errno;
    spawn_req r = {path, argv, envp, workdir, {in_fd, out_fd, err_fd}, 0};
    /* No signal may run a handler on the child's borrowed stack. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t p = clone(spawn_child_fn, stack + STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &r);
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(stack, STACK);
    if (p < 0)
        return e;
    if (r.err) {
        /* It never ran the command: reap it here, nobody else knows it. */
        while (waitpid(p, NULL, 0) < 0 && errno == EINTR) {
        }
        return r.err;
    }
    *pid = p;
    return 0;
}

/*
 * attacks.c - escape attempts run inside a NoxRunner sandbox.
 *
 * Built on the host by tests/c/test_isolation_escape.c (cc -O1), uploaded
 * into a sandbox and run there as `attacks <name> [args]`. Each attack
 * prints one line and exits:
 *   0  "BLOCKED <name>: <how>"   the attack failed, as it must
 *   1  "ESCAPED <name>: <what>"  the attack worked: a sandbox hole
 *   2  "ERROR <name>: <what>"    the attempt itself could not be made (its
 *                                precondition is missing): a failure
 *   3  "ABSENT <name>: <what>"   the kernel has no such facility at all
 *                                (ENOSYS), so nothing can be shown
 *
 * Every attack is also run as a positive control, outside the sandbox (on
 * the host, or in namespaces the test makes with the protection off), where
 * it must print ESCAPED: so BLOCKED means blocked, not a broken probe. A
 * refused call counts as BLOCKED only for the errors that mean refused
 * (EPERM, EACCES, ...); any other error means the permission check passed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static const char *NAME = "?";

static int blocked(const char *fmt, const char *detail) {
    printf("BLOCKED %s: ", NAME);
    printf(fmt, detail);
    printf("\n");
    return 0;
}

static int escaped(const char *what) {
    printf("ESCAPED %s: %s\n", NAME, what);
    return 1;
}

static int error_out(const char *what) {
    printf("ERROR %s: %s\n", NAME, what);
    return 2;
}

/* rc of a syscall attempt that must fail. */
static int must_fail(long rc, const char *call) {
    if (rc < 0 && errno == ENOSYS) {
        printf("ABSENT %s: %s\n", NAME, strerror(errno));
        return 3;
    }
    if (rc < 0)
        return blocked("%s", strerror(errno));
    return escaped(call);
}

/* Like must_fail, for calls that check permission before they look at
 * their arguments: only EPERM/EACCES mean refused; any other error means
 * the call got past the permission check. */
static int must_be_refused(long rc, const char *call) {
    if (rc < 0 && errno != EPERM && errno != EACCES && errno != ENOSYS) {
        char d[200];
        snprintf(d, sizeof d, "%s: past the permission check (%s)", call, strerror(errno));
        return escaped(d);
    }
    return must_fail(rc, call);
}

static int in_child_killed_by(void (*fn)(void), int *sig) {
    pid_t p = fork();
    if (p == 0) {
        fn();
        _exit(0);
    }
    int st;
    waitpid(p, &st, 0);
    *sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#if defined(__x86_64__)
static void i386_syscall(void) {
    /* getpid through the 32-bit entry point: another ABI, other numbers. */
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
    (void)r;
}
static void x32_syscall(void) { syscall(0x40000000L | 39L); }
#endif

static int fork_bomb(int max) {
    /* Fork until refused (or max: the control's bound); children sleep so
     * they stay counted. */
    enum { MAX = 100000 };
    static pid_t kids[MAX];
    if (max <= 0 || max > MAX)
        max = MAX;
    int n = 0;
    for (; n < max; n++) {
        pid_t p = fork();
        if (p == 0) {
            pause();
            _exit(0);
        }
        if (p < 0)
            break;
        kids[n] = p;
    }
    int e = errno;
    for (int i = 0; i < n; i++)
        kill(kids[i], SIGKILL);
    while (wait(NULL) > 0) {
    }
    if (n < 10) /* not a limit being reached: fork does not work at all */
        return error_out("fork refused after fewer than 10 processes");
    if (n >= max) {
        char d[80];
        snprintf(d, sizeof d, "%d processes without a limit", n);
        return escaped(d);
    }
    char d[128];
    snprintf(d, sizeof d, "fork refused after %d processes (%s)", n, strerror(e));
    return blocked("%s", d);
}

static int memory_bomb(long limit_mb) {
    long got = 0;
    for (;;) {
        char *p = mmap(NULL, 16 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            break;
        memset(p, 1, 16 << 20);
        got += 16;
        if (got > limit_mb * 4)
            return escaped("allocated 4x the memory limit");
    }
    if (got < 16) /* not a limit being reached: nothing could be allocated */
        return error_out("not even 16 MiB could be allocated");
    char d[128];
    snprintf(d, sizeof d, "allocation refused after %ld MiB", got);
    if (got > limit_mb + 16)
        return escaped(d);
    return blocked("%s", d);
}

/* Many processes, each under its own RLIMIT_AS, together far over the
 * sandbox's memory limit: only a limit on the whole sandbox holds them. */
static int memory_split(long limit_mb) {
    enum { KIDS = 8 };
    long chunk = limit_mb / 2; /* each fits under its own RLIMIT_AS */
    int p[2];
    if (limit_mb < 16 || pipe(p) != 0)
        return 2;
    pid_t kids[KIDS];
    int done[KIDS] = {0}, dead[KIDS] = {0};
    for (int i = 0; i < KIDS; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            close(p[0]);
            size_t n = (size_t)chunk << 20;
            char *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED)
                _exit(3);
            for (size_t o = 0; o < n; o += 4096)
                m[o] = 1;
            char c = (char)i;
            if (write(p[1], &c, 1) != 1)
                _exit(4);
            pause();
            _exit(0);
        }
        if (kids[i] < 0)
            dead[i] = 1;
    }
    close(p[1]);
    /* Until every child holds its memory or died for it (10 s at most). */
    for (int t = 0; t < 100; t++) {
        struct timeval tv = {0, 100000};
        fd_set rf;
        FD_ZERO(&rf);
        FD_SET(p[0], &rf);
        char c;
        while (select(p[0] + 1, &rf, NULL, NULL, &tv) > 0 && read(p[0], &c, 1) == 1) {
            if (c >= 0 && c < KIDS)
                done[(int)c] = 1;
            tv.tv_sec = 0;
            tv.tv_usec = 0;
            FD_ZERO(&rf);
            FD_SET(p[0], &rf);
        }
        int open_kids = 0;
        for (int i = 0; i < KIDS; i++) {
            if (!dead[i] && waitpid(kids[i], NULL, WNOHANG) == kids[i])
                dead[i] = 1;
            open_kids += !dead[i] && !done[i];
        }
        if (!open_kids)
            break;
    }
    usleep(200000);
    int holding = 0, killed = 0;
    for (int i = 0; i < KIDS; i++) {
        int st;
        if (!dead[i] && waitpid(kids[i], &st, WNOHANG) == kids[i])
            dead[i] = 1;
        holding += done[i] && !dead[i];
        killed += dead[i];
    }
    for (int i = 0; i < KIDS; i++)
        if (kids[i] > 0 && !dead[i])
            kill(kids[i], SIGKILL);
    while (wait(NULL) > 0) {
    }
    char d[160];
    snprintf(d, sizeof d, "%d of %d processes of %ld MiB killed, %d held %ld MiB together",
             killed, KIDS, chunk, holding, holding * chunk);
    if (holding * chunk > limit_mb)
        return escaped(d);
    return blocked("%s", d);
}

/* Reach the cgroup file system to raise our limits or leave our cgroup. */
static int cgroup_escape(void) {
    char dir[] = "/tmp/cgXXXXXX";
    if (!mkdtemp(dir))
        return error_out("mkdtemp in /tmp failed");
    int m2 = mount("none", dir, "cgroup2", 0, NULL);
    int m1 = m2 == 0 ? -1 : mount("none", dir, "cgroup", 0, "memory");
    if (m2 == 0 || m1 == 0)
        umount2(dir, MNT_DETACH);
    rmdir(dir);
    if (m2 == 0)
        return escaped("mounted a cgroup2 file system");
    if (m1 == 0)
        return escaped("mounted the cgroup v1 memory hierarchy");
    static const char *const files[] = {
        "/sys/fs/cgroup/cgroup.procs", "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/unified/cgroup.procs", "/sys/fs/cgroup/memory/cgroup.procs",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/pids/pids.max",
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", NULL};
    for (int i = 0; files[i]; i++) {
        int fd = open(files[i], O_WRONLY);
        if (fd >= 0) {
            close(fd);
            return escaped(files[i]);
        }
    }
    if (unshare(CLONE_NEWCGROUP) == 0)
        return escaped("unshare(CLONE_NEWCGROUP) worked");
    /* Our cgroups, seen from inside: the namespace's root, nothing above. */
    FILE *f = fopen("/proc/self/cgroup", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        const char *path = strrchr(line, ':');
        if (!path || strcmp(path, ":/") != 0) {
            fclose(f);
            return escaped(line);
        }
    }
    if (f)
        fclose(f);
    return blocked("%s", "no cgroup file system to reach, mount and unshare refused, "
                         "only the namespace root in /proc/self/cgroup");
}

/* 1 when path is a mount point in our view (/proc/self/mountinfo). */
static int is_mount_point(const char *path) {
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[4096], mp[4096];
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f))
        found = sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && !strcmp(mp, path);
    if (f)
        fclose(f);
    return found;
}

/* pid 1 of our pid namespace is there to attack (else: a broken probe). */
static int have_pid1(void) { return kill(1, 0) == 0 || errno == EPERM; }

/* A socket of family fam (type, protocol) made: 1, else 0 with errno. */
static int socket_made(int fam, int type, int proto) {
    int s = socket(fam, type, proto);
    if (s < 0)
        return 0;
    close(s);
    return 1;
}

/* VM sockets share the machine's port space across every namespace: a way
 * to the hypervisor's services. arg "host" (the control): a kernel without
 * vsock is ABSENT rather than blocked. */
static int vsock_socket(const char *arg) {
    if (socket_made(40 /* AF_VSOCK */, SOCK_STREAM, 0))
        return escaped("socket(AF_VSOCK) made a VM socket");
    if (errno == EAFNOSUPPORT && !strcmp(arg, "host")) {
        printf("ABSENT %s: no AF_VSOCK in this kernel\n", NAME);
        return 3;
    }
    return blocked("socket(AF_VSOCK): %s", strerror(errno));
}

/* Netlink families other than NETLINK_ROUTE: socket diagnostics, generic
 * netlink (a door to many subsystems), netfilter, audit, uevents. Route
 * netlink (ip, getifaddrs) must still work, else the probe is broken. */
static int netlink_protocols(void) {
    static const struct {
        int proto;
        const char *name;
    } P[] = {{4, "NETLINK_SOCK_DIAG"}, {16, "NETLINK_GENERIC"}, {12, "NETLINK_NETFILTER"},
             {9, "NETLINK_AUDIT"},     {15, "NETLINK_KOBJECT_UEVENT"}, {6, "NETLINK_XFRM"}};
    if (!socket_made(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0 /* NETLINK_ROUTE */))
        return error_out("no NETLINK_ROUTE socket: route netlink must work");
    for (size_t i = 0; i < sizeof P / sizeof P[0]; i++)
        if (socket_made(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, P[i].proto))
            return escaped(P[i].name);
    return blocked("%s", "only NETLINK_ROUTE sockets can be made");
}

/* Calls newer than the filter's table, by raw number (the same on every
 * architecture from 424 on), with arguments the kernel rejects: any answer
 * but ENOSYS or EPERM means the call reached the kernel. arg "host" (the
 * control): a kernel older than all of them is ABSENT. */
static int unreviewed_syscalls(const char *arg) {
    static const struct {
        long nr;
        const char *name;
    } S[] = {{457, "statmount"},      {458, "listmount"},    {467, "open_tree_attr"},
             {468, "file_getattr"},   {469, "file_setattr"}, {470, "the call after file_setattr"},
             {471, "the call after that"}};
    int absent = 0;
    for (size_t i = 0; i < sizeof S / sizeof S[0]; i++) {
        long rc = syscall(S[i].nr, -1L, 0L, 0L, 0L, 0L, 0L);
        if (rc >= 0)
            close((int)rc);
        if (rc >= 0 || (errno != ENOSYS && errno != EPERM)) {
            char d[160];
            snprintf(d, sizeof d, "%s (%ld) reached the kernel: %s", S[i].name, S[i].nr,
                     rc >= 0 ? "it worked" : strerror(errno));
            return escaped(d);
        }
        absent += errno == ENOSYS;
    }
    if (absent == (int)(sizeof S / sizeof S[0]) && !strcmp(arg, "host")) {
        printf("ABSENT %s: the kernel has none of these calls\n", NAME);
        return 3;
    }
    return blocked("%s", "statmount, listmount, open_tree_attr, file_getattr/setattr and "
                         "the next numbers all refused (ENOSYS or EPERM)");
}

/* Lower the agent's (pid 1's) descriptor limit to nothing: every later
 * exec of the sandbox would fail. */
static int prlimit_agent(void) {
    if (!have_pid1())
        return error_out("no pid 1 to set limits on");
    struct rlimit none = {0, 0}, old;
    if (prlimit(1, RLIMIT_NOFILE, NULL, &old) != 0)
        return error_out("cannot even read pid 1's limits");
    return must_be_refused(prlimit(1, RLIMIT_NOFILE, &none, NULL),
                           "set pid 1's RLIMIT_NOFILE to 0:0");
}

static int connect_tcp(const char *ip, int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) {
        printf("ERROR %s: no TCP socket: %s\n", NAME, strerror(errno));
        exit(2);
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    struct timeval tv = {2, 0};
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int rc = connect(s, (struct sockaddr *)&a, sizeof a);
    close(s);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: attacks NAME [ARG]\n");
        return 2;
    }
    NAME = argv[1];
    const char *arg = argc > 2 ? argv[2] : "";
    setvbuf(stdout, NULL, _IONBF, 0);

    if (!strcmp(NAME, "nested_user_namespace"))
        return must_fail(unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER) worked");
    if (!strcmp(NAME, "nested_mount_namespace"))
        return must_fail(unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS) worked");
    if (!strcmp(NAME, "clone_with_new_user_namespace")) {
        long rc = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
        if (rc == 0)
            _exit(0);
        if (rc > 0)
            waitpid((pid_t)rc, NULL, 0);
        return must_fail(rc, "clone(CLONE_NEWUSER) worked");
    }
    if (!strcmp(NAME, "setns_into_host")) {
        /* pid 1's mount namespace (the host's init's, from outside). */
        int fd = open("/proc/1/ns/mnt", O_RDONLY);
        if (fd < 0 && errno == ENOENT)
            return error_out("no /proc/1/ns/mnt to open");
        if (fd < 0)
            return blocked("open /proc/1/ns/mnt: %s", strerror(errno));
        return must_be_refused(setns(fd, 0), "setns into pid 1's mount namespace worked");
    }
    if (!strcmp(NAME, "mount_tmpfs"))
        return must_fail(mount("x", "/tmp", "tmpfs", 0, NULL), "mount tmpfs worked");
    if (!strcmp(NAME, "remount_system_dir_rw")) {
        if (!is_mount_point("/usr"))
            return error_out("/usr is not a mount point here: nothing to remount");
        return must_fail(mount(NULL, "/usr", NULL, MS_REMOUNT | MS_BIND, NULL),
                         "remount of /usr read-write worked");
    }
    if (!strcmp(NAME, "umount_mask")) {
        /* Unmounting a mount of the view uncovers what lies beneath it. */
        if (!is_mount_point("/usr"))
            return error_out("/usr is not a mount point here: nothing to unmount");
        return must_fail(umount2("/usr", MNT_DETACH), "unmounted /usr");
    }
    if (!strcmp(NAME, "chroot_escape"))
        return must_fail(chroot("/tmp"), "chroot worked");
    if (!strcmp(NAME, "ptrace_agent")) {
        if (!have_pid1())
            return error_out("no pid 1 to attach to");
        /* SEIZE: ATTACH's permission check without stopping the tracee. */
        return must_fail(ptrace(PTRACE_SEIZE, 1, 0, 0), "attached to the agent (pid 1)");
    }
    if (!strcmp(NAME, "ptrace_sibling")) {
        pid_t p = fork();
        if (p == 0) {
            pause();
            _exit(0);
        }
        long rc = ptrace(PTRACE_SEIZE, p, 0, 0);
        int e = errno;
        kill(p, SIGKILL);
        waitpid(p, NULL, 0);
        errno = e;
        return must_fail(rc, "attached to a sibling process");
    }
    if (!strcmp(NAME, "read_agent_memory")) {
        if (!have_pid1())
            return error_out("no pid 1 to read");
        /* A mapped address when /proc/1/maps tells one; else any: EFAULT
         * also means the access check passed. */
        unsigned long addr = 0x400000;
        FILE *maps = fopen("/proc/1/maps", "r");
        if (maps) {
            if (fscanf(maps, "%lx", &addr) != 1)
                addr = 0x400000;
            fclose(maps);
        }
        char buf[16];
        struct iovec l = {buf, sizeof buf}, r = {(void *)addr, sizeof buf};
        long rc = process_vm_readv(1, &l, 1, &r, 1, 0);
        int e = errno;
        int fd = open("/proc/1/mem", O_RDONLY);
        if (rc >= 0 || e == EFAULT || fd >= 0)
            return escaped("read the agent's memory (process_vm_readv or /proc/1/mem)");
        return blocked("%s", "process_vm_readv and /proc/1/mem refused");
    }
    if (!strcmp(NAME, "agent_descriptors")) {
        if (access("/proc/1", F_OK) != 0)
            return error_out("no /proc/1 to look into");
        char link[256];
        ssize_t n = readlink("/proc/1/fd/0", link, sizeof link);
        ssize_t m = readlink("/proc/1/root", link, sizeof link);
        if (n >= 0 || m >= 0)
            return escaped("read the agent's /proc/1/fd or root");
        return blocked("%s", strerror(errno));
    }
    if (!strcmp(NAME, "tiocsti")) {
        /* Inject input into a terminal reachable from here: stdio or the
         * controlling terminal. None reachable is as good as refused. */
        char c = '\n';
        int ttys = 0;
        for (int fd = 0; fd < 3; fd++) {
            if (!isatty(fd))
                continue;
            ttys++;
            if (ioctl(fd, TIOCSTI, &c) == 0)
                return escaped("TIOCSTI injected input into a standard descriptor's terminal");
        }
        int tty = open("/dev/tty", O_RDWR | O_NOCTTY);
        if (tty >= 0) {
            ttys++;
            int rc = ioctl(tty, TIOCSTI, &c);
            close(tty);
            if (rc == 0)
                return escaped("TIOCSTI injected input into the controlling terminal");
        }
        return blocked("%s", ttys ? "TIOCSTI refused" : "no terminal reachable");
    }
    if (!strcmp(NAME, "leaked_descriptors")) {
        char what[256] = "";
        for (int fd = 3; fd < 4096; fd++) {
            if (fcntl(fd, F_GETFD) >= 0) {
                char p[64], l[200];
                snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
                ssize_t n = readlink(p, l, sizeof l - 1);
                l[n > 0 ? n : 0] = 0;
                snprintf(what, sizeof what, "descriptor %d is open: %s", fd, l);
                return escaped(what);
            }
        }
        return blocked("%s", "only 0, 1 and 2 are open");
    }
    /* No real module is loaded: the capability check comes before the
     * image is looked at, so "bad image" means the check passed. */
    if (!strcmp(NAME, "load_kernel_module"))
        return must_be_refused(syscall(SYS_init_module, "", 0, ""), "init_module");
    if (!strcmp(NAME, "finit_kernel_module")) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0)
            return error_out("cannot open /dev/null");
        return must_be_refused(syscall(SYS_finit_module, fd, "", 0), "finit_module");
    }
    if (!strcmp(NAME, "bpf_program")) {
        union bpf_attr a;
        memset(&a, 0, sizeof a);
        a.map_type = BPF_MAP_TYPE_ARRAY;
        a.key_size = 4;
        a.value_size = 4;
        a.max_entries = 1;
        return must_fail(syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof a), "bpf map created");
    }
    if (!strcmp(NAME, "keyring")) {
        long rc = syscall(SYS_add_key, "user", "nox", "x", 1, -3 /* session keyring */);
        long rc2 = syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3, 1);
        return must_fail(rc >= 0 || rc2 >= 0 ? 0 : -1, "keyring usable");
    }
    if (!strcmp(NAME, "io_uring")) {
        char params[120];
        memset(params, 0, sizeof params);
        long fd = syscall(425 /* io_uring_setup */, 8, params);
        if (fd >= 0)
            close((int)fd);
        return must_fail(fd, "io_uring_setup worked");
    }
    if (!strcmp(NAME, "perf_event")) {
        struct perf_event_attr a;
        memset(&a, 0, sizeof a);
        a.size = sizeof a;
        a.type = PERF_TYPE_SOFTWARE;
        a.config = PERF_COUNT_SW_CPU_CLOCK;
        return must_fail(syscall(SYS_perf_event_open, &a, 0, -1, -1, 0), "perf_event_open worked");
    }
    if (!strcmp(NAME, "userfaultfd"))
        return must_fail(syscall(SYS_userfaultfd, 0), "userfaultfd worked");
    if (!strcmp(NAME, "open_by_handle")) {
        /* A real handle of "/" (name_to_handle_at needs no privilege),
         * opened again by handle: what the "shocker" escape does with
         * handles of the host's files. */
        union {
            struct file_handle fh;
            char raw[sizeof(struct file_handle) + 128];
        } h;
        memset(&h, 0, sizeof h);
        h.fh.handle_bytes = 128;
        int mnt = -1;
        if (syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &h.fh, &mnt, 0) != 0) {
            /* No handle for this root (a tmpfs may give none): a made-up
             * one still meets the permission check first, and only
             * EPERM/EACCES count as refused. */
            memset(&h, 0, sizeof h);
            h.fh.handle_bytes = 8;
        }
        int root = open("/", O_RDONLY | O_DIRECTORY);
        long fd = syscall(SYS_open_by_handle_at, root, &h.fh, O_RDONLY);
        int e = errno;
        if (fd >= 0)
            close((int)fd);
        errno = e;
        return must_be_refused(fd, "open_by_handle_at");
    }
    if (!strcmp(NAME, "mknod_device")) {
        /* In the current directory (the workspace in a sandbox). */
        int rc = mknod("nox-sda", S_IFBLK | 0600, makedev(8, 0));
        int e = errno;
        unlink("nox-sda");
        errno = e;
        return must_be_refused(rc, "created a block device node");
    }
    if (!strcmp(NAME, "disable_aslr")) {
        /* ADDR_NO_RANDOMIZE: a weaker address space for the next exec. */
        long q = syscall(SYS_personality, 0xffffffffUL);
        long rc = syscall(SYS_personality, 0x0040000UL);
        if (q < 0)
            return escaped("personality queries are refused (breaks programs)");
        return must_fail(rc < 0 ? -1 : (syscall(SYS_personality, 0xffffffffUL) & 0x0040000) ? 0 : -1,
                         "ADDR_NO_RANDOMIZE set");
    }
    if (!strcmp(NAME, "set_hostname"))
        return must_fail(sethostname("evil", 4), "changed the hostname");
    if (!strcmp(NAME, "reboot_host")) {
        /* reboot(2) checks CAP_SYS_BOOT first. The command asked for sets
         * Ctrl-Alt-Del handling to the value it already has: harmless where
         * it is allowed (the positive control), refused in the sandbox. */
        int cad = 1;
        FILE *f = fopen("/proc/sys/kernel/ctrl-alt-del", "r");
        if (f) {
            if (fscanf(f, "%d", &cad) != 1)
                cad = 1;
            fclose(f);
        }
        unsigned long cmd = cad ? 0x89ABCDEFUL /* CAD_ON */ : 0UL /* CAD_OFF */;
        return must_be_refused(syscall(SYS_reboot, 0xfee1dead, 672274793, cmd, 0), "reboot");
    }
    if (!strcmp(NAME, "foreign_abi")) {
#if defined(__x86_64__)
        int sig = 0, sig2 = 0;
        in_child_killed_by(i386_syscall, &sig);
        in_child_killed_by(x32_syscall, &sig2);
        if (sig != SIGSYS || sig2 != SIGSYS)
            return escaped("an i386 or x32 system call was not killed");
        return blocked("%s", "i386 and x32 system calls are killed with SIGSYS");
#else
        return blocked("%s", "not x86-64: nothing to try");
#endif
    }
    if (!strcmp(NAME, "regain_capabilities")) {
        /* Also run through a setuid copy of ourselves: nothing gained. */
        char buf[4096];
        FILE *f = fopen("/proc/self/status", "r");
        unsigned long long eff = 1, prm = 1, bnd = 1;
        while (f && fgets(buf, sizeof buf, f)) {
            sscanf(buf, "CapEff: %llx", &eff);
            sscanf(buf, "CapPrm: %llx", &prm);
            sscanf(buf, "CapBnd: %llx", &bnd);
        }
        if (f)
            fclose(f);
        int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
        if (eff || prm || bnd || nnp != 1)
            return escaped("capabilities or no_new_privs missing");
        return blocked("%s", "no capabilities, empty bounding set, no_new_privs");
    }
    if (!strcmp(NAME, "fork_bomb"))
        return fork_bomb(atoi(arg));
    if (!strcmp(NAME, "memory_bomb"))
        return memory_bomb(atol(arg));
    if (!strcmp(NAME, "memory_split"))
        return memory_split(atol(arg));
    if (!strcmp(NAME, "cgroup_escape"))
        return cgroup_escape();
    if (!strcmp(NAME, "connect_tcp")) {
        /* arg: "ip:port" */
        char ip[64];
        snprintf(ip, sizeof ip, "%s", arg);
        char *c = strchr(ip, ':');
        if (!c)
            return 2;
        *c = 0;
        return must_fail(connect_tcp(ip, atoi(c + 1)), "connected");
    }
    if (!strcmp(NAME, "route_out")) {
        /* arg: an IPv4 address. connect() on a UDP socket sends nothing,
         * it only looks up a route: none but loopback in the sandbox. */
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9)};
        if (inet_pton(AF_INET, arg, &a.sin_addr) != 1)
            return error_out("route_out needs an IPv4 address");
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        if (s < 0)
            return error_out("no UDP socket");
        int rc = connect(s, (struct sockaddr *)&a, sizeof a);
        int e = errno;
        close(s);
        errno = e;
        return must_fail(rc, "a route out of the sandbox exists");
    }
    if (!strcmp(NAME, "connect_abstract")) {
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        if (s < 0)
            return error_out("no unix socket");
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        size_t n = strlen(arg);
        if (n == 0 || n >= sizeof a.sun_path - 1)
            return error_out("connect_abstract needs a name");
        memcpy(a.sun_path + 1, arg, n);
        return must_fail(connect(s, (struct sockaddr *)&a,
                                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)),
                         "connected to the host's abstract socket");
    }
    if (!strcmp(NAME, "kill_pid")) {
        /* arg: a host pid. In our pid namespace it is nobody, or one of ours. */
        pid_t p = (pid_t)atol(arg);
        if (p <= 1)
            return error_out("kill_pid needs a host pid above 1");
        return must_fail(kill(p, SIGKILL), "signalled the host process");
    }
    if (!strcmp(NAME, "vsock_socket"))
        return vsock_socket(arg);
    if (!strcmp(NAME, "netlink_protocols"))
        return netlink_protocols();
    if (!strcmp(NAME, "unreviewed_syscalls"))
        return unreviewed_syscalls(arg);
    if (!strcmp(NAME, "prlimit_agent"))
        return prlimit_agent();
    printf("ERROR %s: unknown attack\n", NAME);
    return 2;
}

/*
 * attacks.c - escape attempts run inside a NoxRunner sandbox.
 *
 * Built on the host by tests/c/test_isolation_escape.c (cc -O1), uploaded
 * into a sandbox and run there as `attacks <name> [args]`. Each attack
 * prints one line and exits:
 *   0  "BLOCKED <name>: <how>"   the attack failed, as it must
 *   1  "ESCAPED <name>: <what>"  the attack worked: a sandbox hole
 *   2  "ERROR <name>: <what>"    the attempt itself could not be made
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

/* rc of a syscall attempt that must fail. */
static int must_fail(long rc, const char *call) {
    if (rc < 0)
        return blocked("%s", strerror(errno));
    return escaped(call);
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

static int fork_bomb(void) {
    /* Fork until refused; children sleep so they stay counted. */
    enum { MAX = 100000 };
    static pid_t kids[MAX];
    int n = 0;
    for (; n < MAX; n++) {
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
    if (n >= MAX)
        return escaped("100000 processes without a limit");
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
    mkdir("/tmp/cg", 0700);
    if (mount("none", "/tmp/cg", "cgroup2", 0, NULL) == 0)
        return escaped("mounted a cgroup2 file system");
    if (mount("none", "/tmp/cg", "cgroup", 0, "memory") == 0)
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

static int connect_tcp(const char *ip, int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
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
        int fd = open("/proc/1/ns/mnt", O_RDONLY);
        return must_fail(fd < 0 ? -1 : setns(fd, 0), "setns worked");
    }
    if (!strcmp(NAME, "mount_tmpfs"))
        return must_fail(mount("x", "/tmp", "tmpfs", 0, NULL), "mount tmpfs worked");
    if (!strcmp(NAME, "remount_system_dir_rw"))
        return must_fail(mount(NULL, "/usr", NULL, MS_REMOUNT | MS_BIND, NULL),
                         "remount of /usr read-write worked");
    if (!strcmp(NAME, "umount_mask"))
        return must_fail(umount2("/etc/shadow", MNT_DETACH), "unmounted the /etc/shadow mask");
    if (!strcmp(NAME, "chroot_escape"))
        return must_fail(chroot("/tmp"), "chroot worked");
    if (!strcmp(NAME, "ptrace_agent"))
        return must_fail(ptrace(PTRACE_ATTACH, 1, 0, 0), "attached to the agent (pid 1)");
    if (!strcmp(NAME, "ptrace_sibling")) {
        pid_t p = fork();
        if (p == 0) {
            pause();
            _exit(0);
        }
        long rc = ptrace(PTRACE_ATTACH, p, 0, 0);
        int e = errno;
        kill(p, SIGKILL);
        waitpid(p, NULL, 0);
        errno = e;
        return must_fail(rc, "attached to a sibling process");
    }
    if (!strcmp(NAME, "read_agent_memory")) {
        char buf[16];
        struct iovec l = {buf, sizeof buf}, r = {(void *)0x400000, sizeof buf};
        long rc = process_vm_readv(1, &l, 1, &r, 1, 0);
        int fd = open("/proc/1/mem", O_RDONLY);
        if (rc >= 0 || fd >= 0)
            return escaped("read the agent's memory");
        return blocked("%s", "process_vm_readv and /proc/1/mem refused");
    }
    if (!strcmp(NAME, "agent_descriptors")) {
        char link[256];
        ssize_t n = readlink("/proc/1/fd/0", link, sizeof link);
        ssize_t m = readlink("/proc/1/root", link, sizeof link);
        if (n >= 0 || m >= 0)
            return escaped("read the agent's /proc/1/fd or root");
        return blocked("%s", strerror(errno));
    }
    if (!strcmp(NAME, "tiocsti")) {
        char c = 'x';
        long rc = -1;
        int e = 0;
        for (int fd = 0; fd < 3 && rc < 0; fd++) {
            rc = ioctl(fd, TIOCSTI, &c);
            e = errno;
        }
        int tty = open("/dev/tty", O_RDWR);
        if (tty >= 0) {
            if (ioctl(tty, TIOCSTI, &c) == 0)
                rc = 0;
            close(tty);
        }
        errno = e;
        return must_fail(rc, "TIOCSTI injected input");
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
    if (!strcmp(NAME, "load_kernel_module"))
        return must_fail(syscall(SYS_init_module, "", 0, ""), "init_module accepted");
    if (!strcmp(NAME, "finit_kernel_module")) {
        int fd = open("/dev/null", O_RDONLY);
        return must_fail(syscall(SYS_finit_module, fd, "", 0), "finit_module accepted");
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
        return must_fail(syscall(425 /* io_uring_setup */, 8, params), "io_uring_setup worked");
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
        char h[128];
        memset(h, 0, sizeof h);
        ((unsigned int *)h)[0] = 8;
        return must_fail(syscall(SYS_open_by_handle_at, AT_FDCWD, h, O_RDONLY),
                         "open_by_handle_at worked");
    }
    if (!strcmp(NAME, "mknod_device"))
        return must_fail(mknod("/workspace/sda", S_IFBLK | 0600, makedev(8, 0)),
                         "created a block device node");
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
    if (!strcmp(NAME, "reboot_host"))
        return must_fail(syscall(SYS_reboot, 0xfee1dead, 672274793, 0x4321fedc, 0),
                         "reboot accepted");
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
        return fork_bomb();
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
    if (!strcmp(NAME, "connect_abstract")) {
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        size_t n = strlen(arg);
        memcpy(a.sun_path + 1, arg, n);
        return must_fail(connect(s, (struct sockaddr *)&a,
                                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)),
                         "connected to the host's abstract socket");
    }
    if (!strcmp(NAME, "kill_pid")) {
        /* arg: a host pid. In our pid namespace it is nobody, or one of ours. */
        pid_t p = (pid_t)atol(arg);
        if (kill(p, SIGKILL) == 0)
            return blocked("%s", "killed a process of the sandbox's own namespace only");
        return blocked("%s", strerror(errno));
    }
    printf("ERROR %s: unknown attack\n", NAME);
    return 2;
}

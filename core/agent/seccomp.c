/*
 * seccomp.c - the system call filter of a namespaces-level sandbox.
 *
 * An allow-list: every call a sandbox may make is in TABLE below, in
 * groups, each with the reason it is there. A number the table does not
 * name gets ENOSYS, so a call newer than the table (or one nobody has
 * reviewed) is refused as if the kernel lacked it, and programs take
 * their fallback. The calls that would give back what the namespaces took
 * are named as well, with EPERM, as before the allow-list: the refusal is
 * then a permission error, and the escape tests tell them apart from
 * missing calls. A few calls are allowed only for some arguments
 * (clone, personality, ioctl, socket, socketpair, prlimit64); their checks
 * are the CHECK_* blocks.
 *
 * The filter is made at install time from the table: sorted by number,
 * runs of numbers with the same verdict merged into segments, and a
 * binary search tree of JGE comparisons over the segments' first numbers
 * (a classic BPF jump reaches at most 255 instructions ahead, so each
 * right branch goes through a BPF_JA, whose offset is 32 bits). On x86-64
 * the ~350 entries make 85 segments and a program of 291 instructions, of
 * which a call runs at most 19 (4 for the ABI checks, 7 comparisons, 7
 * long jumps, the verdict; the argument checks add up to 9), where a
 * linear list would run up to one per entry. tests/c/test_agent_seccomp.c
 * checks every number against TABLE.
 *
 * The table is written from the kernel's own documentation of each call
 * and what container runtimes chose to allow (Docker's default profile,
 * systemd's @system-service, bubblewrap), not copied from any of them.
 */
#include "agent.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define ISO_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ISO_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef ISO_AUDIT_ARCH

/* Calls newer than the C library's headers: since Linux 5.1 every
 * architecture numbers new calls alike (from 424 on). */
#ifndef __NR_pidfd_send_signal
#define __NR_pidfd_send_signal 424
#endif
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#define __NR_io_uring_enter 426
#define __NR_io_uring_register 427
#endif
#ifndef __NR_open_tree
#define __NR_open_tree 428
#define __NR_move_mount 429
#define __NR_fsopen 430
#define __NR_fsconfig 431
#define __NR_fsmount 432
#define __NR_fspick 433
#endif
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef __NR_openat2
#define __NR_openat2 437
#endif
#ifndef __NR_faccessat2
#define __NR_faccessat2 439
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif
#ifndef __NR_process_madvise
#define __NR_process_madvise 440
#endif
#ifndef __NR_epoll_pwait2
#define __NR_epoll_pwait2 441
#endif
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442
#endif
#ifndef __NR_quotactl_fd
#define __NR_quotactl_fd 443
#endif
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif
#ifndef __NR_futex_waitv
#define __NR_futex_waitv 449
#endif
#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452
#endif
#ifndef __NR_map_shadow_stack
#define __NR_map_shadow_stack 453
#endif
#ifndef __NR_futex_wake
#define __NR_futex_wake 454
#define __NR_futex_wait 455
#define __NR_futex_requeue 456
#endif
#ifndef __NR_mseal
#define __NR_mseal 462
#endif
#ifndef __NR_setxattrat
#define __NR_setxattrat 463
#define __NR_getxattrat 464
#define __NR_listxattrat 465
#define __NR_removexattrat 466
#endif
#ifndef __NR_open_tree_attr
#define __NR_open_tree_attr 467
#endif

/* What the filter does with a call. */
enum verdict {
    V_ALLOW,
    V_EPERM,  /* deliberately refused: a permission error */
    V_ENOSYS, /* not in the table: as if the kernel had no such call */
    V_CLONE,  /* the CHECK_* blocks: allowed for some arguments */
    V_PERSONALITY,
    V_IOCTL,
    V_SOCKET,
    V_SOCKETPAIR,
    V_PRLIMIT,
    V_SETRLIMIT,
};

struct rule {
    int nr;
    unsigned char v;
};

#define ALLOW(name) {__NR_##name, V_ALLOW}
#define DENY(name) {__NR_##name, V_EPERM}
#define CHECK(name, v) {__NR_##name, v}

/* Every call the sandbox may make, and those refused on purpose. The
 * comment above each group is the reason; a call not here gets ENOSYS. */
static const struct rule TABLE[] = {
    /* The process's own memory: mapping, protection, locking (RLIMIT_MEMLOCK
     * and the memory cgroup bound it), NUMA placement of its own pages. */
    ALLOW(brk), ALLOW(mmap), ALLOW(munmap), ALLOW(mremap), ALLOW(mprotect), ALLOW(madvise),
    ALLOW(msync), ALLOW(mincore), ALLOW(mlock), ALLOW(munlock), ALLOW(mlockall),
    ALLOW(munlockall), ALLOW(mlock2), ALLOW(membarrier), ALLOW(pkey_mprotect),
    ALLOW(pkey_alloc), ALLOW(pkey_free), ALLOW(remap_file_pages), ALLOW(mseal),
    ALLOW(map_shadow_stack), ALLOW(get_mempolicy), ALLOW(set_mempolicy), ALLOW(mbind),

    /* Files through descriptors and paths: what the mounts and the file
     * permissions of the sandbox's view already bound. mknodat makes
     * FIFOs and sockets; device nodes need a capability nobody has. */
    ALLOW(read), ALLOW(write), ALLOW(pread64), ALLOW(pwrite64), ALLOW(readv), ALLOW(writev),
    ALLOW(preadv), ALLOW(pwritev), ALLOW(preadv2), ALLOW(pwritev2), ALLOW(openat),
    ALLOW(openat2), ALLOW(close), ALLOW(close_range), ALLOW(lseek), ALLOW(dup), ALLOW(dup3),
    ALLOW(fcntl), ALLOW(flock), ALLOW(fsync), ALLOW(fdatasync), ALLOW(syncfs), ALLOW(sync),
    ALLOW(sync_file_range), ALLOW(truncate), ALLOW(ftruncate), ALLOW(fallocate),
    ALLOW(fadvise64), ALLOW(readahead), ALLOW(getdents64), ALLOW(getcwd), ALLOW(chdir),
    ALLOW(fchdir), ALLOW(mkdirat), ALLOW(mknodat), ALLOW(fchownat), ALLOW(fchown),
    ALLOW(fchmod), ALLOW(fchmodat), ALLOW(fchmodat2), ALLOW(faccessat), ALLOW(faccessat2),
    ALLOW(newfstatat), ALLOW(fstat), ALLOW(statx), ALLOW(statfs), ALLOW(fstatfs),
    ALLOW(unlinkat), ALLOW(renameat2), ALLOW(linkat), ALLOW(symlinkat), ALLOW(readlinkat),
    ALLOW(utimensat), ALLOW(umask), ALLOW(sendfile), ALLOW(copy_file_range), ALLOW(splice),
    ALLOW(tee), ALLOW(vmsplice), ALLOW(memfd_create),
#ifdef __NR_renameat
    ALLOW(renameat),
#endif
    /* Extended attributes: the file system's permission checks apply
     * (trusted.* and security.* need capabilities). */
    ALLOW(setxattr), ALLOW(lsetxattr), ALLOW(fsetxattr), ALLOW(getxattr), ALLOW(lgetxattr),
    ALLOW(fgetxattr), ALLOW(listxattr), ALLOW(llistxattr), ALLOW(flistxattr),
    ALLOW(removexattr), ALLOW(lremovexattr), ALLOW(fremovexattr), ALLOW(setxattrat),
    ALLOW(getxattrat), ALLOW(listxattrat), ALLOW(removexattrat),

    /* Waiting on descriptors, and descriptors made for waiting; POSIX
     * AIO (io_submit and friends, not io_uring) on the process's own files. */
    ALLOW(pselect6), ALLOW(ppoll), ALLOW(epoll_create1), ALLOW(epoll_ctl), ALLOW(epoll_pwait),
    ALLOW(epoll_pwait2), ALLOW(eventfd2), ALLOW(signalfd4), ALLOW(timerfd_create),
    ALLOW(timerfd_settime), ALLOW(timerfd_gettime), ALLOW(inotify_init1),
    ALLOW(inotify_add_watch), ALLOW(inotify_rm_watch), ALLOW(pipe2), ALLOW(io_setup),
    ALLOW(io_destroy), ALLOW(io_getevents), ALLOW(io_submit), ALLOW(io_cancel),
    ALLOW(io_pgetevents),

    /* Processes, threads and their ids. clone is checked (no namespace
     * flags); clone3 keeps its flags in memory a filter cannot read, so it
     * gets ENOSYS and the C library falls back to clone. Signals reach
     * only what the pid namespace shows. The uid/gid calls act within the
     * user namespace, with no capability to gain anything. seccomp and
     * landlock only ever add restrictions to the caller. */
    CHECK(clone, V_CLONE), {__NR_clone3, V_ENOSYS}, ALLOW(execve), ALLOW(execveat),
    ALLOW(exit), ALLOW(exit_group), ALLOW(wait4), ALLOW(waitid), ALLOW(kill), ALLOW(tkill),
    ALLOW(tgkill), ALLOW(rt_sigqueueinfo), ALLOW(rt_tgsigqueueinfo), ALLOW(pidfd_open),
    ALLOW(pidfd_send_signal), ALLOW(getpid), ALLOW(getppid), ALLOW(gettid), ALLOW(getpgid),
    ALLOW(setpgid), ALLOW(getsid), ALLOW(setsid), ALLOW(set_tid_address),
    ALLOW(set_robust_list), ALLOW(get_robust_list), ALLOW(futex), ALLOW(futex_waitv),
    ALLOW(futex_wake), ALLOW(futex_wait), ALLOW(futex_requeue), ALLOW(rseq),
    ALLOW(restart_syscall), ALLOW(prctl), ALLOW(seccomp), ALLOW(landlock_create_ruleset),
    ALLOW(landlock_add_rule), ALLOW(landlock_restrict_self), ALLOW(uname), ALLOW(sysinfo),
    ALLOW(getrusage), ALLOW(times), ALLOW(getcpu), ALLOW(capget), ALLOW(capset),
    ALLOW(getuid), ALLOW(geteuid), ALLOW(getgid), ALLOW(getegid), ALLOW(getresuid),
    ALLOW(getresgid), ALLOW(getgroups), ALLOW(setuid), ALLOW(setgid), ALLOW(setreuid),
    ALLOW(setregid), ALLOW(setresuid), ALLOW(setresgid), ALLOW(setfsuid), ALLOW(setfsgid),
    ALLOW(setgroups),
    /* Scheduling and I/O priority, within the cgroup's share and the
     * RLIMIT_NICE/RTPRIO the commands start with. */
    ALLOW(sched_yield), ALLOW(sched_getaffinity), ALLOW(sched_setaffinity),
    ALLOW(sched_getparam), ALLOW(sched_setparam), ALLOW(sched_getscheduler),
    ALLOW(sched_setscheduler), ALLOW(sched_get_priority_max), ALLOW(sched_get_priority_min),
    ALLOW(sched_rr_get_interval), ALLOW(sched_getattr), ALLOW(sched_setattr),
    ALLOW(getpriority), ALLOW(setpriority), ALLOW(ioprio_get), ALLOW(ioprio_set),
    /* Resource limits act on the caller (getrlimit/setrlimit); prlimit64
     * may read anyone's but set only its own: a command must not lower the
     * agent's (pid 1's) limits and wedge it. RLIMIT_CORE stays at what pid
     * 1 set before this filter (1: no core file, no pipe helper; agent.h):
     * lowered to 0 a crash would start the host's core_pattern helper. */
    ALLOW(getrlimit), CHECK(setrlimit, V_SETRLIMIT), CHECK(prlimit64, V_PRLIMIT),
    /* personality: queries and the plain Linux personalities only (others
     * weaken ASLR and the like). */
    CHECK(personality, V_PERSONALITY),

    /* Signals and time: the process's own handlers, masks, timers and
     * clocks (setting a clock is refused below). */
    ALLOW(rt_sigaction), ALLOW(rt_sigprocmask), ALLOW(rt_sigreturn), ALLOW(rt_sigpending),
    ALLOW(rt_sigtimedwait), ALLOW(rt_sigsuspend), ALLOW(sigaltstack), ALLOW(nanosleep),
    ALLOW(clock_nanosleep), ALLOW(clock_gettime), ALLOW(clock_getres), ALLOW(gettimeofday),
    ALLOW(getitimer), ALLOW(setitimer), ALLOW(timer_create), ALLOW(timer_settime),
    ALLOW(timer_gettime), ALLOW(timer_getoverrun), ALLOW(timer_delete), ALLOW(getrandom),

    /* Sockets: the network namespace holds only loopback. socket() and
     * socketpair() are checked by family (AF_UNIX, AF_INET, AF_INET6, and
     * AF_NETLINK for NETLINK_ROUTE only); the rest act on sockets made so. */
    CHECK(socket, V_SOCKET), CHECK(socketpair, V_SOCKETPAIR), ALLOW(connect), ALLOW(accept),
    ALLOW(accept4), ALLOW(bind), ALLOW(listen), ALLOW(sendto), ALLOW(recvfrom),
    ALLOW(sendmsg), ALLOW(recvmsg), ALLOW(sendmmsg), ALLOW(recvmmsg), ALLOW(shutdown),
    ALLOW(getsockname), ALLOW(getpeername), ALLOW(setsockopt), ALLOW(getsockopt),
    /* ioctl: all but TIOCSTI (fakes terminal input) and TIOCLINUX (the
     * console); drivers check their own. */
    CHECK(ioctl, V_IOCTL),

    /* SysV IPC and POSIX message queues: the IPC namespace is the
     * sandbox's own. */
    ALLOW(shmget), ALLOW(shmat), ALLOW(shmctl), ALLOW(shmdt), ALLOW(semget), ALLOW(semop),
    ALLOW(semctl), ALLOW(semtimedop), ALLOW(msgget), ALLOW(msgsnd), ALLOW(msgrcv),
    ALLOW(msgctl), ALLOW(mq_open), ALLOW(mq_unlink), ALLOW(mq_timedsend),
    ALLOW(mq_timedreceive), ALLOW(mq_notify), ALLOW(mq_getsetattr),

#if defined(__x86_64__)
    /* x86-64's older forms of the calls above (arm64 has only the *at,
     * *2 and p* forms), and its thread-pointer calls. */
    ALLOW(open), ALLOW(creat), ALLOW(stat), ALLOW(lstat), ALLOW(access), ALLOW(rename),
    ALLOW(mkdir), ALLOW(rmdir), ALLOW(link), ALLOW(unlink), ALLOW(symlink), ALLOW(readlink),
    ALLOW(chmod), ALLOW(chown), ALLOW(lchown), ALLOW(getdents), ALLOW(utime), ALLOW(utimes),
    ALLOW(futimesat), ALLOW(mknod), ALLOW(dup2), ALLOW(pipe), ALLOW(poll), ALLOW(select),
    ALLOW(epoll_create), ALLOW(epoll_wait), ALLOW(eventfd), ALLOW(signalfd),
    ALLOW(inotify_init), ALLOW(fork), ALLOW(vfork), ALLOW(getpgrp), ALLOW(pause),
    ALLOW(alarm), ALLOW(time), ALLOW(arch_prctl), ALLOW(set_thread_area),
    ALLOW(get_thread_area),
#endif

    /* Refused with EPERM: calls that could give back what the namespaces
     * took (new namespaces, mounts, the root), reach other processes'
     * memory and descriptors, or the kernel's least-hardened or host-wide
     * surfaces (modules, bpf, perf, io_uring, keys, clocks, swap, reboot). */
    DENY(unshare), DENY(setns), DENY(mount), DENY(umount2), DENY(pivot_root), DENY(chroot),
    DENY(open_tree), DENY(move_mount), DENY(fsopen), DENY(fsconfig), DENY(fsmount),
    DENY(fspick), DENY(mount_setattr), DENY(open_tree_attr), DENY(ptrace),
    DENY(process_vm_readv), DENY(process_vm_writev), DENY(kcmp), DENY(pidfd_getfd),
    DENY(process_madvise), DENY(init_module), DENY(finit_module), DENY(delete_module),
    DENY(kexec_load), DENY(bpf), DENY(perf_event_open), DENY(userfaultfd), DENY(keyctl),
    DENY(add_key), DENY(request_key), DENY(io_uring_setup), DENY(io_uring_enter),
    DENY(io_uring_register), DENY(acct), DENY(swapon), DENY(swapoff), DENY(reboot),
    DENY(syslog), DENY(quotactl), DENY(quotactl_fd), DENY(open_by_handle_at),
    DENY(name_to_handle_at), DENY(settimeofday), DENY(clock_settime), DENY(clock_adjtime),
    DENY(adjtimex), DENY(vhangup), DENY(fanotify_init), DENY(sethostname),
    DENY(setdomainname),
#ifdef __NR_kexec_file_load
    DENY(kexec_file_load),
#endif
#ifdef __NR_lookup_dcookie
    DENY(lookup_dcookie),
#endif
#if defined(__x86_64__)
    DENY(iopl), DENY(ioperm), DENY(modify_ldt), DENY(uselib), DENY(_sysctl),
    DENY(nfsservctl),
#endif
};

#define NS_CLONE_FLAGS (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | \
                        CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET)
#define ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define ARG_HI(i) (ARG_LO(i) + 4)
#define MAX_INSNS 2048 /* under the kernel's BPF_MAXINSNS (4096) */

/* A run of numbers from lo up to the next segment's lo: one verdict. */
struct segment {
    uint32_t lo;
    unsigned char v;
};

struct prog {
    struct sock_filter *f;
    size_t n, cap;
    int overflow;
};

static void emit(struct prog *p, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k) {
    if (p->n >= p->cap) {
        p->overflow = 1;
        return;
    }
    p->f[p->n++] = (struct sock_filter){code, jt, jf, k};
}

static void ret(struct prog *p, uint32_t action) { emit(p, BPF_RET | BPF_K, 0, 0, action); }
static void load(struct prog *p, uint32_t off) { emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, off); }
/* A == k: go on with the next instruction; else skip `skip` of them. */
static void if_eq(struct prog *p, uint32_t k, uint8_t skip) {
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, skip, k);
}

static int by_nr(const void *a, const void *b) {
    const struct rule *x = a, *y = b;
    return (x->nr > y->nr) - (x->nr < y->nr);
}

/* TABLE sorted and cut into segments, gaps being ENOSYS; the count, or -1
 * when a number is in the table twice (a mistake in the table). */
static long segments(struct segment *seg, size_t cap) {
    enum { N = sizeof TABLE / sizeof TABLE[0] };
    struct rule sorted[N];
    memcpy(sorted, TABLE, sizeof sorted);
    qsort(sorted, N, sizeof sorted[0], by_nr);
    size_t n = 0;
    uint32_t next = 0; /* the first number not yet in a segment */
    for (size_t i = 0; i <= N && n + 2 <= cap; i++) {
        uint32_t nr = i < N ? (uint32_t)sorted[i].nr : UINT32_MAX;
        if (i < N && nr < next)
            return -1;
        if (nr > next && (n == 0 || seg[n - 1].v != V_ENOSYS))
            seg[n++] = (struct segment){next, V_ENOSYS};
        if (i == N)
            return (long)n;
        if (n == 0 || seg[n - 1].v != sorted[i].v || sorted[i].v >= V_CLONE)
            seg[n++] = (struct segment){nr, sorted[i].v};
        next = nr + 1;
    }
    return -1;
}

/* The argument checks; A holds the call's number on entry. */
static void check_clone(struct prog *p) {
    load(p, ARG_LO(0));
    emit(p, BPF_JMP | BPF_JSET | BPF_K, 0, 1, NS_CLONE_FLAGS);
    ret(p, ERRNO(EPERM));
    ret(p, SECCOMP_RET_ALLOW);
}

static void check_personality(struct prog *p) {
    /* PER_LINUX, PER_LINUX32, the query 0xffffffff, UNAME26. */
    load(p, ARG_LO(0));
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 4, 0, 0x0);
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 3, 0, 0x8);
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 2, 0, 0xffffffffu);
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 0x20000);
    ret(p, ERRNO(EPERM));
    ret(p, SECCOMP_RET_ALLOW);
}

static void check_ioctl(struct prog *p) {
    /* The command is 32 bits wide in the kernel: the low word decides. */
    load(p, ARG_LO(1));
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, TIOCSTI);
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, TIOCLINUX);
    ret(p, ERRNO(EPERM));
    ret(p, SECCOMP_RET_ALLOW);
}

/* Families outside the list get EAFNOSUPPORT, netlink protocols other than
 * NETLINK_ROUTE EPROTONOSUPPORT: what the kernel answers where a family
 * or protocol is not built in, which programs already take as "not here"
 * (EPERM would read as a permission problem to be reported). */
static void check_socket(struct prog *p) {
    load(p, ARG_LO(0));
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 5, 0, AF_UNIX);
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 4, 0, AF_INET);
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 3, 0, AF_INET6);
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 3, AF_NETLINK);
    load(p, ARG_LO(2));
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 2, NETLINK_ROUTE);
    ret(p, SECCOMP_RET_ALLOW);
    ret(p, ERRNO(EAFNOSUPPORT));
    ret(p, ERRNO(EPROTONOSUPPORT));
}

static void check_socketpair(struct prog *p) {
    load(p, ARG_LO(0));
    if_eq(p, AF_UNIX, 1);
    ret(p, SECCOMP_RET_ALLOW);
    ret(p, ERRNO(EAFNOSUPPORT));
}

/* prlimit64(pid, resource, new, old): pid 0 is the caller, which may set
 * any limit but RLIMIT_CORE; another pid only to read. Either way a set
 * that is refused is one with new != NULL (both words). */
static void check_prlimit(struct prog *p) {
    load(p, ARG_LO(0));
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 0); /* pid 0: to the resource */
    emit(p, BPF_JMP | BPF_JA, 0, 0, 2);          /* another: to the new check */
    load(p, ARG_LO(1));
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 4, RLIMIT_CORE); /* else allow */
    load(p, ARG_LO(2));
    if_eq(p, 0, 3);
    load(p, ARG_HI(2));
    if_eq(p, 0, 1);
    ret(p, SECCOMP_RET_ALLOW);
    ret(p, ERRNO(EPERM));
}

/* setrlimit(resource, new): any but RLIMIT_CORE (see the table). */
static void check_setrlimit(struct prog *p) {
    load(p, ARG_LO(0));
    if_eq(p, RLIMIT_CORE, 1);
    ret(p, ERRNO(EPERM));
    ret(p, SECCOMP_RET_ALLOW);
}

static void verdict(struct prog *p, unsigned char v) {
    switch (v) {
    case V_ALLOW: ret(p, SECCOMP_RET_ALLOW); break;
    case V_EPERM: ret(p, ERRNO(EPERM)); break;
    case V_CLONE: check_clone(p); break;
    case V_PERSONALITY: check_personality(p); break;
    case V_IOCTL: check_ioctl(p); break;
    case V_SOCKET: check_socket(p); break;
    case V_SOCKETPAIR: check_socketpair(p); break;
    case V_PRLIMIT: check_prlimit(p); break;
    case V_SETRLIMIT: check_setrlimit(p); break;
    default: ret(p, ERRNO(ENOSYS)); break;
    }
}

/* The search over seg[lo..hi] (A: the call's number): the lower half
 * follows each comparison, the upper half is reached by a long jump. */
static void tree(struct prog *p, const struct segment *seg, size_t lo, size_t hi) {
    if (lo == hi) {
        verdict(p, seg[lo].v);
        return;
    }
    size_t mid = lo + (hi - lo + 1) / 2;
    emit(p, BPF_JMP | BPF_JGE | BPF_K, 0, 1, seg[mid].lo);
    size_t ja = p->n;
    emit(p, BPF_JMP | BPF_JA, 0, 0, 0);
    tree(p, seg, lo, mid - 1);
    if (!p->overflow)
        p->f[ja].k = (uint32_t)(p->n - ja - 1);
    tree(p, seg, mid, hi);
}

int seccomp_table_verdict(int nr) {
    for (size_t i = 0; i < sizeof TABLE / sizeof TABLE[0]; i++)
        if (TABLE[i].nr == nr)
            return TABLE[i].v == V_ALLOW ? 0 : TABLE[i].v == V_EPERM ? EPERM
                   : TABLE[i].v == V_ENOSYS ? ENOSYS : -1;
    return ENOSYS;
}

long seccomp_filter(struct sock_filter *f, size_t cap) {
    struct segment seg[2 * sizeof TABLE / sizeof TABLE[0] + 2];
    long ns = segments(seg, sizeof seg / sizeof seg[0]);
    if (ns <= 0)
        return -EINVAL;
    struct prog pr = {f, 0, cap, 0}, *p = &pr;
    /* Another ABI (x32, ia32 through int 0x80) would see other numbers:
     * such a process is killed outright. */
    load(p, offsetof(struct seccomp_data, arch));
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, ISO_AUDIT_ARCH);
    ret(p, SECCOMP_RET_KILL_PROCESS);
    load(p, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
    emit(p, BPF_JMP | BPF_JGE | BPF_K, 0, 1, 0x40000000u); /* __X32_SYSCALL_BIT */
    ret(p, SECCOMP_RET_KILL_PROCESS);
#endif
    tree(p, seg, 0, (size_t)ns - 1);
    return p->overflow ? -E2BIG : (long)p->n;
}

int seccomp_install(void) {
    struct sock_filter *f = calloc(MAX_INSNS, sizeof *f);
    if (!f)
        return -ENOMEM;
    long n = seccomp_filter(f, MAX_INSNS);
    int rc = (int)n;
    if (n > 0) {
        struct sock_fprog prog = {(unsigned short)n, f};
        rc = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0 ? 0 : -errno;
    }
    free(f);
    return rc;
}
#else
int seccomp_table_verdict(int nr) { return (void)nr, ENOSYS; }
long seccomp_filter(struct sock_filter *f, size_t cap) { return (void)f, (void)cap, -ENOSYS; }
int seccomp_install(void) { return -ENOSYS; }
#endif

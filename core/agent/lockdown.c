/*
 * lockdown.c - what pid 1 of a namespaces-level sandbox does to itself
 * before it starts any thread: rlimits at documented values (agent.h),
 * a command line that names nothing of the host, no capabilities
 * (bounding set, securebits, ambient), no_new_privs, not dumpable, and a
 * seccomp filter. Every command inherits all of it; what goes on each command
 * instead (rlimits) is its spawn_policy, made here too.
 */
#include "agent.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NS_FAIL "cannot set up the namespace sandbox: "

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

void lockdown_policy(const agent_ctx *ctx, spawn_policy *pol) {
    memset(pol, 0, sizeof *pol);
    if (ctx->cfg.level != AGENT_LEVEL_NAMESPACES)
        return; /* level none: the caller's own limits */
    pol->limits = 1;
    pol->nofile = AGENT_NOFILE;
    pol->nproc = (uint64_t)ctx->iso.nproc;
    pol->as_bytes = ctx->cfg.mem_bytes;
    pol->fsize_bytes = ctx->cfg.storage_bytes;
    pol->subreaper = 1;
    pol->cgroup_fd = ctx->cg.cmds_fd; /* beside the agent's cgroup (outer_cgroup.c) */
}

/* pid 1's own rlimits: the documented values of agent.h, not the
 * creator's (a raised RTPRIO, NICE or MEMLOCK would reach every command
 * through us; NOFILE is ours to size). Lowering always works; NOFILE can
 * only be raised up to the hard limit we were given. */
static int reset_rlimits(nox__buf *msg) {
    static const struct {
        int res;
        const char *name;
        rlim_t v;
    } fixed[] = {
        {RLIMIT_CORE, "RLIMIT_CORE", AGENT_CORE},
        {RLIMIT_RTPRIO, "RLIMIT_RTPRIO", AGENT_RTPRIO},
        {RLIMIT_NICE, "RLIMIT_NICE", AGENT_NICE},
        {RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK", AGENT_MEMLOCK},
        {RLIMIT_NOFILE, "RLIMIT_NOFILE", AGENT_SELF_NOFILE},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        struct rlimit rl = {fixed[i].v, fixed[i].v}, cur;
        if (fixed[i].res == RLIMIT_NOFILE && getrlimit(RLIMIT_NOFILE, &cur) == 0 &&
            cur.rlim_max != RLIM_INFINITY && cur.rlim_max < rl.rlim_max)
            rl.rlim_cur = rl.rlim_max = cur.rlim_max;
        if (setrlimit(fixed[i].res, &rl) != 0) {
            nox__buf_printf(msg, NS_FAIL "setrlimit %s: %s", fixed[i].name, strerror(errno));
            return NOX_ESANDBOX;
        }
    }
    return 0;
}

int lockdown(agent_ctx *ctx, nox__buf *msg) {
    int rc;
    /* The limits go on each command (spawn.c); here only a check that
     * they can be set at all, so create reports it. */
    struct rlimit cur;
    if (getrlimit(RLIMIT_NPROC, &cur) == 0 && cur.rlim_max != RLIM_INFINITY &&
        cur.rlim_max < (rlim_t)ctx->iso.nproc)
        ctx->iso.nproc = (long)cur.rlim_max;
    if ((rc = reset_rlimits(msg)) != 0)
        return rc;
    agent_hide_cmdline(ctx);
    /* Nobody inside may read our memory or descriptors through /proc/1. */
    prctl(PR_SET_DUMPABLE, 0);
    for (int c = 0; c < 64; c++)
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno == EINVAL)
            break;
    /* SECBIT_NOROOT | NO_SETUID_FIXUP | KEEP_CAPS_LOCKED | NO_CAP_AMBIENT_RAISE,
     * each locked: uid 0 of the namespace never gains anything by exec. */
    unsigned long bits = 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80;
    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0) {
        nox__buf_printf(msg, NS_FAIL "PR_SET_SECUREBITS: %s", strerror(errno));
        return NOX_ESANDBOX;
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct cap_header h = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
    struct cap_data d[2];
    memset(d, 0, sizeof d);
    if (syscall(SYS_capset, &h, d) != 0) {
        nox__buf_printf(msg, NS_FAIL "dropping capabilities: %s", strerror(errno));
        return NOX_ESANDBOX;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        nox__buf_printf(msg, NS_FAIL "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
        return NOX_ESANDBOX;
    }
    if ((rc = install_seccomp()) != 0) {
        nox__buf_printf(msg, NS_FAIL "installing the seccomp filter: %s", strerror(-rc));
        return NOX_EUNSUPPORTED;
    }
    return 0;
}

/*
 * lockdown.c - what pid 1 of a namespaces-level sandbox does to itself
 * before it starts any thread: rlimits at documented values (agent.h),
 * a command line that names nothing of the host, no capabilities
 * (bounding set, securebits, ambient), no_new_privs, not dumpable, and a
 * seccomp filter (seccomp.c). Every command inherits all of it; what goes on each command
 * instead (rlimits) is its spawn_policy, made here too.
 */
#include "agent.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NS_FAIL "cannot set up the namespace sandbox: "

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
    if ((rc = seccomp_install()) != 0) {
        nox__buf_printf(msg, NS_FAIL "installing the seccomp filter: %s", strerror(-rc));
        return NOX_EUNSUPPORTED;
    }
    return 0;
}

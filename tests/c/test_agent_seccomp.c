/*
 * test_agent_seccomp.c - the allow-list seccomp filter (core/agent/seccomp.c).
 *
 * The program the agent installs is run here through a small classic-BPF
 * interpreter for every call number from 0 to 1100 and compared with a
 * linear lookup in the table, so the search tree, its segments and its
 * long jumps are checked everywhere, not only for the calls the other
 * tests happen to make; the argument checks are run with the arguments
 * that must pass and fail. Then the filter is installed for real in a
 * child, which makes the calls.
 */
#include "nox_test.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

#if defined(__x86_64__) || defined(__aarch64__)
#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#else
#define ARCH AUDIT_ARCH_AARCH64
#endif

#define BAD 0xdeadbeefu /* the interpreter's "the program is broken" */
#define ERR(e) (SECCOMP_RET_ERRNO | (uint32_t)(e))

static struct sock_filter F[4096];
static long NF;

/* What the kernel would do with the program for d: its return value. */
static uint32_t run(const struct seccomp_data *d) {
    uint32_t a = 0;
    for (long pc = 0; pc >= 0 && pc < NF;) {
        const struct sock_filter *i = &F[pc++];
        switch (i->code) {
        case BPF_LD | BPF_W | BPF_ABS:
            if (i->k > sizeof *d - 4 || i->k % 4)
                return BAD;
            memcpy(&a, (const char *)d + i->k, 4);
            break;
        case BPF_JMP | BPF_JA: pc += (long)i->k; break;
        case BPF_JMP | BPF_JEQ | BPF_K: pc += a == i->k ? i->jt : i->jf; break;
        case BPF_JMP | BPF_JGE | BPF_K: pc += a >= i->k ? i->jt : i->jf; break;
        case BPF_JMP | BPF_JSET | BPF_K: pc += (a & i->k) ? i->jt : i->jf; break;
        case BPF_RET | BPF_K: return i->k;
        default: return BAD;
        }
    }
    return BAD; /* ran off the end */
}

static uint32_t call(int nr, uint64_t a0, uint64_t a1, uint64_t a2) {
    struct seccomp_data d;
    memset(&d, 0, sizeof d);
    d.nr = nr;
    d.arch = ARCH;
    d.args[0] = a0;
    d.args[1] = a1;
    d.args[2] = a2;
    return run(&d);
}

NT_TEST(every_number_gets_the_tables_verdict) {
    NT_CHECK(NF > 0 && NF < 4096);
    int checked = 0;
    for (int nr = 0; nr <= 1100; nr++) {
        int v = seccomp_table_verdict(nr);
        if (v < 0)
            continue; /* decided by the arguments: below */
        uint32_t want = v == 0 ? SECCOMP_RET_ALLOW : ERR(v), got = call(nr, 0, 0, 0);
        if (got != want) {
            nt_fail(__FILE__, __LINE__, "call %d: the filter answers %#x, the table %#x", nr,
                    got, want);
            return;
        }
        checked++;
    }
    NT_CHECK(checked > 1000);
    NT_CHECK_INT(call(0x3fffffff, 0, 0, 0), ERR(ENOSYS)); /* the largest numbers too */
#if defined(__aarch64__)
    NT_CHECK_INT(call(-2, 0, 0, 0), ERR(ENOSYS));
#endif
}

NT_TEST(the_tables_choices) {
    NT_CHECK_INT(seccomp_table_verdict(__NR_read), 0);
    NT_CHECK_INT(seccomp_table_verdict(__NR_execve), 0);
    NT_CHECK_INT(seccomp_table_verdict(__NR_mount), EPERM);
    NT_CHECK_INT(seccomp_table_verdict(__NR_unshare), EPERM);
    NT_CHECK_INT(seccomp_table_verdict(__NR_bpf), EPERM);
    NT_CHECK_INT(seccomp_table_verdict(467 /* open_tree_attr */), EPERM);
    NT_CHECK_INT(seccomp_table_verdict(__NR_clone3), ENOSYS);
    NT_CHECK_INT(seccomp_table_verdict(457 /* statmount */), ENOSYS);
    NT_CHECK_INT(seccomp_table_verdict(458 /* listmount */), ENOSYS);
    NT_CHECK_INT(seccomp_table_verdict(469 /* file_setattr */), ENOSYS);
    NT_CHECK_INT(seccomp_table_verdict(__NR_socket), -1);
}

NT_TEST(foreign_abis_are_killed) {
    struct seccomp_data d;
    memset(&d, 0, sizeof d);
    d.nr = __NR_getpid;
    d.arch = AUDIT_ARCH_I386;
    NT_CHECK_INT(run(&d), SECCOMP_RET_KILL_PROCESS);
#if defined(__x86_64__)
    NT_CHECK_INT(call(0x40000000 | __NR_getpid, 0, 0, 0), SECCOMP_RET_KILL_PROCESS);
#endif
}

NT_TEST(argument_checks) {
    const uint32_t OK = SECCOMP_RET_ALLOW;
    NT_CHECK_INT(call(__NR_socket, AF_UNIX, SOCK_STREAM, 0), OK);
    NT_CHECK_INT(call(__NR_socket, AF_INET, SOCK_DGRAM, 0), OK);
    NT_CHECK_INT(call(__NR_socket, AF_INET6, SOCK_STREAM, 0), OK);
    NT_CHECK_INT(call(__NR_socket, AF_NETLINK, SOCK_RAW, 0 /* ROUTE */), OK);
    NT_CHECK_INT(call(__NR_socket, AF_NETLINK, SOCK_RAW, 4 /* SOCK_DIAG */), ERR(EPROTONOSUPPORT));
    NT_CHECK_INT(call(__NR_socket, 40 /* AF_VSOCK */, SOCK_STREAM, 0), ERR(EAFNOSUPPORT));
    NT_CHECK_INT(call(__NR_socket, AF_PACKET, SOCK_RAW, 0), ERR(EAFNOSUPPORT));
    NT_CHECK_INT(call(__NR_socket, 38 /* AF_ALG */, SOCK_SEQPACKET, 0), ERR(EAFNOSUPPORT));
    NT_CHECK_INT(call(__NR_socketpair, AF_UNIX, SOCK_STREAM, 0), OK);
    NT_CHECK_INT(call(__NR_socketpair, AF_INET, SOCK_STREAM, 0), ERR(EAFNOSUPPORT));
    /* prlimit64(pid, resource, new, old) */
    NT_CHECK_INT(call(__NR_prlimit64, 0, RLIMIT_NOFILE, 0x1000), OK);
    NT_CHECK_INT(call(__NR_prlimit64, 1, RLIMIT_NOFILE, 0), OK); /* read only */
    NT_CHECK_INT(call(__NR_prlimit64, 1, RLIMIT_NOFILE, 0x1000), ERR(EPERM));
    NT_CHECK_INT(call(__NR_prlimit64, 1, RLIMIT_NOFILE, 1ull << 40), ERR(EPERM));
    NT_CHECK_INT(call(__NR_prlimit64, 1ull << 32, RLIMIT_NOFILE, 0x1000), OK); /* pid_t 0 */
    /* RLIMIT_CORE stays as pid 1 set it: lowered to 0, a crash would start
     * a pipe core_pattern's helper on the host. Reading it is fine. */
    NT_CHECK_INT(call(__NR_prlimit64, 0, RLIMIT_CORE, 0x1000), ERR(EPERM));
    NT_CHECK_INT(call(__NR_prlimit64, 0, RLIMIT_CORE, 1ull << 40), ERR(EPERM));
    NT_CHECK_INT(call(__NR_prlimit64, 0, RLIMIT_CORE, 0), OK);
    NT_CHECK_INT(call(__NR_prlimit64, 1, RLIMIT_CORE, 0x1000), ERR(EPERM));
#ifdef __NR_setrlimit
    NT_CHECK_INT(call(__NR_setrlimit, RLIMIT_CORE, 0x1000, 0), ERR(EPERM));
    NT_CHECK_INT(call(__NR_setrlimit, RLIMIT_NOFILE, 0x1000, 0), OK);
#endif
    NT_CHECK_INT(call(__NR_clone, SIGCHLD, 0, 0), OK);
    NT_CHECK_INT(call(__NR_clone, CLONE_NEWUSER | SIGCHLD, 0, 0), ERR(EPERM));
    NT_CHECK_INT(call(__NR_clone, CLONE_NEWNET, 0, 0), ERR(EPERM));
    NT_CHECK_INT(call(__NR_ioctl, 0, FIONREAD, 0), OK);
    NT_CHECK_INT(call(__NR_ioctl, 0, TIOCSTI, 0), ERR(EPERM));
    NT_CHECK_INT(call(__NR_ioctl, 0, TIOCSTI | (1ull << 32), 0), ERR(EPERM));
    NT_CHECK_INT(call(__NR_personality, 0xffffffffu, 0, 0), OK);
    NT_CHECK_INT(call(__NR_personality, 0x0040000 /* ADDR_NO_RANDOMIZE */, 0, 0), ERR(EPERM));
}

/* In a child under the real filter: the calls a program makes. 0: all as
 * expected; else the line of the first that was not. */
static int child_under_filter(void) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || seccomp_install() != 0)
        return __LINE__;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return __LINE__;
    if (prlimit(getppid(), RLIMIT_NOFILE, &rl, NULL) == 0 || errno != EPERM)
        return __LINE__;
    if (prlimit(getppid(), RLIMIT_NOFILE, NULL, &rl) != 0) /* reading is fine */
        return __LINE__;
    if (getrlimit(RLIMIT_CORE, &rl) != 0 || setrlimit(RLIMIT_CORE, &rl) == 0 || errno != EPERM)
        return __LINE__;
    if (syscall(457 /* statmount */, 0, 0, 0, 0) == 0 || errno != ENOSYS)
        return __LINE__;
    if (syscall(1000) == 0 || errno != ENOSYS)
        return __LINE__;
    if (unshare(CLONE_NEWUSER) == 0 || errno != EPERM)
        return __LINE__;
    if (socket(40 /* AF_VSOCK */, SOCK_STREAM, 0) >= 0 || errno != EAFNOSUPPORT)
        return __LINE__;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return __LINE__;
    close(s);
    pid_t p = fork(); /* through clone, as clone3 gets ENOSYS */
    if (p == 0) {
        execl("/bin/sh", "sh", "-c", "exit 7", (char *)NULL);
        _exit(1);
    }
    int st;
    if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
        return __LINE__;
    return 0;
}

NT_TEST(installed_filter_in_a_child) {
    pid_t p = fork();
    if (p == 0)
        _exit(child_under_filter());
    int st;
    NT_CHECK(waitpid(p, &st, 0) == p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        nt_fail(__FILE__, __LINE__, "child: %s %d (exit: the line in child_under_filter)",
                WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

int main(void) {
    NF = seccomp_filter(F, sizeof F / sizeof F[0]);
    fprintf(stderr, "the filter: %ld instructions\n", NF);
    NT_RUN(every_number_gets_the_tables_verdict);
    NT_RUN(the_tables_choices);
    NT_RUN(foreign_abis_are_killed);
    NT_RUN(argument_checks);
    NT_RUN(installed_filter_in_a_child);
    return nt_main_end();
}
#else
int main(void) { return nt_skip_all("arch", "no seccomp filter for this architecture"); }
#endif

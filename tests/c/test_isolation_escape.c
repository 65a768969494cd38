/*
 * test_isolation_escape.c - escape attempts against the local backend's
 * "namespaces" isolation level. Each test is one attack, named after it,
 * and asserts that the attack fails.
 *
 * The syscall-level attacks live in tests/security/attacks.c, which this
 * program compiles on the host (cc), uploads into the sandbox and runs
 * there; the rest are shell commands, host-side probes (listening sockets,
 * host processes, host files) and crafted archives.
 *
 * Run as root, the whole suite then runs again as nobody (setpriv), so
 * every attack is tried against both the root and the unprivileged setup.
 */
#include "nox_test.h"

#include <archive.h>
#include <dirent.h>
#include <archive_entry.h>
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "local/local.h"

static nox_client *C;
static char *BASE;
static const char *SID;
static char WORK[4096]; /* host temp dir for this run */
static char MARK[64];   /* unique marker for host-side traces */
static int AS_ROOT;

/* ---- helpers --------------------------------------------------------------- */

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static shres sh_t(const char *sid, const char *script, int timeout) {
    return nt_sh(C, sid, script, timeout);
}

static shres sh(const char *sid, const char *script) { return sh_t(sid, script, 30); }


/* ---- positive controls ------------------------------------------------------
 * Each attack also runs where it must work, and must be shown to work there,
 * so that BLOCKED in the sandbox means blocked, not a broken probe:
 *   CTL_HOST  on the host, as this process's user, in a forked child;
 *   CTL_NS    in namespaces made here with every protection off: a private
 *             mount, UTS, IPC and pid namespace (plus a user namespace when
 *             not root) where the caller keeps its capabilities, /proc is
 *             that pid namespace's, /usr a bind mount, and pid 1 a stand-in
 *             agent of the same user. Nothing done there reaches the host;
 *   CTL_PTY   on the host with a fresh pseudo-terminal as stdin and
 *             controlling terminal;
 *   CTL_FD    on the host with descriptor 3 left open. */
enum { CTL_HOST, CTL_NS, CTL_PTY, CTL_FD };

static void write_str(const char *path, const char *s) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
        _exit(120);
    close(fd);
}

/* In the CTL_NS child, after unshare: become pid 1's child with the view set
 * up. Returns in the process that is to exec the probe. */
static void ns_enter(void) {
    uid_t uid = getuid();
    gid_t gid = getgid();
    int fl = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID;
    if (uid != 0)
        fl |= CLONE_NEWUSER;
    if (unshare(fl) != 0) {
        printf("ERROR control: unshare: %s\n", strerror(errno));
        _exit(121);
    }
    if (uid != 0) {
        char m[64];
        write_str("/proc/self/setgroups", "deny");
        snprintf(m, sizeof m, "0 %u 1", (unsigned)uid);
        write_str("/proc/self/uid_map", m);
        snprintf(m, sizeof m, "0 %u 1", (unsigned)gid);
        write_str("/proc/self/gid_map", m);
    }
    pid_t init = fork(); /* pid 1 of the new pid namespace */
    if (init < 0)
        _exit(122);
    if (init > 0) {
        int st;
        waitpid(init, &st, 0);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 123);
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0 ||
        mount("/usr", "/usr", NULL, MS_BIND | MS_REC, NULL) != 0) {
        printf("ERROR control: mounts: %s\n", strerror(errno));
        _exit(124);
    }
    pid_t probe = fork(); /* pid 1 stays, as the agent would, and waits */
    if (probe < 0)
        _exit(125);
    if (probe > 0) {
        int st;
        while (waitpid(probe, &st, 0) < 0 && errno == EINTR) {
        }
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 126);
    }
}

static void pty_enter(void) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0 || setsid() < 0)
        _exit(127);
    int s = open(ptsname(m), O_RDWR); /* the first tty opened: our terminal */
    if (s < 0 || dup2(s, 0) < 0)
        _exit(127);
}

/* argv run outside the sandbox in env (CTL_*), cwd WORK; its stdout
 * (malloc'd) and exit code. */
static char *run_outside(int env, const char *const *argv, int *code) {
    int p[2];
    *code = -1;
    if (pipe(p) != 0)
        return NULL;
    pid_t c = fork();
    if (c == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        if (chdir(WORK) != 0)
            _exit(120);
        if (env == CTL_NS)
            ns_enter();
        else if (env == CTL_PTY)
            pty_enter();
        else if (env == CTL_FD && open("/dev/null", O_RDONLY) < 0) /* lands on 3 */
            _exit(120);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    ssize_t r;
    while (buf && (r = read(p[0], buf + n, cap - n)) > 0) {
        n += (size_t)r;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
    }
    close(p[0]);
    if (buf)
        buf[n] = 0;
    int st;
    waitpid(c, &st, 0);
    *code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return buf;
}

/* `attacks name arg` outside the sandbox; its exit code (1: ESCAPED). */
static int control(int env, const char *name, const char *arg) {
    char bin[4200];
    snprintf(bin, sizeof bin, "%s/attacks", WORK);
    const char *argv[] = {bin, name, arg ? arg : "", NULL};
    int code;
    char *out = run_outside(env, argv, &code);
    fprintf(stderr, "    control: %s", out && *out ? out : "(no output)\n");
    free(out);
    return code;
}

/* `sh -c script` outside the sandbox; its stdout (malloc'd). */
static char *host_sh(int env, const char *script) {
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    int code;
    char *out = run_outside(env, argv, &code);
    fprintf(stderr, "    control: %s", out && *out ? out : "(no output)\n");
    return out;
}

/* Judge a positive control's exit code: it must have escaped. Where the
 * kernel lacks the facility, or (not root) the host refuses this user too,
 * there is nothing to show: the test is skipped, saying so. */
static void judge_control(int code, const char *name) {
    if (code == 1)
        return;
    if (code == 3) {
        nt_skip("control", "%s: the kernel has no such facility (ENOSYS), nothing to escape to",
                name);
        return;
    }
    if (code == 0 && !AS_ROOT) {
        nt_skip("control", "%s: the host refuses it to this user too, with no sandbox", name);
        return;
    }
    nt_fail(__FILE__, __LINE__, "positive control of %s did not escape (exit %d): the probe "
            "proves nothing", name, code);
}

/* The attack in the sandbox (must be BLOCKED), then its control (must
 * ESCAPE); ctl_arg NULL: the same arg. */
static void attack(int env, const char *name, const char *arg, const char *ctl_arg);

/* Run attacks NAME ARG in sid; 1 when it reports BLOCKED. */
static int blocked_in(const char *sid, const char *name, const char *arg) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/workspace/attacks %s %s", name, arg ? arg : "");
    shres r = sh(sid, cmd);
    int ok = r.code == 0 && r.out && !strncmp(r.out, "BLOCKED ", 8);
    fprintf(stderr, "    %s", r.out && *r.out ? r.out : "(no output)\n");
    if (!ok)
        fprintf(stderr, "    exit code %d\n", r.code);
    free(r.out);
    return ok;
}

static int blocked(const char *name, const char *arg) { return blocked_in(SID, name, arg); }

static void attack(int env, const char *name, const char *arg, const char *ctl_arg) {
    NT_CHECK(blocked(name, arg));
    judge_control(control(env, name, ctl_arg ? ctl_arg : arg), name);
}

static int upload_attacks(const char *sid) {
    char path[4200];
    snprintf(path, sizeof path, "%s/attacks", WORK);
    size_t len = 0;
    char *bin = nt_read_file(path, &len);
    if (!bin)
        return -1;
    nox_files *f = NULL;
    int rc = nox_files_new(&f, NULL);
    if (!rc)
        rc = nox_files_add(f, "attacks", (const uint8_t *)bin, len, 0755, NULL);
    if (!rc)
        rc = nox_upload(C, sid, f, "/workspace", NULL);
    nox_files_free(f);
    free(bin);
    return rc;
}

static int create_with(const char *sid, const char *mem, const char *storage, int ttl) {
    int rc = nt_create_limited(C, sid, mem, NULL, storage, ttl);
    return rc ? rc : upload_attacks(sid);
}

static int host_procs_with(const char *tag);

/* A host process running "sleep <tag>.<our pid>" (the marker is in its
 * command line after exec, unlike a shell comment); its pid, once it is
 * there to be seen. */
static pid_t host_sleeper(const char *tag) {
    char arg[64];
    snprintf(arg, sizeof arg, "%s.%d", tag, (int)getpid());
    pid_t p = fork();
    if (p == 0) {
        execl("/bin/sleep", "sleep", arg, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && host_procs_with(tag) < 1; i++)
        sleep_ms(10);
    return p;
}

/* How many host processes have "MARK-tag" in their command line. */
/* tag is a number: the processes run "sleep <tag>.<our pid>". */
static int host_procs_with(const char *tag) {
    char needle[128];
    snprintf(needle, sizeof needle, "sleep %s.%d", tag, (int)getpid());
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/%s/cmdline", de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        char buf[4096];
        ssize_t r = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (r <= 0)
            continue;
        for (ssize_t i = 0; i < r; i++)
            if (!buf[i])
                buf[i] = ' ';
        buf[r] = 0;
        if (strstr(buf, needle))
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

static int host_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

/* ---- reading and writing the host ------------------------------------------ */

NT_TEST(read_host_home_root_and_state_dirs) {
    const char *probe = "for p in /root /home /var /srv /mnt /run /sys /media /boot; do "
                        "[ -e $p ] && echo FOUND $p; done; cat /root/.bashrc 2>/dev/null; true";
    shres r = sh(SID, probe);
    NT_CHECK_SH_EMPTY(r);
    free(r.out);
    char *c = host_sh(CTL_HOST, probe); /* the host has them */
    NT_CHECK(c && strstr(c, "FOUND /root"));
    free(c);
}

NT_TEST(read_etc_shadow) {
    const char *probe = "[ -r /etc/passwd ] || echo NO-ETC-PASSWD; "
                        "cat /etc/shadow /etc/gshadow 2>/dev/null; true";
    shres r = sh(SID, probe);
    NT_CHECK(r.code == 0 && r.out && !strstr(r.out, "root:") && !strstr(r.out, "NO-ETC"));
    free(r.out);
    if (!AS_ROOT) {
        nt_skip("control", "only root reads /etc/shadow on the host: control in the root run");
        return;
    }
    char *c = host_sh(CTL_HOST, probe);
    NT_CHECK(c && strstr(c, "root:"));
    free(c);
}

NT_TEST(read_the_base_dir_and_other_sessions_workspaces) {
    const char *victim = nt_sid("victim");
    NT_CHECK(create_with(victim, NULL, NULL, 60) == 0);
    char script[8400];
    snprintf(script, sizeof script, "echo %s-secret > /workspace/secret.txt", MARK);
    shres w = sh(victim, script);
    NT_CHECK(w.code == 0);
    free(w.out);
    /* The host path of the base dir, and a search of the whole view. */
    snprintf(script, sizeof script,
             "ls %s 2>/dev/null && echo LISTED; "
             "find / -path /proc -prune -o -path /usr -prune -o -name secret.txt -print "
             "2>/dev/null; grep -rs %s-secret /tmp /workspace /etc 2>/dev/null; true",
             BASE, MARK);
    shres r = sh(SID, script);
    nox_sandbox_delete(C, victim, NULL);
    NT_CHECK_SH_EMPTY(r);
    free(r.out);
    snprintf(script, sizeof script, "ls %s >/dev/null && echo LISTED", BASE);
    char *c = host_sh(CTL_HOST, script);
    NT_CHECK(c && !strcmp(c, "LISTED\n"));
    free(c);
}

#define WRITE_PROBE "for d in %s; do touch $d/nox-escape 2>/dev/null && echo WROTE $d; done; true"

NT_TEST(write_outside_the_workspace) {
    char probe[4400];
    snprintf(probe, sizeof probe, WRITE_PROBE, "/ /usr /usr/bin /etc /bin /lib /opt /dev "
                                               "/proc/sys/kernel");
    shres r = sh(SID, probe);
    NT_CHECK_SH_EMPTY(r);
    free(r.out);
    NT_CHECK(!host_exists("/etc/nox-escape") && !host_exists("/usr/bin/nox-escape"));
    /* The probe does see a write where one is allowed. */
    snprintf(probe, sizeof probe, WRITE_PROBE, WORK);
    char *c = host_sh(CTL_HOST, probe);
    NT_CHECK(c && strstr(c, "WROTE"));
    free(c);
}

NT_TEST(write_the_host_tmp) {
    char script[256], host[256];
    snprintf(script, sizeof script, "echo x > /tmp/%s-tmp && echo wrote-tmp", MARK);
    snprintf(host, sizeof host, "/tmp/%s-tmp", MARK);
    shres r = sh(SID, script);
    NT_CHECK(r.code == 0 && r.out && !strcmp(r.out, "wrote-tmp\n")); /* a /tmp of its own */
    free(r.out);
    NT_CHECK(!host_exists(host)); /* ... which is not the host's */
    char *c = host_sh(CTL_HOST, script); /* the same run on the host shows */
    free(c);
    NT_CHECK(host_exists(host));
    unlink(host);
}

NT_TEST(hardlink_a_host_file_into_the_workspace) {
    /* Into the current directory: /workspace inside, WORK for the control. */
    const char *probe = "ln /etc/passwd ./pw 2>/dev/null && echo LINKED; "
                        "ln /usr/bin/env ./envlink 2>/dev/null && echo LINKED; true";
    shres r = sh(SID, probe);
    NT_CHECK_SH_EMPTY(r);
    free(r.out);
    if (!AS_ROOT) { /* protected_hardlinks: nobody links no foreign files anywhere */
        nt_skip("control", "the host refuses it to this user too: control in the root run");
        return;
    }
    char *c = host_sh(CTL_HOST, probe);
    NT_CHECK(c && strstr(c, "LINKED"));
    free(c);
}

NT_TEST(write_kernel_knobs_in_proc) {
    /* Each knob written with the value it has: the permission is what is
     * tried, and the control changes nothing on the host. */
    const char *probe =
        "[ -r /proc/sys/kernel/hostname ] || echo NO-PROC-SYS; "
        "for k in sysrq hostname domainname; do f=/proc/sys/kernel/$k; "
        "v=$(cat $f) && (echo \"$v\" > $f) 2>/dev/null && echo WROTE $k; done; true";
    shres r = sh(SID, probe);
    NT_CHECK_SH_EMPTY(r);
    free(r.out);
    if (!AS_ROOT) {
        nt_skip("control", "the host refuses it to this user too: control in the root run");
        return;
    }
    char *c = host_sh(CTL_HOST, probe);
    NT_CHECK(c && strstr(c, "WROTE"));
    free(c);
}

/* ---- processes -------------------------------------------------------------- */

NT_TEST(see_host_processes) {
    pid_t p = host_sleeper("304");
    char script[512];
    /* [3]04.pid: the grep does not find its own command line. */
    snprintf(script, sizeof script,
             "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -c '[3]04\\.%d'; "
             "ls /proc | grep -c '^[0-9]'", (int)getpid());
    shres r = sh(SID, script);
    char *c = host_sh(CTL_HOST, script); /* the host sees the decoy */
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
    NT_CHECK(r.out && c);
    int seen = atoi(r.out), seen_outside = atoi(c);
    free(c);
    const char *nl = strchr(r.out, '\n');
    int procs = nl ? atoi(nl + 1) : 999;
    fprintf(stderr, "    sandbox sees %d processes\n", procs);
    free(r.out);
    NT_CHECK_INT(seen, 0);
    NT_CHECK_INT(seen_outside, 1);
    NT_CHECK(procs < 20);
}

/* 1 when child p is still running (a killed, unreaped child is not). */
static int child_alive(pid_t p) { return waitpid(p, NULL, WNOHANG) == 0; }

NT_TEST(signal_a_host_process) {
    pid_t p = host_sleeper("305");
    char arg[32];
    snprintf(arg, sizeof arg, "%d", (int)p);
    int ok = blocked("kill_pid", arg);
    sleep_ms(50);
    int alive = child_alive(p);
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
    NT_CHECK(ok);
    NT_CHECK(alive);
    /* Control: the same probe on the host kills a decoy, and we see it. */
    p = host_sleeper("306");
    snprintf(arg, sizeof arg, "%d", (int)p);
    int code = control(CTL_HOST, "kill_pid", arg);
    int st = 0;
    pid_t w = 0;
    for (int i = 0; i < 500 && w == 0; i++) {
        w = waitpid(p, &st, WNOHANG);
        if (w == 0)
            sleep_ms(10);
    }
    if (w == 0) {
        kill(p, SIGKILL);
        waitpid(p, NULL, 0);
    }
    NT_CHECK_INT(code, 1);
    NT_CHECK(w == p && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

NT_TEST(kill_the_sandbox_init) {
    /* No control can show this one working: pid 1 of a pid namespace
     * ignores these signals from inside it anywhere. What is checked is
     * that the attempt was made and the sandbox lives on. */
    shres r = sh(SID, "[ -d /proc/1 ] || echo NO-PID-1; kill -9 1; kill -TERM 1; kill -STOP 1; "
                      "echo tried");
    NT_CHECK(r.out && strstr(r.out, "tried\n") && !strstr(r.out, "NO-PID-1"));
    free(r.out);
    shres a = sh(SID, "echo alive");
    NT_CHECK(a.out && !strcmp(a.out, "alive\n"));
    free(a.out);
}

NT_TEST(ptrace_agent) { attack(CTL_NS, "ptrace_agent", NULL, NULL); }
NT_TEST(ptrace_sibling) { attack(CTL_HOST, "ptrace_sibling", NULL, NULL); }
NT_TEST(read_agent_memory) { attack(CTL_NS, "read_agent_memory", NULL, NULL); }
NT_TEST(agent_descriptors) { attack(CTL_NS, "agent_descriptors", NULL, NULL); }
NT_TEST(leaked_descriptors) { attack(CTL_FD, "leaked_descriptors", NULL, NULL); }
NT_TEST(tiocsti) { attack(CTL_PTY, "tiocsti", NULL, NULL); }

/* ---- namespaces, mounts, privileged calls --------------------------------- */

NT_TEST(nested_user_namespace) {
    attack(CTL_HOST, "nested_user_namespace", NULL, NULL);
    if (nt_failed_checks)
        return;
    /* The same with the unshare tool, which must be there to try. */
    const char *probe = "command -v unshare >/dev/null || echo NO-UNSHARE-TOOL; "
                        "unshare -Ur true 2>/dev/null && echo NESTED; true";
    shres r = sh(SID, probe);
    NT_CHECK_SH_EMPTY(r);
    free(r.out);
    char *c = host_sh(CTL_HOST, probe);
    NT_CHECK(c && !strcmp(c, "NESTED\n"));
    free(c);
}
NT_TEST(nested_mount_namespace) { attack(CTL_NS, "nested_mount_namespace", NULL, NULL); }
NT_TEST(clone_with_new_user_namespace) {
    attack(CTL_HOST, "clone_with_new_user_namespace", NULL, NULL);
}
NT_TEST(setns_into_host) { attack(CTL_NS, "setns_into_host", NULL, NULL); }
NT_TEST(mount_tmpfs) { attack(CTL_NS, "mount_tmpfs", NULL, NULL); }
NT_TEST(remount_system_dir_rw) { attack(CTL_NS, "remount_system_dir_rw", NULL, NULL); }
NT_TEST(umount_mask) { attack(CTL_NS, "umount_mask", NULL, NULL); }
NT_TEST(chroot_escape) { attack(CTL_NS, "chroot_escape", NULL, NULL); }
NT_TEST(load_kernel_module) { attack(CTL_NS, "load_kernel_module", NULL, NULL); }
NT_TEST(finit_kernel_module) { attack(CTL_NS, "finit_kernel_module", NULL, NULL); }
NT_TEST(bpf_program) { attack(CTL_HOST, "bpf_program", NULL, NULL); }
NT_TEST(keyring) { attack(CTL_HOST, "keyring", NULL, NULL); }
NT_TEST(io_uring) { attack(CTL_HOST, "io_uring", NULL, NULL); }
NT_TEST(perf_event) { attack(CTL_HOST, "perf_event", NULL, NULL); }
NT_TEST(userfaultfd) { attack(CTL_HOST, "userfaultfd", NULL, NULL); }
NT_TEST(open_by_handle) { attack(CTL_NS, "open_by_handle", NULL, NULL); }
NT_TEST(mknod_device) { attack(CTL_NS, "mknod_device", NULL, NULL); }
NT_TEST(disable_aslr) { attack(CTL_HOST, "disable_aslr", NULL, NULL); }
NT_TEST(set_hostname) { attack(CTL_NS, "set_hostname", NULL, NULL); }
NT_TEST(reboot_host) { attack(CTL_NS, "reboot_host", NULL, NULL); }
NT_TEST(foreign_abi) { attack(CTL_HOST, "foreign_abi", NULL, NULL); }
NT_TEST(regain_capabilities) { attack(CTL_HOST, "regain_capabilities", NULL, NULL); }

NT_TEST(unreviewed_syscalls) {
    /* Calls newer than the filter's table, by raw number: refused, not
     * passed to the kernel (the control shows the kernel has them). */
    attack(CTL_HOST, "unreviewed_syscalls", NULL, "host");
}

NT_TEST(prlimit_the_agent) {
    /* In a sandbox of its own: where it works, the agent is wedged. */
    const char *sid = nt_sid("prlimit");
    NT_CHECK(create_with(sid, NULL, NULL, 120) == 0);
    int ok = blocked_in(sid, "prlimit_agent", NULL);
    shres a = sh_t(sid, "echo alive", 20);
    int alive = a.out && !strcmp(a.out, "alive\n");
    fprintf(stderr, "    after it: %s\n", alive ? "alive" : a.out ? a.out : "(no output)");
    free(a.out);
    NT_OK(nox_sandbox_delete(C, sid, &err)); /* even where it worked */
    NT_CHECK(ok);
    NT_CHECK(alive);
    judge_control(control(CTL_NS, "prlimit_agent", NULL), "prlimit_agent");
}

NT_TEST(setuid_binaries) {
    /* A setuid copy made inside, and the host's own setuid programs. */
    shres r = sh(SID, "cp /workspace/attacks /workspace/suid && chmod 4755 /workspace/suid && "
                      "/workspace/suid regain_capabilities");
    NT_CHECK(r.code == 0 && r.out && !strncmp(r.out, "BLOCKED", 7));
    free(r.out);
    const char *probe =
        "[ -u /usr/bin/mount ] || [ -u /bin/mount ] || echo NO-SETUID-MOUNT; "
        "for b in /usr/bin/mount /bin/mount; do [ -u $b ] || continue; "
        "$b -t tmpfs none /tmp 2>/dev/null && echo MOUNTED; break; done; "
        "su -c true root </dev/null >/dev/null 2>&1 && echo SU; "
        "grep -q '^CapEff:[[:space:]]*0*$' /proc/self/status || echo CAPS; true";
    r = sh(SID, probe);
    NT_CHECK_SH_EMPTY(r);
    free(r.out);
    /* Control, in namespaces of its own (the tmpfs lands there). */
    char *c = host_sh(CTL_NS, probe);
    NT_CHECK(c && strstr(c, "MOUNTED") && strstr(c, "CAPS"));
    free(c);
}

/* ---- network ------------------------------------------------------------------ */

NT_TEST(reach_the_network) {
    /* No route out (a UDP connect looks the route up and sends nothing;
     * 198.18.0.1 is a benchmarking address, never reached). */
    attack(CTL_HOST, "route_out", "198.18.0.1", NULL);
    if (nt_failed_checks)
        return;
    const char *probe = "[ -r /proc/net/dev ] || echo NO-PROC-NET-DEV; "
                        "grep -v -e '|' -e 'lo:' /proc/net/dev; true";
    shres r = sh(SID, probe);
    NT_CHECK_SH_EMPTY(r); /* no interface but lo */
    free(r.out);
    char *c = host_sh(CTL_HOST, probe); /* the host has one */
    NT_CHECK(c && *c && !strstr(c, "NO-PROC"));
    free(c);
}

NT_TEST(reach_a_host_loopback_service) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    NT_CHECK(bind(s, (struct sockaddr *)&a, sizeof a) == 0 && listen(s, 4) == 0);
    socklen_t al = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &al);
    char arg[64];
    snprintf(arg, sizeof arg, "127.0.0.1:%d", ntohs(a.sin_port));
    int ok = blocked("connect_tcp", arg);
    int c = accept(s, NULL, NULL);
    if (c >= 0)
        close(c);
    int code = control(CTL_HOST, "connect_tcp", arg); /* the host does reach it */
    int c2 = accept(s, NULL, NULL);
    if (c2 >= 0)
        close(c2);
    close(s);
    NT_CHECK(ok);
    NT_CHECK(c < 0);
    NT_CHECK_INT(code, 1);
    NT_CHECK(c2 >= 0);
}

NT_TEST(reach_a_host_abstract_socket) {
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    char name[96];
    snprintf(name, sizeof name, "%s-abstract", MARK);
    memcpy(a.sun_path + 1, name, strlen(name));
    socklen_t al = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
    NT_CHECK(bind(s, (struct sockaddr *)&a, al) == 0 && listen(s, 4) == 0);
    int ok = blocked("connect_abstract", name);
    int c = accept(s, NULL, NULL);
    if (c >= 0)
        close(c);
    int code = control(CTL_HOST, "connect_abstract", name);
    int c2 = accept(s, NULL, NULL);
    if (c2 >= 0)
        close(c2);
    close(s);
    NT_CHECK(ok);
    NT_CHECK(c < 0);
    NT_CHECK_INT(code, 1);
    NT_CHECK(c2 >= 0);
}

NT_TEST(vsock_socket) {
    /* AF_VSOCK is not namespaced: the machine's (hypervisor's) port space. */
    attack(CTL_HOST, "vsock_socket", NULL, "host");
}

NT_TEST(netlink_protocols) {
    /* Netlink but NETLINK_ROUTE (which the probe checks still works). */
    attack(CTL_HOST, "netlink_protocols", NULL, NULL);
}

/* ---- resources ---------------------------------------------------------------- */

NT_TEST(fork_bomb) {
    const char *sid = nt_sid("bomb");
    NT_CHECK(create_with(sid, NULL, NULL, 120) == 0);
    shres r = sh_t(sid, "/workspace/attacks fork_bomb", 60);
    fprintf(stderr, "    %s", r.out ? r.out : "(none)\n");
    NT_CHECK(r.out && strstr(r.out, "BLOCKED fork_bomb"));
    free(r.out);
    shres a = sh(sid, "echo alive");
    NT_CHECK(a.out && !strcmp(a.out, "alive\n"));
    free(a.out);
    NT_OK(nox_sandbox_delete(C, sid, &err));
    /* The probe counts: 1500 processes on the host, where none stops it. */
    judge_control(control(CTL_HOST, "fork_bomb", "1500"), "fork_bomb");
}

NT_TEST(memory_bomb) {
    const char *sid = nt_sid("mem");
    NT_CHECK(create_with(sid, "256Mi", NULL, 60) == 0);
    NT_CHECK(blocked_in(sid, "memory_bomb", "256"));
    NT_OK(nox_sandbox_delete(C, sid, &err));
    judge_control(control(CTL_HOST, "memory_bomb", "16"), "memory_bomb");
}

/* ---- cgroups ------------------------------------------------------------------- */

/* sid's meta.json (parsed; the caller deletes it). */
static cJSON *meta_of(const char *sid) {
    char name[67], path[4300];
    nox__session_dirname(sid, name);
    snprintf(path, sizeof path, "%s/%s/meta.json", BASE, name);
    char *t = nt_read_file(path, NULL);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    free(t);
    return j;
}

static const char *limit_of(const cJSON *meta, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(meta, "limits"), key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

NT_TEST(memory_bomb_split_across_processes) {
    /* Eight processes of half the limit each, every one under its own
     * RLIMIT_AS: only the sandbox's memory cgroup stops them together. */
    const char *sid = nt_sid("memsplit");
    NT_CHECK(create_with(sid, "128Mi", NULL, 60) == 0);
    cJSON *m = meta_of(sid);
    const char *mem = limit_of(m, "memory");
    fprintf(stderr, "    memory: %s\n", mem ? mem : "?");
    NT_CHECK(mem);
    if (strstr(mem, "(whole sandbox)")) {
        NT_CHECK(blocked_in(sid, "memory_split", "128"));
        shres a = sh(sid, "echo alive");
        NT_CHECK(a.out && !strcmp(a.out, "alive\n"));
        free(a.out);
        judge_control(control(CTL_HOST, "memory_split", "32"), "memory_split");
    } else {
        /* No cgroup for us here (unprivileged, nothing delegated): the
         * attack would work, and the sandbox must say the limit is open. */
        NT_CHECK(strstr(mem, "whole sandbox not enforced: "));
        nt_skip("cgroups", "the attack: no memory cgroup, reported as not enforced");
    }
    cJSON_Delete(m);
    NT_OK(nox_sandbox_delete(C, sid, &err));
}

NT_TEST(cgroup_limits_out_of_reach) {
    /* Inside: no cgroup file system to reach, no way to mount one or to
     * leave the cgroup namespace. Outside: the sandbox's cgroups belong to
     * the host, not to the sandbox's id, and keep their limits. */
    const char *sid = nt_sid("cgesc");
    NT_CHECK(create_with(sid, "128Mi", NULL, 60) == 0);
    NT_CHECK(blocked_in(sid, "cgroup_escape", NULL));
    judge_control(control(CTL_NS, "cgroup_escape", NULL), "cgroup_escape");
    cJSON *m = meta_of(sid);
    const char *dirs = limit_of(m, "cgroups"), *mem = limit_of(m, "memory");
    const cJSON *hu = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "limits"),
                                                       "hostUid");
    uid_t sandbox_uid = cJSON_IsNumber(hu) ? (uid_t)hu->valuedouble : (uid_t)-1;
    fprintf(stderr, "    cgroups: %s\n", dirs ? dirs : "?");
    NT_CHECK(dirs && mem);
    if (!strcmp(dirs, "none")) {
        NT_CHECK(strstr(mem, "whole sandbox not enforced: "));
        nt_skip("cgroups", "the host-side checks: no cgroup, reported as not enforced");
    }
    int memory_seen = 0;
    char *copy = strdup(strcmp(dirs, "none") ? dirs : "");
    for (char *save = NULL, *d = strtok_r(copy, " ", &save); d; d = strtok_r(NULL, " ", &save)) {
        static const char *const files[] = {".", "cgroup.procs", "memory.max",
                                            "memory.limit_in_bytes", "pids.max", NULL};
        for (int i = 0; files[i]; i++) {
            char path[4300];
            snprintf(path, sizeof path, "%s/%s", d, files[i]);
            struct stat st;
            if (stat(path, &st) != 0)
                continue;
            if (st.st_uid == sandbox_uid || (st.st_mode & S_IWOTH))
                fprintf(stderr, "    %s: uid %u mode %o\n", path, (unsigned)st.st_uid,
                        (unsigned)st.st_mode);
            NT_CHECK(st.st_uid != sandbox_uid && !(st.st_mode & S_IWOTH));
            if (!strncmp(files[i], "memory.", 7)) {
                char *v = nt_read_file(path, NULL);
                NT_CHECK(v && atoll(v) == 128LL * 1024 * 1024);
                free(v);
                memory_seen = 1;
            }
        }
        char procs[4300];
        snprintf(procs, sizeof procs, "%s/cgroup.procs", d);
        char *v = nt_read_file(procs, NULL);
        NT_CHECK(v && *v); /* the sandbox is still in there */
        free(v);
    }
    free(copy);
    NT_CHECK(memory_seen == (strstr(mem, "(whole sandbox)") != NULL));
    cJSON_Delete(m);
    NT_OK(nox_sandbox_delete(C, sid, &err));
}

NT_TEST(disk_fill) {
    const char *sid = nt_sid("disk");
    NT_CHECK(create_with(sid, NULL, "16Mi", 60) == 0);
    /* dd must have started writing (the file exists, not empty) and
     * been stopped by the limit (EFBIG per file, or ENOSPC from the
     * storage tmpfs, whichever comes first), not by anything else. */
    const char *probe = "err=$(dd if=/dev/zero of=/workspace/fill bs=1M count=64 2>&1); "
                        "echo rc=$?; stat -c %s /workspace/fill; echo \"$err\"";
    shres r = sh(sid, probe);
    fprintf(stderr, "    %s", r.out ? r.out : "");
    NT_CHECK(r.out && (strstr(r.out, "rc=153") /* SIGXFSZ */ || strstr(r.out, "File too large") ||
                       strstr(r.out, "No space left on device")));
    const char *nl = r.out ? strchr(r.out, '\n') : NULL;
    NT_CHECK(nl && atol(nl + 1) > 0 && atol(nl + 1) <= 16L * 1024 * 1024);
    free(r.out);
    NT_OK(nox_sandbox_delete(C, sid, &err));
    /* Control: the same dd in a sandbox without a storage limit fills it. */
    shres c = sh(SID, probe);
    fprintf(stderr, "    control: %s", c.out ? c.out : "");
    NT_CHECK(c.out && strstr(c.out, "rc=0\n67108864\n"));
    free(c.out);
    shres rm = sh(SID, "rm -f /workspace/fill");
    free(rm.out);
}

NT_TEST(disk_fill_with_many_small_files) {
    /* Each file under the per-file limit, the sum far over it: the kernel
     * stops the writes past the limit (the storage tmpfs) and the sandbox
     * lives on; test_storage_limits has the ways around it that failed. */
    const char *sid = nt_sid("disk2");
    NT_CHECK(create_with(sid, NULL, "16Mi", 60) == 0);
    shres r = sh(sid, "for i in 1 2 3 4 5 6 7 8; do "
                      "dd if=/dev/zero of=/workspace/f$i bs=1M count=4 2>&1 | "
                      "grep -o 'No space left'; done; du -sk /workspace | cut -f1");
    fprintf(stderr, "    %s", r.out ? r.out : "");
    NT_CHECK(r.out && strstr(r.out, "No space left"));
    const char *last = r.out ? strrchr(r.out, 'e') : NULL; /* after the last "left" */
    NT_CHECK(last && atol(last + 2) <= 16 * 1024);
    free(r.out);
    shres a = sh(sid, "echo alive");
    NT_CHECK(a.out && !strcmp(a.out, "alive\n"));
    free(a.out);
    nox_sandbox_delete(C, sid, NULL);
}

NT_TEST(output_flood) {
    shres r = sh_t(SID, "yes floodfloodflood", 2);
    NT_CHECK(r.truncated);
    NT_CHECK(r.out_len <= 1024 * 1024);
    free(r.out);
    shres a = sh(SID, "echo alive");
    NT_CHECK(a.out && !strcmp(a.out, "alive\n"));
    free(a.out);
}

NT_TEST(daemon_survives_delete) {
    const char *sid = nt_sid("daemon");
    NT_CHECK(create_with(sid, NULL, NULL, 60) == 0);
    char script[512];
    snprintf(script, sizeof script,
             "(trap '' HUP TERM; setsid sh -c 'trap \"\" HUP TERM; sleep 301.%d' "
             "</dev/null >/dev/null 2>&1 &); nohup sleep 301.%d "
             ">/dev/null 2>&1 & echo started",
             (int)getpid(), (int)getpid());
    shres r = sh(sid, script);
    NT_CHECK(r.out && strstr(r.out, "started"));
    free(r.out);
    /* Both daemons are seen running before the delete (waited for, not
     * assumed after a fixed sleep), and gone after it. */
    int up = 0; /* the two sleeps (and a shell around one, for a while) */
    for (int i = 0; i < 1000 && up < 2; i++) {
        up = host_procs_with("301");
        if (up < 2)
            sleep_ms(10);
    }
    NT_CHECK(up >= 2);
    NT_OK(nox_sandbox_delete(C, sid, &err));
    int left = 1;
    for (int i = 0; i < 200 && left; i++) {
        left = host_procs_with("301");
        if (left)
            sleep_ms(50);
    }
    NT_CHECK_INT(left, 0);
}

NT_TEST(daemon_survives_timeout) {
    /* A double-forked, setsid'd daemon started by a command that then
     * runs into its timeout dies with the command's tree. */
    /* The daemon leaves a mark once it runs, and the command waits for
     * that mark before it runs into its timeout: so the daemon did start. */
    char script[512];
    snprintf(script, sizeof script,
             "rm -f /workspace/daemon-up; (setsid sh -c 'trap \"\" HUP TERM; "
             ": > /workspace/daemon-up; exec sleep 302.%d' </dev/null >/dev/null 2>&1 &); "
             "while [ ! -e /workspace/daemon-up ]; do sleep 0.05; done; echo up; sleep 60",
             (int)getpid());
    shres r = sh_t(SID, script, 3);
    NT_CHECK(r.out && !strcmp(r.out, "up\n"));
    NT_CHECK_INT(r.code, 124);
    free(r.out);
    int left = 1;
    for (int i = 0; i < 200 && left; i++) {
        left = host_procs_with("302");
        if (left)
            sleep_ms(50);
    }
    NT_CHECK_INT(left, 0);
}

NT_TEST(daemon_outliving_its_command_dies_with_the_sandbox) {
    /* Left running after a command's normal exit (as a pod's background
     * process is), a daemon still never outlives the sandbox (TTL). */
    const char *sid = nt_sid("ttl");
    NT_CHECK(create_with(sid, NULL, NULL, 2) == 0);
    char script[512];
    snprintf(script, sizeof script,
             "(setsid sh -c 'trap \"\" HUP TERM; sleep 303.%d' </dev/null "
             ">/dev/null 2>&1 &); echo started", (int)getpid());
    shres r = sh(sid, script);
    NT_CHECK_INT(r.code, 0);
    free(r.out);
    int up = 0;
    for (int i = 0; i < 150 && !up; i++) { /* within the 2 s TTL */
        up = host_procs_with("303");
        if (!up)
            sleep_ms(10);
    }
    NT_CHECK(up >= 1); /* it did outlive its command */
    int left = 1;
    for (int i = 0; i < 300 && left; i++) {
        sleep_ms(100);
        left = host_procs_with("303");
    }
    NT_CHECK_INT(left, 0);
}

/* ---- uploads, downloads, archives -------------------------------------------- */

NT_TEST(symlink_trick_against_upload) {
    shres r = sh(SID, "ln -sfn /etc /workspace/etclink; ln -sfn /tmp /workspace/tmplink; "
                      "ln -sfn / /workspace/rootlink; echo ok");
    free(r.out);
    nox_files *f = NULL;
    NT_OK(nox_files_new(&f, &err));
    char name[96];
    snprintf(name, sizeof name, "%s-up", MARK);
    NT_OK(nox_files_add(f, name, (const uint8_t *)"pwned", 5, 0, &err));
    NT_FAILS(NOX_EINVAL, "leads outside", nox_upload(C, SID, f, "/workspace/etclink", &err));
    NT_FAILS(NOX_EINVAL, "leads outside", nox_upload(C, SID, f, "/workspace/rootlink/etc", &err));
    NT_FAILS(NOX_EINVAL, "leads outside",
             nox_upload(C, SID, f, "/workspace/tmplink/sub", &err));
    nox_files_free(f);
    char host[256];
    snprintf(host, sizeof host, "/etc/%s-up", MARK);
    NT_CHECK(!host_exists(host));
    snprintf(host, sizeof host, "/tmp/%s-up", MARK);
    NT_CHECK(!host_exists(host));
}

NT_TEST(symlink_trick_against_download) {
    shres r = sh(SID, "mkdir -p /workspace/dl && ln -sfn /etc/passwd /workspace/dl/pw && "
                      "ln -sfn / /workspace/dl/root && echo ok");
    free(r.out);
    /* The source itself through a link: refused. */
    nox_bytes *b = NULL;
    NT_FAILS(NOX_EINVAL, "leads outside", nox_download(C, SID, "/workspace/rootlink", &b, &err));
    /* Links inside are archived as links, never followed ... */
    NT_OK(nox_download(C, SID, "/workspace/dl", &b, &err));
    size_t n;
    nox_bytes_data(b, &n);
    NT_CHECK(n < 4096); /* two symlinks, no file contents */
    nox_bytes_free(b);
    /* ... and extracting them on the host refuses links that leave. */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/dl", WORK);
    NT_FAILS(NOX_EARCHIVE, "", nox_download_to_dir(C, SID, "/workspace/dl", dir, &err));
    char pw[4300];
    snprintf(pw, sizeof pw, "%s/pw", dir);
    char *t = nt_read_file(pw, NULL);
    NT_CHECK(!t || !strstr(t, "root:"));
    free(t);
}

/* A tar.gz with the given entries: type 'f' file, 'l' symlink, 'h' hardlink. */
typedef struct entry {
    char type;
    const char *name;
    const char *target; /* link target or file data */
} entry;

/* NULL (after saying why) when libarchive refuses any step. */
static uint8_t *make_targz(const entry *e, size_t n, size_t *len) {
    size_t cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    struct archive *a = archive_write_new();
    size_t used = 0;
    int bad = !buf || !a || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
              archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
              archive_write_open_memory(a, buf, cap, &used) != ARCHIVE_OK;
    for (size_t i = 0; !bad && i < n; i++) {
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, e[i].name);
        archive_entry_set_perm(ae, 0644);
        if (e[i].type == 'f') {
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_size(ae, (la_int64_t)strlen(e[i].target));
        } else if (e[i].type == 'l') {
            archive_entry_set_filetype(ae, AE_IFLNK);
            archive_entry_set_symlink(ae, e[i].target);
        } else {
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_hardlink(ae, e[i].target);
        }
        bad = archive_write_header(a, ae) != ARCHIVE_OK;
        if (!bad && e[i].type == 'f')
            bad = archive_write_data(a, e[i].target, strlen(e[i].target)) !=
                  (la_ssize_t)strlen(e[i].target);
        archive_entry_free(ae);
    }
    if (!bad)
        bad = archive_write_close(a) != ARCHIVE_OK;
    if (bad)
        fprintf(stderr, "    make_targz: %s\n", a ? archive_error_string(a) : "no memory");
    archive_write_free(a);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = used;
    return buf;
}

/* Upload the entries to /workspace/arch: 0, or the code, whose message
 * must then contain `needle`; -1000 when the archive could not be made. */
static int upload_entries(const entry *e, size_t n, const char *needle) {
    size_t len = 0;
    uint8_t *gz = make_targz(e, n, &len);
    if (!gz)
        return -1000;
    nox_error *er = NULL;
    int rc = nox_upload_targz(C, SID, gz, len, "/workspace/arch", &er);
    const char *msg = rc ? nox_error_message(er) : "accepted";
    fprintf(stderr, "    upload: %s (%s)\n", msg, nox_code_name(rc));
    if (rc && needle && !strstr(msg, needle)) {
        fprintf(stderr, "    the message does not name \"%s\"\n", needle);
        rc = -1001;
    }
    nox_error_free(er);
    free(gz);
    return rc;
}

/* The same tooling uploads a harmless archive, which lands: so a refusal
 * below is the extractor's verdict on the entry, not a broken archive. */
NT_TEST(harmless_archive_control) {
    char name[128];
    snprintf(name, sizeof name, "sub/%s-ok", MARK);
    entry e[] = {{'f', name, "fine"}, {'l', "link", "sub"}, {'h', "hard", name}};
    NT_CHECK_INT(upload_entries(e, 3, NULL), 0);
    char script[512];
    snprintf(script, sizeof script, "cd /workspace/arch && cat %s && readlink link && "
             "cat hard && rm -rf /workspace/arch", name);
    shres r = sh(SID, script);
    fprintf(stderr, "    %s", r.out ? r.out : "(no output)\n");
    NT_CHECK(r.code == 0 && r.out && !strcmp(r.out, "finesub\nfine"));
    free(r.out);
}

NT_TEST(malicious_archive_dotdot) {
    char name[256], host[256];
    snprintf(name, sizeof name, "../../../../../../tmp/%s-dotdot", MARK);
    snprintf(host, sizeof host, "/tmp/%s-dotdot", MARK);
    entry e[] = {{'f', name, "pwned"}};
    NT_CHECK_INT(upload_entries(e, 1, ".."), NOX_EARCHIVE);
    NT_CHECK(!host_exists(host));
}

NT_TEST(malicious_archive_absolute_path) {
    char name[256];
    snprintf(name, sizeof name, "/tmp/%s-abs", MARK);
    entry e[] = {{'f', name, "pwned"}};
    NT_CHECK_INT(upload_entries(e, 1, "absolute"), NOX_EARCHIVE);
    NT_CHECK(!host_exists(name));
}

NT_TEST(malicious_archive_symlink_then_file) {
    char name[256], host[256];
    snprintf(name, sizeof name, "evil/%s-sym", MARK);
    snprintf(host, sizeof host, "/tmp/%s-sym", MARK);
    entry e[] = {{'l', "evil", "/tmp"}, {'f', name, "pwned"}};
    NT_CHECK_INT(upload_entries(e, 2, "absolute"), NOX_EARCHIVE);
    NT_CHECK(!host_exists(host));
    shres r = sh(SID, "ls /tmp | grep -c sym; true");
    NT_CHECK(r.code == 0 && r.out && atoi(r.out) == 0);
    free(r.out);
}

NT_TEST(malicious_archive_hardlink_to_a_system_file) {
    entry e[] = {{'h', "pw", "/etc/passwd"}};
    NT_CHECK_INT(upload_entries(e, 1, "/etc/passwd"), NOX_EARCHIVE);
    shres r = sh(SID, "[ -e /workspace/arch/pw ] && echo LINKED; true");
    NT_CHECK_SH_EMPTY(r);
    free(r.out);
}

/* ---- ids ------------------------------------------------------------------------- */

NT_TEST(sandbox_files_are_never_host_root) {
    const char *other = nt_sid("ids");
    NT_CHECK(create_with(other, NULL, NULL, 60) == 0);
    shres a = sh(SID, "echo a > /workspace/owner");
    shres b = sh(other, "echo b > /workspace/owner");
    free(a.out);
    free(b.out);
    char p1[4200], p2[4200];
    char name[67];
    nox__session_dirname(SID, name);
    snprintf(p1, sizeof p1, "%s/%s/workspace/owner", BASE, name);
    nox__session_dirname(other, name);
    snprintf(p2, sizeof p2, "%s/%s/workspace/owner", BASE, name);
    struct stat s1, s2;
    NT_CHECK(stat(p1, &s1) == 0 && stat(p2, &s2) == 0);
    fprintf(stderr, "    host owners: %u and %u\n", (unsigned)s1.st_uid, (unsigned)s2.st_uid);
    NT_CHECK(s1.st_uid != 0 && s2.st_uid != 0);
    if (AS_ROOT)
        NT_CHECK(s1.st_uid != s2.st_uid); /* each sandbox has host ids of its own */
    else
        NT_CHECK(s1.st_uid == getuid()); /* never anybody else's */
    NT_OK(nox_sandbox_delete(C, other, &err));
}

/* ---- main ------------------------------------------------------------------------- */

static int build_attacks(void) {
    char cmd[8800];
    snprintf(cmd, sizeof cmd, "cc -O1 -o '%s/attacks' '%s/tests/security/attacks.c'", WORK,
             NOX_TEST_SOURCE_DIR);
    return system(cmd);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    unsetenv("NOXRUNNER_AGENT");
    unsetenv("NOXRUNNER_ISOLATION"); /* the attacks are against namespaces */
    AS_ROOT = geteuid() == 0;
    snprintf(MARK, sizeof MARK, "noxesc%d", (int)getpid());
    char *work = nt_mkdtemp("escape");
    if (!work)
        return 1;
    snprintf(WORK, sizeof WORK, "%s", work);
    free(work);
    C = nt_local_client(NULL, &BASE);
    if (!C)
        return 1;
    if (nox_client_isolation(C) != NOX_ISOLATION_NAMESPACES) {
        nox_bytes *b = NULL;
        size_t n;
        nox_info(C, &b, NULL);
        char why[2048];
        snprintf(why, sizeof why, "%s", b ? (const char *)nox_bytes_data(b, &n) : "?");
        nox_bytes_free(b);
        nox_client_free(C);
        nt_rm_rf(BASE);
        nt_rm_rf(WORK);
        return nt_skip_all("namespaces", "the namespaces level is not available here (%s)",
                           why);
    }
    if (build_attacks() != 0) {
        fprintf(stderr, "cannot compile tests/security/attacks.c with cc\n");
        return 1;
    }
    static char sid[64];
    snprintf(sid, sizeof sid, "%s", nt_sid("escape"));
    SID = sid;
    if (create_with(SID, NULL, NULL, 600) != 0)
        return 1;
    fprintf(stderr, "escape attempts as %s (uid %d)\n", AS_ROOT ? "root" : "an unprivileged user",
            (int)getuid());

    NT_RUN(read_host_home_root_and_state_dirs);
    NT_RUN(read_etc_shadow);
    NT_RUN(read_the_base_dir_and_other_sessions_workspaces);
    NT_RUN(write_outside_the_workspace);
    NT_RUN(write_the_host_tmp);
    NT_RUN(hardlink_a_host_file_into_the_workspace);
    NT_RUN(write_kernel_knobs_in_proc);
    NT_RUN(see_host_processes);
    NT_RUN(signal_a_host_process);
    NT_RUN(kill_the_sandbox_init);
    NT_RUN(ptrace_agent);
    NT_RUN(ptrace_sibling);
    NT_RUN(read_agent_memory);
    NT_RUN(agent_descriptors);
    NT_RUN(leaked_descriptors);
    NT_RUN(tiocsti);
    NT_RUN(nested_user_namespace);
    NT_RUN(nested_mount_namespace);
    NT_RUN(clone_with_new_user_namespace);
    NT_RUN(setns_into_host);
    NT_RUN(mount_tmpfs);
    NT_RUN(remount_system_dir_rw);
    NT_RUN(umount_mask);
    NT_RUN(chroot_escape);
    NT_RUN(load_kernel_module);
    NT_RUN(finit_kernel_module);
    NT_RUN(bpf_program);
    NT_RUN(keyring);
    NT_RUN(io_uring);
    NT_RUN(perf_event);
    NT_RUN(userfaultfd);
    NT_RUN(open_by_handle);
    NT_RUN(mknod_device);
    NT_RUN(disable_aslr);
    NT_RUN(set_hostname);
    NT_RUN(reboot_host);
    NT_RUN(foreign_abi);
    NT_RUN(regain_capabilities);
    NT_RUN(unreviewed_syscalls);
    NT_RUN(prlimit_the_agent);
    NT_RUN(setuid_binaries);
    NT_RUN(reach_the_network);
    NT_RUN(reach_a_host_loopback_service);
    NT_RUN(reach_a_host_abstract_socket);
    NT_RUN(vsock_socket);
    NT_RUN(netlink_protocols);
    NT_RUN(fork_bomb);
    NT_RUN(memory_bomb);
    NT_RUN(memory_bomb_split_across_processes);
    NT_RUN(cgroup_limits_out_of_reach);
    NT_RUN(disk_fill);
    NT_RUN(disk_fill_with_many_small_files);
    NT_RUN(output_flood);
    NT_RUN(daemon_survives_delete);
    NT_RUN(daemon_survives_timeout);
    NT_RUN(daemon_outliving_its_command_dies_with_the_sandbox);
    NT_RUN(symlink_trick_against_upload);
    NT_RUN(symlink_trick_against_download);
    NT_RUN(harmless_archive_control);
    NT_RUN(malicious_archive_dotdot);
    NT_RUN(malicious_archive_absolute_path);
    NT_RUN(malicious_archive_symlink_then_file);
    NT_RUN(malicious_archive_hardlink_to_a_system_file);
    NT_RUN(sandbox_files_are_never_host_root);

    nox_sandbox_delete(C, SID, NULL);
    nox_client_free(C);
    nt_rm_rf(BASE);
    free(BASE);
    nt_rm_rf(WORK);
    return nt_main_end_and_nobody("NOX_ESCAPE_UNPRIVILEGED");
}

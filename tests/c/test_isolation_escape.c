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

/* A host process whose command line holds MARK-tag; its pid. */
static pid_t host_sleeper(const char *tag) {
    pid_t p = fork();
    if (p == 0) {
        char arg[128];
        snprintf(arg, sizeof arg, "exec sleep 300 # %s-%s", MARK, tag);
        execl("/bin/sh", "sh", "-c", arg, (char *)NULL);
        _exit(127);
    }
    sleep_ms(50);
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
    shres r = sh(SID, "for p in /root /home /var /srv /mnt /run /sys /media /boot; do "
                      "[ -e $p ] && echo FOUND $p; done; cat /root/.bashrc 2>/dev/null; true");
    NT_CHECK(r.out && r.out_len == 0);
    free(r.out);
}

NT_TEST(read_etc_shadow) {
    shres r = sh(SID, "cat /etc/shadow /etc/gshadow 2>/dev/null; "
                      "grep -c . /etc/shadow 2>/dev/null; true");
    NT_CHECK(r.out && !strstr(r.out, "root:"));
    free(r.out);
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
    NT_CHECK(r.out && r.out_len == 0);
    free(r.out);
    nox_sandbox_delete(C, victim, NULL);
}

NT_TEST(write_outside_the_workspace) {
    shres r = sh(SID, "for d in / /usr /usr/bin /etc /bin /lib /opt /dev /proc/sys/kernel; do "
                      "touch $d/nox-escape 2>/dev/null && echo WROTE $d; done; true");
    NT_CHECK(r.out && r.out_len == 0);
    free(r.out);
    NT_CHECK(!host_exists("/etc/nox-escape") && !host_exists("/usr/bin/nox-escape"));
}

NT_TEST(write_the_host_tmp) {
    char script[256], host[256];
    snprintf(script, sizeof script, "echo x > /tmp/%s-tmp && echo wrote-private-tmp", MARK);
    snprintf(host, sizeof host, "/tmp/%s-tmp", MARK);
    shres r = sh(SID, script);
    NT_CHECK(r.code == 0); /* the sandbox has a /tmp of its own ... */
    free(r.out);
    NT_CHECK(!host_exists(host)); /* ... which is not the host's */
}

NT_TEST(hardlink_a_host_file_into_the_workspace) {
    shres r = sh(SID, "ln /etc/passwd /workspace/pw 2>/dev/null && echo LINKED; "
                      "ln /usr/bin/env /workspace/envlink 2>/dev/null && echo LINKED; true");
    NT_CHECK(r.out && r.out_len == 0);
    free(r.out);
}

NT_TEST(write_kernel_knobs_in_proc) {
    shres r = sh(SID, "echo 1 > /proc/sys/kernel/sysrq 2>/dev/null && echo WROTE; "
                      "echo h > /proc/sysrq-trigger 2>/dev/null && echo WROTE; "
                      "echo evil > /proc/sys/kernel/hostname 2>/dev/null && echo WROTE; true");
    NT_CHECK(r.out && r.out_len == 0);
    free(r.out);
}

/* ---- processes -------------------------------------------------------------- */

NT_TEST(see_host_processes) {
    pid_t p = host_sleeper("seen");
    char script[512];
    snprintf(script, sizeof script,
             "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -c '[%c]%s-seen'; "
             "ls /proc | grep -c '^[0-9]'", MARK[0], MARK + 1);
    shres r = sh(SID, script);
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
    NT_CHECK(r.out);
    int seen = atoi(r.out);
    const char *nl = strchr(r.out, '\n');
    int procs = nl ? atoi(nl + 1) : 999;
    fprintf(stderr, "    sandbox sees %d processes\n", procs);
    NT_CHECK_INT(seen, 0);
    NT_CHECK(procs < 20);
    free(r.out);
}

NT_TEST(signal_a_host_process) {
    pid_t p = host_sleeper("signal");
    char arg[32];
    snprintf(arg, sizeof arg, "%d", (int)p);
    int ok = blocked("kill_pid", arg);
    int alive = kill(p, 0) == 0;
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
    NT_CHECK(ok);
    NT_CHECK(alive);
}

NT_TEST(kill_the_sandbox_init) {
    shres r = sh(SID, "kill -9 1; kill -TERM 1; kill -STOP 1; echo tried");
    free(r.out);
    shres a = sh(SID, "echo alive");
    NT_CHECK(a.out && !strcmp(a.out, "alive\n"));
    free(a.out);
}

NT_TEST(ptrace_agent) { NT_CHECK(blocked("ptrace_agent", NULL)); }
NT_TEST(ptrace_sibling) { NT_CHECK(blocked("ptrace_sibling", NULL)); }
NT_TEST(read_agent_memory) { NT_CHECK(blocked("read_agent_memory", NULL)); }
NT_TEST(agent_descriptors) { NT_CHECK(blocked("agent_descriptors", NULL)); }
NT_TEST(leaked_descriptors) { NT_CHECK(blocked("leaked_descriptors", NULL)); }
NT_TEST(tiocsti) { NT_CHECK(blocked("tiocsti", NULL)); }

/* ---- namespaces, mounts, privileged calls --------------------------------- */

NT_TEST(nested_user_namespace) {
    NT_CHECK(blocked("nested_user_namespace", NULL));
    shres r = sh(SID, "unshare -Ur true 2>/dev/null && echo NESTED; true");
    NT_CHECK(r.out && r.out_len == 0);
    free(r.out);
}
NT_TEST(nested_mount_namespace) { NT_CHECK(blocked("nested_mount_namespace", NULL)); }
NT_TEST(clone_with_new_user_namespace) {
    NT_CHECK(blocked("clone_with_new_user_namespace", NULL));
}
NT_TEST(setns_into_host) { NT_CHECK(blocked("setns_into_host", NULL)); }
NT_TEST(mount_tmpfs) { NT_CHECK(blocked("mount_tmpfs", NULL)); }
NT_TEST(remount_system_dir_rw) { NT_CHECK(blocked("remount_system_dir_rw", NULL)); }
NT_TEST(umount_mask) { NT_CHECK(blocked("umount_mask", NULL)); }
NT_TEST(chroot_escape) { NT_CHECK(blocked("chroot_escape", NULL)); }
NT_TEST(load_kernel_module) { NT_CHECK(blocked("load_kernel_module", NULL)); }
NT_TEST(finit_kernel_module) { NT_CHECK(blocked("finit_kernel_module", NULL)); }
NT_TEST(bpf_program) { NT_CHECK(blocked("bpf_program", NULL)); }
NT_TEST(keyring) { NT_CHECK(blocked("keyring", NULL)); }
NT_TEST(io_uring) { NT_CHECK(blocked("io_uring", NULL)); }
NT_TEST(perf_event) { NT_CHECK(blocked("perf_event", NULL)); }
NT_TEST(userfaultfd) { NT_CHECK(blocked("userfaultfd", NULL)); }
NT_TEST(open_by_handle) { NT_CHECK(blocked("open_by_handle", NULL)); }
NT_TEST(mknod_device) { NT_CHECK(blocked("mknod_device", NULL)); }
NT_TEST(disable_aslr) { NT_CHECK(blocked("disable_aslr", NULL)); }
NT_TEST(set_hostname) { NT_CHECK(blocked("set_hostname", NULL)); }
NT_TEST(reboot_host) { NT_CHECK(blocked("reboot_host", NULL)); }
NT_TEST(foreign_abi) { NT_CHECK(blocked("foreign_abi", NULL)); }
NT_TEST(regain_capabilities) { NT_CHECK(blocked("regain_capabilities", NULL)); }

NT_TEST(setuid_binaries) {
    /* A setuid copy made inside, and the host's own setuid programs. */
    shres r = sh(SID, "cp /workspace/attacks /workspace/suid && chmod 4755 /workspace/suid && "
                      "/workspace/suid regain_capabilities");
    NT_CHECK(r.code == 0 && r.out && !strncmp(r.out, "BLOCKED", 7));
    free(r.out);
    r = sh(SID, "for b in /usr/bin/mount /bin/mount; do [ -u $b ] || continue; "
                "$b -t tmpfs none /tmp 2>/dev/null && echo MOUNTED; done; "
                "su -c true root </dev/null >/dev/null 2>&1 && echo SU; "
                "[ \"$(cat /proc/self/status | grep CapEff)\" = \"CapEff:\t0000000000000000\" ] "
                "|| echo CAPS; true");
    NT_CHECK(r.out && r.out_len == 0);
    free(r.out);
}

/* ---- network ------------------------------------------------------------------ */

NT_TEST(reach_the_network) {
    NT_CHECK(blocked("connect_tcp", "1.1.1.1:53"));
    NT_CHECK(blocked("connect_tcp", "10.0.0.1:80"));
    shres r = sh(SID, "grep -v -e '|' -e 'lo:' /proc/net/dev");
    NT_CHECK(r.out && r.out_len == 0); /* no interface but lo */
    free(r.out);
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
    close(s);
    NT_CHECK(ok);
    NT_CHECK(c < 0);
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
    close(s);
    NT_CHECK(ok);
    NT_CHECK(c < 0);
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
}

NT_TEST(memory_bomb) {
    const char *sid = nt_sid("mem");
    NT_CHECK(create_with(sid, "256Mi", NULL, 60) == 0);
    NT_CHECK(blocked_in(sid, "memory_bomb", "256"));
    NT_OK(nox_sandbox_delete(C, sid, &err));
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
    } else {
        /* No cgroup for us here (unprivileged, nothing delegated): the
         * attack would work, and the sandbox must say the limit is open. */
        NT_CHECK(strstr(mem, "whole sandbox not enforced: "));
        fprintf(stderr, "    SKIP the attack: no memory cgroup, reported as not enforced\n");
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
    cJSON *m = meta_of(sid);
    const char *dirs = limit_of(m, "cgroups"), *mem = limit_of(m, "memory");
    const cJSON *hu = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "limits"),
                                                       "hostUid");
    uid_t sandbox_uid = cJSON_IsNumber(hu) ? (uid_t)hu->valuedouble : (uid_t)-1;
    fprintf(stderr, "    cgroups: %s\n", dirs ? dirs : "?");
    NT_CHECK(dirs && mem);
    if (!strcmp(dirs, "none")) {
        NT_CHECK(strstr(mem, "whole sandbox not enforced: "));
        fprintf(stderr, "    SKIP the host-side checks: no cgroup, reported as not enforced\n");
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
    shres r = sh(sid, "dd if=/dev/zero of=/workspace/fill bs=1M count=64 2>/dev/null; "
                      "echo rc=$?; stat -c %s /workspace/fill");
    fprintf(stderr, "    %s", r.out ? r.out : "");
    NT_CHECK(r.out && !strstr(r.out, "rc=0"));
    const char *nl = r.out ? strchr(r.out, '\n') : NULL;
    NT_CHECK(nl && atol(nl + 1) <= 16L * 1024 * 1024);
    free(r.out);
    NT_OK(nox_sandbox_delete(C, sid, &err));
}

NT_TEST(disk_fill_with_many_small_files) {
    /* Each file under the per-file limit, the sum far over it: evicted. */
    const char *sid = nt_sid("disk2");
    NT_CHECK(create_with(sid, NULL, "16Mi", 60) == 0);
    shres r = sh(sid, "for i in 1 2 3 4 5 6 7 8; do "
                      "dd if=/dev/zero of=/workspace/f$i bs=1M count=4 2>/dev/null; done; "
                      "mkdir /workspace/hidden && dd if=/dev/zero of=/workspace/hidden/h "
                      "bs=1M count=4 2>/dev/null; chmod 0 /workspace/hidden; echo written");
    free(r.out);
    int gone = 0;
    for (int i = 0; i < 100 && !gone; i++) {
        sleep_ms(100);
        nox_sandbox_info *inf = NULL;
        nox_error *e = NULL;
        gone = nox_sandbox_get(C, sid, &inf, &e) == NOX_ENOTFOUND;
        nox_sandbox_info_free(inf);
        nox_error_free(e);
    }
    NT_CHECK(gone);
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
    sleep_ms(100);
    NT_CHECK(host_procs_with("301") >= 1);
    NT_OK(nox_sandbox_delete(C, sid, &err));
    int left = 1;
    for (int i = 0; i < 40 && left; i++) {
        left = host_procs_with("301");
        if (left)
            sleep_ms(50);
    }
    NT_CHECK_INT(left, 0);
}

NT_TEST(daemon_survives_timeout) {
    /* A double-forked, setsid'd daemon started by a command that then
     * runs into its timeout dies with the command's tree. */
    char script[512];
    snprintf(script, sizeof script,
             "(setsid sh -c 'trap \"\" HUP TERM; sleep 302.%d' </dev/null "
             ">/dev/null 2>&1 &); sleep 60", (int)getpid());
    shres r = sh_t(SID, script, 1);
    NT_CHECK_INT(r.code, 124);
    free(r.out);
    int left = 1;
    for (int i = 0; i < 20 && left; i++) {
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
    sleep_ms(100);
    NT_CHECK(host_procs_with("303") >= 1); /* it did outlive its command */
    int left = 1;
    for (int i = 0; i < 100 && left; i++) {
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

static uint8_t *make_targz(const entry *e, size_t n, size_t *len) {
    size_t cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_gzip(a);
    size_t used = 0;
    archive_write_open_memory(a, buf, cap, &used);
    for (size_t i = 0; i < n; i++) {
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
        archive_write_header(a, ae);
        if (e[i].type == 'f')
            archive_write_data(a, e[i].target, strlen(e[i].target));
        archive_entry_free(ae);
    }
    archive_write_close(a);
    archive_write_free(a);
    *len = used;
    return buf;
}

static int upload_entries(const entry *e, size_t n) {
    size_t len = 0;
    uint8_t *gz = make_targz(e, n, &len);
    nox_error *er = NULL;
    int rc = nox_upload_targz(C, SID, gz, len, "/workspace/arch", &er);
    fprintf(stderr, "    upload: %s\n", rc ? nox_error_message(er) : "accepted");
    nox_error_free(er);
    free(gz);
    return rc;
}

NT_TEST(malicious_archive_dotdot) {
    char name[256], host[256];
    snprintf(name, sizeof name, "../../../../../../tmp/%s-dotdot", MARK);
    snprintf(host, sizeof host, "/tmp/%s-dotdot", MARK);
    entry e[] = {{'f', name, "pwned"}};
    NT_CHECK(upload_entries(e, 1) != 0);
    NT_CHECK(!host_exists(host));
}

NT_TEST(malicious_archive_absolute_path) {
    char name[256];
    snprintf(name, sizeof name, "/tmp/%s-abs", MARK);
    entry e[] = {{'f', name, "pwned"}};
    NT_CHECK(upload_entries(e, 1) != 0);
    NT_CHECK(!host_exists(name));
}

NT_TEST(malicious_archive_symlink_then_file) {
    char name[256], host[256];
    snprintf(name, sizeof name, "evil/%s-sym", MARK);
    snprintf(host, sizeof host, "/tmp/%s-sym", MARK);
    entry e[] = {{'l', "evil", "/tmp"}, {'f', name, "pwned"}};
    NT_CHECK(upload_entries(e, 2) != 0);
    NT_CHECK(!host_exists(host));
    shres r = sh(SID, "ls /tmp | grep -c sym; true");
    NT_CHECK(r.out && atoi(r.out) == 0);
    free(r.out);
}

NT_TEST(malicious_archive_hardlink_to_a_system_file) {
    entry e[] = {{'h', "pw", "/etc/passwd"}};
    NT_CHECK(upload_entries(e, 1) != 0);
    shres r = sh(SID, "[ -e /workspace/arch/pw ] && echo LINKED; true");
    NT_CHECK(r.out && r.out_len == 0);
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

/* As root: the whole suite once more as nobody, in a child. */
static int rerun_as_nobody(void) {
    if (access("/usr/bin/setpriv", X_OK) != 0) {
        fprintf(stderr, "setpriv missing: not re-running as nobody\n");
        return 0;
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 1;
    self[n] = 0;
    fprintf(stderr, "\n=== the same attacks as an unprivileged user (nobody) ===\n");
    fflush(stderr);
    pid_t p = fork();
    if (p == 0) {
        setenv("NOX_ESCAPE_UNPRIVILEGED", "1", 1);
        setenv("TMPDIR", "/tmp", 1);
        execl("/usr/bin/setpriv", "setpriv", "--reuid=65534", "--regid=65534",
              "--clear-groups", "--", self, (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(p, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
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
        fprintf(stderr, "SKIPPED: the namespaces level is not available here (%s)\n",
                b ? (const char *)nox_bytes_data(b, &n) : "?");
        nox_bytes_free(b);
        nox_client_free(C);
        nt_rm_rf(BASE);
        nt_rm_rf(WORK);
        return 0;
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
    NT_RUN(setuid_binaries);
    NT_RUN(reach_the_network);
    NT_RUN(reach_a_host_loopback_service);
    NT_RUN(reach_a_host_abstract_socket);
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
    int rc = nt_main_end();
    if (AS_ROOT && !getenv("NOX_ESCAPE_UNPRIVILEGED")) {
        int r2 = rerun_as_nobody();
        if (r2 != 0) {
            fprintf(stderr, "the unprivileged run failed (exit %d)\n", r2);
            rc = rc ? rc : 1;
        }
    }
    return rc;
}

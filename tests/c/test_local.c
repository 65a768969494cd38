/*
 * test_local.c - the local backend and its nox-sandbox agent, end to end.
 *
 * Every test runs real sandboxes (namespaces, agent processes) on a fresh
 * base directory, with short TTLs and timeouts.
 */
#include "nox_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "local/local.h"

extern char **environ;

static nox_client *C;  /* shared by most tests */
static char *BASE;     /* its base directory */

/* ---- helpers ------------------------------------------------------------- */

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int create_ttl(nox_client *c, const char *sid, int ttl, nox_sandbox_info **out,
                      nox_error **err) {
    nox_sandbox_options o;
    nox_sandbox_options_init(&o, NOX_SANDBOX_OPTIONS_VERSION);
    o.ttl_seconds = ttl;
    nox_sandbox_info *tmp = NULL;
    int rc = nox_sandbox_create(c, sid, &o, out ? out : &tmp, err);
    nox_sandbox_info_free(tmp);
    return rc;
}

static char *session_dir(const char *base, const char *sid) {
    char name[67];
    nox__session_dirname(sid, name);
    size_t n = strlen(base) + 80;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", base, name);
    return p;
}

static int dir_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* meta.json's agentPid for a session; 0 when unreadable. */
static pid_t agent_pid(const char *base, const char *sid) {
    char *dir = session_dir(base, sid);
    char path[4200];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    free(dir);
    char *m = nt_read_file(path, NULL);
    if (!m)
        return 0;
    char *p = strstr(m, "\"agentPid\":");
    pid_t pid = p ? (pid_t)atoi(p + strlen("\"agentPid\":")) : 0;
    free(m);
    return pid;
}

/* Dead means gone, or a zombie nobody reaped yet. */
static int host_pid_dead(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 1;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && (p[2] == 'Z' || p[2] == 'X');
}

/* Host pids of live processes whose argv is exactly {"sleep", arg}. */
static int count_host_sleeps(const char *arg) {
    DIR *d = opendir("/proc");
    int found = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
        size_t len = 0;
        char *cl = nt_read_file(path, &len);
        if (!cl)
            continue;
        if (len >= 6 && !strcmp(cl, "sleep") && strlen(cl) + 1 < len &&
            !strcmp(cl + 6, arg) && !host_pid_dead((pid_t)pid))
            found++;
        free(cl);
    }
    if (d)
        closedir(d);
    return found;
}

static nox_exec_result *exec_opts(nox_client *c, const char *sid, const char *const *argv,
                                  const nox_exec_options *o) {
    nox_exec_result *r = NULL;
    nox_error *err = NULL;
    if (nox_exec(c, sid, argv, o, &r, &err) != 0) {
        nt_fail(__FILE__, __LINE__, "exec %s: %s", argv[0], err ? nox_error_message(err) : "?");
        nox_error_free(err);
        return NULL;
    }
    return r;
}

/* stdout of a successful command as a malloc'd string. */
static char *sh_out(nox_client *c, const char *sid, const char *script) {
    const char *argv[] = {"sh", "-c", script, NULL};
    nox_exec_result *r = nt_exec_ok(c, sid, argv);
    if (!r)
        return NULL;
    size_t n;
    const uint8_t *d = nox_exec_result_stdout(r, &n);
    char *s = strndup((const char *)d, n);
    nox_exec_result_free(r);
    return s;
}

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n;
}

static long rss_hwm_kb(void) {
    char *s = nt_read_file("/proc/self/status", NULL);
    char *p = s ? strstr(s, "VmHWM:") : NULL;
    long v = p ? atol(p + 6) : -1;
    free(s);
    return v;
}

/* ---- sha256 and naming --------------------------------------------------- */

NT_TEST(sha256_matches_known_digests) {
    static const struct {
        size_t len;
        char c;
        const char *hex;
    } v[] = {
        {0, 'a', "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {55, 'a', "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, 'a', "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, 'a', "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, 'a', "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, 'a', "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {1000000, 'a', "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    };
    char hex[65];
    nox__sha256_hex("abc", 3, hex);
    NT_CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char *buf = malloc(v[i].len + 1);
        memset(buf, v[i].c, v[i].len);
        nox__sha256_hex(buf, v[i].len, hex);
        free(buf);
        NT_CHECK_STR(hex, v[i].hex);
    }
}

NT_TEST(session_dir_is_named_by_hash_never_raw_id) {
    const char *sid = "../../etc/evil id/\"x\"";
    nox_sandbox_info *i = NULL;
    NT_OK(create_ttl(C, sid, 60, &i, &err));
    char hex[65];
    nox__sha256_hex(sid, strlen(sid), hex);
    char pod[32];
    snprintf(pod, sizeof pod, "nox-%.12s", hex);
    NT_CHECK_STR(nox_sandbox_info_pod_name(i), pod);
    NT_CHECK_STR(nox_sandbox_info_session_id(i), sid);
    nox_sandbox_info_free(i);
    char *dir = session_dir(BASE, sid);
    NT_CHECK(dir_exists(dir));
    char ws[4200];
    snprintf(ws, sizeof ws, "%s/workspace", dir);
    NT_CHECK(dir_exists(ws));
    struct stat st;
    NT_CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    free(dir);
    NT_OK(nox_sandbox_delete(C, sid, &err));
}

/* ---- create, touch, TTL -------------------------------------------------- */

NT_TEST(create_is_idempotent_and_refreshes_ttl) {
    const char *sid = nt_sid("idem");
    nox_sandbox_info *a = NULL, *b = NULL, *c = NULL;
    NT_OK(create_ttl(C, sid, 100, &a, &err));
    pid_t pid1 = agent_pid(BASE, sid);
    NT_CHECK(pid1 > 0);
    sleep_ms(1100);
    NT_OK(create_ttl(C, sid, 100, &b, &err));
    NT_CHECK_INT(agent_pid(BASE, sid), pid1); /* same sandbox */
    NT_CHECK_STR(nox_sandbox_info_pod_name(a), nox_sandbox_info_pod_name(b));
    NT_CHECK(nox_sandbox_info_expires_at_unix(b) >= nox_sandbox_info_expires_at_unix(a) + 1);
    /* A different TTL replaces the old one. */
    NT_OK(create_ttl(C, sid, 1000, &c, &err));
    int64_t now = (int64_t)time(NULL);
    NT_CHECK(nox_sandbox_info_expires_at_unix(c) >= now + 998);
    NT_CHECK(nox_sandbox_info_expires_at_unix(c) <= now + 1001);
    const char *e = nox_sandbox_info_expires_at(c);
    NT_CHECK(e && strlen(e) == 20 && e[10] == 'T' && e[19] == 'Z');
    nox_sandbox_info_free(a);
    nox_sandbox_info_free(b);
    nox_sandbox_info_free(c);
    NT_OK(nox_sandbox_delete(C, sid, &err));
}

NT_TEST(touch_extends_expiry) {
    const char *sid = nt_sid("touch");
    nox_sandbox_info *a = NULL, *b = NULL;
    NT_OK(create_ttl(C, sid, 30, &a, &err));
    sleep_ms(1100);
    NT_OK(nox_sandbox_touch(C, sid, &err));
    NT_OK(nox_sandbox_get(C, sid, &b, &err));
    NT_CHECK(nox_sandbox_info_expires_at_unix(b) >= nox_sandbox_info_expires_at_unix(a) + 1);
    nox_sandbox_info_free(a);
    nox_sandbox_info_free(b);
    NT_OK(nox_sandbox_delete(C, sid, &err));
}

NT_TEST(ttl_expiry_removes_sandbox_without_delete) {
    const char *sid = nt_sid("expire");
    NT_OK(create_ttl(C, sid, 1, NULL, &err));
    pid_t pid = agent_pid(BASE, sid);
    NT_CHECK(pid > 0);
    char *dir = session_dir(BASE, sid);
    /* A background process must die with it too. */
    char marker[32];
    snprintf(marker, sizeof marker, "%d", 700000 + (int)getpid() % 100000);
    char script[128];
    snprintf(script, sizeof script, "setsid sleep %s >/dev/null 2>&1 & echo ok", marker);
    char *o = sh_out(C, sid, script);
    NT_CHECK(o && !strcmp(o, "ok\n"));
    free(o);
    int gone = 0;
    for (int i = 0; i < 80 && !gone; i++) {
        sleep_ms(50);
        gone = !dir_exists(dir) && host_pid_dead(pid);
    }
    free(dir);
    NT_CHECK(gone);
    NT_CHECK_INT(count_host_sleeps(marker), 0);
    NT_FAILS(NOX_ENOTFOUND, "no sandbox for session", nox_sandbox_touch(C, sid, &err));
}

/* ---- exec ---------------------------------------------------------------- */

static const char *SID; /* a sandbox shared by the exec tests */

NT_TEST(exec_basics) {
    const char *argv[] = {"echo", "hello", "world", NULL};
    nox_exec_result *r = nt_exec_ok(C, SID, argv);
    NT_CHECK(r);
    size_t n;
    const uint8_t *d = nox_exec_result_stdout(r, &n);
    NT_CHECK_BYTES(d, n, "hello world\n");
    NT_CHECK(d[n] == 0);
    d = nox_exec_result_stderr(r, &n);
    NT_CHECK_INT(n, 0);
    NT_CHECK_INT(nox_exec_result_signal(r), 0);
    NT_CHECK_INT(nox_exec_result_timed_out(r), 0);
    NT_CHECK(nox_exec_result_duration_ms(r) >= 0 && nox_exec_result_duration_ms(r) < 5000);
    nox_exec_result_free(r);
}

NT_TEST(workspace_is_absolute_path_and_default_workdir) {
    char *o = sh_out(C, SID, "pwd; echo $HOME; mkdir -p /workspace/sub/deeper && "
                             "echo data > /workspace/sub/a.txt && cat /workspace/sub/a.txt");
    NT_CHECK(o);
    NT_CHECK_STR(o, "/workspace\n/workspace\ndata\n");
    free(o);
    /* The same file in the session's workspace on the host. */
    char *dir = session_dir(BASE, SID);
    char path[4200];
    snprintf(path, sizeof path, "%s/workspace/sub/a.txt", dir);
    free(dir);
    char *f = nt_read_file(path, NULL);
    NT_CHECK(f && !strcmp(f, "data\n"));
    free(f);
    nox_exec_options eo;
    nox_exec_options_init(&eo, NOX_EXEC_OPTIONS_VERSION);
    eo.workdir = "/workspace/sub/deeper";
    const char *argv[] = {"pwd", NULL};
    nox_exec_result *r = exec_opts(C, SID, argv, &eo);
    NT_CHECK(r);
    size_t n;
    const uint8_t *d = nox_exec_result_stdout(r, &n);
    NT_CHECK_BYTES(d, n, "/workspace/sub/deeper\n");
    nox_exec_result_free(r);
}

NT_TEST(missing_workdir_is_an_error_not_a_result) {
    nox_exec_options eo;
    nox_exec_options_init(&eo, NOX_EXEC_OPTIONS_VERSION);
    eo.workdir = "/workspace/nope";
    const char *argv[] = {"true", NULL};
    nox_exec_result *r = NULL;
    NT_FAILS(NOX_EINVAL, "workdir \"/workspace/nope\" does not exist",
             nox_exec(C, SID, argv, &eo, &r, &err));
    NT_CHECK(r == NULL);
    nox_exec_stream *s = NULL;
    NT_FAILS(NOX_EINVAL, "does not exist", nox_exec_start(C, SID, argv, &eo, &s, &err));
}

NT_TEST(env_expands_only_in_a_shell) {
    const char *env[] = {"X=from-caller", "HOME=/workspace/h", NULL};
    nox_exec_options eo;
    nox_exec_options_init(&eo, NOX_EXEC_OPTIONS_VERSION);
    eo.env = env;
    const char *a1[] = {"sh", "-c", "echo $X $HOME $LANG $TERM; echo $PATH", NULL};
    nox_exec_result *r = exec_opts(C, SID, a1, &eo);
    NT_CHECK(r);
    size_t n;
    const uint8_t *d = nox_exec_result_stdout(r, &n);
    NT_CHECK_BYTES(d, n, "from-caller /workspace/h C.UTF-8 xterm\n"
                         "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
    nox_exec_result_free(r);
    const char *a2[] = {"echo", "$X", NULL};
    r = exec_opts(C, SID, a2, &eo);
    NT_CHECK(r);
    d = nox_exec_result_stdout(r, &n);
    NT_CHECK_BYTES(d, n, "$X\n");
    nox_exec_result_free(r);
}

NT_TEST(host_environment_is_not_visible) {
    setenv("NOX_TEST_HOST_SECRET", "leaked", 1);
    const char *argv[] = {"env", NULL};
    nox_exec_result *r = nt_exec_ok(C, SID, argv);
    unsetenv("NOX_TEST_HOST_SECRET");
    NT_CHECK(r);
    size_t n;
    const char *d = (const char *)nox_exec_result_stdout(r, &n);
    NT_CHECK(strstr(d, "HOME=/workspace\n"));
    NT_CHECK(!strstr(d, "NOX_TEST_HOST_SECRET"));
    /* Exactly the four defaults. */
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += d[i] == '\n';
    NT_CHECK_INT(lines, 4);
    nox_exec_result_free(r);
}

NT_TEST(stdin_is_fed_then_closed) {
    static const uint8_t in[] = {'a', 'b', 0, 'c', '\n', 0xff};
    nox_exec_options eo;
    nox_exec_options_init(&eo, NOX_EXEC_OPTIONS_VERSION);
    eo.stdin_data = in;
    eo.stdin_len = sizeof in;
    const char *cat[] = {"cat", NULL};
    nox_exec_result *r = exec_opts(C, SID, cat, &eo);
    NT_CHECK(r);
    size_t n;
    const uint8_t *d = nox_exec_result_stdout(r, &n);
    NT_CHECK_INT(n, sizeof in);
    NT_CHECK(memcmp(d, in, n) == 0);
    nox_exec_result_free(r);
    /* No stdin: /dev/null, so cat ends at once. */
    r = exec_opts(C, SID, cat, NULL);
    NT_CHECK(r);
    d = nox_exec_result_stdout(r, &n);
    NT_CHECK_INT(n, 0);
    NT_CHECK_INT(nox_exec_result_exit_code(r), 0);
    nox_exec_result_free(r);
    /* Big stdin, read slowly-ish by wc. */
    size_t big = 5u << 20;
    uint8_t *buf = malloc(big);
    memset(buf, 'x', big);
    eo.stdin_data = buf;
    eo.stdin_len = big;
    const char *wc[] = {"wc", "-c", NULL};
    r = exec_opts(C, SID, wc, &eo);
    free(buf);
    NT_CHECK(r);
    d = nox_exec_result_stdout(r, &n);
    NT_CHECK(atol((const char *)d) == (long)big);
    nox_exec_result_free(r);
    /* A command that ignores its stdin still finishes. */
    eo.stdin_data = (const uint8_t *)"ignored";
    eo.stdin_len = 7;
    const char *t[] = {"true", NULL};
    r = exec_opts(C, SID, t, &eo);
    NT_CHECK(r);
    NT_CHECK_INT(nox_exec_result_exit_code(r), 0);
    nox_exec_result_free(r);
}

NT_TEST(exit_codes_and_signals) {
    const char *a1[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    nox_exec_result *r = exec_opts(C, SID, a1, NULL);
    NT_CHECK(r);
    NT_CHECK_INT(nox_exec_result_exit_code(r), 3);
    NT_CHECK_INT(nox_exec_result_signal(r), 0);
    size_t n;
    const uint8_t *d = nox_exec_result_stderr(r, &n);
    NT_CHECK_BYTES(d, n, "err\n");
    nox_exec_result_free(r);
    const char *a2[] = {"sh", "-c", "kill -TERM $$", NULL};
    r = exec_opts(C, SID, a2, NULL);
    NT_CHECK(r);
    NT_CHECK_INT(nox_exec_result_exit_code(r), 128 + SIGTERM);
    NT_CHECK_INT(nox_exec_result_signal(r), SIGTERM);
    NT_CHECK_INT(nox_exec_result_timed_out(r), 0);
    nox_exec_result_free(r);
}

NT_TEST(command_not_found_is_exit_127) {
    const char *argv[] = {"no-such-command-xyz", "arg", NULL};
    nox_exec_result *r = exec_opts(C, SID, argv, NULL);
    NT_CHECK(r);
    NT_CHECK_INT(nox_exec_result_exit_code(r), 127);
    size_t n;
    const char *d = (const char *)nox_exec_result_stderr(r, &n);
    NT_CHECK(strstr(d, "no-such-command-xyz") && strstr(d, "not found"));
    nox_exec_result_free(r);
    /* A relative path is relative to the workdir, as in a shell. */
    char *o0 = sh_out(C, SID, "mkdir -p /workspace/bin && printf '#!/bin/sh\\necho rel\\n' > "
                              "/workspace/bin/rel.sh && chmod 755 /workspace/bin/rel.sh");
    free(o0);
    const char *rel[] = {"./bin/rel.sh", NULL};
    r = exec_opts(C, SID, rel, NULL);
    NT_CHECK(r);
    d = (const char *)nox_exec_result_stdout(r, &n);
    NT_CHECK_BYTES(d, n, "rel\n");
    nox_exec_result_free(r);
    const char *abs[] = {"/workspace/missing-binary", NULL};
    r = exec_opts(C, SID, abs, NULL);
    NT_CHECK(r);
    NT_CHECK_INT(nox_exec_result_exit_code(r), 127);
    nox_exec_result_free(r);
    char *o = sh_out(C, SID, "printf 'echo hi' > /workspace/noexec.sh; chmod 644 /workspace/noexec.sh");
    free(o);
    const char *nx[] = {"/workspace/noexec.sh", NULL};
    r = exec_opts(C, SID, nx, NULL);
    NT_CHECK(r);
    NT_CHECK_INT(nox_exec_result_exit_code(r), 126);
    nox_exec_result_free(r);
}

NT_TEST(timeout_kills_a_tree_that_ignores_sigterm) {
    /* The child and grandchild ignore SIGTERM, and the grandchild runs in
     * a session of its own. */
    const char *argv[] = {"sh", "-c",
                          "trap '' TERM; "
                          "(trap '' TERM; setsid sleep 300 & echo $! > /workspace/gc.pid; "
                          " sleep 300) & "
                          "echo $! > /workspace/c.pid; echo started; sleep 300",
                          NULL};
    nox_exec_options eo;
    nox_exec_options_init(&eo, NOX_EXEC_OPTIONS_VERSION);
    eo.timeout_seconds = 1;
    int64_t t0 = now_ms();
    nox_exec_result *r = exec_opts(C, SID, argv, &eo);
    int64_t took = now_ms() - t0;
    NT_CHECK(r);
    NT_CHECK_INT(nox_exec_result_timed_out(r), 1);
    NT_CHECK_INT(nox_exec_result_exit_code(r), 124);
    size_t n;
    const uint8_t *d = nox_exec_result_stdout(r, &n);
    NT_CHECK_BYTES(d, n, "started\n");
    NT_CHECK(nox_exec_result_duration_ms(r) >= 900);
    NT_CHECK(took < 10000); /* not the 300 s sleeps: killed (margin for ASan, load) */
    nox_exec_result_free(r);
    /* Inside the sandbox (same pid namespace), both pids are gone. */
    char *o = sh_out(C, SID,
                     "for i in 1 2 3 4 5 6 7 8 9 10; do "
                     "  if [ -e /proc/$(cat /workspace/gc.pid) ] || [ -e /proc/$(cat /workspace/c.pid) ]; "
                     "  then sleep 0.1; else echo gone; exit 0; fi; done; echo alive; ps -ef");
    NT_CHECK(o);
    NT_CHECK_STR(o, "gone\n");
    free(o);
}

NT_TEST(oversized_exec_request_is_too_big) {
    size_t big = 5u << 20;
    char *arg = malloc(big + 1);
    memset(arg, 'a', big);
    arg[big] = 0;
    const char *argv[] = {"true", arg, NULL};
    nox_exec_result *r = NULL;
    NT_FAILS(NOX_ETOOBIG, "larger than", nox_exec(C, SID, argv, NULL, &r, &err));
    /* Within the frame, beyond what execve() takes (E2BIG). */
    arg[3u << 20] = 0;
    NT_FAILS(NOX_ETOOBIG, "Argument list too long", nox_exec(C, SID, argv, NULL, &r, &err));
    free(arg);
    /* The sandbox is fine afterwards. */
    char *o = sh_out(C, SID, "echo ok");
    NT_CHECK(o && !strcmp(o, "ok\n"));
    free(o);
}

NT_TEST(output_cap_truncates_each_stream) {
    nox_exec_options eo;
    nox_exec_options_init(&eo, NOX_EXEC_OPTIONS_VERSION);
    eo.max_output_bytes = 1000;
    const char *argv[] = {"sh", "-c", "yes | head -c 5000; echo small >&2", NULL};
    nox_exec_result *r = exec_opts(C, SID, argv, &eo);
    NT_CHECK(r);
    size_t n;
    nox_exec_result_stdout(r, &n);
    NT_CHECK_INT(n, 1000);
    NT_CHECK_INT(nox_exec_result_stdout_truncated(r), 1);
    const uint8_t *e = nox_exec_result_stderr(r, &n);
    NT_CHECK_BYTES(e, n, "small\n");
    NT_CHECK_INT(nox_exec_result_stderr_truncated(r), 0);
    NT_CHECK_INT(nox_exec_result_exit_code(r), 0);
    nox_exec_result_free(r);
}

NT_TEST(output_flood_does_not_grow_memory) {
    long before = rss_hwm_kb();
    const char *argv[] = {"sh", "-c", "yes | head -c 50000000; yes e | head -c 30000000 >&2", NULL};
    int64_t t0 = now_ms();
    nox_exec_result *r = exec_opts(C, SID, argv, NULL);
    NT_CHECK(r);
    size_t n;
    nox_exec_result_stdout(r, &n);
    NT_CHECK_INT(n, 1024 * 1024);
    nox_exec_result_stderr(r, &n);
    NT_CHECK_INT(n, 1024 * 1024);
    NT_CHECK_INT(nox_exec_result_stdout_truncated(r), 1);
    NT_CHECK_INT(nox_exec_result_stderr_truncated(r), 1);
    NT_CHECK_INT(nox_exec_result_exit_code(r), 0);
    nox_exec_result_free(r);
    long after = rss_hwm_kb();
    fprintf(stderr, "    80 MB flood: %lld ms, peak RSS %ld -> %ld kB\n",
            (long long)(now_ms() - t0), before, after);
    NT_CHECK(after - before < 16 * 1024);
}

NT_TEST(binary_output_with_nul_bytes) {
    const char *argv[] = {"printf", "a\\000b\\377\\n", NULL};
    nox_exec_result *r = nt_exec_ok(C, SID, argv);
    NT_CHECK(r);
    size_t n;
    const uint8_t *d = nox_exec_result_stdout(r, &n);
    NT_CHECK_INT(n, 5);
    NT_CHECK(d[0] == 'a' && d[1] == 0 && d[2] == 'b' && d[3] == 0xff && d[4] == '\n');
    nox_exec_result_free(r);
}

NT_TEST(background_process_holding_the_pipes_does_not_block_exec) {
    /* The background sleep keeps stdout open; exec returns ~200 ms after
     * the main process ends, with what it printed. */
    const char *argv[] = {"sh", "-c", "sleep 5 & echo done", NULL};
    int64_t t0 = now_ms();
    nox_exec_result *r = exec_opts(C, SID, argv, NULL);
    int64_t took = now_ms() - t0;
    NT_CHECK(r);
    size_t n;
    const uint8_t *d = nox_exec_result_stdout(r, &n);
    NT_CHECK_BYTES(d, n, "done\n");
    NT_CHECK_INT(nox_exec_result_exit_code(r), 0);
    nox_exec_result_free(r);
    NT_CHECK(took < 4000); /* well before the 5 s sleep ends (margin for ASan, load) */
}

NT_TEST(archive_limits_of_the_client_apply_to_uploads) {
    nox_client_options o;
    nox_client_options_init(&o, NOX_CLIENT_OPTIONS_VERSION);
    o.backend = NOX_BACKEND_LOCAL;
    o.base_dir = BASE; /* the shared sandbox, through a stricter client */
    o.agent_path = NOX_TEST_AGENT;
    o.max_archive_entries = 2;
    nox_client *c = NULL;
    NT_OK(nox_client_new(&c, &o, &err));
    nox_files *f = NULL;
    NT_OK(nox_files_new(&f, &err));
    NT_OK(nox_files_add(f, "l1.txt", (const uint8_t *)"1", 1, 0, &err));
    NT_OK(nox_files_add(f, "l2.txt", (const uint8_t *)"2", 1, 0, &err));
    NT_OK(nox_files_add(f, "l3.txt", (const uint8_t *)"3", 1, 0, &err));
    NT_FAILS(NOX_ETOOBIG, "", nox_upload(c, SID, f, "/workspace/limited", &err));
    char *ls = sh_out(C, SID, "ls /workspace/limited 2>/dev/null | wc -l");
    NT_CHECK(ls && atoi(ls) < 3);
    free(ls);
    nox_files_free(f);
    nox_client_free(c);
}

static nox_client *client_at(const char *base, int isolation) {
    nox_client_options o;
    nox_client_options_init(&o, NOX_CLIENT_OPTIONS_VERSION);
    o.backend = NOX_BACKEND_LOCAL;
    o.base_dir = base;
    o.agent_path = NOX_TEST_AGENT;
    o.isolation = isolation;
    nox_client *c = NULL;
    return nox_client_new(&c, &o, NULL) == 0 ? c : NULL;
}

static int deny_unshare(void) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_unshare, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

NT_TEST(no_namespaces_means_unsupported_with_the_reason) {
#if !defined(__x86_64__)
    return; /* the filter above is written for x86-64 */
#endif
    char *base = nt_mkdtemp("nons");
    int p[2];
    NT_CHECK(pipe(p) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* Like a container whose seccomp profile forbids unshare(). */
        close(p[0]);
        char msg[1024] = "";
        int code = 0;
        if (deny_unshare() != 0) {
            snprintf(msg, sizeof msg, "seccomp: %s", strerror(errno));
        } else {
            nox_client_options o;
            nox_client_options_init(&o, NOX_CLIENT_OPTIONS_VERSION);
            o.backend = NOX_BACKEND_LOCAL;
            o.base_dir = base;
            o.agent_path = NOX_TEST_AGENT;
            nox_client *c = NULL;
            nox_error *e = NULL;
            if (nox_client_new(&c, &o, &e) == 0)
                code = create_ttl(c, "x", 10, NULL, &e);
            snprintf(msg, sizeof msg, "%s", e ? nox_error_message(e) : "");
            nox_error_free(e);
            nox_client_free(c);
        }
        char line[1100];
        int n = snprintf(line, sizeof line, "%d %s", code, msg);
        if (write(p[1], line, (size_t)n) < 0)
            _exit(2);
        _exit(0);
    }
    close(p[1]);
    char buf[1200];
    size_t len = 0;
    ssize_t r;
    while ((r = read(p[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = 0;
    close(p[0]);
    waitpid(pid, NULL, 0);
    nt_rm_rf(base);
    free(base);
    NT_CHECK(atoi(buf) == NOX_EUNSUPPORTED);
    NT_CHECK(strstr(buf, "cannot give the sandbox a private /workspace: "
                         "unshare(CLONE_NEWUSER) failed: Operation not permitted"));
}

/* Like a host that forbids user namespaces but allows the rest. */
static int deny_userns(void) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_unshare, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args)),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x10000000 /* CLONE_NEWUSER */, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

NT_TEST(auto_falls_back_to_none_naming_the_reason_namespaces_refuses) {
#if !defined(__x86_64__)
    return; /* the filter above is written for x86-64 */
#endif
    if (geteuid() != 0)
        return; /* level none itself needs a user namespace when not root */
    char *base = nt_mkdtemp("fb");
    int p[2];
    NT_CHECK(pipe(p) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        char out[3000] = "";
        size_t n = 0;
        if (deny_userns() != 0)
            _exit(3);
        unsetenv("NOXRUNNER_ISOLATION"); /* this test is about auto itself */
        nox_client *c = client_at(base, NOX_ISOLATION_AUTO);
        nox_bytes *b = NULL;
        size_t bl = 0;
        int level = c ? nox_client_isolation(c) : -1;
        if (c && nox_info(c, &b, NULL) == 0)
            n += (size_t)snprintf(out, sizeof out, "level=%d info=%s\n", level,
                                  (const char *)nox_bytes_data(b, &bl));
        nox_bytes_free(b);
        int crc = c ? create_ttl(c, "fb", 10, NULL, NULL) : -99;
        if (c)
            nox_sandbox_delete(c, "fb", NULL);
        nox_client_free(c);
        nox_client *ns = client_at(base, NOX_ISOLATION_NAMESPACES);
        nox_error *e = NULL;
        int nrc = ns ? create_ttl(ns, "fb2", 10, NULL, &e) : -99;
        n += (size_t)snprintf(out + n, sizeof out - n, "auto_create=%d ns_create=%d %s\n", crc,
                              nrc, e ? nox_error_message(e) : "");
        nox_error_free(e);
        nox_client_free(ns);
        if (write(p[1], out, n) < 0)
            _exit(2);
        _exit(0);
    }
    close(p[1]);
    char buf[3200];
    size_t len = 0;
    ssize_t r;
    while ((r = read(p[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = 0;
    close(p[0]);
    waitpid(pid, NULL, 0);
    nt_rm_rf(base);
    free(base);
    NT_CHECK(strstr(buf, "level=1 "));
    NT_CHECK(strstr(buf, "\"isolationFallbackReason\":\"the host forbids namespaces: "
                         "unshare(CLONE_NEWUSER) failed: Operation not permitted\""));
    NT_CHECK(strstr(buf, "auto_create=0 "));
    NT_CHECK(strstr(buf, "ns_create=-12 "));
    NT_CHECK(strstr(buf, "isolation level 'namespaces' is not available on this host: the "
                         "host forbids namespaces: unshare(CLONE_NEWUSER) failed"));
}

NT_TEST(masked_host_proc_makes_auto_fall_back_before_create_fails) {
    if (geteuid() != 0)
        return; /* needs a mount namespace of our own to mask /proc */
    char *base = nt_mkdtemp("mp");
    int p[2];
    NT_CHECK(pipe(p) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* Like a container runtime that covers parts of /proc. */
        close(p[0]);
        unsetenv("NOXRUNNER_ISOLATION");
        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("tmpfs", "/proc/sys", "tmpfs", MS_RDONLY, "size=4k") != 0)
            _exit(3);
        char out[2000] = "";
        nox_client *c = client_at(base, NOX_ISOLATION_AUTO);
        nox_bytes *b = NULL;
        size_t bl = 0;
        int crc = -99;
        if (c && nox_info(c, &b, NULL) == 0) {
            crc = create_ttl(c, "mp", 10, NULL, NULL);
            snprintf(out, sizeof out, "level=%d create=%d %s", nox_client_isolation(c), crc,
                     (const char *)nox_bytes_data(b, &bl));
            nox_sandbox_delete(c, "mp", NULL);
        }
        nox_bytes_free(b);
        nox_client_free(c);
        if (write(p[1], out, strlen(out)) < 0)
            _exit(2);
        _exit(0);
    }
    close(p[1]);
    char buf[2100];
    size_t len = 0;
    ssize_t r;
    while ((r = read(p[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = 0;
    close(p[0]);
    waitpid(pid, NULL, 0);
    nt_rm_rf(base);
    free(base);
    NT_CHECK(strstr(buf, "level=1 create=0 "));
    NT_CHECK(strstr(buf, "mounting a fresh /proc in a pid namespace"));
}

/* ---- streaming ----------------------------------------------------------- */

NT_TEST(stream_delivers_chunks_in_order_as_they_come) {
    const char *argv[] = {"sh", "-c", "echo one; sleep 0.3; echo two >&2; sleep 0.3; echo three; exit 5",
                          NULL};
    nox_exec_stream *s = NULL;
    int64_t t0 = now_ms();
    NT_OK(nox_exec_start(C, SID, argv, NULL, &s, &err));
    char seq[256] = "";
    int64_t first = -1, end = -1;
    for (int i = 0; i < 100; i++) {
        int kind = 0;
        const uint8_t *d = NULL;
        size_t n = 0;
        nox_error *err = NULL;
        int rc = nox_exec_next(s, 2000, &kind, &d, &n, &err);
        if (rc) {
            nt_fail(__FILE__, __LINE__, "next: %s", err ? nox_error_message(err) : "?");
            nox_error_free(err);
            nox_exec_stream_free(s);
            return;
        }
        if (kind == NOX_EVENT_EXIT) {
            end = now_ms() - t0;
            break;
        }
        if (kind == NOX_EVENT_NONE)
            continue;
        if (first < 0)
            first = now_ms() - t0;
        size_t l = strlen(seq);
        snprintf(seq + l, sizeof seq - l, "%s:%.*s", kind == NOX_EVENT_STDOUT ? "O" : "E",
                 (int)n, (const char *)d);
    }
    const nox_exec_result *r = nox_exec_stream_result(s);
    NT_CHECK(r);
    NT_CHECK_INT(nox_exec_result_exit_code(r), 5);
    size_t n;
    nox_exec_result_stdout(r, &n);
    NT_CHECK_INT(n, 0);
    /* A later next() reports EXIT again. */
    int kind = 0;
    NT_OK(nox_exec_next(s, 0, &kind, NULL, NULL, &err));
    NT_CHECK_INT(kind, NOX_EVENT_EXIT);
    nox_exec_stream_free(s);
    NT_CHECK_STR(seq, "O:one\nE:two\nO:three\n");
    /* The first line came as it was printed, not with the end: 0.6 s of
     * sleeps lie between them; however late a loaded host starts the
     * command, it delays both alike. */
    fprintf(stderr, "    first chunk at %lld ms, exit at %lld ms\n", (long long)first,
            (long long)end);
    NT_CHECK(first >= 0 && end >= 0 && end - first >= 300);
}

NT_TEST(stream_next_times_out_with_none) {
    /* A 50 ms wait returns NONE long before the command (5 s) ends, by a
     * margin that holds under ASan on a loaded host; then cancel it. */
    const char *argv[] = {"sleep", "5", NULL};
    nox_exec_stream *s = NULL;
    NT_OK(nox_exec_start(C, SID, argv, NULL, &s, &err));
    int kind = -1;
    int64_t t0 = now_ms();
    NT_OK(nox_exec_next(s, 50, &kind, NULL, NULL, &err));
    int64_t took = now_ms() - t0;
    NT_CHECK(took >= 40 && took < 2500);
    NT_CHECK_INT(kind, NOX_EVENT_NONE);
    nox_exec_cancel(s);
    int rc = 0;
    for (int i = 0; i < 100 && kind != NOX_EVENT_EXIT && rc == 0; i++) {
        nox_error *e = NULL;
        rc = nox_exec_next(s, 1000, &kind, NULL, NULL, &e);
        nox_error_free(e);
    }
    NT_CHECK_INT(rc, NOX_ECANCELED);
    nox_exec_stream_free(s);
}

typedef struct cancel_arg {
    nox_exec_stream *s;
    int delay_ms;
} cancel_arg;

static void *cancel_later(void *p) {
    cancel_arg *a = p;
    sleep_ms(a->delay_ms);
    nox_exec_cancel(a->s);
    return NULL;
}

static int sandbox_pid_gone(const char *sid, const char *pidfile) {
    char script[512];
    snprintf(script, sizeof script,
             "for i in $(seq 200); do [ -e /proc/$(cat %s) ] || { echo gone; exit 0; }; "
             "sleep 0.05; done; echo alive",
             pidfile);
    char *o = sh_out(C, sid, script);
    int gone = o && !strcmp(o, "gone\n");
    free(o);
    return gone;
}

NT_TEST(stream_cancel_from_another_thread_kills_the_tree) {
    const char *argv[] = {"sh", "-c",
                          "trap '' TERM; sleep 300 & echo $! > /workspace/cancel.pid; "
                          "echo ready; wait",
                          NULL};
    nox_exec_stream *s = NULL;
    NT_OK(nox_exec_start(C, SID, argv, NULL, &s, &err));
    int kind = 0;
    const uint8_t *d;
    size_t n;
    NT_OK(nox_exec_next(s, 5000, &kind, &d, &n, &err));
    NT_CHECK_INT(kind, NOX_EVENT_STDOUT);
    cancel_arg a = {s, 200};
    pthread_t t;
    pthread_create(&t, NULL, cancel_later, &a);
    int64_t t0 = now_ms();
    nox_error *e = NULL;
    int rc = nox_exec_next(s, -1, &kind, &d, &n, &e);
    int64_t took = now_ms() - t0;
    pthread_join(t, NULL);
    NT_CHECK_INT(rc, NOX_ECANCELED);
    NT_CHECK(e && nox_error_code(e) == NOX_ECANCELED);
    nox_error_free(e);
    NT_CHECK(took >= 150 && took < 5000); /* 200 ms, plus the kill (ASan, load) */
    /* Canceled again and again; then freed. */
    nox_exec_cancel(s);
    NT_FAILS(NOX_ECANCELED, "", nox_exec_next(s, 0, &kind, &d, &n, &err));
    nox_exec_stream_free(s);
    NT_CHECK(sandbox_pid_gone(SID, "/workspace/cancel.pid"));
}

NT_TEST(stream_free_kills_a_running_command) {
    const char *argv[] = {"sh", "-c", "echo $$ > /workspace/free.pid; echo go; exec sleep 300", NULL};
    nox_exec_stream *s = NULL;
    NT_OK(nox_exec_start(C, SID, argv, NULL, &s, &err));
    int kind = 0;
    NT_OK(nox_exec_next(s, 5000, &kind, NULL, NULL, &err));
    NT_CHECK_INT(kind, NOX_EVENT_STDOUT);
    nox_exec_stream_free(s);
    NT_CHECK(sandbox_pid_gone(SID, "/workspace/free.pid"));
}

/* ---- unknown sandboxes, delete ------------------------------------------- */

NT_TEST(unknown_sandbox_is_not_found) {
    const char *sid = nt_sid("unknown");
    const char *argv[] = {"true", NULL};
    nox_exec_result *r = NULL;
    nox_exec_stream *s = NULL;
    nox_sandbox_info *i = NULL;
    nox_bytes *b = NULL;
    NT_FAILS(NOX_ENOTFOUND, "no sandbox for session", nox_exec(C, sid, argv, NULL, &r, &err));
    NT_FAILS(NOX_ENOTFOUND, "no sandbox for session", nox_exec_start(C, sid, argv, NULL, &s, &err));
    NT_FAILS(NOX_ENOTFOUND, "no sandbox for session", nox_sandbox_touch(C, sid, &err));
    NT_FAILS(NOX_ENOTFOUND, "no sandbox for session", nox_sandbox_get(C, sid, &i, &err));
    NT_FAILS(NOX_ENOTFOUND, "", nox_sandbox_delete(C, sid, &err));
    NT_FAILS(NOX_ENOTFOUND, "", nox_download(C, sid, NULL, &b, &err));
    NT_FAILS(NOX_ENOTFOUND, "", nox_upload_targz(C, sid, (const uint8_t *)"x", 1, NULL, &err));
    NT_FAILS(NOX_ENOTFOUND, "", nox_sandbox_wait_ready(C, sid, 100, &err));
}

NT_TEST(delete_kills_background_and_daemonized_processes) {
    const char *sid = nt_sid("del");
    NT_OK(create_ttl(C, sid, 60, NULL, &err));
    pid_t apid = agent_pid(BASE, sid);
    char m1[32], m2[32];
    snprintf(m1, sizeof m1, "%d", 800000 + (int)getpid() % 100000);
    snprintf(m2, sizeof m2, "%d", 900000 + (int)getpid() % 100000);
    char script[256];
    snprintf(script, sizeof script,
             "sleep %s >/dev/null 2>&1 & "
             "setsid sh -c 'trap \"\" TERM HUP; sleep %s & exit 0' >/dev/null 2>&1 & echo ok",
             m1, m2);
    char *o = sh_out(C, sid, script);
    NT_CHECK(o && !strcmp(o, "ok\n"));
    free(o);
    /* They outlive the exec, like in a pod. */
    for (int i = 0; i < 40 && count_host_sleeps(m2) == 0; i++)
        sleep_ms(25);
    NT_CHECK_INT(count_host_sleeps(m1), 1);
    NT_CHECK_INT(count_host_sleeps(m2), 1);
    NT_OK(nox_sandbox_delete(C, sid, &err));
    /* Gone when delete returns, not later. */
    NT_CHECK_INT(count_host_sleeps(m1), 0);
    NT_CHECK_INT(count_host_sleeps(m2), 0);
    NT_CHECK(host_pid_dead(apid));
    char *dir = session_dir(BASE, sid);
    NT_CHECK(!dir_exists(dir));
    free(dir);
    NT_FAILS(NOX_ENOTFOUND, "", nox_sandbox_delete(C, sid, &err));
}

NT_TEST(removing_the_session_dir_ends_the_agent) {
    const char *sid = nt_sid("rmdir");
    NT_OK(create_ttl(C, sid, 60, NULL, &err));
    pid_t apid = agent_pid(BASE, sid);
    char marker[32];
    snprintf(marker, sizeof marker, "%d", 600000 + (int)getpid() % 100000);
    char script[128];
    snprintf(script, sizeof script, "sleep %s >/dev/null 2>&1 & echo ok", marker);
    char *o = sh_out(C, sid, script);
    free(o);
    char *dir = session_dir(BASE, sid);
    nt_rm_rf(dir);
    free(dir);
    int dead = 0;
    for (int i = 0; i < 100 && !dead; i++) {
        sleep_ms(50);
        dead = host_pid_dead(apid);
    }
    NT_CHECK(dead);
    NT_CHECK_INT(count_host_sleeps(marker), 0);
}

/* ---- other processes, stale state ---------------------------------------- */

NT_TEST(sandbox_is_found_again_by_another_process) {
    const char *sid = nt_sid("xproc");
    NT_OK(create_ttl(C, sid, 60, NULL, &err));
    char *o = sh_out(C, sid, "echo from-parent > /workspace/m; echo ok");
    free(o);
    pid_t pid = fork();
    if (pid == 0) {
        /* A different process with its own client on the same base dir. */
        nox_client_options co;
        nox_client_options_init(&co, NOX_CLIENT_OPTIONS_VERSION);
        co.backend = NOX_BACKEND_LOCAL;
        co.base_dir = BASE;
        co.agent_path = NOX_TEST_AGENT;
        nox_client *c2 = NULL;
        if (nox_client_new(&c2, &co, NULL) != 0)
            _exit(10);
        const char *argv[] = {"sh", "-c", "cat /workspace/m; echo from-child > /workspace/c", NULL};
        nox_exec_result *r = NULL;
        if (nox_exec(c2, sid, argv, NULL, &r, NULL) != 0)
            _exit(11);
        size_t n;
        const uint8_t *d = nox_exec_result_stdout(r, &n);
        int ok = n == 12 && !memcmp(d, "from-parent\n", 12);
        nox_exec_result_free(r);
        nox_client_free(c2);
        _exit(ok ? 0 : 12);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    NT_CHECK(WIFEXITED(st));
    NT_CHECK_INT(WEXITSTATUS(st), 0);
    o = sh_out(C, sid, "cat /workspace/c");
    NT_CHECK(o && !strcmp(o, "from-child\n"));
    free(o);
    NT_OK(nox_sandbox_delete(C, sid, &err));
}

NT_TEST(stale_state_of_a_dead_agent_is_cleaned) {
    const char *sid = nt_sid("stale");
    NT_OK(create_ttl(C, sid, 60, NULL, &err));
    pid_t apid = agent_pid(BASE, sid);
    NT_CHECK(apid > 0);
    kill(apid, SIGKILL); /* like a reboot: state stays, agent is gone */
    for (int i = 0; i < 100 && !host_pid_dead(apid); i++)
        sleep_ms(10);
    char *dir = session_dir(BASE, sid);
    /* Its pid 1 follows through parent-death signals, a moment later. */
    for (int i = 0; i < 200; i++) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int fd = dfd >= 0 ? nox__unix_connect_at(dfd, dir, NOX_SOCK_FILE) : -1;
        if (dfd >= 0)
            close(dfd);
        if (fd < 0)
            break;
        close(fd);
        sleep_ms(10);
    }
    NT_CHECK(dir_exists(dir));
    nox_sandbox_info *i = NULL;
    NT_FAILS(NOX_ENOTFOUND, "no sandbox for session", nox_sandbox_get(C, sid, &i, &err));
    NT_CHECK(!dir_exists(dir));
    /* And create brings a fresh one up. */
    NT_OK(create_ttl(C, sid, 60, NULL, &err));
    NT_CHECK(agent_pid(BASE, sid) != apid);
    char *o = sh_out(C, sid, "echo alive");
    NT_CHECK(o && !strcmp(o, "alive\n"));
    free(o);
    /* A dead agent found by create is replaced in place. */
    apid = agent_pid(BASE, sid);
    kill(apid, SIGKILL);
    for (int k = 0; k < 100 && !host_pid_dead(apid); k++)
        sleep_ms(10);
    NT_OK(create_ttl(C, sid, 60, NULL, &err));
    o = sh_out(C, sid, "ls /workspace | wc -l");
    NT_CHECK(o && !strcmp(o, "0\n"));
    free(o);
    NT_OK(nox_sandbox_delete(C, sid, &err));
    free(dir);
}

/* The agent of meta.json dies, its sandbox's pid 1 follows a moment
 * later (parent-death signals): a create right in between must not take
 * that dying sandbox for a live one (it used to touch it, return, and
 * the next exec found no sandbox). */
NT_TEST(create_right_after_the_agent_died_makes_a_working_sandbox) {
    const char *sid = nt_sid("reborn");
    NT_OK(create_ttl(C, sid, 60, NULL, &err));
    for (int round = 0; round < 8 && nt_failed_checks == 0; round++) {
        pid_t apid = agent_pid(BASE, sid);
        NT_CHECK(apid > 0);
        kill(apid, SIGKILL);
        for (int k = 0; k < 100 && !host_pid_dead(apid); k++)
            sleep_ms(1);
        NT_OK(create_ttl(C, sid, 60, NULL, &err));
        NT_CHECK(agent_pid(BASE, sid) != apid);
        char *o = sh_out(C, sid, "echo alive");
        if (!o || strcmp(o, "alive\n") != 0)
            nt_fail(__FILE__, __LINE__, "round %d: exec after create: %s", round,
                    o ? o : "(failed)");
        free(o);
    }
    NT_OK(nox_sandbox_delete(C, sid, &err));
}

typedef struct race_arg {
    const char *sid;
    int rc;
    char pod[32];
} race_arg;

static void *create_race(void *p) {
    race_arg *a = p;
    nox_sandbox_info *i = NULL;
    a->rc = create_ttl(C, a->sid, 60, &i, NULL);
    if (i)
        snprintf(a->pod, sizeof a->pod, "%s", nox_sandbox_info_pod_name(i));
    nox_sandbox_info_free(i);
    return NULL;
}

NT_TEST(concurrent_creates_make_one_sandbox) {
    char sid[64];
    snprintf(sid, sizeof sid, "%s", nt_sid("race"));
    race_arg a[6];
    pthread_t t[6];
    for (int i = 0; i < 6; i++) {
        a[i] = (race_arg){.sid = sid};
        pthread_create(&t[i], NULL, create_race, &a[i]);
    }
    for (int i = 0; i < 6; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 6; i++) {
        NT_CHECK_INT(a[i].rc, 0);
        NT_CHECK_STR(a[i].pod, a[0].pod);
    }
    /* One agent: every exec sees the same pid namespace's pid 1 and files. */
    char *o = sh_out(C, sid, "echo x > /workspace/one; ls /workspace");
    NT_CHECK(o && !strcmp(o, "one\n"));
    free(o);
    NT_OK(nox_sandbox_delete(C, sid, &err));
}

/* ---- many threads --------------------------------------------------------- */

typedef struct thr_arg {
    int idx;
    int bad;
} thr_arg;

static void *exec_many(void *p) {
    thr_arg *a = p;
    for (int i = 0; i < 20; i++) {
        char word[32];
        snprintf(word, sizeof word, "t%d-%d", a->idx, i);
        const char *argv[] = {"echo", word, NULL};
        nox_exec_result *r = NULL;
        if (nox_exec(C, SID, argv, NULL, &r, NULL) != 0) {
            a->bad++;
            continue;
        }
        size_t n;
        const uint8_t *d = nox_exec_result_stdout(r, &n);
        if (n != strlen(word) + 1 || memcmp(d, word, strlen(word)) != 0)
            a->bad++;
        nox_exec_result_free(r);
    }
    return NULL;
}

NT_TEST(sixteen_threads_share_one_client) {
    pthread_t t[16];
    thr_arg a[16];
    int64_t t0 = now_ms();
    for (int i = 0; i < 16; i++) {
        a[i] = (thr_arg){i, 0};
        pthread_create(&t[i], NULL, exec_many, &a[i]);
    }
    int bad = 0;
    for (int i = 0; i < 16; i++) {
        pthread_join(t[i], NULL);
        bad += a[i].bad;
    }
    fprintf(stderr, "    320 execs on 16 threads: %lld ms\n", (long long)(now_ms() - t0));
    NT_CHECK_INT(bad, 0);
}

/* ---- files ---------------------------------------------------------------- */

NT_TEST(upload_and_download_round_trip_through_the_agent) {
    nox_files *f = NULL;
    NT_OK(nox_files_new(&f, &err));
    static const uint8_t bin[] = {0, 1, 2, 255, 254, 0, 'z'};
    NT_OK(nox_files_add(f, "a.txt", (const uint8_t *)"alpha\n", 6, 0, &err));
    NT_OK(nox_files_add(f, "sub/b.bin", bin, sizeof bin, 0755, &err));
    NT_OK(nox_upload(C, SID, f, "/workspace/up/nested", &err));
    nox_files_free(f);
    char *o = sh_out(C, SID, "cat /workspace/up/nested/a.txt; stat -c %a /workspace/up/nested/sub/b.bin");
    NT_CHECK(o && !strcmp(o, "alpha\n755\n"));
    free(o);
    char *local = nt_mkdtemp("dl");
    NT_OK(nox_download_to_dir(C, SID, "/workspace/up", local, &err));
    char p[4200];
    snprintf(p, sizeof p, "%s/nested/sub/b.bin", local);
    size_t n = 0;
    char *d = nt_read_file(p, &n);
    NT_CHECK(d && n == sizeof bin && !memcmp(d, bin, n));
    free(d);
    nt_rm_rf(local);
    free(local);
    nox_bytes *b = NULL;
    NT_OK(nox_download(C, SID, "/workspace/up/nested", &b, &err));
    size_t bl;
    const uint8_t *bd = nox_bytes_data(b, &bl);
    NT_CHECK(bl > 20 && bd[0] == 0x1f && bd[1] == 0x8b); /* gzip */
    nox_bytes_free(b);
}

NT_TEST(large_files_cross_many_frames_both_ways) {
    size_t big = 12u << 20;
    uint8_t *buf = malloc(big);
    uint32_t x = 12345;
    for (size_t i = 0; i < big; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16); /* incompressible enough */
    }
    nox_files *f = NULL;
    NT_OK(nox_files_new(&f, &err));
    NT_OK(nox_files_add(f, "big.bin", buf, big, 0, &err));
    NT_OK(nox_upload(C, SID, f, "/workspace/big", &err));
    nox_files_free(f);
    char *o = sh_out(C, SID, "wc -c < /workspace/big/big.bin");
    NT_CHECK(o && (size_t)atol(o) == big);
    free(o);
    char *local = nt_mkdtemp("big");
    NT_OK(nox_download_to_dir(C, SID, "/workspace/big", local, &err));
    char p[4200];
    snprintf(p, sizeof p, "%s/big.bin", local);
    size_t n = 0;
    char *d = nt_read_file(p, &n);
    int same = d && n == big && !memcmp(d, buf, big);
    free(d);
    free(buf);
    nt_rm_rf(local);
    free(local);
    NT_CHECK(same);
}

/* Locally nothing is compressed unless a tar.gz is what the caller
 * gets: nox_download's bytes are gzip level 1, a level can be named, and
 * NOX_TAR_PLAIN is a tar. */
NT_TEST(download_levels_locally) {
    char *o = sh_out(C, SID, "mkdir -p /workspace/lv && yes nox | head -c 262144 > "
                             "/workspace/lv/y.txt && echo ok");
    NT_CHECK(o && !strcmp(o, "ok\n"));
    free(o);
    nox_bytes *b = NULL;
    NT_OK(nox_download(C, SID, "/workspace/lv", &b, &err));
    size_t n = 0;
    const uint8_t *d = nox_bytes_data(b, &n);
    NT_CHECK(n > 2 && d[0] == 0x1f && d[1] == 0x8b && n < 16384);
    nox_bytes_free(b);
    int levels[] = {0, 9, NOX_TAR_PLAIN};
    size_t sizes[3] = {0};
    char heads[3][300];
    for (int i = 0; i < 3; i++) {
        char *dir = nt_mkdtemp("lvl");
        char p[4200];
        snprintf(p, sizeof p, "%s/a", dir);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        NT_OK(nox_download_fd_level(C, SID, "/workspace/lv", fd, levels[i], &err));
        close(fd);
        char *data = nt_read_file(p, &sizes[i]);
        memset(heads[i], 0, sizeof heads[i]);
        if (data)
            memcpy(heads[i], data, sizes[i] < sizeof heads[i] ? sizes[i] : sizeof heads[i]);
        free(data);
        nt_rm_rf(dir);
        free(dir);
    }
    NT_CHECK((uint8_t)heads[0][0] == 0x1f && sizes[0] > 262144); /* stored */
    NT_CHECK((uint8_t)heads[1][0] == 0x1f && sizes[1] < 8192);   /* level 9 */
    NT_CHECK(memcmp(heads[2] + 257, "ustar", 5) == 0 && sizes[2] > 262144);
    NT_FAILS(NOX_EINVAL, "gzip level 12",
             nox_download_fd_level(C, SID, "/workspace/lv", 1, 12, &err));
}

NT_TEST(download_of_missing_path_is_not_found) {
    nox_bytes *b = NULL;
    NT_FAILS(NOX_ENOTFOUND, "path \"/workspace/x\" does not exist",
             nox_download(C, SID, "/workspace/x", &b, &err));
}

NT_TEST(upload_outside_workspace_is_refused) {
    static const uint8_t junk[] = "not an archive";
    NT_FAILS(NOX_EINVAL, "outside /workspace",
             nox_upload_targz(C, SID, junk, sizeof junk, "/etc/nox", &err));
    /* A symlink planted inside the workspace does not lead out either. */
    char *o = sh_out(C, SID, "ln -sfn /etc /workspace/escape && echo ok");
    free(o);
    nox_files *f = NULL;
    NT_OK(nox_files_new(&f, &err));
    NT_OK(nox_files_add(f, "x.txt", (const uint8_t *)"x", 1, 0, &err));
    NT_FAILS(NOX_EINVAL, "leads outside", nox_upload(C, SID, f, "/workspace/escape/sub", &err));
    nox_files_free(f);
    /* A corrupt archive is an archive error, and the agent survives it. */
    NT_FAILS(NOX_EARCHIVE, "", nox_upload_targz(C, SID, junk, sizeof junk, NULL, &err));
    o = sh_out(C, SID, "echo still-here");
    NT_CHECK(o && !strcmp(o, "still-here\n"));
    free(o);
}

/* ---- list, get, info ------------------------------------------------------ */

NT_TEST(list_and_get_show_live_sandboxes) {
    char s1[64], s2[64];
    snprintf(s1, sizeof s1, "%s", nt_sid("list"));
    snprintf(s2, sizeof s2, "%s", nt_sid("list"));
    NT_OK(create_ttl(C, s1, 60, NULL, &err));
    NT_OK(create_ttl(C, s2, 120, NULL, &err));
    nox_sandbox_list *l = NULL;
    NT_OK(nox_sandbox_list_all(C, &l, &err));
    int seen = 0;
    for (size_t i = 0; i < nox_sandbox_list_count(l); i++) {
        const nox_sandbox_info *x = nox_sandbox_list_at(l, i);
        const char *id = nox_sandbox_info_session_id(x);
        if (!strcmp(id, s1) || !strcmp(id, s2)) {
            seen++;
            char pod[17];
            nox__session_podname(id, pod);
            NT_CHECK_STR(nox_sandbox_info_pod_name(x), pod);
            NT_CHECK(nox_sandbox_info_expires_at_unix(x) > (int64_t)time(NULL));
        }
    }
    nox_sandbox_list_free(l);
    NT_CHECK_INT(seen, 2);
    nox_sandbox_info *g = NULL;
    NT_OK(nox_sandbox_get(C, s2, &g, &err));
    NT_CHECK_STR(nox_sandbox_info_session_id(g), s2);
    NT_CHECK(nox_sandbox_info_expires_at_unix(g) > (int64_t)time(NULL) + 100);
    nox_sandbox_info_free(g);
    NT_OK(nox_sandbox_delete(C, s1, &err));
    NT_OK(nox_sandbox_list_all(C, &l, &err));
    for (size_t i = 0; i < nox_sandbox_list_count(l); i++)
        NT_CHECK(strcmp(nox_sandbox_info_session_id(nox_sandbox_list_at(l, i)), s1) != 0);
    nox_sandbox_list_free(l);
    NT_OK(nox_sandbox_wait_ready(C, s2, 1000, &err));
    NT_OK(nox_sandbox_delete(C, s2, &err));
}

/* pid is pid 1 of a pid namespace below ours. */
static int is_ns_init(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    char *st = nt_read_file(path, NULL);
    char *l = st ? strstr(st, "\nNSpid:") : NULL;
    int yes = 0;
    if (l) {
        char *e = strchr(l + 1, '\n');
        if (e)
            *e = 0;
        char *last = strrchr(l, '\t');
        yes = last && last != strchr(l, '\t') && atoi(last + 1) == 1;
    }
    free(st);
    return yes;
}

NT_TEST(wait_ready_times_out_on_a_stuck_agent) {
    const char *sid = nt_sid("stuck");
    NT_OK(create_ttl(C, sid, 60, NULL, &err));
    NT_OK(nox_sandbox_wait_ready(C, sid, 2000, &err));
    pid_t apid = agent_pid(BASE, sid);
    char kids[64];
    snprintf(kids, sizeof kids, "/proc/%d/task/%d/children", (int)apid, (int)apid);
    char *k = nt_read_file(kids, NULL);
    pid_t inner = k ? (pid_t)atoi(k) : 0;
    free(k);
    NT_CHECK(inner > 0);
    /* Stop the sandbox's pid 1 (at the namespaces level one more step
     * down): the process whose NSpid ends in 1. */
    for (int depth = 0; depth < 3 && !is_ns_init(inner); depth++) {
        snprintf(kids, sizeof kids, "/proc/%d/task/%d/children", (int)inner, (int)inner);
        k = nt_read_file(kids, NULL);
        pid_t next = k ? (pid_t)atoi(k) : 0;
        free(k);
        if (next <= 0)
            break;
        inner = next;
    }
    NT_CHECK(is_ns_init(inner));
    kill(inner, SIGSTOP);
    /* A group stop reaches every thread a moment later. */
    char state = '?';
    for (int i = 0; i < 200 && state != 'T'; i++) {
        nox__proc_starttime_state(inner, &state);
        if (state != 'T')
            sleep_ms(1);
    }
    int64_t t0 = now_ms();
    nox_error *e = NULL;
    int rc = nox_sandbox_wait_ready(C, sid, 300, &e);
    int64_t took = now_ms() - t0;
    kill(inner, SIGCONT);
    NT_CHECK_INT(rc, NOX_ETIMEOUT);
    nox_error_free(e);
    NT_CHECK(took >= 250 && took < 5000); /* 300 ms, give or take (ASan, load) */
    NT_OK(nox_sandbox_wait_ready(C, sid, 10000, &err));
    NT_OK(nox_sandbox_delete(C, sid, &err));
}

NT_TEST(info_health_and_isolation) {
    nox_bytes *b = NULL;
    NT_OK(nox_info(C, &b, &err));
    size_t n;
    const char *j = (const char *)nox_bytes_data(b, &n);
    NT_CHECK(strstr(j, "\"name\":\"noxrunner-local\""));
    char want[64];
    snprintf(want, sizeof want, "\"isolation\":\"%s\"",
             nox_isolation_name(nox_client_isolation(C)));
    NT_CHECK(strstr(j, want));
    const char *pin = getenv("NOXRUNNER_ISOLATION");
    NT_CHECK(strstr(j, pin && *pin ? (!strcmp(pin, "none") ? "\"isolationRequested\":\"none\""
                                                           : "\"isolationRequested\":\"namespaces\"")
                                   : "\"isolationRequested\":\"auto\""));
    NT_CHECK(strstr(j, "\"limits\":{"));
    NT_CHECK(strstr(j, "\"extensions\":["));
    NT_CHECK(strstr(j, "\"exec-stream\""));
    NT_CHECK(strstr(j, "\"version\":\""));
    /* auto resolves to a level, never stays auto; none only with a reason. */
    int lvl = nox_client_isolation(C);
    NT_CHECK(lvl == NOX_ISOLATION_NAMESPACES || lvl == NOX_ISOLATION_NONE);
    if (lvl == NOX_ISOLATION_NONE && !(pin && !strcmp(pin, "none")))
        NT_CHECK(strstr(j, "\"isolationFallbackReason\":\""));
    nox_bytes_free(b);
    NT_OK(nox_health(C, &err));
}

NT_TEST(each_level_runs_commands_and_says_so) {
    char *base = nt_mkdtemp("lv");
    for (int lvl = NOX_ISOLATION_NONE; lvl <= NOX_ISOLATION_NAMESPACES; lvl++) {
        nox_client *c = client_at(base, lvl);
        NT_CHECK(c);
        NT_CHECK_INT(nox_client_isolation(c), lvl);
        NT_OK(create_ttl(c, "lv", 30, NULL, &err));
        char *o = sh_out(c, "lv", "echo run; pwd");
        NT_CHECK(o && !strcmp(o, "run\n/workspace\n"));
        free(o);
        char *sd = session_dir(base, "lv");
        char meta[4200];
        snprintf(meta, sizeof meta, "%s/meta.json", sd);
        free(sd);
        char *m = nt_read_file(meta, NULL);
        char want[64];
        snprintf(want, sizeof want, "\"isolation\":\"%s\"", nox_isolation_name(lvl));
        NT_CHECK(m && strstr(m, want));
        free(m);
        NT_OK(nox_sandbox_delete(c, "lv", &err));
        nox_client_free(c);
    }
    nt_rm_rf(base);
    free(base);
}

NT_TEST(image_must_be_a_root_file_system_directory) {
    char *base = nt_mkdtemp("img");
    nox_client *c = client_at(base, NOX_ISOLATION_AUTO);
    NT_CHECK(c);
    nox_sandbox_options so;
    nox_sandbox_options_init(&so, NOX_SANDBOX_OPTIONS_VERSION);
    nox_sandbox_info *i = NULL;
    so.image = "python:3.11-slim";
    NT_FAILS(NOX_EINVAL, "not available to the local backend",
             nox_sandbox_create(c, "img", &so, &i, &err));
    so.image = base; /* a directory, but no root file system */
    NT_FAILS(NOX_EINVAL, "does not hold a root file system",
             nox_sandbox_create(c, "img", &so, &i, &err));
    if (nox_client_isolation(c) != NOX_ISOLATION_NAMESPACES) {
        nt_skip("namespaces", "running on an image needs isolation level namespaces, not here");
    } else {
        /* "/" is a root file system directory: run on it as an image. */
        so.image = "/";
        NT_OK(nox_sandbox_create(c, "img", &so, &i, &err));
        nox_sandbox_info_free(i);
        char *o = sh_out(c, "img", "echo from-image; ls /workspace >/dev/null && echo ws");
        NT_CHECK(o && !strcmp(o, "from-image\nws\n"));
        free(o);
        NT_OK(nox_sandbox_delete(c, "img", &err));
    }
    nox_client_free(c);
    nt_rm_rf(base);
    free(base);
}

NT_TEST(limits_in_force_are_reported_never_silently_dropped) {
    if (nox_client_isolation(C) != NOX_ISOLATION_NAMESPACES) {
        nt_skip("namespaces", "limits in force need isolation level namespaces, not here");
        return;
    }
    const char *sid = nt_sid("lim");
    nox_sandbox_options so;
    nox_sandbox_options_init(&so, NOX_SANDBOX_OPTIONS_VERSION);
    so.ttl_seconds = 30;
    so.cpu_limit = "500m";
    so.memory_limit = "512Mi";
    so.ephemeral_storage_limit = "1Gi";
    nox_sandbox_info *i = NULL;
    NT_OK(nox_sandbox_create(C, sid, &so, &i, &err));
    nox_sandbox_info_free(i);
    char *o = sh_out(C, sid, "awk '/Max file size/{print \"fsize\", $4} "
                             "/Max open files/{print \"nofile\", $4} "
                             "/Max address space/{print \"as\", $4}' /proc/self/limits");
    NT_CHECK(o && strstr(o, "fsize 1073741824\n") && strstr(o, "nofile 4096\n") &&
             strstr(o, "as 536870912\n"));
    free(o);
    char *dir = session_dir(BASE, sid);
    char path[4200];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    char *meta = nt_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/agent.log", dir);
    char *log = nt_read_file(path, NULL);
    free(dir);
    /* Per process always; for the whole sandbox where a cgroup holds it,
     * else said to be not enforced (test_cgroup checks each case). */
    NT_CHECK(meta && strstr(meta, "rlimit-as per process"));
    NT_CHECK(meta && (strstr(meta, "\"memory\":\"cgroup v") ||
                      strstr(meta, "whole sandbox not enforced: ")));
    int cpu_held = meta && strstr(meta, "\"cpu\":\"cgroup v");
    NT_CHECK(cpu_held || (meta && strstr(meta, "\"cpu\":\"not enforced: ")));
    NT_CHECK(cpu_held || (log && strstr(log, "cpuLimit 500m is not enforced")));
    free(meta);
    free(log);
    NT_OK(nox_sandbox_delete(C, sid, &err));
}

NT_TEST(bad_limits_are_refused) {
    nox_sandbox_options so;
    nox_sandbox_options_init(&so, NOX_SANDBOX_OPTIONS_VERSION);
    nox_sandbox_info *i = NULL;
    so.memory_limit = "12Qi";
    NT_FAILS(NOX_EINVAL, "memory_limit", nox_sandbox_create(C, "badlim", &so, &i, &err));
    so.memory_limit = "1Mi";
    NT_FAILS(NOX_EINVAL, "minimum", nox_sandbox_create(C, "badlim", &so, &i, &err));
}

NT_TEST(missing_agent_is_a_clear_error) {
    char *base = nt_mkdtemp("noagent");
    nox_client_options o;
    nox_client_options_init(&o, NOX_CLIENT_OPTIONS_VERSION);
    o.backend = NOX_BACKEND_LOCAL;
    o.base_dir = base;
    o.agent_path = "/nonexistent/nox-sandbox";
    nox_client *c = NULL;
    NT_OK(nox_client_new(&c, &o, &err));
    NT_FAILS(NOX_ESANDBOX, "/nonexistent/nox-sandbox", create_ttl(c, "x", 10, NULL, &err));
    NT_FAILS(NOX_ESANDBOX, "/nonexistent/nox-sandbox", nox_health(c, &err));
    nox_client_free(c);
    /* Found next to the program when nothing is configured. */
    unsetenv("NOXRUNNER_AGENT");
    o.agent_path = NULL;
    NT_OK(nox_client_new(&c, &o, &err));
    NT_OK(nox_health(c, &err));
    nox_client_free(c);
    nt_rm_rf(base);
    free(base);
}

NT_TEST(agent_setup_errors_reach_the_caller) {
    char *dir = nt_mkdtemp("fake");
    char agent[4200], base[4200];
    snprintf(agent, sizeof agent, "%s/fake-agent", dir);
    snprintf(base, sizeof base, "%s/base", dir);
    /* An agent that reports a setup failure on its ready fd, and one that
     * dies without a word. */
    const char *script = "#!/bin/sh\necho 'E -14 cannot do the thing: no reason' >&3\nexit 1\n";
    NT_CHECK(nt_write_file(agent, script, strlen(script), 0755) == 0);
    nox_client_options o;
    nox_client_options_init(&o, NOX_CLIENT_OPTIONS_VERSION);
    o.backend = NOX_BACKEND_LOCAL;
    o.base_dir = base;
    o.agent_path = agent;
    nox_client *c = NULL;
    NT_OK(nox_client_new(&c, &o, &err));
    NT_FAILS(NOX_ESANDBOX, "cannot do the thing: no reason", create_ttl(c, "f", 10, NULL, &err));
    nox_client_free(c);
    o.agent_path = "/bin/false";
    NT_OK(nox_client_new(&c, &o, &err));
    NT_FAILS(NOX_ESANDBOX, "exited during setup", create_ttl(c, "f", 10, NULL, &err));
    /* Nothing is left behind for a failed create. */
    nox_sandbox_list *l = NULL;
    NT_OK(nox_sandbox_list_all(c, &l, &err));
    NT_CHECK_INT(nox_sandbox_list_count(l), 0);
    nox_sandbox_list_free(l);
    char *sd = session_dir(base, "f");
    NT_CHECK(!dir_exists(sd));
    free(sd);
    nox_client_free(c);
    nt_rm_rf(dir);
    free(dir);
}

NT_TEST(long_base_dir_beyond_sun_path_works) {
    /* The socket path exceeds sockaddr_un's 108 bytes: both sides go
     * through /proc/self/fd/<dirfd>/sock instead. */
    char *tmp = nt_mkdtemp("long");
    char base[4200];
    snprintf(base, sizeof base, "%s/%0120d", tmp, 7);
    nox_client *c = nt_local_client(base, NULL);
    NT_CHECK(c);
    NT_OK(create_ttl(c, "long", 30, NULL, &err));
    const char *argv[] = {"echo", "far", NULL};
    nox_exec_result *r = nt_exec_ok(c, "long", argv);
    NT_CHECK(r);
    size_t n;
    const uint8_t *d = nox_exec_result_stdout(r, &n);
    NT_CHECK_BYTES(d, n, "far\n");
    nox_exec_result_free(r);
    nox_sandbox_list *l = NULL;
    NT_OK(nox_sandbox_list_all(c, &l, &err));
    NT_CHECK_INT(nox_sandbox_list_count(l), 1);
    nox_sandbox_list_free(l);
    NT_OK(nox_sandbox_delete(c, "long", &err));
    nox_client_free(c);
    nt_rm_rf(tmp);
    free(tmp);
}

NT_TEST(base_dir_is_created_private) {
    char *tmp = nt_mkdtemp("mk");
    char base[4200];
    snprintf(base, sizeof base, "%s/a/b", tmp);
    nox_client *c = nt_local_client(base, NULL);
    NT_CHECK(c);
    struct stat st;
    NT_CHECK(stat(base, &st) == 0 && (st.st_mode & 0777) == 0700);
    nox_client_free(c);
    nt_rm_rf(tmp);
    free(tmp);
}

/* ---- resources ------------------------------------------------------------ */

NT_TEST(no_descriptor_leaks) {
    int before = count_fds();
    const char *sid = nt_sid("fds");
    NT_OK(create_ttl(C, sid, 60, NULL, &err));
    for (int i = 0; i < 5; i++) {
        char *o = sh_out(C, sid, "echo x");
        free(o);
    }
    const char *argv[] = {"sleep", "10", NULL};
    nox_exec_stream *s = NULL;
    NT_OK(nox_exec_start(C, sid, argv, NULL, &s, &err));
    nox_exec_cancel(s);
    nox_exec_stream_free(s);
    nox_sandbox_list *l = NULL;
    NT_OK(nox_sandbox_list_all(C, &l, &err));
    nox_sandbox_list_free(l);
    NT_OK(nox_sandbox_delete(C, sid, &err));
    NT_CHECK_INT(count_fds(), before);
}

/* Does any fd of pid point at path? */
static int proc_has_fd_to(pid_t pid, const char *path) {
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    int found = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        char lp[512], target[4096];
        snprintf(lp, sizeof lp, "%s/%s", dir, de->d_name);
        ssize_t n = readlink(lp, target, sizeof target - 1);
        if (n > 0) {
            target[n] = 0;
            found |= !strcmp(target, path);
        }
    }
    if (d)
        closedir(d);
    return found;
}

NT_TEST(agent_holds_no_caller_descriptors) {
    /* A descriptor the caller leaked without O_CLOEXEC never reaches the
     * long-lived agent processes. */
    char *tmp = nt_mkdtemp("leak");
    char path[4200];
    snprintf(path, sizeof path, "%s/inherited", tmp);
    int fd = open(path, O_RDWR | O_CREAT, 0600); /* no O_CLOEXEC on purpose */
    NT_CHECK(fd >= 0);
    const char *sid = nt_sid("fdleak");
    NT_OK(create_ttl(C, sid, 60, NULL, &err));
    pid_t apid = agent_pid(BASE, sid);
    NT_CHECK(apid > 0);
    /* The agent and its child, pid 1 of the sandbox. */
    char kids[64];
    snprintf(kids, sizeof kids, "/proc/%d/task/%d/children", (int)apid, (int)apid);
    char *k = nt_read_file(kids, NULL);
    pid_t inner = k ? (pid_t)atoi(k) : 0;
    free(k);
    NT_CHECK(inner > 0);
    /* Stop the sandbox's pid 1 (at the namespaces level one more step
     * down): the process whose NSpid ends in 1. */
    for (int depth = 0; depth < 3 && !is_ns_init(inner); depth++) {
        snprintf(kids, sizeof kids, "/proc/%d/task/%d/children", (int)inner, (int)inner);
        k = nt_read_file(kids, NULL);
        pid_t next = k ? (pid_t)atoi(k) : 0;
        free(k);
        if (next <= 0)
            break;
        inner = next;
    }
    NT_CHECK(is_ns_init(inner));
    /* Double-forked: not our child, so it outlives us and we never
     * have to reap it. */
    char st[64];
    snprintf(st, sizeof st, "/proc/%d/stat", (int)apid);
    char *stat_txt = nt_read_file(st, NULL);
    char *rp = stat_txt ? strrchr(stat_txt, ')') : NULL;
    NT_CHECK(rp && atoi(rp + 4) != (int)getpid());
    free(stat_txt);
    NT_CHECK(!proc_has_fd_to(apid, path));
    NT_CHECK(!proc_has_fd_to(inner, path));
    /* The probe works: this process does hold it. */
    NT_CHECK(proc_has_fd_to(getpid(), path));
    close(fd);
    nt_rm_rf(tmp);
    free(tmp);
    NT_OK(nox_sandbox_delete(C, sid, &err));
}

/* exec round trip of `true` against bare posix_spawn + waitpid. */
NT_TEST(exec_latency_report) {
    const int N = 200;
    char *const argv[] = {"/bin/true", NULL};
    int64_t t0 = now_ms();
    for (int i = 0; i < N; i++) {
        pid_t pid;
        if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) == 0)
            waitpid(pid, NULL, 0);
    }
    double bare = (double)(now_ms() - t0) * 1000.0 / N;
    const char *a[] = {"true", NULL};
    nox_exec_result *r = NULL;
    t0 = now_ms();
    for (int i = 0; i < N; i++) {
        NT_OK(nox_exec(C, SID, a, NULL, &r, &err));
        nox_exec_result_free(r);
    }
    double ours = (double)(now_ms() - t0) * 1000.0 / N;
    fprintf(stderr, "    true: posix_spawn+waitpid %.0f us, nox_exec %.0f us (%.2fx)\n", bare,
            ours, ours / bare);
    NT_CHECK(ours < bare * 4 + 2000); /* generous: only catches pathologies */
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    unsetenv("NOXRUNNER_AGENT");
    C = nt_local_client(NULL, &BASE);
    if (!C)
        return 1;
    static char sid[64];
    snprintf(sid, sizeof sid, "%s", nt_sid("shared"));
    SID = sid;
    nox_error *err = NULL;
    if (create_ttl(C, SID, 300, NULL, &err) != 0) {
        fprintf(stderr, "cannot create the shared sandbox: %s\n",
                err ? nox_error_message(err) : "?");
        return 1;
    }

    NT_RUN(sha256_matches_known_digests);
    NT_RUN(session_dir_is_named_by_hash_never_raw_id);
    NT_RUN(create_is_idempotent_and_refreshes_ttl);
    NT_RUN(touch_extends_expiry);
    NT_RUN(ttl_expiry_removes_sandbox_without_delete);
    NT_RUN(exec_basics);
    NT_RUN(workspace_is_absolute_path_and_default_workdir);
    NT_RUN(missing_workdir_is_an_error_not_a_result);
    NT_RUN(env_expands_only_in_a_shell);
    NT_RUN(host_environment_is_not_visible);
    NT_RUN(stdin_is_fed_then_closed);
    NT_RUN(exit_codes_and_signals);
    NT_RUN(command_not_found_is_exit_127);
    NT_RUN(timeout_kills_a_tree_that_ignores_sigterm);
    NT_RUN(oversized_exec_request_is_too_big);
    NT_RUN(output_cap_truncates_each_stream);
    NT_RUN(output_flood_does_not_grow_memory);
    NT_RUN(binary_output_with_nul_bytes);
    NT_RUN(background_process_holding_the_pipes_does_not_block_exec);
    NT_RUN(archive_limits_of_the_client_apply_to_uploads);
    NT_RUN(no_namespaces_means_unsupported_with_the_reason);
    NT_RUN(auto_falls_back_to_none_naming_the_reason_namespaces_refuses);
    NT_RUN(masked_host_proc_makes_auto_fall_back_before_create_fails);
    NT_RUN(stream_delivers_chunks_in_order_as_they_come);
    NT_RUN(stream_next_times_out_with_none);
    NT_RUN(stream_cancel_from_another_thread_kills_the_tree);
    NT_RUN(stream_free_kills_a_running_command);
    NT_RUN(unknown_sandbox_is_not_found);
    NT_RUN(delete_kills_background_and_daemonized_processes);
    NT_RUN(removing_the_session_dir_ends_the_agent);
    NT_RUN(sandbox_is_found_again_by_another_process);
    NT_RUN(stale_state_of_a_dead_agent_is_cleaned);
    NT_RUN(create_right_after_the_agent_died_makes_a_working_sandbox);
    NT_RUN(concurrent_creates_make_one_sandbox);
    NT_RUN(sixteen_threads_share_one_client);
    NT_RUN(upload_and_download_round_trip_through_the_agent);
    NT_RUN(large_files_cross_many_frames_both_ways);
    NT_RUN(download_levels_locally);
    NT_RUN(download_of_missing_path_is_not_found);
    NT_RUN(upload_outside_workspace_is_refused);
    NT_RUN(list_and_get_show_live_sandboxes);
    NT_RUN(wait_ready_times_out_on_a_stuck_agent);
    NT_RUN(info_health_and_isolation);
    NT_RUN(each_level_runs_commands_and_says_so);
    NT_RUN(image_must_be_a_root_file_system_directory);
    NT_RUN(limits_in_force_are_reported_never_silently_dropped);
    NT_RUN(bad_limits_are_refused);
    NT_RUN(missing_agent_is_a_clear_error);
    NT_RUN(agent_setup_errors_reach_the_caller);
    NT_RUN(long_base_dir_beyond_sun_path_works);
    NT_RUN(base_dir_is_created_private);
    NT_RUN(no_descriptor_leaks);
    NT_RUN(agent_holds_no_caller_descriptors);
    NT_RUN(exec_latency_report);

    nox_sandbox_delete(C, SID, NULL);
    nox_client_free(C);
    nt_rm_rf(BASE);
    free(BASE);
    return nt_main_end();
}

/*
 * test_sandbox_reset.c - what a namespaces-level sandbox must not take
 * over from its creator or leave on the host (issue #19, items 5 and 7):
 *
 *   - rlimits: the creator's raised RTPRIO, NICE, MEMLOCK and NOFILE do
 *     not reach pid 1 or a command; both show the documented values
 *     (core/agent/agent.h);
 *   - core dumps: RLIMIT_CORE is 1 (the kernel's "no pipe helper" value)
 *     and a crash writes no core file;
 *   - /proc/1/cmdline and environ name no host path and no session hash;
 *   - a tree deeper than the kernel's 4096 symlink/path-walk bounds, with
 *     a file at the bottom, is gone from the host after delete.
 *
 * Real sandboxes on a private base directory. Run as root, the suite runs
 * again as nobody (setpriv), with the raised limits inherited.
 */
#include "nox_test.h"

#include "base/fsutil.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static nox_client *C;

static char *BASE;

static void raise_limit(int res, rlim_t v) {
    struct rlimit rl = {v, v};
    if (setrlimit(res, &rl) != 0) {
        /* Unprivileged: as high as the hard limit goes. */
        getrlimit(res, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(res, &rl);
    }
}

/* The line of a /proc/<pid>/limits text naming what, as "soft hard". */
static void limit_of(const char *txt, const char *what, char *out, size_t cap) {
    const char *p = txt ? strstr(txt, what) : NULL;
    char soft[32] = "?", hard[32] = "?";
    if (p)
        sscanf(p + strlen(what), " %31s %31s", soft, hard);
    snprintf(out, cap, "%s %s", soft, hard);
}

/* pid 1 ("/proc/1/limits") and a command ("/proc/self/limits") both show
 * the documented values, whatever this process had raised. */
NT_TEST(creator_rlimits_do_not_reach_the_sandbox) {
    const char *sid = nt_sid("rlim");
    NT_CHECK_INT(nt_create_limited(C, sid, NULL, NULL, NULL, 60), 0);
    shres r = nt_sh(C, sid, "cat /proc/self/limits; echo ==; cat /proc/1/limits", 30);
    nox_sandbox_delete(C, sid, NULL);
    NT_CHECK_INT(r.code, 0);
    char *sep = strstr(r.out, "==");
    NT_CHECK(sep != NULL);
    *sep = 0;
    static const struct {
        const char *what, *want;
    } want[] = {
        {"Max realtime priority", "0 0"}, {"Max nice priority", "0 0"},
        {"Max locked memory", "65536 65536"}, {"Max core file size", "1 1"},
    };
    const char *txt[2] = {r.out, sep + 2};
    for (int who = 0; who < 2; who++) {
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            char got[80];
            limit_of(txt[who], want[i].what, got, sizeof got);
            if (strcmp(got, want[i].want) != 0) {
                nt_fail(__FILE__, __LINE__, "%s: %s is \"%s\", expected \"%s\"",
                        who ? "pid 1" : "a command", want[i].what, got, want[i].want);
                free(r.out);
                return;
            }
        }
    }
    /* pid 1's own NOFILE: 16384, or the hard limit it was given when lower. */
    struct rlimit nf;
    getrlimit(RLIMIT_NOFILE, &nf);
    unsigned long long v = nf.rlim_max != RLIM_INFINITY && nf.rlim_max < 16384 ? nf.rlim_max
                                                                              : 16384;
    char got[80], exp[80];
    snprintf(exp, sizeof exp, "%llu %llu", v, v);
    limit_of(txt[1], "Max open files", got, sizeof got);
    free(r.out);
    NT_CHECK_STR(got, exp);
}

/* A crashing command leaves no core file in its working directory
 * (RLIMIT_CORE 1 is below one page; that it is 1 is checked above). */
NT_TEST(a_crash_writes_no_core_file) {
    const char *sid = nt_sid("core");
    NT_CHECK_INT(nt_create_limited(C, sid, NULL, NULL, NULL, 60), 0);
    shres r = nt_sh(C, sid,
                    "cd /workspace && sh -c 'kill -SEGV $$'; ls -A /workspace; true", 30);
    nox_sandbox_delete(C, sid, NULL);
    NT_CHECK_INT(r.code, 0);
    NT_CHECK_SH_EMPTY(r);
    free(r.out);
}

/* A command cannot lower its RLIMIT_CORE to 0, the value at which a pipe
 * core_pattern's helper would run on the host again (the seccomp filter
 * refuses setrlimit/prlimit64 of RLIMIT_CORE). Control: the same shell on
 * the host lowers it. */
NT_TEST(a_command_cannot_lower_its_core_limit) {
    const char *script = "ulimit -c 0 2>&1; echo rc=$?; "
                         "grep 'core file' /proc/self/limits | tr -s ' '";
    const char *sid = nt_sid("core0");
    NT_CHECK_INT(nt_create_limited(C, sid, NULL, NULL, NULL, 60), 0);
    shres r = nt_sh(C, sid, script, 30);
    nox_sandbox_delete(C, sid, NULL);
    fprintf(stderr, "    inside: %s", r.out ? r.out : "?\n");
    NT_CHECK(r.out && strstr(r.out, "Operation not permitted") && !strstr(r.out, "rc=0") &&
             strstr(r.out, "Max core file size 1 1 bytes"));
    free(r.out);
    FILE *f = popen(script, "r");
    char got[128] = "";
    size_t n = f ? fread(got, 1, sizeof got - 1, f) : 0;
    got[n] = 0;
    if (f)
        pclose(f);
    NT_CHECK_STR(got, "rc=0\nMax core file size 0 0 bytes \n");
}

/* pid 1's command line and environment: nothing of the host. */
NT_TEST(proc_1_cmdline_names_nothing_of_the_host) {
    const char *sid = nt_sid("cmdline");
    NT_CHECK_INT(nt_create_limited(C, sid, NULL, NULL, NULL, 60), 0);
    shres r = nt_sh(C, sid,
                    "tr '\\0' ' ' </proc/1/cmdline; echo; "
                    "{ tr '\\0' ' ' </proc/1/environ; } 2>/dev/null; true", 30);
    nox_sandbox_delete(C, sid, NULL);
    NT_CHECK_INT(r.code, 0);
    char dir[67];
    nox__session_dirname(sid, dir);
    char hash16[17];
    memcpy(hash16, dir + 2, 16);
    hash16[16] = 0;
    const char *bad[] = {BASE, hash16, "/", sid, NOX_AGENT_SID_ENV};
    r.out[r.out_len] = 0; /* stdout only */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (strstr(r.out, bad[i])) {
            nt_fail(__FILE__, __LINE__, "/proc/1 shows \"%s\": %s", bad[i], r.out);
            free(r.out);
            return;
        }
    }
    int named = !strncmp(r.out, NOX_AGENT_NAME, strlen(NOX_AGENT_NAME));
    free(r.out);
    NT_CHECK(named);
}

/* 4,500 directories deep (5 x 900: past the 4096 of the old removal),
 * 8 MiB at the bottom: delete leaves nothing of the session on the host. */
NT_TEST(delete_removes_a_tree_of_any_depth) {
    const char *sid = nt_sid("deep");
    NT_CHECK_INT(nt_create_limited(C, sid, NULL, NULL, NULL, 120), 0);
    shres r = nt_sh(C, sid,
                    "cd /workspace && p=d && i=1 && while [ $i -lt 900 ]; do p=$p/d; "
                    "i=$((i+1)); done && for n in 1 2 3 4 5; do mkdir -p $p && cd -P $p || "
                    "exit 1; done && head -c 8388608 /dev/zero >big && wc -c <big", 120);
    char dir[67];
    nox__session_dirname(sid, dir);
    char *path = nox__asprintf("%s/%s", BASE, dir);
    nox_error *err = NULL;
    int drc = nox_sandbox_delete(C, sid, &err);
    nox_error_free(err);
    struct stat st;
    int left = path && lstat(path, &st) == 0;
    if (left) /* a failed run must not leave it for the next */
        nt_rm_rf(path);
    free(path);
    int made = r.code == 0 && r.out && !strcmp(r.out, "8388608\n");
    if (!made)
        nt_fail(__FILE__, __LINE__, "making the tree: exit %d: %s", r.code,
                r.out ? r.out : "(null)");
    free(r.out);
    if (!made)
        return;
    NT_CHECK_INT(drc, 0);
    NT_CHECK(!left);
}

int main(void) {
    /* What a careless creator might hand down (where this process may
     * raise them; else as high as they go). */
    raise_limit(RLIMIT_RTPRIO, 50);
    raise_limit(RLIMIT_NICE, 30);
    raise_limit(RLIMIT_MEMLOCK, (rlim_t)1 << 30);
    raise_limit(RLIMIT_NOFILE, 1 << 20);
    int rc;
    if (!(C = nt_namespaces_client(&BASE, "the namespaces level is not available here", &rc)))
        return rc;
    NT_RUN(creator_rlimits_do_not_reach_the_sandbox);
    NT_RUN(a_crash_writes_no_core_file);
    NT_RUN(a_command_cannot_lower_its_core_limit);
    NT_RUN(proc_1_cmdline_names_nothing_of_the_host);
    NT_RUN(delete_removes_a_tree_of_any_depth);
    nox_client_free(C);
    nt_rm_rf(BASE);
    free(BASE);
    return nt_main_end_and_nobody("NOX_RESET_UNPRIVILEGED");
}

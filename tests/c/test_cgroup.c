/*
 * test_cgroup.c - the sandbox's cgroup limits, against real sandboxes at
 * isolation level namespaces: memory for the whole sandbox, pids, cpu,
 * the cgroup directories' lifetime, and what info and meta.json say.
 *
 * Where the host offers no controller (no delegated cgroup v2, no
 * writable v1 hierarchy), the test of that controller prints a SKIP line
 * with the reason instead, and the reporting tests check that the limit
 * is reported as not enforced. One test drives the cgroup v2 file writing
 * against a stand-in for a delegated cgroup (a plain directory tree given
 * by NOXRUNNER_CGROUP), which runs everywhere.
 */
#include "nox_test.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "local/local.h"
#include "local/local_impl.h"

static nox_client *C;
static char *BASE;
static char WORK[4096];
static local_cg_plan PLAN;

/* ---- helpers --------------------------------------------------------------- */

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* 1 (the test is skipped, or failed when NOX_REQUIRE names cgroups) when
 * the host gives no cgroup for ctl. */
static int skip_unless(int ctl) {
    if (PLAN.ctl[ctl].where != LOCAL_CG_NONE)
        return 0;
    return nt_skip("cgroups", "no %s cgroup on this host: %s", local_cg_names[ctl],
                   PLAN.ctl[ctl].why);
}

static shres sh_t(const char *sid, const char *script, int timeout) {
    return nt_sh(C, sid, script, timeout);
}

static int create(const char *sid, const char *mem, const char *cpu, int ttl) {
    return nt_create_limited(C, sid, mem, cpu, NULL, ttl);
}

/* The helper program the sandboxes run (compiled on the host with cc):
 *   helpers hold MB SECONDS   touch MB of memory and keep it
 *   helpers forks SECONDS     fork sleeping children until refused */
static const char *const HELPERS =
    "#define _GNU_SOURCE\n"
    "#include <signal.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
    "#include <sys/mman.h>\n#include <sys/wait.h>\n#include <unistd.h>\n"
    "int main(int argc, char **argv) {\n"
    "  setvbuf(stdout, NULL, _IONBF, 0);\n"
    "  if (argc == 4 && !strcmp(argv[1], \"hold\")) {\n" /* hold MB SECONDS */
    "    size_t n = (size_t)atol(argv[2]) << 20;\n"
    "    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);\n"
    "    if (p == MAP_FAILED) { printf(\"mmap failed\\n\"); return 3; }\n"
    "    for (size_t i = 0; i < n; i += 4096) p[i] = 1;\n"
    "    sleep((unsigned)atoi(argv[3]));\n"
    "    return 0;\n"
    "  }\n"
    "  if (argc == 3 && !strcmp(argv[1], \"forks\")) {\n" /* forks SECONDS */
    "    static pid_t kids[100000];\n"
    "    int n = 0;\n"
    "    for (; n < 100000; n++) {\n"
    "      pid_t p = fork();\n"
    "      if (p == 0) { pause(); _exit(0); }\n"
    "      if (p < 0) break;\n"
    "      kids[n] = p;\n"
    "    }\n"
    "    printf(\"forked %d\\n\", n);\n"
    "    sleep((unsigned)atoi(argv[2]));\n"
    "    for (int i = 0; i < n; i++) kill(kids[i], SIGKILL);\n"
    "    while (wait(NULL) > 0) {}\n"
    "    printf(\"done\\n\");\n"
    "    return 0;\n"
    "  }\n"
    "  return 2;\n"
    "}\n";

/* Compile the helpers into WORK once; upload them to sid's /workspace. */
static int upload_helpers(const char *sid) {
    char src[4200], bin[4200], cmd[9000];
    snprintf(src, sizeof src, "%s/helpers.c", WORK);
    snprintf(bin, sizeof bin, "%s/helpers", WORK);
    if (access(bin, X_OK) != 0) {
        if (nt_write_file(src, HELPERS, strlen(HELPERS), 0644) != 0)
            return -1;
        snprintf(cmd, sizeof cmd, "cc -O1 -o '%s' '%s'", bin, src);
        if (system(cmd) != 0)
            return -1;
    }
    size_t len = 0;
    char *data = nt_read_file(bin, &len);
    if (!data)
        return -1;
    nox_files *f = NULL;
    int rc = nox_files_new(&f, NULL);
    if (!rc)
        rc = nox_files_add(f, "helpers", (const uint8_t *)data, len, 0755, NULL);
    if (!rc)
        rc = nox_upload(C, sid, f, "/workspace", NULL);
    nox_files_free(f);
    free(data);
    return rc;
}

static char *session_dir(const char *sid) {
    char name[67];
    nox__session_dirname(sid, name);
    return nox__asprintf("%s/%s", BASE, name);
}

/* meta.json's "limits" member of the sandbox, as a parsed object (the
 * whole document; the caller deletes it). */
static cJSON *meta_of(const char *sid) {
    char *dir = session_dir(sid);
    char path[4300];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    free(dir);
    char *t = nt_read_file(path, NULL);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    free(t);
    return j;
}

static const char *limit_of(const cJSON *meta, const char *key) {
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(meta, "limits");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(l, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The sandbox's cgroup directory under parent (as the agent names it). */
static char *cg_dir(const char *parent, const char *sid) {
    char name[67];
    nox__session_dirname(sid, name);
    return nox__asprintf("%s/nox-%s", parent, name + 2);
}

/* The directory that enforces controller ctl for sid, or NULL. */
static char *ctl_dir(int ctl, const char *sid) {
    if (PLAN.ctl[ctl].where == LOCAL_CG_V2)
        return cg_dir(PLAN.v2_parent, sid);
    if (PLAN.ctl[ctl].where == LOCAL_CG_V1)
        return cg_dir(PLAN.ctl[ctl].v1_parent, sid);
    return NULL;
}

static char *read_in(const char *dir, const char *file) {
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return nt_read_file(path, NULL);
}

static int exists(const char *p) {
    struct stat st;
    return lstat(p, &st) == 0;
}

/* Every cgroup directory the sandbox should have here (NULL-terminated;
 * the caller frees each and the array). */
static char **expected_dirs(const char *sid) {
    char **v = calloc(LOCAL_CG_COUNT + 2, sizeof *v);
    int n = 0;
    if (*PLAN.v2_parent && PLAN.v2_writable)
        v[n++] = cg_dir(PLAN.v2_parent, sid);
    for (int c = 0; c < LOCAL_CG_COUNT; c++)
        if (PLAN.ctl[c].where == LOCAL_CG_V1) {
            char *d = cg_dir(PLAN.ctl[c].v1_parent, sid);
            int dup = 0;
            for (int i = 0; i < n; i++)
                dup |= !strcmp(v[i], d);
            if (dup)
                free(d);
            else
                v[n++] = d;
        }
    return v;
}

static void free_dirs(char **v) {
    for (int i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* Up to ms for every dir in v to be gone; how many are left. */
static int dirs_left(char **v, int ms) {
    int left = 0;
    for (int t = 0; t <= ms / 50; t++) {
        left = 0;
        for (int i = 0; v[i]; i++)
            left += exists(v[i]);
        if (!left)
            break;
        sleep_ms(50);
    }
    for (int i = 0; left && v[i]; i++)
        if (exists(v[i]))
            fprintf(stderr, "    left behind: %s\n", v[i]);
    return left;
}

/* ---- memory ------------------------------------------------------------------ */

NT_TEST(memory_limit_holds_for_the_whole_sandbox) {
    if (skip_unless(LOCAL_CG_MEMORY))
        return;
    const char *sid = nt_sid("mem");
    NT_CHECK(create(sid, "64Mi", NULL, 60) == 0);
    NT_CHECK(upload_helpers(sid) == 0);
    /* One process of 40 MB fits under the 64 MiB limit (and its own RLIMIT_AS). */
    shres one = sh_t(sid, "/workspace/helpers hold 40 0; echo rc=$?", 30);
    fprintf(stderr, "    one: %s", one.out ? one.out : "?");
    NT_CHECK(one.out && strstr(one.out, "rc=0"));
    free(one.out);
    /* Four of them, each under its own RLIMIT_AS, together far over. */
    shres four = sh_t(sid,
                      "for i in 1 2 3 4; do /workspace/helpers hold 40 3 & eval p$i=$!; done; "
                      "for i in 1 2 3 4; do eval wait \\$p$i; echo rc=$?; done", 60);
    fprintf(stderr, "    four: %s", four.out ? four.out : "?");
    NT_CHECK(four.out);
    int killed = 0, ok = 0;
    for (const char *p = four.out; (p = strstr(p, "rc=")) != NULL; p += 3) {
        int rc = atoi(p + 3);
        killed += rc == 128 + SIGKILL;
        ok += rc == 0;
    }
    free(four.out);
    /* Holding for 3 s together: at most one 40 MB process at a time. */
    NT_CHECK(killed >= 3);
    NT_CHECK(ok <= 1);
    char *d = ctl_dir(LOCAL_CG_MEMORY, sid);
    char *max = d ? read_in(d, PLAN.ctl[LOCAL_CG_MEMORY].where == LOCAL_CG_V2
                                   ? "memory.max"
                                   : "memory.limit_in_bytes")
                  : NULL;
    NT_CHECK(max && atoll(max) == 64LL * 1024 * 1024);
    free(max);
    free(d);
    /* The sandbox itself lives on. */
    shres a = sh_t(sid, "echo alive", 30);
    NT_CHECK(a.out && !strcmp(a.out, "alive\n"));
    free(a.out);
    NT_OK(nox_sandbox_delete(C, sid, &err));
}

/* ---- pids --------------------------------------------------------------------- */

NT_TEST(fork_loop_stops_at_pids_max) {
    if (skip_unless(LOCAL_CG_PIDS))
        return;
    const char *sid = nt_sid("pids");
    NT_CHECK(create(sid, NULL, NULL, 60) == 0);
    NT_CHECK(upload_helpers(sid) == 0);
    char *d = ctl_dir(LOCAL_CG_PIDS, sid);
    char *max = d ? read_in(d, "pids.max") : NULL;
    NT_CHECK(max);
    long lim = atol(max);
    free(max);
    fprintf(stderr, "    pids.max %ld\n", lim);
    NT_CHECK(lim > 0 && lim < 100000);
    /* In the background, so the host can watch pids.current meanwhile. */
    shres r = sh_t(sid, "/workspace/helpers forks 3 >/workspace/forks.out 2>&1 & echo started",
                   30);
    NT_CHECK(r.out && strstr(r.out, "started"));
    free(r.out);
    char *sd = session_dir(sid);
    char out[4300];
    snprintf(out, sizeof out, "%s/workspace/forks.out", sd);
    free(sd);
    long peak = 0, forked = -1;
    for (int i = 0; i < 600 && forked < 0; i++) { /* 30 s: ASan on a loaded host */
        char *cur = read_in(d, "pids.current");
        if (cur && atol(cur) > peak)
            peak = atol(cur);
        free(cur);
        char *o = nt_read_file(out, NULL);
        const char *f = o ? strstr(o, "forked ") : NULL;
        if (f)
            forked = atol(f + 7);
        free(o);
        sleep_ms(50);
    }
    char *cur = read_in(d, "pids.current");
    if (cur && atol(cur) > peak)
        peak = atol(cur);
    free(cur);
    free(d);
    fprintf(stderr, "    forked %ld, pids.current peaked at %ld\n", forked, peak);
    NT_CHECK(forked > 0);
    /* Every process of the sandbox counts there, and never past pids.max. */
    NT_CHECK(peak >= forked && peak <= lim);
    NT_CHECK(forked < lim);
    NT_OK(nox_sandbox_delete(C, sid, &err));
}

/* ---- cpu ----------------------------------------------------------------------- */

NT_TEST(cpu_limit_throttles_a_busy_loop) {
    if (skip_unless(LOCAL_CG_CPU))
        return;
    const char *sid = nt_sid("cpu");
    NT_CHECK(create(sid, NULL, "200m", 60) == 0);
    /* 1.5 s of wall clock spinning; the children's CPU time from times. */
    shres r = sh_t(sid, "timeout 1.5 sh -c 'while :; do :; done'; times", 30);
    fprintf(stderr, "    times: %s", r.out ? r.out : "?");
    NT_CHECK(r.out);
    const char *l2 = strchr(r.out, '\n');
    int um = 0, sm = 0;
    double us = -1, ss = -1;
    NT_CHECK(l2 && sscanf(l2 + 1, "%dm%lfs %dm%lfs", &um, &us, &sm, &ss) == 4);
    double cpu = um * 60 + us + sm * 60 + ss;
    free(r.out);
    fprintf(stderr, "    the loop used %.2f s of CPU in 1.5 s\n", cpu);
    /* The upper bound is the point (0.3 s allowed); the lower one only
     * says the loop ran at all, which a loaded 2-core host still lets it. */
    NT_CHECK(cpu > 0.01 && cpu < 0.45);
    char *d = ctl_dir(LOCAL_CG_CPU, sid);
    char *stat = d ? read_in(d, "cpu.stat") : NULL;
    const char *t = stat ? strstr(stat, "nr_throttled ") : NULL;
    NT_CHECK(t && atol(t + 13) > 0);
    free(stat);
    free(d);
    NT_OK(nox_sandbox_delete(C, sid, &err));
}

/* ---- lifetime -------------------------------------------------------------------- */

NT_TEST(cgroups_live_with_the_sandbox_and_go_with_delete_and_ttl) {
    char **dirs = NULL;
    for (int pass = 0; pass < 2; pass++) {
        const char *sid = nt_sid(pass ? "cgttl" : "cgdel");
        NT_CHECK(create(sid, "128Mi", "500m", pass ? 2 : 60) == 0);
        free_dirs(dirs);
        dirs = expected_dirs(sid);
        if (!dirs[0]) {
            nt_skip("cgroups", "no cgroup of any kind here (%s)", PLAN.v2_why);
            nox_sandbox_delete(C, sid, NULL);
            break;
        }
        cJSON *m = meta_of(sid);
        const cJSON *pid = cJSON_GetObjectItemCaseSensitive(m, "agentPid");
        long agent = cJSON_IsNumber(pid) ? (long)pid->valuedouble : -1;
        cJSON_Delete(m);
        for (int i = 0; dirs[i]; i++) {
            char *procs = read_in(dirs[i], "cgroup.procs");
            if (!procs || !*procs) { /* the cpu cgroup: the sandbox is in cmds/ */
                free(procs);
                procs = read_in(dirs[i], "cmds/cgroup.procs");
            }
            fprintf(stderr, "    %s: %s", dirs[i], procs && *procs ? "members\n" : "EMPTY\n");
            /* The sandbox is in there, the agent outside it stays out. */
            int in = procs && *procs, b_in = 0;
            for (char *q = procs; q && *q; q += strcspn(q, "\n") + (q[strcspn(q, "\n")] != 0))
                b_in |= atol(q) == agent;
            free(procs);
            NT_CHECK(in);
            NT_CHECK(!b_in);
        }
        if (pass == 0) {
            NT_OK(nox_sandbox_delete(C, sid, &err));
            NT_CHECK_INT(dirs_left(dirs, 0), 0); /* delete waits for the agent */
        } else {
            int gone = 0;
            for (int i = 0; i < 200 && !gone; i++) {
                sleep_ms(50);
                nox_sandbox_info *inf = NULL;
                nox_error *e = NULL;
                gone = nox_sandbox_get(C, sid, &inf, &e) == NOX_ENOTFOUND;
                nox_sandbox_info_free(inf);
                nox_error_free(e);
            }
            NT_CHECK(gone);
            NT_CHECK_INT(dirs_left(dirs, 3000), 0);
        }
    }
    free_dirs(dirs);
}

/* ---- reporting ------------------------------------------------------------------- */

NT_TEST(info_and_meta_say_what_is_enforced) {
    nox_bytes *b = NULL;
    NT_OK(nox_info(C, &b, &err));
    size_t n;
    cJSON *info = cJSON_Parse((const char *)nox_bytes_data(b, &n));
    nox_bytes_free(b);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(info, "limits");
    const cJSON *mem = cJSON_GetObjectItemCaseSensitive(l, "memory");
    const cJSON *cpu = cJSON_GetObjectItemCaseSensitive(l, "cpu");
    NT_CHECK(cJSON_IsString(mem) && cJSON_IsString(cpu));
    fprintf(stderr, "    info: memory: %s\n    info: cpu: %s\n", mem->valuestring,
            cpu->valuestring);
    static const char *const v1[] = {"cgroup v1 memory.limit_in_bytes", "cgroup v1 pids.max",
                                     "cgroup v1 cpu.cfs_quota_us"};
    static const char *const v2[] = {"cgroup v2 memory.max", "cgroup v2 pids.max",
                                     "cgroup v2 cpu.max"};
    int wm = PLAN.ctl[LOCAL_CG_MEMORY].where, wc = PLAN.ctl[LOCAL_CG_CPU].where;
    NT_CHECK(strstr(mem->valuestring, wm == LOCAL_CG_V1   ? v1[0]
                                      : wm == LOCAL_CG_V2 ? v2[0]
                                                          : "the whole sandbox is not limited: "));
    NT_CHECK(strstr(mem->valuestring, "RLIMIT_AS"));
    NT_CHECK(strstr(cpu->valuestring, wc == LOCAL_CG_V1   ? v1[2]
                                      : wc == LOCAL_CG_V2 ? v2[2]
                                                          : "not enforced: "));
    char *all = cJSON_PrintUnformatted(l);
    int stale = !all || strstr(all, "not used by this version") != NULL;
    free(all);
    cJSON_Delete(info);
    NT_CHECK(!stale);

    /* One sandbox's own record: the settings written, or why not. */
    const char *sid = nt_sid("rep");
    NT_CHECK(create(sid, "96Mi", "250m", 60) == 0);
    cJSON *m = meta_of(sid);
    const char *mm = limit_of(m, "memory"), *mc = limit_of(m, "cpu"), *mp = limit_of(m, "pids");
    fprintf(stderr, "    meta: memory: %s\n    meta: cpu: %s\n    meta: pids: %s\n",
            mm ? mm : "?", mc ? mc : "?", mp ? mp : "?");
    NT_CHECK(mm && mc && mp);
    char want[200];
    if (wm == LOCAL_CG_NONE)
        snprintf(want, sizeof want, "rlimit-as per process; whole sandbox not enforced: ");
    else
        snprintf(want, sizeof want, "cgroup v%d %s 100663296 (whole sandbox) + rlimit-as per process",
                 wm == LOCAL_CG_V2 ? 2 : 1, wm == LOCAL_CG_V2 ? "memory.max" : "memory.limit_in_bytes");
    NT_CHECK(strstr(mm, want));
    if (wc == LOCAL_CG_NONE)
        snprintf(want, sizeof want, "not enforced: ");
    else
        snprintf(want, sizeof want, "%s",
                 wc == LOCAL_CG_V2 ? "cgroup v2 cpu.max 25000 100000"
                                   : "cgroup v1 cpu.cfs_quota_us 25000 per cpu.cfs_period_us 100000");
    NT_CHECK(strstr(mc, want));
    NT_CHECK(strstr(mp, PLAN.ctl[LOCAL_CG_PIDS].where == LOCAL_CG_NONE
                            ? "whole sandbox not enforced: "
                            : "pids.max 1088 (whole sandbox) + rlimit-nproc"));
    cJSON_Delete(m);
    /* Never silent: the agent's log names what a cgroup does not hold. */
    if (wc == LOCAL_CG_NONE) {
        char *dir = session_dir(sid);
        char path[4300];
        snprintf(path, sizeof path, "%s/agent.log", dir);
        free(dir);
        char *log = nt_read_file(path, NULL);
        NT_CHECK(log && strstr(log, "cpuLimit 250m is not enforced: "));
        free(log);
    }
    NT_OK(nox_sandbox_delete(C, sid, &err));
}

/* ---- cgroup v2 file writing, against a stand-in for a delegated cgroup ------ */

NT_TEST(delegated_v2_cgroup_gets_limits_and_the_sandbox) {
    char *tree = nt_mkdtemp("cgv2");
    NT_CHECK(tree);
    char p[4300];
    snprintf(p, sizeof p, "%s/cgroup.controllers", tree);
    NT_CHECK(nt_write_file(p, "memory pids cpu\n", 16, 0644) == 0);
    snprintf(p, sizeof p, "%s/cgroup.subtree_control", tree);
    NT_CHECK(nt_write_file(p, "", 0, 0644) == 0);
    snprintf(p, sizeof p, "%s/cgroup.procs", tree);
    NT_CHECK(nt_write_file(p, "", 0, 0644) == 0);
    /* A plain directory is refused unless it is declared a stand-in: it
     * would take the limit files and enforce nothing. */
    setenv("NOXRUNNER_CGROUP", tree, 1);
    const char *plain = nt_sid("cgplain");
    NT_CHECK(create(plain, "80Mi", NULL, 60) == 0);
    cJSON *pm = meta_of(plain);
    const char *pmem = limit_of(pm, "memory");
    NT_CHECK(!pmem || !strstr(pmem, "cgroup v2"));
    char *pinfo = NULL;
    {
        nox_bytes *ib = NULL;
        if (nox_info(C, &ib, NULL) == 0) {
            size_t n;
            const uint8_t *d0 = nox_bytes_data(ib, &n);
            pinfo = strndup((const char *)d0, n);
        }
        nox_bytes_free(ib);
    }
    NT_CHECK(pinfo && strstr(pinfo, "is not on a cgroup v2 file system"));
    free(pinfo);
    cJSON_Delete(pm);
    NT_OK(nox_sandbox_delete(C, plain, &err));
    setenv("NOXRUNNER_CGROUP_STANDIN", "1", 1);
    const char *sid = nt_sid("cgv2");
    int rc = create(sid, "80Mi", "300m", 60);
    unsetenv("NOXRUNNER_CGROUP");
    unsetenv("NOXRUNNER_CGROUP_STANDIN");
    NT_CHECK(rc == 0);
    char *d = cg_dir(tree, sid);
    char *mem = read_in(d, "memory.max"), *pids = read_in(d, "pids.max");
    /* The cgroup holding cpu keeps the sandbox in cmds/ (pid 1 in agent/). */
    char *cpu = read_in(d, "cpu.max"), *procs = read_in(d, "cmds/cgroup.procs");
    char *sub = read_in(tree, "cgroup.subtree_control");
    fprintf(stderr, "    memory.max %s, pids.max %s, cpu.max %s, cgroup.procs %s, "
            "subtree_control %s\n", mem ? mem : "-", pids ? pids : "-", cpu ? cpu : "-",
            procs ? procs : "-", sub ? sub : "-");
    NT_CHECK(mem && !strcmp(mem, "83886080"));
    NT_CHECK(pids && !strcmp(pids, "1088"));
    NT_CHECK(cpu && !strcmp(cpu, "30000 100000"));
    NT_CHECK(sub && strstr(sub, "+memory") && strstr(sub, "+pids") && strstr(sub, "+cpu"));
    /* The pid written is the sandbox's first process, a child of the agent. */
    cJSON *m = meta_of(sid);
    const cJSON *ap = cJSON_GetObjectItemCaseSensitive(m, "agentPid");
    int agent = cJSON_IsNumber(ap) ? (int)ap->valuedouble : -1;
    const char *mc = limit_of(m, "cpu");
    NT_CHECK(mc && strstr(mc, "cgroup v2 cpu.max 30000 100000"));
    cJSON_Delete(m);
    NT_CHECK(procs && atoi(procs) > 1);
    char status[64];
    snprintf(status, sizeof status, "/proc/%d/status", procs ? atoi(procs) : 0);
    char *st = nt_read_file(status, NULL);
    const char *pp = st ? strstr(st, "PPid:") : NULL;
    NT_CHECK(pp && atoi(pp + 5) == agent);
    free(st);
    shres a = sh_t(sid, "echo alive", 30);
    NT_CHECK(a.out && !strcmp(a.out, "alive\n"));
    free(a.out);
    NT_OK(nox_sandbox_delete(C, sid, &err));
    NT_CHECK(!exists(d));
    free(mem);
    free(pids);
    free(cpu);
    free(procs);
    free(sub);
    free(d);
    nt_rm_rf(tree);
    free(tree);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    unsetenv("NOXRUNNER_AGENT");
    unsetenv("NOXRUNNER_ISOLATION");
    unsetenv("NOXRUNNER_CGROUP");
    char *work = nt_mkdtemp("cg");
    if (!work)
        return 1;
    snprintf(WORK, sizeof WORK, "%s", work);
    free(work);
    C = nt_local_client(NULL, &BASE);
    if (!C)
        return 1;
    if (nox_client_isolation(C) != NOX_ISOLATION_NAMESPACES) {
        nox_client_free(C);
        nt_rm_rf(BASE);
        nt_rm_rf(WORK);
        return nt_skip_all("namespaces", "cgroup limits need isolation level namespaces, "
                                         "not available here");
    }
    local_cgroup_plan(&PLAN);
    for (int c = 0; c < LOCAL_CG_COUNT; c++)
        fprintf(stderr, "%s: %s\n", local_cg_names[c],
                PLAN.ctl[c].where == LOCAL_CG_V2   ? "cgroup v2"
                : PLAN.ctl[c].where == LOCAL_CG_V1 ? PLAN.ctl[c].v1_parent
                                                   : PLAN.ctl[c].why);

    NT_RUN(memory_limit_holds_for_the_whole_sandbox);
    NT_RUN(fork_loop_stops_at_pids_max);
    NT_RUN(cpu_limit_throttles_a_busy_loop);
    NT_RUN(cgroups_live_with_the_sandbox_and_go_with_delete_and_ttl);
    NT_RUN(info_and_meta_say_what_is_enforced);
    NT_RUN(delegated_v2_cgroup_gets_limits_and_the_sandbox);

    nox_client_free(C);
    nt_rm_rf(BASE);
    free(BASE);
    nt_rm_rf(WORK);
    return nt_main_end();
}

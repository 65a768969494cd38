/*
 * test_agent_cgroup.c - the cgroup plan (base/cgroup_plan.c) read from
 * /proc texts the test writes, and what the agent's B makes of a plan
 * (core/agent/outer_cgroup.c), against a directory tree standing in for
 * cgroup file systems. Runs anywhere, as any user: nothing here touches
 * the host's real cgroups.
 */
#include "nox_test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

#define HASH "0123456789abcdef"

static char TMP[64];

static void mk(const char *rel) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", TMP, rel);
    mkdir(p, 0755);
}

static void put(const char *rel, const char *text) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", TMP, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        if (write(fd, text, strlen(text)) < 0) { /* the check reading it fails */ }
        close(fd);
    }
}

/* The file's text ("" when absent), in a static buffer. */
static const char *get(const char *rel) {
    static char buf[4096];
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", TMP, rel);
    char *s = nox__read_file_at(AT_FDCWD, p, sizeof buf - 1, NULL);
    snprintf(buf, sizeof buf, "%s", s ? s : "");
    free(s);
    return buf;
}

static int exists(const char *rel) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", TMP, rel);
    return access(p, F_OK) == 0;
}

static void fresh_tmp(void) {
    if (*TMP) {
        int fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        nox__rm_tree_at(fd, TMP + 5);
        close(fd);
    }
    snprintf(TMP, sizeof TMP, "/tmp/nox-cgtest-XXXXXX");
    if (!mkdtemp(TMP))
        TMP[0] = 0;
}

/* ---- the plan ----------------------------------------------------------- */

static char *mountinfo(const char *fstype, const char *dir, const char *super) {
    return nox__asprintf("25 1 0:22 / / rw - ext4 /dev/sda1 rw\n"
                         "30 25 0:26 / %s/%s rw,nosuid - %s cgroup %s\n",
                         TMP, dir, fstype, super);
}

NT_TEST(plan_takes_a_root_v2_cgroup_and_says_what_it_lacks) {
    fresh_tmp();
    unsetenv("NOXRUNNER_CGROUP");
    mk("v2");
    put("v2/cgroup.procs", "");
    put("v2/cgroup.controllers", "memory pids\n");
    put("v2/cgroup.subtree_control", "memory\n");
    char *mi = mountinfo("cgroup2", "v2", "rw");
    local_cg_plan *p = calloc(1, sizeof *p);
    local_cgroup_plan_from(p, "0::/\n", mi);
    free(mi);
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/v2", TMP);
    NT_CHECK_STR(p->v2_parent, want);
    NT_CHECK(p->v2_writable && !p->v2_from_env);
    NT_CHECK_INT(p->ctl[LOCAL_CG_MEMORY].where, LOCAL_CG_V2);
    NT_CHECK_INT(p->ctl[LOCAL_CG_MEMORY].v2_enabled, 1);
    NT_CHECK_INT(p->ctl[LOCAL_CG_PIDS].where, LOCAL_CG_V2); /* subtree_control writable */
    NT_CHECK_INT(p->ctl[LOCAL_CG_PIDS].v2_enabled, 0);
    NT_CHECK_INT(p->ctl[LOCAL_CG_CPU].where, LOCAL_CG_NONE);
    NT_CHECK(strstr(p->ctl[LOCAL_CG_CPU].why, "lacks the cpu controller (has: memory pids)"));
    NT_CHECK(strstr(p->ctl[LOCAL_CG_CPU].why, "no cgroup v1 cpu hierarchy"));
    free(p);
}

NT_TEST(plan_refuses_an_own_cgroup_that_holds_processes_and_falls_to_v1) {
    fresh_tmp();
    unsetenv("NOXRUNNER_CGROUP");
    mk("v2");
    mk("v2/user.slice");
    put("v2/user.slice/cgroup.subtree_control", "");
    mk("cpu");
    mk("cpu/job");
    char *mi2 = mountinfo("cgroup2", "v2", "rw");
    char *mi1 = mountinfo("cgroup", "cpu", "rw,cpu,cpuacct");
    char *mi = nox__asprintf("%s%s", mi2, strchr(mi1, '\n') + 1);
    local_cg_plan *p = calloc(1, sizeof *p);
    local_cgroup_plan_from(p, "4:cpu,cpuacct:/job\n0::/user.slice\n", mi);
    free(mi);
    free(mi1);
    free(mi2);
    NT_CHECK_STR(p->v2_parent, "");
    NT_CHECK(strstr(p->v2_why, "holds processes; point NOXRUNNER_CGROUP at a delegated"));
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/cpu/job", TMP);
    NT_CHECK_INT(p->ctl[LOCAL_CG_CPU].where, LOCAL_CG_V1);
    NT_CHECK_STR(p->ctl[LOCAL_CG_CPU].v1_parent, want);
    NT_CHECK_INT(p->ctl[LOCAL_CG_MEMORY].where, LOCAL_CG_NONE);
    free(p);
}

/* ---- B's cgroups from a plan --------------------------------------------- */

static local_cg_plan *stand_in_plan(void) {
    local_cg_plan *p = calloc(1, sizeof *p);
    mk("v2");
    mk("v1cpu");
    put("v2/cgroup.subtree_control", "");
    snprintf(p->v2_parent, sizeof p->v2_parent, "%s/v2", TMP);
    p->v2_writable = 1;
    p->ctl[LOCAL_CG_MEMORY].where = LOCAL_CG_V2; /* to be enabled in the parent */
    p->ctl[LOCAL_CG_PIDS].where = LOCAL_CG_V2;
    p->ctl[LOCAL_CG_PIDS].v2_enabled = 1;
    p->ctl[LOCAL_CG_CPU].where = LOCAL_CG_V1;
    snprintf(p->ctl[LOCAL_CG_CPU].v1_parent, sizeof p->ctl[LOCAL_CG_CPU].v1_parent,
             "%s/v1cpu", TMP);
    return p;
}

NT_TEST(setup_writes_each_limit_where_the_plan_says_and_cleanup_removes_it) {
    fresh_tmp();
    local_cg_plan *p = stand_in_plan();
    mk("v2/nox-" HASH); /* left by a killed agent: removed and made anew */
    put("v2/nox-" HASH "/stale", "x");
    cg_state *cg = calloc(1, sizeof *cg);
    uint64_t values[LOCAL_CG_COUNT] = {64ull << 20, 1088, 250};
    cg_setup(cg, p, HASH, values);
    free(p);
    NT_CHECK(!exists("v2/nox-" HASH "/stale"));
    NT_CHECK_STR(get("v2/cgroup.subtree_control"), "+memory");
    NT_CHECK_STR(get("v2/nox-" HASH "/memory.max"), "67108864");
    NT_CHECK_STR(get("v2/nox-" HASH "/pids.max"), "1088");
    NT_CHECK_STR(get("v1cpu/nox-" HASH "/cpu.cfs_period_us"), "100000");
    NT_CHECK_STR(get("v1cpu/nox-" HASH "/cpu.cfs_quota_us"), "25000");
    NT_CHECK_INT(cg->ndirs, 2);
    cg_attach(cg, 4242);
    NT_CHECK_STR(get("v2/nox-" HASH "/cgroup.procs"), "4242");
    /* The cpu cgroup is split: C (and later the commands) in cmds/, pid 1
     * in agent/. */
    NT_CHECK_STR(get("v1cpu/nox-" HASH "/cmds/cgroup.procs"), "4242");
    NT_CHECK(exists("v1cpu/nox-" HASH "/agent") && cg->cmds_fd > 0 && cg->agent_fd > 0);
    cg_enter_agent(cg);
    NT_CHECK_STR(get("v1cpu/nox-" HASH "/agent/cgroup.procs"), "0");
    NT_CHECK_INT(cg->agent_fd, -1);
    nox__buf b = {0};
    NT_CHECK_INT(cg_describe(cg, LOCAL_CG_MEMORY, "rlimit-as per process", &b), 0);
    NT_CHECK_STR(nox__buf_str(&b),
                 "cgroup v2 memory.max 67108864 (whole sandbox) + rlimit-as per process");
    b.len = 0;
    NT_CHECK_INT(cg_describe(cg, LOCAL_CG_CPU, NULL, &b), 0);
    NT_CHECK_STR(nox__buf_str(&b), "cgroup v1 cpu.cfs_quota_us 25000 per cpu.cfs_period_us "
                                   "100000 (cpuLimit); a group of its own beside the other "
                                   "sandboxes, the agent in a child cgroup agent/ beside its "
                                   "commands");
    b.len = 0;
    NT_CHECK_INT(cg_describe_dirs(cg, &b), 0);
    NT_CHECK(strstr(nox__buf_str(&b), "/v2/nox-" HASH " ") &&
             strstr(nox__buf_str(&b), "/v1cpu/nox-" HASH "/cmds"));
    nox__buf_free(&b);
    cg_cleanup(cg);
    NT_CHECK(!exists("v2/nox-" HASH) && !exists("v1cpu/nox-" HASH));
    NT_CHECK_INT(cg->ndirs, 0);
    free(cg);
}

/* No cpuLimit: the cpu cgroup is made all the same, at the default weight
 * (v2: cpu enabled for its agent/ and cmds/ children). */
NT_TEST(every_sandbox_gets_a_fair_cpu_share_without_a_cpu_limit) {
    for (int v = 1; v <= 2; v++) {
        fresh_tmp();
        local_cg_plan *p = stand_in_plan();
        if (v == 2) {
            p->ctl[LOCAL_CG_CPU].where = LOCAL_CG_V2;
            p->ctl[LOCAL_CG_CPU].v2_enabled = 1;
        }
        cg_state *cg = calloc(1, sizeof *cg);
        uint64_t values[LOCAL_CG_COUNT] = {0, 0, 0};
        cg_setup(cg, p, HASH, values);
        free(p);
        const char *dir = v == 2 ? "v2/nox-" HASH : "v1cpu/nox-" HASH;
        char f[256];
        snprintf(f, sizeof f, "%s/%s", dir, v == 2 ? "cpu.weight" : "cpu.shares");
        NT_CHECK_STR(get(f), v == 2 ? "100" : "1024");
        snprintf(f, sizeof f, "%s/cgroup.subtree_control", dir);
        NT_CHECK_STR(get(f), v == 2 ? "+cpu" : "");
        NT_CHECK_INT(cg->ctl[LOCAL_CG_CPU].where, v == 2 ? LOCAL_CG_V2 : LOCAL_CG_V1);
        NT_CHECK(cg->cmds_fd > 0);
        cg_attach(cg, 77);
        snprintf(f, sizeof f, "%s/cmds/cgroup.procs", dir);
        NT_CHECK_STR(get(f), "77");
        nox__buf b = {0};
        cg_describe(cg, LOCAL_CG_CPU, NULL, &b);
        NT_CHECK(strstr(nox__buf_str(&b), v == 2 ? "cgroup v2 cpu.weight 100 (fair share, no "
                                                   "cpuLimit); a group of its own"
                                                 : "cgroup v1 cpu.shares 1024 (fair share"));
        nox__buf_free(&b);
        cg_cleanup(cg);
        NT_CHECK(!exists(dir) && cg->cmds_fd == -1);
        free(cg);
    }
}

NT_TEST(a_limit_that_cannot_hold_keeps_its_reason) {
    fresh_tmp();
    local_cg_plan *p = stand_in_plan();
    /* The v2 parent vanished: memory falls to nothing (no v1), cpu stays v1. */
    snprintf(p->v2_parent, sizeof p->v2_parent, "%s/gone", TMP);
    cg_state *cg = calloc(1, sizeof *cg);
    uint64_t values[LOCAL_CG_COUNT] = {64ull << 20, 0, 500};
    cg_setup(cg, p, HASH, values);
    free(p);
    NT_CHECK_INT(cg->ctl[LOCAL_CG_MEMORY].where, LOCAL_CG_NONE);
    NT_CHECK(strstr(cg->ctl[LOCAL_CG_MEMORY].why, "/gone/nox-" HASH ": No such file"));
    NT_CHECK_INT(cg->ctl[LOCAL_CG_PIDS].where, LOCAL_CG_NONE); /* not asked for */
    NT_CHECK_INT(cg->ctl[LOCAL_CG_CPU].where, LOCAL_CG_V1);
    nox__buf b = {0};
    cg_describe(cg, LOCAL_CG_MEMORY, "rlimit-as per process", &b);
    NT_CHECK(strstr(nox__buf_str(&b), "rlimit-as per process; whole sandbox not enforced: mkdir "));
    b.len = 0;
    cg_describe(cg, LOCAL_CG_PIDS, "rlimit-nproc 1024", &b);
    NT_CHECK_STR(nox__buf_str(&b), "rlimit-nproc 1024");
    b.len = 0;
    cg_describe_dirs(cg, &b); /* nothing attached yet */
    NT_CHECK_STR(nox__buf_str(&b), "none");
    nox__buf_free(&b);
    cg_cleanup(cg);
    NT_CHECK(!exists("v1cpu/nox-" HASH));
    free(cg);
}

int main(void) {
    NT_RUN(plan_takes_a_root_v2_cgroup_and_says_what_it_lacks);
    NT_RUN(plan_refuses_an_own_cgroup_that_holds_processes_and_falls_to_v1);
    NT_RUN(setup_writes_each_limit_where_the_plan_says_and_cleanup_removes_it);
    NT_RUN(every_sandbox_gets_a_fair_cpu_share_without_a_cpu_limit);
    NT_RUN(a_limit_that_cannot_hold_keeps_its_reason);
    fresh_tmp(); /* removes the last tree */
    int fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    nox__rm_tree_at(fd, TMP + 5);
    close(fd);
    return nt_main_end();
}

/*
 * test_agent_spawn.c - the agent's one spawner (core/agent/spawn.c) and
 * the isolation plan it is given (lockdown_policy() in lockdown.c): real
 * children, whose /proc entries show what they got.
 */
#include "nox_test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

typedef struct kid {
    int rc;      /* agent_spawn's answer */
    int status;  /* wait status */
    char *out;   /* everything it wrote to stdout */
    char in_pipe[64];
} kid;

static void kid_free(kid *k) { free(k->out); }

/* Run /bin/sh -c script under pol (fds and workdir filled in here). */
static void run_sh(spawn_policy *pol, const char *workdir, const char *script, kid *k) {
    memset(k, 0, sizeof *k);
    int out[2], in[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(in, O_CLOEXEC) != 0) {
        k->rc = -errno;
        return;
    }
    struct stat st;
    fstat(in[0], &st);
    snprintf(k->in_pipe, sizeof k->in_pipe, "pipe:[%lu]", (unsigned long)st.st_ino);
    pol->fds[0] = in[0];
    pol->fds[1] = out[1];
    pol->fds[2] = out[1];
    pol->workdir = workdir;
    char *argv[] = {"sh", "-c", (char *)script, NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    pid_t pid = -1;
    k->rc = agent_spawn(pol, "/bin/sh", argv, envp, &pid);
    close(out[1]);
    close(in[0]);
    close(in[1]);
    nox__buf b = {0};
    char chunk[4096];
    ssize_t n;
    while ((n = read(out[0], chunk, sizeof chunk)) > 0)
        nox__buf_append(&b, chunk, (size_t)n);
    close(out[0]);
    k->out = strdup(nox__buf_str(&b));
    nox__buf_free(&b);
    if (k->rc == 0)
        while (waitpid(pid, &k->status, 0) < 0 && errno == EINTR) {
        }
}

/* The soft value of a /proc/<pid>/limits line, or "" when absent. */
static const char *limit_of(const char *text, const char *name, char *out, size_t cap) {
    const char *l = strstr(text, name);
    out[0] = 0;
    if (l)
        sscanf(l + strlen(name), " %63s", out);
    (void)cap;
    return out;
}

/* The shell reads its own signal state first, with builtins only: while
 * it waits for a child (grep, cat), dash blocks SIGCHLD, so a look from a
 * child afterwards could see that instead of what the spawner set. */
static const char *const REPORT =
    "while read -r l; do case $l in SigBlk*|SigIgn*) sig=\"$sig$l\n\";; esac; "
    "done < /proc/$$/status; "
    "cat /proc/$$/limits; echo ==; cat /proc/$$/stat; echo; echo ==; "
    "printf \"$sig\"; echo ==; pwd; echo ==; echo $$; "
    "readlink /proc/$$/fd/0 /proc/$$/fd/1";

static agent_ctx *ns_ctx(void) {
    agent_ctx *ctx = calloc(1, sizeof *ctx);
    ctx->cfg.level = AGENT_LEVEL_NAMESPACES;
    ctx->iso.nproc = 321;
    ctx->cfg.mem_bytes = 1ull << 30;
    ctx->cfg.storage_bytes = 12345678;
    return ctx;
}

NT_TEST(the_namespaces_plan_puts_its_limits_on_the_command) {
    agent_ctx *ctx = ns_ctx();
    spawn_policy pol;
    lockdown_policy(ctx, &pol);
    NT_CHECK(pol.limits && pol.subreaper);
    NT_CHECK_INT(pol.nofile, AGENT_NOFILE);
    NT_CHECK_INT(pol.nproc, 321);
    NT_CHECK_INT(pol.as_bytes, 1ull << 30);
    NT_CHECK_INT(pol.fsize_bytes, 12345678);
    kid k;
    run_sh(&pol, "/tmp", REPORT, &k);
    free(ctx);
    NT_CHECK_INT(k.rc, 0);
    NT_CHECK(WIFEXITED(k.status) && WEXITSTATUS(k.status) == 0);
    char v[64];
    NT_CHECK_STR(limit_of(k.out, "Max open files", v, sizeof v), "4096");
    NT_CHECK_STR(limit_of(k.out, "Max processes", v, sizeof v), "321");
    NT_CHECK_STR(limit_of(k.out, "Max address space", v, sizeof v), "1073741824");
    NT_CHECK_STR(limit_of(k.out, "Max file size", v, sizeof v), "12345678");
    /* RLIMIT_CORE is not the spawner's: pid 1 sets it before the seccomp
     * filter that keeps it (test_sandbox_reset checks it in a sandbox). */
    NT_CHECK_STR(limit_of(k.out, "Max locked memory", v, sizeof v), "65536");
    NT_CHECK_STR(limit_of(k.out, "Max realtime priority", v, sizeof v), "0");
    NT_CHECK_STR(limit_of(k.out, "Max nice priority", v, sizeof v), "0");
    kid_free(&k);
}

NT_TEST(the_none_plan_leaves_the_callers_limits) {
    agent_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.cfg.level = AGENT_LEVEL_NONE;
    ctx.cfg.mem_bytes = 1ull << 30; /* asked for, but level none enforces nothing */
    spawn_policy pol;
    lockdown_policy(&ctx, &pol);
    NT_CHECK(!pol.limits && !pol.subreaper);
    struct rlimit as;
    getrlimit(RLIMIT_AS, &as);
    kid k;
    run_sh(&pol, "/", REPORT, &k);
    NT_CHECK_INT(k.rc, 0);
    char v[64], want[64];
    if (as.rlim_cur == RLIM_INFINITY)
        snprintf(want, sizeof want, "unlimited");
    else
        snprintf(want, sizeof want, "%llu", (unsigned long long)as.rlim_cur);
    NT_CHECK_STR(limit_of(k.out, "Max address space", v, sizeof v), want);
    kid_free(&k);
}

/* Own session, fds 0-2, workdir, signals at their defaults, none blocked. */
NT_TEST(a_command_gets_its_session_fds_workdir_and_default_signals) {
    spawn_policy pol;
    memset(&pol, 0, sizeof pol);
    /* What the agent itself has: SIGPIPE ignored, SIGCHLD blocked. */
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old);
    void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
    void (*old_xfsz)(int) = signal(SIGXFSZ, SIG_IGN);
    char dir[] = "/tmp/nox-spawn-XXXXXX";
    NT_CHECK(mkdtemp(dir) != NULL);
    kid k;
    run_sh(&pol, dir, REPORT, &k);
    signal(SIGPIPE, old_pipe);
    signal(SIGXFSZ, old_xfsz);
    sigprocmask(SIG_SETMASK, &old, NULL);
    rmdir(dir);
    NT_CHECK_INT(k.rc, 0);
    char *parts[6] = {0};
    char *save = NULL;
    int np = 0;
    for (char *p = strtok_r(k.out, "=", &save); p && np < 6; p = strtok_r(NULL, "=", &save))
        if (*p && strcmp(p, "\n"))
            parts[np++] = p;
    NT_CHECK_INT(np, 5);
    long pid = 0, sid = 0, pgrp = 0;
    const char *close_paren = strrchr(parts[1], ')');
    NT_CHECK(close_paren && sscanf(close_paren + 1, " %*c %*d %ld %ld", &pgrp, &sid) == 2);
    NT_CHECK(sscanf(parts[4], " %ld", &pid) == 1);
    NT_CHECK_INT(sid, pid);  /* a session of its own */
    NT_CHECK_INT(pgrp, pid); /* and its own process group */
    NT_CHECK(strstr(parts[2], "SigBlk:\t0000000000000000") != NULL);
    /* Whatever else our own parent ignores: these two are the spawner's. */
    const char *ign = strstr(parts[2], "SigIgn:");
    unsigned long long ignored = 0;
    NT_CHECK(ign && sscanf(ign + 7, " %llx", &ignored) == 1);
    NT_CHECK((ignored & (1ull << (SIGPIPE - 1))) == 0);
    NT_CHECK((ignored & (1ull << (SIGXFSZ - 1))) == 0);
    NT_CHECK(strstr(parts[3], dir) != NULL);
    NT_CHECK(strstr(parts[4], k.in_pipe) != NULL); /* fd 0 is the pipe we gave */
    kid_free(&k);
}

NT_TEST(the_subreaper_policy_keeps_orphans_in_the_command_tree) {
    agent_ctx *ctx = ns_ctx();
    spawn_policy pol;
    lockdown_policy(ctx, &pol);
    free(ctx);
    kid k;
    /* The background sleep's parent (the $(...) subshell) exits at once. */
    run_sh(&pol, "/",
           "p=$(sleep 2 >/dev/null 2>&1 & echo $!); sleep 0.2; "
           "echo $$ $(cut -d' ' -f4 /proc/$p/stat); kill $p",
           &k);
    NT_CHECK_INT(k.rc, 0);
    long self = 0, ppid = -1;
    NT_CHECK(sscanf(k.out, "%ld %ld", &self, &ppid) == 2);
    NT_CHECK_INT(ppid, self);
    kid_free(&k);
}

/* One convention: -errno from the child's failed step, nothing left. */
NT_TEST(failures_come_back_as_negative_errno_and_leave_no_child) {
    spawn_policy pol;
    memset(&pol, 0, sizeof pol);
    pol.fds[0] = pol.fds[1] = pol.fds[2] = open("/dev/null", O_RDWR | O_CLOEXEC);
    pol.workdir = "/";
    char *argv[] = {"x", NULL};
    char *envp[] = {NULL};
    pid_t pid = -1;
    NT_CHECK_INT(agent_spawn(&pol, "/nonexistent/prog", argv, envp, &pid), -ENOENT);
    char plain[] = "/tmp/nox-spawn-plain-XXXXXX"; /* mode 0600: not executable */
    int pfd = mkstemp(plain);
    NT_CHECK(pfd >= 0);
    close(pfd);
    int rc = agent_spawn(&pol, plain, argv, envp, &pid);
    unlink(plain);
    NT_CHECK_INT(rc, -EACCES);
    pol.workdir = "/nonexistent-workdir";
    NT_CHECK_INT(agent_spawn(&pol, "/bin/true", argv, envp, &pid), -ENOENT);
    pol.workdir = "/";
    pol.fds[1] = 987; /* not open: dup2 fails */
    NT_CHECK_INT(agent_spawn(&pol, "/bin/true", argv, envp, &pid), -EBADF);
    close(pol.fds[0]);
    NT_CHECK_INT(pid, -1);
    NT_CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
}

int main(void) {
    NT_RUN(the_namespaces_plan_puts_its_limits_on_the_command);
    NT_RUN(the_none_plan_leaves_the_callers_limits);
    NT_RUN(a_command_gets_its_session_fds_workdir_and_default_signals);
    NT_RUN(the_subreaper_policy_keeps_orphans_in_the_command_tree);
    NT_RUN(failures_come_back_as_negative_errno_and_leave_no_child);
    return nt_main_end();
}

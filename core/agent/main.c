/*
 * main.c - nox-sandbox: the local backend's sandbox agent.
 *
 *   NOXRUNNER_AGENT_SESSION_ID=SID \
 *   nox-sandbox --session-dir DIR --ttl SECONDS --ready-fd N [--detach 1] ...
 *
 * Started by the local backend's create (core/src/local/local_spawn.c;
 * agent.h has the process picture, config.c every flag). Diagnostics go
 * to stderr, which the library points at the session's agent.log; the
 * ready fd says how setup went (log.c).
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Started by posix_spawn in a session of its own: drop whatever the
 * creator left open, then fork, so that the creator reaps the first
 * process and init adopts us. The pid goes first on the ready fd (for the
 * creator's timeout). */
static void detach(agent_ctx *ctx) {
    int keep = ctx->ready_fd > 3 ? ctx->ready_fd : 3;
    if (syscall(SYS_close_range, keep + 1, ~0U, 0) != 0)
        for (int fd = keep + 1; fd < 65536; fd++)
            close(fd);
    pid_t c = fork();
    if (c < 0)
        agent_fail(ctx, NOX_ESANDBOX, "fork: %s", strerror(errno));
    if (c > 0)
        _exit(0);
    agent_ready_pid(ctx, getpid());
}

/* The config's strings point into argv, which pid 1 overwrites: copies. */
static void own_strings(agent_ctx *ctx) {
    const char **s[] = {&ctx->cfg.session_dir, &ctx->cfg.session_id, &ctx->cfg.image,
                        &ctx->cfg.note};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        if (*s[i] && !(*s[i] = strdup(*s[i])))
            agent_fail(ctx, NOX_ENOMEM, "out of memory");
}

static void parse_args(agent_ctx *ctx, int argc, char **argv) {
    nox__buf why = {0}, usage = {0};
    if (agent_config_parse(&ctx->cfg, argc, argv, &why) != 0) {
        agent_config_usage(&usage);
        fprintf(stderr, "nox-sandbox: %s\n%s", nox__buf_str(&why), nox__buf_str(&usage));
        ctx->ready_fd = ctx->cfg.ready_fd;
        if (ctx->ready_fd >= 0)
            agent_fail(ctx, NOX_ESANDBOX, "bad arguments to the sandbox agent: %s",
                       nox__buf_str(&why));
        exit(2);
    }
    nox__buf_free(&why);
    ctx->ready_fd = ctx->cfg.ready_fd;
    own_strings(ctx);
}

/* The session id, the session directory and its lock, from the config. */
static void open_session(agent_ctx *ctx) {
    const agent_config *cfg = &ctx->cfg;
    const char *env_sid = getenv(NOX_AGENT_SID_ENV);
    ctx->sid = strdup(cfg->session_id ? cfg->session_id : env_sid ? env_sid : "");
    unsetenv(NOX_AGENT_SID_ENV);
    const char *dir = cfg->session_dir;
    if (!dir || !ctx->sid || !*ctx->sid || cfg->ttl <= 0 || cfg->ttl > NOX_MAX_TTL_SECONDS)
        agent_fail(ctx, NOX_ESANDBOX, "bad arguments to the sandbox agent");
    const char *slash = strrchr(dir, '/');
    ctx->session_dir = strdup(dir);
    if (!ctx->session_dir || !slash || !slash[1])
        agent_fail(ctx, NOX_ESANDBOX, "bad session directory \"%s\"", dir);
    ctx->ttl = cfg->ttl;
    nox__session_podname(ctx->sid, ctx->pod);
    ctx->dir_name = strdup(slash + 1);
    char *parent = slash == dir ? strdup("/") : strndup(dir, (size_t)(slash - dir));
    ctx->base_fd = parent ? open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    free(parent);
    ctx->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (!ctx->dir_name || ctx->base_fd < 0 || ctx->dir_fd < 0)
        agent_fail(ctx, NOX_ESANDBOX, "open %s: %s", dir, strerror(errno));
    ctx->lock_fd = openat(ctx->dir_fd, NOX_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                          0600);
    if (ctx->lock_fd < 0)
        agent_fail(ctx, NOX_ESANDBOX, "open %s/%s: %s", dir, NOX_LOCK_FILE, strerror(errno));
}

int main(int argc, char **argv) {
    static agent_ctx ctx; /* big (cgroup state): not on the stack */
    ctx.ready_fd = ctx.listen_fd = ctx.devnull = -1;
    ctx.iso.id_lock_fd = -1;
    ctx.cg.cmds_fd = ctx.cg.agent_fd = -1;
    agent_find_cmdline(&ctx);
    parse_args(&ctx, argc, argv);
    if (ctx.cfg.detach)
        detach(&ctx);
    if (ctx.ready_fd >= 0)
        fcntl(ctx.ready_fd, F_SETFD, FD_CLOEXEC);
    /* Start from default dispositions whatever the creator ignored
     * (nohup, shells): commands inherit ignored signals through exec. */
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    umask(022);
    pthread_mutex_init(&ctx.mu, NULL);
    pthread_cond_init(&ctx.cv, NULL);
    open_session(&ctx);
    return outer_run(&ctx);
}

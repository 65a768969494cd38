/*
 * inner.c - pid 1 of the sandbox (C at level none, D at namespaces):
 * its root, its lockdown, its threads, meta.json, the ready line, and
 * then the server, for good.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static void setup(agent_ctx *ctx) {
    nox__buf msg = {0};
    int rc = root_build(ctx, &msg);
    if (rc)
        agent_fail(ctx, rc, "%s", nox__buf_str(&msg));
    ctx->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (ctx->devnull < 0)
        agent_fail(ctx, NOX_ESANDBOX, "open /dev/null in the sandbox: %s", strerror(errno));
    if (ctx->cfg.level == AGENT_LEVEL_NAMESPACES) {
        /* A file past RLIMIT_FSIZE is an error for us, not a signal;
         * commands get the default back (spawn.c). */
        signal(SIGXFSZ, SIG_IGN);
        /* Before any thread exists: every thread and command inherits it. */
        if ((rc = lockdown(ctx, &msg)) != 0)
            agent_fail(ctx, rc, "%s", nox__buf_str(&msg));
    }
    nox__buf_free(&msg);
}

void inner_run(agent_ctx *ctx) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (!ctx->pidns)
        prctl(PR_SET_CHILD_SUBREAPER, 1);
    setup(ctx);
    if (children_init(ctx) != 0)
        agent_fail(ctx, NOX_ESANDBOX, "cannot start the reaper thread");
    pthread_mutex_lock(&ctx->mu);
    ctx->expires_ms = nox__wall_ms() + ctx->ttl * 1000;
    int rc = agent_write_meta_locked(ctx);
    int64_t expires = agent_expires_s_locked(ctx);
    pthread_mutex_unlock(&ctx->mu);
    if (rc)
        agent_fail(ctx, NOX_ESANDBOX, "writing %s/%s: %s", ctx->session_dir, NOX_META_FILE,
                   strerror(-rc));
    agent_ready(ctx, expires);
    agent_serve(ctx);
}

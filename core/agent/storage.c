/*
 * storage.c - how much of ephemeralStorageLimit is in use.
 *
 * With a limit, /workspace, /tmp and /dev/shm share one tmpfs of that size
 * (root.c): the kernel enforces it at write time, so nothing here walks a
 * tree or evicts anyone. The file system's own count is exact and
 * cannot be dodged (modes, depth, files deleted but held open, inodes).
 * Uploads ask it for the room left before they extract (ops.c).
 */
#include "agent.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <unistd.h>

uint64_t agent_workspace_usage(void) {
    struct statvfs sv;
    if (statvfs(NOX_WORKSPACE, &sv) != 0)
        return 0;
    return (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
}

/* With a store, the workspace is memory: an upload's pages are charged to
 * the sandbox's memory cgroup as they are written, by the agent. Past
 * memory.max the OOM killer would pick the agent itself (during an upload
 * it may be the only process there), ending the sandbox; so an upload is
 * also capped at what the cgroup has left, less MEM_MARGIN for the
 * agent's own needs. pid 1 keeps the usage file open from before
 * pivot_root (root.c), where the cgroup file system is still in view. */
#define MEM_MARGIN (8u << 20)

void agent_open_memory_usage(agent_ctx *ctx) {
    ctx->mem_usage_fd = -1;
    const cg_ctl *m = &ctx->cg.ctl[LOCAL_CG_MEMORY];
    if (!ctx->cfg.mem_bytes || m->where == LOCAL_CG_NONE || m->dir < 0)
        return;
    const cg_dir *d = &ctx->cg.dirs[m->dir];
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", d->path,
             d->version == 2 ? "memory.current" : "memory.usage_in_bytes");
    ctx->mem_usage_fd = open(path, O_RDONLY | O_CLOEXEC);
}

uint64_t agent_memory_room(const agent_ctx *ctx) {
    char buf[32];
    ssize_t n = ctx->mem_usage_fd >= 0 ? pread(ctx->mem_usage_fd, buf, sizeof buf - 1, 0) : -1;
    if (n <= 0)
        return UINT64_MAX;
    buf[n] = 0;
    uint64_t used = strtoull(buf, NULL, 10), limit = ctx->cfg.mem_bytes;
    return used + MEM_MARGIN < limit ? limit - used - MEM_MARGIN : 0;
}

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

#include <sys/statvfs.h>

uint64_t agent_workspace_usage(void) {
    struct statvfs sv;
    if (statvfs(NOX_WORKSPACE, &sv) != 0)
        return 0;
    return (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
}

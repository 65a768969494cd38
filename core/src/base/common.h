/*
 * common.h - what every part of NoxRunner's C code shares: the library,
 * the sandbox agent (core/agent/) and, through noxbase, the server.
 *
 * core/src/base/ is the internal helper library `noxbase` (a static
 * CMake target, hidden inside libnoxrunner, linked into nox-sandbox):
 *
 *   common.h      this: printf checking, defaults and limits
 *   error.h       nox_error objects and the stable code names (errors.c)
 *   buf.h         growable byte buffers, string helpers (buf.c)
 *   clock.h       monotonic milliseconds, ISO-8601 stamps (clock.c)
 *   fdio.h        whole reads and writes on descriptors (fdio.c)
 *   fsutil.h      the session directory layout and careful file
 *                 operations relative to directory fds (fsutil.c)
 *   sha256.h      SHA-256, to name session directories (sha256.c)
 *   proto.h       the agent protocol's frames and fields (proto.c)
 *   cgroup_plan.h where each cgroup controller can be enforced, seen
 *                 from this process (cgroup_plan.c)
 *
 * Nothing here knows about clients, backends or HTTP.
 */
#ifndef NOX_BASE_COMMON_H
#define NOX_BASE_COMMON_H

#include "noxrunner/noxrunner.h"

#if defined(__GNUC__)
#define NOX_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define NOX_PRINTF(a, b)
#endif

#define NOX_DEFAULT_TTL_SECONDS 900
#define NOX_MAX_TTL_SECONDS 2592000 /* 30 days */
#define NOX_DEFAULT_EXEC_TIMEOUT 30
#define NOX_MAX_EXEC_TIMEOUT 86400
#define NOX_DEFAULT_MAX_OUTPUT (1024u * 1024u)
#define NOX_DEFAULT_MAX_ARCHIVE_BYTES (8ull * 1024 * 1024 * 1024)
#define NOX_DEFAULT_MAX_ARCHIVE_ENTRIES 1000000ull
#define NOX_DEFAULT_TRANSFER_TIMEOUT_MS 3600000u /* 1 h: a whole HTTP archive transfer */
#define NOX_MAX_SESSION_ID 256
#define NOX_WORKSPACE "/workspace"

#endif /* NOX_BASE_COMMON_H */

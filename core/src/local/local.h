/*
 * local.h - the local backend's way to its agent (the session directory
 * layout and file helpers it shares with the agent are in base/fsutil.h).
 */
#ifndef NOX_LOCAL_H
#define NOX_LOCAL_H

#include "base/fsutil.h"
#include "base/sha256.h"
#include "internal.h"

/* ---- the local backend's library side ----------------------------------- */

/* Find the agent: cfg->agent_path, $NOXRUNNER_AGENT, next to the library,
 * the libexec dir. malloc'd path, or NULL with an error naming the places
 * it looked. */
char *nox__local_find_agent(const char *configured, nox_error **err);

#endif /* NOX_LOCAL_H */

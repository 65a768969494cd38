/*
 * local_impl.h - the local backend's library-side pieces (not the agent).
 */
#ifndef NOX_LOCAL_IMPL_H
#define NOX_LOCAL_IMPL_H

#include "internal.h"
#include "local/local.h"
#include "base/cgroup_plan.h"
#include "base/proto.h"

#define LOCAL_IO_TIMEOUT_MS 30000   /* a control answer from a live agent */
#define LOCAL_READY_TIMEOUT_MS 15000 /* agent start: namespaces, mounts */

typedef struct local_be {
    const nox__config *cfg;
    char *base;       /* base directory, no trailing slash */
    char *agent;      /* path of nox-sandbox, or NULL */
    char *agent_err;  /* why it was not found */
    int iso_want;     /* asked for: cfg->isolation, or $NOXRUNNER_ISOLATION for auto */
    int iso;          /* resolved level: NOX_ISOLATION_NONE or _NAMESPACES */
    int iso_unavailable; /* NAMESPACES was asked for and the host forbids it */
    char iso_reason[512]; /* why namespaces are not in force ("" when they are) */
} local_be;

/* One session directory, opened and maybe locked. */
typedef struct lsess {
    char name[67]; /* s-<hex> */
    char *dir;     /* base/name */
    int dfd;
    int lockfd;
} lsess;

void lsess_init(lsess *s);
void lsess_close(lsess *s); /* unlocks */
int lsess_open(local_be *L, const char *name, lsess *s);
/* Lock the session (mkdir it first when create); -ENOENT when it does not
 * exist and !create. */
int lsess_lock(local_be *L, const char *name, lsess *s, int create);
int lsess_connect(lsess *s);
/* pidfd of the session's live agent (per meta.json), or -1. */
/* The agent process meta.json names still runs (same start time, not a
 * zombie). Its sandbox's pid 1 can outlive it for a moment, still
 * answering on the socket: only this says the sandbox is not dying. */
int lsess_agent_alive(lsess *s);
int lsess_pidfd(lsess *s);
void lsess_wait_pidfd(int pidfd, int timeout_ms);
void lsess_kill_agent(lsess *s);
/* Remove the cgroups a dead agent's meta.json names (local_stale.c). */
void lsess_remove_stale_cgroups(lsess *s);
/* After a delete: empty cgroups of the session's name left by earlier
 * sandboxes of it (rmdir only, once each). */
void lsess_sweep_cgroups(const char *session_dir_name);
/* Kill a leftover agent, its cgroups, and remove the session directory
 * (lock held). */
int lsess_remove_locked(lsess *s, const char *base);
/* Under the session lock: connect (0 with *fd_out) or remove the stale
 * session (-ENOENT). */
int lsess_live_or_clean(local_be *L, const char *name, int *fd_out);

/* NOX_ENOTFOUND "no sandbox for session", saying why it ended when it
 * ended on its own (base/ended.h). */
int local_not_found(local_be *L, const char *name, nox_error **err);
/* A create or delete of the session: its end record goes (and old ones). */
void local_forget_end(local_be *L, const char *name);

/* Connect to the agent of sid: NOX_ENOTFOUND "no sandbox for session"
 * when there is none (stale state is cleaned on the way). */
int local_connect(local_be *L, const char *sid, int *fd_out, nox_error **err);
/* Send the REQ frame of op with extra fields. 0 or -errno. */
int local_request(int fd, const char *op, const nox__buf *extra);
/* One request, one OK answer (fields appended to reply when not NULL). */
int local_simple(local_be *L, const char *sid, const char *op, const nox__buf *extra,
                 nox__buf *reply, nox_error **err);
int local_fail_from_frame(const uint8_t *p, uint32_t n, nox_error **err);
int local_io_error(int rc, const char *what, nox_error **err);
/* local_io_error(), except that a connection closed by an agent that is
 * gone gives NOX_ENOTFOUND "no sandbox for session" (state cleaned). */
int local_hangup_error(local_be *L, const char *sid, int rc, const char *what,
                       nox_error **err);
nox_sandbox_info *local_info_from(const char *sid, const uint8_t *p, size_t n);

/* local_spawn.c: start the agent for a locked, prepared session, with
 * extra arguments (NULL-terminated, may be NULL). */
int local_spawn_agent(local_be *L, lsess *s, const char *sid, int ttl,
                      char *const *extra, int64_t *expires, nox_error **err);

/* local_isolation.c */
/* Resolve cfg->isolation into L->iso (probing the host once). */
void local_isolation_resolve(local_be *L);
/* The agent arguments for a create's level, limits and image (malloc'd
 * strings into args, NULL-terminated, at most cap-1), or an error. */
int local_isolation_args(local_be *L, const nox__sandbox_opts *o, char **args, size_t cap,
                         size_t *n, nox_error **err);


/* local_exec.c */
int local_exec(void *impl, const char *sid, const char *const *argv, size_t argc,
               const nox__exec_opts *o, nox_exec_result **out, nox_error **err);
int local_exec_start(void *impl, const char *sid, const char *const *argv,
                     size_t argc, const nox__exec_opts *o, nox_exec_stream **out,
                     nox_error **err);
/* local_files.c */
int local_upload(void *impl, const char *sid, const char *dest, nox__producer *targz,
                 nox_error **err);
int local_download(void *impl, const char *sid, const char *src, int level, nox__sink *targz,
                   nox_error **err);

#endif /* NOX_LOCAL_IMPL_H */

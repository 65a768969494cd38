/*
 * agent.h - the nox-sandbox agent's parts.
 *
 * Process picture (started by the local backend's create):
 *
 *   library --fork--> A (setsid) --fork--> B = nox-sandbox (outer)
 *        A exits at once, so B is nobody's child in the caller's tree.
 *   Level "none" (below); level "namespaces" adds one step, see
 *   ns_isolate.c (B -> C in the user namespace -> D, the pid 1).
 *   B binds the socket, enters the namespaces (ns_setup.c), forks C, and
 *   waits for it. C is pid 1 of the sandbox's pid namespace: it builds the
 *   private root, serves requests (agent_server.c), runs commands
 *   (agent_exec.c), reaps every orphan, and enforces the TTL. C dies with
 *   B (PR_SET_PDEATHSIG), and everything in the sandbox dies with C.
 */
#ifndef NOX_AGENT_H
#define NOX_AGENT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/cgroup_plan.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/fsutil.h"
#include "base/proto.h"

typedef struct agent_state {
    char *session_dir; /* host path of the session directory */
    char *sid;
    char pod[17];
    int dir_fd;    /* the session directory */
    int base_fd;   /* its parent, to remove it */
    char *dir_name;
    int lock_fd;   /* flock()ed before removing the session on expiry */
    int listen_fd;
    int devnull;
    pid_t host_pid; /* B's pid as the host sees it (meta.json) */
    uint64_t host_start;
    int pidns;      /* C is pid 1 of its own pid namespace */
    int proc_ok;    /* /proc shows the sandbox's own processes */

    pthread_mutex_t mu; /* guards ttl, expires, terminating */
    pthread_cond_t cv;
    int64_t ttl;
    int64_t expires_ms; /* wall clock, unix milliseconds */
    int terminating;
    int exit_status; /* of the inner process once the sandbox ends */
} agent_state;

extern agent_state g_agent;

/* agent_main.c */
int64_t agent_wall_ms(void);
/* expires_ms rounded up to seconds: the sandbox lives at least that long. */
int64_t agent_expires_s_locked(void);
void agent_log(const char *fmt, ...) NOX_PRINTF(1, 2);

/* agent_server.c: serve until deleted or expired; never returns. */
void agent_serve(void);
/* Write meta.json from the current state (mu held by the caller). */
int agent_write_meta_locked(void);
/* Kill everything, remove the session (or only its socket when
 * remove_dir is 0), and return; the caller then replies and exits. */
void agent_terminate(int remove_dir);

/* agent_exec.c */
int agent_exec_init(void); /* starts the reaper thread */
/* Handle one exec request on conn (the REQ payload is req). */
void agent_exec(int conn, noxp_reader *rd, const uint8_t *req, size_t reqlen);
/* Kill every process of the sandbox (except the agent) and wait until
 * they are reaped (up to timeout_ms). New spawns are refused from now on. */
void agent_kill_all(int timeout_ms);

/* ns_setup.c: see the comments there. */
int ns_enter(int *pidns, char *msg, size_t cap);
int ns_build_root(const char *session_dir, int pidns, int *proc_ok, char *msg,
                  size_t cap);

/* ns_isolate.c: the "namespaces" level (see the comments there). */
typedef struct iso_config {
    int enabled;           /* --isolation namespaces */
    int root_mode;         /* B runs as root: a host id of the sandbox's own */
    uint32_t host_uid, host_gid;
    int id_lock_fd;        /* flock()ed while the host id is ours */
    long nproc;            /* RLIMIT_NPROC */
    uint64_t mem_bytes;    /* RLIMIT_AS; 0: none */
    uint64_t storage_bytes; /* RLIMIT_FSIZE; 0: none */
    uint64_t cpu_milli;    /* cpuLimit in millicores (a cgroup's cpu quota); 0: none */
    const char *image;     /* root file system directory, or NULL: the host's */
} iso_config;
extern iso_config g_iso;
/* B: claim the host id, hand the session directory to it, chdir there. */
int iso_prepare_outer(char *msg, size_t cap);
/* B: fork C (which forks D and runs inner() there). C reports its own
 * setup failures through fail_fn. The pid of C, or -1. */
pid_t iso_spawn(void (*inner)(void), void (*fail_fn)(int code, const char *msg));
/* D: the private root, hostname, loopback. */
int iso_build_root(char *msg, size_t cap);
/* D: rlimits, capabilities, no_new_privs, dumpable, seccomp. */
int iso_lockdown(char *msg, size_t cap);
/* D: start a command with the sandbox's limits (setsid, fds 0-2, workdir,
 * default SIGPIPE/SIGXFSZ, empty mask). 0 or an errno value. */
int iso_spawn_command(pid_t *pid, const char *path, char *const *argv, char *const *envp,
                      const char *workdir, int in_fd, int out_fd, int err_fd);
/* JSON object text describing the limits in force. */
void iso_describe_limits(char *out, size_t cap);
/* agent_storage.c: bytes used under /workspace (stops counting past
 * stop_at). */
uint64_t agent_workspace_usage(uint64_t stop_at);
/* C: close what only D may keep (ready fd, listening socket). */
void agent_close_inherited(void);
/* Exit status of the agent's inner process asking B to remove the
 * session directory (the sandbox's id could not). */
#define AGENT_EXIT_REMOVE 3

/* cgroup.c: the sandbox's own cgroups (see the comments there). */
#define CG_MAX_DIRS 4 /* the v2 cgroup and one per v1 hierarchy */
typedef struct cg_dir {
    int version;      /* 1 or 2 */
    int fake;         /* the parent is no cgroup file system (tests) */
    int attached;     /* the sandbox was moved in */
    char parent[1024];
    char name[96];    /* nox-<session hash>[-<pid>] */
    char path[1124];
} cg_dir;
typedef struct cg_ctl {
    uint64_t value;   /* asked for: bytes, tasks, millicores; 0: nothing */
    int where;        /* LOCAL_CG_NONE, _V1 or _V2 (local_impl.h) */
    int dir;          /* index into dirs, or -1 */
    char setting[96]; /* what was written, as "file value" */
    char why[1100];   /* where == LOCAL_CG_NONE: why */
} cg_ctl;
typedef struct cg_state {
    cg_ctl ctl[3];    /* memory, pids, cpu (LOCAL_CG_*) */
    int ndirs;
    cg_dir dirs[CG_MAX_DIRS];
} cg_state;
extern cg_state g_cg;
/* B, before C exists: make the cgroups and write the limits (0: none
 * asked). What cannot be enforced is logged and kept with the reason. */
void cg_setup(uint64_t mem_bytes, uint64_t pids, uint64_t cpu_milli);
/* B: move pid (C, still waiting for its id maps) into every cgroup. */
void cg_attach(pid_t pid);
/* B, once C is gone: kill whatever is left in the cgroups, remove them. */
void cg_cleanup(void);
/* One limit in words: the cgroup setting and/or the rlimit (may be NULL),
 * or why the cgroup does not hold (cut at why_max characters). */
void cg_describe(int ctl, const char *rlimit, int why_max, char *out, size_t cap);
/* The sandbox's cgroup directories, space-separated, or "none". */
void cg_describe_dirs(char *out, size_t cap);

/* Reply helpers (agent_server.c). */
int agent_send_fail(int conn, int code, const char *fmt, ...) NOX_PRINTF(3, 4);

#endif /* NOX_AGENT_H */

/*
 * agent.h - nox-sandbox, the local backend's per-sandbox agent.
 *
 * Process picture (started by the library's create, local_spawn.c):
 *
 *   library --posix_spawn--> A (setsid) --fork--> B = nox-sandbox (outer)
 *       A exits at once, so B is nobody's child in the caller's tree.
 *   level "none":        B enters a mount (and, not as root, a user)
 *                        namespace and maybe a pid namespace, forks C.
 *   level "namespaces":  B claims a host id and makes the cgroups, forks
 *                        C, which enters a user namespace (B maps it and
 *                        moves it into the cgroups), unshares the other
 *                        namespaces and forks D.
 *   The sandbox's pid 1 (C at level none, D at namespaces) builds the
 *   private root, locks itself down, serves requests, runs commands,
 *   reaps every orphan and enforces the TTL. It dies with its parent
 *   (PR_SET_PDEATHSIG), and everything in the sandbox dies with it. B
 *   waits, then removes what the sandbox's own id could not.
 *
 * Files, by process role. Calls only run downward in this list:
 *
 *   main.c       argv, detaching, the context; hands over to outer.c
 *   outer.c      B: socket, level entry, fork, wait, cleanup
 *   outer_ids.c  B: the sandbox's host id (namespaces level)
 *   outer_cgroup.c B: the sandbox's cgroups (create, attach, remove)
 *   userns.c     B <-> C: the user namespace handshake; C forks D
 *   inner.c      pid 1 of the sandbox: root, lockdown, threads, ready
 *   server.c     the accept pool and the dispatch of one connection
 *   ops.c        info, touch, delete, upload, download
 *   exec.c       one exec: parse, spawn, pump, finish
 *   lifecycle.c  meta.json, the limits report, TTL and expiry, ending
 *   children.c   the child table, the reaper thread, killing trees
 *   mask.c       sockets and FIFOs in lent host trees masked
 *   storage.c    the workspace's size (ephemeralStorageLimit)
 *   root.c       the sandbox's root file system, for either level
 *   lockdown.c   rlimit check, capabilities, no_new_privs, seccomp
 *   seccomp.c    the seccomp filter: an allow-list made from one table
 *   spawn.c      the one spawner: a command under a spawn_policy
 *   config.c     argv -> agent_config; the usage text from the same table
 *   log.c        the agent log (stderr) and the ready-fd protocol
 *
 * State: one agent_ctx, made by main() and passed to everything (as libuv
 * passes its loop). The agent has no mutable globals: it installs no
 * signal handler (SIGCHLD is taken with sigwaitinfo() by the reaper
 * thread), so nothing needs a global to be reached from one.
 *
 * Errors: inside the agent, -errno. A setup step that can sink the
 * sandbox (outer, root, lockdown) returns the NOX_E* code the ready line
 * reports, with its message in a nox__buf; requests turn -errno into NOX
 * codes where they answer (FAIL frames), nowhere else.
 */
#ifndef NOX_AGENT_H
#define NOX_AGENT_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/cgroup_plan.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/fsutil.h"
#include "base/proto.h"

/* ---- config.c ----------------------------------------------------------- */

enum { AGENT_LEVEL_NONE, AGENT_LEVEL_NAMESPACES };

typedef struct agent_config {
    const char *session_dir;  /* --session-dir */
    const char *session_id;   /* --session-id, else $NOXRUNNER_AGENT_SESSION_ID */
    long ttl;                 /* --ttl seconds */
    int ready_fd;             /* --ready-fd; -1: none */
    int detach;               /* --detach 1 */
    int level;                /* --isolation none|namespaces */
    uint64_t mem_bytes;       /* --memory; 0: none */
    uint64_t storage_bytes;   /* --storage; 0: none */
    uint64_t cpu_milli;       /* --cpu-milli; 0: none */
    const char *image;        /* --image root file system directory, or NULL */
    const char *note;         /* --note: why this level (for the log) */
} agent_config;

/* Parse argv into cfg (strings point into argv). 0, or -EINVAL with what
 * was wrong in why. Missing values keep their defaults: the caller checks
 * what it requires. */
int agent_config_parse(agent_config *cfg, int argc, char *const *argv, nox__buf *why);
/* The usage text, listing every flag of the table. */
int agent_config_usage(nox__buf *out);

/* ---- outer_cgroup.c: the sandbox's own cgroups ---------------------------- */

/* cg_state travels as bytes from B to C (userns.c), so its fields are
 * fixed arrays, sized by the kernel's PATH_MAX. */
#define CG_MAX_DIRS 4 /* the v2 cgroup and one per v1 hierarchy */
#define CG_WHY_MAX (PATH_MAX + 256) /* a path and what went wrong with it */
typedef struct cg_dir {
    int version;      /* 1 or 2 */
    int fake;         /* the parent is no cgroup file system (tests) */
    int attached;     /* the sandbox was moved in */
    int split;        /* holds cpu: pid 1 in agent/, C and the commands in cmds/ */
    char parent[PATH_MAX];
    char name[96];    /* nox-<session hash>[-<pid>] */
    char path[PATH_MAX];
} cg_dir;
typedef struct cg_ctl {
    uint64_t value;   /* asked for: bytes, tasks, millicores; 0: nothing */
    int where;        /* LOCAL_CG_NONE, _V1 or _V2 (base/cgroup_plan.h) */
    int dir;          /* index into dirs, or -1 */
    char setting[128]; /* what was written, as "file value" */
    char why[2 * LOCAL_CG_WHY_MAX + 8]; /* where == LOCAL_CG_NONE: why */
} cg_ctl;
typedef struct cg_state {
    cg_ctl ctl[LOCAL_CG_COUNT]; /* memory, pids, cpu (LOCAL_CG_*) */
    int ndirs;
    cg_dir dirs[CG_MAX_DIRS];
    int cmds_fd;      /* the commands' cgroup.procs (O_CLOEXEC), opened by B; -1: none */
    int agent_fd;     /* agent/cgroup.procs, for pid 1 to move in; -1: none */
} cg_state;
/* Before C exists: make <parent>/nox-<hash> in each hierarchy the plan
 * uses and write the limits (0: none asked). What cannot be enforced is
 * logged and kept with the reason. hash names the session. */
void cg_setup(cg_state *cg, const local_cg_plan *plan, const char *hash,
              const uint64_t values[LOCAL_CG_COUNT]);
/* Move pid (C, still waiting for its id maps) into every cgroup (on the
 * cpu one: into cmds/). */
void cg_attach(cg_state *cg, pid_t pid);
/* pid 1, at its start: into agent/ of the cpu cgroup, beside the commands. */
void cg_enter_agent(cg_state *cg);
/* Once C is gone: kill whatever is left in the cgroups, remove them. */
void cg_cleanup(cg_state *cg);
/* One limit in words into out: the cgroup setting and/or the rlimit (may
 * be NULL), or why the cgroup does not hold. */
int cg_describe(const cg_state *cg, int ctl, const char *rlimit, nox__buf *out);
/* The sandbox's cgroup directories (the cpu one's cmds/), space-separated,
 * or "none". */
int cg_describe_dirs(const cg_state *cg, nox__buf *out);

/* ---- spawn.c: the one spawner -------------------------------------------- */

/* How a command starts: its own session, fds 0-2, a working directory,
 * SIGPIPE and SIGXFSZ at their defaults, no blocked signal, and, when
 * limits is set, these rlimits (each command gets them, not the agent:
 * its threads and buffers must not count against memoryLimit). */
typedef struct spawn_policy {
    int fds[3];             /* become 0, 1, 2 */
    const char *workdir;
    int limits;             /* apply the rlimits below */
    uint64_t nofile;        /* RLIMIT_NOFILE */
    uint64_t nproc;         /* RLIMIT_NPROC */
    uint64_t as_bytes;      /* RLIMIT_AS; 0: unlimited */
    uint64_t fsize_bytes;   /* RLIMIT_FSIZE; 0: unlimited */
    int subreaper;          /* the command adopts its descendants' orphans */
    int cgroup_fd;          /* > 0: a cgroup.procs the command joins before exec
                             * (0 or less: none; fd 0 is never one) */
} spawn_policy;
/* Start path with argv/envp under pol. 0 with *pid, or -errno (the
 * child's when it could not exec: nothing is left to reap then). */
int agent_spawn(const spawn_policy *pol, const char *path, char *const *argv,
                char *const *envp, pid_t *pid);

/* ---- the context ---------------------------------------------------------- */

/* The host id and limits of the namespaces level (outer_ids.c). */
typedef struct iso_plan {
    int root_mode;          /* B runs as root: a host id of the sandbox's own */
    uint32_t host_uid, host_gid;
    int id_lock_fd;         /* flock()ed while the host id is ours */
    long nproc;             /* RLIMIT_NPROC */
} iso_plan;

typedef struct child child;
typedef struct pid_status {
    pid_t pid;
    int status;
} pid_status;
/* The children of pid 1 (children.c). */
typedef struct agent_children {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    child *tab;
    uint64_t spawn_gen;
    int none_left;         /* the reaper saw ECHILD since the last spawn */
    int closed;            /* no more spawns (the sandbox is ending) */
    int in_flight;         /* spawns between their start and registration */
    pid_status *unclaimed; /* reaped while spawns were in flight */
    size_t n_unclaimed, cap_unclaimed;
} agent_children;

/* The accept pool (server.c). */
typedef struct agent_pool {
    pthread_mutex_t mu;
    int idle, total;
    pthread_attr_t attr;
} agent_pool;

typedef struct agent_ctx {
    agent_config cfg;
    int ready_fd;           /* until the ready line is written; -1 after */

    char *session_dir;      /* host path of the session directory */
    char *sid;
    char pod[17];
    char *dir_name;         /* s-<hash> */
    int dir_fd;             /* the session directory */
    int base_fd;            /* its parent, to remove it */
    int lock_fd;            /* flock()ed before removing the session */
    int listen_fd;
    int devnull;
    pid_t host_pid;         /* B's pid as the host sees it (meta.json) */
    uint64_t host_start;
    int pidns;              /* pid 1 of its own pid namespace */
    /* Where the kernel keeps our argv and environment strings (what
     * /proc/<pid>/cmdline and environ show; 0 when unknown). */
    uintptr_t arg_start, arg_end, env_start, env_end;
    int proc_ok;            /* /proc shows the sandbox's own processes */

    iso_plan iso;
    cg_state cg;
    agent_children kids;
    agent_pool pool;

    pthread_mutex_t mu;     /* guards ttl, expires_ms, terminating */
    pthread_cond_t cv;
    int64_t ttl;
    int64_t expires_ms;     /* wall clock, unix milliseconds */
    int terminating;
    int exit_status;        /* of pid 1 once the sandbox ends */
    int expired;            /* ending because the TTL ran out */
    int mem_usage_fd;       /* memory cgroup usage file, or -1 (storage.c) */
} agent_ctx;

/* Exit status of pid 1 asking B to remove the session directory (the
 * sandbox's id could not). */
#define AGENT_EXIT_REMOVE 3
/* pid 1 ended the sandbox because its TTL ran out (B records it, and
 * removes the session directory for _REMOVE). */
#define AGENT_EXIT_EXPIRED 4
#define AGENT_EXIT_EXPIRED_REMOVE 5

/* ---- config.c: the command line as /proc shows it --------------------------- */

/* Find our argv and environment strings (from /proc/self/stat). */
void agent_find_cmdline(agent_ctx *ctx);
/* Overwrite our argv strings with "nox-sandbox" and zero the environment
 * strings in place (as setproctitle does), so /proc/1/cmdline inside the
 * sandbox names no host path or session hash. */
void agent_hide_cmdline(const agent_ctx *ctx);

/* ---- log.c ---------------------------------------------------------------- */

void agent_log(const char *fmt, ...) NOX_PRINTF(1, 2);
/* The ready fd carries, in this order: "P <pid>\n" once detached (B's
 * pid, for the creator's timeout), then exactly one of "R <expires>\n"
 * (serving; expiry in unix seconds) or "E <code> <message>\n" (setup
 * failed; code is a NOX_E* value). EOF without either: the agent died. */
void agent_ready_pid(agent_ctx *ctx, pid_t pid);
void agent_ready(agent_ctx *ctx, int64_t expires_s);
/* Log, report "E" on the ready fd and _exit(1). */
void agent_fail(agent_ctx *ctx, int code, const char *fmt, ...) NOX_PRINTF(3, 4)
    __attribute__((noreturn));
/* Close the ready fd (a process that must not report). */
void agent_ready_close(agent_ctx *ctx);

/* ---- root.c, lockdown.c: setup steps of pid 1 ------------------------------ */

/* Give pid 1 its root for ctx->cfg.level. 0, or the NOX_E* code for the
 * ready line with the reason in msg. */
int root_build(agent_ctx *ctx, nox__buf *msg);
/* rlimit check, no capabilities, no_new_privs, not dumpable, seccomp. */
int lockdown(agent_ctx *ctx, nox__buf *msg);
/* The policy every command of this sandbox starts under. */
void lockdown_policy(const agent_ctx *ctx, spawn_policy *pol);
/* Install the allow-list seccomp filter on the caller (no_new_privs must
 * be set): 0 or -errno (-ENOSYS on an architecture it does not know). */
int seccomp_install(void);
/* The filter it installs, into f (cap instructions): its length or -errno. */
struct sock_filter;
long seccomp_filter(struct sock_filter *f, size_t cap);
/* What the table says of call nr: 0 allowed, EPERM or ENOSYS refused, -1
 * decided by its arguments. */
int seccomp_table_verdict(int nr);
#define AGENT_NOFILE 4096 /* RLIMIT_NOFILE of commands at level namespaces */
/* The other rlimits of pid 1 and every command at level namespaces,
 * whatever the creator had (docs/isolation.md "Resource limits"): */
#define AGENT_SELF_NOFILE 16384 /* pid 1's own RLIMIT_NOFILE (at most its hard limit) */
#define AGENT_MEMLOCK (64 * 1024) /* RLIMIT_MEMLOCK, bytes, as most distributions */
#define AGENT_RTPRIO 0            /* RLIMIT_RTPRIO: no real-time scheduling */
#define AGENT_NICE 0              /* RLIMIT_NICE: no raising of priority */
/* RLIMIT_CORE 1, not 0: a pipe core_pattern ignores the limit except for
 * the value 1, its recursion guard ("cprm.limit == 1", fs/coredump.c;
 * core(5), "Piping core dumps to a program"); a file core_pattern writes
 * nothing below one page (ELF's min_coredump). So a crash inside starts
 * no host helper and writes no core file. */
#define AGENT_CORE 1
#define AGENT_NPROC 1024  /* tasks a namespaces-level sandbox may have */
/* pids.max over AGENT_NPROC: pid 1's own threads count there too. */
#define AGENT_PIDS_HEADROOM 64

/* ---- children.c ------------------------------------------------------------- */

int children_init(agent_ctx *ctx); /* starts the reaper thread; -errno */
/* Spawn and register: 0 with *out, -ESHUTDOWN once closed, or -errno. */
int children_spawn(agent_ctx *ctx, const spawn_policy *pol, const char *path,
                   char *const *argv, char *const *envp, child **out);
pid_t child_pid(const child *c);
int child_status(const child *c);
/* The fd that turns readable when the child may have exited. */
int child_wait_fd(const child *c, int prefer_pidfd);
/* Reap it if it exited (1: done, status in child_status()). */
int child_try_reap(agent_ctx *ctx, child *c);
void child_forget(agent_ctx *ctx, child *c);
/* Kill root's process group, session and descendants (root 0: every
 * process of the sandbox but pid 1). */
void kill_tree(agent_ctx *ctx, pid_t root);
/* Kill everything and wait until reaped (up to timeout_ms); no spawn
 * is accepted from then on. */
void children_kill_all(agent_ctx *ctx, int timeout_ms);

/* ---- mask.c ------------------------------------------------------------------- */

/* Bind /dev/null over every socket and FIFO of the host tree host, which
 * the new root shows at root (a path under pid 1's working directory). */
int root_mask_specials(const char *host, const char *root, nox__buf *msg);

/* ---- storage.c ---------------------------------------------------------------- */

/* Bytes in use of the storage tmpfs (/workspace, /tmp, /dev/shm). */
uint64_t agent_workspace_usage(void);
/* pid 1, before pivot_root: open the memory cgroup's usage file (when a
 * memoryLimit is enforced by one) for agent_memory_room(). */
void agent_open_memory_usage(agent_ctx *ctx);
/* Bytes an upload into the store may still charge to the memory cgroup,
 * or UINT64_MAX when no cgroup limits memory. */
uint64_t agent_memory_room(const agent_ctx *ctx);

/* ---- lifecycle.c ------------------------------------------------------------- */

/* expires_ms rounded up to seconds: the sandbox lives at least that long. */
int64_t agent_expires_s_locked(const agent_ctx *ctx);
/* Write meta.json from the current state (ctx->mu held). -errno. */
int agent_write_meta_locked(agent_ctx *ctx);
/* Claim the right to end the sandbox; 0 when someone else has it. */
int agent_claim_end(agent_ctx *ctx);
/* Kill everything, remove the session (or only its socket when
 * remove_dir is 0), and return; the caller then replies and exits. */
void agent_terminate(agent_ctx *ctx, int remove_dir);
int agent_start_ttl_watch(agent_ctx *ctx, const pthread_attr_t *attr);

/* ---- ops.c, exec.c, server.c ------------------------------------------------ */

#define AGENT_IO_TIMEOUT_MS 30000
int agent_send_fail(int conn, int code, const char *fmt, ...) NOX_PRINTF(3, 4);
void op_info(agent_ctx *ctx, int conn);
void op_touch(agent_ctx *ctx, int conn, const uint8_t *req, size_t n);
void op_end(agent_ctx *ctx, int conn, int remove_dir) __attribute__((noreturn));
void op_upload(agent_ctx *ctx, int conn, noxp_reader *rd, const uint8_t *req, size_t n);
void op_download(agent_ctx *ctx, int conn, const uint8_t *req, size_t n);
void op_exec(agent_ctx *ctx, int conn, noxp_reader *rd, const uint8_t *req, size_t n);
/* Serve until deleted or expired; never returns. */
void agent_serve(agent_ctx *ctx) __attribute__((noreturn));

/* ---- inner.c, userns.c, outer*.c ------------------------------------------- */

/* pid 1 of the sandbox: never returns. */
void inner_run(agent_ctx *ctx) __attribute__((noreturn));
/* B (namespaces level): fork C, map its user namespace, move it into the
 * cgroups; C forks D, which runs inner_run(). The pid of C, or -errno. */
pid_t userns_spawn(agent_ctx *ctx);
/* B: claim the host id, hand the session directory to it, chdir there. */
int outer_prepare_ids(agent_ctx *ctx, nox__buf *msg);
/* B: everything after main's checks; the agent's exit status. */
int outer_run(agent_ctx *ctx);

#endif /* NOX_AGENT_H */

/*
 * agent.h - the nox-sandbox agent's parts.
 *
 * Process picture (started by the local backend's create):
 *
 *   library --fork--> A (setsid) --fork--> B = nox-sandbox (outer)
 *        A exits at once, so B is nobody's child in the caller's tree.
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

#include "internal.h"
#include "local/proto.h"

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

/* Reply helpers (agent_server.c). */
int agent_send_fail(int conn, int code, const char *fmt, ...) NOX_PRINTF(3, 4);

#endif /* NOX_AGENT_H */

/*
 * fsutil.h - the session directory layout, shared by the local backend and
 * the nox-sandbox agent, and careful file operations (fsutil.c).
 *
 * On-disk layout under the base directory (mode 0700):
 *
 *   s-<sha256 hex of the session id>/    the session directory, mode 0700
 *                 (at the namespaces level as root it belongs to the
 *                 sandbox's own host uid, like its workspace)
 *       lock          flock()ed by create, delete, stale cleanup and expiry
 *       meta.json     session id, pod name, ttl, expiresAt, agent pid
 *       sock          the agent's unix socket
 *       workspace/    what the sandbox sees as /workspace
 *       .root/        mount point of the agent's private root (empty)
 *       agent.log     the agent's stderr (setup failures, fallback reasons,
 *                     limits that cannot be enforced, evictions)
 */
#ifndef NOX_BASE_FSUTIL_H
#define NOX_BASE_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NOX_SESSION_PREFIX "s-"
#define NOX_META_FILE "meta.json"
#define NOX_SOCK_FILE "sock"
#define NOX_LOCK_FILE "lock"
#define NOX_WORKSPACE_DIR "workspace"
#define NOX_ROOT_DIR ".root"
#define NOX_AGENT_LOG "agent.log"
#define NOX_AGENT_NAME "nox-sandbox"
#define NOX_AGENT_SID_ENV "NOXRUNNER_AGENT_SESSION_ID" /* the agent's session id */

/* "s-<hex>" for a session id, into out (>= 67 bytes). */
void nox__session_dirname(const char *sid, char out[67]);
/* "nox-<first 12 hex digits>" for a session id, into out (>= 17 bytes). */
void nox__session_podname(const char *sid, char out[17]);

/* Remove name (a file, or a directory with everything in it) relative to
 * dirfd, never following symlinks and never crossing into another mount.
 * 0 or -errno (ENOENT counts as success). */
int nox__rm_tree_at(int dirfd, const char *name);
/* Remove everything inside the directory dirfd except the entry `keep`
 * (may be NULL). 0 or -errno of the first failure. */
int nox__empty_dir_at(int dirfd, const char *keep);
/* Write data to dirfd/name atomically (temp file + rename). 0 or -errno. */
int nox__write_file_at(int dirfd, const char *name, const void *data,
                       size_t len, mode_t mode);
/* Write the string s to dirfd/path in place with one write() (for /proc,
 * cgroup and sysfs files; oflags adds O_CREAT, O_APPEND, O_NOFOLLOW...).
 * 0 or -errno. */
int nox__write_str_at(int dirfd, const char *path, const char *s, int oflags);
/* Read a small file (up to max bytes) into a malloc'd NUL-terminated
 * string. NULL with errno set on failure. */
char *nox__read_file_at(int dirfd, const char *name, size_t max, size_t *len);
/* Start time of pid (field 22 of /proc/<pid>/stat, clock ticks since
 * boot); 0 when the process does not exist. */
uint64_t nox__proc_starttime(pid_t pid);
/* The same, also giving the state letter (field 3: 'R', 'S', 'Z', ...). */
uint64_t nox__proc_starttime_state(pid_t pid, char *state);
/* Connect a unix stream socket to dir/name (works for any length of dir
 * through /proc/self/fd when the path does not fit sun_path). Returns the
 * fd (SOCK_CLOEXEC) or -errno. */
int nox__unix_connect_at(int dirfd, const char *dir, const char *name);
/* Fill a sockaddr_un for dir/name; when too long, for
 * /proc/self/fd/<dirfd>/name. Returns the address length or -ENAMETOOLONG. */
struct sockaddr_un;
int nox__unix_addr(struct sockaddr_un *sa, int dirfd, const char *dir,
                   const char *name);

#endif /* NOX_BASE_FSUTIL_H */

/*
 * local_session.c - session directories, their lock, talking to their
 * agent, and cleaning up after agents that died (reboot, kill -9).
 */
#include "local/local_impl.h"

#include "base/ended.h"

#include <cJSON.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void lsess_init(lsess *s) {
    memset(s, 0, sizeof *s);
    s->dfd = -1;
    s->lockfd = -1;
}

void lsess_close(lsess *s) {
    if (s->lockfd >= 0)
        close(s->lockfd); /* drops the flock */
    if (s->dfd >= 0)
        close(s->dfd);
    free(s->dir);
    lsess_init(s);
}

static int set_names(local_be *L, lsess *s, const char *name) {
    snprintf(s->name, sizeof s->name, "%s", name);
    free(s->dir);
    s->dir = nox__asprintf("%s/%s", L->base, name);
    return s->dir ? 0 : -ENOMEM;
}

int lsess_open(local_be *L, const char *name, lsess *s) {
    if (set_names(L, s, name))
        return -ENOMEM;
    s->dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return s->dfd < 0 ? -errno : 0;
}

int lsess_lock(local_be *L, const char *name, lsess *s, int create) {
    if (set_names(L, s, name))
        return -ENOMEM;
    for (int attempt = 0; attempt < 100; attempt++) {
        if (create && mkdir(s->dir, 0700) != 0 && errno != EEXIST)
            return -errno;
        if (s->dfd >= 0)
            close(s->dfd);
        s->dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (s->dfd < 0) {
            if (errno == ENOENT && create)
                continue; /* removed between mkdir and open */
            return -errno;
        }
        int fd = openat(s->dfd, NOX_LOCK_FILE,
                        O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
            if (errno == ENOENT)
                continue;
            return -errno;
        }
        while (flock(fd, LOCK_EX) != 0) {
            if (errno != EINTR) {
                int e = errno;
                close(fd);
                return -e;
            }
        }
        /* Whoever held the lock may have removed the session meanwhile:
         * a lock on an unlinked file protects nothing. */
        struct stat a, b;
        if (fstat(fd, &a) == 0 && a.st_nlink > 0 &&
            fstatat(s->dfd, NOX_LOCK_FILE, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
            a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
            s->lockfd = fd;
            return 0;
        }
        close(fd);
        if (!create) {
            struct stat st;
            if (stat(s->dir, &st) != 0)
                return -ENOENT;
        }
    }
    return -EAGAIN;
}

int lsess_connect(lsess *s) {
    return nox__unix_connect_at(s->dfd, s->dir, NOX_SOCK_FILE);
}

/* meta.json's agent pid, when that process still is the same agent. */
static pid_t meta_agent_pid(lsess *s) {
    char *txt = nox__read_file_at(s->dfd, NOX_META_FILE, 64 * 1024, NULL);
    if (!txt)
        return 0;
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    if (!j)
        return 0;
    cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "agentPid");
    cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "agentStart");
    pid_t pid = cJSON_IsNumber(p) ? (pid_t)p->valuedouble : 0;
    uint64_t start = cJSON_IsNumber(st) ? (uint64_t)st->valuedouble : 0;
    cJSON_Delete(j);
    char state = '?';
    if (pid <= 1 || !start || nox__proc_starttime_state(pid, &state) != start)
        return 0;
    /* A zombie agent is dead: nobody reaps it if init does not. */
    if (state == 'Z' || state == 'X')
        return 0;
    return pid;
}

int lsess_agent_alive(lsess *s) {
    return meta_agent_pid(s) != 0;
}

int lsess_pidfd(lsess *s) {
    pid_t pid = meta_agent_pid(s);
    if (!pid)
        return -1;
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    /* Re-check after opening: the pid could have been reused between. */
    if (fd >= 0 && !meta_agent_pid(s)) {
        close(fd);
        return -1;
    }
    return fd;
}

void lsess_wait_pidfd(int pidfd, int timeout_ms) {
    if (pidfd < 0)
        return;
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    int64_t end = nox__now_ms() + timeout_ms;
    for (;;) {
        int64_t left = end - nox__now_ms();
        if (left <= 0)
            break;
        int r = poll(&p, 1, (int)left);
        if (r > 0 || (r < 0 && errno != EINTR))
            break;
    }
}

void lsess_kill_agent(lsess *s) {
    int pfd = lsess_pidfd(s);
    if (pfd < 0) {
        /* No pidfds (kernel < 5.3): signal by pid, checked by start time
         * just before, and poll for the end. */
        pid_t pid = meta_agent_pid(s);
        if (pid > 0 && kill(pid, SIGKILL) == 0) {
            for (int i = 0; i < 500 && meta_agent_pid(s) == pid; i++) {
                struct timespec ts = {0, 10 * 1000000L};
                nanosleep(&ts, NULL);
            }
        }
        return;
    }
    /* The agent's pid 1 dies with it (PDEATHSIG), and the sandbox with that. */
    syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
    lsess_wait_pidfd(pfd, 5000);
    close(pfd);
}

int lsess_remove_locked(lsess *s, const char *base) {
    (void)base;
    lsess_kill_agent(s);
    lsess_remove_stale_cgroups(s);
    int bfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (bfd < 0)
        return -errno;
    int rc = nox__rm_tree_at(bfd, s->name);
    close(bfd);
    return rc;
}

int lsess_live_or_clean(local_be *L, const char *name, int *fd_out) {
    lsess s;
    lsess_init(&s);
    int rc = lsess_lock(L, name, &s, 0);
    if (rc) {
        lsess_close(&s);
        return rc == -ENOENT || rc == -ENOTDIR ? -ENOENT : rc;
    }
    /* Live means: the agent process of meta.json runs, and answers. */
    pid_t agent = meta_agent_pid(&s);
    int fd = agent ? lsess_connect(&s) : -1;
    if (fd >= 0) {
        /* Came up while we waited for the lock (a create was running). */
        lsess_close(&s);
        *fd_out = fd;
        return 0;
    }
    if (agent) {
        /* Running but not answering: ending. Its host process records
         * why and clears up; give it the moment that takes. */
        int pfd = lsess_pidfd(&s);
        lsess_wait_pidfd(pfd, 5000);
        if (pfd >= 0)
            close(pfd);
    }
    /* Its agent is gone without a word (killed with SIGKILL, crashed): say
     * so, unless the agent's host process already said why. */
    char was[8];
    int bfd = open(L->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (bfd >= 0 && nox__ended_read(bfd, name, was, sizeof was) != 0)
        nox__ended_record(bfd, name, "its agent process was no longer running (killed or "
                                     "crashed); what it left was removed");
    if (bfd >= 0)
        close(bfd);
    lsess_remove_locked(&s, L->base);
    lsess_close(&s);
    return -ENOENT;
}

int local_request(int fd, const char *op, const nox__buf *extra) {
    nox__buf b = {0};
    int rc = 0;
    if (noxp_put_u64(&b, NOXK_VERSION, NOXP_VERSION) || noxp_put_str(&b, NOXK_OP, op) ||
        (extra && extra->len && nox__buf_append(&b, extra->data, extra->len)))
        rc = -ENOMEM;
    if (!rc)
        rc = noxp_send(fd, NOXP_REQ, b.data, b.len, nox__now_ms() + LOCAL_IO_TIMEOUT_MS);
    nox__buf_free(&b);
    return rc;
}

int local_fail_from_frame(const uint8_t *p, uint32_t n, nox_error **err) {
    int code = (int)(int64_t)noxp_get_u64(p, n, NOXK_CODE, (uint64_t)(int64_t)NOX_ESANDBOX);
    char *msg = noxp_get_str(p, n, NOXK_MSG);
    if (code >= 0 || code < -100)
        code = NOX_ESANDBOX;
    int rc = nox__err(err, code, "%s", msg ? msg : "the sandbox agent failed");
    free(msg);
    return rc;
}

int local_io_error(int rc, const char *what, nox_error **err) {
    if (rc == -ETIMEDOUT)
        return nox__err(err, NOX_ETIMEOUT, "the sandbox agent did not answer %s in time", what);
    if (rc == -EPIPE || rc == -ECONNRESET)
        return nox__err(err, NOX_ESANDBOX,
                        "the sandbox agent closed the connection during %s "
                        "(sandbox deleted or expired meanwhile?)", what);
    if (rc == -EPROTO)
        return nox__err(err, NOX_EPROTOCOL, "the sandbox agent sent an oversized frame");
    if (rc == -ENOMEM)
        return nox__err(err, NOX_ENOMEM, "out of memory");
    if (rc == -EMSGSIZE || rc == NOX_ETOOBIG)
        return nox__err(err, NOX_ETOOBIG, "the %s request is larger than %u MiB", what,
                        NOXP_MAX_FRAME >> 20);
    return nox__err(err, NOX_EIO, "talking to the sandbox agent during %s: %s", what,
                    strerror(-rc));
}

int local_not_found(local_be *L, const char *name, nox_error **err) {
    char why[512];
    int bfd = open(L->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = bfd >= 0 ? nox__ended_read(bfd, name, why, sizeof why) : -ENOENT;
    if (bfd >= 0)
        close(bfd);
    if (rc == 0)
        return nox__err(err, NOX_ENOTFOUND, "no sandbox for session: %s", why);
    return nox__err(err, NOX_ENOTFOUND, "no sandbox for session");
}

void local_forget_end(local_be *L, const char *name) {
    int bfd = open(L->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (bfd < 0)
        return;
    nox__ended_clear(bfd, name);
    nox__ended_sweep(bfd, NOX_ENDED_KEEP_S);
    close(bfd);
}

int local_hangup_error(local_be *L, const char *sid, int rc, const char *what,
                       nox_error **err) {
    if (rc == -EPIPE || rc == -ECONNRESET) {
        /* Closed without an answer: the agent died or the sandbox was
         * deleted meanwhile. If it is gone, say so the usual way. */
        char name[67];
        nox__session_dirname(sid, name);
        int fd = -1;
        int r = lsess_live_or_clean(L, name, &fd);
        if (fd >= 0)
            close(fd);
        if (r == -ENOENT)
            return local_not_found(L, name, err);
    }
    return local_io_error(rc, what, err);
}

int local_connect(local_be *L, const char *sid, int *fd_out, nox_error **err) {
    char name[67];
    nox__session_dirname(sid, name);
    /* Fast path: the socket by its path, when that fits in sun_path. */
    char dir[PATH_MAX]; /* longer: no fast path (sun_path is shorter anyway) */
    int dl = snprintf(dir, sizeof dir, "%s/%s", L->base, name);
    if (dl > 0 && (size_t)dl < sizeof dir) {
        int fd = nox__unix_connect_at(-1, dir, NOX_SOCK_FILE);
        if (fd >= 0) {
            *fd_out = fd;
            return 0;
        }
    }
    lsess s;
    lsess_init(&s);
    int rc = lsess_open(L, name, &s);
    if (rc == 0) {
        int fd = lsess_connect(&s);
        lsess_close(&s);
        if (fd >= 0) {
            *fd_out = fd;
            return 0;
        }
        rc = lsess_live_or_clean(L, name, fd_out);
        if (rc == 0)
            return 0;
    } else {
        lsess_close(&s);
    }
    if (rc == -ENOENT || rc == -ENOTDIR)
        return local_not_found(L, name, err);
    return nox__err(err, nox__code_from_errno(-rc), "session directory under %s: %s",
                    L->base, strerror(-rc));
}

int local_simple(local_be *L, const char *sid, const char *op, const nox__buf *extra,
                 nox__buf *reply, nox_error **err) {
    int fd;
    int rc = local_connect(L, sid, &fd, err);
    if (rc)
        return rc;
    noxp_reader rd;
    noxp_reader_init(&rd, fd);
    rc = local_request(fd, op, extra);
    uint8_t type = 0;
    const uint8_t *p = NULL;
    uint32_t n = 0;
    if (!rc)
        rc = noxp_read(&rd, nox__now_ms() + LOCAL_IO_TIMEOUT_MS, &type, &p, &n);
    if (rc) {
        rc = local_hangup_error(L, sid, rc, op, err);
    } else if (type == NOXP_FAIL) {
        rc = local_fail_from_frame(p, n, err);
    } else if (type != NOXP_OK) {
        rc = nox__err(err, NOX_EPROTOCOL, "the sandbox agent answered frame '%c' to %s",
                      type, op);
    } else if (reply && nox__buf_append(reply, p, n) != 0) {
        rc = nox__err(err, NOX_ENOMEM, "out of memory");
    }
    noxp_reader_free(&rd);
    close(fd);
    return rc;
}

nox_sandbox_info *local_info_from(const char *sid, const uint8_t *p, size_t n) {
    char *agent_sid = noxp_get_str(p, n, NOXK_SID);
    char *pod = noxp_get_str(p, n, NOXK_POD);
    int64_t exp = (int64_t)noxp_get_u64(p, n, NOXK_EXPIRES, 0);
    nox_sandbox_info *i = NULL;
    if (pod && (sid || agent_sid))
        i = nox__sandbox_info_new(sid ? sid : agent_sid, pod, NULL, exp);
    free(agent_sid);
    free(pod);
    return i;
}

/*
 * agent_exec.c - run one command for an exec request and stream its
 * output back; reap every child of the agent; kill process trees.
 *
 * Reaping: the thread running an exec reaps its own command as soon as
 * the command's pidfd reports the exit. A reaper thread, woken by
 * SIGCHLD, reaps everything else (orphans reparented to the agent, which
 * is pid 1) and any command it happens to catch first; it then passes the
 * status on through the child table and an eventfd. Spawning holds the
 * table's mutex across posix_spawn() and the insert, and both reapers
 * take it before looking a pid up, so no exit status is ever lost.
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define GRACE_MS 200 /* keep reading output this long after the main exit */

typedef struct child {
    pid_t pid;
    int status;
    int done;
    int evfd;  /* the reaper signals here when it reaped the child */
    int pidfd; /* readable when the child exits: the owner reaps it itself */
    struct child *next;
} child;

static pthread_mutex_t tab_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tab_cv = PTHREAD_COND_INITIALIZER;
static child *tab;
static uint64_t spawn_gen;
static int no_children = 1;
static int spawning_closed;
/* Spawns run outside tab_mu (a spawn waits for the child's execve, and
 * holding the lock that long serialized every exec and every reap: 64
 * threads got 1.44x the throughput of one on two cores, and the CPUs sat
 * idle 11% of the time). A child can then exit, and be reaped by the
 * reaper's waitpid(-1), before its spawner has put it in the table: the
 * reaper keeps such statuses here while any spawn is in flight, and the
 * spawner claims its own. */
static int spawns_in_flight;
typedef struct unclaimed {
    pid_t pid;
    int status;
} unclaimed;
static unclaimed *orphans;
static size_t n_orphans, cap_orphans;

/* SIGCHLD is blocked in every thread of the agent; the reaper takes it
 * with sigwaitinfo() and then reaps whatever has exited. It sleeps while
 * nothing exits, so a spawn costs it no wakeup. */
static void *reaper(void *arg) {
    (void)arg;
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    for (;;) {
        pthread_mutex_lock(&tab_mu);
        uint64_t seen = spawn_gen;
        pthread_mutex_unlock(&tab_mu);
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid > 0) {
            pthread_mutex_lock(&tab_mu);
            int found = 0;
            for (child *c = tab; c; c = c->next) {
                if (c->pid == pid && !c->done) {
                    c->status = st;
                    c->done = 1;
                    uint64_t one = 1;
                    if (write(c->evfd, &one, sizeof one) < 0) { /* cannot fail */ }
                    found = 1;
                    break;
                }
            }
            if (!found && spawns_in_flight) {
                /* Maybe a child whose spawner has not registered it yet
                 * (else an orphan the pid namespace gave us). */
                if (n_orphans == cap_orphans) {
                    size_t nc = cap_orphans ? 2 * cap_orphans : 16;
                    unclaimed *nv = realloc(orphans, nc * sizeof *nv);
                    if (nv) {
                        orphans = nv;
                        cap_orphans = nc;
                    }
                }
                if (n_orphans < cap_orphans)
                    orphans[n_orphans++] = (unclaimed){pid, st};
            }
            pthread_mutex_unlock(&tab_mu);
            continue; /* maybe more */
        }
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0) {
            /* ECHILD: nothing left (unless a spawn happened meanwhile). */
            pthread_mutex_lock(&tab_mu);
            if (spawn_gen == seen) {
                no_children = 1;
                pthread_cond_broadcast(&tab_cv);
            }
            pthread_mutex_unlock(&tab_mu);
        }
        while (sigwaitinfo(&chld, NULL) < 0 && errno == EINTR) {
        }
    }
    return NULL;
}

int agent_exec_init(void) {
    /* Before any other thread exists, so that all of them inherit it. */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &chld, NULL);
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, 64 * 1024);
    int rc = pthread_create(&t, &a, reaper, NULL);
    pthread_attr_destroy(&a);
    return rc ? -rc : 0;
}

static int spawn_child(const char *path, char *const *argv, char *const *envp,
                       const char *workdir, int in_fd, int out_fd, int err_fd,
                       child **out) {
    child *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->pidfd = -1;
    c->evfd = eventfd(0, EFD_CLOEXEC);
    if (c->evfd < 0) {
        int e = errno;
        free(c);
        return -e;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    posix_spawn_file_actions_addchdir_np(&fa, workdir);
    posix_spawnattr_init(&at);
    /* The agent resets every disposition at start and ignores only
     * SIGPIPE, and handlers are reset by exec anyway: one sigaction in the
     * child instead of 64. */
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGXFSZ); /* the namespaces level ignores it in the agent */
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &def);
    /* Its own session and process group: the timeout kills the group. */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    pthread_mutex_lock(&tab_mu);
    int rc;
    if (spawning_closed) {
        rc = ESHUTDOWN;
    } else {
        spawns_in_flight++;
        pthread_mutex_unlock(&tab_mu);
        rc = g_iso.enabled ? iso_spawn_command(&c->pid, path, argv, envp, workdir, in_fd,
                                               out_fd, err_fd)
                           : posix_spawn(&c->pid, path, &fa, &at, argv, envp);
        pthread_mutex_lock(&tab_mu);
        if (rc == 0) {
            for (size_t i = 0; i < n_orphans; i++) {
                if (orphans[i].pid == c->pid) { /* it is done already */
                    c->status = orphans[i].status;
                    c->done = 1;
                    orphans[i] = orphans[--n_orphans];
                    uint64_t one = 1; /* as the reaper would have */
                    if (write(c->evfd, &one, sizeof one) < 0) { /* cannot fail */ }
                    break;
                }
            }
            /* ESRCH when the reaper got it already: c->done tells. */
            c->pidfd = c->done ? -1 : (int)syscall(SYS_pidfd_open, c->pid, 0);
            c->next = tab;
            tab = c;
            spawn_gen++;
            /* A child the reaper got already added no live child: the
             * reaper may have seen ECHILD and set no_children since, and
             * no SIGCHLD is left to make it look again. */
            if (!c->done)
                no_children = 0;
        }
        if (--spawns_in_flight == 0) {
            n_orphans = 0; /* whatever is left was never ours to claim */
            pthread_cond_broadcast(&tab_cv);
        }
    }
    pthread_mutex_unlock(&tab_mu);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc) {
        close(c->evfd);
        free(c);
        return -rc;
    }
    *out = c;
    return 0;
}

/* The owner's fast path: reap its own child as soon as its pidfd says it
 * exited, instead of waiting for the reaper thread to pass the status on.
 * Whoever calls waitpid() first gets it, under tab_mu; 1 when done. */
static int child_try_reap(child *c) {
    pthread_mutex_lock(&tab_mu);
    if (!c->done) {
        int st;
        if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
            c->status = st;
            c->done = 1;
        }
    }
    int done = c->done;
    pthread_mutex_unlock(&tab_mu);
    return done;
}

static void child_forget(child *c) {
    pthread_mutex_lock(&tab_mu);
    for (child **pp = &tab; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    pthread_mutex_unlock(&tab_mu);
    close(c->evfd);
    if (c->pidfd >= 0)
        close(c->pidfd);
    free(c);
}

/* ---- killing process trees ----------------------------------------------- */

typedef struct pinfo {
    pid_t pid, ppid, pgrp, sid;
} pinfo;

static size_t scan_procs(pinfo **out) {
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    size_t n = 0, cap = 256;
    pinfo *v = malloc(cap * sizeof *v);
    struct dirent *de;
    while (v && (de = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t r = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (r <= 0)
            continue;
        buf[r] = 0;
        char *p = strrchr(buf, ')');
        char state;
        int ppid, pgrp, sid;
        if (!p || sscanf(p + 1, " %c %d %d %d", &state, &ppid, &pgrp, &sid) != 4)
            continue;
        if (n == cap) {
            pinfo *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv)
                break;
            v = nv;
            cap *= 2;
        }
        v[n++] = (pinfo){(pid_t)pid, ppid, pgrp, sid};
    }
    closedir(d);
    *out = v;
    return v ? n : 0;
}

static int in_set(const pid_t *set, size_t n, pid_t p) {
    for (size_t i = 0; i < n; i++)
        if (set[i] == p)
            return 1;
    return 0;
}

/* Kill root's process group, its session and every descendant we can
 * find. Everything found is stopped first, so nothing can fork away while
 * we look again; then everything gets SIGKILL. root == 0 means every
 * process of the sandbox except the agent. */
static void kill_tree(pid_t root) {
    pid_t self = getpid();
    if (!g_agent.proc_ok) {
        if (root > 0)
            kill(-root, SIGKILL);
        return;
    }
    /* Stop, never kill, while we look: a dead parent's children move to
     * pid 1 at once and would no longer be found as descendants. */
    if (root > 0)
        kill(-root, SIGSTOP);
    pid_t *set = NULL;
    size_t n = 0, cap = 0;
    for (int round = 0; round < 100; round++) {
        pinfo *v = NULL;
        size_t np = scan_procs(&v);
        size_t added = 0;
        int again = 1;
        while (again) {
            again = 0;
            for (size_t i = 0; i < np; i++) {
                pinfo *p = &v[i];
                if (p->pid == self || in_set(set, n, p->pid))
                    continue;
                int match = root > 0 ? (p->pid == root || p->sid == root ||
                                        p->pgrp == root || in_set(set, n, p->ppid))
                                     : (p->ppid == self || in_set(set, n, p->ppid));
                if (!match)
                    continue;
                if (n == cap) {
                    size_t nc = cap ? 2 * cap : 64;
                    pid_t *ns = realloc(set, nc * sizeof *ns);
                    if (!ns)
                        break;
                    set = ns;
                    cap = nc;
                }
                set[n++] = p->pid;
                kill(p->pid, SIGSTOP);
                added++;
                again = 1;
            }
        }
        free(v);
        if (!added)
            break;
    }
    if (root > 0)
        kill(-root, SIGKILL);
    for (size_t i = 0; i < n; i++)
        kill(set[i], SIGKILL);
    free(set);
}

void agent_kill_all(int timeout_ms) {
    pthread_mutex_lock(&tab_mu);
    spawning_closed = 1;
    /* A spawn under way would start its child after the kill below. */
    while (spawns_in_flight)
        pthread_cond_wait(&tab_cv, &tab_mu);
    pthread_mutex_unlock(&tab_mu);
    if (g_agent.pidns)
        kill(-1, SIGKILL); /* pid 1: everything in the namespace but us */
    else
        kill_tree(0);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&tab_mu);
    while (!no_children) {
        if (pthread_cond_timedwait(&tab_cv, &tab_mu, &dl) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&tab_mu);
}

/* ---- one exec ----------------------------------------------------------- */

typedef struct strv {
    char **v;
    size_t n, cap;
} strv;

static int strv_push(strv *s, char *p) {
    if (!p)
        return -1;
    if (s->n + 2 > s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 16;
        char **nv = realloc(s->v, nc * sizeof *nv);
        if (!nv) {
            free(p);
            return -1;
        }
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = p;
    s->v[s->n] = NULL;
    return 0;
}

static void strv_free(strv *s) {
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

/* Set K=V in env, replacing an earlier K. */
static int env_set(strv *env, const char *kv, size_t kvlen) {
    const char *eq = memchr(kv, '=', kvlen);
    size_t klen = eq ? (size_t)(eq - kv) : kvlen;
    char *copy = nox__strndup(kv, kvlen);
    if (!copy)
        return -1;
    for (size_t i = 0; i < env->n; i++) {
        if (!strncmp(env->v[i], kv, klen) && env->v[i][klen] == '=') {
            free(env->v[i]);
            env->v[i] = copy;
            return 0;
        }
    }
    return strv_push(env, copy);
}

/* Resolve argv0 the way a shell would, with the command's own PATH.
 * 0 with *out set; -ENOENT or -EACCES. */
static int find_program(const char *argv0, const strv *env, char **out) {
    if (strchr(argv0, '/')) {
        /* A path, maybe relative to the workdir: exec() itself says
         * whether it exists (posix_spawn reports its errno). */
        *out = strdup(argv0);
        return *out ? 0 : -ENOMEM;
    }
    const char *path = DEFAULT_PATH;
    for (size_t i = 0; i < env->n; i++)
        if (!strncmp(env->v[i], "PATH=", 5))
            path = env->v[i] + 5;
    int seen_eacces = 0;
    const char *p = path;
    for (;;) {
        const char *colon = strchr(p, ':');
        size_t dl = colon ? (size_t)(colon - p) : strlen(p);
        char cand[4096];
        int n = snprintf(cand, sizeof cand, "%.*s%s%s", (int)dl, p,
                         dl ? "/" : "", argv0);
        if (n > 0 && (size_t)n < sizeof cand) {
            struct stat st;
            if (stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
                if (access(cand, X_OK) == 0) {
                    *out = strdup(cand);
                    return *out ? 0 : -ENOMEM;
                }
                seen_eacces = 1;
            }
        }
        if (!colon)
            break;
        p = colon + 1;
    }
    return seen_eacces ? -EACCES : -ENOENT;
}

/* Output travelling to the client: one frame at a time, so a slow reader
 * stops us from reading the pipes (and the command blocks on its output)
 * instead of memory growing. */
typedef struct outq {
    uint8_t buf[NOXP_HEADER + NOXP_CHUNK];
    size_t len, off;
} outq;

typedef struct run {
    int conn;
    int out_fd, err_fd, in_fd; /* our ends; -1 when closed */
    const uint8_t *stdin_data;
    size_t stdin_len, stdin_off;
    uint64_t max_out;
    uint64_t sent[2];
    int trunc[2];
    outq q;
    int client_gone;
} run;

static int q_flush(run *r) {
    while (r->q.off < r->q.len) {
        ssize_t w = send(r->conn, r->q.buf + r->q.off, r->q.len - r->q.off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            r->q.off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        r->client_gone = 1;
        r->q.len = r->q.off = 0;
        return -1;
    }
    r->q.len = r->q.off = 0;
    return 0;
}

/* Read what a pipe has (stream 0 = stdout, 1 = stderr) into the queue,
 * within the cap; past the cap the bytes are read and dropped. */
static void pump(run *r, int which) {
    int *fd = which ? &r->err_fd : &r->out_fd;
    uint8_t *data = r->q.buf + NOXP_HEADER;
    ssize_t n = read(*fd, data, NOXP_CHUNK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        close(*fd);
        *fd = -1;
        return;
    }
    uint64_t room = r->max_out > r->sent[which] ? r->max_out - r->sent[which] : 0;
    size_t keep = (uint64_t)n > room ? (size_t)room : (size_t)n;
    if (keep < (size_t)n)
        r->trunc[which] = 1;
    if (!keep || r->client_gone)
        return;
    r->sent[which] += keep;
    noxp_header(r->q.buf, which ? NOXP_STDERR : NOXP_STDOUT, (uint32_t)keep);
    r->q.len = NOXP_HEADER + keep;
    r->q.off = 0;
    q_flush(r);
}

static void feed_stdin(run *r) {
    while (r->in_fd >= 0 && r->stdin_off < r->stdin_len) {
        ssize_t w = write(r->in_fd, r->stdin_data + r->stdin_off,
                          r->stdin_len - r->stdin_off);
        if (w > 0) {
            r->stdin_off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            return;
        break; /* EPIPE: the command does not want it */
    }
    if (r->in_fd >= 0) {
        close(r->in_fd);
        r->in_fd = -1;
    }
}

static int64_t mono_ms(void) { return nox__now_ms(); }

/* Watch the client: anything readable (EOF, or bytes it should not send)
 * means it went away or cancelled. */
static int client_left(int conn) {
    char b[64];
    ssize_t n = recv(conn, b, sizeof b, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    return 1;
}

static int read_stdin_frames(int conn, noxp_reader *rd, nox__buf *in) {
    for (;;) {
        uint8_t type;
        const uint8_t *p;
        uint32_t len;
        int rc = noxp_read(rd, nox__now_ms() + 60000, &type, &p, &len);
        if (rc)
            return rc;
        if (type == NOXP_STDIN_END)
            return 0;
        if (type != NOXP_STDIN)
            return -EPROTO;
        if (len && nox__buf_append(in, p, len) != 0) {
            agent_send_fail(conn, NOX_ENOMEM, "stdin does not fit in memory");
            return -ENOMEM;
        }
    }
}

static void send_synthetic(int conn, int ack, int code, const char *err_text) {
    nox__buf x = {0};
    if (ack)
        noxp_send(conn, NOXP_STARTED, NULL, 0, -1);
    noxp_send(conn, NOXP_STDERR, err_text, strlen(err_text), -1);
    noxp_put_u64(&x, NOXK_EXIT, (uint64_t)code);
    noxp_put_u64(&x, NOXK_DURATION, 0);
    noxp_send(conn, NOXP_EXIT, x.data, x.len, -1);
    nox__buf_free(&x);
}

void agent_exec(int conn, noxp_reader *rd, const uint8_t *req, size_t reqlen) {
    strv argv = {0}, env = {0};
    nox__buf in = {0};
    char *workdir = NULL, *prog = NULL;
    int pout[2] = {-1, -1}, perr[2] = {-1, -1}, pin[2] = {-1, -1};
    child *c = NULL;

    noxp_iter it = {req, reqlen};
    uint8_t key;
    const uint8_t *val;
    uint32_t vlen;
    int bad = 0;
    env_set(&env, "PATH=" DEFAULT_PATH, strlen("PATH=" DEFAULT_PATH));
    env_set(&env, "HOME=/workspace", strlen("HOME=/workspace"));
    env_set(&env, "LANG=C.UTF-8", strlen("LANG=C.UTF-8"));
    env_set(&env, "TERM=xterm", strlen("TERM=xterm"));
    while (noxp_next(&it, &key, &val, &vlen) == 1) {
        if (key == NOXK_ARG)
            bad |= memchr(val, 0, vlen) != NULL ||
                   strv_push(&argv, nox__strndup((const char *)val, vlen));
        else if (key == NOXK_ENV)
            bad |= memchr(val, 0, vlen) != NULL || env_set(&env, (const char *)val, vlen);
    }
    workdir = noxp_get_str(req, reqlen, NOXK_WORKDIR);
    uint64_t timeout_s = noxp_get_u64(req, reqlen, NOXK_TIMEOUT, NOX_DEFAULT_EXEC_TIMEOUT);
    uint64_t max_out = noxp_get_u64(req, reqlen, NOXK_MAXOUT, NOX_DEFAULT_MAX_OUTPUT);
    int has_stdin = (int)noxp_get_u64(req, reqlen, NOXK_HAS_STDIN, 0);
    /* Streams want to know the command runs before they return; a plain
     * exec saves the frame (and a wakeup of the caller). */
    int ack = (int)noxp_get_u64(req, reqlen, NOXK_ACK_START, 0);
    if (bad || argv.n == 0 || !workdir) {
        agent_send_fail(conn, NOX_EPROTOCOL, "malformed exec request");
        goto out;
    }
    if (has_stdin && read_stdin_frames(conn, rd, &in) != 0)
        goto out;

    struct stat st;
    if (stat(workdir, &st) != 0) {
        if (errno == ENOENT)
            agent_send_fail(conn, NOX_EINVAL, "workdir \"%s\" does not exist", workdir);
        else
            agent_send_fail(conn, NOX_EINVAL, "workdir \"%s\": %s", workdir, strerror(errno));
        goto out;
    }
    if (!S_ISDIR(st.st_mode)) {
        agent_send_fail(conn, NOX_EINVAL, "workdir \"%s\" is not a directory", workdir);
        goto out;
    }

    int rc = find_program(argv.v[0], &env, &prog);
    if (rc == -ENOENT || rc == -EACCES) {
        /* What a shell does: a result, not an error. */
        char msg[4200];
        snprintf(msg, sizeof msg, "%s: %s\n", argv.v[0],
                 rc == -ENOENT ? "command not found" : "Permission denied");
        send_synthetic(conn, ack, rc == -ENOENT ? 127 : 126, msg);
        goto out;
    }
    if (rc) {
        agent_send_fail(conn, NOX_ENOMEM, "out of memory");
        goto out;
    }

    if (pipe2(pout, O_CLOEXEC) != 0 || pipe2(perr, O_CLOEXEC) != 0 ||
        (has_stdin && pipe2(pin, O_CLOEXEC) != 0)) {
        agent_send_fail(conn, NOX_EIO, "pipe: %s", strerror(errno));
        goto out;
    }
    int64_t t0 = mono_ms();
    rc = spawn_child(prog, argv.v, env.v, workdir, has_stdin ? pin[0] : g_agent.devnull,
                     pout[1], perr[1], &c);
    close(pout[1]);
    close(perr[1]);
    pout[1] = perr[1] = -1;
    if (has_stdin) {
        close(pin[0]);
        pin[0] = -1;
    }
    if (rc == -ENOENT || rc == -EACCES || rc == -ENOEXEC || rc == -ENOTDIR) {
        char msg[4200];
        snprintf(msg, sizeof msg, "%s: %s\n", argv.v[0], strerror(-rc));
        send_synthetic(conn, ack, rc == -ENOENT ? 127 : 126, msg);
        goto out;
    }
    if (rc) {
        agent_send_fail(conn, rc == -ESHUTDOWN ? NOX_ESANDBOX
                              : rc == -E2BIG   ? NOX_ETOOBIG
                                               : NOX_EIO,
                        "cannot start %s: %s", argv.v[0],
                        rc == -ESHUTDOWN ? "the sandbox is shutting down" : strerror(-rc));
        goto out;
    }

    run r = {.conn = conn, .out_fd = pout[0], .err_fd = perr[0],
             .in_fd = has_stdin ? pin[1] : -1, .stdin_data = in.data,
             .stdin_len = in.len, .max_out = max_out};
    pout[0] = perr[0] = pin[1] = -1;
    fcntl(r.out_fd, F_SETFL, O_NONBLOCK);
    fcntl(r.err_fd, F_SETFL, O_NONBLOCK);
    if (r.in_fd >= 0) {
        fcntl(r.in_fd, F_SETFL, O_NONBLOCK);
        feed_stdin(&r);
    }
    if (ack && noxp_send(conn, NOXP_STARTED, NULL, 0, -1) != 0)
        r.client_gone = 1;

    int64_t deadline = t0 + (int64_t)timeout_s * 1000;
    int64_t grace_end = -1, t_exit = 0;
    int exited = 0, timed_out = 0, killed = 0, status = 0;
    int use_pidfd = c->pidfd >= 0;
    for (;;) {
        if (r.client_gone && !killed && !exited) {
            /* Cancel, stream freed, or the caller died. Once the main
             * process has ended, what it left running in the background
             * stays, as it would after a normal exit. */
            kill_tree(c->pid);
            killed = 1;
        }
        if (exited && r.q.len == 0 &&
            ((r.out_fd < 0 && r.err_fd < 0) || r.client_gone))
            break;
        int64_t now = mono_ms();
        if (exited && grace_end >= 0 && now >= grace_end) {
            /* Background processes keep the pipes open: stop waiting. */
            if (r.out_fd >= 0) { close(r.out_fd); r.out_fd = -1; }
            if (r.err_fd >= 0) { close(r.err_fd); r.err_fd = -1; }
            if (r.q.len == 0 || r.client_gone)
                break;
        }
        if (!exited && !killed && now >= deadline) {
            kill_tree(c->pid);
            killed = 1;
            timed_out = 1;
        }
        struct pollfd pf[5];
        int np = 0, i_out = -1, i_err = -1, i_in = -1, i_ev = -1, i_conn;
        short conn_ev = r.q.len ? POLLOUT : 0;
        if (!r.client_gone)
            conn_ev |= POLLIN;
        i_conn = np;
        pf[np++] = (struct pollfd){.fd = r.client_gone ? -1 : conn, .events = conn_ev};
        if (r.q.len == 0) {
            if (r.out_fd >= 0) {
                i_out = np;
                pf[np++] = (struct pollfd){.fd = r.out_fd, .events = POLLIN};
            }
            if (r.err_fd >= 0) {
                i_err = np;
                pf[np++] = (struct pollfd){.fd = r.err_fd, .events = POLLIN};
            }
        }
        if (r.in_fd >= 0) {
            i_in = np;
            pf[np++] = (struct pollfd){.fd = r.in_fd, .events = POLLOUT};
        }
        if (!exited) {
            i_ev = np;
            pf[np++] = (struct pollfd){.fd = use_pidfd ? c->pidfd : c->evfd,
                                       .events = POLLIN};
        }
        int64_t wake = -1;
        if (!exited && !killed)
            wake = deadline;
        if (exited && grace_end >= 0)
            wake = grace_end;
        int tmo = -1;
        if (wake >= 0) {
            int64_t left = wake - now;
            tmo = left < 0 ? 0 : (left > 1000000 ? 1000000 : (int)left);
        }
        int pr = poll(pf, (nfds_t)np, tmo);
        if (pr < 0 && errno != EINTR)
            break;
        if (pr <= 0)
            continue;
        if (pf[i_conn].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (client_left(conn))
                r.client_gone = 1;
        }
        if (!r.client_gone && (pf[i_conn].revents & POLLOUT))
            q_flush(&r);
        if (i_ev >= 0 && (pf[i_ev].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (child_try_reap(c)) {
                exited = 1;
                status = c->status;
            } else if (use_pidfd) {
                /* The reaper took it and is about to tell us. */
                use_pidfd = 0;
            }
            if (exited) {
                t_exit = mono_ms();
                grace_end = t_exit + GRACE_MS;
            }
        }
        if (i_in >= 0 && (pf[i_in].revents & (POLLOUT | POLLERR | POLLHUP)))
            feed_stdin(&r);
        if (r.q.len == 0 && i_out >= 0 && (pf[i_out].revents & (POLLIN | POLLHUP | POLLERR)))
            pump(&r, 0);
        if (r.q.len == 0 && i_err >= 0 && (pf[i_err].revents & (POLLIN | POLLHUP | POLLERR)))
            pump(&r, 1);
    }
    if (!exited) {
        /* The client left or poll failed before the command ended: make
         * sure it is dead and reaped before we forget it. */
        if (!killed)
            kill_tree(c->pid);
        int64_t until = mono_ms() + 5000;
        while (!child_try_reap(c) && mono_ms() < until) {
            struct pollfd pf[2] = {{.fd = c->evfd, .events = POLLIN},
                                   {.fd = c->pidfd, .events = POLLIN}};
            poll(pf, 2, 100);
        }
    }
    if (!r.client_gone) {
        nox__buf x = {0};
        int code, sig = 0;
        if (timed_out) {
            code = 124;
            sig = SIGKILL;
        } else if (WIFEXITED(status)) {
            code = WEXITSTATUS(status);
        } else if (WIFSIGNALED(status)) {
            sig = WTERMSIG(status);
            code = 128 + sig;
        } else {
            code = 255;
        }
        noxp_put_u64(&x, NOXK_EXIT, (uint64_t)code);
        noxp_put_u64(&x, NOXK_SIGNAL, (uint64_t)sig);
        noxp_put_u64(&x, NOXK_TIMEDOUT, (uint64_t)timed_out);
        noxp_put_u64(&x, NOXK_OUTTRUNC, (uint64_t)r.trunc[0]);
        noxp_put_u64(&x, NOXK_ERRTRUNC, (uint64_t)r.trunc[1]);
        noxp_put_u64(&x, NOXK_DURATION, (uint64_t)((exited ? t_exit : mono_ms()) - t0));
        noxp_send(conn, NOXP_EXIT, x.data, x.len, mono_ms() + 10000);
        nox__buf_free(&x);
    }
    if (r.out_fd >= 0) close(r.out_fd);
    if (r.err_fd >= 0) close(r.err_fd);
    if (r.in_fd >= 0) close(r.in_fd);
out:
    if (c)
        child_forget(c);
    for (int i = 0; i < 2; i++) {
        if (pout[i] >= 0) close(pout[i]);
        if (perr[i] >= 0) close(perr[i]);
        if (pin[i] >= 0) close(pin[i]);
    }
    strv_free(&argv);
    strv_free(&env);
    nox__buf_free(&in);
    free(workdir);
    free(prog);
}

/*
 * children.c - the children of pid 1: the table of running commands, the
 * reaper thread, and killing process trees.
 *
 * Reaping: the thread running an exec reaps its own command as soon as
 * the command's pidfd reports the exit. A reaper thread, woken by
 * SIGCHLD, reaps everything else (orphans reparented to pid 1) and any
 * command it happens to catch first; it then passes the status on
 * through the child table and an eventfd.
 *
 * Spawns run outside kids->mu (a spawn waits for the child's execve, and
 * holding the lock that long serialized every exec and every reap: 64
 * threads got 1.44x the throughput of one on two cores, and the CPUs sat
 * idle 11% of the time). A child can then exit, and be reaped by the
 * reaper's waitpid(-1), before its spawner has put it in the table: the
 * reaper keeps such statuses while any spawn is in flight, and the
 * spawner claims its own. So no exit status is ever lost.
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct child {
    pid_t pid;
    int status;
    int done;
    int evfd;  /* the reaper signals here when it reaped the child */
    int pidfd; /* readable when the child exits: the owner reaps it itself */
    struct child *next;
};

pid_t child_pid(const child *c) { return c->pid; }
int child_status(const child *c) { return c->status; }
int child_wait_fd(const child *c, int prefer_pidfd) {
    return prefer_pidfd && c->pidfd >= 0 ? c->pidfd : c->evfd;
}

static void mark_done(child *c, int status) {
    c->status = status;
    c->done = 1;
    uint64_t one = 1;
    if (write(c->evfd, &one, sizeof one) < 0) { /* an eventfd write cannot fail */ }
}

/* A status the reaper got for a pid not (yet) in the table (kids->mu). */
static void keep_unclaimed(agent_children *k, pid_t pid, int st) {
    if (k->n_unclaimed == k->cap_unclaimed) {
        size_t nc = k->cap_unclaimed ? 2 * k->cap_unclaimed : 16;
        pid_status *nv = realloc(k->unclaimed, nc * sizeof *nv);
        if (!nv)
            return;
        k->unclaimed = nv;
        k->cap_unclaimed = nc;
    }
    k->unclaimed[k->n_unclaimed++] = (pid_status){pid, st};
}

static void reaped(agent_children *k, pid_t pid, int st) {
    for (child *c = k->tab; c; c = c->next) {
        if (c->pid == pid && !c->done) {
            mark_done(c, st);
            return;
        }
    }
    /* Maybe a child whose spawner has not registered it yet (else an
     * orphan the pid namespace gave us). */
    if (k->in_flight)
        keep_unclaimed(k, pid, st);
}

/* SIGCHLD is blocked in every thread of the agent; the reaper takes it
 * with sigwaitinfo() and then reaps whatever has exited. It sleeps while
 * nothing exits, so a spawn costs it no wakeup. */
static void *reaper(void *arg) {
    agent_children *k = &((agent_ctx *)arg)->kids;
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    for (;;) {
        pthread_mutex_lock(&k->mu);
        uint64_t seen = k->spawn_gen;
        pthread_mutex_unlock(&k->mu);
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid > 0) {
            pthread_mutex_lock(&k->mu);
            reaped(k, pid, st);
            pthread_mutex_unlock(&k->mu);
            continue; /* maybe more */
        }
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0) {
            /* ECHILD: nothing left (unless a spawn happened meanwhile). */
            pthread_mutex_lock(&k->mu);
            if (k->spawn_gen == seen) {
                k->none_left = 1;
                pthread_cond_broadcast(&k->cv);
            }
            pthread_mutex_unlock(&k->mu);
        }
        while (sigwaitinfo(&chld, NULL) < 0 && errno == EINTR) {
        }
    }
    return NULL;
}

int children_init(agent_ctx *ctx) {
    agent_children *k = &ctx->kids;
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    k->none_left = 1;
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
    int rc = pthread_create(&t, &a, reaper, ctx);
    pthread_attr_destroy(&a);
    return -rc;
}

/* After a successful spawn (kids->mu held): claim a status the reaper
 * kept, open the pidfd, and put c in the table. */
static void register_child(agent_children *k, child *c) {
    for (size_t i = 0; i < k->n_unclaimed; i++) {
        if (k->unclaimed[i].pid == c->pid) { /* it is done already */
            mark_done(c, k->unclaimed[i].status);
            k->unclaimed[i] = k->unclaimed[--k->n_unclaimed];
            break;
        }
    }
    /* ESRCH when the reaper got it already: c->done tells. */
    c->pidfd = c->done ? -1 : (int)syscall(SYS_pidfd_open, c->pid, 0);
    c->next = k->tab;
    k->tab = c;
    k->spawn_gen++;
    /* A child the reaper got already added no live child: the reaper may
     * have seen ECHILD and set none_left since, and no SIGCHLD is left to
     * make it look again. */
    if (!c->done)
        k->none_left = 0;
}

int children_spawn(agent_ctx *ctx, const spawn_policy *pol, const char *path,
                   char *const *argv, char *const *envp, child **out) {
    agent_children *k = &ctx->kids;
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
    int rc = -ESHUTDOWN;
    pthread_mutex_lock(&k->mu);
    if (!k->closed) {
        k->in_flight++;
        pthread_mutex_unlock(&k->mu);
        rc = agent_spawn(pol, path, argv, envp, &c->pid);
        pthread_mutex_lock(&k->mu);
        if (rc == 0)
            register_child(k, c);
        if (--k->in_flight == 0) {
            k->n_unclaimed = 0; /* whatever is left was never ours to claim */
            pthread_cond_broadcast(&k->cv);
        }
    }
    pthread_mutex_unlock(&k->mu);
    if (rc) {
        close(c->evfd);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* The owner's fast path: reap its own child as soon as its pidfd says it
 * exited, instead of waiting for the reaper thread to pass the status on.
 * Whoever calls waitpid() first gets it, under kids->mu. */
int child_try_reap(agent_ctx *ctx, child *c) {
    pthread_mutex_lock(&ctx->kids.mu);
    if (!c->done) {
        int st;
        if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
            c->status = st;
            c->done = 1;
        }
    }
    int done = c->done;
    pthread_mutex_unlock(&ctx->kids.mu);
    return done;
}

void child_forget(agent_ctx *ctx, child *c) {
    pthread_mutex_lock(&ctx->kids.mu);
    for (child **pp = &ctx->kids.tab; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    pthread_mutex_unlock(&ctx->kids.mu);
    close(c->evfd);
    if (c->pidfd >= 0)
        close(c->pidfd);
    free(c);
}

/* ---- killing process trees ----------------------------------------------- */

typedef struct pinfo {
    pid_t pid, ppid, pgrp, sid;
} pinfo;

static int read_pinfo(const char *name, pinfo *out) {
    char *end;
    long pid = strtol(name, &end, 10);
    if (*end || pid <= 0)
        return -1;
    char path[64], buf[512]; /* /proc/<pid>/stat: its fields up to sid fit */
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r <= 0)
        return -1;
    buf[r] = 0;
    char *p = strrchr(buf, ')');
    char state;
    int ppid, pgrp, sid;
    if (!p || sscanf(p + 1, " %c %d %d %d", &state, &ppid, &pgrp, &sid) != 4)
        return -1;
    *out = (pinfo){(pid_t)pid, ppid, pgrp, sid};
    return 0;
}

static size_t scan_procs(pinfo **out) {
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    size_t n = 0, cap = 256;
    pinfo *v = malloc(cap * sizeof *v);
    struct dirent *de;
    while (v && (de = readdir(d)) != NULL) {
        pinfo pi;
        if (read_pinfo(de->d_name, &pi) != 0)
            continue;
        if (n == cap) {
            pinfo *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv)
                break;
            v = nv;
            cap *= 2;
        }
        v[n++] = pi;
    }
    closedir(d);
    *out = v;
    return v ? n : 0;
}

typedef struct pidset {
    pid_t *v;
    size_t n, cap;
} pidset;

static int in_set(const pidset *s, pid_t p) {
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == p)
            return 1;
    return 0;
}

static int set_add(pidset *s, pid_t p) {
    if (s->n == s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 64;
        pid_t *nv = realloc(s->v, nc * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = p;
    return 0;
}

/* One pass over /proc: stop every new member of root's tree; how many. */
static size_t stop_round(pidset *set, pid_t root, pid_t self) {
    pinfo *v = NULL;
    size_t np = scan_procs(&v), added = 0;
    for (int again = 1; again;) {
        again = 0;
        for (size_t i = 0; i < np; i++) {
            pinfo *p = &v[i];
            if (p->pid == self || in_set(set, p->pid))
                continue;
            int match = root > 0 ? (p->pid == root || p->sid == root || p->pgrp == root ||
                                    in_set(set, p->ppid))
                                 : (p->ppid == self || in_set(set, p->ppid));
            if (!match || set_add(set, p->pid) != 0)
                continue;
            kill(p->pid, SIGSTOP);
            added++;
            again = 1;
        }
    }
    free(v);
    return added;
}

/* Kill root's process group, its session and every descendant we can
 * find. Everything found is stopped first, so nothing can fork away while
 * we look again; then everything gets SIGKILL. */
void kill_tree(agent_ctx *ctx, pid_t root) {
    if (!ctx->proc_ok) {
        if (root > 0)
            kill(-root, SIGKILL);
        return;
    }
    /* Stop, never kill, while we look: a dead parent's children move to
     * pid 1 at once and would no longer be found as descendants. */
    if (root > 0)
        kill(-root, SIGSTOP);
    pidset set = {0};
    for (int round = 0; round < 100; round++)
        if (!stop_round(&set, root, getpid()))
            break;
    if (root > 0)
        kill(-root, SIGKILL);
    for (size_t i = 0; i < set.n; i++)
        kill(set.v[i], SIGKILL);
    free(set.v);
}

void children_kill_all(agent_ctx *ctx, int timeout_ms) {
    agent_children *k = &ctx->kids;
    pthread_mutex_lock(&k->mu);
    k->closed = 1;
    /* A spawn under way would start its child after the kill below. */
    while (k->in_flight)
        pthread_cond_wait(&k->cv, &k->mu);
    pthread_mutex_unlock(&k->mu);
    if (ctx->pidns)
        kill(-1, SIGKILL); /* pid 1: everything in the namespace but us */
    else
        kill_tree(ctx, 0);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&k->mu);
    while (!k->none_left) {
        if (pthread_cond_timedwait(&k->cv, &k->mu, &dl) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&k->mu);
}

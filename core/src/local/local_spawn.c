/*
 * local_spawn.c - find the nox-sandbox agent and start it for a session.
 *
 * The agent must outlive the process that created the sandbox (a CLI call
 * creates, a later one execs): it is posix_spawn()ed in a session of its
 * own with --detach, forks once more itself and lets the first process
 * exit, so it is adopted by init. A pipe reports "P <pid>" of the agent,
 * then "R <expires>" once it serves, or "E <code> <message>" when it
 * cannot set the sandbox up (core/agent/agent.h, log.c).
 */
#include "local/local_impl.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NOX_LIBEXEC_DIR
#define NOX_LIBEXEC_DIR "/usr/local/libexec/noxrunner"
#endif

extern char **environ;

static int executable(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

char *nox__local_find_agent(const char *configured, nox_error **err) {
    if (configured) {
        if (executable(configured))
            return strdup(configured);
        nox__err(err, NOX_ESANDBOX, "the sandbox agent \"%s\" (agent_path or "
                 "$NOXRUNNER_AGENT) is not an executable file", configured);
        return NULL;
    }
    char tried[3][PATH_MAX + 64];
    int nt = 0;
    Dl_info di;
    char dir[PATH_MAX] = "";
    if (dladdr((void *)nox__local_find_agent, &di) && di.dli_fname && strchr(di.dli_fname, '/')) {
        char real[PATH_MAX];
        if (realpath(di.dli_fname, real)) {
            char *slash = strrchr(real, '/');
            *slash = 0;
            snprintf(dir, sizeof dir, "%s", real);
        }
    }
    if (!*dir) {
        /* Linked statically into a program: start from the executable. */
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
            exe[n] = 0;
            char *slash = strrchr(exe, '/');
            if (slash) {
                *slash = 0;
                snprintf(dir, sizeof dir, "%s", exe);
            }
        }
    }
    if (*dir) {
        snprintf(tried[nt++], sizeof tried[0], "%s/" NOX_AGENT_NAME, dir);
        snprintf(tried[nt++], sizeof tried[0], "%s/../libexec/noxrunner/" NOX_AGENT_NAME, dir);
    }
    snprintf(tried[nt++], sizeof tried[0], "%s/" NOX_AGENT_NAME, NOX_LIBEXEC_DIR);
    for (int i = 0; i < nt; i++) {
        if (executable(tried[i])) {
            char real[PATH_MAX];
            return strdup(realpath(tried[i], real) ? real : tried[i]);
        }
    }
    nox__err(err, NOX_ESANDBOX,
             "the sandbox agent " NOX_AGENT_NAME " was not found (looked for %s%s%s%s%s; "
             "set agent_path or $NOXRUNNER_AGENT)",
             tried[0], nt > 1 ? ", " : "", nt > 1 ? tried[1] : "", nt > 2 ? ", " : "",
             nt > 2 ? tried[2] : "");
    return NULL;
}

/* The last line of the agent's log (malloc'd; "" when none). */
static char *tail_log(lsess *s) {
    size_t len = 0;
    char *log = nox__read_file_at(s->dfd, NOX_AGENT_LOG, 1 << 20, &len);
    if (!log)
        return strdup("");
    while (len && log[len - 1] == '\n')
        log[--len] = 0;
    char *last = strrchr(log, '\n');
    char *out = strdup(last ? last + 1 : log);
    free(log);
    return out;
}

/* The agent's argv: the session, --detach, the level's arguments, and why
 * this level (NULL-terminated, into argv[cap]). */
static void agent_argv(local_be *L, lsess *s, char *ttl_s, char *const *extra, char **argv,
                       size_t cap) {
    static char fd_s[] = "3", one[] = "1";
    static char *const fixed[] = {"--session-dir", NULL, "--ttl", NULL, "--ready-fd", fd_s,
                            "--detach", one};
    size_t n = 0;
    argv[n++] = L->agent;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        argv[n++] = i == 1 ? s->dir : i == 3 ? ttl_s : fixed[i];
    for (size_t i = 0; extra && extra[i] && n < cap - 1; i++)
        argv[n++] = extra[i];
    if (*L->iso_reason && n < cap - 2) {
        argv[n++] = "--note";
        argv[n++] = L->iso_reason;
    }
    argv[n] = NULL;
}

/* Our environment with the session id added: argv is world-readable in
 * ps, /proc/<pid>/environ only by the owner. envp[] borrows environ's
 * strings; *sid_env is the one to free. */
static char **agent_envp(const char *sid, char **sid_env) {
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **envp = calloc(ne + 2, sizeof *envp);
    *sid_env = nox__asprintf(NOX_AGENT_SID_ENV "=%s", sid);
    if (!envp || !*sid_env) {
        free(envp);
        free(*sid_env);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], NOX_AGENT_SID_ENV "=", strlen(NOX_AGENT_SID_ENV) + 1) != 0)
            envp[k++] = environ[i];
    envp[k++] = *sid_env;
    envp[k] = NULL;
    return envp;
}

/* posix_spawn (a vfork-style clone): forking the caller costs a copy of
 * its page tables, which grows with its size (a Python or Go process);
 * the agent detaches itself (--detach: setsid here, its own fork there)
 * and reports its pid on the ready fd. The caller's fds are closed by the
 * agent first thing. fds[] (null, log, ready) go to 0-1, 2 and 3; they
 * are above 10, so no dup2 clobbers one. 0 or an errno value. */
static int spawn_detached(char **argv, char **envp, const int fds[3]) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
    pid_t a = -1;
    int rc = EBADF;
    if (fds[0] >= 0 && fds[1] >= 0 && fds[2] >= 0 &&
        posix_spawn_file_actions_adddup2(&fa, fds[0], 0) == 0 &&
        posix_spawn_file_actions_adddup2(&fa, fds[0], 1) == 0 &&
        posix_spawn_file_actions_adddup2(&fa, fds[1], 2) == 0 &&
        posix_spawn_file_actions_adddup2(&fa, fds[2], 3) == 0)
        rc = posix_spawn(&a, argv[0], &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    while (rc == 0 && waitpid(a, NULL, 0) < 0 && errno == EINTR) {
    }
    return rc;
}

/* Start the agent writing to ready_w. 0 or an error. */
static int start_agent(local_be *L, lsess *s, const char *sid, char **argv, int ready_w,
                       nox_error **err) {
    char *sid_env = NULL;
    char **envp = agent_envp(sid, &sid_env);
    if (!envp)
        return nox__err(err, NOX_ENOMEM, "out of memory");
    int logfd = openat(s->dfd, NOX_AGENT_LOG,
                       O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
    int rc = 0;
    if (logfd < 0 || nullfd < 0) {
        rc = nox__err(err, NOX_EIO, "opening the agent log in %s: %s", s->dir, strerror(errno));
    } else {
        int fds[3] = {fcntl(nullfd, F_DUPFD_CLOEXEC, 10), fcntl(logfd, F_DUPFD_CLOEXEC, 10),
                      fcntl(ready_w, F_DUPFD_CLOEXEC, 10)};
        int e = spawn_detached(argv, envp, fds);
        for (int i = 0; i < 3; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        if (e)
            rc = nox__err(err, NOX_ESANDBOX, "cannot start the sandbox agent %s: %s", L->agent,
                          strerror(e));
    }
    if (logfd >= 0)
        close(logfd);
    if (nullfd >= 0)
        close(nullfd);
    free(envp);
    free(sid_env);
    return rc;
}

/* One line of the ready protocol (core/agent/agent.h): 1 when it ended
 * the wait (R or E), else 0. */
static int ready_line(char *line, pid_t *bpid, int64_t *expires, int *rc, nox_error **err) {
    if (line[0] == 'P') {
        *bpid = (pid_t)atol(line + 2);
        return 0;
    }
    if (line[0] == 'R') {
        *expires = atoll(line + 2);
        return 1;
    }
    if (line[0] != 'E')
        return 0;
    char *end;
    long code = strtol(line + 2, &end, 10);
    if (code >= 0 || code < -100)
        code = NOX_ESANDBOX;
    *rc = nox__err(err, (int)code, "%s", *end ? end + 1 : "sandbox setup failed");
    return 1;
}

/* Read the ready fd until R, E, EOF or the timeout. */
static int await_ready(lsess *s, int fd, int64_t *expires, nox_error **err) {
    char buf[NOXP_READY_LINE_MAX];
    size_t len = 0;
    int64_t deadline = nox__now_ms() + LOCAL_READY_TIMEOUT_MS;
    pid_t bpid = 0;
    int rc = 0;
    for (;;) {
        char *nl;
        while ((nl = memchr(buf, '\n', len)) != NULL) {
            *nl = 0;
            if (ready_line(buf, &bpid, expires, &rc, err))
                return rc;
            size_t used = (size_t)(nl - buf) + 1;
            memmove(buf, nl + 1, len - used);
            len -= used;
        }
        if (len == sizeof buf - 1)
            len = 0; /* garbage: drop */
        int64_t left = deadline - nox__now_ms();
        if (left <= 0) {
            if (bpid > 0)
                kill(bpid, SIGKILL);
            return nox__err(err, NOX_ESANDBOX,
                            "the sandbox agent did not become ready within %d ms (see %s/%s)",
                            LOCAL_READY_TIMEOUT_MS, s->dir, NOX_AGENT_LOG);
        }
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, (int)left) <= 0)
            continue;
        ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            char *last = tail_log(s);
            rc = nox__err(err, NOX_ESANDBOX, "the sandbox agent exited during setup%s%s",
                          last && *last ? ": " : " (no message)", last ? last : "");
            free(last);
            return rc;
        }
        len += (size_t)r;
    }
}

int local_spawn_agent(local_be *L, lsess *s, const char *sid, int ttl,
                      char *const *extra, int64_t *expires, nox_error **err) {
    char ttl_s[24];
    snprintf(ttl_s, sizeof ttl_s, "%d", ttl);
    char *argv[32];
    agent_argv(L, s, ttl_s, extra, argv, sizeof argv / sizeof argv[0]);
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return nox__err(err, NOX_EIO, "pipe: %s", strerror(errno));
    int rc = start_agent(L, s, sid, argv, p[1], err);
    close(p[1]);
    if (rc == 0)
        rc = await_ready(s, p[0], expires, err);
    close(p[0]);
    return rc;
}

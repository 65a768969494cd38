/*
 * agent_main.c - nox-sandbox: the local backend's sandbox agent.
 *
 *   NOXRUNNER_AGENT_SESSION_ID=SID \
 *   nox-sandbox --session-dir DIR --ttl SECONDS --ready-fd N [--detach 1]
 *
 * Started by the local backend's create (see agent.h for the process
 * picture). It reports on the ready fd exactly one line: "R <expires>"
 * once it serves requests, or "E <code> <message>" when it cannot.
 * Diagnostics go to stderr, which the library points at agent.log.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int ready_fd = -1;

int64_t agent_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t agent_expires_s_locked(void) {
    return (g_agent.expires_ms + 999) / 1000;
}

void agent_log(const char *fmt, ...) {
    char buf[4096];
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int n = snprintf(buf, sizeof buf, "%s nox-sandbox[%d]: ", ts, (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof buf)
        n += vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof buf - 1)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    if (write(2, buf, (size_t)n) < 0) { /* nowhere else to say it */ }
}

static void ready_line(const char *line) {
    if (ready_fd < 0)
        return;
    size_t n = strlen(line);
    while (n) {
        ssize_t w = write(ready_fd, line, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        line += w;
        n -= (size_t)w;
    }
    close(ready_fd);
    ready_fd = -1;
}

static void NOX_PRINTF(2, 3) fail(int code, const char *fmt, ...) {
    char msg[3500], line[4000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    agent_log("%s", msg);
    for (char *p = msg; *p; p++)
        if (*p == '\n')
            *p = ' ';
    snprintf(line, sizeof line, "E %d %s\n", code, msg);
    ready_line(line);
    _exit(1);
}

static int listen_socket(void) {
    struct sockaddr_un sa;
    int alen = nox__unix_addr(&sa, g_agent.dir_fd, g_agent.session_dir, NOX_SOCK_FILE);
    if (alen < 0)
        fail(NOX_ESANDBOX, "socket path too long under %s", g_agent.session_dir);
    unlinkat(g_agent.dir_fd, NOX_SOCK_FILE, 0);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail(NOX_ESANDBOX, "socket: %s", strerror(errno));
    mode_t old = umask(077);
    int rc = bind(fd, (struct sockaddr *)&sa, (socklen_t)alen);
    umask(old);
    if (rc != 0)
        fail(NOX_ESANDBOX, "bind %s/%s: %s", g_agent.session_dir, NOX_SOCK_FILE,
             strerror(errno));
    if (listen(fd, 512) != 0)
        fail(NOX_ESANDBOX, "listen: %s", strerror(errno));
    return fd;
}

static void fail_msg(int code, const char *msg) { fail(code, "%s", msg); }

void agent_close_inherited(void) {
    if (ready_fd >= 0)
        close(ready_fd);
    ready_fd = -1;
    close(g_agent.listen_fd);
}

/* C (level none) or D (level namespaces): pid 1 of the sandbox. */
static void run_inner(void) {
    char msg[3000];
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (!g_agent.pidns)
        prctl(PR_SET_CHILD_SUBREAPER, 1);
    int rc;
    if (g_iso.enabled) {
        rc = iso_build_root(msg, sizeof msg);
        g_agent.proc_ok = 1;
    } else {
        rc = ns_build_root(g_agent.session_dir, g_agent.pidns, &g_agent.proc_ok, msg,
                           sizeof msg);
    }
    if (rc)
        fail(rc, "%s", msg);
    g_agent.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (g_agent.devnull < 0)
        fail(NOX_ESANDBOX, "open /dev/null in the sandbox: %s", strerror(errno));
    if (g_iso.enabled) {
        /* A file past RLIMIT_FSIZE is an error for us, not a signal;
         * commands get the default back (agent_exec.c). */
        signal(SIGXFSZ, SIG_IGN);
        /* Before any thread exists: every thread and command inherits it. */
        if ((rc = iso_lockdown(msg, sizeof msg)) != 0)
            fail(rc, "%s", msg);
    }
    if (agent_exec_init() != 0)
        fail(NOX_ESANDBOX, "cannot start the reaper thread");
    pthread_mutex_lock(&g_agent.mu);
    g_agent.expires_ms = agent_wall_ms() + g_agent.ttl * 1000;
    rc = agent_write_meta_locked();
    int64_t expires = agent_expires_s_locked();
    pthread_mutex_unlock(&g_agent.mu);
    if (rc)
        fail(NOX_ESANDBOX, "writing %s/%s: %s", g_agent.session_dir, NOX_META_FILE,
             strerror(-rc));
    char line[64];
    snprintf(line, sizeof line, "R %lld\n", (long long)expires);
    ready_line(line);
    agent_serve();
}

static void usage(void) {
    fputs("usage: " NOX_AGENT_SID_ENV "=SID nox-sandbox --session-dir DIR "
          "--ttl SECONDS --ready-fd N\n"
          "The sandbox agent of NoxRunner's local backend; started by the "
          "library, not by hand.\n", stderr);
    exit(2);
}

int main(int argc, char **argv) {
    const char *dir = NULL, *sid = NULL, *note = NULL;
    long ttl = -1;
    int detach = 0;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (!strcmp(a, "--session-dir"))
            dir = v;
        else if (!strcmp(a, "--session-id"))
            sid = v;
        else if (!strcmp(a, "--ttl"))
            ttl = strtol(v, NULL, 10);
        else if (!strcmp(a, "--ready-fd"))
            ready_fd = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--isolation"))
            g_iso.enabled = !strcmp(v, "namespaces");
        else if (!strcmp(a, "--memory"))
            g_iso.mem_bytes = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--storage"))
            g_iso.storage_bytes = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--cpu-milli"))
            g_iso.cpu_milli = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--image"))
            g_iso.image = v;
        else if (!strcmp(a, "--note"))
            note = v;
        else if (!strcmp(a, "--detach"))
            detach = !strcmp(v, "1");
        else
            usage();
    }
    if (detach) {
        /* Started by posix_spawn in a session of its own: drop whatever
         * the creator left open, then fork, so that the creator reaps the
         * first process and init adopts us. The pid goes first on the
         * ready fd (for the creator's timeout). */
        if (syscall(SYS_close_range, 4, ~0U, 0) != 0)
            for (int fd = 4; fd < 65536; fd++)
                close(fd);
        pid_t c = fork();
        if (c < 0)
            fail(NOX_ESANDBOX, "fork: %s", strerror(errno));
        if (c > 0)
            _exit(0);
        char pl[32];
        int n = snprintf(pl, sizeof pl, "P %ld\n", (long)getpid());
        if (ready_fd >= 0 && write(ready_fd, pl, (size_t)n) < 0) { /* EOF tells */ }
    }
    if (ready_fd >= 0)
        fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
    char *env_sid = NULL;
    if (!sid && getenv(NOX_AGENT_SID_ENV)) {
        env_sid = strdup(getenv(NOX_AGENT_SID_ENV));
        sid = env_sid;
    }
    unsetenv(NOX_AGENT_SID_ENV);
    if (!dir || !sid || ttl <= 0 || ttl > NOX_MAX_TTL_SECONDS)
        fail(NOX_ESANDBOX, "bad arguments to the sandbox agent");
    /* Start from default dispositions whatever the creator ignored
     * (nohup, shells): commands inherit ignored signals through exec. */
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    umask(022);

    g_agent.session_dir = strdup(dir);
    g_agent.sid = strdup(sid);
    free(env_sid);
    g_agent.ttl = ttl;
    nox__session_podname(g_agent.sid ? g_agent.sid : "", g_agent.pod);
    pthread_mutex_init(&g_agent.mu, NULL);
    pthread_cond_init(&g_agent.cv, NULL);
    const char *slash = strrchr(dir, '/');
    if (!g_agent.session_dir || !g_agent.sid || !slash || !slash[1])
        fail(NOX_ESANDBOX, "bad session directory \"%s\"", dir);
    g_agent.dir_name = strdup(slash + 1);
    char *parent = slash == dir ? strdup("/") : strndup(dir, (size_t)(slash - dir));
    g_agent.base_fd = parent ? open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    free(parent);
    g_agent.dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (g_agent.base_fd < 0 || g_agent.dir_fd < 0)
        fail(NOX_ESANDBOX, "open %s: %s", dir, strerror(errno));
    g_agent.lock_fd = openat(g_agent.dir_fd, NOX_LOCK_FILE,
                             O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (g_agent.lock_fd < 0)
        fail(NOX_ESANDBOX, "open %s/%s: %s", dir, NOX_LOCK_FILE, strerror(errno));
    g_agent.host_pid = getpid();
    g_agent.host_start = nox__proc_starttime(getpid());
    g_agent.listen_fd = listen_socket();

    if (note)
        agent_log("isolation: %s", note);
    char msg[3000];
    pid_t c;
    if (g_iso.enabled) {
        int rc = iso_prepare_outer(msg, sizeof msg);
        if (rc)
            fail(rc, "%s", msg);
        g_agent.pidns = 1;
        /* Never silent: a cpuLimit without a cgroup has nothing else. */
        if (g_iso.cpu_milli && g_cg.ctl[LOCAL_CG_CPU].where == LOCAL_CG_NONE)
            agent_log("warning: cpuLimit %llum is not enforced: %s",
                      (unsigned long long)g_iso.cpu_milli, g_cg.ctl[LOCAL_CG_CPU].why);
        c = iso_spawn(run_inner, fail_msg);
        if (c < 0)
            cg_cleanup();
    } else {
        int rc = ns_enter(&g_agent.pidns, msg, sizeof msg);
        if (rc)
            fail(rc, "%s", msg);
        c = fork();
        if (c == 0)
            run_inner();
    }
    if (c < 0)
        fail(NOX_ESANDBOX, "fork: %s", strerror(errno));

    /* B: wait for C, and go with it. Only C reports on the ready fd. */
    close(ready_fd);
    ready_fd = -1;
    close(g_agent.listen_fd);
    int st;
    while (waitpid(c, &st, 0) < 0) {
        if (errno != EINTR) {
            cg_cleanup();
            return 1;
        }
    }
    /* Nothing of the sandbox may outlive it, whichever way it ended. */
    cg_cleanup();
    if (WIFEXITED(st) && WEXITSTATUS(st) == AGENT_EXIT_REMOVE) {
        /* The sandbox's own id could not remove its session directory
         * (root's base directory): we can. */
        int rc = nox__rm_tree_at(g_agent.base_fd, g_agent.dir_name);
        if (rc)
            agent_log("removing %s: %s", g_agent.session_dir, strerror(-rc));
        return 0;
    }
    if (WIFSIGNALED(st)) {
        agent_log("sandbox init died of signal %d", WTERMSIG(st));
        return 128 + WTERMSIG(st);
    }
    return WEXITSTATUS(st);
}

/* nox_test.c - harness and fixtures shared by the C tests. */
#include "nox_test.h"

#include "base/fsutil.h"

#include <cJSON.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int nt_failed_checks;
static int passed, failed, skipped;
static int test_skipped; /* the current test called nt_skip */

void nt_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    nt_failed_checks++;
}

void nt_run(const char *name, void (*fn)(void)) {
    const char *filter = getenv("NT_FILTER");
    if (filter && *filter && !strstr(name, filter))
        return;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    nt_failed_checks = 0;
    test_skipped = 0;
    fprintf(stderr, "RUN  %s\n", name);
    fn();
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    if (nt_failed_checks) {
        failed++;
        fprintf(stderr, "FAIL %s (%ld ms)\n", name, ms);
    } else if (test_skipped) {
        skipped++;
        fprintf(stderr, "SKIP %s (%ld ms)\n", name, ms);
    } else {
        passed++;
        fprintf(stderr, "ok   %s (%ld ms)\n", name, ms);
    }
}

int nt_main_end(void) {
    fflush(stderr);
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    fflush(stdout);
    if (failed)
        return 1;
    /* Nothing ran at all: the program as a whole was skipped. */
    return skipped && !passed ? NT_SKIP_CODE : 0;
}

int nt_required(const char *need) {
    const char *req = getenv("NOX_REQUIRE");
    size_t n = strlen(need);
    for (const char *p = req; p && *p;) {
        size_t len = strcspn(p, ", ");
        if (len == n && !strncmp(p, need, n))
            return 1;
        p += len;
        p += strspn(p, ", ");
    }
    return 0;
}

static void vreport_skip(int required, const char *need, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void vreport_skip(int required, const char *need, const char *fmt, va_list ap) {
    if (required)
        fprintf(stderr, "    FAIL (NOX_REQUIRE names %s, yet): ", need);
    else
        fprintf(stderr, "    SKIP (%s): ", need);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int nt_skip(const char *need, const char *fmt, ...) {
    int required = nt_required(need);
    va_list ap;
    va_start(ap, fmt);
    vreport_skip(required, need, fmt, ap);
    va_end(ap);
    if (required)
        nt_failed_checks++;
    else
        test_skipped = 1;
    return 1;
}

int nt_skip_all(const char *need, const char *fmt, ...) {
    int required = nt_required(need);
    va_list ap;
    va_start(ap, fmt);
    vreport_skip(required, need, fmt, ap);
    va_end(ap);
    fflush(stderr);
    fputs(required ? "0 passed, 1 failed (a required suite cannot run)\n"
                   : "0 passed, 0 failed, all skipped\n", stdout);
    fflush(stdout);
    return required ? 1 : NT_SKIP_CODE;
}

char *nt_mkdtemp(const char *tag) {
    const char *tmp = getenv("TMPDIR");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/nt-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    if (!mkdtemp(buf))
        return NULL;
    return strdup(buf);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st; (void)flag; (void)f;
    /* Make directories writable first so a test's read-only tree goes. */
    if (flag == FTW_DP)
        chmod(p, 0700);
    return remove(p) == 0 || errno == ENOENT ? 0 : 0;
}

void nt_rm_rf(const char *path) {
    if (!path)
        return;
    /* A read-only directory cannot be emptied: open everything up first. */
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s' 2>/dev/null", path);
    if (system(cmd) != 0) { /* best effort */ }
    nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

char *nt_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) { free(buf); buf = NULL; }
            else buf = nb;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

int nt_write_file(const char *path, const void *data, size_t len, int mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode ? mode : 0644);
    if (fd < 0)
        return -1;
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w <= 0) { close(fd); return -1; }
        p += w; len -= (size_t)w;
    }
    return close(fd);
}

nox_client *nt_local_client(const char *base_dir, char **base_dir_out) {
    char *dir = base_dir ? strdup(base_dir) : nt_mkdtemp("local");
    nox_client_options o;
    nox_client_options_init(&o, NOX_CLIENT_OPTIONS_VERSION);
    o.backend = NOX_BACKEND_LOCAL;
    o.base_dir = dir;
    o.agent_path = NOX_TEST_AGENT;
    nox_client *c = NULL;
    nox_error *err = NULL;
    if (nox_client_new(&c, &o, &err) != 0) {
        nt_fail(__FILE__, __LINE__, "nox_client_new(local): %s",
                err ? nox_error_message(err) : "?");
        nox_error_free(err);
        free(dir);
        return NULL;
    }
    if (base_dir_out)
        *base_dir_out = dir;
    else
        free(dir);
    return c;
}

int nt_server_start(nt_server *s, const char *const *extra_args) {
    memset(s, 0, sizeof *s);
    s->base_dir = nt_mkdtemp("srv");
    if (!s->base_dir)
        return -1;
    const char *argv[64];
    int n = 0;
    argv[n++] = NOX_TEST_SERVER;
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--base-dir";
    argv[n++] = s->base_dir;
    argv[n++] = "--agent";
    argv[n++] = NOX_TEST_AGENT;
    for (int i = 0; extra_args && extra_args[i] && n < 62; i++)
        argv[n++] = extra_args[i];
    argv[n] = NULL;
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(out[1], 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    s->pid = pid;
    /* The server's first stdout line names the address it bound. */
    char line[256];
    size_t len = 0;
    while (len < sizeof line - 1) {
        ssize_t r = read(out[0], line + len, 1);
        if (r <= 0)
            break;
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = 0;
    close(out[0]);
    const char *p = strstr(line, "http://127.0.0.1:");
    if (!p) {
        fprintf(stderr, "    noxrunnerd did not start: \"%s\"\n", line);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    s->port = atoi(p + strlen("http://127.0.0.1:"));
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
    return 0;
}

int nt_server_stop(nt_server *s) {
    int status = 0, rc = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        for (int i = 0; i < 1000; i++) {
            pid_t w = waitpid(s->pid, &status, WNOHANG);
            if (w == s->pid) {
                rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                break;
            }
            usleep(10000);
        }
        if (rc == -1) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
        }
        s->pid = 0;
    }
    nt_rm_rf(s->base_dir);
    free(s->base_dir);
    s->base_dir = NULL;
    return rc;
}

nox_client *nt_http_client(const nt_server *s, const char *api_key) {
    nox_client_options o;
    nox_client_options_init(&o, NOX_CLIENT_OPTIONS_VERSION);
    o.backend = NOX_BACKEND_HTTP;
    o.base_url = s->url;
    o.api_key = api_key;
    nox_client *c = NULL;
    nox_error *err = NULL;
    if (nox_client_new(&c, &o, &err) != 0) {
        nt_fail(__FILE__, __LINE__, "nox_client_new(http): %s",
                err ? nox_error_message(err) : "?");
        nox_error_free(err);
        return NULL;
    }
    return c;
}

const char *nt_sid(const char *tag) {
    static __thread char buf[128];
    static int counter;
    int n = __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST);
    snprintf(buf, sizeof buf, "%s-%d-%d", tag, (int)getpid(), n);
    return buf;
}

nox_exec_result *nt_exec_ok(nox_client *c, const char *sid,
                            const char *const *argv) {
    nox_exec_result *r = NULL;
    nox_error *err = NULL;
    if (nox_exec(c, sid, argv, NULL, &r, &err) != 0) {
        nt_fail(__FILE__, __LINE__, "exec %s: %s", argv[0],
                err ? nox_error_message(err) : "?");
        nox_error_free(err);
        return NULL;
    }
    if (nox_exec_result_exit_code(r) != 0) {
        size_t ol, el;
        const uint8_t *o = nox_exec_result_stdout(r, &ol);
        const uint8_t *e = nox_exec_result_stderr(r, &el);
        nt_fail(__FILE__, __LINE__, "exec %s exited %d: stdout=%.*s stderr=%.*s",
                argv[0], nox_exec_result_exit_code(r), (int)ol, (const char *)o,
                (int)el, (const char *)e);
        nox_exec_result_free(r);
        return NULL;
    }
    return r;
}

shres nt_sh(nox_client *c, const char *sid, const char *script, int timeout) {
    shres r = {-1, NULL, 0, 0};
    const char *argv[] = {"sh", "-c", script, NULL};
    nox_exec_options o;
    nox_exec_options_init(&o, NOX_EXEC_OPTIONS_VERSION);
    o.timeout_seconds = timeout;
    nox_exec_result *res = NULL;
    nox_error *e = NULL;
    if (nox_exec(c, sid, argv, &o, &res, &e) != 0) {
        /* The error text counts as output: a check for "no output" must
         * not pass on a command that never ran. */
        r.out = strdup(e ? nox_error_message(e) : "exec failed");
        r.out_len = r.out ? strlen(r.out) : 0;
        nox_error_free(e);
        return r;
    }
    size_t n1, n2;
    const uint8_t *d1 = nox_exec_result_stdout(res, &n1);
    const uint8_t *d2 = nox_exec_result_stderr(res, &n2);
    r.out = malloc(n1 + n2 + 1);
    if (r.out) {
        memcpy(r.out, d1, n1);
        memcpy(r.out + n1, d2, n2);
        r.out[n1 + n2] = 0;
    }
    r.out_len = n1;
    r.code = nox_exec_result_exit_code(res);
    r.truncated = nox_exec_result_stdout_truncated(res);
    nox_exec_result_free(res);
    return r;
}

int nt_create_limited(nox_client *c, const char *sid, const char *mem, const char *cpu,
                      const char *storage, int ttl) {
    nox_sandbox_options o;
    nox_sandbox_options_init(&o, NOX_SANDBOX_OPTIONS_VERSION);
    o.ttl_seconds = ttl;
    o.memory_limit = mem;
    o.cpu_limit = cpu;
    o.ephemeral_storage_limit = storage;
    nox_sandbox_info *i = NULL;
    nox_error *e = NULL;
    int rc = nox_sandbox_create(c, sid, &o, &i, &e);
    if (rc)
        fprintf(stderr, "    create %s: %s\n", sid, e ? nox_error_message(e) : "?");
    nox_error_free(e);
    nox_sandbox_info_free(i);
    return rc;
}

int nt_rerun_as_nobody(const char *marker_env) {
    if (access("/usr/bin/setpriv", X_OK) != 0) {
        fprintf(stderr, "%s: setpriv missing, the run as nobody cannot be made\n",
                nt_required("nobody") ? "FAIL (NOX_REQUIRE names nobody)" : "SKIP");
        return nt_required("nobody") ? 1 : NT_SKIP_CODE;
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 1;
    self[n] = 0;
    fprintf(stderr, "\n=== the same again as an unprivileged user (nobody) ===\n");
    fflush(stderr);
    pid_t p = fork();
    if (p == 0) {
        setenv(marker_env, "1", 1);
        setenv("TMPDIR", "/tmp", 1);
        /* nobody gets no cgroup delegated; namespaces it must still have. */
        if (nt_required("namespaces"))
            setenv("NOX_REQUIRE", "namespaces", 1);
        else
            unsetenv("NOX_REQUIRE");
        execl("/usr/bin/setpriv", "setpriv", "--reuid=65534", "--regid=65534",
              "--clear-groups", "--", self, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

int nt_main_end_and_nobody(const char *marker_env) {
    int rc = nt_main_end();
    if (geteuid() != 0 || getenv(marker_env))
        return rc;
    int r2 = nt_rerun_as_nobody(marker_env);
    if (r2 == NT_SKIP_CODE) {
        fprintf(stderr, "the run as nobody was skipped\n");
    } else if (r2 != 0) {
        fprintf(stderr, "the run as nobody failed (exit %d)\n", r2);
        rc = rc ? rc : 1;
    }
    return rc;
}

nox_client *nt_namespaces_client(char **base, const char *why, int *rc) {
    unsetenv("NOXRUNNER_AGENT");
    unsetenv("NOXRUNNER_ISOLATION");
    nox_client *c = nt_local_client(NULL, base);
    *rc = 1;
    if (!c)
        return NULL;
    if (nox_client_isolation(c) == NOX_ISOLATION_NAMESPACES)
        return c;
    nox_client_free(c);
    nt_rm_rf(*base);
    free(*base);
    *base = NULL;
    *rc = nt_skip_all("namespaces", "%s", why);
    return NULL;
}

cJSON *nt_session_meta(const char *base, const char *sid) {
    char name[67], path[4200];
    nox__session_dirname(sid, name);
    snprintf(path, sizeof path, "%s/%s/meta.json", base, name);
    char *txt = nt_read_file(path, NULL);
    cJSON *j = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    return j;
}

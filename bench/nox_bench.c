/*
 * nox_bench.c - the C half of the NoxRunner benchmark suite.
 *
 * One mode per invocation; each prints one JSON object on stdout with the
 * raw samples (microseconds) and a few facts. bench/bench.py runs the
 * modes, the baselines and the language drivers, and computes medians,
 * p90 and ratios. No timed assertions: this program measures, it never
 * judges.
 *
 *   nox_bench spawn   --n N --warmup W [--cmd PROG] [--pipes 1]
 *                                                    posix_spawn+wait floor
 *   nox_bench bwrap   --n N --warmup W --ws DIR           bwrap per command
 *   nox_bench exec    --n N --warmup W (--home D | --url U)
 *   nox_bench exec-stream   the same through nox_exec_start/nox_exec_next
 *   nox_bench exec-raw      the same HTTP request written by hand on one
 *                           kept-alive socket (reference: no libcurl)
 *   nox_bench exec-curl     the same HTTP request through a minimal libcurl
 *                           loop, one easy handle (reference)
 *   nox_bench create  --n N --warmup W (--home D | --url U) [--ballast-mb M]
 *   nox_bench xfer    --n N --warmup W (--home D | --url U) --src DIR --out DIR
 *   nox_bench threads --threads T --n PER_THREAD (--home D | --url U) [--sandboxes K]
 *   nox_bench many    --count C (--home D)
 *   nox_bench mcp-exec --mcp PATH [--mcp-old PATH] --n N --warmup W --rounds R
 *                      --home D [--rss-calls K]
 *                      an exec tool call of `true` through noxrunner-mcp over
 *                      stdio against nox_exec() here, interleaved by round
 *                      (and a ping round trip: the pipes' floor); the
 *                      server's VmRSS before and after K (1000) calls
 *
 * --agent PATH selects the nox-sandbox agent for the local backend.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <noxrunner/noxrunner.h>

#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static struct {
    const char *mode, *home, *url, *agent, *cmd, *ws, *src, *out;
    const char *mcp, *mcp_old;
    int n, warmup, threads, sandboxes, count, pipes, ballast_mb, rounds, rss_calls;
} A = {.n = 200, .warmup = 20, .threads = 1, .sandboxes = 1, .count = 50, .cmd = "true",
       .rounds = 10, .rss_calls = 1000};

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void die(const char *what, nox_error *e) {
    fprintf(stderr, "nox_bench %s: %s: %s (%s)\n", A.mode, what,
            e ? nox_error_message(e) : strerror(errno),
            e ? nox_code_name(nox_error_code(e)) : "errno");
    nox_error_free(e);
    exit(1);
}

/* ---- JSON output ----------------------------------------------------- */

static void print_samples(const char *key, const double *s, int n) {
    printf("\"%s\":[", key);
    for (int i = 0; i < n; i++)
        printf("%s%.3f", i ? "," : "", s[i]);
    printf("]");
}

static long pid_status_kb(pid_t pid, const char *field) {
    char path[64];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/status");
    FILE *f = fopen(path, "r");
    char line[256];
    long v = -1;
    size_t fl = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, fl) && line[fl] == ':')
            v = strtol(line + fl + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static long status_kb(const char *field) { return pid_status_kb(0, field); }

/* ---- client ---------------------------------------------------------- */

static nox_client *client(void) {
    nox_client_options o;
    nox_client_options_init(&o, NOX_CLIENT_OPTIONS_VERSION);
    if (A.url) {
        o.backend = NOX_BACKEND_HTTP;
        o.base_url = A.url;
        o.request_timeout_ms = 600000;
    } else {
        o.backend = NOX_BACKEND_LOCAL;
        o.base_dir = A.home;
        o.agent_path = A.agent;
    }
    o.max_archive_bytes = (uint64_t)16 << 30;
    nox_client *c;
    nox_error *e = NULL;
    if (nox_client_new(&c, &o, &e))
        die("client", e);
    return c;
}

static void sandbox(nox_client *c, const char *sid) {
    nox_error *e = NULL;
    nox_sandbox_info *i = NULL;
    if (nox_sandbox_create(c, sid, NULL, &i, &e))
        die("create", e);
    nox_sandbox_info_free(i);
    if (nox_sandbox_wait_ready(c, sid, 30000, &e))
        die("wait_ready", e);
}

static const char *const TRUE_ARGV[] = {"true", NULL};

static int exec_true(nox_client *c, const char *sid, nox_error **e) {
    nox_exec_result *r = NULL;
    int rc = nox_exec(c, sid, TRUE_ARGV, NULL, &r, e);
    if (!rc && nox_exec_result_exit_code(r) != 0)
        rc = 1;
    nox_exec_result_free(r);
    return rc;
}

/* The streaming path (what the Go binding's Exec uses): start, then pull
 * events until EXIT. */
static int exec_true_stream(nox_client *c, const char *sid, nox_error **e) {
    nox_exec_stream *s = NULL;
    int rc = nox_exec_start(c, sid, TRUE_ARGV, NULL, &s, e);
    while (!rc) {
        int kind = 0;
        const uint8_t *d;
        size_t n;
        rc = nox_exec_next(s, 50, &kind, &d, &n, e);
        if (!rc && kind == NOX_EVENT_EXIT) {
            if (nox_exec_result_exit_code(nox_exec_stream_result(s)) != 0)
                rc = 1;
            break;
        }
    }
    nox_exec_stream_free(s);
    return rc;
}

static int stream_mode;

static void print_header(nox_client *c) {
    printf("{\"mode\":\"%s\",\"backend\":\"%s\",\"isolation\":\"%s\",\"version\":\"%s\",",
           A.mode, A.url ? "http" : "local",
           c ? nox_isolation_name(nox_client_isolation(c)) : "n/a", nox_version_string());
}

/* ---- spawn floor and bwrap ------------------------------------------- */

/* With --pipes 1: what any runner that captures output must do at least:
 * stdout and stderr on pipes, read to EOF, then wait. */
static double spawn_once(char *const *argv) {
    pid_t pid;
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    posix_spawn_file_actions_t fa, *fap = NULL;
    int64_t t0 = now_ns();
    if (A.pipes) {
        if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
            die("pipe2", NULL);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_adddup2(&fa, err[1], 2);
        fap = &fa;
    }
    if (posix_spawnp(&pid, argv[0], fap, NULL, argv, environ))
        die("posix_spawnp", NULL);
    if (A.pipes) {
        char buf[4096];
        posix_spawn_file_actions_destroy(&fa);
        close(out[1]);
        close(err[1]);
        while (read(out[0], buf, sizeof buf) > 0)
            ;
        while (read(err[0], buf, sizeof buf) > 0)
            ;
        close(out[0]);
        close(err[0]);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    double us = (double)(now_ns() - t0) / 1e3;
    if (!WIFEXITED(st) || WEXITSTATUS(st)) {
        fprintf(stderr, "nox_bench %s: %s failed (status %d)\n", A.mode, argv[0], st);
        exit(1);
    }
    return us;
}

static int run_spawn(char *const *argv) {
    double *s = calloc((size_t)A.n, sizeof *s);
    for (int i = 0; i < A.warmup; i++)
        spawn_once(argv);
    for (int i = 0; i < A.n; i++)
        s[i] = spawn_once(argv);
    print_header(NULL);
    print_samples("samples_us", s, A.n);
    printf("}\n");
    free(s);
    return 0;
}

static int mode_bwrap(void) {
    /* What a user writes to isolate one command by hand: the system
     * read-only, fresh /proc, /dev and /tmp, the workspace bound
     * read-write, every namespace unshared. */
    char *argv[] = {"bwrap", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
                    "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                    "--symlink", "usr/sbin", "/sbin", "--ro-bind", "/etc", "/etc",
                    "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
                    "--bind", (char *)A.ws, "/workspace", "--chdir", "/workspace",
                    "--unshare-all", "--die-with-parent", "--new-session",
                    (char *)A.cmd, NULL};
    return run_spawn(argv);
}


/* ---- reference HTTP clients ------------------------------------------- */

/* The HTTP exec without our client: the request nox_exec sends (same
 * body, same server, one kept-alive connection), written by hand on a
 * socket or sent through the plainest libcurl loop. They bound what a
 * client on libcurl, or on nothing at all, can reach on this machine. */
static const char REF_BODY[] = "{\"cmd\":[\"true\"],\"env\":{},\"workdir\":\"/workspace\","
                               "\"timeoutSeconds\":30,\"rawOutput\":true}";
static int ref_fd = -1;
static char ref_req[1024];
static CURL *ref_curl;
static struct curl_slist *ref_headers;
static char ref_url[512];
static char ref_resp[16384];
static size_t ref_len;

static void ref_setup(const char *sid) {
    /* http://HOST:PORT, as noxrunnerd prints it */
    char host[256] = "";
    int port = 0;
    if (sscanf(A.url, "http://%255[^:/]:%d", host, &port) != 2)
        die("exec-raw/exec-curl need --url http://HOST:PORT", NULL);
    snprintf(ref_url, sizeof ref_url, "%s/v1/sandboxes/%s/exec", A.url, sid);
    snprintf(ref_req, sizeof ref_req,
             "POST /v1/sandboxes/%s/exec HTTP/1.1\r\nHost: %s:%d\r\n"
             "Accept: application/json\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             sid, host, port, strlen(REF_BODY), REF_BODY);
    if (!strcmp(A.mode, "exec-raw")) {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
        char ps[16];
        snprintf(ps, sizeof ps, "%d", port);
        if (getaddrinfo(host, ps, &hints, &ai) != 0)
            die("getaddrinfo", NULL);
        ref_fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (ref_fd < 0 || connect(ref_fd, ai->ai_addr, ai->ai_addrlen) != 0)
            die("connect", NULL);
        freeaddrinfo(ai);
        int one = 1;
        setsockopt(ref_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    } else {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        ref_curl = curl_easy_init();
        ref_headers = curl_slist_append(NULL, "Content-Type: application/json");
        ref_headers = curl_slist_append(ref_headers, "Accept: application/json");
        ref_headers = curl_slist_append(ref_headers, "Expect:");
        if (!ref_curl || !ref_headers)
            die("curl setup", NULL);
    }
}

static int ref_answer_ok(const char *resp) {
    return !strncmp(resp, "{", 1) ? strstr(resp, "\"exitCode\":0") != NULL : 0;
}

static int exec_true_raw(nox_client *c, const char *sid, nox_error **e) {
    (void)c;
    (void)sid;
    (void)e;
    size_t want = strlen(ref_req);
    if (write(ref_fd, ref_req, want) != (ssize_t)want)
        return 1;
    size_t got = 0;
    for (;;) {
        ssize_t r = read(ref_fd, ref_resp + got, sizeof ref_resp - 1 - got);
        if (r <= 0)
            return 1;
        got += (size_t)r;
        ref_resp[got] = 0;
        char *end = strstr(ref_resp, "\r\n\r\n");
        char *cl = strcasestr(ref_resp, "\r\nContent-Length:");
        if (end && cl && got >= (size_t)(end + 4 - ref_resp) + strtoul(cl + 17, NULL, 10))
            return strncmp(ref_resp, "HTTP/1.1 200", 12) || !ref_answer_ok(end + 4);
        if (got == sizeof ref_resp - 1)
            return 1;
    }
}

static size_t ref_write(char *p, size_t size, size_t n, void *u) {
    (void)u;
    size_t k = size * n;
    if (ref_len + k >= sizeof ref_resp)
        return 0;
    memcpy(ref_resp + ref_len, p, k);
    ref_len += k;
    ref_resp[ref_len] = 0;
    return k;
}

static int exec_true_curl(nox_client *c, const char *sid, nox_error **e) {
    (void)c;
    (void)sid;
    (void)e;
    ref_len = 0;
    curl_easy_setopt(ref_curl, CURLOPT_URL, ref_url);
    curl_easy_setopt(ref_curl, CURLOPT_HTTPHEADER, ref_headers);
    curl_easy_setopt(ref_curl, CURLOPT_POSTFIELDS, REF_BODY);
    curl_easy_setopt(ref_curl, CURLOPT_WRITEFUNCTION, ref_write);
    curl_easy_setopt(ref_curl, CURLOPT_NOSIGNAL, 1L);
    long st = 0;
    if (curl_easy_perform(ref_curl) != CURLE_OK)
        return 1;
    curl_easy_getinfo(ref_curl, CURLINFO_RESPONSE_CODE, &st);
    return st != 200 || !ref_answer_ok(ref_resp);
}

/* ---- exec ------------------------------------------------------------ */

static int mode_exec(void) {
    int (*exec_fn)(nox_client *, const char *, nox_error **) =
        stream_mode ? exec_true_stream : exec_true;
    nox_client *c = client();
    const char *sid = "bench-exec";
    sandbox(c, sid);
    if (!strcmp(A.mode, "exec-raw") || !strcmp(A.mode, "exec-curl")) {
        ref_setup(sid);
        exec_fn = !strcmp(A.mode, "exec-raw") ? exec_true_raw : exec_true_curl;
    }
    nox_error *e = NULL;
    double *s = calloc((size_t)A.n, sizeof *s);
    for (int i = 0; i < A.warmup; i++)
        if (exec_fn(c, sid, &e))
            die("exec", e);
    for (int i = 0; i < A.n; i++) {
        int64_t t0 = now_ns();
        if (exec_fn(c, sid, &e))
            die("exec", e);
        s[i] = (double)(now_ns() - t0) / 1e3;
    }
    print_header(c);
    print_samples("samples_us", s, A.n);
    printf("}\n");
    if (ref_fd >= 0)
        close(ref_fd);
    if (ref_curl) {
        curl_easy_cleanup(ref_curl);
        curl_slist_free_all(ref_headers);
    }
    nox_sandbox_delete(c, sid, NULL);
    nox_client_free(c);
    free(s);
    return 0;
}

/* ---- create + delete -------------------------------------------------- */

static int mode_create(void) {
    /* --ballast-mb: create from a process holding that much memory, as a
     * big Python or Go program does (starting a process from it must not
     * cost in proportion). */
    size_t ballast = (size_t)A.ballast_mb << 20;
    volatile char *mem = ballast ? malloc(ballast) : NULL;
    if (ballast && !mem)
        die("ballast", NULL);
    for (size_t i = 0; i < ballast; i += 4096)
        mem[i] = 1;
    nox_client *c = client();
    nox_error *e = NULL;
    double *sc = calloc((size_t)A.n, sizeof *sc), *sd = calloc((size_t)A.n, sizeof *sd),
           *st = calloc((size_t)A.n, sizeof *st);
    char sid[64];
    for (int i = -A.warmup; i < A.n; i++) {
        snprintf(sid, sizeof sid, "bench-create-%d", i + A.warmup);
        nox_sandbox_info *info = NULL;
        int64_t t0 = now_ns();
        if (nox_sandbox_create(c, sid, NULL, &info, &e))
            die("create", e);
        int64_t t1 = now_ns();
        if (nox_sandbox_delete(c, sid, &e))
            die("delete", e);
        int64_t t2 = now_ns();
        nox_sandbox_info_free(info);
        if (i >= 0) {
            sc[i] = (double)(t1 - t0) / 1e3;
            sd[i] = (double)(t2 - t1) / 1e3;
            st[i] = (double)(t2 - t0) / 1e3;
        }
    }
    print_header(c);
    print_samples("samples_us", st, A.n);
    printf(",");
    print_samples("create_us", sc, A.n);
    printf(",");
    print_samples("delete_us", sd, A.n);
    printf("}\n");
    nox_client_free(c);
    free(sc);
    free(sd);
    free(st);
    free((void *)mem);
    return 0;
}

/* ---- upload + download ------------------------------------------------ */

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

static long long tree_bytes;
static int sum_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)p;
    (void)f;
    if (flag == FTW_F)
        tree_bytes += sb->st_size;
    return 0;
}

static int mode_xfer(void) {
    nox_client *c = client();
    const char *sid = "bench-xfer";
    sandbox(c, sid);
    nox_error *e = NULL;
    tree_bytes = 0;
    nftw(A.src, sum_entry, 16, FTW_PHYS);
    double *su = calloc((size_t)A.n, sizeof *su), *sd = calloc((size_t)A.n, sizeof *sd),
           *st = calloc((size_t)A.n, sizeof *st);
    for (int i = -A.warmup; i < A.n; i++) {
        nftw(A.out, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        int64_t t0 = now_ns();
        if (nox_upload_dir(c, sid, A.src, "/workspace/data", &e))
            die("upload_dir", e);
        int64_t t1 = now_ns();
        if (nox_download_to_dir(c, sid, "/workspace/data", A.out, &e))
            die("download_to_dir", e);
        int64_t t2 = now_ns();
        if (i >= 0) {
            su[i] = (double)(t1 - t0) / 1e3;
            sd[i] = (double)(t2 - t1) / 1e3;
            st[i] = (double)(t2 - t0) / 1e3;
        }
    }
    long long got = tree_bytes;
    tree_bytes = 0;
    nftw(A.out, sum_entry, 16, FTW_PHYS);
    if (tree_bytes != got) {
        fprintf(stderr, "nox_bench xfer: downloaded %lld bytes, uploaded %lld\n", tree_bytes,
                got);
        exit(1);
    }
    nftw(A.out, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    print_header(c);
    printf("\"bytes\":%lld,\"vmhwm_kb\":%ld,", got, status_kb("VmHWM"));
    print_samples("samples_us", st, A.n);
    printf(",");
    print_samples("upload_us", su, A.n);
    printf(",");
    print_samples("download_us", sd, A.n);
    printf("}\n");
    nox_sandbox_delete(c, sid, NULL);
    nox_client_free(c);
    return 0;
}

/* ---- threads ---------------------------------------------------------- */

typedef struct {
    nox_client *c;
    int idx;
    int errors;
    double *lat;
    char first_error[256];
} worker;

static pthread_barrier_t start_line;

static void *work(void *arg) {
    worker *w = arg;
    char sid[64];
    snprintf(sid, sizeof sid, "bench-thr-%d", w->idx % A.sandboxes);
    pthread_barrier_wait(&start_line);
    for (int i = 0; i < A.n; i++) {
        nox_error *e = NULL;
        int64_t t0 = now_ns();
        int rc = exec_true(w->c, sid, &e);
        w->lat[i] = (double)(now_ns() - t0) / 1e3;
        if (rc) {
            if (!w->errors++)
                snprintf(w->first_error, sizeof w->first_error, "%s",
                         e ? nox_error_message(e) : "exit code not 0");
        }
        nox_error_free(e);
    }
    return NULL;
}

static int mode_threads(void) {
    nox_client *c = client();
    char sid[64];
    for (int k = 0; k < A.sandboxes; k++) {
        snprintf(sid, sizeof sid, "bench-thr-%d", k);
        sandbox(c, sid);
        nox_error *e = NULL;
        for (int i = 0; i < A.warmup; i++)
            if (exec_true(c, sid, &e))
                die("exec", e);
    }
    worker *w = calloc((size_t)A.threads, sizeof *w);
    pthread_t *t = calloc((size_t)A.threads, sizeof *t);
    pthread_barrier_init(&start_line, NULL, (unsigned)A.threads + 1);
    for (int i = 0; i < A.threads; i++) {
        w[i].c = c;
        w[i].idx = i;
        w[i].lat = calloc((size_t)A.n, sizeof(double));
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    pthread_barrier_wait(&start_line);
    int64_t t0 = now_ns();
    for (int i = 0; i < A.threads; i++)
        pthread_join(t[i], NULL);
    double secs = (double)(now_ns() - t0) / 1e9;
    int errors = 0;
    const char *first = "";
    for (int i = 0; i < A.threads; i++) {
        errors += w[i].errors;
        if (w[i].errors && !*first)
            first = w[i].first_error;
    }
    print_header(c);
    printf("\"threads\":%d,\"sandboxes\":%d,\"execs\":%d,\"errors\":%d,\"seconds\":%.6f,"
           "\"execs_per_sec\":%.2f,\"first_error\":\"",
           A.threads, A.sandboxes, A.threads * A.n, errors, secs, A.threads * A.n / secs);
    for (const char *p = first; *p; p++)
        if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
            putchar(*p);
    printf("\",");
    double *all = calloc((size_t)A.threads * (size_t)A.n, sizeof *all);
    for (int i = 0; i < A.threads; i++)
        memcpy(all + (size_t)i * (size_t)A.n, w[i].lat, (size_t)A.n * sizeof(double));
    print_samples("samples_us", all, A.threads * A.n);
    printf("}\n");
    for (int k = 0; k < A.sandboxes; k++) {
        snprintf(sid, sizeof sid, "bench-thr-%d", k);
        nox_sandbox_delete(c, sid, NULL);
    }
    nox_client_free(c);
    return 0;
}

/* ---- many sandboxes ---------------------------------------------------- */

/* Pss and Rss (kB) of pid and every descendant. */
static void tree_mem(pid_t pid, long *pss, long *rss, int *procs) {
    char path[384], line[256];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    ++*procs;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "Pss:", 4))
            *pss += strtol(line + 4, NULL, 10);
        else if (!strncmp(line, "Rss:", 4))
            *rss += strtol(line + 4, NULL, 10);
    }
    fclose(f);
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/%d/task/%s/children", (int)pid, de->d_name);
        FILE *cf = fopen(path, "r");
        int child;
        while (cf && fscanf(cf, "%d", &child) == 1)
            tree_mem(child, pss, rss, procs);
        if (cf)
            fclose(cf);
    }
    if (d)
        closedir(d);
}

/* The agents of the sandboxes under home: the "pid" of each session's
 * meta.json. */
static int agent_pids(pid_t *out, int max) {
    DIR *d = opendir(A.home);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d)) && n < max) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096], buf[4096];
        snprintf(path, sizeof path, "%s/%s/meta.json", A.home, de->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t k = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (k <= 0)
            continue;
        buf[k] = 0;
        char *p = strstr(buf, "\"agentPid\"");
        if (p && (p = strchr(p, ':')))
            out[n++] = (pid_t)strtol(p + 1, NULL, 10);
    }
    if (d)
        closedir(d);
    return n;
}

static int mode_many(void) {
    nox_client *c = client();
    nox_error *e = NULL;
    char sid[64];
    double *sc = calloc((size_t)A.count, sizeof *sc), *se = calloc((size_t)A.count, sizeof *se);
    int created = 0, ok = 0;
    char first[256] = "";
    for (int i = 0; i < A.count; i++) {
        snprintf(sid, sizeof sid, "bench-many-%d", i);
        nox_sandbox_info *info = NULL;
        int64_t t0 = now_ns();
        if (nox_sandbox_create(c, sid, NULL, &info, &e)) {
            if (!*first)
                snprintf(first, sizeof first, "create %d: %s", i, nox_error_message(e));
            nox_error_free(e);
            e = NULL;
            continue;
        }
        sc[created++] = (double)(now_ns() - t0) / 1e3;
        nox_sandbox_info_free(info);
    }
    /* Every sandbox, all live at once, must answer an exec. */
    for (int i = 0; i < A.count; i++) {
        snprintf(sid, sizeof sid, "bench-many-%d", i);
        int64_t t0 = now_ns();
        if (exec_true(c, sid, &e) == 0)
            se[ok++] = (double)(now_ns() - t0) / 1e3;
        else if (!*first)
            snprintf(first, sizeof first, "exec %d: %s", i, e ? nox_error_message(e) : "exit");
        nox_error_free(e);
        e = NULL;
    }
    /* Idle: let the exec's short-lived allocations settle. */
    sleep(1);
    pid_t *pids = calloc((size_t)A.count + 16, sizeof *pids);
    int np = agent_pids(pids, A.count + 16);
    long pss = 0, rss = 0;
    int procs = 0;
    for (int i = 0; i < np; i++)
        tree_mem(pids[i], &pss, &rss, &procs);
    double del_s;
    int64_t t0 = now_ns();
    for (int i = 0; i < A.count; i++) {
        snprintf(sid, sizeof sid, "bench-many-%d", i);
        nox_sandbox_delete(c, sid, NULL);
    }
    del_s = (double)(now_ns() - t0) / 1e9;
    print_header(c);
    /* Per sandbox only over agents found: none found is null (not
     * measured), never 0 kB. */
    char pss_per[32] = "null", rss_per[32] = "null";
    if (np) {
        snprintf(pss_per, sizeof pss_per, "%.1f", (double)pss / np);
        snprintf(rss_per, sizeof rss_per, "%.1f", (double)rss / np);
    }
    printf("\"count\":%d,\"created\":%d,\"responded\":%d,\"agents\":%d,\"processes\":%d,"
           "\"pss_kb\":%ld,\"rss_kb\":%ld,\"pss_kb_per_sandbox\":%s,\"rss_kb_per_sandbox\":%s,"
           "\"delete_all_seconds\":%.3f,\"first_error\":\"",
           A.count, created, ok, np, procs, pss, rss, pss_per, rss_per, del_s);
    for (const char *p = first; *p; p++)
        if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
            putchar(*p);
    printf("\",");
    print_samples("create_us", sc, created);
    printf(",");
    print_samples("samples_us", se, ok);
    printf("}\n");
    nox_client_free(c);
    return 0;
}

/* ---- exec through noxrunner-mcp over stdio ---------------------------- */

/* A noxrunner-mcp child on two pipes: requests are written whole, answers
 * read a line at a time. The driver is C so that what is timed is the
 * server (and the two pipe hops), not a client's JSON library. */
typedef struct mcp_peer {
    const char *path, *sid;
    pid_t pid;
    int to, from;
    FILE *in;
    char *line;
    size_t line_cap;
    long id;
} mcp_peer;

static void mcp_start(mcp_peer *p) {
    int to[2], from[2];
    /* close-on-exec: a second server must not hold the first one's stdin
     * open (dup2 onto 0 and 1 clears the flag for the child's own) */
    if (pipe2(to, O_CLOEXEC) || pipe2(from, O_CLOEXEC))
        die("pipe", NULL);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from[1], 1);
    char *av[] = {(char *)p->path, "--local", NULL};
    if (posix_spawn(&p->pid, p->path, &fa, NULL, av, environ) != 0)
        die(p->path, NULL);
    posix_spawn_file_actions_destroy(&fa);
    close(to[0]);
    close(from[1]);
    p->to = to[1];
    p->from = from[0];
    p->in = fdopen(p->from, "r");
}

/* Send one request and read lines until its answer (notifications are
 * skipped); returns the answer line, which stays valid until the next. */
static const char *mcp_rpc(mcp_peer *p, const char *method, const char *params) {
    char req[1024];
    int n = snprintf(req, sizeof req, "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"%s\","
                                      "\"params\":%s}\n", ++p->id, method, params);
    if (write(p->to, req, (size_t)n) != n)
        die("write to noxrunner-mcp", NULL);
    char want[48];
    snprintf(want, sizeof want, "\"id\":%ld,", p->id);
    for (;;) {
        if (getline(&p->line, &p->line_cap, p->in) < 0) {
            fprintf(stderr, "nox_bench mcp-exec: %s closed stdout\n", p->path);
            exit(1);
        }
        if (strstr(p->line, want))
            return p->line;
    }
}

static void mcp_open(mcp_peer *p, const char *path, const char *sid) {
    memset(p, 0, sizeof *p);
    p->path = path;
    p->sid = sid;
    mcp_start(p);
    const char *a = mcp_rpc(p, "initialize", "{\"protocolVersion\":\"2025-11-25\","
                                             "\"capabilities\":{},\"clientInfo\":{\"name\":"
                                             "\"nox_bench\",\"version\":\"1\"}}");
    if (!strstr(a, "\"result\""))
        goto bad;
    const char note[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";
    if (write(p->to, note, sizeof note - 1) != (ssize_t)(sizeof note - 1))
        die("write to noxrunner-mcp", NULL);
    char params[256];
    snprintf(params, sizeof params,
             "{\"name\":\"create_sandbox\",\"arguments\":{\"session_id\":\"%s\"}}", sid);
    a = mcp_rpc(p, "tools/call", params);
    if (strstr(a, "\"isError\":false"))
        return;
bad:
    fprintf(stderr, "nox_bench mcp-exec: %s answered: %s", path, p->line);
    exit(1);
}

static int mcp_exec_true(mcp_peer *p) {
    char params[256];
    snprintf(params, sizeof params,
             "{\"name\":\"exec\",\"arguments\":{\"session_id\":\"%s\",\"argv\":[\"true\"]}}",
             p->sid);
    const char *a = mcp_rpc(p, "tools/call", params);
    if (strstr(a, "\"isError\":false") && strstr(a, "\"exit_code\":0"))
        return 0;
    fprintf(stderr, "nox_bench mcp-exec: %s answered: %s", p->path, a);
    return 1;
}

/* Close stdin (the server deletes its sandbox and exits) and reap it. */
static void mcp_close(mcp_peer *p) {
    close(p->to);
    int st = 0;
    waitpid(p->pid, &st, 0);
    fclose(p->in);
    free(p->line);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double quant(const double *v, int n, double q) {
    double *s = malloc((size_t)n * sizeof *s);
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double pos = (n - 1) * q, lo = s[(int)pos], hi = s[(int)pos + ((int)pos + 1 < n)];
    double r = lo + (hi - lo) * (pos - (int)pos);
    free(s);
    return r;
}

/* Implementations timed in mode_mcp_exec: 0 is nox_exec() here, then the
 * servers; each round runs all, in an order that rotates. */
typedef struct mcp_impl {
    const char *key;
    mcp_peer *peer; /* NULL: nox_exec */
    int ping;       /* a ping round trip instead of exec (the pipes' floor) */
    double *s;      /* rounds * n samples */
    double *med;    /* per round */
} mcp_impl;

static void mcp_time_one(mcp_impl *im, nox_client *c, int round) {
    nox_error *e = NULL;
    double *s = im->s + (size_t)round * (size_t)A.n;
    for (int i = 0; i < A.n; i++) {
        int64_t t0 = now_ns();
        int rc = im->ping   ? !strstr(mcp_rpc(im->peer, "ping", "{}"), "\"result\"")
                 : im->peer ? mcp_exec_true(im->peer)
                            : exec_true(c, "bench-exec", &e);
        s[i] = (double)(now_ns() - t0) / 1e3;
        if (rc)
            die("exec", e);
    }
    im->med[round] = quant(s, A.n, 0.5);
}

/* Median over rounds of (impl's round median - C's round median). */
static double paired(const mcp_impl *im, const mcp_impl *c) {
    double *d = malloc((size_t)A.rounds * sizeof *d);
    for (int r = 0; r < A.rounds; r++)
        d[r] = im->med[r] - c->med[r];
    double v = quant(d, A.rounds, 0.5);
    free(d);
    return v;
}

static void mcp_report(nox_client *c, mcp_impl *im, int k, const long rss[][2],
                       int rss_calls) {
    print_header(c);
    printf("\"n\":%d,\"rounds\":%d,\"rss_calls\":%d,\"impls\":{", A.n, A.rounds, rss_calls);
    for (int j = 0; j < k; j++) {
        printf("%s\"%s\":{", j ? "," : "", im[j].key);
        print_samples("samples_us", im[j].s, A.n * A.rounds);
        printf(",");
        print_samples("round_medians_us", im[j].med, A.rounds);
        if (j > 0 && !im[j].ping)
            printf(",\"path\":\"%s\",\"overhead_us\":%.3f,\"rss_kb_before\":%ld,"
                   "\"rss_kb_after\":%ld",
                   im[j].peer->path, paired(&im[j], &im[0]), rss[j][0], rss[j][1]);
        printf("}");
    }
    printf("}}\n");
    for (int j = 0; j < k; j++) {
        int all = A.n * A.rounds;
        fprintf(stderr, "%-8s median %7.1f us  p90 %7.1f us", im[j].key,
                quant(im[j].s, all, 0.5), quant(im[j].s, all, 0.9));
        if (j > 0 && !im[j].ping)
            fprintf(stderr, "  overhead %+7.1f us (paired by round)  RSS %ld -> %ld kB "
                            "over %d calls  [%s]",
                    paired(&im[j], &im[0]), rss[j][0], rss[j][1], rss_calls, im[j].peer->path);
        fprintf(stderr, "\n");
    }
    if (k > 2 && !im[2].ping)
        fprintf(stderr, "mcp - mcp_old: %+.1f us (paired by round)\n", paired(&im[1], &im[2]));
}

static int mode_mcp_exec(void) {
    if (!A.mcp || !A.home) {
        fprintf(stderr, "nox_bench mcp-exec needs --mcp PATH and --home DIR\n");
        return 2;
    }
    /* the servers use the same home and agent as the client here */
    setenv("NOXRUNNER_HOME", A.home, 1);
    if (A.agent)
        setenv("NOXRUNNER_AGENT", A.agent, 1);
    nox_client *c = client();
    sandbox(c, "bench-exec");
    mcp_peer peers[2];
    mcp_impl im[4] = {{.key = "c"}, {.key = "mcp", .peer = &peers[0]},
                      {.key = "mcp_old", .peer = &peers[1]}};
    int k = A.mcp_old ? 3 : 2;
    im[k++] = (mcp_impl){.key = "mcp_ping", .peer = &peers[0], .ping = 1};
    mcp_open(&peers[0], A.mcp, "bench-mcp");
    if (A.mcp_old)
        mcp_open(&peers[1], A.mcp_old, "bench-mcp-old");
    long rss[4][2] = {{0}};
    for (int j = 0; j < k; j++) {
        im[j].s = calloc((size_t)A.n * (size_t)A.rounds, sizeof(double));
        im[j].med = calloc((size_t)A.rounds, sizeof(double));
        nox_error *e = NULL;
        for (int i = 0; i < (im[j].ping ? 0 : A.warmup); i++)
            if (im[j].peer ? mcp_exec_true(im[j].peer) : exec_true(c, "bench-exec", &e))
                die("warm-up exec", e);
        if (im[j].peer && !im[j].ping)
            rss[j][0] = pid_status_kb(im[j].peer->pid, "VmRSS");
    }
    for (int r = 0; r < A.rounds; r++)
        for (int j = 0; j < k; j++)
            mcp_time_one(&im[(r + j) % k], c, r);
    /* RSS after at least --rss-calls timed or further calls */
    int extra = A.rss_calls - A.n * A.rounds;
    for (int j = 1; j < k && !im[j].ping; j++) {
        for (int i = 0; i < extra; i++)
            if (mcp_exec_true(im[j].peer))
                exit(1);
        rss[j][1] = pid_status_kb(im[j].peer->pid, "VmRSS");
    }
    int calls = extra > 0 ? A.rss_calls : A.n * A.rounds;
    mcp_report(c, im, k, (const long(*)[2])rss, calls);
    for (int j = 1; j < k && !im[j].ping; j++)
        mcp_close(im[j].peer);
    for (int j = 0; j < k; j++) {
        free(im[j].s);
        free(im[j].med);
    }
    nox_sandbox_delete(c, "bench-exec", NULL);
    nox_client_free(c);
    return 0;
}

/* ---- main ------------------------------------------------------------- */

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: nox_bench MODE [--n N] [--warmup W] [--home D|--url U] ...\n");
        return 2;
    }
    A.mode = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--n"))
            A.n = atoi(v);
        else if (!strcmp(k, "--warmup"))
            A.warmup = atoi(v);
        else if (!strcmp(k, "--home"))
            A.home = v;
        else if (!strcmp(k, "--url"))
            A.url = v;
        else if (!strcmp(k, "--agent"))
            A.agent = v;
        else if (!strcmp(k, "--cmd"))
            A.cmd = v;
        else if (!strcmp(k, "--ws"))
            A.ws = v;
        else if (!strcmp(k, "--src"))
            A.src = v;
        else if (!strcmp(k, "--out"))
            A.out = v;
        else if (!strcmp(k, "--threads"))
            A.threads = atoi(v);
        else if (!strcmp(k, "--sandboxes"))
            A.sandboxes = atoi(v);
        else if (!strcmp(k, "--pipes"))
            A.pipes = atoi(v);
        else if (!strcmp(k, "--ballast-mb"))
            A.ballast_mb = atoi(v);
        else if (!strcmp(k, "--count"))
            A.count = atoi(v);
        else if (!strcmp(k, "--mcp"))
            A.mcp = v;
        else if (!strcmp(k, "--mcp-old"))
            A.mcp_old = v;
        else if (!strcmp(k, "--rounds"))
            A.rounds = atoi(v);
        else if (!strcmp(k, "--rss-calls"))
            A.rss_calls = atoi(v);
        else {
            fprintf(stderr, "nox_bench: unknown option %s\n", k);
            return 2;
        }
    }
    if (A.n < 1)
        A.n = 1;
    if (!strcmp(A.mode, "spawn")) {
        char *av[] = {(char *)A.cmd, NULL};
        return run_spawn(av);
    }
    if (!strcmp(A.mode, "bwrap"))
        return mode_bwrap();
    if (!strcmp(A.mode, "exec") || !strcmp(A.mode, "exec-raw") ||
        !strcmp(A.mode, "exec-curl"))
        return mode_exec();
    if (!strcmp(A.mode, "exec-stream")) {
        stream_mode = 1;
        return mode_exec();
    }
    if (!strcmp(A.mode, "create"))
        return mode_create();
    if (!strcmp(A.mode, "xfer"))
        return mode_xfer();
    if (!strcmp(A.mode, "threads"))
        return mode_threads();
    if (!strcmp(A.mode, "many"))
        return mode_many();
    if (!strcmp(A.mode, "mcp-exec"))
        return mode_mcp_exec();
    fprintf(stderr, "nox_bench: unknown mode %s\n", A.mode);
    return 2;
}

/* main.c - noxrunner-mcp: the MCP server on stdio.
 *
 * Newline-delimited JSON-RPC 2.0 on stdin and stdout, logs on stderr.
 * One thread at a time reads lines (so a notifications/cancelled is seen
 * while a command runs) and answers everything but tools/call itself; a
 * tools/call runs on the thread that read it, which first lets another
 * thread read on (leader/followers; at most --max-calls calls at once).
 * On stdin EOF, SIGTERM or SIGINT: running commands are cancelled, and
 * the sandboxes this server created are deleted unless --keep-sandboxes.
 */
#include "mcp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SHUTDOWN_WAIT_MS 5000

typedef struct options {
    mcp_config cfg;
    const char *url, *token;
    int local;
    uint64_t max_line;
} options;

typedef struct out_stream {
    pthread_mutex_t lock;
    int broken;
} out_stream;

/* The self-pipe the signal handler writes to (a handler has no context). */
static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t w = write(signal_pipe[1], &b, 1);
    (void)w;
    errno = saved;
}

static void on_sigpipe(int sig) { (void)sig; }

static void stdio_send(void *ctx, const char *json) {
    out_stream *o = ctx;
    pthread_mutex_lock(&o->lock);
    if (!o->broken && (fputs(json, stdout) == EOF || fputc('\n', stdout) == EOF ||
                       fflush(stdout) == EOF)) {
        o->broken = 1;
        fprintf(stderr, "noxrunner-mcp: writing stdout failed: %s\n", strerror(errno));
    }
    pthread_mutex_unlock(&o->lock);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: noxrunner-mcp [options]\n"
            "MCP server (stdio) for NoxRunner sandboxes.\n"
            "  --url URL             use a NoxRunner server (default: $NOXRUNNER_BASE_URL\n"
            "                        if set, else the local sandbox backend)\n"
            "  --token TOKEN         bearer token for --url (default: $NOXRUNNER_API_KEY)\n"
            "  --local               the local backend even if $NOXRUNNER_BASE_URL is set\n"
            "  --ttl SECONDS         TTL of sandboxes made here when not given (600)\n"
            "  --max-sandboxes N     sandboxes this server may hold at once (16; 0: any)\n"
            "  --max-output-bytes N  cap of exec stdout/stderr and read_file (1048576)\n"
            "  --max-archive-bytes N cap of upload/download_archive (67108864)\n"
            "  --max-calls N         tool calls running at once (32)\n"
            "  --keep-sandboxes      do not delete this server's sandboxes on exit\n"
            "  --version, --help\n");
}

static int parse_u64(const char *flag, const char *v, uint64_t lo, uint64_t hi, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long n = v ? strtoull(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || v[0] == '-' || n < lo || n > hi) {
        fprintf(stderr, "noxrunner-mcp: %s needs a number in %llu..%llu, got \"%s\"\n", flag,
                (unsigned long long)lo, (unsigned long long)hi, v ? v : "");
        return -1;
    }
    *out = n;
    return 0;
}

/* One numeric flag; 1 when argv[*i] was one, 0 when not, -1 on error. */
static int number_flag(options *o, int argc, char **argv, int *i) {
    static const struct {
        const char *name;
        uint64_t lo, hi;
    } F[] = {{"--ttl", 1, 2592000},
             {"--max-sandboxes", 0, 100000},
             {"--max-output-bytes", 1, 1ull << 34},
             {"--max-archive-bytes", 1, 1ull << 34},
             {"--max-calls", 1, 1024}};
    for (size_t k = 0; k < sizeof F / sizeof *F; k++) {
        if (strcmp(argv[*i], F[k].name) != 0)
            continue;
        uint64_t v = 0;
        const char *arg = *i + 1 < argc ? argv[++*i] : NULL;
        if (parse_u64(F[k].name, arg, F[k].lo, F[k].hi, &v) != 0)
            return -1;
        switch (k) {
        case 0: o->cfg.default_ttl = (int32_t)v; break;
        case 1: o->cfg.max_sandboxes = (int32_t)v; break;
        case 2: o->cfg.max_output_bytes = v; break;
        case 3: o->cfg.max_archive_bytes = v; break;
        default: o->cfg.max_calls = (int32_t)v; break;
        }
        return 1;
    }
    return 0;
}

/* 0: run; 1: exit 0 (help, version); -1: exit 2. */
static int parse_args(options *o, int argc, char **argv) {
    mcp_config_defaults(&o->cfg);
    for (int i = 1; i < argc; i++) {
        int rc = number_flag(o, argc, argv, &i);
        if (rc < 0)
            return -1;
        if (rc > 0)
            continue;
        if ((strcmp(argv[i], "--url") == 0 || strcmp(argv[i], "--token") == 0) &&
            i + 1 < argc) {
            *(argv[i][2] == 'u' ? &o->url : &o->token) = argv[i + 1];
            i++;
        } else if (strcmp(argv[i], "--local") == 0) {
            o->local = 1;
        } else if (strcmp(argv[i], "--keep-sandboxes") == 0) {
            o->cfg.keep_sandboxes = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("noxrunner-mcp %s\n", nox_version_string());
            return 1;
        } else {
            fprintf(stderr, "noxrunner-mcp: unknown or incomplete option \"%s\"\n", argv[i]);
            usage(stderr);
            return -1;
        }
    }
    const char *env_url = getenv("NOXRUNNER_BASE_URL");
    if (!o->url && !o->local && env_url && *env_url)
        o->url = env_url;
    if (o->local)
        o->url = NULL;
    /* a line holds at most one base64 archive and some JSON around it */
    o->max_line = o->cfg.max_archive_bytes / 3 * 4 + (1u << 20);
    return 0;
}

static nox_client *make_client(const options *o) {
    nox_client_options co;
    nox_client_options_init(&co, NOX_CLIENT_OPTIONS_VERSION);
    co.backend = o->url ? NOX_BACKEND_HTTP : NOX_BACKEND_LOCAL;
    co.base_url = o->url;
    co.api_key = o->token;
    co.max_output_bytes = o->cfg.max_output_bytes;
    nox_client *c = NULL;
    nox_error *err = NULL;
    if (nox_client_new(&c, &co, &err) != 0) {
        fprintf(stderr, "noxrunner-mcp: cannot set up the %s backend: %s\n",
                o->url ? "HTTP" : "local", nox_error_message(err));
        nox_error_free(err);
        return NULL;
    }
    return c;
}

/* Leader/followers: one thread at a time (the leader) reads stdin and
 * answers what needs no tool; when a line is a tools/call, the leader
 * wakes a follower (or makes one) to read on, and runs the call itself,
 * so the request never waits for another thread to wake up. Threads are
 * kept (at most --max-calls running calls plus the reader). The main
 * thread only waits for the end (EOF, a signal) and shuts down. */
typedef struct reader {
    char *buf;
    size_t len, pos, cap, max; /* pos: lines before it are handled */
    int discarding;            /* inside a line longer than max */
} reader;

typedef struct pool {
    pthread_mutex_t lock;
    pthread_cond_t follow; /* a follower may lead */
    pthread_cond_t gone;   /* a thread ended, or the input did */
    int leading, idle, threads, stop, input_rc, input_done;
    mcp_server *s;
    out_stream *out;
    reader r; /* only the leader touches it */
} pool;

/* The next line's tools/call from what is buffered, or NULL when the
 * buffer holds no whole line more. */
static mcp_call *next_call(pool *p) {
    reader *r = &p->r;
    char *nl;
    if (!r->buf) /* nothing read yet */
        return NULL;
    while ((nl = memchr(r->buf + r->pos, '\n', r->len - r->pos))) {
        const char *line = r->buf + r->pos;
        size_t n = (size_t)(nl - line), k = 0;
        r->pos += n + 1;
        mcp_call *call = NULL;
        if (r->discarding) {
            r->discarding = 0;
            mcp_send_error(stdio_send, p->out, NULL, MCP_INVALID_REQUEST,
                           "Invalid Request: message longer than this server's line limit "
                           "(see --max-archive-bytes)",
                           NULL);
            continue;
        }
        while (k < n && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
            k++;
        if (k < n) /* blank lines are not messages */
            mcp_handle_message(p->s, line, n, stdio_send, p->out, &call);
        if (call)
            return call;
    }
    memmove(r->buf, r->buf + r->pos, r->len - r->pos);
    r->len -= r->pos;
    r->pos = 0;
    if (r->len > r->max) { /* drop the rest of an over-long line */
        r->discarding = 1;
        r->len = 0;
    }
    return NULL;
}

/* Read more of stdin into the buffer: 1 read, 0 EOF or a signal, -1 error. */
static int fill(reader *r) {
    for (;;) {
        struct pollfd fds[2] = {{.fd = 0, .events = POLLIN},
                                {.fd = signal_pipe[0], .events = POLLIN}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (fds[1].revents) {
            fprintf(stderr, "noxrunner-mcp: signal received, shutting down\n");
            return 0;
        }
        if (r->discarding && r->cap > (1u << 20)) { /* give the big buffer back */
            free(r->buf);
            r->buf = NULL;
            r->cap = 0;
        }
        if (r->cap - r->len < 65536) {
            size_t cap = r->cap ? r->cap * 2 : 1 << 17;
            char *grown = realloc(r->buf, cap);
            if (!grown)
                return -1;
            r->buf = grown;
            r->cap = cap;
        }
        ssize_t n = read(0, r->buf + r->len, r->cap - r->len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return n < 0 ? -1 : 0;
        r->len += (size_t)n;
        return 1;
    }
}

/* Lead until a tools/call comes (returned) or the input ends (NULL, with
 * p->input_done set). Called without p->lock. */
static mcp_call *lead(pool *p) {
    for (;;) {
        mcp_call *call = next_call(p);
        if (call)
            return call;
        int rc = fill(&p->r);
        if (rc <= 0) {
            pthread_mutex_lock(&p->lock);
            p->input_done = 1;
            p->input_rc = rc;
            pthread_cond_broadcast(&p->gone);
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
    }
}

static void *worker(void *arg);

/* With p->lock held: let a follower lead, making one when none waits.
 * 0, or -1 when there is none and none could be made. */
static int promote(pool *p) {
    if (p->idle == 0) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &attr, worker, p);
        pthread_attr_destroy(&attr);
        if (rc != 0)
            return -1;
        p->threads++;
        return 0;
    }
    pthread_cond_signal(&p->follow);
    return 0;
}

static void *worker(void *arg) {
    pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->leading && !p->stop && !p->input_done) {
            p->idle++;
            pthread_cond_wait(&p->follow, &p->lock);
            p->idle--;
        }
        if (p->stop || p->input_done)
            break;
        p->leading = 1;
        pthread_mutex_unlock(&p->lock);
        mcp_call *call = lead(p);
        pthread_mutex_lock(&p->lock);
        p->leading = 0;
        if (!call)
            break;
        if (promote(p) != 0) /* nobody reads while it runs: still run it */
            fprintf(stderr, "noxrunner-mcp: no thread to read on during a tool call\n");
        pthread_mutex_unlock(&p->lock);
        mcp_call_run(call);
        pthread_mutex_lock(&p->lock);
    }
    p->threads--;
    pthread_cond_broadcast(&p->follow); /* the others see the end too */
    pthread_cond_broadcast(&p->gone);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Start the first leader and wait until the input ends; 0, or -1 when
 * reading failed. */
static int serve(pool *p) {
    pthread_mutex_lock(&p->lock);
    int rc = promote(p);
    while (rc == 0 && !p->input_done)
        pthread_cond_wait(&p->gone, &p->lock);
    if (rc == 0)
        rc = p->input_rc < 0 ? -1 : 0;
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* End the idle threads and wait for them: they use p, which is freed
 * next. 0, or -1 when one is still busy after wait_ms (p must stay). */
static int pool_stop(pool *p, int wait_ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += wait_ms / 1000 + 1;
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_broadcast(&p->follow);
    while (p->threads > 0)
        if (pthread_cond_timedwait(&p->gone, &p->lock, &until) != 0)
            break;
    int left = p->threads;
    pthread_mutex_unlock(&p->lock);
    return left ? -1 : 0;
}

static int setup_signals(void) {
    if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_sigpipe;
    sigaction(SIGPIPE, &sa, NULL);
    return 0;
}

int main(int argc, char **argv) {
    options o;
    memset(&o, 0, sizeof o);
    int rc = parse_args(&o, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (setup_signals() != 0) {
        fprintf(stderr, "noxrunner-mcp: cannot set up signals: %s\n", strerror(errno));
        return 1;
    }
    nox_client *client = make_client(&o);
    if (!client)
        return 1;
    static mcp_server s; /* as noxrunnerd: a stuck call may outlive main */
    out_stream out = {.broken = 0};
    pthread_mutex_init(&out.lock, NULL);
    if (mcp_server_init(&s, client, &o.cfg) != 0) {
        nox_client_free(client);
        return 1;
    }
    fprintf(stderr, "noxrunner-mcp %s: serving MCP on stdio (%s backend%s%s)\n",
            nox_version_string(), o.url ? "HTTP" : "local", o.url ? " at " : "",
            o.url ? o.url : "");
    pool *p = calloc(1, sizeof *p); /* on the heap: threads may outlive main */
    if (!p) {
        fprintf(stderr, "noxrunner-mcp: out of memory\n");
        return 1;
    }
    p->s = &s;
    p->out = &out;
    p->r.max = (size_t)o.max_line;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->follow, NULL);
    pthread_cond_init(&p->gone, NULL);
    rc = serve(p);
    if (rc != 0)
        fprintf(stderr, "noxrunner-mcp: reading stdin failed or no thread to read it\n");
    mcp_server_shutdown(&s, SHUTDOWN_WAIT_MS);
    /* a call still stuck in the client keeps the pool, server and client */
    if (pool_stop(p, SHUTDOWN_WAIT_MS) == 0 && s.running == 0) {
        mcp_server_destroy(&s);
        nox_client_free(client);
        free(p->r.buf);
        free(p);
    }
    return rc == 0 ? 0 : 1;
}

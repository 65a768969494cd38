/* main.c - noxrunnerd: startup, signals and a clean shutdown (flags: options.c).
 *
 * Startup binds, then prints exactly one line on stdout,
 *   noxrunnerd listening on http://HOST:PORT
 * which scripts and tests parse. Everything else goes to stderr.
 *
 * Shutdown (SIGTERM or SIGINT; a second one skips the wait): stop taking
 * connections, let running requests finish for up to --grace seconds,
 * then cancel the execs still running; stop the HTTP daemon; delete the
 * sandboxes this server created unless --keep-sandboxes; exit 0. The
 * signal handler only writes a byte to a pipe; the main thread does the
 * work.
 */
#include "body.h"
#include "front.h"
#include "mcp.h"
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ABORT_WAIT_SECONDS 5

static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t w = write(signal_pipe[1], &b, 1);
    (void)w; /* a full pipe already holds a wake-up */
    errno = saved;
}

/* Writes to a closed client or pipe must fail with EPIPE, not kill the
 * server. A handler (unlike SIG_IGN) is reset by execve, so the sandbox
 * processes the library starts still get the default SIGPIPE. */
static void on_sigpipe(int sig) { (void)sig; }

/* Resolve --host to the address to bind; prefers IPv4 for names like
 * "localhost" that have both. */
static int resolve_host(const char *host, int port, struct sockaddr_storage *out,
                        socklen_t *out_len) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    const char *name = host;
    char buf[256];
    /* Accept "[::1]" as well as "::1". */
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof buf) {
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = 0;
        name = buf;
    }
    int rc = getaddrinfo(name, NULL, &hints, &res);
    if (rc != 0)
        return rc;
    const struct addrinfo *pick = res;
    for (const struct addrinfo *a = res; a; a = a->ai_next)
        if (a->ai_family == AF_INET) {
            pick = a;
            break;
        }
    memcpy(out, pick->ai_addr, pick->ai_addrlen);
    *out_len = pick->ai_addrlen;
    if (out->ss_family == AF_INET)
        ((struct sockaddr_in *)out)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)out)->sin6_port = htons((uint16_t)port);
    freeaddrinfo(res);
    return 0;
}

static int is_loopback(const struct sockaddr_storage *a) {
    if (a->ss_family == AF_INET) {
        uint32_t ip = ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr);
        return (ip >> 24) == 127;
    }
    if (a->ss_family == AF_INET6) {
        const struct in6_addr *ip = &((const struct sockaddr_in6 *)a)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(ip))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(ip) && ip->s6_addr[12] == 127;
    }
    return 0;
}

/* `auto` fell back to `none`: say why once, where an operator looks. */
static void log_isolation_fallback(nox_client *c) {
    cJSON *j = backend_info(c);
    const cJSON *why = j ? cJSON_GetObjectItemCaseSensitive(j, "isolationFallbackReason") : NULL;
    if (cJSON_IsString(why))
        log_msg("warning: sandboxes run without namespace isolation: %s", why->valuestring);
    cJSON_Delete(j);
}

/* libmicrohttpd's format strings are its own; tell the compiler so. */
__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = 0;
    log_msg("http: %s", buf);
}

static int install_signals(void) {
    if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = on_signal;
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return -1;
    sa.sa_handler = on_sigpipe;
    return sigaction(SIGPIPE, &sa, NULL);
}

/* Wait up to ms for a signal byte; returns the signal or 0. */
static int wait_signal(int ms) {
    struct pollfd p = {.fd = signal_pipe[0], .events = POLLIN};
    int rc = poll(&p, 1, ms);
    if (rc <= 0)
        return 0;
    unsigned char b = 0;
    return read(signal_pipe[0], &b, 1) == 1 ? b : 0;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait until no request is running, up to `seconds`; a new signal ends
 * the wait early. Returns 1 when all finished. */
static int wait_idle(server *s, double seconds) {
    double deadline = now_seconds() + seconds;
    while (atomic_load(&s->active_requests) > 0) {
        double left = deadline - now_seconds();
        if (left <= 0)
            return 0;
        if (wait_signal(left < 0.05 ? (int)(left * 1000) + 1 : 50)) {
            log_msg("second signal: not waiting for running requests");
            return 0;
        }
    }
    return 1;
}

static void shutdown_server(server *s) {
    if (!wait_idle(s, s->cfg.grace_seconds)) {
        atomic_store(&s->aborting, 1);
        unsigned n = lifecycle_cancel_streams(s);
        log_msg("%d request(s) still running; canceled %u exec(s)",
                atomic_load(&s->active_requests), n);
        wait_idle(s, ABORT_WAIT_SECONDS);
    }
    /* /mcp's calls: cancel what still runs, delete its sandboxes */
    mcp_server_shutdown(s->mcp, ABORT_WAIT_SECONDS * 1000);
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    front_free(s->front);
    s->front = NULL;
    if (!s->cfg.keep_sandboxes) {
        unsigned n = lifecycle_delete_created(s);
        if (n)
            log_msg("deleted %u sandbox(es) created by this server", n);
    }
}

/* Resolve --host; refuse a non-loopback address without a token (the
 * process exits with SRV_EXIT_USAGE on either failure). */
static void check_bind_address(const srv_config *cfg, struct sockaddr_storage *addr) {
    socklen_t addr_len = 0;
    int grc = resolve_host(cfg->host, cfg->port, addr, &addr_len);
    if (grc != 0)
        options_usage_error("--host: cannot resolve \"%s\": %s", cfg->host, gai_strerror(grc));
    if (!is_loopback(addr) && !cfg->token) {
        fprintf(stderr,
                SRV_NAME ": refusing to listen on non-loopback address \"%s\" without "
                "a token: anyone who can reach it could run commands here. Set "
                "--token or $NOXRUNNER_TOKEN, or bind 127.0.0.1.\n",
                cfg->host);
        exit(SRV_EXIT_USAGE);
    }
}

/* The shared local-backend client every request goes through. */
static int open_client(server *s) {
    const srv_config *cfg = &s->cfg;
    nox_client_options o;
    nox_client_options_init(&o, NOX_CLIENT_OPTIONS_VERSION);
    o.backend = NOX_BACKEND_LOCAL;
    o.base_dir = cfg->base_dir;
    o.agent_path = cfg->agent_path;
    o.isolation = cfg->isolation;
    o.max_output_bytes = cfg->max_output_bytes;
    nox_error *err = NULL;
    if (nox_client_new(&s->client, &o, &err) != 0) {
        fprintf(stderr, SRV_NAME ": cannot set up the local sandbox backend: %s\n",
                err ? nox_error_message(err) : "unknown error");
        nox_error_free(err);
        return -1;
    }
    if (lifecycle_init(s) != 0) {
        fprintf(stderr, SRV_NAME ": out of memory\n");
        return -1;
    }
    mcp_config mc;
    mcp_config_defaults(&mc);
    mc.keep_sandboxes = cfg->keep_sandboxes;
    if (cfg->max_output_bytes)
        mc.max_output_bytes = cfg->max_output_bytes;
    s->mcp = calloc(1, sizeof *s->mcp);
    if (!s->mcp || mcp_server_init(s->mcp, s->client, &mc) != 0) {
        fprintf(stderr, SRV_NAME ": out of memory\n");
        return -1;
    }
    return 0;
}

/* Our own listening socket: the front accepts on it (front.h). */
static int open_listener(const srv_config *cfg, const struct sockaddr_storage *addr) {
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    socklen_t len = addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                : sizeof(struct sockaddr_in);
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
        bind(fd, (const struct sockaddr *)addr, len) == 0 && listen(fd, 511) == 0)
        return fd;
    fprintf(stderr, SRV_NAME ": cannot listen on %s port %d: %s\n", cfg->host, cfg->port,
            strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

/* A connection the front handed over has closed: it stops counting
 * against its address. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    (void)socket_context;
    server *s = cls;
    if (code != MHD_CONNECTION_NOTIFY_CLOSED)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci)
        front_connection_closed(s->front, ci->client_addr);
}

static int start_front(server *s, int listen_fd) {
    const srv_config *cfg = &s->cfg;
    front_config fc = {
        .listen_fd = listen_fd,
        .max_pending = cfg->max_pending,
        .max_per_ip = cfg->max_per_ip,
        .head_timeout_ms = cfg->head_timeout * 1000u,
        .body_timeout_ms = cfg->body_timeout * 1000u,
        .max_head_bytes = (size_t)cfg->max_head_bytes,
    };
    char why[256];
    if (front_start(&s->front, &fc, s->daemon, why, sizeof why) == 0)
        return 0;
    fprintf(stderr, SRV_NAME ": %s\n", why);
    return -1;
}

static int local_port(int fd) {
    struct sockaddr_storage a;
    socklen_t len = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    return ntohs(a.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port
                                         : ((struct sockaddr_in *)&a)->sin_port);
}

static int start_daemon(server *s, const struct sockaddr_storage *addr) {
    const srv_config *cfg = &s->cfg;
    int listen_fd = open_listener(cfg, addr);
    if (listen_fd < 0)
        return -1;
    /* The front accepts and passes complete requests on; the daemon only
     * serves them, one thread each. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     MHD_USE_NO_LISTEN_SOCKET;
    if (addr->ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, router_handle, s,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, /* first, to catch all */
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_URI_LOG_CALLBACK, router_uri_log, s,
        MHD_OPTION_NOTIFY_COMPLETED, router_completed, s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->threads,
        MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout,
        /* Upload bodies reach us in pieces of up to about half of this
         * (the default, 32 KiB, means a callback per 16 KiB). Not more:
         * MHD clears the whole pool between requests, which every exec
         * pays for (512 KiB cost 14 us a request in perf). */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
        MHD_OPTION_END);
    if (!s->daemon) {
        fprintf(stderr, SRV_NAME ": cannot start the HTTP daemon: %s\n", strerror(errno));
        close(listen_fd);
        return -1;
    }
    s->listen_port = local_port(listen_fd);
    if (start_front(s, listen_fd) != 0) {
        MHD_stop_daemon(s->daemon);
        return -1;
    }
    return 0;
}

/* The one line on stdout that scripts wait for, then the startup log. */
static void announce(server *s, const struct sockaddr_storage *addr) {
    int port = s->listen_port;
    char host[INET6_ADDRSTRLEN] = "?";
    int v6 = addr->ss_family == AF_INET6;
    if (v6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr, host,
                  sizeof host);
    else
        inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, host, sizeof host);
    printf(SRV_NAME " listening on http://%s%s%s:%d\n", v6 ? "[" : "", host, v6 ? "]" : "",
           port);
    fflush(stdout);
    log_msg("version %s, isolation %s, auth %s, pid %d", nox_version_string(),
            nox_isolation_name(nox_client_isolation(s->client)),
            s->cfg.token ? "on" : "off", (int)getpid());
    log_isolation_fallback(s->client);
}

int main(int argc, char **argv) {
    static server srv;
    server *s = &srv;
    options_defaults(&s->cfg);
    if (options_parse(&s->cfg, argc, argv) != 0)
        return 0; /* --help or --version */
    if (s->cfg.max_head_bytes > (1u << 20))
        options_usage_error("--max-head-bytes: at most 1M");
    struct sockaddr_storage addr;
    check_bind_address(&s->cfg, &addr);
    if (install_signals() != 0) {
        fprintf(stderr, SRV_NAME ": cannot install signal handlers: %s\n", strerror(errno));
        return 1;
    }
    if (open_client(s) != 0)
        return 1;
    if (start_daemon(s, &addr) != 0) {
        nox_client_free(s->client);
        return 1;
    }
    announce(s, &addr);

    int sig;
    while ((sig = wait_signal(-1)) == 0) {
    }
    log_msg("%s received: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    atomic_store(&s->shutting_down, 1);
    front_stop(s->front); /* no new connections; those waiting get 503 */
    if (front_refused(s->front))
        log_msg("the front refused %lu connection(s) in all", front_refused(s->front));
    shutdown_server(s);
    if (s->mcp->running == 0) { /* else a call stuck in the client keeps both */
        mcp_server_destroy(s->mcp);
        free(s->mcp);
        nox_client_free(s->client);
    }
    lifecycle_destroy(s);
    close(signal_pipe[0]);
    close(signal_pipe[1]);
    log_msg("stopped");
    return 0;
}

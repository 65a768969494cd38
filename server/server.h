/*
 * server.h - what the parts of noxrunnerd share.
 *
 * noxrunnerd turns each HTTP request into the nox_* call a C program would
 * make on a local-backend client. It uses only the public API in
 * noxrunner.h; everything here is the server's own plumbing.
 *
 * Threads: libmicrohttpd runs one thread per connection, so a request
 * that blocks (an exec waiting for its command, a download feeding a
 * pipe) blocks only its own connection. All threads share one nox_client,
 * which is thread-safe by contract, and one `server`.
 */
#ifndef NOXRUNNERD_SERVER_H
#define NOXRUNNERD_SERVER_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "noxrunner/noxrunner.h"

#if defined(__GNUC__)
#define SRV_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SRV_PRINTF(a, b)
#endif

#define SRV_NAME "noxrunnerd"
#define SRV_MAX_REQUEST_ID 128

/* ---- configuration (options.c fills it from flags) ------------------------ */

#define SRV_EXIT_USAGE 2

typedef struct srv_config {
    const char *host;          /* bind address as given */
    int port;                  /* 0: pick a free port */
    const char *token;         /* NULL: no authentication */
    size_t token_len;
    const char *base_dir;      /* NULL: the library's default */
    const char *agent_path;    /* NULL: the library's default */
    int isolation;             /* NOX_ISOLATION_* */
    uint64_t max_body_bytes;   /* JSON request bodies, stdin included */
    uint64_t max_upload_bytes; /* upload request bodies */
    uint64_t max_output_bytes; /* per stream and exec; 0: library default */
    unsigned threads;          /* connection limit (one thread each) */
    unsigned idle_timeout;     /* seconds before an idle connection closes */
    unsigned max_per_ip;       /* connections per client address */
    unsigned max_pending;      /* connections waiting for their request head */
    unsigned head_timeout;     /* seconds for a whole request head */
    unsigned body_timeout;     /* seconds for a small body; then the minimum rate */
    uint64_t max_head_bytes;   /* request line and headers */
    uint64_t min_body_rate;    /* bytes/s a large body must keep up */
    unsigned max_execs;        /* running execs per sandbox */
    unsigned grace_seconds;    /* how long shutdown waits for requests */
    int keep_sandboxes;        /* do not delete our sandboxes on exit */
    int quiet;                 /* no access log */
} srv_config;

/* The defaults --help states. */
void options_defaults(srv_config *cfg);
/* Fill cfg from argv (and $NOXRUNNER_TOKEN). Returns 1 when --help or
 * --version printed their text and the process should exit 0; a usage
 * error prints why and exits with SRV_EXIT_USAGE. */
int options_parse(srv_config *cfg, int argc, char **argv);
/* "noxrunnerd: <message>" and a hint on stderr; exit(SRV_EXIT_USAGE). */
void options_usage_error(const char *fmt, ...) SRV_PRINTF(1, 2) __attribute__((noreturn));

/* ---- the server ----------------------------------------------------------- */

typedef struct srv_stream_node srv_stream_node;
typedef struct srv_sid_node srv_sid_node;
typedef struct srv_busy_node srv_busy_node;

typedef struct server {
    srv_config cfg;
    nox_client *client;
    struct MHD_Daemon *daemon;
    struct front *front;          /* accepts; hands complete heads to daemon */
    int listen_port;

    atomic_int shutting_down;     /* new requests get 503 */
    atomic_int aborting;          /* grace is over: running work is canceled */
    atomic_int active_requests;   /* begun and not yet completed */

    /* lifecycle.c: sandboxes created by this server, running execs */
    pthread_mutex_t lock;
    srv_sid_node *created;
    srv_stream_node *streams;
    srv_busy_node *busy;          /* running execs per sandbox */

    struct mcp_server *mcp;       /* POST /mcp (mcp_http.c, mcp/) */
} server;

/* ---- lifecycle.c ------------------------------------------------------------ */

int lifecycle_init(server *s);
void lifecycle_destroy(server *s);
/* Remember / forget a sandbox this server created. */
void lifecycle_note_created(server *s, const char *sid);
int lifecycle_is_created(server *s, const char *sid);
void lifecycle_forget(server *s, const char *sid);
/* Delete every remembered sandbox; returns how many were deleted. */
unsigned lifecycle_delete_created(server *s);
/* Running execs, so shutdown can cancel them. untrack must come before
 * nox_exec_stream_free(). */
void lifecycle_track_stream(server *s, nox_exec_stream *st);
void lifecycle_untrack_stream(server *s, nox_exec_stream *st);
unsigned lifecycle_cancel_streams(server *s);
/* Count a running exec in sandbox sid: 0, or -1 when sid already runs
 * cfg.max_execs of them. Every successful enter needs one leave. */
int lifecycle_exec_enter(server *s, const char *sid);
void lifecycle_exec_leave(server *s, const char *sid);

/* ---- the request (router.c) ------------------------------------------------- */

typedef enum route_id {
    ROUTE_NONE = 0,
    ROUTE_HEALTHZ,
    ROUTE_INFO,
    ROUTE_LIST,
    ROUTE_SANDBOX,  /* GET, PUT, DELETE /v1/sandboxes/{id} */
    ROUTE_TOUCH,
    ROUTE_EXEC,
    ROUTE_UPLOAD,
    ROUTE_DOWNLOAD,
    ROUTE_MCP
} route_id;

typedef struct request {
    atomic_int refs;              /* MHD's con_cls + any streaming response */
    server *srv;
    struct MHD_Connection *conn;
    char *uri;                    /* raw request target, as received */
    char method[16];
    char request_id[SRV_MAX_REQUEST_ID + 1];
    struct timespec started_at;   /* CLOCK_MONOTONIC */
    int status;                   /* queued status; 0: none yet */
    atomic_uint_fast64_t bytes_out; /* response body bytes handed to MHD */

    int seen;                     /* the first handler call happened */
    int has_body;                 /* Content-Length > 0 or chunked */
    int no_idle_timeout;          /* lifted for this long-running request */
    int responded;                /* a response is queued */

    route_id route;
    const struct route_entry *entry; /* router.c's table row; NULL: none */
    char *sid;                    /* decoded session id */
    char *path_param;             /* decoded ?dest= or ?src=; NULL: default */

    /* body intake */
    char *body;                   /* JSON bodies, NUL-terminated */
    size_t body_len, body_cap;
    int upload_fd;                /* write end of the upload's pipe; -1: none */
    struct upload_job *upload;    /* the thread extracting it; NULL: none */
    uint64_t received;
    uint64_t body_bytes;          /* of any body, for --min-body-rate */
    int body_too_big;
    int body_io_errno;
    /* An answer decided before the body arrived (an upload to an unknown
     * sandbox). It is sent once the body has been read and dropped: a
     * client still sending when the server answers and closes gets a
     * broken pipe instead of the answer. */
    int deferred_code;            /* NOX_E*; 0: none */
    nox_error *deferred_err;
    /* A finished exec's stream, freed once the answer is out: closing the
     * agent connection is not something the client should wait for. */
    nox_exec_stream *spent_stream;
} request;

/* What answers a routed request (the handle_* functions below). */
typedef enum MHD_Result (*request_handler)(request *r);

void request_unref(request *r);
/* Queue resp with the common headers (X-Request-Id, ...) and release it.
 * body_len is what the access log counts for non-streaming bodies. */
enum MHD_Result request_queue(request *r, unsigned status,
                              struct MHD_Response *resp, size_t body_len);
/* The fd of r's client socket, -1 when unknown. */
int request_client_fd(const request *r);
/* 1 when the client hung up (or half-closed) its connection. */
int request_client_gone(const request *r);

/* MHD callbacks wired up in main.c. */
void *router_uri_log(void *cls, const char *uri, struct MHD_Connection *conn);
enum MHD_Result router_handle(void *cls, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls);
void router_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe);

/* ---- respond.c ------------------------------------------------------------------ */

/* HTTP status for a nox error code; `creating` makes NOX_ESANDBOX a 500. */
unsigned respond_status_for(int code, int creating);
enum MHD_Result respond_json(request *r, unsigned status, char *json, size_t len);
enum MHD_Result respond_text(request *r, unsigned status, const char *text);
enum MHD_Result respond_empty(request *r, unsigned status);
/* {"error": msg, "code": name}. */
enum MHD_Result respond_error(request *r, unsigned status, const char *fmt, ...)
    SRV_PRINTF(3, 4);
/* An error from a nox_* call: status from the code, message from err
 * (freed here) or from the code's description. */
enum MHD_Result respond_nox(request *r, int code, nox_error *err, int creating);
enum MHD_Result respond_method_not_allowed(request *r, const char *allow);
/* A JSON error {"error": msg, "code": code_name (when not NULL)} with one
 * extra header (when header is not NULL). */
enum MHD_Result respond_error_header(request *r, unsigned status, const char *msg,
                                     const char *code_name, const char *header,
                                     const char *value);

/* ---- handlers.c ---------------------------------------------------------------- */

enum MHD_Result handle_healthz(request *r);
enum MHD_Result handle_info(request *r);
enum MHD_Result handle_list(request *r);
enum MHD_Result handle_get(request *r);
enum MHD_Result handle_create(request *r);
enum MHD_Result handle_delete(request *r);
enum MHD_Result handle_touch(request *r);

/* ---- exec.c ------------------------------------------------------------------- */

/* JSON or, with Accept: application/x-ndjson, a streamed NDJSON answer. */
enum MHD_Result handle_exec(request *r);

/* mcp_http.c: POST /mcp, the MCP tools over Streamable HTTP. */
enum MHD_Result handle_mcp(request *r);

/* ---- files.c ------------------------------------------------------------------ */

/* Called on the first handler call of an upload: check the sandbox and
 * start the thread that extracts the body as it arrives. Returns 0, or
 * queues an error and returns -1. */
int upload_begin(request *r);
/* Pass body bytes on to the extracting thread (bounded by
 * max_upload_bytes). */
void upload_take(request *r, const char *data, size_t len);
/* Stop an upload whose request ends without an answer (the client went
 * away): EOF to the extracting thread, which then fails, and join it. */
void upload_abort(request *r);
enum MHD_Result handle_upload(request *r);
enum MHD_Result handle_download(request *r);

/* ---- json_util.c ----------------------------------------------------------------- */

/* A small JSON writer. Strings are written as UTF-8 with invalid bytes
 * replaced by U+FFFD, and NUL bytes escaped, so any bytes become valid
 * JSON text. Allocation failure is sticky and reported by jw_take(). */
typedef struct jw {
    char *buf;
    size_t len, cap;
    int oom;
    int depth;
    unsigned char first[32];  /* no member written yet at this depth */
    unsigned char is_arr[32];
} jw;

void jw_init(jw *w);
void jw_free(jw *w);
void jw_obj_begin(jw *w);
void jw_obj_end(jw *w);
void jw_arr_begin(jw *w);
void jw_arr_end(jw *w);
void jw_key(jw *w, const char *key);
void jw_str(jw *w, const char *s);                     /* NULL: null */
void jw_strn(jw *w, const uint8_t *s, size_t n);
void jw_int(jw *w, int64_t v);
void jw_bool(jw *w, int v);
void jw_base64(jw *w, const uint8_t *s, size_t n);
void jw_raw(jw *w, const char *s, size_t n);
/* Hand over the text (malloc'd, NUL-terminated); NULL after an allocation
 * failure. w is emptied either way. */
char *jw_take(jw *w, size_t *len);

/* ---- access_log.c ---------------------------------------------------------------- */

/* The client's X-Request-Id when sane (1..128 printable ASCII, no
 * spaces), else 32 random hex digits. */
void access_log_request_id(const char *given, char out[SRV_MAX_REQUEST_ID + 1]);
/* One line per request on stderr. */
void access_log_request(const request *r, enum MHD_RequestTerminationCode toe);
/* A server message on stderr: "<time> noxrunnerd: <text>". */
void log_msg(const char *fmt, ...) SRV_PRINTF(1, 2);

#endif /* NOXRUNNERD_SERVER_H */

/*
 * http.h - what the HTTP backend's files share (private to core/src/http).
 *
 *   http_backend.c  the nox__backend_ops table: one function per operation
 *   http_conn.c     libcurl plumbing: global init, share, easy-handle pool,
 *                   one blocking request with retries, error mapping
 *   http_stream.c   streaming exec (B3) over curl_multi, pull-style
 *   http_json.c     request bodies and response parsing (cJSON)
 *
 * Base64 and UTF-8 come from base/text.h, shared with noxrunnerd.
 */
#ifndef NOX_HTTP_H
#define NOX_HTTP_H

#include <pthread.h>
#include <stdint.h>

#include <curl/curl.h>
#include <cJSON.h>

#include "base/text.h"
#include "internal.h"

#define NOX__HTTP_POOL_MAX 16
#define NOX__HTTP_REQID_LEN 64
/* Error bodies are kept only this far: enough for any message. */
#define NOX__HTTP_MAX_ERROR_BODY (64u * 1024u)

/* Idle (multi, easy) pairs for streaming execs: a multi keeps its live
 * connection in its cache, so the next stream on it skips the connect
 * (and noxrunnerd the new connection's thread). Shared by the client and
 * every stream it started, since a stream may outlive its client. */
typedef struct nox__http_spool nox__http_spool;

/* The backend instance behind one nox_client. */
typedef struct nox__http {
    const nox__config *cfg;
    char *base_url;    /* as configured, without trailing slashes */
    char *auth_header; /* "Authorization: Bearer ..." or NULL */
    char *user_agent;
    CURLSH *share;     /* DNS cache and TLS sessions */
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_lock;
    CURL *pool[NOX__HTTP_POOL_MAX]; /* idle easy handles, live connections */
    size_t pool_len;
    nox__http_spool *spool;
    pthread_mutex_t iso_lock;
    int isolation;   /* NOX_ISOLATION_*, valid when iso_known */
    int iso_known;
    int takes_plain_tar; /* /v1/info lists "plain-tar"; valid when iso_known */
    /* Archive compression: cfg's, else NOX__TAR_PLAIN for a loopback
     * server (stored gzip when it takes no plain tar), else 1. */
    int gzip_level;
} nox__http;

/* Whether a failed attempt may be sent again. */
enum {
    NOX__RETRY_NEVER = 0,
    NOX__RETRY_CONNECT = 1, /* only when the connection was never made */
    NOX__RETRY_SAFE = 2     /* idempotent: connection failures, 502/503/504 */
};

/* One request and its answer. */
typedef struct nox__http_call {
    /* request */
    const char *method;       /* "GET", "PUT", "POST", "DELETE" */
    char *path;               /* encoded path and query, starts with '/' (owned) */
    const char *content_type; /* of the body; NULL: none */
    const char *accept;       /* NULL: application/json */
    const char *extra_header; /* one more "Name: value" line; NULL: none */
    const uint8_t *data;      /* POST/PUT body; NULL: empty */
    size_t data_len;
    nox__ring_producer **body; /* non-NULL: stream the body from *body,
                                  chunked; finished at its end, then NULLed */
    nox__sink *sink;          /* 2xx answer bodies go here, not to resp */
    int64_t timeout_ms;       /* total; 0: cfg->request_timeout_ms */
    int idle_timeout;         /* archives: bounded as a whole by
                                 cfg->transfer_timeout_ms, and fail when no
                                 byte moves for request_timeout_ms */
    int retry;                /* NOX__RETRY_* */
    /* answer */
    long status;              /* 0 when no answer arrived */
    nox__buf resp;            /* the body (error bodies truncated) */
    char request_id[NOX__HTTP_REQID_LEN]; /* the server's, else ours */
    char resp_type[128];      /* Content-Type of the answer */
    int producer_rc;          /* producer status when it ended at EOF */
    nox_error *producer_err;
} nox__http_call;

/* ---- http_conn.c -------------------------------------------------------- */

int nox__http_global_init(nox_error **err);
int nox__http_conn_init(nox__http *h, nox_error **err);
void nox__http_conn_cleanup(nox__http *h);

/* Percent-encode every byte outside A-Za-z0-9-._~ and append it to b. */
int nox__http_append_encoded(nox__buf *b, const char *s);
/* "/v1/sandboxes/<enc sid><suffix>[?<qname>=<enc qval>]", malloc'd. */
char *nox__http_sandbox_path(const char *sid, const char *suffix,
                             const char *qname, const char *qval);
/* 32 random hex digits into out (>= 33 bytes). */
void nox__http_new_request_id(char *out);

/* Send c, retrying as c->retry allows. 0 when an answer arrived (any
 * status: see nox__http_status_error), else the mapped transport error. */
int nox__http_perform(nox__http *h, nox__http_call *c, nox_error **err);
void nox__http_call_free(nox__http_call *c);
/* 0 for 2xx; else the NOX_E* error for c's status, with body and the
 * server's message ("server answered 404: sandbox not found"). */
int nox__http_status_error(const nox__http_call *c, nox_error **err);
int nox__http_status_code(long status);
/* The same from parts; used by streams too. */
int nox__http_status_error_parts(long status, const uint8_t *body, size_t len,
                                 const char *request_id, nox_error **err);
/* A transport failure as a NOX_E* error naming base_url. */
int nox__http_curl_error(CURLcode rc, CURL *easy, const char *errbuf,
                         const char *base_url, nox_error **err);
/* Options every request gets: timeouts, TLS, keepalive, user agent. */
void nox__http_common_opts(CURL *easy, const nox__config *cfg,
                           const char *user_agent, int64_t timeout_ms);
/* The server's X-Request-Id header, and the Content-Type, from a header
 * line; resets both on a new status line. */
void nox__http_parse_header(const char *line, size_t n, char *reqid,
                            size_t reqid_cap, char *ctype, size_t ctype_cap,
                            int *final_seen);

/* ---- http_stream.c ------------------------------------------------------ */

nox__http_spool *nox__http_spool_new(void);
/* The client is done with it: idle pairs are freed now, the pool itself
 * when its last stream is. */
void nox__http_spool_close(nox__http_spool *sp);

/* ---- http_json.c -------------------------------------------------------- */

/* The exec request body (docs/spec/backend-api-v1.md: Part A 4 plus B4
 * and B7, rawOutput/stdinBase64). malloc'd NUL-terminated JSON. */
char *nox__http_exec_body(const char *const *argv, size_t argc,
                          const nox__exec_opts *o, nox_error **err);
char *nox__http_create_body(const nox__sandbox_opts *o, nox_error **err);
/* Parse a whole exec answer; output longer than max_out is cut with the
 * truncated flag set. */
int nox__http_parse_exec_result(const uint8_t *body, size_t len,
                                uint64_t max_out, nox_exec_result **out,
                                nox_error **err);
/* B2 fields of an exec answer or an "exit" event into r (exitCode is
 * required). */
int nox__http_parse_exit_fields(const cJSON *o, nox_exec_result *r,
                                const char *what, nox_error **err);
/* The bytes of field "<name>Base64" when present, else of "<name>"
 * (text). *found = 0 when neither exists. */
int nox__http_json_bytes(const cJSON *o, const char *name, nox__buf *out,
                         int *found, nox_error **err);
/* {podName, expiresAt[, sessionId]} into an info (sid when given wins). */
int nox__http_parse_sandbox(const cJSON *o, const char *sid,
                            nox_sandbox_info **out, nox_error **err);
/* Parse body as JSON; NOX_EPROTOCOL naming what on failure. */
int nox__http_parse_json(const uint8_t *body, size_t len, const char *what,
                         cJSON **out, nox_error **err);
/* The NOX_E* code named by an error body's "code" field (our servers add
 * it), or 0 when there is none or the name is unknown. */
int nox__http_error_code_field(const uint8_t *body, size_t len);
/* The short human message of an error body: JSON "error", else a
 * printable prefix of the text; "" when none. Writes into out. */
void nox__http_error_text(const uint8_t *body, size_t len, char *out,
                          size_t cap);
/* Append bytes to b as a JSON string literal: valid UTF-8 passes, control
 * characters are escaped, invalid bytes become U+FFFD. */
int nox__http_json_quote(nox__buf *b, const uint8_t *s, size_t n);

/* ---- http_stream.c ------------------------------------------------------ */

int nox__http_exec_start(nox__http *h, const char *sid,
                         const char *const *argv, size_t argc,
                         const nox__exec_opts *o, nox_exec_stream **out,
                         nox_error **err);

#endif /* NOX_HTTP_H */

/* router.c - the life of one request: where it goes, whether it may, and
 * how its body comes in.
 *
 * libmicrohttpd calls router_handle() several times per request: once
 * with the headers (we route, authenticate and check sizes, and may answer
 * right away), then once per piece of body, then once more with no data
 * (we answer). Paths are taken raw from the URI log callback and split on
 * "/" before percent-decoding, so a session id may contain "%2F".
 */
#include "server.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- the request object ---------------------------------------------------- */

void *router_uri_log(void *cls, const char *uri, struct MHD_Connection *conn) {
    server *s = cls;
    request *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    atomic_init(&r->refs, 1);
    atomic_init(&r->bytes_out, 0);
    r->srv = s;
    r->conn = conn;
    r->uri = strdup(uri ? uri : "");
    r->upload_fd = -1;
    clock_gettime(CLOCK_MONOTONIC, &r->started_at);
    atomic_fetch_add(&s->active_requests, 1);
    return r;
}

void request_unref(request *r) {
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    free(r->uri);
    free(r->sid);
    free(r->path_param);
    free(r->body);
    nox_exec_stream_free(r->spent_stream);
    upload_abort(r);
    nox_error_free(r->deferred_err);
    free(r);
}

void router_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
    server *s = cls;
    request *r = *con_cls;
    *con_cls = NULL;
    if (!r)
        return;
    access_log_request(r, toe);
    if (r->no_idle_timeout)
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                  s->cfg.idle_timeout);
    atomic_fetch_sub(&s->active_requests, 1);
    request_unref(r);
}

enum MHD_Result request_queue(request *r, unsigned status,
                              struct MHD_Response *resp, size_t body_len) {
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    /* Answering before the body was read (or while shutting down) leaves
     * the connection in no state to carry another request. */
    if (atomic_load(&r->srv->shutting_down) || (!r->seen && r->has_body))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    if (ret == MHD_YES) {
        r->status = (int)status;
        r->responded = 1;
        atomic_fetch_add(&r->bytes_out, body_len);
    }
    return ret;
}

int request_client_fd(const request *r) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

int request_client_gone(const request *r) {
    int fd = request_client_fd(r);
    if (fd < 0)
        return 0;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    if (poll(&p, 1, 0) <= 0)
        return 0;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* ---- paths ------------------------------------------------------------------------ */

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..n) into a new string; plus_space for query values.
 * NULL for a malformed escape or an encoded NUL (*bad = 1), or when out
 * of memory (*bad = 0). */
static char *pct_decode(const char *s, size_t n, int plus_space, int *bad) {
    *bad = 0;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) {
                free(out);
                *bad = 1;
                return NULL;
            }
            c = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
            if (c == 0) {
                free(out);
                *bad = 1;
                return NULL;
            }
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        out[o++] = c;
    }
    out[o] = 0;
    return out;
}

/* The value of `key` in the raw query string, decoded; NULL when absent
 * or empty (meaning: the default). */
static int query_param(const char *query, const char *key, char **out) {
    *out = NULL;
    size_t klen = strlen(key);
    const char *p = query;
    while (p && *p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > klen && memcmp(p, key, klen) == 0 && p[klen] == '=') {
            if (len == klen + 1)
                return 0;
            int bad;
            *out = pct_decode(p + klen + 1, len - klen - 1, 1, &bad);
            return *out ? 0 : (bad ? -1 : -2);
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

/* ---- routes ------------------------------------------------------------------------ */

/* Every endpoint: method and path pattern to handler. "{id}" stands for
 * one path segment, the percent-encoded session id; `query` names the
 * query parameter that carries a path inside the sandbox. Entries with
 * the same pattern are listed together, in the order the Allow header
 * gives their methods. */
typedef struct route_entry {
    const char *method;
    const char *pattern;
    route_id id;
    const char *query;
    request_handler handle;
} route_entry;

static const route_entry routes[] = {
    {"GET", "/healthz", ROUTE_HEALTHZ, NULL, handle_healthz},
    {"HEAD", "/healthz", ROUTE_HEALTHZ, NULL, handle_healthz},
    {"GET", "/v1/info", ROUTE_INFO, NULL, handle_info},
    {"GET", "/v1/sandboxes", ROUTE_LIST, NULL, handle_list},
    {"GET", "/v1/sandboxes/{id}", ROUTE_SANDBOX, NULL, handle_get},
    {"PUT", "/v1/sandboxes/{id}", ROUTE_SANDBOX, NULL, handle_create},
    {"DELETE", "/v1/sandboxes/{id}", ROUTE_SANDBOX, NULL, handle_delete},
    {"POST", "/v1/sandboxes/{id}/touch", ROUTE_TOUCH, NULL, handle_touch},
    {"POST", "/v1/sandboxes/{id}/exec", ROUTE_EXEC, NULL, handle_exec},
    {"POST", "/v1/sandboxes/{id}/files/upload", ROUTE_UPLOAD, "dest", handle_upload},
    {"GET", "/v1/sandboxes/{id}/files/download", ROUTE_DOWNLOAD, "src", handle_download},
    {"POST", "/mcp", ROUTE_MCP, NULL, handle_mcp},
};

#define N_ROUTES (sizeof routes / sizeof routes[0])

/* Does the raw path [p, end) match pattern? *id gets the "{id}" segment
 * (still percent-encoded). */
static int path_matches(const char *pattern, const char *p, const char *end,
                        const char **id, size_t *id_len) {
    while (*pattern) {
        if (*pattern == '{') { /* "{id}", the only placeholder */
            const char *stop = memchr(p, '/', (size_t)(end - p));
            *id = p;
            p = stop ? stop : end;
            *id_len = (size_t)(p - *id);
            pattern += 4;
            continue;
        }
        size_t lit = strcspn(pattern, "{"); /* a literal run, compared at once */
        if ((size_t)(end - p) < lit || memcmp(p, pattern, lit) != 0)
            return 0;
        p += lit;
        pattern += lit;
    }
    return p == end;
}

/* The decoded session id and query parameter of a routed request. 0, or
 * an error already queued (-1). */
static int take_path_params(request *r, const char *id, size_t id_len, const char *query) {
    int bad;
    if (id) {
        r->sid = pct_decode(id, id_len, 0, &bad);
        if (!r->sid) {
            if (bad)
                respond_error(r, MHD_HTTP_BAD_REQUEST,
                              "invalid session id in path: bad percent-encoding "
                              "or an encoded NUL");
            else
                respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
            return -1;
        }
    }
    const char *param = r->entry->query;
    if (param && query) {
        int rc = query_param(query + 1, param, &r->path_param);
        if (rc == -1)
            respond_error(r, MHD_HTTP_BAD_REQUEST,
                          "invalid \"%s\" parameter: bad percent-encoding or "
                          "an encoded NUL", param);
        else if (rc != 0)
            respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Route r from its raw URI: a 404 when no pattern matches, a 405 naming
 * the allowed methods when the method does not. 0, or an error already
 * queued (-1). */
static int route(request *r) {
    const char *uri = r->uri;
    const char *q = strchr(uri, '?');
    const char *end = q ? q : uri + strlen(uri);
    if (end == uri || uri[0] != '/') {
        respond_error(r, MHD_HTTP_NOT_FOUND, "no such endpoint");
        return -1;
    }
    char allow[64] = "";
    const char *id = NULL;
    size_t id_len = 0;
    for (size_t i = 0; i < N_ROUTES && !r->entry; i++) {
        if (!path_matches(routes[i].pattern, uri, end, &id, &id_len))
            continue;
        if (strcmp(routes[i].method, r->method) == 0)
            r->entry = &routes[i];
        else
            snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s",
                     *allow ? ", " : "", routes[i].method);
    }
    if (!r->entry && !*allow) {
        size_t path_len = (size_t)(end - uri);
        respond_error(r, MHD_HTTP_NOT_FOUND, "no such endpoint: %s %.*s", r->method,
                      (int)(path_len > 200 ? 200 : path_len), uri);
        return -1;
    }
    if (!r->entry) {
        respond_method_not_allowed(r, allow);
        return -1;
    }
    r->route = r->entry->id;
    return take_path_params(r, id, id_len, q);
}

/* ---- authentication ------------------------------------------------------------ */

/* Constant time in the length of the expected token: the comparison
 * never stops early, whatever the client sent. */
static int token_matches(const server *s, const char *given, size_t given_len) {
    const unsigned char *want = (const unsigned char *)s->cfg.token;
    size_t want_len = s->cfg.token_len;
    unsigned diff = given_len != want_len;
    for (size_t i = 0; i < want_len; i++) {
        unsigned char g = i < given_len ? (unsigned char)given[i] : 0;
        diff |= (unsigned)(g ^ want[i]);
    }
    return diff == 0;
}

static int authorized(request *r) {
    server *s = r->srv;
    if (!s->cfg.token)
        return 1;
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h)
        return 0;
    while (*h == ' ' || *h == '\t')
        h++;
    if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
        return 0;
    h += 6;
    while (*h == ' ' || *h == '\t')
        h++;
    size_t len = strlen(h);
    while (len > 0 && (h[len - 1] == ' ' || h[len - 1] == '\t'))
        len--;
    return token_matches(s, h, len);
}

static enum MHD_Result respond_unauthorized(request *r) {
    const char *msg = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_AUTHORIZATION)
                          ? "invalid bearer token"
                          : "missing \"Authorization: Bearer <token>\" header";
    return respond_error_header(r, MHD_HTTP_UNAUTHORIZED, msg, "NOX_EAUTH",
                                MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
}

/* ---- the handler ------------------------------------------------------------------ */

/* The first call: everything that can be decided from the headers. */
static enum MHD_Result begin(request *r, const char *method) {
    server *s = r->srv;
    snprintf(r->method, sizeof r->method, "%s", method);
    const char *te = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_TRANSFER_ENCODING);
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    r->has_body = te != NULL || (cl && strcmp(cl, "0") != 0);
    access_log_request_id(
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Request-Id"),
        r->request_id);

    if (atomic_load(&s->shutting_down))
        return respond_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                             "server is shutting down");
    if (route(r) != 0)
        return r->responded ? MHD_YES : MHD_NO;
    if (r->route != ROUTE_HEALTHZ && !authorized(r))
        return respond_unauthorized(r);

    uint64_t limit = r->route == ROUTE_UPLOAD ? s->cfg.max_upload_bytes
                                              : s->cfg.max_body_bytes;
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(cl, &end, 10);
        if (errno == 0 && end != cl && v > limit)
            return respond_error(r, 413,
                                 "request body of %llu bytes exceeds the limit of "
                                 "%llu bytes (%s)",
                                 v, (unsigned long long)limit,
                                 r->route == ROUTE_UPLOAD ? "--max-upload-bytes"
                                                          : "--max-body-bytes");
    }
    if (r->route == ROUTE_UPLOAD && upload_begin(r) != 0)
        return r->responded ? MHD_YES : MHD_NO;
    /* An exec waits for its command and a transfer for its archive with
     * no traffic meanwhile: that is work, not idleness. */
    if (r->route == ROUTE_EXEC || r->route == ROUTE_UPLOAD ||
        r->route == ROUTE_DOWNLOAD || r->route == ROUTE_MCP) {
        MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
        r->no_idle_timeout = 1;
    }
    return MHD_YES;
}

static void take_json_body(request *r, const char *data, size_t len) {
    uint64_t limit = r->srv->cfg.max_body_bytes;
    if (r->body_too_big || (uint64_t)r->body_len + len > limit) {
        r->body_too_big = 1;
        return; /* keep reading and dropping: the answer is a 413 */
    }
    if (r->body_len + len + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 1024;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        char *nb = realloc(r->body, cap);
        if (!nb) {
            r->body_io_errno = ENOMEM;
            return;
        }
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = 0;
}

/* Past --body-timeout, a body must average --min-body-rate: one that
 * trickles would hold its connection's thread for as long as it liked.
 * (Bodies of up to 64 KiB never get here late: the front waits for them.) */
static int body_too_slow(const request *r) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double secs = (double)(now.tv_sec - r->started_at.tv_sec) +
                  (double)(now.tv_nsec - r->started_at.tv_nsec) / 1e9;
    const srv_config *cfg = &r->srv->cfg;
    return secs > cfg->body_timeout && (double)r->body_bytes / secs < (double)cfg->min_body_rate;
}

static enum MHD_Result dispatch(request *r) {
    if (r->deferred_code) {
        nox_error *err = r->deferred_err;
        r->deferred_err = NULL;
        return respond_nox(r, r->deferred_code, err, 0);
    }
    if (r->body_too_big) {
        uint64_t limit = r->route == ROUTE_UPLOAD ? r->srv->cfg.max_upload_bytes
                                                  : r->srv->cfg.max_body_bytes;
        return respond_error(r, 413, "request body exceeds the limit of %llu bytes (%s)",
                             (unsigned long long)limit,
                             r->route == ROUTE_UPLOAD ? "--max-upload-bytes"
                                                      : "--max-body-bytes");
    }
    if (r->body_io_errno)
        return respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                             "cannot take the request body: %s",
                             strerror(r->body_io_errno));
    if (r->entry)
        return r->entry->handle(r);
    return respond_error(r, MHD_HTTP_NOT_FOUND, "no such endpoint");
}

enum MHD_Result router_handle(void *cls, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls) {
    (void)cls;
    (void)url; /* already unescaped by MHD: we route on the raw URI */
    (void)version;
    request *r = *con_cls;
    if (!r)
        return MHD_NO; /* the URI log callback ran out of memory */
    if (!r->seen) {
        enum MHD_Result ret = begin(r, method);
        r->seen = 1;
        return ret;
    }
    if (*upload_data_size) {
        r->body_bytes += *upload_data_size;
        if (!r->responded && body_too_slow(r)) {
            if (r->route == ROUTE_UPLOAD)
                upload_abort(r); /* nothing of it stays in the sandbox */
            return respond_error(r, 408,
                                 "the request body arrives slower than %llu bytes/s "
                                 "(--min-body-rate)",
                                 (unsigned long long)r->srv->cfg.min_body_rate);
        }
        if (!r->responded) {
            if (r->route == ROUTE_UPLOAD)
                upload_take(r, upload_data, *upload_data_size);
            else
                take_json_body(r, upload_data, *upload_data_size);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->responded)
        return MHD_YES;
    return dispatch(r);
}

/*
 * http_backend.c - the HTTP backend's operations: each nox__backend_ops
 * entry turns into one request of the wire contract
 * (docs/spec/backend-api-v1.md), and the answer into a result or error.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <errno.h>

#include "http.h"

/* ---- small helpers ------------------------------------------------------ */

static void call_init(nox__http_call *c, const char *method, char *path,
                      int retry) {
    memset(c, 0, sizeof *c);
    c->method = method;
    c->path = path;
    c->retry = retry;
}

/* Send a call and require a 2xx answer. */
static int send_call(nox__http *h, nox__http_call *c, nox_error **err) {
    if (!c->path)
        return nox__err(err, NOX_ENOMEM, "out of memory");
    int rc = nox__http_perform(h, c, err);
    if (rc == 0)
        rc = nox__http_status_error(c, err);
    return rc;
}

/* A Part-A server has no B5 routes: 404/405 on the route itself. */
static int b5_missing(nox__http_call *c, const char *route, nox_error **err) {
    return nox__err_http(err, NOX_EUNSUPPORTED, (int)c->status, c->resp.data,
                         c->resp.len, "server has no %s (Part-A only)", route);
}

static int parse_answer(nox__http_call *c, const char *what, cJSON **out,
                        nox_error **err) {
    return nox__http_parse_json(c->resp.data, c->resp.len, what, out, err);
}

/* ---- health, info, isolation -------------------------------------------- */

static int http_health(void *impl, nox_error **err) {
    nox__http *h = impl;
    nox__http_call c;
    call_init(&c, "GET", nox__strdup("/healthz"), NOX__RETRY_SAFE);
    c.accept = "text/plain, application/json";
    int rc = c.path ? nox__http_perform(h, &c, err)
                    : nox__err(err, NOX_ENOMEM, "out of memory");
    if (rc == 0 && c.status != 200) {
        /* Unhealthy is an answer, not a missing sandbox: always EHTTP. */
        nox_error *tmp = NULL;
        nox__http_status_error(&c, &tmp);
        rc = nox__err_http(err, NOX_EHTTP, (int)c.status, c.resp.data,
                           c.resp.len, "server unhealthy: %s",
                           tmp ? nox_error_message(tmp) : "");
        nox_error_free(tmp);
    }
    nox__http_call_free(&c);
    return rc;
}

/* GET /v1/info; *status gets the HTTP status (0 when none arrived). */
static int fetch_info(nox__http *h, nox__http_call *c, nox_error **err) {
    call_init(c, "GET", nox__strdup("/v1/info"), NOX__RETRY_SAFE);
    if (!c->path)
        return nox__err(err, NOX_ENOMEM, "out of memory");
    int rc = nox__http_perform(h, c, err);
    if (rc != 0)
        return rc;
    if (c->status == 404)
        return nox__err_http(err, NOX_EUNSUPPORTED, 404, c->resp.data,
                             c->resp.len,
                             "server has no /v1/info (Part-A only)");
    return nox__http_status_error(c, err);
}

static int isolation_from_info(const cJSON *j) {
    const cJSON *iso = cJSON_GetObjectItemCaseSensitive(j, "isolation");
    if (!cJSON_IsString(iso))
        return NOX_ISOLATION_AUTO;
    if (strcmp(iso->valuestring, "none") == 0)
        return NOX_ISOLATION_NONE;
    if (strcmp(iso->valuestring, "namespaces") == 0)
        return NOX_ISOLATION_NAMESPACES;
    return NOX_ISOLATION_AUTO;
}

/* Whether /v1/info lists the Part B extension `name`. */
static int has_extension(const cJSON *j, const char *name) {
    const cJSON *ext = cJSON_GetObjectItemCaseSensitive(j, "extensions"), *it;
    cJSON_ArrayForEach(it, ext) if (cJSON_IsString(it) && !strcmp(it->valuestring, name))
        return 1;
    return 0;
}

/* What /v1/info told (j NULL: a Part-A server without it). */
static void remember_info(nox__http *h, const cJSON *j) {
    pthread_mutex_lock(&h->iso_lock);
    h->isolation = j ? isolation_from_info(j) : NOX_ISOLATION_AUTO;
    h->takes_plain_tar = j ? has_extension(j, "plain-tar") : 0;
    h->iso_known = 1;
    pthread_mutex_unlock(&h->iso_lock);
}

static int http_info(void *impl, nox_bytes **out, nox_error **err) {
    nox__http *h = impl;
    nox__http_call c;
    cJSON *j = NULL;
    int rc = fetch_info(h, &c, err);
    if (rc == 0)
        rc = parse_answer(&c, "info", &j, err);
    if (rc == 0 && !cJSON_IsObject(j))
        rc = nox__err(err, NOX_EPROTOCOL,
                      "server answered invalid JSON for info: not an object");
    if (rc == 0) {
        remember_info(h, j);
        if (nox__buf_terminate(&c.resp) != 0 ||
            !(*out = nox__bytes_take(&c.resp)))
            rc = nox__err(err, NOX_ENOMEM, "out of memory");
    }
    cJSON_Delete(j);
    nox__http_call_free(&c);
    return rc;
}

/* Learns the server's isolation level and extensions, once. */
static void learn_server(nox__http *h, int *level, int *plain) {
    pthread_mutex_lock(&h->iso_lock);
    int known = h->iso_known;
    *level = h->isolation;
    *plain = h->takes_plain_tar;
    pthread_mutex_unlock(&h->iso_lock);
    if (known)
        return;
    /* Learned once; a server without /v1/info stays AUTO for good, a
     * server that cannot be reached is asked again next time. */
    nox__http_call c;
    nox_error *e = NULL;
    cJSON *j = NULL;
    int rc = fetch_info(h, &c, &e);
    *level = NOX_ISOLATION_AUTO;
    *plain = 0;
    if (rc == 0 && parse_answer(&c, "info", &j, NULL) == 0 && cJSON_IsObject(j)) {
        remember_info(h, j);
        *level = isolation_from_info(j);
        *plain = has_extension(j, "plain-tar");
    } else if (rc == NOX_EUNSUPPORTED) {
        remember_info(h, NULL);
    }
    cJSON_Delete(j);
    nox_error_free(e);
    nox__http_call_free(&c);
}

static int http_isolation(void *impl) {
    int level, plain;
    learn_server(impl, &level, &plain);
    return level;
}

/* ---- sandboxes ---------------------------------------------------------- */

static int http_create(void *impl, const char *sid, const nox__sandbox_opts *o,
                       nox_sandbox_info **out, nox_error **err) {
    nox__http *h = impl;
    char *body = nox__http_create_body(o, err);
    if (!body)
        return NOX_ENOMEM;
    nox__http_call c;
    call_init(&c, "PUT", nox__http_sandbox_path(sid, NULL, NULL, NULL),
              NOX__RETRY_SAFE); /* PUT is idempotent */
    c.data = (const uint8_t *)body;
    c.data_len = strlen(body);
    c.content_type = "application/json";
    cJSON *j = NULL;
    int rc = send_call(h, &c, err);
    if (rc == 0)
        rc = parse_answer(&c, "create", &j, err);
    if (rc == 0)
        rc = nox__http_parse_sandbox(j, sid, out, err);
    cJSON_Delete(j);
    nox__http_call_free(&c);
    free(body);
    return rc;
}

static int http_get(void *impl, const char *sid, nox_sandbox_info **out,
                    nox_error **err) {
    nox__http *h = impl;
    nox__http_call c;
    call_init(&c, "GET", nox__http_sandbox_path(sid, NULL, NULL, NULL),
              NOX__RETRY_SAFE);
    cJSON *j = NULL;
    int rc = c.path ? nox__http_perform(h, &c, err)
                    : nox__err(err, NOX_ENOMEM, "out of memory");
    if (rc == 0 && c.status == 405)
        rc = b5_missing(&c, "GET /v1/sandboxes/{id}", err);
    else if (rc == 0)
        rc = nox__http_status_error(&c, err);
    if (rc == 0)
        rc = parse_answer(&c, "get", &j, err);
    if (rc == 0)
        rc = nox__http_parse_sandbox(j, sid, out, err);
    cJSON_Delete(j);
    nox__http_call_free(&c);
    return rc;
}

static int http_list(void *impl, nox_sandbox_list **out, nox_error **err) {
    nox__http *h = impl;
    nox__http_call c;
    call_init(&c, "GET", nox__strdup("/v1/sandboxes"), NOX__RETRY_SAFE);
    cJSON *j = NULL;
    nox_sandbox_list *l = NULL;
    int rc = c.path ? nox__http_perform(h, &c, err)
                    : nox__err(err, NOX_ENOMEM, "out of memory");
    if (rc == 0 && (c.status == 404 || c.status == 405))
        rc = b5_missing(&c, "GET /v1/sandboxes", err);
    else if (rc == 0)
        rc = nox__http_status_error(&c, err);
    if (rc == 0)
        rc = parse_answer(&c, "list", &j, err);
    if (rc == 0) {
        /* Accept a bare array (B5) or {"sandboxes": [...]}. */
        const cJSON *arr = j;
        if (cJSON_IsObject(j))
            arr = cJSON_GetObjectItemCaseSensitive(j, "sandboxes");
        if (!cJSON_IsArray(arr))
            rc = nox__err(err, NOX_EPROTOCOL,
                          "server answered invalid JSON for list: not an array");
        else if (!(l = nox__sandbox_list_new()))
            rc = nox__err(err, NOX_ENOMEM, "out of memory");
        const cJSON *item;
        if (rc == 0) {
            cJSON_ArrayForEach(item, arr) {
                nox_sandbox_info *info = NULL;
                rc = nox__http_parse_sandbox(item, NULL, &info, err);
                if (rc == 0 && nox__sandbox_list_push(l, info) != 0)
                    rc = nox__err(err, NOX_ENOMEM, "out of memory");
                if (rc != 0)
                    break;
            }
        }
    }
    if (rc == 0)
        *out = l;
    else
        nox_sandbox_list_free(l);
    cJSON_Delete(j);
    nox__http_call_free(&c);
    return rc;
}

static int http_touch(void *impl, const char *sid, nox_error **err) {
    nox__http *h = impl;
    nox__http_call c;
    call_init(&c, "POST", nox__http_sandbox_path(sid, "/touch", NULL, NULL),
              NOX__RETRY_SAFE);
    int rc = send_call(h, &c, err);
    nox__http_call_free(&c);
    return rc;
}

static int http_del(void *impl, const char *sid, nox_error **err) {
    nox__http *h = impl;
    nox__http_call c;
    call_init(&c, "DELETE", nox__http_sandbox_path(sid, NULL, NULL, NULL),
              NOX__RETRY_SAFE);
    int rc = send_call(h, &c, err); /* 404 -> NOX_ENOTFOUND */
    nox__http_call_free(&c);
    return rc;
}

/* ---- exec --------------------------------------------------------------- */

/* An exec may run timeoutSeconds, and the answer must still travel. */
static int64_t exec_deadline_ms(const nox__http *h, const nox__exec_opts *o) {
    return (int64_t)o->timeout_seconds * 1000 +
           (int64_t)(h->cfg->request_timeout_ms ? h->cfg->request_timeout_ms
                                                : 60000);
}

static int exec_once(nox__http *h, const char *sid, const char *const *argv,
                     size_t argc, const nox__exec_opts *o, int64_t timeout_ms,
                     nox_exec_result **out, nox_error **err) {
    char *body = nox__http_exec_body(argv, argc, o, err);
    if (!body)
        return NOX_ENOMEM;
    nox__http_call c;
    /* Never replayed: the command may have run. */
    call_init(&c, "POST", nox__http_sandbox_path(sid, "/exec", NULL, NULL),
              NOX__RETRY_CONNECT);
    c.data = (const uint8_t *)body;
    c.data_len = strlen(body);
    c.content_type = "application/json";
    c.timeout_ms = timeout_ms;
    int rc = send_call(h, &c, err);
    if (rc == 0)
        rc = nox__http_parse_exec_result(c.resp.data, c.resp.len,
                                         o->max_output_bytes, out, err);
    nox__http_call_free(&c);
    free(body);
    return rc;
}

static int http_exec(void *impl, const char *sid, const char *const *argv,
                     size_t argc, const nox__exec_opts *o,
                     nox_exec_result **out, nox_error **err) {
    nox__http *h = impl;
    return exec_once(h, sid, argv, argc, o, exec_deadline_ms(h, o), out, err);
}

static void nap_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int http_wait_ready(void *impl, const char *sid, uint32_t timeout_ms,
                           nox_error **err) {
    nox__http *h = impl;
    static const char *const argv[] = {"true", NULL};
    nox__exec_opts o;
    memset(&o, 0, sizeof o);
    o.workdir = NOX_WORKSPACE;
    o.timeout_seconds = 10;
    o.max_output_bytes = 4096;
    int64_t deadline = nox__now_ms() + timeout_ms;
    int last = 0;
    for (;;) {
        int64_t left = deadline - nox__now_ms();
        if (left <= 0)
            break;
        nox_exec_result *r = NULL;
        nox_error *e = NULL;
        /* Any answer from the command means the sandbox runs commands. */
        int rc = exec_once(h, sid, argv, 1, &o, left < 1000 ? 1000 : left,
                           &r, &e);
        nox_exec_result_free(r);
        if (rc == 0) {
            nox_error_free(e);
            return 0;
        }
        last = rc;
        /* 503: not ready yet; a timeout of this probe: try again. */
        if (rc != NOX_ENOTREADY && rc != NOX_ETIMEOUT) {
            if (err && !*err)
                *err = e;
            else
                nox_error_free(e);
            return rc;
        }
        nox_error_free(e);
        left = deadline - nox__now_ms();
        if (left <= 0)
            break;
        nap_ms(left < 200 ? (int)left : 200);
    }
    return nox__err(err, NOX_ETIMEOUT, "sandbox not ready after %u ms%s",
                    timeout_ms,
                    last == NOX_ENOTREADY ? " (server kept answering 503)" : "");
}

static int http_exec_start(void *impl, const char *sid,
                           const char *const *argv, size_t argc,
                           const nox__exec_opts *o, nox_exec_stream **out,
                           nox_error **err) {
    return nox__http_exec_start(impl, sid, argv, argc, o, out, err);
}

/* ---- files -------------------------------------------------------------- */

static int http_upload(void *impl, const char *sid, const char *dest,
                       nox__producer *targz, nox_error **err) {
    nox__http *h = impl;
    nox__ring_producer *rp = NULL;
    /* A plain tar only to a server that says it takes one (Part B
     * "plain-tar"); a Part-A server gets stored gzip instead. */
    int level = h->gzip_level, isolation, plain = 0;
    if (level == NOX__TAR_PLAIN)
        learn_server(h, &isolation, &plain);
    if (level == NOX__TAR_PLAIN && !plain)
        level = NOX__GZIP_STORED;
    int rc = nox__ring_producer_start(&rp, targz, level, err);
    if (rc != 0)
        return rc;
    nox__http_call c;
    /* Never replayed once bytes went out; a refused connection is safe. */
    call_init(&c, "POST",
              nox__http_sandbox_path(sid, "/files/upload", "dest",
                                     dest ? dest : NOX_WORKSPACE),
              NOX__RETRY_CONNECT);
    c.content_type = "application/x-tar";
    c.idle_timeout = 1;
    c.body = &rp;
    nox_error *call_err = NULL;
    rc = send_call(h, &c, &call_err);
    if (rp) {
        /* The transfer ended before the producer's end. */
        nox_error *perr = NULL;
        int prc = nox__ring_producer_finish(rp, &perr);
        rp = NULL;
        if (rc == 0 && prc != 0) {
            rc = prc;
            call_err = perr;
            perr = NULL;
        }
        nox_error_free(perr);
    }
    if (err && !*err)
        *err = call_err;
    else
        nox_error_free(call_err);
    nox__http_call_free(&c);
    return rc;
}

static int http_download(void *impl, const char *sid, const char *src, int level,
                         nox__sink *targz, nox_error **err) {
    nox__http *h = impl;
    nox__http_call c;
    /* Part B: the level we would like; a Part-A server picks its own,
     * and every level (a plain tar too) extracts the same. */
    if (level == NOX__TAR_PLAIN && targz->takes_plain_tar)
        ; /* asked for by name */
    else if (level < 0 || level > 9) /* the client's choice */
        level = targz->takes_plain_tar || h->gzip_level >= 0 ? h->gzip_level
                                                            : NOX__GZIP_STORED;
    char hdr[40];
    if (level == NOX__TAR_PLAIN)
        snprintf(hdr, sizeof hdr, "X-Nox-Gzip-Level: none");
    else
        snprintf(hdr, sizeof hdr, "X-Nox-Gzip-Level: %d", level);
    call_init(&c, "GET",
              nox__http_sandbox_path(sid, "/files/download", "src",
                                     src ? src : NOX_WORKSPACE),
              NOX__RETRY_SAFE);
    c.accept = "application/x-tar, application/gzip, */*";
    c.extra_header = hdr;
    c.sink = targz;
    c.idle_timeout = 1; /* large archives take long; stalls still fail */
    int rc = send_call(h, &c, err);
    nox__http_call_free(&c);
    return rc;
}

/* ---- construction ------------------------------------------------------- */

static void http_destroy(void *impl) {
    nox__http *h = impl;
    if (!h)
        return;
    nox__http_conn_cleanup(h);
    if (h->spool)
        nox__http_spool_close(h->spool);
    pthread_mutex_destroy(&h->iso_lock);
    free(h->base_url);
    free(h->auth_header);
    free(h->user_agent);
    free(h);
}

static const nox__backend_ops http_ops = {
    .name = "http",
    .destroy = http_destroy,
    .isolation = http_isolation,
    .health = http_health,
    .info = http_info,
    .create = http_create,
    .get = http_get,
    .list = http_list,
    .touch = http_touch,
    .del = http_del,
    .wait_ready = http_wait_ready,
    .exec = http_exec,
    .exec_start = http_exec_start,
    .upload = http_upload,
    .download = http_download,
};

/* Whether url names this machine (localhost, 127/8, ::1): archives to
 * and from it are not worth compressing, the copy is the whole cost. */
static int loopback_host(const char *url) {
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    const char *at = h + strcspn(h, "/");
    for (const char *p = h; p < at; p++)
        if (*p == '@')
            h = p + 1; /* user info */
    size_t n;
    if (*h == '[') {
        n = strcspn(h, "]");
        return n == 4 && !strncmp(h, "[::1", 4);
    }
    n = strcspn(h, ":/");
    if (n >= 9 && !strncasecmp(h + n - 9, "localhost", 9) &&
        (n == 9 || h[n - 10] == '.'))
        return 1;
    if (n >= 4 && !strncmp(h, "127.", 4)) {
        for (size_t i = 4; i < n; i++)
            if (!(h[i] == '.' || (h[i] >= '0' && h[i] <= '9')))
                return 0;
        return 1;
    }
    return 0;
}

int nox__http_backend_new(const nox__config *cfg, const nox__backend_ops **ops,
                          void **impl, nox_error **err) {
    const char *url = cfg->base_url;
    if (!url || (strncmp(url, "http://", 7) != 0 &&
                 strncmp(url, "https://", 8) != 0) ||
        strlen(url) <= (url[4] == 's' ? 8u : 7u))
        return nox__err(err, NOX_EINVAL,
                        "base_url must be an http:// or https:// URL, not \"%s\"",
                        url ? url : "(null)");
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7F || *p == '?' || *p == '#')
            return nox__err(err, NOX_EINVAL,
                            "base_url \"%s\" has a space, control character, "
                            "query or fragment", url);
    int rc = nox__http_global_init(err);
    if (rc != 0)
        return rc;
    nox__http *h = calloc(1, sizeof *h);
    if (!h)
        return nox__err(err, NOX_ENOMEM, "out of memory");
    h->cfg = cfg;
    pthread_mutex_init(&h->iso_lock, NULL);
    rc = nox__http_conn_init(h, err);
    if (rc == 0 && !(h->spool = nox__http_spool_new()))
        rc = nox__err(err, NOX_ENOMEM, "out of memory");
    if (rc != 0) {
        http_destroy(h);
        return rc;
    }
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    h->base_url = nox__strndup(url, n);
    /* client.c already fell back to $NOXRUNNER_API_KEY; "" means none. */
    const char *key = cfg->api_key;
    if (key && *key)
        h->auth_header = nox__asprintf("Authorization: Bearer %s", key);
    h->gzip_level = cfg->gzip_level != NOX__GZIP_AUTO ? cfg->gzip_level
                    : loopback_host(h->base_url)   ? NOX__TAR_PLAIN
                                                   : NOX__GZIP_FAST;
    h->user_agent = cfg->user_agent && *cfg->user_agent
                        ? nox__strdup(cfg->user_agent)
                        : nox__strdup("noxrunner-c/" NOX_VERSION_STRING);
    if (!h->base_url || !h->user_agent || (key && *key && !h->auth_header)) {
        http_destroy(h);
        return nox__err(err, NOX_ENOMEM, "out of memory");
    }
    *ops = &http_ops;
    *impl = h;
    return 0;
}

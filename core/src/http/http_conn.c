/*
 * http_conn.c - libcurl plumbing for the HTTP backend: global init, the
 * share, the pool of easy handles, one blocking request with its retries,
 * and the mapping of transport failures and HTTP statuses to NOX_E* codes.
 *
 * Connection reuse: libcurl documents that sharing the connection cache
 * (CURL_LOCK_DATA_CONNECT) "is not supported between multiple concurrent
 * threads", so the share holds only the DNS cache and TLS sessions, and
 * connections are reused through the pool: an idle easy handle keeps its
 * live connection across curl_easy_reset(), and the next call from any
 * thread picks that handle up again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

/* ---- global init -------------------------------------------------------- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init_once(void) {
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int nox__http_global_init(nox_error **err) {
    pthread_once(&global_once, global_init_once);
    if (global_rc != CURLE_OK)
        return nox__err(err, NOX_EUNSUPPORTED, "libcurl failed to initialize: %s",
                        curl_easy_strerror(global_rc));
    return 0;
}

/* ---- share and pool ----------------------------------------------------- */

static void share_lock(CURL *easy, curl_lock_data data,
                       curl_lock_access access, void *userp) {
    (void)easy;
    (void)access;
    nox__http *h = userp;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&h->share_locks[data]);
}

static void share_unlock(CURL *easy, curl_lock_data data, void *userp) {
    (void)easy;
    nox__http *h = userp;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&h->share_locks[data]);
}

int nox__http_conn_init(nox__http *h, nox_error **err) {
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&h->share_locks[i], NULL);
    pthread_mutex_init(&h->pool_lock, NULL);
    h->share = curl_share_init();
    if (!h->share)
        return nox__err(err, NOX_ENOMEM, "cannot create a libcurl share");
    if (curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock) ||
        curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
        curl_share_setopt(h->share, CURLSHOPT_USERDATA, h) ||
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS))
        return nox__err(err, NOX_EUNSUPPORTED, "cannot set up a libcurl share");
    /* Optional: absent when libcurl was built without TLS. */
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    return 0;
}

void nox__http_conn_cleanup(nox__http *h) {
    /* Easy handles first: they still refer to the share. */
    for (size_t i = 0; i < h->pool_len; i++)
        curl_easy_cleanup(h->pool[i]);
    h->pool_len = 0;
    if (h->share)
        curl_share_cleanup(h->share);
    h->share = NULL;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&h->share_locks[i]);
    pthread_mutex_destroy(&h->pool_lock);
}

static CURL *pool_acquire(nox__http *h) {
    CURL *easy = NULL;
    pthread_mutex_lock(&h->pool_lock);
    if (h->pool_len > 0)
        easy = h->pool[--h->pool_len];
    pthread_mutex_unlock(&h->pool_lock);
    return easy ? easy : curl_easy_init();
}

static void pool_release(nox__http *h, CURL *easy) {
    /* Reset forgets options, keeps the live connection. */
    curl_easy_reset(easy);
    pthread_mutex_lock(&h->pool_lock);
    if (h->pool_len < NOX__HTTP_POOL_MAX) {
        h->pool[h->pool_len++] = easy;
        easy = NULL;
    }
    pthread_mutex_unlock(&h->pool_lock);
    if (easy)
        curl_easy_cleanup(easy);
}

/* ---- URLs and ids ------------------------------------------------------- */

int nox__http_append_encoded(nox__buf *b, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                    c == '_' || c == '~';
        char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
        if (plain ? nox__buf_append(b, &c, 1) : nox__buf_append(b, enc, 3))
            return NOX_ENOMEM;
    }
    return 0;
}

char *nox__http_sandbox_path(const char *sid, const char *suffix,
                             const char *qname, const char *qval) {
    nox__buf b = {0};
    int rc = nox__buf_append_str(&b, "/v1/sandboxes/");
    /* "." and ".." are valid ids but dot segments in a path: URL
     * normalizers (curl's, proxies') would remove them unless encoded. */
    if (rc == 0 && (strcmp(sid, ".") == 0 || strcmp(sid, "..") == 0))
        rc = nox__buf_append_str(&b, sid[1] ? "%2E%2E" : "%2E");
    else if (rc == 0)
        rc = nox__http_append_encoded(&b, sid);
    if (rc == 0 && suffix)
        rc = nox__buf_append_str(&b, suffix);
    if (rc == 0 && qname && qval) {
        rc = nox__buf_append_str(&b, "?");
        if (rc == 0)
            rc = nox__buf_append_str(&b, qname);
        if (rc == 0)
            rc = nox__buf_append_str(&b, "=");
        if (rc == 0)
            rc = nox__http_append_encoded(&b, qval);
    }
    if (rc == 0)
        rc = nox__buf_terminate(&b);
    if (rc != 0) {
        nox__buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

/* 128 bits: a per-process random key (getrandom once, again in a forked
 * child) run through splitmix64 with a counter. Ids only correlate log
 * lines, so a syscall per request bought nothing. */
static uint64_t reqid_key;
static unsigned long long reqid_counter;
static pthread_once_t reqid_once = PTHREAD_ONCE_INIT;

static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static void reqid_seed(void) {
    uint64_t k = 0;
    if (getrandom(&k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k)
        k = (uint64_t)nox__now_ms() * 0x9E3779B97F4A7C15ull; /* no entropy yet */
    reqid_key = k ^ ((uint64_t)getpid() << 32);
}

static void reqid_init(void) {
    reqid_seed();
    pthread_atfork(NULL, NULL, reqid_seed); /* the child must not repeat ours */
}

void nox__http_new_request_id(char *out) {
    static const char hex[] = "0123456789abcdef";
    pthread_once(&reqid_once, reqid_init);
    uint64_t key = reqid_key;
    uint64_t n = __atomic_add_fetch(&reqid_counter, 1, __ATOMIC_RELAXED);
    uint64_t v[2] = {splitmix64(key ^ n), splitmix64(key + (n << 1 | 1))};
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < 16; i++)
            out[w * 16 + i] = hex[(v[w] >> (60 - 4 * i)) & 15];
    out[32] = 0;
}

/* ---- options and headers ------------------------------------------------ */

void nox__http_common_opts(CURL *easy, const nox__config *cfg,
                           const char *user_agent, int64_t timeout_ms) {
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_PATH_AS_IS, 1L); /* ids are never rewritten */
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(cfg->connect_timeout_ms ? cfg->connect_timeout_ms
                                                    : 10000));
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, 15L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, cfg->tls_verify ? 1L : 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, cfg->tls_verify ? 2L : 0L);
    if (cfg->ca_file && *cfg->ca_file)
        curl_easy_setopt(easy, CURLOPT_CAINFO, cfg->ca_file);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, user_agent);
}

static int header_is(const char *line, size_t n, const char *name,
                     const char **val, size_t *val_len) {
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return 0;
    const char *v = line + k + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' ||
                       end[-1] == '\t'))
        end--;
    *val = v;
    *val_len = (size_t)(end - v);
    return 1;
}

static void copy_header(char *out, size_t cap, const char *v, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        if ((unsigned char)v[i] >= 0x20 && v[i] != 0x7F)
            out[k++] = v[i];
    out[k] = 0;
}

void nox__http_parse_header(const char *line, size_t n, char *reqid,
                            size_t reqid_cap, char *ctype, size_t ctype_cap,
                            int *final_seen) {
    const char *v;
    size_t vl;
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new answer (after 100 Continue, say): forget the last one. */
        reqid[0] = 0;
        ctype[0] = 0;
        const char *sp = memchr(line, ' ', n);
        long st = sp ? strtol(sp + 1, NULL, 10) : 0;
        *final_seen = 0;
        if (st >= 200)
            *final_seen = -1; /* final status seen, headers still coming */
    } else if (header_is(line, n, "X-Request-Id", &v, &vl)) {
        copy_header(reqid, reqid_cap, v, vl);
    } else if (header_is(line, n, "Content-Type", &v, &vl)) {
        copy_header(ctype, ctype_cap, v, vl);
    } else if ((n == 2 && line[0] == '\r') || (n == 1 && line[0] == '\n')) {
        if (*final_seen == -1)
            *final_seen = 1; /* end of the final answer's headers */
    }
}

/* ---- error mapping ------------------------------------------------------ */

int nox__http_status_code(long status) {
    switch (status) {
    case 400:
        return NOX_EINVAL;
    case 401:
    case 403:
        return NOX_EAUTH;
    case 404:
        return NOX_ENOTFOUND;
    case 413:
        return NOX_ETOOBIG;
    case 503:
        return NOX_ENOTREADY;
    default:
        return NOX_EHTTP;
    }
}

int nox__http_status_error_parts(long status, const uint8_t *body, size_t len,
                                 const char *request_id, nox_error **err) {
    if (status >= 200 && status < 300)
        return 0;
    char text[320], rid[NOX__HTTP_REQID_LEN + 20] = "";
    nox__http_error_text(body, len, text, sizeof text);
    if (request_id && *request_id)
        snprintf(rid, sizeof rid, " (request id %s)", request_id);
    /* A NoxRunner server names the core's code in the error body (Part B),
     * so a rejected archive is NOX_EARCHIVE over HTTP as it is locally;
     * any other server gets the mapping from the status alone. */
    int code = nox__http_error_code_field(body, len);
    if (code == 0)
        code = nox__http_status_code(status);
    return nox__err_http(err, code, (int)status, body,
                         len, "server answered %ld%s%s%s", status,
                         text[0] ? ": " : "", text, rid);
}

int nox__http_status_error(const nox__http_call *c, nox_error **err) {
    return nox__http_status_error_parts(c->status, c->resp.data, c->resp.len,
                                        c->request_id, err);
}

int nox__http_curl_error(CURLcode rc, CURL *easy, const char *errbuf,
                         const char *base_url, nox_error **err) {
    const char *detail = errbuf && *errbuf ? errbuf : curl_easy_strerror(rc);
    long os_errno = 0;
    if (easy)
        curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        if (os_errno)
            detail = strerror((int)os_errno);
        return nox__err(err, NOX_ECONNECT, "cannot connect to %s: %s", base_url,
                        detail);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return nox__err(err, NOX_ECONNECT, "cannot connect to %s: %s", base_url,
                        detail);
    case CURLE_OPERATION_TIMEDOUT:
        return nox__err(err, NOX_ETIMEOUT, "request to %s timed out: %s",
                        base_url, detail);
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        return nox__err(err, NOX_ECONNECT, "TLS with %s failed: %s", base_url,
                        detail);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return nox__err(err, NOX_EPROTOCOL,
                        "server %s answered no valid HTTP: %s", base_url, detail);
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
        return nox__err(err, NOX_ECONNECT, "connection to %s failed: %s",
                        base_url, detail);
    case CURLE_OUT_OF_MEMORY:
        return nox__err(err, NOX_ENOMEM, "out of memory in libcurl");
    case CURLE_URL_MALFORMAT:
        return nox__err(err, NOX_EINVAL, "bad server URL %s: %s", base_url,
                        detail);
    default:
        return nox__err(err, NOX_ECONNECT, "request to %s failed: %s", base_url,
                        detail);
    }
}

/* ---- one request -------------------------------------------------------- */

typedef struct xfer {
    nox__http_call *c;
    CURL *easy;
    size_t ok_body_cap;  /* limit for 2xx bodies kept in memory */
    uint64_t sink_bytes; /* 2xx body bytes handed to the sink */
    uint64_t body_bytes; /* streamed request body bytes handed to curl */
    int sink_rc;
    nox_error *sink_err;
    int too_big;
    int final_seen;
    int64_t idle_ms;      /* > 0: abort when nothing moved this long */
    int64_t deadline_ms;  /* > 0: the whole transfer (transfer_timeout_ms) */
    int64_t start_ms;
    int64_t last_move_ms;
    curl_off_t last_dl, last_ul;
    int idle_hit;
} xfer;

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userp) {
    xfer *x = userp;
    nox__http_call *c = x->c;
    size_t n = size * nmemb;
    long st = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &st);
    int ok = st >= 200 && st < 300;
    if (ok && c->sink) {
        int rc = c->sink->write(c->sink->ctx, (const uint8_t *)ptr, n,
                                &x->sink_err);
        if (rc != 0) {
            x->sink_rc = rc;
            return 0; /* aborts the transfer */
        }
        x->sink_bytes += n;
        return n;
    }
    size_t cap = ok ? x->ok_body_cap : NOX__HTTP_MAX_ERROR_BODY;
    if (c->resp.len + n > cap) {
        if (ok) {
            x->too_big = 1;
            return 0;
        }
        n = cap > c->resp.len ? cap - c->resp.len : 0; /* keep the start */
        if (n && nox__buf_append(&c->resp, ptr, n) != 0)
            return 0;
        return size * nmemb;
    }
    if (nox__buf_append(&c->resp, ptr, n) != 0)
        return 0;
    return n;
}

/* libcurl's low-speed check averages over seconds of history, so a stall
 * after a burst goes unnoticed for long: watch the byte counters instead. */
static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow) {
    (void)dltotal;
    (void)ultotal;
    xfer *x = userp;
    int64_t now = nox__now_ms();
    if (dlnow != x->last_dl || ulnow != x->last_ul) {
        x->last_dl = dlnow;
        x->last_ul = ulnow;
        x->last_move_ms = now;
        return 0;
    }
    if (now - x->last_move_ms > x->idle_ms) {
        x->idle_hit = 1;
        return 1;
    }
    return 0;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *userp) {
    xfer *x = userp;
    size_t n = size * nitems;
    nox__http_parse_header(line, n, x->c->request_id,
                           sizeof x->c->request_id, x->c->resp_type,
                           sizeof x->c->resp_type, &x->final_seen);
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *userp) {
    xfer *x = userp;
    nox__http_call *c = x->c;
    if (!c->body || !*c->body)
        return 0;
    size_t r = nox__ring_producer_read(*c->body, (uint8_t *)buf, size * nitems);
    if (r == 0) {
        /* The producer is done: learn whether it succeeded before the
         * last chunk goes out, so a failed archive is never completed. */
        c->producer_rc = nox__ring_producer_finish(*c->body, &c->producer_err);
        *c->body = NULL;
        return c->producer_rc != 0 ? CURL_READFUNC_ABORT : 0;
    }
    x->body_bytes += r;
    return r;
}

/* Hand a callback's saved error to the caller (first cause wins). */
static void move_error(nox_error **err, nox_error **saved, int code,
                       const char *fallback) {
    if (err && !*err && *saved) {
        *err = *saved;
        *saved = NULL;
    }
    nox_error_free(*saved);
    *saved = NULL;
    if (err && !*err)
        nox__err(err, code, "%s", fallback);
}

/* Deadlines: a whole-request timeout, or (c->idle_timeout: archives of
 * many GiB may take long, a stalled one may not) a limit on how long no
 * byte moves plus a deadline for the whole transfer, so a server that
 * trickles a byte now and then cannot hold the caller forever. */
static void set_timeouts(nox__http *h, nox__http_call *c, xfer *x, CURL *easy) {
    const nox__config *cfg = h->cfg;
    int64_t timeout = c->timeout_ms > 0 ? c->timeout_ms : (int64_t)cfg->request_timeout_ms;
    if (timeout <= 0)
        timeout = 60000;
    if (!c->idle_timeout) {
        nox__http_common_opts(easy, cfg, h->user_agent, timeout);
        return;
    }
    x->deadline_ms = cfg->transfer_timeout_ms ? (int64_t)cfg->transfer_timeout_ms
                                              : (int64_t)NOX_DEFAULT_TRANSFER_TIMEOUT_MS;
    nox__http_common_opts(easy, cfg, h->user_agent, x->deadline_ms);
    x->idle_ms = timeout;
    x->start_ms = x->last_move_ms = nox__now_ms();
    curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(easy, CURLOPT_XFERINFODATA, x);
}

/* The request's headers (a fresh request id each attempt); NULL when out
 * of memory. curl_slist_append copies, so the buffers may be ours. */
static struct curl_slist *request_headers(const nox__http *h, const nox__http_call *c) {
    char reqid[NOX__HTTP_REQID_LEN], id_hdr[NOX__HTTP_REQID_LEN + 32];
    char accept[160], ctype[160];
    nox__http_new_request_id(reqid);
    snprintf(id_hdr, sizeof id_hdr, "X-Request-Id: %s", reqid);
    snprintf(accept, sizeof accept, "Accept: %s", c->accept ? c->accept : "application/json");
    if (c->content_type)
        snprintf(ctype, sizeof ctype, "Content-Type: %s", c->content_type);
    const char *lines[] = {
        id_hdr, h->auth_header, accept, c->content_type ? ctype : NULL, c->extra_header,
        "Expect:", /* no 100-continue round trip */
        c->body ? "Transfer-Encoding: chunked" : NULL,
    };
    struct curl_slist *headers = NULL;
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (!lines[i])
            continue;
        struct curl_slist *t = curl_slist_append(headers, lines[i]);
        if (!t) {
            curl_slist_free_all(headers);
            return NULL;
        }
        headers = t;
    }
    return headers;
}

/* Method and request body: a streamed body (c->body, chunked), bytes in
 * memory (c->data) or none. */
static void set_method(CURL *easy, const nox__http_call *c, xfer *x) {
    if (strcmp(c->method, "GET") == 0) {
        curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
        return;
    }
    if (strcmp(c->method, "DELETE") == 0 && !c->body) {
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "DELETE");
        return;
    }
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    if (c->body) {
        curl_easy_setopt(easy, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(easy, CURLOPT_READDATA, x);
    } else {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, c->data ? (const char *)c->data : "");
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(c->data ? c->data_len : 0));
    }
    if (strcmp(c->method, "POST") != 0)
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, c->method);
}

/* A failed transfer: our own callbacks' causes come first (they are the
 * real ones) and are returned as a NOX code; otherwise the transport
 * error goes to *transport_err for the retry loop and 0 is returned. */
static int failure_cause(nox__http *h, nox__http_call *c, xfer *x, CURLcode rc,
                         const char *errbuf, nox_error **err, nox_error **transport_err) {
    if (x->sink_rc) {
        move_error(err, &x->sink_err, x->sink_rc, "writing the download failed");
        return x->sink_rc;
    }
    if (c->producer_rc) {
        move_error(err, &c->producer_err, c->producer_rc, "producing the upload failed");
        return c->producer_rc;
    }
    if (x->idle_hit)
        return nox__err(err, NOX_ETIMEOUT,
                        "request to %s timed out: no data moved for %lld ms", h->base_url,
                        (long long)x->idle_ms);
    /* curl says only "timed out"; name the limit that ended it. (Its
     * clock has microseconds, ours milliseconds: allow for rounding. A
     * connect timeout fires well before the deadline, or is it.) */
    if (rc == CURLE_OPERATION_TIMEDOUT && x->deadline_ms > 0 &&
        nox__now_ms() - x->start_ms + 50 >= x->deadline_ms)
        return nox__err(err, NOX_ETIMEOUT,
                        "request to %s did not finish within %lld ms (transfer_timeout_ms)",
                        h->base_url, (long long)x->deadline_ms);
    if (x->too_big)
        return nox__err(err, NOX_ETOOBIG, "server answered more than %zu bytes",
                        x->ok_body_cap);
    nox__http_curl_error(rc, x->easy, errbuf, h->base_url, transport_err);
    return 0;
}

/* One attempt. A failure our callbacks caused is reported through err and
 * *mapped; a transport failure goes to *transport_err for the retry loop. */
static CURLcode perform_once(nox__http *h, nox__http_call *c, xfer *x,
                             char *errbuf, nox_error **err, int *mapped,
                             nox_error **transport_err) {
    *mapped = 0;
    CURL *easy = pool_acquire(h);
    if (!easy) {
        *mapped = nox__err(err, NOX_ENOMEM, "cannot create a libcurl handle");
        return CURLE_OUT_OF_MEMORY;
    }
    x->easy = easy;
    set_timeouts(h, c, x, easy);
    curl_easy_setopt(easy, CURLOPT_SHARE, h->share);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
    errbuf[0] = 0;

    char *url = nox__asprintf("%s%s", h->base_url, c->path);
    struct curl_slist *headers = url ? request_headers(h, c) : NULL;
    CURLcode rc = CURLE_OUT_OF_MEMORY;
    if (!headers) {
        *mapped = nox__err(err, NOX_ENOMEM, "out of memory");
        goto done;
    }
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, x);
    set_method(easy, c, x);
    /* Archives move in big pieces: curl's 16 KiB default receive buffer
     * means a callback, and a ring write, per 16 KiB. (The handle is
     * reset when it goes back to the pool.) */
    if (c->sink)
        curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, 256L * 1024);
    if (c->body)
        curl_easy_setopt(easy, CURLOPT_UPLOAD_BUFFERSIZE, 256L * 1024);

    rc = curl_easy_perform(easy);
    long st = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &st);
    c->status = rc == CURLE_OK ? st : 0;
    if (rc != CURLE_OK)
        *mapped = failure_cause(h, c, x, rc, errbuf, err, transport_err);
done:
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(headers);
    free(url);
    pool_release(h, easy);
    x->easy = NULL;
    return rc;
}

static int is_connection_failure(CURLcode rc) {
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
           rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR ||
           rc == CURLE_GOT_NOTHING;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int nox__http_perform(nox__http *h, nox__http_call *c, nox_error **err) {
    int delay = 100;
    size_t max_out = h->cfg->max_output_bytes ? (size_t)h->cfg->max_output_bytes
                                              : NOX_DEFAULT_MAX_OUTPUT;
    for (int attempt = 0;; attempt++) {
        xfer x;
        memset(&x, 0, sizeof x);
        x.c = c;
        /* An exec answer carries both streams, as text and as Base64. */
        x.ok_body_cap = 16u * 1024u * 1024u + 8 * max_out;
        c->status = 0;
        c->resp.len = 0;
        c->request_id[0] = 0;
        c->resp_type[0] = 0;
        char errbuf[CURL_ERROR_SIZE];
        int mapped = 0;
        nox_error *terr = NULL;
        CURLcode rc = perform_once(h, c, &x, errbuf, err, &mapped, &terr);
        nox_error_free(x.sink_err);
        if (mapped) {
            nox_error_free(terr);
            return mapped;
        }
        int retry = 0;
        if (rc != CURLE_OK) {
            if (c->retry == NOX__RETRY_SAFE && is_connection_failure(rc) &&
                x.sink_bytes == 0)
                retry = 1;
            if (c->retry != NOX__RETRY_NEVER && rc == CURLE_COULDNT_CONNECT &&
                x.body_bytes == 0)
                retry = 1;
        } else if (c->retry == NOX__RETRY_SAFE &&
                   (c->status == 502 || c->status == 503 || c->status == 504)) {
            retry = 1;
        }
        if (!retry || attempt >= h->cfg->max_retries) {
            if (rc == CURLE_OK)
                return 0;
            int code = terr ? terr->code : NOX_ECONNECT;
            move_error(err, &terr, code, "request failed");
            return code;
        }
        nox_error_free(terr);
        sleep_ms(delay);
        if (delay < 1600)
            delay *= 2; /* 100, 200, 400, ... 1600 ms */
    }
}

void nox__http_call_free(nox__http_call *c) {
    free(c->path);
    c->path = NULL;
    nox__buf_free(&c->resp);
    nox_error_free(c->producer_err);
    c->producer_err = NULL;
}

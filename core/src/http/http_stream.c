/*
 * http_stream.c - streaming exec (B3) for the HTTP backend, pull-style.
 *
 * Each stream owns one curl_multi with one easy handle, so nox_exec_next()
 * can wait with a timeout (curl_multi_poll) and nox_exec_cancel() can wake
 * it from another thread (curl_multi_wakeup). The answer is either NDJSON
 * lines ({"type":"stdout"|"stderr", "data"/"dataBase64"} and a final
 * {"type":"exit", ...}) or, from a Part-A server, one plain JSON exec
 * result, delivered as one stdout chunk, one stderr chunk and the exit.
 *
 * A stream copies everything it needs (URL, token, options): it stays
 * usable after its client is freed. Canceling closes the connection; the
 * server kills the command when its client goes away. A stream that read
 * its answer to the end hands its multi, with the connection in it, back
 * to the client's stream pool for the next one.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"

#define NDJSON_MAX_PENDING (64u * 1024u * 1024u)

struct nox__http_spool {
    pthread_mutex_t mu;
    int refs;   /* the client's, until it closes, and one per stream */
    int closed; /* the client is gone: pairs coming back are freed */
    size_t n;
    CURLM *multi[NOX__HTTP_POOL_MAX];
    CURL *easy[NOX__HTTP_POOL_MAX];
};

nox__http_spool *nox__http_spool_new(void) {
    nox__http_spool *sp = calloc(1, sizeof *sp);
    if (sp) {
        pthread_mutex_init(&sp->mu, NULL);
        sp->refs = 1;
    }
    return sp;
}

static void free_pair(CURLM *multi, CURL *easy) {
    if (easy)
        curl_easy_cleanup(easy);
    if (multi)
        curl_multi_cleanup(multi);
}

/* Drop one reference; with the lock held on entry. */
static void spool_unref_locked(nox__http_spool *sp) {
    int last = --sp->refs == 0;
    pthread_mutex_unlock(&sp->mu);
    if (last) {
        pthread_mutex_destroy(&sp->mu);
        free(sp);
    }
}

void nox__http_spool_close(nox__http_spool *sp) {
    pthread_mutex_lock(&sp->mu);
    sp->closed = 1;
    size_t n = sp->n;
    CURLM *multi[NOX__HTTP_POOL_MAX];
    CURL *easy[NOX__HTTP_POOL_MAX];
    memcpy(multi, sp->multi, n * sizeof *multi);
    memcpy(easy, sp->easy, n * sizeof *easy);
    sp->n = 0;
    spool_unref_locked(sp);
    for (size_t i = 0; i < n; i++)
        free_pair(multi[i], easy[i]);
}

/* A pooled pair, or a new multi (easy NULL: the caller makes one; multi
 * NULL: out of memory). Takes a reference either way. */
static void spool_take(nox__http_spool *sp, CURLM **multi, CURL **easy) {
    pthread_mutex_lock(&sp->mu);
    sp->refs++;
    *multi = NULL;
    *easy = NULL;
    if (sp->n > 0) {
        sp->n--;
        *multi = sp->multi[sp->n];
        *easy = sp->easy[sp->n];
    }
    pthread_mutex_unlock(&sp->mu);
    if (!*multi)
        *multi = curl_multi_init();
}

/* Give the pair back (NULLs: nothing to give) and drop the stream's
 * reference. */
static void spool_give(nox__http_spool *sp, CURLM *multi, CURL *easy) {
    pthread_mutex_lock(&sp->mu);
    if (multi && easy && !sp->closed && sp->n < NOX__HTTP_POOL_MAX) {
        sp->multi[sp->n] = multi;
        sp->easy[sp->n] = easy;
        sp->n++;
        multi = NULL;
        easy = NULL;
    }
    spool_unref_locked(sp);
    free_pair(multi, easy);
}

typedef struct hstream {
    pthread_mutex_t lock; /* held by next() and destroy; cancel only tries */
    int canceled;         /* atomic */
    nox__http_spool *spool;
    CURLM *multi;
    CURL *easy;           /* NULL once the connection is closed */
    struct curl_slist *headers;
    char *url;
    char *body;
    char *base_url;
    char errbuf[CURL_ERROR_SIZE];
    /* the answer */
    int final_seen;
    char request_id[NOX__HTTP_REQID_LEN];
    char resp_type[128];
    int mode;        /* 0: not known yet, 1: NDJSON, 2: one body */
    nox__buf in;     /* received bytes not yet consumed */
    size_t in_off;
    size_t body_cap;
    int too_big;
    int done;
    CURLcode result;
    long status;
    /* delivery */
    nox__buf chunk;  /* the chunk handed out by the last next() */
    uint64_t max_out, out_sent, err_sent;
    int out_trunc, err_trunc;
    nox_exec_result *fb; /* Part-A fallback result being replayed */
    int fb_stage;
    int failed;          /* sticky error code after a failure */
    char *failed_msg;
} hstream;

static int is_ndjson(const char *ctype) {
    static const char nd[] = "application/x-ndjson";
    return strncasecmp(ctype, nd, sizeof nd - 1) == 0;
}

static size_t st_write(char *ptr, size_t size, size_t nmemb, void *userp) {
    hstream *s = userp;
    size_t n = size * nmemb;
    if (s->mode == 0) {
        long st = 0;
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &st);
        s->mode = st >= 200 && st < 300 && is_ndjson(s->resp_type) ? 1 : 2;
        if (!(st >= 200 && st < 300))
            s->body_cap = NOX__HTTP_MAX_ERROR_BODY;
    }
    size_t pending = s->in.len - s->in_off;
    size_t cap = s->mode == 1 ? NDJSON_MAX_PENDING : s->body_cap;
    if (pending + n > cap) {
        if (s->body_cap == NOX__HTTP_MAX_ERROR_BODY && s->mode == 2)
            return n; /* an error body: its start is enough */
        s->too_big = 1;
        return 0;
    }
    if (s->in_off > 0 && s->in_off >= s->in.len / 2) {
        memmove(s->in.data, s->in.data + s->in_off, pending);
        s->in.len = pending;
        s->in_off = 0;
    }
    if (nox__buf_append(&s->in, ptr, n) != 0)
        return 0;
    return n;
}

static size_t st_header(char *line, size_t size, size_t nitems, void *userp) {
    hstream *s = userp;
    size_t n = size * nitems;
    nox__http_parse_header(line, n, s->request_id, sizeof s->request_id,
                           s->resp_type, sizeof s->resp_type, &s->final_seen);
    return n;
}

static int st_progress(void *userp, curl_off_t a, curl_off_t b, curl_off_t c,
                       curl_off_t d) {
    (void)a;
    (void)b;
    (void)c;
    (void)d;
    hstream *s = userp;
    return __atomic_load_n(&s->canceled, __ATOMIC_SEQ_CST) ? 1 : 0;
}

/* Close the connection (the server then kills the command). */
static void close_conn(hstream *s) {
    if (s->easy) {
        curl_multi_remove_handle(s->multi, s->easy);
        curl_easy_cleanup(s->easy);
        s->easy = NULL;
    }
}

/* Let curl move data without waiting; notes the end of the transfer. */
static void pump(hstream *s) {
    if (!s->easy || s->done)
        return;
    int running = 0;
    curl_multi_perform(s->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(s->multi, &left)) != NULL) {
        if (m->msg == CURLMSG_DONE && m->easy_handle == s->easy) {
            s->done = 1;
            s->result = m->data.result;
            curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
        }
    }
}

static int fail(hstream *s, int code, nox_error **err) {
    /* The first failure is remembered, so later calls repeat it. */
    s->failed = code;
    if (err && *err && !s->failed_msg)
        s->failed_msg = nox__strdup(nox_error_message(*err));
    close_conn(s);
    return code;
}

static int emit_chunk(hstream *s, nox_exec_stream *st, int kind,
                      const uint8_t *data, size_t n, int *out_kind,
                      const uint8_t **out_data, size_t *out_len,
                      nox_error **err) {
    (void)st;
    uint64_t *sent = kind == NOX_EVENT_STDOUT ? &s->out_sent : &s->err_sent;
    int *trunc = kind == NOX_EVENT_STDOUT ? &s->out_trunc : &s->err_trunc;
    uint64_t room = s->max_out > *sent ? s->max_out - *sent : 0;
    if (n > room) {
        n = (size_t)room;
        *trunc = 1;
    }
    if (n == 0)
        return 0; /* nothing to hand out: keep reading */
    s->chunk.len = 0;
    if (nox__buf_append(&s->chunk, data, n) != 0 ||
        nox__buf_terminate(&s->chunk) != 0)
        return nox__err(err, NOX_ENOMEM, "out of memory");
    *sent += n;
    *out_kind = kind;
    *out_data = s->chunk.data;
    *out_len = n;
    return 1;
}

static int emit_exit(hstream *s, nox_exec_stream *st, nox_exec_result *r,
                     int *out_kind, const uint8_t **out_data, size_t *out_len,
                     nox_error **err) {
    r->out.len = 0;
    r->err.len = 0;
    r->stdout_truncated |= s->out_trunc;
    r->stderr_truncated |= s->err_trunc;
    if (nox__buf_terminate(&r->out) != 0 || nox__buf_terminate(&r->err) != 0) {
        nox_exec_result_free(r);
        return nox__err(err, NOX_ENOMEM, "out of memory");
    }
    st->result = r;
    *out_kind = NOX_EVENT_EXIT;
    *out_data = NULL;
    *out_len = 0;
    return 1;
}

/* One NDJSON line: 1 with an event, 0 to skip, < 0 on error. */
static int handle_line(hstream *s, nox_exec_stream *st, const uint8_t *line,
                       size_t n, int *kind, const uint8_t **data, size_t *len,
                       nox_error **err) {
    size_t i = 0;
    while (i < n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        i++;
    if (i == n)
        return 0;
    cJSON *j = NULL;
    int rc = nox__http_parse_json(line, n, "the exec stream", &j, err);
    if (rc != 0)
        return rc;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "";
    if (strcmp(t, "stdout") == 0 || strcmp(t, "stderr") == 0) {
        nox__buf b = {0};
        int found;
        rc = nox__http_json_bytes(j, "data", &b, &found, err);
        if (rc == 0)
            rc = emit_chunk(s, st,
                            t[3] == 'o' ? NOX_EVENT_STDOUT : NOX_EVENT_STDERR,
                            b.data, b.len, kind, data, len, err);
        nox__buf_free(&b);
    } else if (strcmp(t, "exit") == 0) {
        nox_exec_result *r = nox__exec_result_new();
        if (!r)
            rc = nox__err(err, NOX_ENOMEM, "out of memory");
        else if ((rc = nox__http_parse_exit_fields(j, r, "the exit event",
                                                   err)) != 0)
            nox_exec_result_free(r);
        else
            rc = emit_exit(s, st, r, kind, data, len, err);
    } else if (strcmp(t, "error") == 0) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "error");
        rc = nox__err(err, NOX_ESANDBOX, "server reported during exec: %s",
                      cJSON_IsString(m) ? m->valuestring : "unknown error");
    }
    /* Unknown types are a newer server's business: skip them. */
    cJSON_Delete(j);
    return rc;
}

static int transfer_error(hstream *s, nox_error **err) {
    if (s->too_big)
        return nox__err(err, NOX_ETOOBIG, "server answered too much data");
    if (s->result == CURLE_ABORTED_BY_CALLBACK &&
        __atomic_load_n(&s->canceled, __ATOMIC_SEQ_CST))
        return nox__err(err, NOX_ECANCELED, "exec canceled");
    return nox__http_curl_error(s->result, s->easy, s->errbuf, s->base_url,
                                err);
}

/* Turn buffered bytes into the next event: 1 with an event, 0 when more
 * data is needed, < 0 on error. */
static int produce(hstream *s, nox_exec_stream *st, int *kind,
                   const uint8_t **data, size_t *len, nox_error **err) {
    if (s->mode == 1) {
        for (;;) {
            uint8_t *start = s->in.data + s->in_off;
            size_t pending = s->in.len - s->in_off;
            uint8_t *nl = pending ? memchr(start, '\n', pending) : NULL;
            size_t n;
            if (nl) {
                n = (size_t)(nl - start);
                s->in_off += n + 1;
            } else if (s->done && pending > 0 && s->result == CURLE_OK) {
                n = pending; /* a last line without a newline */
                s->in_off += n;
            } else {
                break;
            }
            int rc = handle_line(s, st, start, n, kind, data, len, err);
            if (rc != 0)
                return rc;
        }
        if (!s->done)
            return 0;
        if (s->result != CURLE_OK)
            return transfer_error(s, err);
        return nox__err(err, NOX_EPROTOCOL,
                        "the exec stream ended without an exit event");
    }
    if (!s->done)
        return 0;
    if (s->result != CURLE_OK)
        return transfer_error(s, err);
    if (s->status < 200 || s->status >= 300)
        return nox__http_status_error_parts(s->status, s->in.data, s->in.len,
                                            s->request_id, err);
    /* A Part-A server: replay its one result as a stream. */
    if (!s->fb) {
        int rc = nox__http_parse_exec_result(s->in.data, s->in.len, 0, &s->fb,
                                             err);
        if (rc != 0)
            return rc;
    }
    for (;;) {
        int rc = 0;
        switch (s->fb_stage++) {
        case 0:
            rc = emit_chunk(s, st, NOX_EVENT_STDOUT, s->fb->out.data,
                            s->fb->out.len, kind, data, len, err);
            break;
        case 1:
            rc = emit_chunk(s, st, NOX_EVENT_STDERR, s->fb->err.data,
                            s->fb->err.len, kind, data, len, err);
            break;
        default: {
            nox_exec_result *r = s->fb;
            s->fb = NULL;
            return emit_exit(s, st, r, kind, data, len, err);
        }
        }
        if (rc != 0)
            return rc;
    }
}

static int hs_next(nox_exec_stream *st, int32_t timeout_ms, int *kind,
                   const uint8_t **data, size_t *len, nox_error **err) {
    hstream *s = st->impl;
    *kind = NOX_EVENT_NONE;
    *data = NULL;
    *len = 0;
    pthread_mutex_lock(&s->lock);
    int rc = 0;
    if (st->result) {
        *kind = NOX_EVENT_EXIT;
        goto out;
    }
    if (s->failed) {
        rc = nox__err(err, s->failed, "%s",
                      s->failed_msg ? s->failed_msg : "the exec stream failed");
        goto out;
    }
    int64_t deadline = timeout_ms >= 0 ? nox__now_ms() + timeout_ms : -1;
    for (;;) {
        if (__atomic_load_n(&s->canceled, __ATOMIC_SEQ_CST)) {
            close_conn(s);
            rc = nox__err(err, NOX_ECANCELED, "exec canceled");
            goto out;
        }
        pump(s);
        rc = produce(s, st, kind, data, len, err);
        if (rc > 0) {
            rc = 0;
            goto out;
        }
        if (rc < 0) {
            rc = fail(s, rc, err);
            goto out;
        }
        int64_t wait = 1000;
        if (deadline >= 0) {
            int64_t left = deadline - nox__now_ms();
            if (left <= 0)
                goto out; /* NOX_EVENT_NONE */
            if (left < wait)
                wait = left;
        }
        curl_multi_poll(s->multi, NULL, 0, (int)wait, NULL);
    }
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void hs_cancel(nox_exec_stream *st) {
    hstream *s = st->impl;
    __atomic_store_n(&s->canceled, 1, __ATOMIC_SEQ_CST);
    if (pthread_mutex_trylock(&s->lock) == 0) {
        /* Nobody is reading: close now, so the command dies now. */
        if (!st->result)
            close_conn(s);
        pthread_mutex_unlock(&s->lock);
    } else {
        curl_multi_wakeup(s->multi);
    }
}

#define DRAIN_MS 200

/* After the exit event only the end of the answer is still to come (the
 * last chunk, usually in the same packet): read it, so the connection
 * can carry the next stream. */
static void drain(hstream *s) {
    int64_t deadline = nox__now_ms() + DRAIN_MS;
    while (s->easy && !s->done && !__atomic_load_n(&s->canceled, __ATOMIC_SEQ_CST)) {
        pump(s);
        int64_t left = deadline - nox__now_ms();
        if (s->done || left <= 0)
            break;
        curl_multi_poll(s->multi, NULL, 0, (int)left, NULL);
    }
}

static void hs_free(hstream *s, int exited) {
    if (exited)
        drain(s);
    /* Only a transfer read to its end leaves a connection fit for another
     * request; anything else is closed with its handle. (Every stream has
     * taken a pool reference by the time it can be freed.) */
    int reusable = s->easy && s->done && s->result == CURLE_OK &&
                   !__atomic_load_n(&s->canceled, __ATOMIC_SEQ_CST);
    if (reusable) {
        curl_multi_remove_handle(s->multi, s->easy);
        curl_easy_reset(s->easy);
    } else {
        close_conn(s);
    }
    spool_give(s->spool, s->multi, s->easy);
    s->easy = NULL;
    s->multi = NULL;
    curl_slist_free_all(s->headers);
    free(s->url);
    free(s->body);
    free(s->base_url);
    free(s->failed_msg);
    nox__buf_free(&s->in);
    nox__buf_free(&s->chunk);
    nox_exec_result_free(s->fb);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static void hs_destroy(nox_exec_stream *st) {
    hstream *s = st->impl;
    if (s)
        hs_free(s, st->result != NULL);
    st->impl = NULL;
}

static const nox__stream_ops http_stream_ops = {
    .next = hs_next,
    .cancel = hs_cancel,
    .destroy = hs_destroy,
};

static int setup_easy(hstream *s, nox__http *h, int64_t timeout_ms,
                      nox_error **err) {
    if (!s->easy)
        s->easy = curl_easy_init();
    if (!s->easy)
        return nox__err(err, NOX_ENOMEM, "cannot create a libcurl handle");
    CURL *e = s->easy;
    nox__http_common_opts(e, h->cfg, h->user_agent, timeout_ms);
    curl_easy_setopt(e, CURLOPT_URL, s->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(s->body));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, st_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, st_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, st_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
    if (curl_multi_add_handle(s->multi, e) != CURLM_OK)
        return nox__err(err, NOX_ENOMEM, "cannot start a libcurl transfer");
    return 0;
}

static int add_header(hstream *s, const char *line) {
    struct curl_slist *t = curl_slist_append(s->headers, line);
    if (!t)
        return NOX_ENOMEM;
    s->headers = t;
    return 0;
}

/* Body, URL, headers and a (multi, easy) pair for the exec request. */
static int hs_prepare(hstream *s, nox__http *h, const char *sid, const char *const *argv,
                      size_t argc, const nox__exec_opts *o, nox_error **err) {
    s->max_out = o->max_output_bytes;
    size_t max_out = h->cfg->max_output_bytes ? (size_t)h->cfg->max_output_bytes
                                              : NOX_DEFAULT_MAX_OUTPUT;
    s->body_cap = 16u * 1024u * 1024u + 8 * max_out;
    char *path = nox__http_sandbox_path(sid, "/exec", NULL, NULL);
    s->body = nox__http_exec_body(argv, argc, o, err);
    s->base_url = nox__strdup(h->base_url);
    s->url = path ? nox__asprintf("%s%s", h->base_url, path) : NULL;
    free(path);
    spool_take(h->spool, &s->multi, &s->easy);
    s->spool = h->spool;
    char reqid[NOX__HTTP_REQID_LEN], hdr[NOX__HTTP_REQID_LEN + 32];
    nox__http_new_request_id(reqid);
    snprintf(hdr, sizeof hdr, "X-Request-Id: %s", reqid);
    if (!s->body || !s->base_url || !s->url || !s->multi ||
        add_header(s, hdr) ||
        (h->auth_header && add_header(s, h->auth_header)) ||
        add_header(s, "Accept: application/x-ndjson, application/json;q=0.5") ||
        add_header(s, "Content-Type: application/json") ||
        add_header(s, "Expect:"))
        return nox__err(err, NOX_ENOMEM, "out of memory");
    return 0;
}

/* Wait for the answer's headers: a refused connection, a missing sandbox
 * or a bad request is reported by start, not by next(). */
static void await_headers(hstream *s) {
    while (!s->done) {
        pump(s);
        if (s->done)
            break;
        if (s->final_seen == 1) {
            long st = 0;
            curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &st);
            if (st >= 200 && st < 300)
                break;
        }
        curl_multi_poll(s->multi, NULL, 0, 1000, NULL);
    }
}

/* Forget a refused attempt and back off (100, 200, 400, 800, 1600 ms). */
static void reset_for_retry(hstream *s, int attempt) {
    close_conn(s);
    s->done = 0;
    s->final_seen = 0;
    s->mode = 0;
    s->in.len = 0;
    s->in_off = 0;
    long ms = attempt < 4 ? 100L << attempt : 1600L;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Send the request and take the answer's status; only a refused
 * connection is retried (nothing was sent: the command cannot run twice). */
static int hs_connect(hstream *s, nox__http *h, const nox__exec_opts *o, nox_error **err) {
    /* The whole command may run timeoutSeconds, plus the usual margin. */
    int64_t timeout_ms = (int64_t)o->timeout_seconds * 1000 +
                         (int64_t)(h->cfg->request_timeout_ms ? h->cfg->request_timeout_ms
                                                              : 60000);
    for (int attempt = 0;; attempt++) {
        int rc = setup_easy(s, h, timeout_ms, err);
        if (rc != 0)
            return rc;
        await_headers(s);
        if (s->done && s->result == CURLE_COULDNT_CONNECT && attempt < h->cfg->max_retries) {
            reset_for_retry(s, attempt);
            continue;
        }
        if (s->done && s->result != CURLE_OK)
            return transfer_error(s, err);
        if (s->done && (s->status < 200 || s->status >= 300))
            return nox__http_status_error_parts(s->status, s->in.data, s->in.len,
                                                s->request_id, err);
        return 0;
    }
}

int nox__http_exec_start(nox__http *h, const char *sid,
                         const char *const *argv, size_t argc,
                         const nox__exec_opts *o, nox_exec_stream **out,
                         nox_error **err) {
    hstream *s = calloc(1, sizeof *s);
    if (!s)
        return nox__err(err, NOX_ENOMEM, "out of memory");
    pthread_mutex_init(&s->lock, NULL);
    int rc = hs_prepare(s, h, sid, argv, argc, o, err);
    if (rc == 0)
        rc = hs_connect(s, h, o, err);
    if (rc == 0) {
        nox_exec_stream *st = calloc(1, sizeof *st);
        if (!st) {
            rc = nox__err(err, NOX_ENOMEM, "out of memory");
        } else {
            st->ops = &http_stream_ops;
            st->impl = s;
            *out = st;
            return 0;
        }
    }
    hs_free(s, 0);
    return rc;
}

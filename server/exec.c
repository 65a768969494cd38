/* exec.c - POST /v1/sandboxes/{id}/exec, answered as one JSON object or,
 * with "Accept: application/x-ndjson", as a stream of NDJSON lines.
 *
 * Both answers run the command through nox_exec_start()/nox_exec_next(),
 * polling in short steps, so that a client hanging up or the end of the
 * shutdown grace period can cancel the command (nox_exec_cancel kills it
 * and everything it started) instead of letting it run to its timeout.
 */
#include "body.h"
#include "base/text.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define POLL_MS 250
#define DEFAULT_MAX_OUTPUT (1024u * 1024u)
#define MAX_EXEC_TIMEOUT 86400
#define STREAM_BLOCK (32 * 1024)

/* ---- the request -------------------------------------------------------------------- */

typedef struct exec_req {
    cJSON *body;
    const char **argv;  /* NULL-terminated; strings borrowed from body */
    char **env;         /* "K=V", NULL-terminated */
    uint8_t *stdin_buf; /* decoded stdinBase64 */
    nox_exec_options o;
    int raw;            /* rawOutput: also send exact bytes as base64 */
} exec_req;

static void exec_req_free(exec_req *e) {
    if (e->env)
        for (char **p = e->env; *p; p++)
            free(*p);
    free(e->env);
    free(e->argv);
    free(e->stdin_buf);
    cJSON_Delete(e->body);
}

static int out_of_memory(request *r) {
    respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    return -1;
}

/* "cmd": a non-empty array of strings, borrowed into e->argv. */
static int parse_cmd(request *r, exec_req *e) {
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(e->body, "cmd");
    int n = cJSON_IsArray(cmd) ? cJSON_GetArraySize(cmd) : 0;
    const cJSON *it;
    int all_strings = n > 0;
    cJSON_ArrayForEach(it, cmd) {
        if (!cJSON_IsString(it) || !it->valuestring)
            all_strings = 0;
    }
    if (!all_strings) {
        respond_error(r, MHD_HTTP_BAD_REQUEST, "\"cmd\" must be a non-empty array of strings");
        return -1;
    }
    e->argv = calloc((size_t)n + 1, sizeof *e->argv);
    if (!e->argv)
        return out_of_memory(r);
    int i = 0;
    cJSON_ArrayForEach(it, cmd) e->argv[i++] = it->valuestring;
    return 0;
}

/* "env": an object of strings (or null), as "K=V" entries in e->env. The
 * names are checked here: once joined, a '=' in a name is lost. */
static int parse_env(request *r, exec_req *e) {
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(e->body, "env");
    if (!env || cJSON_IsNull(env))
        return 0;
    if (!cJSON_IsObject(env)) {
        respond_error(r, MHD_HTTP_BAD_REQUEST, "\"env\" must be an object of strings");
        return -1;
    }
    e->env = calloc((size_t)cJSON_GetArraySize(env) + 1, sizeof *e->env);
    if (!e->env)
        return out_of_memory(r);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, env) {
        if (!cJSON_IsString(it) || !it->valuestring) {
            respond_error(r, MHD_HTTP_BAD_REQUEST,
                          "\"env\" must be an object of strings "
                          "(\"%.100s\" is not a string)", it->string);
            return -1;
        }
        if (!it->string || !it->string[0] || strchr(it->string, '=')) {
            respond_error(r, MHD_HTTP_BAD_REQUEST,
                          "\"env\" names must be non-empty and must not contain \"=\"");
            return -1;
        }
        size_t kl = strlen(it->string), vl = strlen(it->valuestring);
        char *kv = malloc(kl + vl + 2);
        if (!kv)
            return out_of_memory(r);
        memcpy(kv, it->string, kl);
        kv[kl] = '=';
        memcpy(kv + kl + 1, it->valuestring, vl + 1);
        e->env[i++] = kv;
    }
    e->o.env = (const char *const *)e->env;
    return 0;
}

/* "stdinBase64" (exact bytes, preferred) or "stdin" (text). */
static int parse_stdin(request *r, exec_req *e) {
    const char *in_text = NULL, *in_b64 = NULL;
    if (body_string(r, e->body, "stdin", &in_text) != 0 ||
        body_string(r, e->body, "stdinBase64", &in_b64) != 0)
        return -1;
    if (in_b64) {
        size_t b64_len = strlen(in_b64), len = 0;
        e->stdin_buf = malloc(nox__base64_decoded_max(b64_len));
        if (!e->stdin_buf)
            return out_of_memory(r);
        if (nox__base64_decode(in_b64, b64_len, e->stdin_buf, &len) != 0) {
            respond_error(r, MHD_HTTP_BAD_REQUEST, "\"stdinBase64\" is not valid base64");
            return -1;
        }
        e->o.stdin_data = e->stdin_buf;
        e->o.stdin_len = len;
    } else if (in_text) {
        e->o.stdin_data = (const uint8_t *)in_text;
        e->o.stdin_len = strlen(in_text);
    }
    return 0;
}

/* 0, or a 400 (or 500) queued and -1. */
static int parse_exec(request *r, exec_req *e) {
    memset(e, 0, sizeof *e);
    nox_exec_options_init(&e->o, NOX_EXEC_OPTIONS_VERSION);
    if (body_parse(r, &e->body) != 0 || parse_cmd(r, e) != 0 || parse_env(r, e) != 0)
        return -1;
    int64_t timeout = 0; /* 0: the library's default (30 s) */
    if (body_int(r, e->body, "timeoutSeconds", 1, MAX_EXEC_TIMEOUT, &timeout) != 0 ||
        body_string(r, e->body, "workdir", &e->o.workdir) != 0 ||
        body_bool(r, e->body, "rawOutput", &e->raw) != 0)
        return -1;
    e->o.timeout_seconds = (int32_t)timeout;
    return parse_stdin(r, e);
}

static int wants_ndjson(const request *r) {
    const char *accept = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_ACCEPT);
    return accept && strcasestr(accept, "application/x-ndjson") != NULL;
}

/* The B2 fields every exec answer carries. */
static void write_result_fields(jw *w, const nox_exec_result *res, int out_cut,
                                int err_cut) {
    jw_key(w, "exitCode");
    jw_int(w, nox_exec_result_exit_code(res));
    jw_key(w, "durationMs");
    jw_int(w, nox_exec_result_duration_ms(res));
    jw_key(w, "timedOut");
    jw_bool(w, nox_exec_result_timed_out(res));
    jw_key(w, "stdoutTruncated");
    jw_bool(w, nox_exec_result_stdout_truncated(res) || out_cut);
    jw_key(w, "stderrTruncated");
    jw_bool(w, nox_exec_result_stderr_truncated(res) || err_cut);
    if (nox_exec_result_signal(res)) {
        jw_key(w, "signal");
        jw_int(w, nox_exec_result_signal(res));
    }
}

/* ---- one JSON answer ---------------------------------------------------------------- */

typedef struct capture {
    uint8_t *data;
    size_t len, cap, limit;
    int cut; /* bytes were dropped at the limit */
} capture;

static int capture_add(capture *c, const uint8_t *d, size_t n) {
    if (c->len + n > c->limit) {
        n = c->limit - c->len;
        c->cut = 1;
    }
    if (!n)
        return 0;
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + n)
            cap *= 2;
        uint8_t *nb = realloc(c->data, cap);
        if (!nb)
            return -1;
        c->data = nb;
        c->cap = cap;
    }
    memcpy(c->data + c->len, d, n);
    c->len += n;
    return 0;
}

static enum MHD_Result exec_buffered(request *r, nox_exec_stream *st, int raw) {
    server *s = r->srv;
    uint64_t limit = s->cfg.max_output_bytes ? s->cfg.max_output_bytes
                                             : DEFAULT_MAX_OUTPUT;
    capture out = {.limit = (size_t)limit}, err_out = {.limit = (size_t)limit};
    enum MHD_Result ret;
    int kept = 0; /* the command ended and st goes with the request */
    for (;;) {
        int kind = NOX_EVENT_NONE;
        const uint8_t *data = NULL;
        size_t len = 0;
        nox_error *err = NULL;
        int rc = nox_exec_next(st, POLL_MS, &kind, &data, &len, &err);
        if (rc == NOX_ECANCELED && !atomic_load(&s->aborting)) {
            nox_error_free(err);
            ret = MHD_NO; /* the client is gone: just close */
            goto done;
        }
        if (rc == NOX_ECANCELED) {
            nox_error_free(err);
            ret = respond_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                                "exec canceled: the server is shutting down");
            goto done;
        }
        if (rc != 0) {
            ret = respond_nox(r, rc, err, 0);
            goto done;
        }
        if (kind == NOX_EVENT_EXIT)
            break;
        if (kind == NOX_EVENT_NONE) {
            if (request_client_gone(r))
                nox_exec_cancel(st); /* reported as NOX_ECANCELED next */
            continue;
        }
        if (capture_add(kind == NOX_EVENT_STDOUT ? &out : &err_out, data, len) != 0) {
            ret = respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
            goto done;
        }
    }

    const nox_exec_result *res = nox_exec_stream_result(st);
    if (!res) {
        ret = respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                            "exec ended without a result");
        goto done;
    }
    jw w;
    jw_init(&w);
    jw_obj_begin(&w);
    jw_key(&w, "stdout");
    jw_strn(&w, out.data, out.len);
    jw_key(&w, "stderr");
    jw_strn(&w, err_out.data, err_out.len);
    write_result_fields(&w, res, out.cut, err_out.cut);
    if (raw) {
        jw_key(&w, "stdoutBase64");
        jw_base64(&w, out.data, out.len);
        jw_key(&w, "stderrBase64");
        jw_base64(&w, err_out.data, err_out.len);
    }
    jw_obj_end(&w);
    size_t jlen = 0;
    char *json = jw_take(&w, &jlen);
    ret = respond_json(r, MHD_HTTP_OK, json, jlen);
    kept = 1;
done:
    free(out.data);
    free(err_out.data);
    lifecycle_untrack_stream(s, st);
    lifecycle_exec_leave(s, r->sid);
    if (kept)
        r->spent_stream = st; /* freed after MHD has sent the answer */
    else
        nox_exec_stream_free(st);
    return ret;
}

/* ---- an NDJSON stream ------------------------------------------------------------------ */

typedef struct ndjson {
    request *r;            /* a reference, for the access log's byte count */
    nox_exec_stream *st;
    int raw;
    char *line;            /* the line being sent */
    size_t line_len, line_off;
    int exited;            /* the exit event has been seen */
    int done;              /* the last line has been produced */
    uint8_t carry[2][4];   /* a UTF-8 sequence cut at a chunk's end */
    size_t carry_len[2];
} ndjson;

static int set_line(ndjson *n, jw *w) {
    jw_raw(w, "\n", 1);
    free(n->line);
    n->line = jw_take(w, &n->line_len);
    n->line_off = 0;
    return n->line ? 0 : -1;
}

static int error_line(ndjson *n, int code, const char *msg) {
    jw w;
    jw_init(&w);
    jw_obj_begin(&w);
    jw_key(&w, "type");
    jw_str(&w, "error");
    jw_key(&w, "error");
    jw_str(&w, msg);
    jw_key(&w, "code");
    jw_str(&w, nox_code_name(code));
    jw_obj_end(&w);
    n->done = 1;
    return set_line(n, &w);
}

/* A stdout/stderr line. "data" is text: a multi-byte character cut at the
 * end of a chunk is held back and sent with the next one, so text stays
 * intact; "dataBase64" carries exactly this chunk's bytes. */
static int chunk_line(ndjson *n, int idx, const uint8_t *data, size_t len, int final) {
    size_t total = n->carry_len[idx] + len;
    uint8_t *tmp = malloc(total ? total : 1);
    if (!tmp)
        return -1;
    memcpy(tmp, n->carry[idx], n->carry_len[idx]);
    if (len)
        memcpy(tmp + n->carry_len[idx], data, len);
    size_t tail = final ? 0 : nox__utf8_incomplete_tail(tmp, total);
    memcpy(n->carry[idx], tmp + total - tail, tail);
    n->carry_len[idx] = tail;
    if (total - tail == 0 && !n->raw) {
        free(tmp);
        return 1; /* nothing to say yet */
    }
    jw w;
    jw_init(&w);
    jw_obj_begin(&w);
    jw_key(&w, "type");
    jw_str(&w, idx == 0 ? "stdout" : "stderr");
    jw_key(&w, "data");
    jw_strn(&w, tmp, total - tail);
    if (n->raw) {
        jw_key(&w, "dataBase64");
        jw_base64(&w, data, len);
    }
    jw_obj_end(&w);
    free(tmp);
    return set_line(n, &w);
}

static int exit_line(ndjson *n) {
    const nox_exec_result *res = nox_exec_stream_result(n->st);
    jw w;
    jw_init(&w);
    jw_obj_begin(&w);
    jw_key(&w, "type");
    jw_str(&w, "exit");
    if (res)
        write_result_fields(&w, res, 0, 0);
    jw_obj_end(&w);
    n->done = 1;
    return set_line(n, &w);
}

static ssize_t ndjson_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    ndjson *n = cls;
    server *s = n->r->srv;
    for (;;) {
        if (n->line && n->line_off < n->line_len) {
            size_t k = n->line_len - n->line_off;
            if (k > max)
                k = max;
            memcpy(buf, n->line + n->line_off, k);
            n->line_off += k;
            atomic_fetch_add(&n->r->bytes_out, k);
            return (ssize_t)k;
        }
        if (n->done)
            return MHD_CONTENT_READER_END_OF_STREAM;

        /* Text held back at a cut character goes out before the exit. */
        if (n->exited) {
            int idx = n->carry_len[0] ? 0 : n->carry_len[1] ? 1 : -1;
            int rc = idx >= 0 ? chunk_line(n, idx, NULL, 0, 1) : exit_line(n);
            if (rc < 0)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            continue;
        }

        int kind = NOX_EVENT_NONE;
        const uint8_t *data = NULL;
        size_t len = 0;
        nox_error *err = NULL;
        int rc = nox_exec_next(n->st, POLL_MS, &kind, &data, &len, &err);
        if (rc == NOX_ECANCELED && !atomic_load(&s->aborting)) {
            nox_error_free(err);
            return MHD_CONTENT_READER_END_WITH_ERROR; /* client gone */
        }
        if (rc != 0) {
            const char *msg = rc == NOX_ECANCELED
                                  ? "exec canceled: the server is shutting down"
                                  : err ? nox_error_message(err)
                                        : nox_code_description(rc);
            int lrc = error_line(n, rc, msg);
            nox_error_free(err);
            if (lrc < 0)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            continue;
        }
        if (kind == NOX_EVENT_NONE) {
            if (request_client_gone(n->r)) {
                nox_exec_cancel(n->st);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            continue;
        }
        if (kind == NOX_EVENT_EXIT) {
            n->exited = 1; /* the exit line goes out above */
            continue;
        }
        int lrc = chunk_line(n, kind == NOX_EVENT_STDOUT ? 0 : 1, data, len, 0);
        if (lrc < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void ndjson_free(void *cls) {
    ndjson *n = cls;
    lifecycle_untrack_stream(n->r->srv, n->st);
    nox_exec_stream_free(n->st); /* kills the command if still running */
    lifecycle_exec_leave(n->r->srv, n->r->sid);
    free(n->line);
    request_unref(n->r);
    free(n);
}

static enum MHD_Result exec_streamed(request *r, nox_exec_stream *st, int raw) {
    ndjson *n = calloc(1, sizeof *n);
    if (!n) {
        lifecycle_untrack_stream(r->srv, st);
        nox_exec_stream_free(st);
        lifecycle_exec_leave(r->srv, r->sid);
        return respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    atomic_fetch_add(&r->refs, 1);
    n->r = r;
    n->st = st;
    n->raw = raw;
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, STREAM_BLOCK, ndjson_read, n, ndjson_free);
    if (!resp) {
        ndjson_free(n);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    return request_queue(r, MHD_HTTP_OK, resp, 0);
}

enum MHD_Result handle_exec(request *r) {
    server *s = r->srv;
    exec_req e;
    if (parse_exec(r, &e) != 0) {
        exec_req_free(&e);
        return MHD_YES;
    }
    if (lifecycle_exec_enter(s, r->sid) != 0) {
        exec_req_free(&e);
        return respond_error(r, 429,
                             "sandbox already runs %u commands "
                             "(--max-execs-per-sandbox); try again later",
                             s->cfg.max_execs);
    }
    nox_exec_stream *st = NULL;
    nox_error *err = NULL;
    int rc = nox_exec_start(s->client, r->sid, e.argv, &e.o, &st, &err);
    int raw = e.raw;
    exec_req_free(&e); /* the library copied what it needs */
    if (rc != 0) {
        lifecycle_exec_leave(s, r->sid);
        return respond_nox(r, rc, err, 0);
    }
    lifecycle_track_stream(s, st);
    if (atomic_load(&s->aborting))
        nox_exec_cancel(st); /* started just as the grace period ended */
    if (wants_ndjson(r))
        return exec_streamed(r, st, raw);
    return exec_buffered(r, st, raw);
}

/*
 * test_server.c - noxrunnerd on the wire.
 *
 * Every test talks HTTP to a real noxrunnerd with libcurl's easy API and
 * checks statuses, headers and JSON shapes directly, never through the
 * library's HTTP backend (which has its own tests): this file pins down
 * what any Part-A client, such as the pure-Python noxrunner 2.0.0, sees.
 */
#include "nox_test.h"

#include "local/local.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- HTTP fixtures ------------------------------------------------------ */

typedef struct http_req {
    const char *method;          /* NULL: GET */
    const char *path;            /* appended to the server URL */
    const char *const *headers;  /* "Name: value", NULL-terminated */
    const void *body;            /* sent when has_body */
    size_t body_len;
    int has_body;
    int chunked;                 /* send the body with chunked encoding */
    long timeout_ms;             /* 0: 30 s */
    const char *abort_on;        /* abort the transfer once the body has it */
} http_req;

typedef struct http_resp {
    CURLcode rc;
    long status;
    char *body;
    size_t len;
    char *headers;
    size_t hlen;
    double first_byte_s;         /* when the first body byte came */
    double total_s;
    const char *abort_on;
    struct timespec t0;
} http_resp;

static double since(const struct timespec *t0) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static int append(char **buf, size_t *len, const char *p, size_t n) {
    char *nb = realloc(*buf, *len + n + 1);
    if (!nb)
        return -1;
    memcpy(nb + *len, p, n);
    *len += n;
    nb[*len] = 0;
    *buf = nb;
    return 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
    http_resp *r = ud;
    if (!r->len && n)
        r->first_byte_s = since(&r->t0);
    if (append(&r->body, &r->len, p, sz * n) != 0)
        return 0;
    if (r->abort_on && strstr(r->body, r->abort_on))
        return 0; /* hang up, as a client that lost interest would */
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
    http_resp *r = ud;
    return append(&r->headers, &r->hlen, p, sz * n) == 0 ? sz * n : 0;
}

typedef struct body_reader {
    const char *p;
    size_t left;
} body_reader;

static size_t on_read(char *buf, size_t sz, size_t n, void *ud) {
    body_reader *b = ud;
    size_t k = sz * n < b->left ? sz * n : b->left;
    if (k > 4096)
        k = 4096; /* many small chunks */
    memcpy(buf, b->p, k);
    b->p += k;
    b->left -= k;
    return k;
}

static void http_do(const nt_server *s, const http_req *q, http_resp *out) {
    memset(out, 0, sizeof *out);
    out->abort_on = q->abort_on;
    clock_gettime(CLOCK_MONOTONIC, &out->t0);
    CURL *c = curl_easy_init();
    char url[4096];
    snprintf(url, sizeof url, "%s%s", s->url, q->path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, q->timeout_ms ? q->timeout_ms : 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    struct curl_slist *hl = NULL;
    for (size_t i = 0; q->headers && q->headers[i]; i++)
        hl = curl_slist_append(hl, q->headers[i]);
    body_reader br = {q->body, q->body_len};
    if (q->chunked) {
        hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &br);
    } else if (q->has_body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body ? q->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (q->method)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
    out->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    out->total_s = since(&out->t0);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (!out->body)
        append(&out->body, &out->len, "", 0);
}

static void http_free(http_resp *r) {
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

/* A request with a JSON (or any) text body, or none when body is NULL. */
static void call(const nt_server *s, const char *method, const char *path,
                 const char *body, http_resp *out) {
    http_req q = {.method = method, .path = path, .body = body,
                  .body_len = body ? strlen(body) : 0, .has_body = body != NULL};
    http_do(s, &q, out);
}

/* The value of a response header (case-insensitive name; the last one
 * wins, so a final answer beats a "100 Continue"), copied into a static
 * buffer; NULL when absent. */
static const char *header_of(const http_resp *r, const char *name) {
    static char copy[512];
    const char *v = NULL;
    size_t n = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *eol = strstr(line, "\r\n");
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *p = line + n + 1;
            while (*p == ' ')
                p++;
            size_t vl = len - (size_t)(p - line);
            if (vl >= sizeof copy)
                vl = sizeof copy - 1;
            memcpy(copy, p, vl);
            copy[vl] = 0;
            v = copy;
        }
        line = eol ? eol + 2 : line + len;
    }
    return v;
}

static cJSON *json_of(const http_resp *r) {
    return cJSON_ParseWithLength(r->body, r->len);
}

static const char *jstr(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jhas_number(const cJSON *o, const char *key) {
    return cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, key));
}

static long long jint(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : -999999;
}

/* 1 true, 0 false, -1 missing or not a bool. */
static int jbool(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : -1;
}

/* The answer is `status` with a JSON {"error": "..."} containing needle. */
static int is_error(const http_resp *r, long status, const char *needle) {
    if (r->status != status) {
        fprintf(stderr, "    status %ld, expected %ld; body: %.300s\n", r->status,
                status, r->body);
        return 0;
    }
    const char *ct = header_of(r, "Content-Type");
    if (!ct || !strstr(ct, "application/json")) {
        fprintf(stderr, "    error answer has Content-Type %s\n", ct ? ct : "(none)");
        return 0;
    }
    cJSON *j = json_of(r);
    const char *msg = jstr(j, "error");
    const char *code = jstr(j, "code"); /* every error names one (docs/server.md) */
    int ok = msg && (!needle || strstr(msg, needle)) && code && !strncmp(code, "NOX_E", 5);
    if (!ok)
        fprintf(stderr, "    error body %.300s lacks \"%s\" or a NOX_E* code\n", r->body,
                needle ? needle : "");
    cJSON_Delete(j);
    return ok;
}

static char *b64(const uint8_t *s, size_t n) {
    static const char a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(n / 3 * 4 + 5), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        *o++ = a[v >> 18 & 63];
        *o++ = a[v >> 12 & 63];
        *o++ = i + 1 < n ? a[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? a[v & 63] : '=';
    }
    *o = 0;
    return out;
}

/* Start a server for one test; NULL-terminated extra flags. */
static int start(nt_server *s, ...) {
    const char *args[32];
    int n = 0;
    va_list ap;
    va_start(ap, s);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 31)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    if (nt_server_start(s, args) != 0) {
        nt_fail(__FILE__, __LINE__, "noxrunnerd did not start");
        return -1;
    }
    return 0;
}

/* PUT a sandbox; 1 when it answered 200. */
static int create(const nt_server *s, const char *path_id) {
    char path[1024];
    snprintf(path, sizeof path, "/v1/sandboxes/%s", path_id);
    http_resp r;
    call(s, "PUT", path, "{\"ttlSeconds\": 600}", &r);
    int ok = r.status == 200;
    if (!ok)
        fprintf(stderr, "    create %s: %ld %s\n", path_id, r.status, r.body);
    http_free(&r);
    return ok;
}

static void exec_json(const nt_server *s, const char *id, const char *body,
                      http_resp *out) {
    char path[1024];
    snprintf(path, sizeof path, "/v1/sandboxes/%s/exec", id);
    call(s, "POST", path, body, out);
}

/* Exit status of noxrunnerd run with these arguments (stdout and stderr
 * go to /dev/null), or -1. */
static int run_server_status(const char *const *argv) {
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        dup2(fd, 2);
        unsetenv("NOXRUNNER_TOKEN");
        execv(NOX_TEST_SERVER, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    for (int i = 0; i < 500; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* SIGTERM the server and wait; returns its exit status (-1 if killed),
 * leaving the base dir in place for inspection. */
static int terminate(nt_server *s, double *seconds) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kill(s->pid, SIGTERM);
    int status = 0, rc = -1;
    for (int i = 0; i < 3000; i++) {
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        usleep(10000);
    }
    if (rc == -1) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    s->pid = 0;
    if (seconds)
        *seconds = since(&t0);
    return rc;
}

/* ---- health, request ids, routing ----------------------------------------- */

NT_TEST(healthz_answers_plain_ok) {
    nt_server s;
    if (start(&s, NULL))
        return;
    http_resp r;
    call(&s, "GET", "/healthz", NULL, &r);
    int status = (int)r.status;
    int body_ok = r.len == 2 && memcmp(r.body, "OK", 2) == 0;
    const char *ct = header_of(&r, "Content-Type");
    int ct_ok = ct && strncmp(ct, "text/plain", 10) == 0;
    http_free(&r);
    nt_server_stop(&s);
    NT_CHECK_INT(status, 200);
    NT_CHECK(body_ok);
    NT_CHECK(ct_ok);
}

NT_TEST(request_id_is_echoed_or_generated) {
    nt_server s;
    if (start(&s, NULL))
        return;
    const char *mine[] = {"X-Request-Id: trace-42.abc", NULL};
    http_req q = {.path = "/v1/info", .headers = mine};
    http_resp echoed, generated, insane, err404;
    http_do(&s, &q, &echoed);
    char id1[256] = "", id2[256] = "", id3[256] = "", id4[256] = "";
    const char *v = header_of(&echoed, "X-Request-Id");
    snprintf(id1, sizeof id1, "%s", v ? v : "");
    call(&s, "GET", "/healthz", NULL, &generated);
    v = header_of(&generated, "X-Request-Id");
    snprintf(id2, sizeof id2, "%s", v ? v : "");
    char longid[300] = "X-Request-Id: ";
    memset(longid + strlen(longid), 'a', 200);
    const char *too_long[] = {longid, NULL};
    http_req q3 = {.path = "/healthz", .headers = too_long};
    http_do(&s, &q3, &insane);
    v = header_of(&insane, "X-Request-Id");
    snprintf(id3, sizeof id3, "%s", v ? v : "");
    /* Errors carry one too. */
    call(&s, "GET", "/nowhere", NULL, &err404);
    v = header_of(&err404, "X-Request-Id");
    snprintf(id4, sizeof id4, "%s", v ? v : "");
    http_free(&echoed);
    http_free(&generated);
    http_free(&insane);
    http_free(&err404);
    nt_server_stop(&s);
    NT_CHECK_STR(id1, "trace-42.abc");
    NT_CHECK_INT(strlen(id2), 32);
    NT_CHECK(strspn(id2, "0123456789abcdef") == 32);
    NT_CHECK_INT(strlen(id3), 32);
    NT_CHECK(strcmp(id2, id3) != 0);
    NT_CHECK_INT(strlen(id4), 32);
}

NT_TEST(unknown_route_is_404_and_wrong_method_405_with_allow) {
    nt_server s;
    if (start(&s, NULL))
        return;
    http_resp a, b, c;
    call(&s, "GET", "/v2/whatever", NULL, &a);
    call(&s, "POST", "/v1/sandboxes/x", "{}", &b);
    call(&s, "DELETE", "/v1/sandboxes/x/exec", NULL, &c);
    int a_ok = is_error(&a, 404, "no such endpoint");
    int b_ok = is_error(&b, 405, NULL);
    const char *allow = header_of(&b, "Allow");
    int allow_ok = allow && strstr(allow, "PUT") && strstr(allow, "GET") &&
                   strstr(allow, "DELETE");
    int c_ok = is_error(&c, 405, NULL);
    const char *allow_c = header_of(&c, "Allow");
    int allow_c_ok = allow_c && strcmp(allow_c, "POST") == 0;
    http_free(&a);
    http_free(&b);
    http_free(&c);
    nt_server_stop(&s);
    NT_CHECK(a_ok);
    NT_CHECK(b_ok);
    NT_CHECK(allow_ok);
    NT_CHECK(c_ok);
    NT_CHECK(allow_c_ok);
}

/* ---- the Part-A lifecycle --------------------------------------------------- */

NT_TEST(create_exec_touch_delete_have_part_a_shapes) {
    nt_server s;
    if (start(&s, NULL))
        return;
    char path[256];
    const char *id = nt_sid("life");
    snprintf(path, sizeof path, "/v1/sandboxes/%s", id);

    http_resp c1, c2, ex, t, d, d2, after;
    call(&s, "PUT", path, "{\"ttlSeconds\": 120, \"cpuLimit\": \"1\", "
                          "\"memoryLimit\": \"512Mi\"}", &c1);
    call(&s, "PUT", path, "{\"ttlSeconds\": 120}", &c2); /* idempotent */
    char p2[300];
    snprintf(p2, sizeof p2, "%s/exec", path);
    call(&s, "POST", p2,
         "{\"cmd\": [\"sh\", \"-c\", \"echo out; echo err >&2; exit 3\"],"
         " \"workdir\": \"/workspace\", \"timeoutSeconds\": 20}", &ex);
    snprintf(p2, sizeof p2, "%s/touch", path);
    call(&s, "POST", p2, NULL, &t);
    call(&s, "DELETE", path, NULL, &d);
    call(&s, "DELETE", path, NULL, &d2);
    snprintf(p2, sizeof p2, "%s/exec", path);
    call(&s, "POST", p2, "{\"cmd\": [\"true\"]}", &after);

    cJSON *j1 = json_of(&c1), *j2 = json_of(&c2), *je = json_of(&ex);
    nt_server_stop(&s);

    NT_CHECK_INT(c1.status, 200);
    NT_CHECK(jstr(j1, "podName") && *jstr(j1, "podName"));
    const char *exp = jstr(j1, "expiresAt");
    NT_CHECK(exp && strlen(exp) >= 20 && exp[4] == '-' && exp[10] == 'T' &&
             exp[strlen(exp) - 1] == 'Z');
    NT_CHECK_INT(c2.status, 200);
    NT_CHECK_STR(jstr(j2, "podName"), jstr(j1, "podName"));

    NT_CHECK_INT(ex.status, 200);
    NT_CHECK_INT(jint(je, "exitCode"), 3);
    NT_CHECK_STR(jstr(je, "stdout"), "out\n");
    NT_CHECK_STR(jstr(je, "stderr"), "err\n");
    NT_CHECK(jhas_number(je, "durationMs") && jint(je, "durationMs") >= 0);
    NT_CHECK_INT(jbool(je, "timedOut"), 0);
    NT_CHECK_INT(jbool(je, "stdoutTruncated"), 0);
    NT_CHECK_INT(jbool(je, "stderrTruncated"), 0);
    NT_CHECK(!cJSON_GetObjectItemCaseSensitive(je, "signal"));
    NT_CHECK(!cJSON_GetObjectItemCaseSensitive(je, "stdoutBase64"));

    NT_CHECK_INT(t.status, 200);
    NT_CHECK_INT(d.status, 204);
    NT_CHECK_INT(d.len, 0);
    NT_CHECK(is_error(&d2, 404, NULL));
    NT_CHECK(is_error(&after, 404, NULL));
    cJSON_Delete(j1);
    cJSON_Delete(j2);
    cJSON_Delete(je);
    http_free(&c1);
    http_free(&c2);
    http_free(&ex);
    http_free(&t);
    http_free(&d);
    http_free(&d2);
    http_free(&after);
}

NT_TEST(unknown_sandbox_is_404_with_json_error_everywhere) {
    nt_server s;
    if (start(&s, NULL))
        return;
    static const struct {
        const char *method, *path, *body;
    } calls[] = {
        {"GET", "/v1/sandboxes/ghost", NULL},
        {"DELETE", "/v1/sandboxes/ghost", NULL},
        {"POST", "/v1/sandboxes/ghost/touch", NULL},
        {"POST", "/v1/sandboxes/ghost/exec", "{\"cmd\": [\"true\"]}"},
        {"GET", "/v1/sandboxes/ghost/files/download?src=%2Fworkspace", NULL},
        {"POST", "/v1/sandboxes/ghost/files/upload?dest=%2Fworkspace", "x"},
    };
    int bad = -1;
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        http_resp r;
        call(&s, calls[i].method, calls[i].path, calls[i].body, &r);
        int ok = is_error(&r, 404, NULL);
        http_free(&r);
        if (!ok && bad < 0)
            bad = (int)i;
    }
    nt_server_stop(&s);
    if (bad >= 0)
        nt_fail(__FILE__, __LINE__, "%s %s did not answer a 404 JSON error",
                calls[bad].method, calls[bad].path);
}

NT_TEST(bad_requests_are_400_naming_the_problem) {
    nt_server s;
    if (start(&s, NULL))
        return;
    const char *id = nt_sid("bad");
    if (!create(&s, id)) {
        nt_server_stop(&s);
        NT_CHECK(0);
    }
    static const struct {
        const char *body, *needle;
    } execs[] = {
        {"{\"cmd\": []}", "\"cmd\" must be a non-empty array of strings"},
        {"{}", "\"cmd\" must be a non-empty array of strings"},
        {"{\"cmd\": \"ls\"}", "\"cmd\" must be a non-empty array of strings"},
        {"{\"cmd\": [\"ls\", 3]}", "\"cmd\" must be a non-empty array of strings"},
        {"{\"cmd\": [\"true\"], \"timeoutSeconds\": 0}", "timeoutSeconds"},
        {"{\"cmd\": [\"true\"], \"timeoutSeconds\": 86401}", "timeoutSeconds"},
        {"{\"cmd\": [\"true\"], \"timeoutSeconds\": 1.5}", "timeoutSeconds"},
        {"{\"cmd\": [\"true\"], \"timeoutSeconds\": \"5\"}", "timeoutSeconds"},
        {"{\"cmd\": [\"true\"], \"env\": [\"A=1\"]}", "\"env\""},
        {"{\"cmd\": [\"true\"], \"env\": {\"A\": 1}}", "\"env\""},
        {"{\"cmd\": [\"true\"], \"workdir\": 7}", "\"workdir\""},
        {"{\"cmd\": [\"true\"], \"stdinBase64\": \"***\"}", "stdinBase64"},
        {"{\"cmd\": [\"true\"", "invalid JSON body"},
        {"[1, 2]", "invalid JSON body"},
        {"{\"cmd\": [\"true\"]} trailing", "invalid JSON body"},
    };
    int bad = -1;
    for (size_t i = 0; i < sizeof execs / sizeof execs[0]; i++) {
        http_resp r;
        exec_json(&s, id, execs[i].body, &r);
        int ok = is_error(&r, 400, execs[i].needle);
        http_free(&r);
        if (!ok && bad < 0)
            bad = (int)i;
    }
    static const char *const ttls[] = {
        "{\"ttlSeconds\": 0}", "{\"ttlSeconds\": 2592001}", "{\"ttlSeconds\": -5}",
        "{\"ttlSeconds\": \"60\"}", "{\"ttlSeconds\": 2.5}"};
    int bad_ttl = -1;
    for (size_t i = 0; i < sizeof ttls / sizeof ttls[0]; i++) {
        http_resp r;
        call(&s, "PUT", "/v1/sandboxes/ttl-check", ttls[i], &r);
        int ok = is_error(&r, 400, "ttlSeconds");
        http_free(&r);
        if (!ok && bad_ttl < 0)
            bad_ttl = (int)i;
    }
    http_resp badjson, badlimit, badpct;
    call(&s, "PUT", "/v1/sandboxes/ttl-check", "{nope", &badjson);
    call(&s, "PUT", "/v1/sandboxes/ttl-check", "{\"memoryLimit\": 512}", &badlimit);
    call(&s, "GET", "/v1/sandboxes/a%zzb", NULL, &badpct);
    int badjson_ok = is_error(&badjson, 400, "invalid JSON body");
    int badlimit_ok = is_error(&badlimit, 400, "memoryLimit");
    int badpct_ok = is_error(&badpct, 400, NULL);
    http_free(&badjson);
    http_free(&badlimit);
    http_free(&badpct);
    nt_server_stop(&s);
    if (bad >= 0)
        nt_fail(__FILE__, __LINE__, "exec body %s was not a 400 with \"%s\"",
                execs[bad].body, execs[bad].needle);
    if (bad_ttl >= 0)
        nt_fail(__FILE__, __LINE__, "create body %s was not a 400", ttls[bad_ttl]);
    NT_CHECK(badjson_ok);
    NT_CHECK(badlimit_ok);
    NT_CHECK(badpct_ok);
}

NT_TEST(exec_env_workdir_timeout_and_invalid_utf8) {
    nt_server s;
    if (start(&s, NULL))
        return;
    const char *id = nt_sid("exec");
    if (!create(&s, id)) {
        nt_server_stop(&s);
        NT_CHECK(0);
    }
    http_resp env, lit, mk, wd, to, bin;
    exec_json(&s, id, "{\"cmd\": [\"sh\", \"-c\", \"echo $GREETING\"], "
                      "\"env\": {\"GREETING\": \"hi there\"}}", &env);
    exec_json(&s, id, "{\"cmd\": [\"echo\", \"$GREETING\"], "
                      "\"env\": {\"GREETING\": \"hi\"}}", &lit);
    exec_json(&s, id, "{\"cmd\": [\"mkdir\", \"-p\", \"sub/dir\"]}", &mk);
    exec_json(&s, id, "{\"cmd\": [\"pwd\"], \"workdir\": \"/workspace/sub/dir\"}", &wd);
    exec_json(&s, id, "{\"cmd\": [\"sleep\", \"10\"], \"timeoutSeconds\": 1}", &to);
    exec_json(&s, id, "{\"cmd\": [\"printf\", \"a\\\\377b\\\\000c\"], "
                      "\"rawOutput\": true}", &bin);
    cJSON *je = json_of(&env), *jl = json_of(&lit), *jw = json_of(&wd),
          *jt = json_of(&to), *jb = json_of(&bin);
    nt_server_stop(&s);
    NT_CHECK_INT(env.status, 200);
    NT_CHECK_STR(jstr(je, "stdout"), "hi there\n");
    NT_CHECK_STR(jstr(jl, "stdout"), "$GREETING\n");
    NT_CHECK_INT(mk.status, 200);
    NT_CHECK_INT(wd.status, 200);
    NT_CHECK_STR(jstr(jw, "stdout"), "/workspace/sub/dir\n");
    NT_CHECK_INT(to.status, 200);
    NT_CHECK_INT(jbool(jt, "timedOut"), 1);
    NT_CHECK_INT(jint(jt, "exitCode"), 124);
    NT_CHECK(jint(jt, "durationMs") < 8000);
    NT_CHECK_INT(bin.status, 200);
    /* JSON text: 0xff became U+FFFD and NUL survived as \u0000. */
    NT_CHECK(strstr(bin.body, "a\xEF\xBF\xBD" "b\\u0000c") != NULL);
    NT_CHECK_STR(jstr(jb, "stdoutBase64"), "Yf9iAGM=");
    NT_CHECK_STR(jstr(jb, "stderrBase64"), "");
    cJSON_Delete(je);
    cJSON_Delete(jl);
    cJSON_Delete(jw);
    cJSON_Delete(jt);
    cJSON_Delete(jb);
    http_free(&env);
    http_free(&lit);
    http_free(&mk);
    http_free(&wd);
    http_free(&to);
    http_free(&bin);
}

NT_TEST(stdin_and_stdin_base64_reach_the_command) {
    nt_server s;
    if (start(&s, NULL))
        return;
    const char *id = nt_sid("stdin");
    if (!create(&s, id)) {
        nt_server_stop(&s);
        NT_CHECK(0);
    }
    static const uint8_t bytes[] = {'x', 0, 0xff, 0xfe, '\n', 'y'};
    char *enc = b64(bytes, sizeof bytes);
    char body[512];
    http_resp text, raw, both, none;
    exec_json(&s, id, "{\"cmd\": [\"cat\"], \"stdin\": \"hello\\nworld\"}", &text);
    snprintf(body, sizeof body,
             "{\"cmd\": [\"cat\"], \"stdinBase64\": \"%s\", \"rawOutput\": true}", enc);
    exec_json(&s, id, body, &raw);
    /* stdinBase64 wins over stdin. */
    exec_json(&s, id, "{\"cmd\": [\"cat\"], \"stdin\": \"text\", "
                      "\"stdinBase64\": \"YmFzZTY0\"}", &both);
    /* Without stdin the command reads EOF at once, never the server's. */
    exec_json(&s, id, "{\"cmd\": [\"cat\"], \"timeoutSeconds\": 5}", &none);
    cJSON *jt = json_of(&text), *jr = json_of(&raw), *jb = json_of(&both),
          *jn = json_of(&none);
    nt_server_stop(&s);
    NT_CHECK_STR(jstr(jt, "stdout"), "hello\nworld");
    NT_CHECK_STR(jstr(jr, "stdoutBase64"), enc);
    NT_CHECK_STR(jstr(jb, "stdout"), "base64");
    NT_CHECK_INT(jbool(jn, "timedOut"), 0);
    NT_CHECK_STR(jstr(jn, "stdout"), "");
    free(enc);
    cJSON_Delete(jt);
    cJSON_Delete(jr);
    cJSON_Delete(jb);
    cJSON_Delete(jn);
    http_free(&text);
    http_free(&raw);
    http_free(&both);
    http_free(&none);
}

/* ---- streaming (B3) ------------------------------------------------------------ */

NT_TEST(ndjson_stream_is_ordered_incremental_and_ends_with_exit) {
    nt_server s;
    if (start(&s, NULL))
        return;
    const char *id = nt_sid("stream");
    if (!create(&s, id)) {
        nt_server_stop(&s);
        NT_CHECK(0);
    }
    char path[256];
    snprintf(path, sizeof path, "/v1/sandboxes/%s/exec", id);
    const char *hdrs[] = {"Accept: application/x-ndjson", NULL};
    const char *body = "{\"cmd\": [\"sh\", \"-c\", "
                       "\"echo one; sleep 1; echo two >&2; echo three; exit 7\"],"
                       " \"rawOutput\": true}";
    http_req q = {.method = "POST", .path = path, .headers = hdrs, .body = body,
                  .body_len = strlen(body), .has_body = 1};
    http_resp r;
    http_do(&s, &q, &r);
    nt_server_stop(&s);

    const char *ct = header_of(&r, "Content-Type");
    int ct_ok = ct && strstr(ct, "application/x-ndjson");
    char out[256] = "", err[256] = "";
    int lines = 0, exits = 0, exit_last = 0, order_ok = 1, b64_ok = 1;
    long long code = -1;
    int timed_out = -1;
    char *save = NULL;
    for (char *line = strtok_r(r.body, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);
        const char *type = jstr(j, "type");
        lines++;
        exit_last = 0;
        if (type && strcmp(type, "exit") == 0) {
            exits++;
            exit_last = 1;
            code = jint(j, "exitCode");
            timed_out = jbool(j, "timedOut");
            if (!jhas_number(j, "durationMs"))
                order_ok = 0;
        } else if (type && (strcmp(type, "stdout") == 0 || strcmp(type, "stderr") == 0)) {
            if (exits)
                order_ok = 0;
            const char *d = jstr(j, "data");
            if (!d || !jstr(j, "dataBase64"))
                b64_ok = 0;
            strncat(strcmp(type, "stdout") == 0 ? out : err, d ? d : "",
                    sizeof out - strlen(out) - 1);
        } else {
            order_ok = 0;
        }
        cJSON_Delete(j);
    }
    double first = r.first_byte_s, total = r.total_s;
    long status = r.status;
    http_free(&r);
    NT_CHECK_INT(status, 200);
    NT_CHECK(ct_ok);
    NT_CHECK(lines >= 4);
    NT_CHECK_STR(out, "one\nthree\n");
    NT_CHECK_STR(err, "two\n");
    NT_CHECK(order_ok);
    NT_CHECK(b64_ok);
    NT_CHECK_INT(exits, 1);
    NT_CHECK(exit_last);
    NT_CHECK_INT(code, 7);
    NT_CHECK_INT(timed_out, 0);
    /* "one" arrived well before the command ended: it streamed. */
    NT_CHECK(total - first > 0.5);
}

/* Concatenated "data" of every stdout line of an NDJSON body. */
static void ndjson_stdout(char *body, char *out, size_t cap) {
    out[0] = 0;
    char *save = NULL;
    for (char *line = strtok_r(body, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);
        const char *type = jstr(j, "type"), *d = jstr(j, "data");
        if (type && strcmp(type, "stdout") == 0 && d)
            strncat(out, d, cap - strlen(out) - 1);
        cJSON_Delete(j);
    }
}

NT_TEST(ndjson_text_never_splits_a_utf8_character) {
    nt_server s;
    if (start(&s, NULL))
        return;
    const char *id = nt_sid("utf8");
    if (!create(&s, id)) {
        nt_server_stop(&s);
        NT_CHECK(0);
    }
    char path[256];
    snprintf(path, sizeof path, "/v1/sandboxes/%s/exec", id);
    const char *hdrs[] = {"Accept: application/x-ndjson", NULL};
    /* "é" is C3 A9: the command writes its halves 300 ms apart, so they
     * arrive in different chunks. */
    const char *body = "{\"cmd\": [\"sh\", \"-c\", "
                       "\"printf 'a\\\\303'; sleep 0.3; printf '\\\\251b'\"]}";
    http_req q = {.method = "POST", .path = path, .headers = hdrs, .body = body,
                  .body_len = strlen(body), .has_body = 1};
    http_resp r;
    http_do(&s, &q, &r);
    nt_server_stop(&s);
    char out[64];
    long status = r.status;
    ndjson_stdout(r.body, out, sizeof out);
    http_free(&r);
    NT_CHECK_INT(status, 200);
    NT_CHECK_STR(out, "a\xC3\xA9" "b");
}

NT_TEST(ndjson_stream_error_before_start_is_a_json_error) {
    nt_server s;
    if (start(&s, NULL))
        return;
    const char *hdrs[] = {"Accept: application/x-ndjson", NULL};
    const char *body = "{\"cmd\": [\"true\"]}";
    http_req q = {.method = "POST", .path = "/v1/sandboxes/nobody/exec",
                  .headers = hdrs, .body = body, .body_len = strlen(body),
                  .has_body = 1};
    http_resp r;
    http_do(&s, &q, &r);
    nt_server_stop(&s);
    int ok = is_error(&r, 404, NULL);
    http_free(&r);
    NT_CHECK(ok);
}

NT_TEST(client_hangup_cancels_the_command) {
    nt_server s;
    if (start(&s, NULL))
        return;
    const char *id = nt_sid("hangup");
    if (!create(&s, id)) {
        nt_server_stop(&s);
        NT_CHECK(0);
    }
    char path[256];
    snprintf(path, sizeof path, "/v1/sandboxes/%s/exec", id);
    /* Streamed: hang up after the first line. */
    const char *hdrs[] = {"Accept: application/x-ndjson", NULL};
    const char *body1 = "{\"cmd\": [\"sh\", \"-c\", "
                        "\"echo started; sleep 2; echo x > survived1\"]}";
    http_req q1 = {.method = "POST", .path = path, .headers = hdrs, .body = body1,
                   .body_len = strlen(body1), .has_body = 1, .abort_on = "started"};
    http_resp r1;
    http_do(&s, &q1, &r1);
    /* Plain JSON: give up waiting after half a second. */
    const char *body2 = "{\"cmd\": [\"sh\", \"-c\", \"sleep 2; echo x > survived2\"]}";
    http_req q2 = {.method = "POST", .path = path, .body = body2,
                   .body_len = strlen(body2), .has_body = 1, .timeout_ms = 500};
    http_resp r2;
    http_do(&s, &q2, &r2);
    sleep(3);
    http_resp check;
    exec_json(&s, id, "{\"cmd\": [\"ls\", \"-a\"]}", &check);
    cJSON *j = json_of(&check);
    const char *listing = jstr(j, "stdout");
    int survived = !listing || strstr(listing, "survived") != NULL;
    CURLcode rc1 = r1.rc, rc2 = r2.rc;
    cJSON_Delete(j);
    http_free(&r1);
    http_free(&r2);
    http_free(&check);
    nt_server_stop(&s);
    NT_CHECK(rc1 == CURLE_WRITE_ERROR);
    NT_CHECK(rc2 == CURLE_OPERATION_TIMEDOUT);
    NT_CHECK(!survived);
}

typedef struct bg_call {
    const nt_server *s;
    const char *path, *body;
    http_resp r;
    int done; /* set (atomically) when the call returned */
} bg_call;

static void *bg_call_run(void *arg) {
    bg_call *b = arg;
    call(b->s, "POST", b->path, b->body, &b->r);
    __atomic_store_n(&b->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Wait (30 s at most) until sandbox id of server s has /workspace/<name>:
 * the background command that creates it runs, so the server registered
 * its exec (it does before starting the command). An event, where a fixed
 * sleep was a guess that a loaded host can beat. */
static int wait_started(const nt_server *s, const char *id, const char *name) {
    char dir[67], path[4400];
    nox__session_dirname(id, dir);
    snprintf(path, sizeof path, "%s/%s/workspace/%s", s->base_dir, dir, name);
    struct stat st;
    for (int i = 0; i < 3000; i++) {
        if (stat(path, &st) == 0)
            return 1;
        usleep(10000);
    }
    fprintf(stderr, "    %s never appeared\n", path);
    return 0;
}

NT_TEST(a_long_exec_does_not_block_other_requests) {
    nt_server s;
    if (start(&s, NULL))
        return;
    const char *id = nt_sid("long");
    if (!create(&s, id)) {
        nt_server_stop(&s);
        NT_CHECK(0);
    }
    char path[256];
    snprintf(path, sizeof path, "/v1/sandboxes/%s/exec", id);
    bg_call b = {&s, path,
                 "{\"cmd\": [\"sh\", \"-c\", \"touch /workspace/long; exec sleep 4\"]}",
                 {0}, 0};
    pthread_t t;
    pthread_create(&t, NULL, bg_call_run, &b);
    int started = wait_started(&s, id, "long");
    http_resp h, e;
    call(&s, "GET", "/healthz", NULL, &h);
    exec_json(&s, id, "{\"cmd\": [\"echo\", \"quick\"]}", &e);
    /* Both answered while the long exec still ran: not blocked behind it. */
    int long_running = !__atomic_load_n(&b.done, __ATOMIC_SEQ_CST);
    double h_s = h.total_s, e_s = e.total_s;
    long e_status = e.status;
    pthread_join(t, NULL);
    long long_status = b.r.status;
    http_free(&b.r);
    http_free(&h);
    http_free(&e);
    nt_server_stop(&s);
    fprintf(stderr, "    healthz %.3f s, quick exec %.3f s\n", h_s, e_s);
    NT_CHECK(started);
    NT_CHECK(long_running);
    NT_CHECK(h_s < 3.0 && e_s < 3.5); /* of the 4 s the long one takes (ASan, load) */
    NT_CHECK_INT(e_status, 200);
    NT_CHECK_INT(long_status, 200);
}

NT_TEST(execs_per_sandbox_are_bounded_with_429) {
    nt_server s;
    if (start(&s, "--max-execs-per-sandbox", "1", NULL))
        return;
    const char *id = strdup(nt_sid("busy"));
    const char *other = strdup(nt_sid("busy"));
    if (!create(&s, id) || !create(&s, other)) {
        nt_server_stop(&s);
        NT_CHECK(0);
    }
    char path[256];
    snprintf(path, sizeof path, "/v1/sandboxes/%s/exec", id);
    bg_call b = {&s, path,
                 "{\"cmd\": [\"sh\", \"-c\", \"touch /workspace/busy; exec sleep 3\"]}",
                 {0}, 0};
    pthread_t t;
    pthread_create(&t, NULL, bg_call_run, &b);
    int started = wait_started(&s, id, "busy");
    http_resp busy, elsewhere, later;
    exec_json(&s, id, "{\"cmd\": [\"true\"]}", &busy);
    int still_running = !__atomic_load_n(&b.done, __ATOMIC_SEQ_CST);
    exec_json(&s, other, "{\"cmd\": [\"true\"]}", &elsewhere);
    pthread_join(t, NULL);
    exec_json(&s, id, "{\"cmd\": [\"true\"]}", &later);
    int busy_ok = is_error(&busy, 429, "max-execs-per-sandbox");
    long first = b.r.status, other_status = elsewhere.status, later_status = later.status;
    http_free(&b.r);
    http_free(&busy);
    http_free(&elsewhere);
    http_free(&later);
    nt_server_stop(&s);
    free((void *)id);
    free((void *)other);
    NT_CHECK(started && still_running); /* the 429 was asked while it ran */
    NT_CHECK_INT(first, 200);
    NT_CHECK(busy_ok);
    NT_CHECK_INT(other_status, 200);
    NT_CHECK_INT(later_status, 200);
}

/* ---- ids, introspection (B5) ----------------------------------------------------- */

NT_TEST(percent_encoded_ids_with_slash_and_space) {
    nt_server s;
    if (start(&s, NULL))
        return;
    http_resp c, g, l, e, d;
    call(&s, "PUT", "/v1/sandboxes/team%2Fa%20b%2B", "{}", &c);
    call(&s, "GET", "/v1/sandboxes/team%2Fa%20b%2B", NULL, &g);
    call(&s, "GET", "/v1/sandboxes", NULL, &l);
    exec_json(&s, "team%2Fa%20b%2B", "{\"cmd\": [\"echo\", \"ok\"]}", &e);
    call(&s, "DELETE", "/v1/sandboxes/team%2Fa%20b%2B", NULL, &d);
    cJSON *jg = json_of(&g), *jl = json_of(&l), *je = json_of(&e);
    int listed = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, jl) {
        const char *sid = jstr(it, "sessionId");
        if (sid && strcmp(sid, "team/a b+") == 0 && jstr(it, "podName") &&
            jstr(it, "expiresAt"))
            listed = 1;
    }
    nt_server_stop(&s);
    NT_CHECK_INT(c.status, 200);
    NT_CHECK_INT(g.status, 200);
    NT_CHECK_STR(jstr(jg, "sessionId"), "team/a b+");
    NT_CHECK(jstr(jg, "podName") && jstr(jg, "expiresAt"));
    NT_CHECK(cJSON_IsArray(jl));
    NT_CHECK(listed);
    NT_CHECK_STR(jstr(je, "stdout"), "ok\n");
    NT_CHECK_INT(d.status, 204);
    cJSON_Delete(jg);
    cJSON_Delete(jl);
    cJSON_Delete(je);
    http_free(&c);
    http_free(&g);
    http_free(&l);
    http_free(&e);
    http_free(&d);
}

NT_TEST(info_describes_the_server) {
    nt_server s;
    if (start(&s, NULL))
        return;
    http_resp r;
    call(&s, "GET", "/v1/info", NULL, &r);
    cJSON *j = json_of(&r);
    nt_server_stop(&s);
    NT_CHECK_INT(r.status, 200);
    NT_CHECK_STR(jstr(j, "name"), "noxrunnerd");
    NT_CHECK_STR(jstr(j, "version"), nox_version_string());
    NT_CHECK_STR(jstr(j, "api"), "v1");
    const char *iso = jstr(j, "isolation");
    NT_CHECK(iso && (strcmp(iso, "none") == 0 || strcmp(iso, "namespaces") == 0));
    NT_CHECK_INT(jbool(j, "auth"), 0);
    /* Which limits hold, as the local backend enforces them. */
    const cJSON *limits = cJSON_GetObjectItemCaseSensitive(j, "limits");
    NT_CHECK(cJSON_IsObject(limits) && cJSON_GetObjectItemCaseSensitive(limits, "memory"));
    const cJSON *ext = cJSON_GetObjectItemCaseSensitive(j, "extensions");
    static const char *const want[] = {"auth", "exec-result", "exec-stream", "stdin",
                                       "introspection", "request-id", "raw-output",
                                       "gzip-level", "plain-tar"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int found = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, ext) found |= cJSON_IsString(it) &&
                                             strcmp(it->valuestring, want[i]) == 0;
        if (!found)
            nt_fail(__FILE__, __LINE__, "extension %s missing", want[i]);
    }
    cJSON_Delete(j);
    http_free(&r);
}

/* ---- authentication (B1) ----------------------------------------------------------- */

NT_TEST(token_is_required_except_on_healthz) {
    nt_server s;
    if (start(&s, "--token", "s3cret-token", NULL))
        return;
    const char *wrong[] = {"Authorization: Bearer s3cret-tokem", NULL};
    const char *shorter[] = {"Authorization: Bearer s3cret", NULL};
    const char *basic[] = {"Authorization: Basic czNjcmV0LXRva2Vu", NULL};
    const char *right[] = {"Authorization: Bearer s3cret-token", NULL};
    http_req q = {.path = "/v1/info"};
    http_resp none, bad, shrt, bsc, ok, health, ok_put;
    http_do(&s, &q, &none);
    q.headers = wrong;
    http_do(&s, &q, &bad);
    q.headers = shorter;
    http_do(&s, &q, &shrt);
    q.headers = basic;
    http_do(&s, &q, &bsc);
    q.headers = right;
    http_do(&s, &q, &ok);
    call(&s, "GET", "/healthz", NULL, &health);
    const char *put_body = "{}";
    http_req p = {.method = "PUT", .path = "/v1/sandboxes/authed", .headers = right,
                  .body = put_body, .body_len = 2, .has_body = 1};
    http_do(&s, &p, &ok_put);
    cJSON *j = json_of(&ok);
    int auth_flag = jbool(j, "auth");
    cJSON_Delete(j);
    int none_ok = is_error(&none, 401, NULL), bad_ok = is_error(&bad, 401, NULL),
        shrt_ok = is_error(&shrt, 401, NULL), bsc_ok = is_error(&bsc, 401, NULL);
    const char *www = header_of(&none, "WWW-Authenticate");
    int www_ok = www && strncmp(www, "Bearer", 6) == 0;
    long ok_status = ok.status, health_status = health.status, put_status = ok_put.status;
    http_free(&none);
    http_free(&bad);
    http_free(&shrt);
    http_free(&bsc);
    http_free(&ok);
    http_free(&health);
    http_free(&ok_put);
    nt_server_stop(&s);
    NT_CHECK(none_ok);
    NT_CHECK(www_ok);
    NT_CHECK(bad_ok);
    NT_CHECK(shrt_ok);
    NT_CHECK(bsc_ok);
    NT_CHECK_INT(ok_status, 200);
    NT_CHECK_INT(auth_flag, 1);
    NT_CHECK_INT(health_status, 200);
    NT_CHECK_INT(put_status, 200);
}

/* ---- limits ------------------------------------------------------------------------ */

NT_TEST(oversized_bodies_are_413) {
    nt_server s;
    if (start(&s, "--max-body-bytes", "1024", "--max-upload-bytes", "65536", NULL))
        return;
    const char *id = nt_sid("big");
    if (!create(&s, id)) {
        nt_server_stop(&s);
        NT_CHECK(0);
    }
    char *big = malloc(300000);
    memset(big, 'a', 299999);
    big[299999] = 0;
    char *body = malloc(8192);
    snprintf(body, 8192, "{\"cmd\": [\"cat\"], \"stdin\": \"%.4000s\"}", big);
    char path[256];
    snprintf(path, sizeof path, "/v1/sandboxes/%s/exec", id);
    http_resp json_big, json_chunked, up_len, up_chunked, after;
    exec_json(&s, id, body, &json_big);
    http_req qc = {.method = "POST", .path = path, .body = body,
                   .body_len = strlen(body), .chunked = 1};
    http_do(&s, &qc, &json_chunked);
    snprintf(path, sizeof path, "/v1/sandboxes/%s/files/upload?dest=%%2Fworkspace", id);
    http_req qu = {.method = "POST", .path = path, .body = big, .body_len = 200000,
                   .has_body = 1};
    http_do(&s, &qu, &up_len);
    http_req quc = {.method = "POST", .path = path, .body = big, .body_len = 200000,
                    .chunked = 1};
    http_do(&s, &quc, &up_chunked);
    /* The server is fine afterwards. */
    exec_json(&s, id, "{\"cmd\": [\"echo\", \"alive\"]}", &after);
    int a = is_error(&json_big, 413, NULL), b = is_error(&json_chunked, 413, NULL),
        c = is_error(&up_len, 413, NULL), d = is_error(&up_chunked, 413, NULL);
    long after_status = after.status;
    free(big);
    free(body);
    http_free(&json_big);
    http_free(&json_chunked);
    http_free(&up_len);
    http_free(&up_chunked);
    http_free(&after);
    nt_server_stop(&s);
    NT_CHECK(a);
    NT_CHECK(b);
    NT_CHECK(c);
    NT_CHECK(d);
    NT_CHECK_INT(after_status, 200);
}

/* ---- files ------------------------------------------------------------------------- */

NT_TEST(upload_targz_then_download_round_trips) {
    nt_server s;
    if (start(&s, NULL))
        return;
    const char *id = nt_sid("files");
    if (!create(&s, id)) {
        nt_server_stop(&s);
        NT_CHECK(0);
    }
    char *tmp = nt_mkdtemp("srvfiles");
    char p[4096], cmd[8192];
    snprintf(p, sizeof p, "%s/src", tmp);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/src/dir", tmp);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/src/a.txt", tmp);
    nt_write_file(p, "alpha\n", 6, 0644);
    snprintf(p, sizeof p, "%s/src/dir/b.bin", tmp);
    static uint8_t blob[200000];
    for (size_t i = 0; i < sizeof blob; i++)
        blob[i] = (uint8_t)(i * 7 + i / 251);
    nt_write_file(p, blob, sizeof blob, 0755);
    snprintf(cmd, sizeof cmd, "tar czf '%s/up.tgz' -C '%s/src' .", tmp, tmp);
    int tar_rc = system(cmd);
    size_t tgz_len = 0;
    snprintf(p, sizeof p, "%s/up.tgz", tmp);
    char *tgz = nt_read_file(p, &tgz_len);

    char path[512];
    snprintf(path, sizeof path, "/v1/sandboxes/%s/files/upload?dest=%%2Fworkspace%%2Fin", id);
    const char *ct[] = {"Content-Type: application/x-tar", NULL};
    http_req qu = {.method = "POST", .path = path, .headers = ct, .body = tgz,
                   .body_len = tgz_len, .has_body = 1};
    http_resp up, cat, down, empty, junk, missing;
    http_do(&s, &qu, &up);
    exec_json(&s, id, "{\"cmd\": [\"cat\", \"in/a.txt\"]}", &cat);
    snprintf(path, sizeof path, "/v1/sandboxes/%s/files/download?src=%%2Fworkspace%%2Fin", id);
    call(&s, "GET", path, NULL, &down);
    snprintf(path, sizeof path, "/v1/sandboxes/%s/files/upload?dest=%%2Fworkspace", id);
    call(&s, "POST", path, "", &empty);
    call(&s, "POST", path, "this is not a tarball at all", &junk);
    snprintf(path, sizeof path, "/v1/sandboxes/%s/files/download?src=%%2Fworkspace%%2Fnope", id);
    call(&s, "GET", path, NULL, &missing);

    snprintf(p, sizeof p, "%s/down.tgz", tmp);
    nt_write_file(p, down.body, down.len, 0644);
    snprintf(cmd, sizeof cmd, "mkdir '%s/out' && tar xzf '%s/down.tgz' -C '%s/out'", tmp,
             tmp, tmp);
    int untar_rc = system(cmd);
    size_t a_len = 0, b_len = 0;
    snprintf(p, sizeof p, "%s/out/a.txt", tmp);
    char *a = nt_read_file(p, &a_len);
    snprintf(p, sizeof p, "%s/out/dir/b.bin", tmp);
    char *b = nt_read_file(p, &b_len);
    struct stat st;
    int mode_ok = stat(p, &st) == 0 && (st.st_mode & 0111);
    cJSON *jc = json_of(&cat);
    const char *down_ct = header_of(&down, "Content-Type");
    int down_ct_ok = down_ct && strcmp(down_ct, "application/x-tar") == 0;
    nt_server_stop(&s);

    NT_CHECK_INT(tar_rc, 0);
    NT_CHECK_INT(up.status, 200);
    NT_CHECK_STR(jstr(jc, "stdout"), "alpha\n");
    NT_CHECK_INT(down.status, 200);
    NT_CHECK(down_ct_ok);
    NT_CHECK(down.len > 2 && (uint8_t)down.body[0] == 0x1f &&
             (uint8_t)down.body[1] == 0x8b);
    NT_CHECK_INT(untar_rc, 0);
    NT_CHECK(a && a_len == 6 && memcmp(a, "alpha\n", 6) == 0);
    NT_CHECK(b && b_len == sizeof blob && memcmp(b, blob, sizeof blob) == 0);
    NT_CHECK(mode_ok);
    NT_CHECK(is_error(&empty, 400, NULL));
    NT_CHECK(is_error(&junk, 400, NULL));
    NT_CHECK(is_error(&missing, 404, NULL));
    cJSON_Delete(jc);
    free(a);
    free(b);
    free(tgz);
    http_free(&up);
    http_free(&cat);
    http_free(&down);
    http_free(&empty);
    http_free(&junk);
    http_free(&missing);
    nt_rm_rf(tmp);
    free(tmp);
}

/* Part B: X-Nox-Gzip-Level picks the download's level, "none" a plain
 * tar; without it a Part-A client gets gzip level 6. A plain tar
 * uploads like a tar.gz. */
NT_TEST(gzip_level_header_and_plain_tar_uploads) {
    nt_server s;
    if (start(&s, NULL))
        return;
    const char *id = nt_sid("gzlvl");
    if (!create(&s, id)) {
        nt_server_stop(&s);
        NT_CHECK(0);
    }
    http_resp mk;
    exec_json(&s, id, "{\"cmd\": [\"sh\", \"-c\", \"mkdir lv && yes nox | head -c 262144 "
                      "> lv/y.txt\"]}", &mk);
    char path[512];
    snprintf(path, sizeof path, "/v1/sandboxes/%s/files/download?src=%%2Fworkspace%%2Flv", id);
    static const char *const hv[] = {NULL, "X-Nox-Gzip-Level: 0", "X-Nox-Gzip-Level: none",
                                     "X-Nox-Gzip-Level: 9", "X-Nox-Gzip-Level: fast",
                                     "X-Nox-Gzip-Level: 10"};
    http_resp r[6];
    for (size_t i = 0; i < 6; i++) {
        const char *h[] = {hv[i], NULL};
        http_req q = {.method = "GET", .path = path, .headers = hv[i] ? h : NULL};
        http_do(&s, &q, &r[i]);
    }
    char lv[6][8];
    for (size_t i = 0; i < 6; i++) {
        const char *v = header_of(&r[i], "X-Nox-Gzip-Level");
        snprintf(lv[i], sizeof lv[i], "%s", v ? v : "");
    }
    /* A plain tar made by tar(1) uploads and extracts. */
    char *tmp = nt_mkdtemp("plain");
    char p[4096], cmd[8192];
    snprintf(p, sizeof p, "%s/src", tmp);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/src/p.txt", tmp);
    nt_write_file(p, "plain\n", 6, 0644);
    snprintf(cmd, sizeof cmd, "tar cf '%s/up.tar' -C '%s/src' .", tmp, tmp);
    int tar_rc = system(cmd);
    size_t tar_len = 0;
    snprintf(p, sizeof p, "%s/up.tar", tmp);
    char *tarb = nt_read_file(p, &tar_len);
    snprintf(path, sizeof path, "/v1/sandboxes/%s/files/upload?dest=%%2Fworkspace%%2Fp", id);
    http_req qu = {.method = "POST", .path = path, .body = tarb, .body_len = tar_len,
                   .has_body = 1};
    http_resp up, cat;
    http_do(&s, &qu, &up);
    exec_json(&s, id, "{\"cmd\": [\"cat\", \"p/p.txt\"]}", &cat);
    cJSON *jc = json_of(&cat);
    nt_server_stop(&s);

    NT_CHECK_INT(mk.status, 200);
    for (size_t i = 0; i < 4; i++)
        NT_CHECK_INT(r[i].status, 200);
    const uint8_t *b0 = (const uint8_t *)r[0].body;
    NT_CHECK(r[0].len > 2 && b0[0] == 0x1f && b0[1] == 0x8b && r[0].len < 8192);
    NT_CHECK_STR(lv[0], "6");
    const uint8_t *b1 = (const uint8_t *)r[1].body;
    NT_CHECK(r[1].len > 262144 && b1[0] == 0x1f && b1[1] == 0x8b);
    NT_CHECK_STR(lv[1], "0");
    NT_CHECK(r[2].len > 262144 && memcmp(r[2].body + 257, "ustar", 5) == 0);
    NT_CHECK_STR(lv[2], "none");
    NT_CHECK(r[3].len < 8192 && (uint8_t)r[3].body[0] == 0x1f);
    NT_CHECK_STR(lv[3], "9");
    NT_CHECK(is_error(&r[4], 400, "X-Nox-Gzip-Level \"fast\""));
    NT_CHECK(is_error(&r[5], 400, "X-Nox-Gzip-Level \"10\""));
    NT_CHECK_INT(tar_rc, 0);
    NT_CHECK_INT(up.status, 200);
    NT_CHECK_STR(jstr(jc, "stdout"), "plain\n");
    cJSON_Delete(jc);
    for (size_t i = 0; i < 6; i++)
        http_free(&r[i]);
    http_free(&mk);
    http_free(&up);
    http_free(&cat);
    free(tarb);
    nt_rm_rf(tmp);
    free(tmp);
}

/* ---- startup and shutdown ------------------------------------------------------ */

NT_TEST(non_loopback_without_token_and_bad_flags_exit_2) {
    char *dir = nt_mkdtemp("srvflags");
    const char *open_host[] = {NOX_TEST_SERVER, "--host", "0.0.0.0", "--port", "0",
                               "--base-dir", dir, "--agent", NOX_TEST_AGENT, NULL};
    const char *bad_flag[] = {NOX_TEST_SERVER, "--no-such-flag", NULL};
    const char *bad_port[] = {NOX_TEST_SERVER, "--port", "70000", NULL};
    const char *bad_iso[] = {NOX_TEST_SERVER, "--isolation", "chroot", NULL};
    const char *help[] = {NOX_TEST_SERVER, "--help", NULL};
    int a = run_server_status(open_host), b = run_server_status(bad_flag),
        c = run_server_status(bad_port), d = run_server_status(bad_iso),
        e = run_server_status(help);
    nt_rm_rf(dir);
    free(dir);
    NT_CHECK_INT(a, 2);
    NT_CHECK_INT(b, 2);
    NT_CHECK_INT(c, 2);
    NT_CHECK_INT(d, 2);
    NT_CHECK_INT(e, 0);
}

NT_TEST(sigterm_exits_0_and_deletes_its_sandboxes) {
    nt_server s;
    if (start(&s, NULL))
        return;
    const char *id1 = strdup(nt_sid("term"));
    const char *id2 = strdup(nt_sid("term"));
    int ok1 = create(&s, id1), ok2 = create(&s, id2);
    double secs = 0;
    int rc = terminate(&s, &secs);
    nox_client *local = nt_local_client(s.base_dir, NULL);
    size_t live = 99;
    if (local) {
        nox_sandbox_list *l = NULL;
        if (nox_sandbox_list_all(local, &l, NULL) == 0)
            live = nox_sandbox_list_count(l);
        nox_sandbox_list_free(l);
        nox_client_free(local);
    }
    nt_server_stop(&s);
    free((void *)id1);
    free((void *)id2);
    NT_CHECK(ok1 && ok2);
    NT_CHECK_INT(rc, 0);
    NT_CHECK(secs < 5.0);
    NT_CHECK_INT(live, 0);
}

NT_TEST(keep_sandboxes_leaves_them_alive) {
    nt_server s;
    if (start(&s, "--keep-sandboxes", NULL))
        return;
    char *id = strdup(nt_sid("keep"));
    int ok = create(&s, id);
    int rc = terminate(&s, NULL);
    nox_client *local = nt_local_client(s.base_dir, NULL);
    int alive = 0;
    if (local) {
        nox_sandbox_info *i = NULL;
        alive = nox_sandbox_get(local, id, &i, NULL) == 0;
        nox_sandbox_info_free(i);
        nox_sandbox_delete(local, id, NULL);
        nox_client_free(local);
    }
    nt_server_stop(&s);
    free(id);
    NT_CHECK(ok);
    NT_CHECK_INT(rc, 0);
    NT_CHECK(alive);
}

NT_TEST(shutdown_cancels_running_exec_after_grace) {
    nt_server s;
    if (start(&s, "--grace", "1", NULL))
        return;
    const char *id = nt_sid("grace");
    if (!create(&s, id)) {
        nt_server_stop(&s);
        NT_CHECK(0);
    }
    char path[256];
    snprintf(path, sizeof path, "/v1/sandboxes/%s/exec", id);
    bg_call b = {&s, path,
                 "{\"cmd\": [\"sh\", \"-c\", \"touch /workspace/grace; exec sleep 60\"], "
                 "\"timeoutSeconds\": 120}",
                 {0}, 0};
    pthread_t t;
    pthread_create(&t, NULL, bg_call_run, &b);
    int started = wait_started(&s, id, "grace");
    double secs = 0;
    int rc = terminate(&s, &secs);
    pthread_join(t, NULL);
    int got_503 = is_error(&b.r, 503, "shutting down");
    http_free(&b.r);
    nt_server_stop(&s);
    NT_CHECK(started);
    NT_CHECK_INT(rc, 0);
    NT_CHECK(secs >= 0.9 && secs < 8.0);
    NT_CHECK(got_503);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    NT_RUN(healthz_answers_plain_ok);
    NT_RUN(request_id_is_echoed_or_generated);
    NT_RUN(unknown_route_is_404_and_wrong_method_405_with_allow);
    NT_RUN(create_exec_touch_delete_have_part_a_shapes);
    NT_RUN(unknown_sandbox_is_404_with_json_error_everywhere);
    NT_RUN(bad_requests_are_400_naming_the_problem);
    NT_RUN(exec_env_workdir_timeout_and_invalid_utf8);
    NT_RUN(stdin_and_stdin_base64_reach_the_command);
    NT_RUN(ndjson_stream_is_ordered_incremental_and_ends_with_exit);
    NT_RUN(ndjson_text_never_splits_a_utf8_character);
    NT_RUN(ndjson_stream_error_before_start_is_a_json_error);
    NT_RUN(client_hangup_cancels_the_command);
    NT_RUN(a_long_exec_does_not_block_other_requests);
    NT_RUN(execs_per_sandbox_are_bounded_with_429);
    NT_RUN(percent_encoded_ids_with_slash_and_space);
    NT_RUN(info_describes_the_server);
    NT_RUN(token_is_required_except_on_healthz);
    NT_RUN(oversized_bodies_are_413);
    NT_RUN(upload_targz_then_download_round_trips);
    NT_RUN(gzip_level_header_and_plain_tar_uploads);
    NT_RUN(non_loopback_without_token_and_bad_flags_exit_2);
    NT_RUN(sigterm_exits_0_and_deletes_its_sandboxes);
    NT_RUN(keep_sandboxes_leaves_them_alive);
    NT_RUN(shutdown_cancels_running_exec_after_grace);
    int rc = nt_main_end();
    curl_global_cleanup();
    return rc;
}

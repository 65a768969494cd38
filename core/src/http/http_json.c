/*
 * http_json.c - request bodies and answer parsing for the HTTP backend.
 *
 * cJSON treats strings as NUL-terminated bytes and prints them unchecked,
 * so strings that may hold arbitrary bytes (argv, env, stdin) are quoted
 * here and inserted as raw JSON; the byte-exact data travels in the
 * Base64 fields (Part B: stdinBase64, stdoutBase64, stderrBase64).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int nox__http_json_quote(nox__buf *b, const uint8_t *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    if (nox__buf_append(b, "\"", 1) != 0)
        return NOX_ENOMEM;
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        char esc[8];
        const char *rep = NULL;
        size_t rep_len = 0;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            rep = esc;
            rep_len = 2;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            rep = esc;
            rep_len = 2;
        } else if (c < 0x20 || c == 0x7F) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            rep = esc;
            rep_len = 6;
        } else if (c >= 0x80) {
            /* Valid text passes; each maximal invalid subpart becomes one
             * U+FFFD, as in the server's answers. */
            size_t bad;
            size_t l = nox__utf8_seq(s + i, n - i, &bad);
            if (nox__buf_append(b, l ? (const void *)(s + i) : "\\ufffd", l ? l : 6) != 0)
                return NOX_ENOMEM;
            i += l ? l : bad;
            continue;
        }
        if (rep) {
            if (nox__buf_append(b, rep, rep_len) != 0)
                return NOX_ENOMEM;
            i++;
            continue;
        }
        /* A run of plain bytes at once. */
        size_t j = i + 1;
        while (j < n && s[j] >= 0x20 && s[j] < 0x7F && s[j] != '"' &&
               s[j] != '\\')
            j++;
        if (nox__buf_append(b, s + i, j - i) != 0)
            return NOX_ENOMEM;
        i = j;
    }
    if (nox__buf_append(b, "\"", 1) != 0 || nox__buf_terminate(b) != 0)
        return NOX_ENOMEM;
    return 0;
}

/* A cJSON raw node holding s quoted; NULL on allocation failure. */
static cJSON *quoted_node(const uint8_t *s, size_t n) {
    nox__buf b = {0};
    if (nox__http_json_quote(&b, s, n) != 0) {
        nox__buf_free(&b);
        return NULL;
    }
    cJSON *node = cJSON_CreateRaw((const char *)b.data);
    nox__buf_free(&b);
    return node;
}

static int add_quoted(cJSON *obj, const char *name, const char *s) {
    cJSON *node = quoted_node((const uint8_t *)s, strlen(s));
    if (!node || !cJSON_AddItemToObject(obj, name, node)) {
        cJSON_Delete(node);
        return NOX_ENOMEM;
    }
    return 0;
}

static char *print_or_fail(cJSON *root, int ok, nox_error **err) {
    char *out = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!out)
        nox__err(err, NOX_ENOMEM, "out of memory building the request");
    return out;
}

/* Written straight into one buffer: an exec body is built per command,
 * and a cJSON tree (a node per field, numbers printed with %g and read
 * back with sscanf) cost more than the rest of the client's own work. */
static int put_str(nox__buf *b, const char *s) {
    return nox__buf_append_str(b, s) != 0 ? NOX_ENOMEM : 0;
}

static int put_quoted(nox__buf *b, const char *s, size_t n) {
    return nox__http_json_quote(b, (const uint8_t *)s, n);
}

static int put_int(nox__buf *b, long long v) {
    char num[24];
    int n = snprintf(num, sizeof num, "%lld", v);
    return nox__buf_append(b, num, (size_t)n) != 0 ? NOX_ENOMEM : 0;
}

char *nox__http_exec_body(const char *const *argv, size_t argc,
                          const nox__exec_opts *o, nox_error **err) {
    nox__buf b = {0};
    int rc = put_str(&b, "{\"cmd\":[");
    for (size_t i = 0; rc == 0 && i < argc; i++) {
        if (i)
            rc = put_str(&b, ",");
        if (rc == 0)
            rc = put_quoted(&b, argv[i], strlen(argv[i]));
    }
    if (rc == 0)
        rc = put_str(&b, "],\"env\":{");
    int first = 1;
    for (size_t i = 0; rc == 0 && i < o->env_count; i++) {
        const char *kv = o->env[i];
        const char *eq = strchr(kv, '=');
        if (!eq)
            continue; /* validated by client.c; be defensive */
        if (!first)
            rc = put_str(&b, ",");
        first = 0;
        if (rc == 0)
            rc = put_quoted(&b, kv, (size_t)(eq - kv));
        if (rc == 0)
            rc = put_str(&b, ":");
        if (rc == 0)
            rc = put_quoted(&b, eq + 1, strlen(eq + 1));
    }
    if (rc == 0)
        rc = put_str(&b, "},\"workdir\":");
    if (rc == 0)
        rc = put_quoted(&b, o->workdir, strlen(o->workdir));
    if (rc == 0)
        rc = put_str(&b, ",\"timeoutSeconds\":");
    if (rc == 0)
        rc = put_int(&b, o->timeout_seconds);
    if (rc == 0 && o->has_stdin) {
        /* "stdin" for B4 servers (lossy when not UTF-8), "stdinBase64"
         * with the exact bytes for servers that know it (preferred). */
        rc = put_str(&b, ",\"stdin\":");
        if (rc == 0)
            rc = nox__http_json_quote(&b, o->stdin_data, o->stdin_len);
        char *b64 = rc == 0 ? nox__base64_encode(o->stdin_data, o->stdin_len) : NULL;
        if (rc == 0 && !b64)
            rc = NOX_ENOMEM;
        if (rc == 0)
            rc = put_str(&b, ",\"stdinBase64\":\"");
        if (rc == 0)
            rc = put_str(&b, b64); /* Base64 needs no escaping */
        if (rc == 0)
            rc = put_str(&b, "\"");
        free(b64);
    }
    if (rc == 0)
        rc = put_str(&b, ",\"rawOutput\":true}");
    if (rc == 0)
        rc = nox__buf_terminate(&b) != 0 ? NOX_ENOMEM : 0;
    if (rc != 0) {
        nox__buf_free(&b);
        nox__err(err, NOX_ENOMEM, "out of memory building the request");
        return NULL;
    }
    return (char *)b.data;
}

char *nox__http_create_body(const nox__sandbox_opts *o, nox_error **err) {
    cJSON *root = cJSON_CreateObject();
    int ok = root && cJSON_AddNumberToObject(root, "ttlSeconds",
                                             (double)o->ttl_seconds);
    if (ok && o->image)
        ok = add_quoted(root, "image", o->image) == 0;
    if (ok && o->cpu_limit)
        ok = add_quoted(root, "cpuLimit", o->cpu_limit) == 0;
    if (ok && o->memory_limit)
        ok = add_quoted(root, "memoryLimit", o->memory_limit) == 0;
    if (ok && o->ephemeral_storage_limit)
        ok = add_quoted(root, "ephemeralStorageLimit",
                        o->ephemeral_storage_limit) == 0;
    return print_or_fail(root, ok, err);
}

int nox__http_parse_json(const uint8_t *body, size_t len, const char *what,
                         cJSON **out, nox_error **err) {
    *out = NULL;
    cJSON *j = cJSON_ParseWithLength((const char *)body, len);
    if (!j) {
        char text[64];
        size_t n = len < 40 ? len : 40, k = 0;
        for (size_t i = 0; i < n; i++)
            text[k++] = body[i] >= 0x20 && body[i] < 0x7F ? (char)body[i] : '?';
        text[k] = 0;
        return nox__err(err, NOX_EPROTOCOL,
                        "server answered invalid JSON for %s: \"%s%s\"", what,
                        text, len > n ? "..." : "");
    }
    *out = j;
    return 0;
}

int nox__http_json_bytes(const cJSON *o, const char *name, nox__buf *out,
                         int *found, nox_error **err) {
    char key[64];
    snprintf(key, sizeof key, "%sBase64", name);
    *found = 0;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(b) && b->valuestring) {
        *found = 1;
        size_t n = strlen(b->valuestring), got = 0;
        if (nox__buf_reserve(out, nox__base64_decoded_max(n)) != 0)
            return nox__err(err, NOX_ENOMEM, "out of memory");
        if (nox__base64_decode(b->valuestring, n, out->data + out->len, &got) == 0)
            out->len += got;
        else
            return nox__err(err, NOX_EPROTOCOL,
                            "server sent invalid Base64 in \"%s\"", key);
        return 0;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, name);
    if (cJSON_IsString(t) && t->valuestring) {
        *found = 1;
        if (nox__buf_append(out, t->valuestring, strlen(t->valuestring)) != 0)
            return nox__err(err, NOX_ENOMEM, "out of memory");
    }
    return 0;
}

static int json_flag(const cJSON *o, const char *name) {
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, name)) ? 1 : 0;
}

int nox__http_parse_exit_fields(const cJSON *o, nox_exec_result *r,
                                const char *what, nox_error **err) {
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(o, "exitCode");
    if (!cJSON_IsNumber(code))
        return nox__err(err, NOX_EPROTOCOL,
                        "server answered %s without a numeric \"exitCode\"",
                        what);
    r->exit_code = code->valueint;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "durationMs");
    /* Any number may come: a double out of int64's range must not be
     * converted (undefined behaviour; found by fuzz_http_response). */
    if (cJSON_IsNumber(d) && d->valuedouble >= 0 && d->valuedouble < 9.2e18)
        r->duration_ms = (int64_t)d->valuedouble;
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(o, "signal");
    if (cJSON_IsNumber(sig))
        r->signal = sig->valueint;
    /* A Part-A server has none of these: they stay 0. */
    r->timed_out = json_flag(o, "timedOut");
    r->stdout_truncated |= json_flag(o, "stdoutTruncated");
    r->stderr_truncated |= json_flag(o, "stderrTruncated");
    return 0;
}

/* Cut b to max bytes; 1 when something was cut. */
static int cut(nox__buf *b, uint64_t max) {
    if (max && b->len > max) {
        b->len = (size_t)max;
        return 1;
    }
    return 0;
}

int nox__http_parse_exec_result(const uint8_t *body, size_t len,
                                uint64_t max_out, nox_exec_result **out,
                                nox_error **err) {
    cJSON *j = NULL;
    int rc = nox__http_parse_json(body, len, "exec", &j, err);
    if (rc != 0)
        return rc;
    nox_exec_result *r = nox__exec_result_new();
    if (!r) {
        cJSON_Delete(j);
        return nox__err(err, NOX_ENOMEM, "out of memory");
    }
    int found;
    if (!cJSON_IsObject(j))
        rc = nox__err(err, NOX_EPROTOCOL,
                      "server answered invalid JSON for exec: not an object");
    if (rc == 0)
        rc = nox__http_parse_exit_fields(j, r, "exec", err);
    if (rc == 0)
        rc = nox__http_json_bytes(j, "stdout", &r->out, &found, err);
    if (rc == 0)
        rc = nox__http_json_bytes(j, "stderr", &r->err, &found, err);
    cJSON_Delete(j);
    if (rc == 0) {
        r->stdout_truncated |= cut(&r->out, max_out);
        r->stderr_truncated |= cut(&r->err, max_out);
        if (nox__buf_terminate(&r->out) != 0 || nox__buf_terminate(&r->err) != 0)
            rc = nox__err(err, NOX_ENOMEM, "out of memory");
    }
    if (rc != 0) {
        nox_exec_result_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int nox__http_parse_sandbox(const cJSON *o, const char *sid,
                            nox_sandbox_info **out, nox_error **err) {
    const cJSON *pod = cJSON_GetObjectItemCaseSensitive(o, "podName");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(o, "expiresAt");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "sessionId");
    if (!cJSON_IsObject(o) || !cJSON_IsString(pod) || !cJSON_IsString(exp))
        return nox__err(err, NOX_EPROTOCOL,
                        "server answered a sandbox without \"podName\" and "
                        "\"expiresAt\"");
    if (!sid) {
        if (!cJSON_IsString(id))
            return nox__err(err, NOX_EPROTOCOL,
                            "server listed a sandbox without \"sessionId\"");
        sid = id->valuestring;
    }
    *out = nox__sandbox_info_new(sid, pod->valuestring, exp->valuestring, 0);
    if (!*out)
        return nox__err(err, NOX_ENOMEM, "out of memory");
    return 0;
}

/* Copy printable text, control bytes as spaces, at most cap-1 bytes. */
static void copy_printable(char *out, size_t cap, const uint8_t *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        out[k++] = s[i] < 0x20 || s[i] == 0x7F ? ' ' : (char)s[i];
    while (k > 0 && out[k - 1] == ' ')
        k--;
    out[k] = 0;
}

int nox__http_error_code_field(const uint8_t *body, size_t len) {
    if (!body || len == 0)
        return 0;
    cJSON *j = cJSON_ParseWithLength((const char *)body, len);
    const cJSON *c = j ? cJSON_GetObjectItemCaseSensitive(j, "code") : NULL;
    int code = cJSON_IsString(c) ? nox__code_from_name(c->valuestring) : 0;
    cJSON_Delete(j);
    return code;
}

void nox__http_error_text(const uint8_t *body, size_t len, char *out,
                          size_t cap) {
    out[0] = 0;
    if (!body || len == 0 || cap == 0)
        return;
    cJSON *j = cJSON_ParseWithLength((const char *)body, len);
    if (j) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
        if (cJSON_IsString(e) && e->valuestring) {
            copy_printable(out, cap, (const uint8_t *)e->valuestring,
                           strlen(e->valuestring));
            cJSON_Delete(j);
            return;
        }
        cJSON_Delete(j);
    }
    /* Plain text: a short prefix, ending at the first line break. */
    size_t n = 0;
    while (n < len && n < 200 && body[n] != '\n' && body[n] != '\r')
        n++;
    copy_printable(out, cap, body, n);
    if (n < len && n == 200 && strlen(out) + 4 < cap)
        strcat(out, "...");
}

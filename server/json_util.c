/* json_util.c - writing JSON text from arbitrary bytes.
 *
 * cJSON strings stop at the first NUL and copy invalid UTF-8 through, but
 * command output may hold both. Responses are therefore written here:
 * every string comes out as valid UTF-8 JSON, with invalid bytes replaced
 * by U+FFFD (what Python's errors="replace" does) and NUL as \u0000.
 * Requests are still parsed with cJSON. */
#include "server.h"

#include "base/text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jw_init(jw *w) {
    memset(w, 0, sizeof *w);
    w->first[0] = 1;
}

void jw_free(jw *w) {
    free(w->buf);
    jw_init(w);
}

static void put(jw *w, const char *s, size_t n) {
    if (w->oom || (n == 0 && w->buf))
        return;
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n + 1) {
            if (cap > SIZE_MAX / 2) {
                w->oom = 1;
                return;
            }
            cap *= 2;
        }
        char *nb = realloc(w->buf, cap);
        if (!nb) {
            w->oom = 1;
            return;
        }
        w->buf = nb;
        w->cap = cap;
    }
    if (n)
        memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = 0;
}

void jw_raw(jw *w, const char *s, size_t n) { put(w, s, n); }

/* A value is about to be written: separate it from the previous array
 * element. (Object members are separated by jw_key.) */
static void before_value(jw *w) {
    if (w->depth > 0 && w->is_arr[w->depth]) {
        if (!w->first[w->depth])
            put(w, ",", 1);
        w->first[w->depth] = 0;
    }
}

static void open_container(jw *w, char c, int is_arr) {
    before_value(w);
    put(w, &c, 1);
    if (w->depth + 1 >= (int)sizeof w->first) {
        w->oom = 1; /* deeper than any answer we build */
        return;
    }
    w->depth++;
    w->first[w->depth] = 1;
    w->is_arr[w->depth] = (unsigned char)is_arr;
}

static void close_container(jw *w, char c) {
    put(w, &c, 1);
    if (w->depth > 0)
        w->depth--;
}

void jw_obj_begin(jw *w) { open_container(w, '{', 0); }
void jw_obj_end(jw *w) { close_container(w, '}'); }
void jw_arr_begin(jw *w) { open_container(w, '[', 1); }
void jw_arr_end(jw *w) { close_container(w, ']'); }

void jw_key(jw *w, const char *key) {
    if (!w->first[w->depth])
        put(w, ",", 1);
    w->first[w->depth] = 0;
    /* Keys are our own ASCII names; no escaping needed. */
    put(w, "\"", 1);
    put(w, key, strlen(key));
    put(w, "\":", 2);
}

void jw_strn(jw *w, const uint8_t *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    before_value(w);
    put(w, "\"", 1);
    size_t i = 0, run = 0; /* s[run..i) is plain text not yet written */
    while (i < n) {
        uint8_t c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t prefix;
            size_t len = nox__utf8_seq(s + i, n - i, &prefix);
            if (len) {
                i += len;
                continue;
            }
            put(w, (const char *)s + run, i - run);
            put(w, "\xEF\xBF\xBD", 3); /* U+FFFD */
            i += prefix;
            run = i;
            continue;
        }
        put(w, (const char *)s + run, i - run);
        char esc[7];
        switch (c) {
        case '"': put(w, "\\\"", 2); break;
        case '\\': put(w, "\\\\", 2); break;
        case '\n': put(w, "\\n", 2); break;
        case '\r': put(w, "\\r", 2); break;
        case '\t': put(w, "\\t", 2); break;
        case '\b': put(w, "\\b", 2); break;
        case '\f': put(w, "\\f", 2); break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            put(w, esc, 6);
        }
        i++;
        run = i;
    }
    put(w, (const char *)s + run, i - run);
    put(w, "\"", 1);
}

void jw_str(jw *w, const char *s) {
    if (!s) {
        before_value(w);
        put(w, "null", 4);
        return;
    }
    jw_strn(w, (const uint8_t *)s, strlen(s));
}

void jw_int(jw *w, int64_t v) {
    char num[32];
    int n = snprintf(num, sizeof num, "%" PRId64, v);
    before_value(w);
    put(w, num, (size_t)n);
}

void jw_bool(jw *w, int v) {
    before_value(w);
    if (v)
        put(w, "true", 4);
    else
        put(w, "false", 5);
}

void jw_base64(jw *w, const uint8_t *s, size_t n) {
    before_value(w);
    put(w, "\"", 1);
    char out[4 * 256];
    for (size_t i = 0; i < n; i += 3 * 256) {
        size_t part = n - i < 3 * 256 ? n - i : 3 * 256;
        nox__base64_encode_to(out, s + i, part);
        put(w, out, nox__base64_encoded_len(part));
    }
    put(w, "\"", 1);
}

char *jw_take(jw *w, size_t *len) {
    char *out = NULL;
    if (!w->oom) {
        if (!w->buf)
            put(w, "", 0);
        out = w->buf;
        if (len)
            *len = w->len;
        w->buf = NULL;
    }
    jw_free(w);
    return out;
}

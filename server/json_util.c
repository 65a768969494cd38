/* json_util.c - writing JSON text from arbitrary bytes, and base64.
 *
 * cJSON strings stop at the first NUL and copy invalid UTF-8 through, but
 * command output may hold both. Responses are therefore written here:
 * every string comes out as valid UTF-8 JSON, with invalid bytes replaced
 * by U+FFFD (what Python's errors="replace" does) and NUL as \u0000.
 * Requests are still parsed with cJSON. */
#include "server.h"

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

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when the bytes
 * there are not one; *prefix gets how many bytes form a valid but
 * possibly cut-off beginning (the "maximal subpart" replaced by a single
 * U+FFFD, as Unicode recommends). */
static size_t utf8_seq(const uint8_t *s, size_t n, size_t *prefix) {
    uint8_t c = s[0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    *prefix = 1;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* beyond U+10FFFF */
    } else
        return 0;
    for (size_t i = 1; i <= need; i++) {
        if (i >= n)
            return 0;
        uint8_t b = s[i];
        uint8_t l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (b < l || b > h)
            return 0;
        *prefix = i + 1;
    }
    return need + 1;
}

size_t utf8_incomplete_tail(const uint8_t *s, size_t n) {
    /* Look back at most 3 bytes for a lead byte whose sequence runs past
     * the end but is valid so far. */
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        const uint8_t *p = s + n - back;
        if ((*p & 0xC0) == 0x80)
            continue; /* continuation byte: keep looking for the lead */
        size_t prefix;
        if (utf8_seq(p, back, &prefix) == 0 && prefix == back && *p >= 0xC2)
            return back;
        return 0;
    }
    return 0;
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
            size_t len = utf8_seq(s + i, n - i, &prefix);
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

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void jw_base64(jw *w, const uint8_t *s, size_t n) {
    before_value(w);
    put(w, "\"", 1);
    char out[4 * 256];
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64_alphabet[v & 63] : '=';
        if (o == sizeof out) {
            put(w, out, o);
            o = 0;
        }
    }
    put(w, out, o);
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

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

uint8_t *base64_decode(const char *s, size_t n, size_t *out_len, int *bad) {
    *bad = 0;
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1) {
        *bad = 1;
        return NULL;
    }
    uint8_t *out = malloc(n / 4 * 3 + 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            *bad = 1;
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    out[o] = 0;
    *out_len = o;
    return out;
}

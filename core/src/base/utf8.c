/*
 * utf8.c - the one UTF-8 validator: the library checks session ids with
 * it, and both JSON writers (the HTTP client's request bodies, the
 * server's answers) use it to pass valid text through and replace the
 * rest by U+FFFD.
 */
#include "text.h"

size_t nox__utf8_seq(const uint8_t *s, size_t n, size_t *prefix) {
    uint8_t c = s[0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF; /* the range of the second byte */
    size_t dummy;
    if (!prefix)
        prefix = &dummy;
    *prefix = 1;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
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
    } else {
        return 0; /* a continuation byte, C0/C1 (overlong) or F5..FF */
    }
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

int nox__utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = nox__utf8_seq(s + i, n - i, NULL);
        if (len == 0)
            return 0;
        i += len;
    }
    return 1;
}

size_t nox__utf8_incomplete_tail(const uint8_t *s, size_t n) {
    /* Look back at most 3 bytes for a lead byte whose sequence runs past
     * the end but is valid so far. */
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        const uint8_t *p = s + n - back;
        if ((*p & 0xC0) == 0x80)
            continue; /* a continuation byte: keep looking for the lead */
        size_t prefix;
        if (nox__utf8_seq(p, back, &prefix) == 0 && prefix == back && *p >= 0xC2)
            return back;
        return 0;
    }
    return 0;
}

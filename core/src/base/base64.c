/*
 * base64.c - RFC 4648 Base64 (standard alphabet, padded), for the
 * byte-exact JSON fields of the wire contract (stdinBase64, stdoutBase64,
 * stderrBase64, dataBase64): JSON strings cannot carry NUL bytes or
 * invalid UTF-8.
 */
#include "text.h"

#include <errno.h>
#include <stdlib.h>

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t nox__base64_encoded_len(size_t len) { return (len + 2) / 3 * 4; }

void nox__base64_encode_to(char *out, const uint8_t *data, size_t len) {
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        *out++ = alphabet[(v >> 18) & 63];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = alphabet[(v >> 6) & 63];
        *out++ = alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        *out++ = alphabet[(v >> 18) & 63];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
        *out++ = '=';
    }
}

char *nox__base64_encode(const uint8_t *data, size_t len) {
    size_t n = nox__base64_encoded_len(len);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    nox__base64_encode_to(out, data, len);
    out[n] = 0;
    return out;
}

size_t nox__base64_decoded_max(size_t n) { return n / 4 * 3 + 3; }

static int value_of(unsigned char c) {
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

int nox__base64_decode(const char *s, size_t n, uint8_t *out, size_t *out_len) {
    size_t pad = 0;
    while (n > 0 && s[n - 1] == '=') {
        n--;
        pad++;
    }
    /* One leftover character holds 6 bits, less than a byte: no encoding
     * ends that way. Padding, when present, fills the group to four. */
    if (n % 4 == 1 || pad > 2 || (pad && (n + pad) % 4 != 0))
        return -EINVAL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = value_of((unsigned char)s[i]);
        if (v < 0)
            return -EINVAL;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out_len = o;
    return 0;
}

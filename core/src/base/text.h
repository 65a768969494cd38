/*
 * text.h - the one Base64 codec and the one UTF-8 validator, shared by the
 * library (core/src), the agent and noxrunnerd.
 *
 * Built into the internal static library `noxbase` (every .c file here),
 * compiled with hidden visibility: none of this is part of the public ABI.
 * Functions here know nothing of nox_error; they return sizes, 0/1 answers
 * or a negative errno, and each caller turns that into its own error.
 */
#ifndef NOX_BASE_TEXT_H
#define NOX_BASE_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* ---- base64.c ------------------------------------------------------------
 * RFC 4648 section 4 "base64": the standard alphabet (A-Z a-z 0-9 + /)
 * with '=' padding. This is what the wire contract's *Base64 fields carry
 * (docs/spec/backend-api-v1.md); the URL-safe alphabet of section 5
 * ('-' and '_') is not accepted, nor are whitespace or line breaks. */

/* Characters nox__base64_encode_to writes for len bytes (no NUL). */
size_t nox__base64_encoded_len(size_t len);
/* Write the padded encoding of data[0..len) to out, which has room for
 * nox__base64_encoded_len(len) characters; no NUL is added. */
void nox__base64_encode_to(char *out, const uint8_t *data, size_t len);
/* The padded encoding, malloc'd and NUL-terminated; NULL when out of
 * memory. */
char *nox__base64_encode(const uint8_t *data, size_t len);
/* An upper bound of the bytes s[0..n) decodes to. */
size_t nox__base64_decoded_max(size_t n);
/* Decode s[0..n) into out (room for nox__base64_decoded_max(n) bytes) and
 * set *out_len. Padding may be left out, but when present it must complete
 * the last group of four. Returns 0, or -EINVAL on a character outside the
 * alphabet, a misplaced or excess '=', or a length no encoding has. */
int nox__base64_decode(const char *s, size_t n, uint8_t *out, size_t *out_len);

/* ---- utf8.c --------------------------------------------------------------
 * UTF-8 as RFC 3629 defines it: no overlong forms, no surrogates
 * (U+D800..U+DFFF), nothing beyond U+10FFFF. */

/* Length (1..4) of the valid sequence starting at s (n > 0 bytes left), or
 * 0 when the bytes there are not one. When prefix is not NULL it gets the
 * length of the "maximal subpart" at s: the bytes that one U+FFFD replaces
 * (Unicode's recommended practice, and Python's errors="replace"); it is
 * at least 1. */
size_t nox__utf8_seq(const uint8_t *s, size_t n, size_t *prefix);
/* 1 when s[0..n) is entirely valid UTF-8, else 0. */
int nox__utf8_valid(const uint8_t *s, size_t n);
/* How many bytes at the end of s[0..n) (0..3) are the valid start of a
 * sequence that the next bytes may complete: a chunk boundary must not cut
 * there. */
size_t nox__utf8_incomplete_tail(const uint8_t *s, size_t n);

#endif

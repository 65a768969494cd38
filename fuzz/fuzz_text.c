/*
 * fuzz_text - the one Base64 codec and UTF-8 validator of the library and
 * the server (core/src/base/text.h): decode never writes past its bound,
 * encode/decode round-trip, and the validator agrees with its own
 * sequence scanner.
 */
#include "base/text.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* Anything as Base64 text. */
    size_t cap = nox__base64_decoded_max(size);
    uint8_t *out = malloc(cap ? cap : 1);
    size_t got = 0;
    if (out && nox__base64_decode((const char *)data, size, out, &got) == 0) {
        if (got > cap)
            abort();
        /* What decodes, re-encoded, decodes to the same bytes (the text may
         * differ: missing padding and non-zero spare bits are accepted). */
        char *again = nox__base64_encode(out, got);
        size_t n2 = again ? strlen(again) : 0, got2 = 0;
        uint8_t *out2 = again ? malloc(nox__base64_decoded_max(n2) + 1) : NULL;
        if (!out2 || nox__base64_decode(again, n2, out2, &got2) != 0 || got2 != got ||
            memcmp(out2, out, got) != 0)
            abort();
        free(out2);
        free(again);
    }
    free(out);
    /* Anything as bytes: encode, decode, same bytes. */
    char *b64 = nox__base64_encode(data, size);
    if (b64) {
        size_t n = strlen(b64), back_len = 0;
        uint8_t *back = malloc(nox__base64_decoded_max(n) + 1);
        if (!back || nox__base64_decode(b64, n, back, &back_len) != 0 || back_len != size ||
            memcmp(back, data, size) != 0)
            abort();
        free(back);
        free(b64);
    }
    /* UTF-8: valid means every sequence the scanner finds is whole. */
    int valid = nox__utf8_valid(data, size);
    int all = 1;
    for (size_t i = 0; i < size;) {
        size_t prefix = 0, k = nox__utf8_seq(data + i, size - i, &prefix);
        if (k == 0) {
            all = 0;
            i += prefix ? prefix : 1;
        } else {
            i += k;
        }
    }
    if (valid != all)
        abort();
    if (nox__utf8_incomplete_tail(data, size) > 3)
        abort();
    return 0;
}

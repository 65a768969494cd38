/*
 * fuzz_gunzip - any bytes, in pieces of any size, through the gzip reader
 * that stands in front of libarchive: it must pass plain input through
 * byte for byte, and for gzip input either inflate or refuse, never crash.
 */
#include "archive.h"

#include <stdlib.h>
#include <string.h>

typedef struct pieces {
    const uint8_t *p;
    size_t n, piece;
} pieces;

static int next(void *ctx, const uint8_t **p, size_t *got, nox_error **err) {
    (void)err;
    pieces *s = ctx;
    size_t k = s->n < s->piece ? s->n : s->piece;
    *p = s->p;
    *got = k;
    s->p += k;
    s->n -= k;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    pieces s = {data + 1, size - 1, 1 + data[0] % 64};
    int gzip = size >= 3 && data[1] == 0x1f && data[2] == 0x8b;
    nox__gunzip *g = nox__gunzip_new(next, &s);
    if (!g)
        return 0;
    size_t total = 0;
    int rc = 0;
    for (;;) {
        const uint8_t *p;
        size_t got = 0;
        nox_error *err = NULL;
        rc = nox__gunzip_read(g, &p, &got, &err);
        nox_error_free(err);
        if (rc != 0 || got == 0)
            break;
        if (!gzip && memcmp(p, data + 1 + total, got) != 0)
            abort(); /* plain input must pass through unchanged */
        total += got;
        if (total > (64u << 20))
            break; /* a bomb: enough */
    }
    if (!gzip && rc == 0 && total != size - 1)
        abort();
    nox__gunzip_free(g);
    return 0;
}

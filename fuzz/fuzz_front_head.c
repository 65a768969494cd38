/*
 * fuzz_front_head - the first bytes any client can send noxrunnerd: the
 * front's verdict on them (server/front.c) answers for every input, never
 * reads past it, and what it lets through to libmicrohttpd has the shape
 * it checked for.
 */
#include "../server/front.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* An exact-size copy, so ASan sees any read past the end. */
    char *p = malloc(size ? size : 1);
    if (!p)
        return 0;
    memcpy(p, data, size);
    size_t max_head = size ? 64 + data[0] * 64u : 64;
    int v = front_verdict(p, size, max_head);
    if (v < FRONT_MORE || v > FRONT_TOO_BIG)
        abort();
    if (v == FRONT_READY || v == FRONT_WAIT_BODY) {
        const char *end = memmem(p, size, "\r\n\r\n", 4);
        if (!end || (size_t)(end - p) + 4 > max_head || p[0] < 'A' || p[0] > 'Z' ||
            memchr(p, 0, (size_t)(end - p)))
            abort(); /* handed over something that is not a whole HTTP/1 head */
    }
    /* Growing the input never turns a refusal back into "wait". */
    if (v >= FRONT_NOT_HTTP && v != FRONT_TOO_BIG && size > 0) {
        char *more = malloc(size + 1);
        memcpy(more, p, size);
        more[size] = 'x';
        int v2 = front_verdict(more, size + 1, max_head);
        free(more);
        if (v2 == FRONT_MORE)
            abort();
    }
    free(p);
    return 0;
}

/* buf.c - growable byte buffers and string helpers. */
#include "base/buf.h"

#include <stdarg.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nox__buf_reserve(nox__buf *b, size_t extra) {
    if (extra > SIZE_MAX - b->len - 1)
        return NOX_ENOMEM;
    size_t need = b->len + extra + 1; /* room for the NUL terminator */
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return NOX_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int nox__buf_append(nox__buf *b, const void *data, size_t n) {
    if (n == 0)
        return nox__buf_terminate(b);
    if (nox__buf_reserve(b, n) != 0)
        return NOX_ENOMEM;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int nox__buf_append_str(nox__buf *b, const char *s) {
    return nox__buf_append(b, s, strlen(s));
}

int nox__buf_terminate(nox__buf *b) {
    if (nox__buf_reserve(b, 0) != 0)
        return NOX_ENOMEM;
    b->data[b->len] = 0;
    return 0;
}

void nox__buf_free(nox__buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

nox_bytes *nox__bytes_take(nox__buf *b) {
    if (nox__buf_terminate(b) != 0)
        return NULL;
    nox_bytes *out = malloc(sizeof *out);
    if (!out)
        return NULL;
    out->data = b->data;
    out->len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return out;
}

NOX_API const uint8_t *nox_bytes_data(const nox_bytes *b, size_t *len) {
    if (len)
        *len = b ? b->len : 0;
    return b ? b->data : NULL;
}

NOX_API void nox_bytes_free(nox_bytes *b) {
    if (!b)
        return;
    free(b->data);
    free(b);
}

int nox__buf_printf(nox__buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || nox__buf_reserve(b, (size_t)n + 1) != 0)
        return NOX_ENOMEM;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

const char *nox__buf_str(nox__buf *b) {
    if (nox__buf_terminate(b) != 0)
        return "";
    return (const char *)b->data;
}

char *nox__strdup(const char *s) { return s ? strdup(s) : NULL; }

char *nox__strndup(const char *s, size_t n) { return s ? strndup(s, n) : NULL; }

char *nox__asprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL;
    va_end(ap);
    return out;
}

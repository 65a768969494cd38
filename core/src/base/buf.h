/* buf.h - growable byte buffers and string helpers (buf.c). */
#ifndef NOX_BASE_BUF_H
#define NOX_BASE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"

typedef struct nox__buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} nox__buf;

int nox__buf_reserve(nox__buf *b, size_t extra);           /* NOX_ENOMEM */
int nox__buf_append(nox__buf *b, const void *data, size_t n); /* NOX_ENOMEM */
int nox__buf_append_str(nox__buf *b, const char *s);
/* Append formatted text (kept NUL-terminated beyond len). NOX_ENOMEM. */
int nox__buf_printf(nox__buf *b, const char *fmt, ...) NOX_PRINTF(2, 3);
void nox__buf_free(nox__buf *b);
/* Make sure data is NUL-terminated beyond len (allocates for empty). */
int nox__buf_terminate(nox__buf *b);
/* The contents as a C string ("" when empty or out of memory). */
const char *nox__buf_str(nox__buf *b);

struct nox_bytes {
    uint8_t *data; /* NUL-terminated beyond len */
    size_t len;
};
/* Take over b's memory (b is emptied). NULL on allocation failure. */
nox_bytes *nox__bytes_take(nox__buf *b);

char *nox__strdup(const char *s); /* NULL for NULL */
char *nox__strndup(const char *s, size_t n);
char *nox__asprintf(const char *fmt, ...) NOX_PRINTF(1, 2);

#endif /* NOX_BASE_BUF_H */

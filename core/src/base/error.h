/* error.h - nox_error objects (errors.c); see common.h for the folder. */
#ifndef NOX_BASE_ERROR_H
#define NOX_BASE_ERROR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "base/common.h"

struct nox_error {
    int code;
    int http_status;
    char *message;
    uint8_t *body; /* NUL-terminated beyond body_len */
    size_t body_len;
};

/* Store a new error in *err (when err is not NULL and *err is NULL) and
 * return code. An already-set *err is kept: the first cause wins. */
int nox__err(nox_error **err, int code, const char *fmt, ...) NOX_PRINTF(3, 4);
int nox__verr(nox_error **err, int code, const char *fmt, va_list ap) NOX_PRINTF(3, 0);
/* The same with an HTTP status and the answer's body (copied). */
int nox__err_http(nox_error **err, int code, int status, const uint8_t *body,
                  size_t body_len, const char *fmt, ...) NOX_PRINTF(6, 7);
/* Put "<prefix>: " in front of the message of *err, if any. */
void nox__err_prefix(nox_error **err, const char *fmt, ...) NOX_PRINTF(2, 3);
/* The code named "NOX_ENOTFOUND" etc.; 0 for NOX_OK, NULL or unknown names. */
int nox__code_from_name(const char *name);
/* Map an errno value from a failed system call to a NOX_E* code. */
int nox__code_from_errno(int e);

#endif /* NOX_BASE_ERROR_H */

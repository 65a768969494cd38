/* errors.c - nox_error objects and the stable names of return codes. */
#include "base/buf.h"
#include "base/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    int code;
    const char *name;
    const char *description;
} codes[] = {
    {NOX_OK, "NOX_OK", "success"},
    {NOX_EINVAL, "NOX_EINVAL", "invalid argument"},
    {NOX_ENOMEM, "NOX_ENOMEM", "out of memory"},
    {NOX_ENOTFOUND, "NOX_ENOTFOUND", "not found"},
    {NOX_EHTTP, "NOX_EHTTP", "the server answered with an error status"},
    {NOX_ECONNECT, "NOX_ECONNECT", "cannot connect"},
    {NOX_ETIMEOUT, "NOX_ETIMEOUT", "timed out"},
    {NOX_EPROTOCOL, "NOX_EPROTOCOL", "the peer answered something unparseable"},
    {NOX_EARCHIVE, "NOX_EARCHIVE", "archive rejected"},
    {NOX_EIO, "NOX_EIO", "input/output error"},
    {NOX_EAUTH, "NOX_EAUTH", "authentication failed"},
    {NOX_ECANCELED, "NOX_ECANCELED", "canceled"},
    {NOX_EUNSUPPORTED, "NOX_EUNSUPPORTED", "not supported"},
    {NOX_EVERSION, "NOX_EVERSION", "options version not understood"},
    {NOX_ESANDBOX, "NOX_ESANDBOX", "sandbox failure"},
    {NOX_ENOTREADY, "NOX_ENOTREADY", "sandbox not ready"},
    {NOX_ETOOBIG, "NOX_ETOOBIG", "size or count limit exceeded"},
};

NOX_API const char *nox_code_name(int code) {
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (codes[i].code == code)
            return codes[i].name;
    return "NOX_EUNKNOWN";
}

int nox__code_from_name(const char *name) {
    if (!name)
        return 0;
    for (size_t i = 1; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(codes[i].name, name) == 0)
            return codes[i].code;
    return 0;
}

NOX_API const char *nox_code_description(int code) {
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (codes[i].code == code)
            return codes[i].description;
    return "unknown error";
}

/* Returned when allocating the error itself fails: callers still get a
 * code and a message, and nox_error_free() knows not to free it. */
static nox_error oom_error = {NOX_ENOMEM, 0, (char *)"out of memory", NULL, 0};

NOX_API int nox_error_code(const nox_error *e) { return e ? e->code : NOX_OK; }

NOX_API const char *nox_error_message(const nox_error *e) {
    return e && e->message ? e->message : "";
}

NOX_API int nox_error_http_status(const nox_error *e) {
    return e ? e->http_status : 0;
}

NOX_API const uint8_t *nox_error_body(const nox_error *e, size_t *len) {
    if (len)
        *len = e && e->body ? e->body_len : 0;
    return e ? e->body : NULL;
}

NOX_API void nox_error_free(nox_error *e) {
    if (!e || e == &oom_error)
        return;
    free(e->message);
    free(e->body);
    free(e);
}

NOX_PRINTF(5, 0)
static nox_error *error_new(int code, int status, const uint8_t *body,
                            size_t body_len, const char *fmt, va_list ap) {
    nox_error *e = calloc(1, sizeof *e);
    if (!e)
        return &oom_error;
    e->code = code;
    e->http_status = status;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n >= 0 && (e->message = malloc((size_t)n + 1)) != NULL)
        vsnprintf(e->message, (size_t)n + 1, fmt, ap);
    if (!e->message) {
        free(e);
        return &oom_error;
    }
    if (body && body_len) {
        e->body = malloc(body_len + 1);
        if (e->body) {
            memcpy(e->body, body, body_len);
            e->body[body_len] = 0;
            e->body_len = body_len;
        }
    }
    return e;
}

int nox__verr(nox_error **err, int code, const char *fmt, va_list ap) {
    if (err && !*err)
        *err = error_new(code, 0, NULL, 0, fmt, ap);
    return code;
}

int nox__err(nox_error **err, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    nox__verr(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int nox__err_http(nox_error **err, int code, int status, const uint8_t *body,
                  size_t body_len, const char *fmt, ...) {
    if (err && !*err) {
        va_list ap;
        va_start(ap, fmt);
        *err = error_new(code, status, body, body_len, fmt, ap);
        va_end(ap);
    }
    return code;
}

void nox__err_prefix(nox_error **err, const char *fmt, ...) {
    if (!err || !*err || *err == &oom_error)
        return;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char *msg = nox__asprintf("%s: %s", prefix, (*err)->message);
    if (msg) {
        free((*err)->message);
        (*err)->message = msg;
    }
}

int nox__code_from_errno(int e) {
    switch (e) {
    case ENOMEM:
        return NOX_ENOMEM;
    case ENOENT:
    case ENOTDIR:
        return NOX_ENOTFOUND;
    case EINVAL:
    case ENAMETOOLONG:
        return NOX_EINVAL;
    case ETIMEDOUT:
        return NOX_ETIMEOUT;
    case ECONNREFUSED:
    case ECONNRESET:
    case EPIPE:
        return NOX_ECONNECT;
    case EFBIG:
    case ENOSPC:
    case EDQUOT:
        return NOX_ETOOBIG;
    case EPERM:
    case EACCES:
    case EROFS:
    case EEXIST:
    case EISDIR:
    default:
        return NOX_EIO;
    }
}

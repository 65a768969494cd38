/* respond.c - building and queueing answers: JSON, text, errors, and the
 * mapping from nox error codes to HTTP statuses. */
#include "server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned respond_status_for(int code, int creating) {
    switch (code) {
    case NOX_EINVAL: return MHD_HTTP_BAD_REQUEST;
    case NOX_ENOTFOUND: return MHD_HTTP_NOT_FOUND;
    case NOX_EAUTH: return MHD_HTTP_UNAUTHORIZED;
    case NOX_ETOOBIG: return 413; /* Payload Too Large */
    case NOX_EARCHIVE: return MHD_HTTP_BAD_REQUEST;
    case NOX_ETIMEOUT: return MHD_HTTP_GATEWAY_TIMEOUT;
    case NOX_ENOTREADY: return MHD_HTTP_SERVICE_UNAVAILABLE;
    case NOX_ESANDBOX:
        return creating ? MHD_HTTP_INTERNAL_SERVER_ERROR
                        : MHD_HTTP_SERVICE_UNAVAILABLE;
    default: return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

enum MHD_Result respond_json(request *r, unsigned status, char *json, size_t len) {
    if (!json)
        return MHD_NO; /* out of memory: MHD closes the connection */
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, json, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(json);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return request_queue(r, status, resp, len);
}

enum MHD_Result respond_text(request *r, unsigned status, const char *text) {
    size_t len = strlen(text);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; charset=utf-8");
    return request_queue(r, status, resp, len);
}

enum MHD_Result respond_empty(request *r, unsigned status) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    return request_queue(r, status, resp, 0);
}

/* Every error names a code (docs/server.md): the core's own where one
 * fits, NOX_EHTTP for the rest. */
static const char *code_for_status(unsigned status) {
    switch (status) {
    case 400:
    case 405: return "NOX_EINVAL";
    case 401:
    case 403: return "NOX_EAUTH";
    case 404: return "NOX_ENOTFOUND";
    case 408:
    case 504: return "NOX_ETIMEOUT";
    case 413:
    case 429: return "NOX_ETOOBIG";
    case 503: return "NOX_ENOTREADY";
    default: return "NOX_EHTTP";
    }
}

enum MHD_Result respond_error_header(request *r, unsigned status, const char *msg,
                                     const char *code_name, const char *header,
                                     const char *value) {
    jw w;
    jw_init(&w);
    jw_obj_begin(&w);
    jw_key(&w, "error");
    jw_str(&w, msg);
    if (code_name) {
        jw_key(&w, "code");
        jw_str(&w, code_name);
    }
    jw_obj_end(&w);
    size_t len = 0;
    char *json = jw_take(&w, &len);
    if (!header)
        return respond_json(r, status, json, len);
    if (!json)
        return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, json, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(json);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, header, value);
    return request_queue(r, status, resp, len);
}

static enum MHD_Result send_error(request *r, unsigned status, const char *msg,
                                  const char *code_name) {
    return respond_error_header(r, status, msg, code_name, NULL, NULL);
}

enum MHD_Result respond_error(request *r, unsigned status, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return send_error(r, status, msg, code_for_status(status));
}

enum MHD_Result respond_nox(request *r, int code, nox_error *err, int creating) {
    unsigned status = respond_status_for(code, creating);
    const char *msg = err ? nox_error_message(err) : nox_code_description(code);
    enum MHD_Result ret = send_error(r, status, msg, nox_code_name(code));
    if (status >= 500)
        log_msg("request %s: %s", r->request_id, msg);
    nox_error_free(err);
    return ret;
}

enum MHD_Result respond_method_not_allowed(request *r, const char *allow) {
    char msg[256];
    snprintf(msg, sizeof msg, "method %s is not allowed here; allowed: %s",
             r->method, allow);
    return respond_error_header(r, MHD_HTTP_METHOD_NOT_ALLOWED, msg,
                                code_for_status(MHD_HTTP_METHOD_NOT_ALLOWED),
                                MHD_HTTP_HEADER_ALLOW, allow);
}

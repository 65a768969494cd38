/* body.c - reading JSON request bodies: parse, then typed fields with
 * messages that name the field and what it must be. Each helper either
 * succeeds or queues the 400 answer and returns -1. */
#include "body.h"

#include <stdio.h>

int body_parse(request *r, cJSON **out) {
    *out = NULL;
    /* Create and touch allow an empty body; exec's handler then reports
     * the missing "cmd". */
    const char *p = r->body ? r->body : "";
    size_t n = r->body_len;
    while (n > 0 && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
        p++;
        n--;
    }
    if (n == 0) {
        *out = cJSON_CreateObject();
        if (!*out) {
            respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
            return -1;
        }
        return 0;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(r->body, r->body_len, &end, 0);
    if (!root) {
        size_t at = end && end >= r->body ? (size_t)(end - r->body) : 0;
        respond_error(r, MHD_HTTP_BAD_REQUEST,
                      "invalid JSON body: parse error near byte %zu", at);
        return -1;
    }
    /* Anything after the value other than whitespace is an error too. */
    for (const char *q = end; q && q < r->body + r->body_len; q++) {
        if (*q != ' ' && *q != '\t' && *q != '\r' && *q != '\n') {
            cJSON_Delete(root);
            respond_error(r, MHD_HTTP_BAD_REQUEST,
                          "invalid JSON body: unexpected data after the value "
                          "at byte %zu", (size_t)(q - r->body));
            return -1;
        }
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        respond_error(r, MHD_HTTP_BAD_REQUEST,
                      "invalid JSON body: expected a JSON object");
        return -1;
    }
    *out = root;
    return 0;
}

int body_string(request *r, const cJSON *obj, const char *name, const char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v) || !v->valuestring) {
        respond_error(r, MHD_HTTP_BAD_REQUEST, "\"%s\" must be a string", name);
        return -1;
    }
    *out = v->valuestring;
    return 0;
}

int body_int(request *r, const cJSON *obj, const char *name, int64_t min,
             int64_t max, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v))
        return 0; /* *out keeps the caller's default */
    double d = cJSON_IsNumber(v) ? v->valuedouble : (double)min - 1;
    /* The range check comes first, so the cast below is defined; it also
     * rejects NaN. Then a fraction makes the round trip differ. */
    if (!(d >= (double)min && d <= (double)max) || (double)(int64_t)d != d) {
        respond_error(r, MHD_HTTP_BAD_REQUEST,
                      "\"%s\" must be an integer from %lld to %lld", name,
                      (long long)min, (long long)max);
        return -1;
    }
    *out = (int64_t)d;
    return 0;
}

int body_bool(request *r, const cJSON *obj, const char *name, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v)) {
        respond_error(r, MHD_HTTP_BAD_REQUEST, "\"%s\" must be true or false", name);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

/* handlers.c - the sandbox endpoints that are one nox_* call each:
 * health, info, list, get, create, touch, delete. Exec and file transfer
 * have their own files. */
#include "body.h"

#include <stdlib.h>
#include <string.h>

#define MAX_TTL_SECONDS 2592000 /* 30 days, as the API allows */
#define DEFAULT_TTL_SECONDS 900

/* {"sessionId", "podName", "expiresAt"} (with_sid) or the Part-A create
 * answer {"podName", "expiresAt"}. */
static void write_info(jw *w, const nox_sandbox_info *i, int with_sid) {
    jw_obj_begin(w);
    if (with_sid) {
        jw_key(w, "sessionId");
        jw_str(w, nox_sandbox_info_session_id(i));
    }
    jw_key(w, "podName");
    jw_str(w, nox_sandbox_info_pod_name(i));
    jw_key(w, "expiresAt");
    jw_str(w, nox_sandbox_info_expires_at(i));
    jw_obj_end(w);
}

static enum MHD_Result respond_info(request *r, const nox_sandbox_info *i,
                                    int with_sid) {
    jw w;
    jw_init(&w);
    write_info(&w, i, with_sid);
    size_t len = 0;
    char *json = jw_take(&w, &len);
    return respond_json(r, MHD_HTTP_OK, json, len);
}

enum MHD_Result handle_healthz(request *r) {
    nox_error *err = NULL;
    int rc = nox_health(r->srv->client, &err);
    if (rc != 0) {
        const char *msg = err ? nox_error_message(err) : nox_code_description(rc);
        enum MHD_Result ret =
            respond_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unhealthy: %s", msg);
        nox_error_free(err);
        return ret;
    }
    return respond_text(r, MHD_HTTP_OK, "OK");
}

/* What the local backend says about its sandboxes that a remote user needs
 * too: why the isolation level is what it is, and which limits hold. */
cJSON *backend_info(nox_client *c) {
    nox_bytes *b = NULL;
    if (nox_info(c, &b, NULL) != 0)
        return NULL;
    size_t n = 0;
    const uint8_t *data = nox_bytes_data(b, &n);
    cJSON *j = cJSON_ParseWithLength((const char *)data, n);
    nox_bytes_free(b);
    return j;
}

static void copy_backend_info(jw *w, nox_client *c) {
    static const char *const fields[] = {"isolationFallbackReason",
                                         "isolationUnavailableReason", "limits"};
    cJSON *j = backend_info(c);
    for (size_t i = 0; j && i < sizeof fields / sizeof fields[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, fields[i]);
        char *raw = v ? cJSON_PrintUnformatted(v) : NULL;
        if (raw) {
            jw_key(w, fields[i]);
            jw_raw(w, raw, strlen(raw));
            cJSON_free(raw);
        }
    }
    cJSON_Delete(j);
}

enum MHD_Result handle_info(request *r) {
    server *s = r->srv;
    static const char *const extensions[] = {
        "auth", "exec-result", "exec-stream", "stdin",
        "introspection", "request-id", "raw-output", "gzip-level",
        "plain-tar"};
    jw w;
    jw_init(&w);
    jw_obj_begin(&w);
    jw_key(&w, "name");
    jw_str(&w, SRV_NAME);
    jw_key(&w, "version");
    jw_str(&w, nox_version_string());
    jw_key(&w, "api");
    jw_str(&w, "v1");
    jw_key(&w, "extensions");
    jw_arr_begin(&w);
    for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++)
        jw_str(&w, extensions[i]);
    jw_arr_end(&w);
    jw_key(&w, "isolation");
    jw_str(&w, nox_isolation_name(nox_client_isolation(s->client)));
    jw_key(&w, "auth");
    jw_bool(&w, s->cfg.token != NULL);
    copy_backend_info(&w, s->client);
    jw_obj_end(&w);
    size_t len = 0;
    char *json = jw_take(&w, &len);
    return respond_json(r, MHD_HTTP_OK, json, len);
}

enum MHD_Result handle_list(request *r) {
    nox_sandbox_list *l = NULL;
    nox_error *err = NULL;
    int rc = nox_sandbox_list_all(r->srv->client, &l, &err);
    if (rc != 0)
        return respond_nox(r, rc, err, 0);
    jw w;
    jw_init(&w);
    jw_arr_begin(&w);
    size_t n = nox_sandbox_list_count(l);
    for (size_t i = 0; i < n; i++)
        write_info(&w, nox_sandbox_list_at(l, i), 1);
    jw_arr_end(&w);
    nox_sandbox_list_free(l);
    size_t len = 0;
    char *json = jw_take(&w, &len);
    return respond_json(r, MHD_HTTP_OK, json, len);
}

enum MHD_Result handle_get(request *r) {
    nox_sandbox_info *i = NULL;
    nox_error *err = NULL;
    int rc = nox_sandbox_get(r->srv->client, r->sid, &i, &err);
    if (rc != 0)
        return respond_nox(r, rc, err, 0);
    enum MHD_Result ret = respond_info(r, i, 1);
    nox_sandbox_info_free(i);
    return ret;
}

enum MHD_Result handle_create(request *r) {
    server *s = r->srv;
    cJSON *body;
    if (body_parse(r, &body) != 0)
        return MHD_YES;
    nox_sandbox_options o;
    nox_sandbox_options_init(&o, NOX_SANDBOX_OPTIONS_VERSION);
    int64_t ttl = DEFAULT_TTL_SECONDS;
    if (body_int(r, body, "ttlSeconds", 1, MAX_TTL_SECONDS, &ttl) != 0 ||
        body_string(r, body, "image", &o.image) != 0 ||
        body_string(r, body, "cpuLimit", &o.cpu_limit) != 0 ||
        body_string(r, body, "memoryLimit", &o.memory_limit) != 0 ||
        body_string(r, body, "ephemeralStorageLimit", &o.ephemeral_storage_limit) != 0) {
        cJSON_Delete(body);
        return MHD_YES;
    }
    o.ttl_seconds = (int32_t)ttl;

    /* A sandbox that was alive before this PUT is someone else's (another
     * client of the same base dir, or an earlier server run with
     * --keep-sandboxes): shutdown must not delete it. */
    nox_sandbox_info *before = NULL;
    int existed = nox_sandbox_get(s->client, r->sid, &before, NULL) == 0;
    nox_sandbox_info_free(before);

    nox_sandbox_info *i = NULL;
    nox_error *err = NULL;
    int rc = nox_sandbox_create(s->client, r->sid, &o, &i, &err);
    cJSON_Delete(body);
    if (rc != 0)
        return respond_nox(r, rc, err, 1);
    if (!existed)
        lifecycle_note_created(s, r->sid);
    enum MHD_Result ret = respond_info(r, i, 0);
    nox_sandbox_info_free(i);
    return ret;
}

enum MHD_Result handle_touch(request *r) {
    nox_error *err = NULL;
    int rc = nox_sandbox_touch(r->srv->client, r->sid, &err);
    if (rc != 0)
        return respond_nox(r, rc, err, 0);
    /* Part A allows any body; the new expiry is the useful one. */
    nox_sandbox_info *i = NULL;
    if (nox_sandbox_get(r->srv->client, r->sid, &i, NULL) == 0) {
        enum MHD_Result ret = respond_info(r, i, 1);
        nox_sandbox_info_free(i);
        return ret;
    }
    char *json = strdup("{}");
    return respond_json(r, MHD_HTTP_OK, json, 2);
}

enum MHD_Result handle_delete(request *r) {
    nox_error *err = NULL;
    int rc = nox_sandbox_delete(r->srv->client, r->sid, &err);
    if (rc != 0)
        return respond_nox(r, rc, err, 0);
    lifecycle_forget(r->srv, r->sid);
    return respond_empty(r, MHD_HTTP_NO_CONTENT);
}

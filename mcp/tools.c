/* tools.c - tool results, argument readers, and the sandbox tools.
 *
 * A tool that fails answers a result with isError true, whose
 * structuredContent is {"error": {"code": "NOX_...", "message": ...}}: bad
 * arguments (NOX_EINVAL, naming the argument; SEP-1303 made input
 * validation a tool error so the model can correct itself), a missing
 * sandbox (NOX_ENOTFOUND), limits (NOX_ETOOBIG). Only an unknown tool is a
 * JSON-RPC error (-32602).
 */
#include "mcp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Every result carries the structured answer, and for hosts that show text
 * only, the same as JSON text (the specification's advice). */
static cJSON *tool_result(cJSON *structured, int is_error) {
    cJSON *r = cJSON_CreateObject();
    char *text = cJSON_PrintUnformatted(structured);
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "type", "text");
    cJSON_AddStringToObject(item, "text", text ? text : "{}");
    free(text);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(r, "content"), item);
    cJSON_AddItemToObject(r, "structuredContent", structured);
    cJSON_AddBoolToObject(r, "isError", is_error);
    return r;
}

cJSON *mcp_tool_ok(cJSON *structured) { return tool_result(structured, 0); }

cJSON *mcp_tool_fail(const char *code_name, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *s = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(s, "error");
    cJSON_AddStringToObject(e, "code", code_name);
    cJSON_AddStringToObject(e, "message", msg);
    return tool_result(s, 1);
}

cJSON *mcp_tool_nox_fail(int rc, nox_error *err, const char *what) {
    int code = err ? nox_error_code(err) : rc;
    cJSON *r = mcp_tool_fail(nox_code_name(code), "%s: %s", what,
                             err ? nox_error_message(err) : nox_code_description(code));
    nox_error_free(err);
    return r;
}

int mcp_arg_string(const cJSON *args, const char *name, const char **out, cJSON **fail) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v)) {
        *fail = mcp_tool_fail("NOX_EINVAL", "argument %s must be a string", name);
        return -1;
    }
    *out = v->valuestring;
    return 1;
}

int mcp_arg_int(const cJSON *args, const char *name, int64_t lo, int64_t hi, int64_t *out,
                cJSON **fail) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    double d = cJSON_IsNumber(v) ? v->valuedouble : 0;
    if (!cJSON_IsNumber(v) || d != (double)(int64_t)d || d < (double)lo || d > (double)hi) {
        *fail = mcp_tool_fail("NOX_EINVAL", "argument %s must be an integer in %lld..%lld",
                              name, (long long)lo, (long long)hi);
        return -1;
    }
    *out = (int64_t)d;
    return 1;
}

int mcp_arg_bool(const cJSON *args, const char *name, int *out, cJSON **fail) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v)) {
        *fail = mcp_tool_fail("NOX_EINVAL", "argument %s must be true or false", name);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 1;
}

const char *mcp_arg_session(const cJSON *args, cJSON **fail) {
    const char *sid = NULL;
    int rc = mcp_arg_string(args, "session_id", &sid, fail);
    if (rc == 0)
        *fail = mcp_tool_fail("NOX_EINVAL",
                              "argument session_id is required (create_sandbox returns one)");
    return rc == 1 ? sid : NULL;
}

/* Forget sandboxes of ours that are gone (expired); keeps the count true. */
static void prune_ours(mcp_server *s) {
    char **ids = mcp_server_ours_copy(s);
    for (size_t i = 0; ids && ids[i]; i++) {
        nox_sandbox_info *info = NULL;
        if (nox_sandbox_get(s->client, ids[i], &info, NULL) == NOX_ENOTFOUND)
            mcp_server_forget_ours(s, ids[i]);
        nox_sandbox_info_free(info);
        free(ids[i]);
    }
    free(ids);
}

static int over_limit(mcp_server *s) {
    size_t max = (size_t)s->cfg.max_sandboxes;
    if (max == 0 || mcp_server_count_ours(s) < max)
        return 0;
    prune_ours(s);
    return mcp_server_count_ours(s) >= max;
}

static void generate_id(char out[32]) {
    uint8_t r[8] = {0};
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        fprintf(stderr, "noxrunner-mcp: getrandom failed; id may repeat\n");
    snprintf(out, 32, "mcp-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4],
             r[5], r[6], r[7]);
}

static cJSON *sandbox_json(const nox_sandbox_info *info, int here) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "session_id", nox_sandbox_info_session_id(info));
    cJSON_AddStringToObject(o, "expires_at", nox_sandbox_info_expires_at(info));
    cJSON_AddBoolToObject(o, "created_here", here);
    return o;
}

static cJSON *t_create(mcp_call *call, const cJSON *args) {
    mcp_server *s = call->srv;
    cJSON *fail = NULL;
    const char *sid = NULL, *cpu = NULL, *mem = NULL, *disk = NULL;
    int64_t ttl = s->cfg.default_ttl;
    if (mcp_arg_string(args, "session_id", &sid, &fail) < 0 ||
        mcp_arg_int(args, "ttl_seconds", 1, 2592000, &ttl, &fail) < 0 ||
        mcp_arg_string(args, "cpu_limit", &cpu, &fail) < 0 ||
        mcp_arg_string(args, "memory_limit", &mem, &fail) < 0 ||
        mcp_arg_string(args, "storage_limit", &disk, &fail) < 0)
        return fail;
    char gen[32];
    if (!sid) {
        generate_id(gen);
        sid = gen;
    }
    nox_sandbox_info *info = NULL;
    int existed = nox_sandbox_get(s->client, sid, &info, NULL) == 0;
    nox_sandbox_info_free(info);
    info = NULL;
    if (!existed && over_limit(s))
        return mcp_tool_fail("NOX_ETOOBIG",
                             "this server already has %d sandboxes (--max-sandboxes); "
                             "delete_sandbox one first",
                             s->cfg.max_sandboxes);
    nox_sandbox_options o;
    nox_sandbox_options_init(&o, NOX_SANDBOX_OPTIONS_VERSION);
    o.ttl_seconds = (int32_t)ttl;
    o.cpu_limit = cpu;
    o.memory_limit = mem;
    o.ephemeral_storage_limit = disk;
    nox_error *err = NULL;
    int rc = nox_sandbox_create(s->client, sid, &o, &info, &err);
    if (rc != 0)
        return mcp_tool_nox_fail(rc, err, "create_sandbox");
    if (!existed && mcp_server_add_ours(s, sid) != 0)
        fprintf(stderr, "noxrunner-mcp: out of memory recording sandbox %s\n", sid);
    cJSON *out = sandbox_json(info, mcp_server_is_ours(s, sid));
    cJSON_AddBoolToObject(out, "created", !existed);
    cJSON_AddNumberToObject(out, "ttl_seconds", (double)ttl);
    nox_sandbox_info_free(info);
    return mcp_tool_ok(out);
}

static cJSON *t_touch(mcp_call *call, const cJSON *args) {
    cJSON *fail = NULL;
    const char *sid = mcp_arg_session(args, &fail);
    if (!sid)
        return fail;
    nox_error *err = NULL;
    int rc = nox_sandbox_touch(call->srv->client, sid, &err);
    if (rc != 0)
        return mcp_tool_nox_fail(rc, err, "touch");
    nox_sandbox_info *info = NULL;
    cJSON *out;
    if (nox_sandbox_get(call->srv->client, sid, &info, NULL) == 0) {
        out = sandbox_json(info, mcp_server_is_ours(call->srv, sid));
    } else { /* a server without lookups: the touch still happened */
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "session_id", sid);
    }
    nox_sandbox_info_free(info);
    return mcp_tool_ok(out);
}

static cJSON *t_delete(mcp_call *call, const cJSON *args) {
    cJSON *fail = NULL;
    const char *sid = mcp_arg_session(args, &fail);
    if (!sid)
        return fail;
    nox_error *err = NULL;
    int rc = nox_sandbox_delete(call->srv->client, sid, &err);
    if (rc != 0)
        return mcp_tool_nox_fail(rc, err, "delete_sandbox");
    mcp_server_forget_ours(call->srv, sid);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "session_id", sid);
    cJSON_AddBoolToObject(out, "deleted", 1);
    return mcp_tool_ok(out);
}

static cJSON *t_list(mcp_call *call, const cJSON *args) {
    (void)args;
    nox_sandbox_list *l = NULL;
    nox_error *err = NULL;
    int rc = nox_sandbox_list_all(call->srv->client, &l, &err);
    if (rc != 0)
        return mcp_tool_nox_fail(rc, err, "list_sandboxes");
    cJSON *out = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(out, "sandboxes");
    for (size_t i = 0; i < nox_sandbox_list_count(l); i++) {
        const nox_sandbox_info *info = nox_sandbox_list_at(l, i);
        const char *sid = nox_sandbox_info_session_id(info);
        cJSON_AddItemToArray(arr, sandbox_json(info, mcp_server_is_ours(call->srv, sid)));
    }
    nox_sandbox_list_free(l);
    return mcp_tool_ok(out);
}

typedef cJSON *(*tool_fn)(mcp_call *, const cJSON *);
static const struct {
    const char *name;
    tool_fn fn;
} HANDLERS[] = {
    {"create_sandbox", t_create},
    {"exec", mcp_tool_exec},
    {"write_file", mcp_tool_write_file},
    {"read_file", mcp_tool_read_file},
    {"list_files", mcp_tool_list_files},
    {"upload_archive", mcp_tool_upload_archive},
    {"download_archive", mcp_tool_download_archive},
    {"touch", t_touch},
    {"delete_sandbox", t_delete},
    {"list_sandboxes", t_list},
};

cJSON *mcp_tool_call(mcp_call *call, const char *name, const cJSON *args, int *rpc_code,
                     const char **rpc_msg) {
    int known = 0;
    const char *bad = mcp_tool_unknown_arg(name, args, &known);
    for (size_t i = 0; known && i < sizeof HANDLERS / sizeof *HANDLERS; i++) {
        if (strcmp(HANDLERS[i].name, name) != 0)
            continue;
        if (bad)
            return mcp_tool_fail("NOX_EINVAL", "%s takes no argument named \"%.100s\"", name,
                                 bad);
        return HANDLERS[i].fn(call, args);
    }
    *rpc_code = MCP_INVALID_PARAMS;
    *rpc_msg = "Unknown tool: see tools/list for the tools this server has";
    return NULL;
}

/* jsonrpc.c - JSON-RPC 2.0 messages and the MCP methods around the tools.
 *
 * One message per call of mcp_handle_message(). What is checked, in order:
 * JSON (-32700), a single object (-32600: batches are not part of MCP since
 * 2025-06-18), "jsonrpc": "2.0", an id that is a string or an integer an
 * IEEE double holds exactly (|id| <= 2^53, so it is echoed unchanged), a
 * string method (-32600), params an object (-32602), then the protocol
 * revision: params._meta["io.modelcontextprotocol/protocolVersion"] picks
 * 2026-07-28 (stateless); a version this server does not know is -32022
 * with the supported list; without one, the request is of the initialize
 * era (2025-11-25, or 2025-06-18 when the client asked for it).
 */
#include "mcp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EXACT_ID 9007199254740992.0 /* 2^53 */

static const char *const SUPPORTED[] = {MCP_V2026, MCP_V2025, MCP_V2025_06};

/* A copy of an id or progress token that prints exactly: cJSON prints
 * numbers with 15 significant digits, which would change 2^53. */
static cJSON *id_dup(const cJSON *id) {
    if (!cJSON_IsNumber(id))
        return cJSON_Duplicate(id, 1);
    char buf[64];
    double v = id->valuedouble;
    if (v == floor(v) && fabs(v) <= MAX_EXACT_ID && !signbit(v)) /* no float printing */
        snprintf(buf, sizeof buf, "%lld", (long long)v);
    else if (v == floor(v) && fabs(v) <= MAX_EXACT_ID)
        snprintf(buf, sizeof buf, "%.0f", v); /* keeps -0 as it came */
    else
        snprintf(buf, sizeof buf, "%.17g", v);
    return cJSON_CreateRaw(buf);
}

/* The id as text, to match a cancel with its call. */
static char *id_key(const cJSON *id) {
    if (cJSON_IsNumber(id) && id->valuedouble == floor(id->valuedouble) &&
        fabs(id->valuedouble) <= MAX_EXACT_ID && !signbit(id->valuedouble)) {
        /* the common case, printed directly */
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)id->valuedouble);
        return strdup(buf);
    }
    cJSON *copy = id_dup(id);
    char *key = copy ? cJSON_PrintUnformatted(copy) : NULL;
    cJSON_Delete(copy);
    return key;
}

/* Most messages fit in a buffer on the stack: printing them there saves
 * cJSON's grow-and-copy allocations on every answer. */
#define SEND_STACK_BYTES 8192

static void send_json(mcp_send_fn send, void *ctx, cJSON *msg) {
    char stack[SEND_STACK_BYTES];
    char *text = NULL;
    if (msg && cJSON_PrintPreallocated(msg, stack, (int)sizeof stack, 0))
        send(ctx, stack);
    else if (msg && (text = cJSON_PrintUnformatted(msg)))
        send(ctx, text);
    else
        fprintf(stderr, "noxrunner-mcp: out of memory writing an answer\n");
    free(text);
    cJSON_Delete(msg);
}

void mcp_send_error(mcp_send_fn send, void *ctx, const cJSON *id, int code,
                    const char *message, cJSON *data) {
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
    cJSON_AddItemToObject(msg, "id", id ? id_dup(id) : cJSON_CreateNull());
    cJSON *e = cJSON_AddObjectToObject(msg, "error");
    cJSON_AddNumberToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", message);
    if (data)
        cJSON_AddItemToObject(e, "data", data);
    send_json(send, ctx, msg);
}

static cJSON *server_info(void) {
    cJSON *info = cJSON_CreateObject();
    cJSON_AddStringToObject(info, "name", "noxrunner-mcp");
    cJSON_AddStringToObject(info, "title", "NoxRunner sandboxes");
    cJSON_AddStringToObject(info, "version", nox_version_string());
    return info;
}

void mcp_send_result(mcp_call *call, cJSON *result) {
    if (call->modern) {
        if (!cJSON_HasObjectItem(result, "resultType"))
            cJSON_AddStringToObject(result, "resultType", "complete");
        cJSON *meta = cJSON_AddObjectToObject(result, "_meta");
        cJSON_AddItemToObject(meta, "io.modelcontextprotocol/serverInfo", server_info());
    }
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
    cJSON_AddItemToObject(msg, "id", id_dup(call->id));
    cJSON_AddItemToObject(msg, "result", result);
    send_json(call->send, call->send_ctx, msg);
}

void mcp_send_progress(mcp_call *call, double add, const char *message,
                       const char *stream) {
    if (!call->progress_token)
        return;
    call->progress += add;
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
    cJSON_AddStringToObject(msg, "method", "notifications/progress");
    cJSON *p = cJSON_AddObjectToObject(msg, "params");
    cJSON_AddItemToObject(p, "progressToken", id_dup(call->progress_token));
    cJSON_AddNumberToObject(p, "progress", call->progress);
    if (message)
        cJSON_AddStringToObject(p, "message", message);
    if (stream)
        cJSON_AddStringToObject(cJSON_AddObjectToObject(p, "_meta"),
                                "dev.noxrunner/stream", stream);
    send_json(call->send, call->send_ctx, msg);
}

static void call_free(mcp_call *call) {
    if (!call)
        return;
    cJSON_Delete(call->id);
    cJSON_Delete(call->params);
    cJSON_Delete(call->progress_token);
    free(call);
}

static int valid_id(const cJSON *id) {
    if (cJSON_IsString(id))
        return 1;
    if (!cJSON_IsNumber(id))
        return 0;
    double v = id->valuedouble;
    return isfinite(v) && v == floor(v) && fabs(v) <= MAX_EXACT_ID;
}

/* 1: 2026-07-28; 0: the initialize era; -1: an answer was sent. */
static int pick_revision(const cJSON *params, const cJSON *id, mcp_send_fn send,
                         void *ctx) {
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(params, "_meta");
    if (!meta)
        return 0;
    if (!cJSON_IsObject(meta)) {
        mcp_send_error(send, ctx, id, MCP_INVALID_PARAMS, "params._meta must be an object",
                       NULL);
        return -1;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, MCP_META_VERSION);
    if (!v)
        return 0;
    if (!cJSON_IsString(v)) {
        mcp_send_error(send, ctx, id, MCP_INVALID_PARAMS,
                       "params._meta[\"" MCP_META_VERSION "\"] must be a string", NULL);
        return -1;
    }
    if (strcmp(v->valuestring, MCP_V2026) == 0)
        return 1;
    if (strcmp(v->valuestring, MCP_V2025) == 0 || strcmp(v->valuestring, MCP_V2025_06) == 0)
        return 0;
    cJSON *data = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(data, "supported");
    for (size_t i = 0; i < sizeof SUPPORTED / sizeof *SUPPORTED; i++)
        cJSON_AddItemToArray(list, cJSON_CreateString(SUPPORTED[i]));
    cJSON_AddStringToObject(data, "requested", v->valuestring);
    mcp_send_error(send, ctx, id, MCP_UNSUPPORTED_VERSION, "Unsupported protocol version",
                   data);
    return -1;
}

static cJSON *capabilities(void) {
    cJSON *caps = cJSON_CreateObject();
    cJSON_AddBoolToObject(cJSON_AddObjectToObject(caps, "tools"), "listChanged", 0);
    return caps;
}

static const char INSTRUCTIONS[] =
    "NoxRunner runs commands in isolated Linux sandboxes. Call create_sandbox first "
    "(it returns a session_id), then exec, write_file, read_file, list_files, "
    "upload_archive and download_archive with that session_id. Files live under "
    "/workspace. Sandboxes expire after their TTL (touch extends it); delete_sandbox "
    "when done.";

/* initialize: the client's version when we speak it, else our latest. */
static void do_initialize(mcp_call *call) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(call->params, "protocolVersion");
    if (!cJSON_IsString(v)) {
        mcp_send_error(call->send, call->send_ctx, call->id, MCP_INVALID_PARAMS,
                       "initialize: params.protocolVersion must be a string", NULL);
        return;
    }
    const char *pick = MCP_V2025;
    if (strcmp(v->valuestring, MCP_V2025_06) == 0)
        pick = MCP_V2025_06;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "protocolVersion", pick);
    cJSON_AddItemToObject(r, "capabilities", capabilities());
    cJSON_AddItemToObject(r, "serverInfo", server_info());
    cJSON_AddStringToObject(r, "instructions", INSTRUCTIONS);
    mcp_send_result(call, r);
}

static void do_discover(mcp_call *call) {
    cJSON *r = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(r, "supportedVersions");
    for (size_t i = 0; i < sizeof SUPPORTED / sizeof *SUPPORTED; i++)
        cJSON_AddItemToArray(list, cJSON_CreateString(SUPPORTED[i]));
    cJSON_AddItemToObject(r, "capabilities", capabilities());
    cJSON_AddStringToObject(r, "instructions", INSTRUCTIONS);
    cJSON_AddNumberToObject(r, "ttlMs", 0);
    cJSON_AddStringToObject(r, "cacheScope", "public");
    mcp_send_result(call, r);
}

static void do_tools_list(mcp_call *call) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(r, "tools", mcp_tools_list());
    if (call->modern) {
        cJSON_AddNumberToObject(r, "ttlMs", 0);
        cJSON_AddStringToObject(r, "cacheScope", "public");
    }
    mcp_send_result(call, r);
}

cJSON *mcp_supported_versions(void) {
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; i < sizeof SUPPORTED / sizeof *SUPPORTED; i++)
        cJSON_AddItemToArray(list, cJSON_CreateString(SUPPORTED[i]));
    return list;
}

int mcp_version_known(const char *v) {
    for (size_t i = 0; v && i < sizeof SUPPORTED / sizeof *SUPPORTED; i++)
        if (strcmp(v, SUPPORTED[i]) == 0)
            return 1;
    return 0;
}

void mcp_cancel_id(mcp_server *s, const cJSON *rid) {
    if (!valid_id(rid))
        return;
    char *key = id_key(rid);
    if (!key)
        return;
    pthread_mutex_lock(&s->lock);
    for (mcp_flight *f = s->flights; f; f = f->next)
        if (strcmp(f->key, key) == 0) {
            f->cancelled = 1;
            if (f->stream)
                nox_exec_cancel(f->stream);
        }
    pthread_mutex_unlock(&s->lock);
    free(key);
}

/* notifications/cancelled: stop the named call's command. */
static void do_cancelled(mcp_server *s, const cJSON *params) {
    mcp_cancel_id(s, cJSON_GetObjectItemCaseSensitive(params, "requestId"));
}

/* Register a tools/call so a cancel can find it; NULL when refused. */
static mcp_flight *flight_start(mcp_call *call, const char **why) {
    mcp_server *s = call->srv;
    mcp_flight *f = calloc(1, sizeof *f);
    if (!f || !(f->key = id_key(call->id))) {
        free(f);
        *why = "out of memory";
        return NULL;
    }
    pthread_mutex_lock(&s->lock);
    if (s->closing || s->running >= s->cfg.max_calls) {
        *why = s->closing ? "the server is shutting down" : "too many tool calls running";
        pthread_mutex_unlock(&s->lock);
        free(f->key);
        free(f);
        return NULL;
    }
    s->running++;
    f->next = s->flights;
    s->flights = f;
    pthread_mutex_unlock(&s->lock);
    return f;
}

static void flight_end(mcp_server *s, mcp_flight *f) {
    pthread_mutex_lock(&s->lock);
    for (mcp_flight **p = &s->flights; *p; p = &(*p)->next)
        if (*p == f) {
            *p = f->next;
            break;
        }
    s->running--;
    pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
    free(f->key);
    free(f);
}

/* tools/call: check the envelope, register it, hand it to the transport. */
static void prepare_tool_call(mcp_call *call, mcp_call **out_call) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(call->params, "name");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(call->params, "arguments");
    const char *why = NULL;
    if (!cJSON_IsString(name))
        why = "tools/call: params.name must be a string";
    else if (args && !cJSON_IsObject(args))
        why = "tools/call: params.arguments must be an object";
    if (why) {
        mcp_send_error(call->send, call->send_ctx, call->id, MCP_INVALID_PARAMS, why, NULL);
        call_free(call);
        return;
    }
    call->flight = flight_start(call, &why);
    if (!call->flight) {
        mcp_send_result(call, mcp_tool_fail("NOX_ETOOBIG", "%s; try again later", why));
        call_free(call);
        return;
    }
    *out_call = call;
}

/* A request (it has an id): answer it, or hand a tools/call out. */
static void dispatch(mcp_call *call, const char *method, mcp_call **out_call) {
    int legacy_only = strcmp(method, "ping") == 0;
    if (strcmp(method, "initialize") == 0) {
        call->modern = 0;
        do_initialize(call);
    } else if (strcmp(method, "ping") == 0 && !call->modern) {
        mcp_send_result(call, cJSON_CreateObject());
    } else if (strcmp(method, "server/discover") == 0 && call->modern) {
        do_discover(call);
    } else if (strcmp(method, "tools/list") == 0) {
        do_tools_list(call);
    } else if (strcmp(method, "tools/call") == 0) {
        prepare_tool_call(call, out_call);
        return;
    } else {
        char msg[200];
        snprintf(msg, sizeof msg, "Method not found: %.100s%s", method,
                 legacy_only ? " (removed in 2026-07-28)" : "");
        mcp_send_error(call->send, call->send_ctx, call->id, MCP_METHOD_NOT_FOUND, msg,
                       NULL);
    }
    call_free(call);
}

static void notification(mcp_server *s, const char *method, const cJSON *params) {
    if (strcmp(method, "notifications/cancelled") == 0)
        do_cancelled(s, params);
    /* notifications/initialized, progress and anything unknown: nothing to
     * answer (a notification never gets one). */
}

/* The call takes msg's id and params (moved, not copied: msg is deleted
 * right after); NULL, with msg untouched, when out of memory. */
static mcp_call *call_new(mcp_server *s, cJSON *msg, mcp_send_fn send, void *ctx) {
    mcp_call *call = calloc(1, sizeof *call);
    cJSON *empty = NULL;
    if (!call || (!cJSON_GetObjectItemCaseSensitive(msg, "params") &&
                  !(empty = cJSON_CreateObject()))) {
        free(call);
        return NULL;
    }
    call->srv = s;
    call->send = send;
    call->send_ctx = ctx;
    call->id = cJSON_DetachItemFromObjectCaseSensitive(msg, "id");
    call->params = empty ? empty : cJSON_DetachItemFromObjectCaseSensitive(msg, "params");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(call->params, "_meta");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(meta, "progressToken");
    if (cJSON_IsString(tok) || cJSON_IsNumber(tok))
        call->progress_token = cJSON_Duplicate(tok, 1);
    return call;
}

/* The envelope checks; 0 with *method set, or -1 when answered. */
static int check_envelope(const cJSON *msg, const char **method, mcp_send_fn send,
                          void *ctx) {
    if (cJSON_IsArray(msg)) {
        mcp_send_error(send, ctx, NULL, MCP_INVALID_REQUEST,
                       "Invalid Request: JSON-RPC batches are not supported by MCP; "
                       "send one message per line",
                       NULL);
        return -1;
    }
    if (!cJSON_IsObject(msg)) {
        mcp_send_error(send, ctx, NULL, MCP_INVALID_REQUEST,
                       "Invalid Request: a message must be a JSON object", NULL);
        return -1;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(msg, "jsonrpc");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg, "method");
    const char *why = NULL;
    if (id && !valid_id(id))
        why = "Invalid Request: id must be a string or an integer within +-2^53";
    else if (!cJSON_IsString(ver) || strcmp(ver->valuestring, "2.0") != 0)
        why = "Invalid Request: \"jsonrpc\" must be \"2.0\"";
    else if (!cJSON_IsString(m))
        why = "Invalid Request: \"method\" must be a string";
    if (why) {
        /* a response (result/error) from a client is not answered */
        if (!m && (cJSON_HasObjectItem(msg, "result") || cJSON_HasObjectItem(msg, "error")))
            return -1;
        mcp_send_error(send, ctx, id && valid_id(id) ? id : NULL, MCP_INVALID_REQUEST, why,
                       NULL);
        return -1;
    }
    *method = m->valuestring;
    return 0;
}

void mcp_handle_message(mcp_server *s, const char *text, size_t len,
                        mcp_send_fn send, void *ctx, mcp_call **out_call) {
    *out_call = NULL;
    cJSON *msg = cJSON_ParseWithLength(text, len);
    const char *method = NULL;
    if (!msg) {
        mcp_send_error(send, ctx, NULL, MCP_PARSE_ERROR, "Parse error: not valid JSON", NULL);
        return;
    }
    if (check_envelope(msg, &method, send, ctx) != 0) {
        cJSON_Delete(msg);
        return;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
    if (!id) {
        notification(s, method, cJSON_IsObject(params) ? params : NULL);
        cJSON_Delete(msg);
        return;
    }
    int modern = 0;
    if (params && !cJSON_IsObject(params))
        mcp_send_error(send, ctx, id, MCP_INVALID_PARAMS, "params must be an object", NULL);
    else if ((modern = pick_revision(params, id, send, ctx)) >= 0) {
        mcp_call *call = call_new(s, msg, send, ctx);
        if (!call)
            mcp_send_error(send, ctx, id, MCP_INTERNAL_ERROR, "out of memory", NULL);
        else {
            call->modern = modern;
            dispatch(call, method, out_call);
        }
    }
    cJSON_Delete(msg);
}

static void call_finish(mcp_call *call) {
    if (call->flight)
        flight_end(call->srv, call->flight);
    call_free(call);
}

void mcp_call_run(mcp_call *call) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(call->params, "name");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(call->params, "arguments");
    cJSON *empty = args ? NULL : cJSON_CreateObject();
    int code = 0;
    const char *msg = NULL;
    cJSON *result = mcp_tool_call(call, name->valuestring, args ? args : empty, &code, &msg);
    cJSON_Delete(empty);
    pthread_mutex_lock(&call->srv->lock);
    int cancelled = call->flight->cancelled;
    pthread_mutex_unlock(&call->srv->lock);
    if (cancelled) /* the client no longer waits: no answer (spec) */
        cJSON_Delete(result);
    else if (result)
        mcp_send_result(call, result);
    else
        mcp_send_error(call->send, call->send_ctx, call->id, code, msg, NULL);
    call_finish(call);
}

void mcp_call_reject(mcp_call *call, int code, const char *message) {
    mcp_send_error(call->send, call->send_ctx, call->id, code, message, NULL);
    call_finish(call);
}

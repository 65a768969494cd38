/* mcp_http.c - POST /mcp: the MCP tools of noxrunner-mcp over Streamable
 * HTTP, from the same code (the noxmcp library, mcp/).
 *
 * Behind the same bearer token as every other endpoint (router.c), and a
 * non-loopback noxrunnerd never runs without one (main.c). One JSON-RPC
 * message per POST: a notification or response is answered 202 with no
 * body; a request gets application/json, or text/event-stream when it is
 * a tools/call with a progress token (its progress notifications, then its
 * answer, as SSE "message" events). No sessions are issued (both revisions
 * allow a stateless server). An Origin header naming anything but a
 * loopback host is refused (403): the specification's defence against DNS
 * rebinding by a web page. An MCP-Protocol-Version header must name a
 * version this server speaks (else 400 with -32022) and agree with the
 * body's _meta version (else 400 with -32020).
 */
#include "server.h"

#include "mcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SSE_BLOCK 16384

/* What the MCP code sends while a request is answered. */
typedef struct collect {
    char *buf;
    size_t len, cap;
    int count, oom;
    int sse; /* frame each message as an SSE event */
    pthread_mutex_t lock;
    pthread_cond_t more;
    int done, refs;
    mcp_call *call;  /* run by the SSE thread */
    cJSON *id;       /* to cancel it when the client goes away */
    mcp_server *mcp;
} collect;

static void collect_append(collect *c, const char *s, size_t n) {
    if (c->oom)
        return;
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 1024;
        while (cap < c->len + n + 1)
            cap *= 2;
        char *grown = realloc(c->buf, cap);
        if (!grown) {
            c->oom = 1;
            return;
        }
        c->buf = grown;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, s, n);
    c->len += n;
    c->buf[c->len] = 0;
}

static void collect_send(void *ctx, const char *json) {
    collect *c = ctx;
    pthread_mutex_lock(&c->lock);
    if (c->sse)
        collect_append(c, "event: message\ndata: ", 21);
    collect_append(c, json, strlen(json));
    if (c->sse)
        collect_append(c, "\n\n", 2);
    c->count++;
    pthread_cond_broadcast(&c->more);
    pthread_mutex_unlock(&c->lock);
}

static void collect_unref(collect *c) {
    pthread_mutex_lock(&c->lock);
    int last = --c->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (!last)
        return;
    cJSON_Delete(c->id);
    free(c->buf);
    pthread_cond_destroy(&c->more);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static collect *collect_new(mcp_server *mcp) {
    collect *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->more, NULL);
    c->refs = 1;
    c->mcp = mcp;
    return c;
}

/* ---- SSE: a tools/call with progress ---- */

static void *sse_thread(void *arg) {
    collect *c = arg;
    mcp_call_run(c->call);
    pthread_mutex_lock(&c->lock);
    c->done = 1;
    pthread_cond_broadcast(&c->more);
    pthread_mutex_unlock(&c->lock);
    collect_unref(c);
    return NULL;
}

/* MHD pulls the stream: block until an event (or the end) is there. */
static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    collect *c = cls;
    (void)pos;
    pthread_mutex_lock(&c->lock);
    while (c->len == 0 && !c->done)
        pthread_cond_wait(&c->more, &c->lock);
    ssize_t n;
    if (c->len == 0) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        size_t k = c->len < max ? c->len : max;
        memcpy(buf, c->buf, k);
        memmove(c->buf, c->buf + k, c->len - k);
        c->len -= k;
        n = (ssize_t)k;
    }
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* The response is done with: a client that left cancels its command. */
static void sse_free(void *cls) {
    collect *c = cls;
    pthread_mutex_lock(&c->lock);
    int running = !c->done;
    pthread_mutex_unlock(&c->lock);
    if (running)
        mcp_cancel_id(c->mcp, c->id);
    collect_unref(c);
}

static enum MHD_Result respond_sse(request *r, collect *c, mcp_call *call) {
    c->sse = 1;
    c->call = call;
    c->id = cJSON_Duplicate(call->id, 1);
    c->refs = 3; /* this function, the thread, the response */
    pthread_t t;
    if (!c->id || pthread_create(&t, NULL, sse_thread, c) != 0) {
        c->refs = 1;
        mcp_call_reject(call, MCP_INTERNAL_ERROR, "cannot start a thread for this call");
        collect_unref(c);
        return MHD_NO; /* MHD closes the connection */
    }
    pthread_detach(t);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK, sse_read, c, sse_free);
    collect_unref(c);
    if (!resp) {
        sse_free(c);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    return request_queue(r, MHD_HTTP_OK, resp, 0);
}

/* ---- checks before the message is handled ---- */

/* An Origin naming a loopback host (or none at all) is fine. */
static int origin_ok(const char *origin) {
    if (!origin || strcmp(origin, "null") == 0)
        return origin == NULL;
    const char *host = strstr(origin, "://");
    if (!host)
        return 0;
    host += 3;
    static const char *const LOOP[] = {"localhost", "127.0.0.1", "[::1]"};
    for (size_t i = 0; i < sizeof LOOP / sizeof *LOOP; i++) {
        size_t n = strlen(LOOP[i]);
        if (strncasecmp(host, LOOP[i], n) == 0 && (host[n] == 0 || host[n] == ':'))
            return 1;
    }
    return 0;
}

static enum MHD_Result respond_rpc_error(request *r, unsigned status, const cJSON *id,
                                         int code, const char *msg, cJSON *data) {
    collect *c = collect_new(NULL);
    if (!c)
        return MHD_NO;
    mcp_send_error(collect_send, c, id, code, msg, data);
    char *body = c->oom ? NULL : c->buf;
    size_t len = c->len;
    c->buf = NULL;
    collect_unref(c);
    return respond_json(r, status, body, len);
}

/* The MCP-Protocol-Version header: known, and the body's _meta agrees.
 * 0, or -1 with the 400 queued. */
static int check_version_header(request *r, const cJSON *msg) {
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                "MCP-Protocol-Version");
    if (!h)
        return 0;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
    if (!cJSON_IsString(id) && !cJSON_IsNumber(id))
        id = NULL;
    if (!mcp_version_known(h)) {
        cJSON *data = cJSON_CreateObject();
        cJSON_AddItemToObject(data, "supported", mcp_supported_versions());
        cJSON_AddStringToObject(data, "requested", h);
        respond_rpc_error(r, MHD_HTTP_BAD_REQUEST, id, MCP_UNSUPPORTED_VERSION,
                          "Unsupported protocol version", data);
        return -1;
    }
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(params, "_meta");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, MCP_META_VERSION);
    if (cJSON_IsString(v) && strcmp(v->valuestring, h) != 0) {
        respond_rpc_error(r, MHD_HTTP_BAD_REQUEST, id, -32020,
                          "MCP-Protocol-Version header does not match params._meta", NULL);
        return -1;
    }
    return 0;
}

/* 400 for the answers that say the message itself was bad. */
static unsigned status_of(const char *answer) {
    static const char *const BAD[] = {"\"code\":-32700", "\"code\":-32600",
                                      "\"code\":-32022"};
    for (size_t i = 0; answer && i < sizeof BAD / sizeof *BAD; i++)
        if (strstr(answer, BAD[i]) && !strstr(answer, "\"result\""))
            return MHD_HTTP_BAD_REQUEST;
    return MHD_HTTP_OK;
}

enum MHD_Result handle_mcp(request *r) {
    mcp_server *mcp = r->srv->mcp;
    const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
    if (!origin_ok(origin))
        return respond_error(r, MHD_HTTP_FORBIDDEN,
                             "Origin \"%.100s\" is not allowed: /mcp takes requests from "
                             "loopback origins only", origin);
    cJSON *msg = cJSON_ParseWithLength(r->body ? r->body : "", r->body_len);
    int bad = msg && check_version_header(r, msg) != 0;
    cJSON_Delete(msg);
    if (bad)
        return MHD_YES;
    collect *c = collect_new(mcp);
    if (!c)
        return MHD_NO;
    mcp_call *call = NULL;
    mcp_handle_message(mcp, r->body ? r->body : "", r->body_len, collect_send, c, &call);
    if (call && call->progress_token)
        return respond_sse(r, c, call);
    if (call) /* this connection's thread runs it */
        mcp_call_run(call);
    enum MHD_Result ret;
    if (c->oom) {
        ret = MHD_NO;
    } else if (c->count == 0) {
        ret = respond_empty(r, MHD_HTTP_ACCEPTED);
    } else {
        unsigned status = status_of(c->buf);
        ret = respond_json(r, status, c->buf, c->len);
        c->buf = NULL;
    }
    collect_unref(c);
    return ret;
}

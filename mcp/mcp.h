/* mcp.h - the Model Context Protocol server over the public C API.
 *
 * noxmcp (everything in mcp/ but main.c) turns JSON-RPC messages into
 * calls on a nox_client and answers them; the transport around it (stdio
 * in main.c) reads messages, hands them to mcp_handle_message() and
 * passes a send function that writes one JSON text per call.
 *
 * Protocol revisions, chosen per request (jsonrpc.c):
 *   - 2025-11-25 (and 2025-06-18): initialize / notifications/initialized,
 *     ping, tools/list, tools/call, notifications/cancelled and
 *     notifications/progress;
 *   - 2026-07-28: a request whose params._meta carries
 *     "io.modelcontextprotocol/protocolVersion"; server/discover, no
 *     session, every result with resultType.
 * Only the public API (noxrunner.h) and cJSON are used.
 */
#ifndef NOX_MCP_H
#define NOX_MCP_H

#include <noxrunner/noxrunner.h>

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define MCP_V2025 "2025-11-25"
#define MCP_V2025_06 "2025-06-18"
#define MCP_V2026 "2026-07-28"
#define MCP_META_VERSION "io.modelcontextprotocol/protocolVersion"

/* JSON-RPC and MCP error codes (the specification's names). */
#define MCP_PARSE_ERROR (-32700)
#define MCP_INVALID_REQUEST (-32600)
#define MCP_METHOD_NOT_FOUND (-32601)
#define MCP_INVALID_PARAMS (-32602)
#define MCP_INTERNAL_ERROR (-32603)
#define MCP_UNSUPPORTED_VERSION (-32022) /* 2026-07-28 */

typedef struct mcp_config {
    int32_t default_ttl;        /* ttl of sandboxes made here when not given */
    int32_t max_sandboxes;      /* made here and alive; 0: no limit */
    int32_t max_calls;          /* tool calls running at once */
    uint64_t max_output_bytes;  /* per exec stream and read_file */
    uint64_t max_archive_bytes; /* upload_archive / download_archive */
    int keep_sandboxes;         /* do not delete ours on exit */
} mcp_config;

/* Fill c with the defaults (ttl 600 s, 16 sandboxes, 1 MiB output, 64 MiB
 * archives, 32 calls). */
void mcp_config_defaults(mcp_config *c);

/* Sends one JSON text (no newline) to the peer; called from any thread. */
typedef void (*mcp_send_fn)(void *ctx, const char *json);

/* A tool call in flight that a notifications/cancelled can reach. */
typedef struct mcp_flight {
    char *key;               /* the request id as JSON text */
    nox_exec_stream *stream; /* while an exec runs */
    int cancelled;
    struct mcp_flight *next;
} mcp_flight;

typedef struct mcp_server {
    nox_client *client;
    mcp_config cfg;
    pthread_mutex_t lock;    /* guards everything below */
    pthread_cond_t idle;     /* signalled when running drops */
    char **ours;             /* sandboxes this server created */
    size_t n_ours, cap_ours;
    mcp_flight *flights;
    int running;             /* tool calls being worked on */
    int closing;
} mcp_server;

/* One request being answered. */
typedef struct mcp_call {
    mcp_server *srv;
    cJSON *id;             /* owned */
    cJSON *params;         /* owned; may be NULL */
    cJSON *progress_token; /* owned; NULL when none was given */
    int modern;            /* 2026-07-28 envelope */
    double progress;
    mcp_flight *flight;    /* tools/call only */
    mcp_send_fn send;
    void *send_ctx;
} mcp_call;

/* ---- server (server.c) ---- */
int mcp_server_init(mcp_server *s, nox_client *client, const mcp_config *cfg);
/* Cancel running execs, wait (up to wait_ms) for calls to end, delete our
 * sandboxes unless keep_sandboxes; the client stays the caller's. */
void mcp_server_shutdown(mcp_server *s, int wait_ms);
void mcp_server_destroy(mcp_server *s);
/* Record / forget a sandbox made here; 0 or NOX_ENOMEM. */
int mcp_server_add_ours(mcp_server *s, const char *id);
int mcp_server_forget_ours(mcp_server *s, const char *id);
int mcp_server_is_ours(mcp_server *s, const char *id);
size_t mcp_server_count_ours(mcp_server *s);
/* Copy of our ids (NULL-terminated; free each and the array). */
char **mcp_server_ours_copy(mcp_server *s);

/* ---- messages (jsonrpc.c) ---- */
/* Handle one message (the text of one line). Answers that are ready go
 * out through send at once; a tools/call is returned in *out_call for
 * the transport to run (mcp_call_run, on a thread of its choosing) and
 * answer; *out_call stays NULL otherwise. */
void mcp_handle_message(mcp_server *s, const char *text, size_t len,
                        mcp_send_fn send, void *ctx, mcp_call **out_call);
/* Run a tools/call and send its answer (none when it was cancelled);
 * frees call. */
void mcp_call_run(mcp_call *call);
/* Free a call that will not run, answering it with an error. */
void mcp_call_reject(mcp_call *call, int code, const char *message);

/* Cancel the running tools/call with this id (a notifications/cancelled,
 * or its HTTP client gone). */
void mcp_cancel_id(mcp_server *s, const cJSON *id);
/* The protocol versions this server speaks, and whether v is one. */
cJSON *mcp_supported_versions(void);
int mcp_version_known(const char *v);

/* Answer helpers (jsonrpc.c). They take ownership of result. */
void mcp_send_result(mcp_call *call, cJSON *result);
void mcp_send_error(mcp_send_fn send, void *ctx, const cJSON *id, int code,
                    const char *message, cJSON *data);
/* notifications/progress for this call, when it has a token. */
void mcp_send_progress(mcp_call *call, double add, const char *message,
                       const char *stream);

/* ---- tools (tools.c, tools_exec.c, tools_files.c) ---- */
/* The tools/list array (schemas.c). */
cJSON *mcp_tools_list(void);
/* The first argument tool `name` does not take, NULL if none; *known is 0
 * for an unknown tool. */
const char *mcp_tool_unknown_arg(const char *name, const cJSON *args, int *known);
/* Run tool `name` with `args`; returns the CallToolResult, or NULL with
 * *rpc_code and *rpc_msg set for a protocol error (unknown tool). */
cJSON *mcp_tool_call(mcp_call *call, const char *name, const cJSON *args,
                     int *rpc_code, const char **rpc_msg);

/* Results and argument helpers shared by the tool files (tools.c). */
cJSON *mcp_tool_ok(cJSON *structured);
cJSON *mcp_tool_fail(const char *code_name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
cJSON *mcp_tool_nox_fail(int rc, nox_error *err, const char *what);
/* Argument readers: 0 when absent (out untouched), 1 when read, -1 on a
 * wrong type, with *fail set to an isError result naming the argument. */
int mcp_arg_string(const cJSON *args, const char *name, const char **out,
                   cJSON **fail);
int mcp_arg_int(const cJSON *args, const char *name, int64_t lo, int64_t hi,
                int64_t *out, cJSON **fail);
int mcp_arg_bool(const cJSON *args, const char *name, int *out, cJSON **fail);
/* The required "session_id". */
const char *mcp_arg_session(const cJSON *args, cJSON **fail);

cJSON *mcp_tool_exec(mcp_call *call, const cJSON *args);
cJSON *mcp_tool_write_file(mcp_call *call, const cJSON *args);
cJSON *mcp_tool_read_file(mcp_call *call, const cJSON *args);
cJSON *mcp_tool_list_files(mcp_call *call, const cJSON *args);
cJSON *mcp_tool_upload_archive(mcp_call *call, const cJSON *args);
cJSON *mcp_tool_download_archive(mcp_call *call, const cJSON *args);

/* ---- bytes (util.c) ---- */
/* Valid UTF-8 copy of data: bad sequences become U+FFFD. NULL on ENOMEM. */
char *mcp_utf8_clean(const uint8_t *data, size_t len);
int mcp_utf8_valid(const uint8_t *data, size_t len);
char *mcp_base64_encode(const uint8_t *data, size_t len);
/* 0, or -1 for text that is not base64; *out is malloc'd. */
int mcp_base64_decode(const char *text, uint8_t **out, size_t *out_len);

#endif /* NOX_MCP_H */

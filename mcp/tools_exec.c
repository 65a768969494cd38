/* tools_exec.c - the exec tool: the streaming exec API, so that output can
 * go out as progress notifications while the command runs and a
 * notifications/cancelled reaches nox_exec_cancel() from the reader
 * thread. */
#include "mcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct outbuf {
    uint8_t *data;
    size_t len, cap;
    uint64_t limit;
    int truncated;
} outbuf;

static void out_add(outbuf *b, const uint8_t *d, size_t n) {
    if (b->len + n > b->limit) {
        b->truncated = 1;
        n = (size_t)(b->limit - b->len);
    }
    if (n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *grown = realloc(b->data, cap);
        if (!grown) {
            b->truncated = 1;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, d, n);
    b->len += n;
}

/* argv from "command" (sh -c) or "argv"; pointers borrowed from args. */
static const char **exec_argv(const cJSON *args, cJSON **fail) {
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(args, "command");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(args, "argv");
    if ((cmd != NULL) == (arr != NULL)) {
        *fail = mcp_tool_fail("NOX_EINVAL", "exec needs exactly one of command (a shell "
                                            "command line) or argv (an array of strings)");
        return NULL;
    }
    if (cmd && (!cJSON_IsString(cmd) || !*cmd->valuestring)) {
        *fail = mcp_tool_fail("NOX_EINVAL", "argument command must be a non-empty string");
        return NULL;
    }
    int n = cmd ? 3 : cJSON_GetArraySize(arr);
    if (arr && (!cJSON_IsArray(arr) || n == 0)) {
        *fail = mcp_tool_fail("NOX_EINVAL", "argument argv must be a non-empty array of "
                                            "strings");
        return NULL;
    }
    const char **argv = calloc((size_t)n + 1, sizeof *argv);
    if (!argv) {
        *fail = mcp_tool_fail("NOX_ENOMEM", "out of memory");
        return NULL;
    }
    if (cmd) {
        argv[0] = "sh";
        argv[1] = "-c";
        argv[2] = cmd->valuestring;
        return argv;
    }
    for (int i = 0; i < n; i++) {
        const cJSON *a = cJSON_GetArrayItem(arr, i);
        if (!cJSON_IsString(a)) {
            free(argv);
            *fail = mcp_tool_fail("NOX_EINVAL", "argv[%d] must be a string", i);
            return NULL;
        }
        argv[i] = a->valuestring;
    }
    return argv;
}

static void env_free(char **env) {
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* env object -> "K=V" strings; 0 or -1 with *fail set. */
static int exec_env(const cJSON *args, char ***out, cJSON **fail) {
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(args, "env");
    *out = NULL;
    if (!env || cJSON_IsNull(env))
        return 0;
    if (!cJSON_IsObject(env)) {
        *fail = mcp_tool_fail("NOX_EINVAL", "argument env must be an object of strings");
        return -1;
    }
    char **v = calloc((size_t)cJSON_GetArraySize(env) + 1, sizeof *v);
    size_t n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, env) {
        if (!v || !cJSON_IsString(e) || !*e->string || strchr(e->string, '=')) {
            env_free(v);
            *fail = mcp_tool_fail("NOX_EINVAL", "env[\"%.100s\"] must be a string value of "
                                                "a name without '='",
                                  e->string);
            return -1;
        }
        size_t len = strlen(e->string) + strlen(e->valuestring) + 2;
        if (!(v[n] = malloc(len))) {
            env_free(v);
            *fail = mcp_tool_fail("NOX_ENOMEM", "out of memory");
            return -1;
        }
        snprintf(v[n++], len, "%s=%s", e->string, e->valuestring);
    }
    *out = v;
    return 0;
}

/* The exec options from args; 0 or -1 with *fail set. */
static int exec_opts(mcp_call *call, const cJSON *args, nox_exec_options *o,
                     uint64_t *cap, cJSON **fail) {
    const char *workdir = NULL, *in = NULL;
    int64_t timeout = 0, max_out = (int64_t)call->srv->cfg.max_output_bytes;
    if (mcp_arg_string(args, "workdir", &workdir, fail) < 0 ||
        mcp_arg_string(args, "stdin", &in, fail) < 0 ||
        mcp_arg_int(args, "timeout_seconds", 1, 86400, &timeout, fail) < 0 ||
        mcp_arg_int(args, "max_output_bytes", 1, INT64_MAX / 2, &max_out, fail) < 0)
        return -1;
    nox_exec_options_init(o, NOX_EXEC_OPTIONS_VERSION);
    o->workdir = workdir;
    o->timeout_seconds = (int32_t)timeout;
    o->stdin_data = (const uint8_t *)in;
    o->stdin_len = in ? strlen(in) : 0;
    *cap = (uint64_t)max_out < call->srv->cfg.max_output_bytes ? (uint64_t)max_out
                                                               : call->srv->cfg.max_output_bytes;
    o->max_output_bytes = *cap;
    return 0;
}

/* Make st reachable by a cancel; 0, or -1 when the call was cancelled. */
static int attach_stream(mcp_call *call, nox_exec_stream *st) {
    pthread_mutex_lock(&call->srv->lock);
    int cancelled = call->flight->cancelled;
    call->flight->stream = cancelled ? NULL : st;
    pthread_mutex_unlock(&call->srv->lock);
    return cancelled ? -1 : 0;
}

static void progress_chunk(mcp_call *call, int kind, const uint8_t *d, size_t n) {
    if (!call->progress_token)
        return;
    char *text = mcp_utf8_clean(d, n);
    mcp_send_progress(call, (double)n, text, kind == NOX_EVENT_STDOUT ? "stdout" : "stderr");
    free(text);
}

/* Pull events until EXIT; 0 or a NOX code with *err. */
static int pump(mcp_call *call, nox_exec_stream *st, outbuf *out, outbuf *errb,
                nox_error **err) {
    for (;;) {
        int kind = NOX_EVENT_NONE;
        const uint8_t *d = NULL;
        size_t n = 0;
        int rc = nox_exec_next(st, -1, &kind, &d, &n, err);
        if (rc != 0)
            return rc;
        if (kind == NOX_EVENT_EXIT)
            return 0;
        if (kind == NOX_EVENT_STDOUT || kind == NOX_EVENT_STDERR) {
            out_add(kind == NOX_EVENT_STDOUT ? out : errb, d, n);
            progress_chunk(call, kind, d, n);
        }
    }
}

static void add_text(cJSON *o, const char *name, const outbuf *b) {
    char *text = mcp_utf8_clean(b->data ? b->data : (const uint8_t *)"", b->len);
    cJSON_AddStringToObject(o, name, text ? text : "");
    free(text);
}

static cJSON *exec_result(const nox_exec_result *r, const outbuf *out, const outbuf *errb) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "exit_code", nox_exec_result_exit_code(r));
    if (nox_exec_result_signal(r))
        cJSON_AddNumberToObject(o, "signal", nox_exec_result_signal(r));
    add_text(o, "stdout", out);
    add_text(o, "stderr", errb);
    cJSON_AddBoolToObject(o, "stdout_truncated",
                          out->truncated || nox_exec_result_stdout_truncated(r));
    cJSON_AddBoolToObject(o, "stderr_truncated",
                          errb->truncated || nox_exec_result_stderr_truncated(r));
    cJSON_AddBoolToObject(o, "timed_out", nox_exec_result_timed_out(r));
    cJSON_AddNumberToObject(o, "duration_ms", (double)nox_exec_result_duration_ms(r));
    return mcp_tool_ok(o);
}

cJSON *mcp_tool_exec(mcp_call *call, const cJSON *args) {
    cJSON *fail = NULL;
    const char *sid = mcp_arg_session(args, &fail);
    nox_exec_options o;
    uint64_t cap = 0;
    char **env = NULL;
    const char **argv = NULL;
    if (!sid || exec_opts(call, args, &o, &cap, &fail) != 0 ||
        !(argv = exec_argv(args, &fail)) || exec_env(args, &env, &fail) != 0) {
        free(argv);
        return fail;
    }
    o.env = (const char *const *)env;
    nox_exec_stream *st = NULL;
    nox_error *err = NULL;
    int rc = nox_exec_start(call->srv->client, sid, argv, &o, &st, &err);
    free(argv);
    env_free(env);
    if (rc != 0)
        return mcp_tool_nox_fail(rc, err, "exec");
    outbuf out = {.limit = cap}, errb = {.limit = cap};
    rc = attach_stream(call, st) != 0 ? NOX_ECANCELED : pump(call, st, &out, &errb, &err);
    attach_stream(call, NULL);
    cJSON *result = rc != 0 ? mcp_tool_nox_fail(rc, err, "exec")
                            : exec_result(nox_exec_stream_result(st), &out, &errb);
    nox_exec_stream_free(st);
    free(out.data);
    free(errb.data);
    return result;
}

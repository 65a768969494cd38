/*
 * noxrunner_extra.c - Lua <-> C conversions for the SWIG-generated module.
 * See noxrunner_extra.h for why these are written by hand.
 *
 * Every helper that can raise a Lua error does so before anything is
 * allocated with malloc, or allocates only Lua-managed memory, so a raised
 * error never leaks.
 */
#include "noxrunner_extra.h"

#include <lauxlib.h>
#include <string.h>

/* ---- reading option tables ---------------------------------------------- */

static void check_known_keys(lua_State *L, int idx, const char *what,
                             const char *const *known)
{
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: option names must be strings", what);
        const char *k = lua_tostring(L, -1);
        int found = 0;
        for (size_t i = 0; known[i]; i++)
            if (strcmp(known[i], k) == 0) found = 1;
        if (!found) luaL_error(L, "%s: unknown option \"%s\"", what, k);
    }
}

/* Borrowed string field, NULL when absent. The table keeps the string
 * alive, and only real strings are accepted (lua_tolstring on a number
 * would convert a stack copy that is gone after the pop). */
static const char *field_string(lua_State *L, int idx, const char *what,
                                const char *name, size_t *len)
{
    const char *s = NULL;
    int t = lua_getfield(L, idx, name);
    if (t == LUA_TSTRING)
        s = lua_tolstring(L, -1, len);
    else if (t != LUA_TNIL)
        luaL_error(L, "%s: option %s must be a string, got %s", what, name,
                   lua_typename(L, t));
    lua_pop(L, 1);
    return s;
}

/* Integer field within [lo, hi]; dflt when absent. Booleans count as 1/0
 * so flags such as tls_verify read naturally. */
static lua_Integer field_int(lua_State *L, int idx, const char *what,
                             const char *name, lua_Integer lo, lua_Integer hi,
                             lua_Integer dflt)
{
    lua_Integer v = dflt;
    int t = lua_getfield(L, idx, name);
    if (t == LUA_TBOOLEAN) {
        v = lua_toboolean(L, -1);
    } else if (t != LUA_TNIL) {
        int isnum = 0;
        v = lua_tointegerx(L, -1, &isnum);
        if (t != LUA_TNUMBER || !isnum)
            luaL_error(L, "%s: option %s must be an integer", what, name);
    }
    lua_pop(L, 1);
    if (t != LUA_TNIL && (v < lo || v > hi))
        luaL_error(L, "%s: option %s out of range", what, name);
    return v;
}

static int table_or_nil(lua_State *L, int idx, const char *what)
{
    int t = lua_type(L, idx);
    if (t == LUA_TNIL || t == LUA_TNONE) return 0;
    if (t != LUA_TTABLE)
        luaL_error(L, "%s: options must be a table, got %s", what,
                   lua_typename(L, t));
    return 1;
}

void noxlua_client_options(lua_State *L, int idx, nox_client_options *o)
{
    static const char *const known[] = {
        "backend", "base_url", "api_key", "connect_timeout_ms",
        "request_timeout_ms", "max_retries", "tls_verify", "ca_file",
        "user_agent", "base_dir", "isolation", "agent_path",
        "max_output_bytes", "max_archive_bytes", "max_archive_entries",
        "transfer_timeout_ms", NULL};
    const char *w = "client options";
    idx = lua_absindex(L, idx);
    if (nox_client_options_init(o, NOX_CLIENT_OPTIONS_VERSION) != 0)
        luaL_error(L, "%s: library refused options version", w);
    if (!table_or_nil(L, idx, w)) return;
    check_known_keys(L, idx, w, known);
    o->backend = (int32_t)field_int(L, idx, w, "backend", 0, INT32_MAX, o->backend);
    o->base_url = field_string(L, idx, w, "base_url", NULL);
    o->api_key = field_string(L, idx, w, "api_key", NULL);
    o->connect_timeout_ms = (uint32_t)field_int(L, idx, w, "connect_timeout_ms", 0,
                                                UINT32_MAX, o->connect_timeout_ms);
    o->request_timeout_ms = (uint32_t)field_int(L, idx, w, "request_timeout_ms", 0,
                                                UINT32_MAX, o->request_timeout_ms);
    o->transfer_timeout_ms = (uint32_t)field_int(L, idx, w, "transfer_timeout_ms", 0,
                                                 UINT32_MAX, o->transfer_timeout_ms);
    o->max_retries = (int32_t)field_int(L, idx, w, "max_retries", 0, INT32_MAX,
                                        o->max_retries);
    o->tls_verify = (int32_t)field_int(L, idx, w, "tls_verify", 0, 1, o->tls_verify);
    o->ca_file = field_string(L, idx, w, "ca_file", NULL);
    o->user_agent = field_string(L, idx, w, "user_agent", NULL);
    o->base_dir = field_string(L, idx, w, "base_dir", NULL);
    o->isolation = (int32_t)field_int(L, idx, w, "isolation", 0, INT32_MAX,
                                      o->isolation);
    o->agent_path = field_string(L, idx, w, "agent_path", NULL);
    o->max_output_bytes = (uint64_t)field_int(L, idx, w, "max_output_bytes", 0,
                                              LUA_MAXINTEGER, 0);
    o->max_archive_bytes = (uint64_t)field_int(L, idx, w, "max_archive_bytes", 0,
                                               LUA_MAXINTEGER, 0);
    o->max_archive_entries = (uint64_t)field_int(L, idx, w, "max_archive_entries",
                                                 0, LUA_MAXINTEGER, 0);
}

void noxlua_sandbox_options(lua_State *L, int idx, nox_sandbox_options *o)
{
    static const char *const known[] = {"ttl_seconds", "image", "cpu_limit",
                                        "memory_limit",
                                        "ephemeral_storage_limit", NULL};
    const char *w = "sandbox options";
    idx = lua_absindex(L, idx);
    if (nox_sandbox_options_init(o, NOX_SANDBOX_OPTIONS_VERSION) != 0)
        luaL_error(L, "%s: library refused options version", w);
    if (!table_or_nil(L, idx, w)) return;
    check_known_keys(L, idx, w, known);
    /* Range checking of the TTL is the library's job (it names the
     * session in its message); here it only has to fit the field. */
    o->ttl_seconds = (int32_t)field_int(L, idx, w, "ttl_seconds", INT32_MIN,
                                        INT32_MAX, o->ttl_seconds);
    o->image = field_string(L, idx, w, "image", NULL);
    o->cpu_limit = field_string(L, idx, w, "cpu_limit", NULL);
    o->memory_limit = field_string(L, idx, w, "memory_limit", NULL);
    o->ephemeral_storage_limit =
        field_string(L, idx, w, "ephemeral_storage_limit", NULL);
}

void noxlua_exec_options(lua_State *L, int idx, nox_exec_options *o)
{
    static const char *const known[] = {"workdir", "env", "timeout_seconds",
                                        "stdin", "max_output_bytes", NULL};
    const char *w = "exec options";
    idx = lua_absindex(L, idx);
    if (nox_exec_options_init(o, NOX_EXEC_OPTIONS_VERSION) != 0)
        luaL_error(L, "%s: library refused options version", w);
    if (!table_or_nil(L, idx, w)) return;
    check_known_keys(L, idx, w, known);
    o->workdir = field_string(L, idx, w, "workdir", NULL);
    o->timeout_seconds = (int32_t)field_int(L, idx, w, "timeout_seconds",
                                            INT32_MIN, INT32_MAX,
                                            o->timeout_seconds);
    size_t n = 0;
    const char *in = field_string(L, idx, w, "stdin", &n);
    o->stdin_data = (const uint8_t *)in;
    o->stdin_len = in ? n : 0;
    o->max_output_bytes = (uint64_t)field_int(L, idx, w, "max_output_bytes", 0,
                                              LUA_MAXINTEGER, 0);
    int t = lua_getfield(L, idx, "env");
    if (t == LUA_TTABLE)
        /* The array userdata is left on the stack below the env table
         * (removed next) so it lives as long as the wrapper's frame. */
        o->env = noxlua_string_array(L, -1, "exec options: env");
    else if (t != LUA_TNIL)
        luaL_error(L, "%s: option env must be an array of \"K=V\" strings", w);
    if (t == LUA_TTABLE)
        lua_remove(L, -2);
    else
        lua_pop(L, 1);
}

const char *const *noxlua_string_array(lua_State *L, int idx, const char *what)
{
    idx = lua_absindex(L, idx);
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
        int t = lua_rawgeti(L, idx, i);
        lua_pop(L, 1);
        if (t != LUA_TSTRING)
            luaL_error(L, "%s: item %d must be a string, got %s", what, (int)i,
                       lua_typename(L, t));
    }
    const char **a = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        a[i - 1] = lua_tostring(L, -1); /* kept alive by the table */
        lua_pop(L, 1);
    }
    a[n] = NULL;
    return a;
}

/* ---- pushing results ---------------------------------------------------- */

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

static void set_bool(lua_State *L, const char *k, int v)
{
    lua_pushboolean(L, v);
    lua_setfield(L, -2, k);
}

static void set_str(lua_State *L, const char *k, const char *s)
{
    if (!s) return;
    lua_pushstring(L, s);
    lua_setfield(L, -2, k);
}

void noxlua_push_error(lua_State *L, const nox_error *e)
{
    if (!e) {
        lua_pushnil(L);
        return;
    }
    int code = nox_error_code(e);
    lua_createtable(L, 0, 5);
    set_str(L, "code", nox_code_name(code));
    set_int(L, "errno", code);
    set_str(L, "message", nox_error_message(e));
    set_int(L, "http_status", nox_error_http_status(e));
    size_t len = 0;
    const uint8_t *body = nox_error_body(e, &len);
    if (body) {
        lua_pushlstring(L, (const char *)body, len);
        lua_setfield(L, -2, "body");
    }
}

void noxlua_push_exec_result(lua_State *L, const nox_exec_result *r)
{
    if (!r) {
        lua_pushnil(L);
        return;
    }
    size_t len = 0;
    const uint8_t *d;
    lua_createtable(L, 0, 8);
    set_int(L, "exitCode", nox_exec_result_exit_code(r));
    d = nox_exec_result_stdout(r, &len);
    lua_pushlstring(L, d ? (const char *)d : "", d ? len : 0);
    lua_setfield(L, -2, "stdout");
    d = nox_exec_result_stderr(r, &len);
    lua_pushlstring(L, d ? (const char *)d : "", d ? len : 0);
    lua_setfield(L, -2, "stderr");
    set_int(L, "durationMs", (lua_Integer)nox_exec_result_duration_ms(r));
    set_bool(L, "timedOut", nox_exec_result_timed_out(r));
    set_bool(L, "stdoutTruncated", nox_exec_result_stdout_truncated(r));
    set_bool(L, "stderrTruncated", nox_exec_result_stderr_truncated(r));
    set_int(L, "signal", nox_exec_result_signal(r));
}

void noxlua_push_sandbox_info(lua_State *L, const nox_sandbox_info *i)
{
    if (!i) {
        lua_pushnil(L);
        return;
    }
    lua_createtable(L, 0, 4);
    set_str(L, "sessionId", nox_sandbox_info_session_id(i));
    set_str(L, "podName", nox_sandbox_info_pod_name(i));
    set_str(L, "expiresAt", nox_sandbox_info_expires_at(i));
    set_int(L, "expiresAtUnix", (lua_Integer)nox_sandbox_info_expires_at_unix(i));
}

void noxlua_push_sandbox_list(lua_State *L, const nox_sandbox_list *l)
{
    if (!l) {
        lua_pushnil(L);
        return;
    }
    size_t n = nox_sandbox_list_count(l);
    lua_createtable(L, n > INT32_MAX ? 0 : (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        noxlua_push_sandbox_info(L, nox_sandbox_list_at(l, i));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

void noxlua_push_bytes(lua_State *L, const nox_bytes *b)
{
    if (!b) {
        lua_pushnil(L);
        return;
    }
    size_t len = 0;
    const uint8_t *d = nox_bytes_data(b, &len);
    lua_pushlstring(L, d ? (const char *)d : "", d ? len : 0);
}

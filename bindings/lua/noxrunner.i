/*
 * noxrunner.i - SWIG interface for the raw Lua module `noxrunner.core`.
 *
 * The module is the public C header, function for function, with typemaps
 * that make each call Lua-shaped:
 *
 *   - `nox_error **` is not an argument; the call returns it last, as a
 *     table {code=, errno=, message=, http_status=, body=} or nil.
 *   - `T **out` is not an argument; the call returns it after the int code:
 *       rc, out, err = core.nox_exec(c, "s1", {"echo", "hi"}, nil)
 *   - Result handles (exec result, sandbox info and list, bytes) are turned
 *     into Lua tables/strings and freed inside the wrapper, so Lua never
 *     holds them and there is nothing to free or leak. Their accessor and
 *     _free functions are therefore not wrapped.
 *   - Long-lived handles (nox_client, nox_exec_stream, nox_files) come back
 *     as plain SWIG pointers that Lua does NOT own: noxrunner.lua wraps each
 *     in an object whose __gc/__close call the matching _free exactly once.
 *     SWIG's own ownership flag cannot be cleared by an explicit close, so
 *     letting SWIG own them would make `close()` followed by GC a double
 *     free.
 *   - Option structs are read from Lua tables keyed by the C field names,
 *     strings borrowed for the duration of the call (SWIG's struct member
 *     setters would malloc copies of `const char *` and never free them).
 *   - Byte data (`const uint8_t *data, size_t len`, stream chunks) travels
 *     as Lua strings, which hold any bytes.
 *   - `const char *const *argv` is a Lua array of strings.
 *
 * The conversions live in noxrunner_extra.c.
 */
%module noxrunner_core

%{
#include "noxrunner/noxrunner.h"
#include "noxrunner_extra.h"
%}

%include <stdint.i>

/* Integers as Lua integers, not floats (SWIG's default pushes lua_Number,
 * which would make exit codes print as 0.0). */
%typemap(out) int, int32_t, uint32_t, int64_t, size_t
%{ lua_pushinteger(L, (lua_Integer)$1); SWIG_arg++; %}

/* Integer arguments must be integers: a float such as 1.5 is refused
 * rather than silently truncated by a C cast. */
%typemap(in, checkfn="lua_isnumber") int, int32_t, uint32_t
%{ $1 = ($1_ltype)luaL_checkinteger(L, $input); %}

/* ---- errors ---------------------------------------------------------- */

%typemap(in, numinputs=0) nox_error ** (nox_error *tmp = NULL)
%{ $1 = &tmp; %}
%typemap(argout) nox_error **
%{ noxlua_push_error(L, *$1); SWIG_arg++; %}
%typemap(freearg) nox_error **
%{ nox_error_free(*$1); %}

/* ---- long-lived handles: returned, owned by noxrunner.lua ------------ */

%define NOX_HANDLE_OUT(TYPE)
%typemap(in, numinputs=0) TYPE ** (TYPE *tmp = NULL)
%{ $1 = &tmp; %}
%typemap(argout) TYPE **
%{
    if (*$1)
        SWIG_NewPointerObj(L, *$1, $*1_descriptor, 0);
    else
        lua_pushnil(L);
    SWIG_arg++;
%}
%enddef
NOX_HANDLE_OUT(nox_client)
NOX_HANDLE_OUT(nox_exec_stream)
NOX_HANDLE_OUT(nox_files)

/* ---- result handles: converted at once, freed by the wrapper ---------- */

%define NOX_VALUE_OUT(TYPE, PUSH, FREE)
%typemap(in, numinputs=0) TYPE ** (TYPE *tmp = NULL)
%{ $1 = &tmp; %}
%typemap(argout) TYPE **
%{ PUSH(L, *$1); SWIG_arg++; %}
%typemap(freearg) TYPE **
%{ FREE(*$1); %}
%enddef
NOX_VALUE_OUT(nox_exec_result, noxlua_push_exec_result, nox_exec_result_free)
NOX_VALUE_OUT(nox_sandbox_info, noxlua_push_sandbox_info, nox_sandbox_info_free)
NOX_VALUE_OUT(nox_sandbox_list, noxlua_push_sandbox_list, nox_sandbox_list_free)
NOX_VALUE_OUT(nox_bytes, noxlua_push_bytes, nox_bytes_free)

/* The stream's final result is borrowed from the stream: copy it out. */
%typemap(out) const nox_exec_result *
%{ noxlua_push_exec_result(L, $1); SWIG_arg++; %}

/* ---- inputs ---------------------------------------------------------- */

%typemap(in) const nox_client_options * (nox_client_options tmp)
%{ noxlua_client_options(L, $input, &tmp); $1 = &tmp; %}
%typemap(in) const nox_sandbox_options * (nox_sandbox_options tmp)
%{ noxlua_sandbox_options(L, $input, &tmp); $1 = lua_isnoneornil(L, $input) ? NULL : &tmp; %}
%typemap(in) const nox_exec_options * (nox_exec_options tmp)
%{ noxlua_exec_options(L, $input, &tmp); $1 = lua_isnoneornil(L, $input) ? NULL : &tmp; %}

%typemap(in, checkfn="lua_istable") const char *const *argv
%{ $1 = ($1_ltype)noxlua_string_array(L, $input, "argv"); %}

%typemap(in, checkfn="lua_isstring") (const uint8_t *data, size_t len) (size_t n = 0)
%{ $1 = ($1_ltype)lua_tolstring(L, $input, &n); $2 = n; %}

/* Stream events: kind and a chunk copied into a Lua string right away,
 * because the library's chunk pointer is valid only until the next call. */
%typemap(in, numinputs=0) int *out_kind (int tmp = 0)
%{ $1 = &tmp; %}
%typemap(argout) int *out_kind
%{ lua_pushinteger(L, *$1); SWIG_arg++; %}
%typemap(in, numinputs=0) (const uint8_t **data, size_t *len)
    (const uint8_t *d = NULL, size_t n = 0)
%{ $1 = ($1_ltype)&d; $2 = &n; %}
%typemap(argout) (const uint8_t **data, size_t *len)
%{
    if (*$1)
        lua_pushlstring(L, (const char *)*$1, *$2);
    else
        lua_pushnil(L);
    SWIG_arg++;
%}

/* ---- what is not wrapped, and why ------------------------------------- */

/* Read through the tables above instead. */
%ignore nox_error_code;
%ignore nox_error_message;
%ignore nox_error_http_status;
%ignore nox_error_body;
%ignore nox_error_free;
%ignore nox_bytes_data;
%ignore nox_bytes_free;
%ignore nox_exec_result_exit_code;
%ignore nox_exec_result_signal;
%ignore nox_exec_result_stdout;
%ignore nox_exec_result_stderr;
%ignore nox_exec_result_duration_ms;
%ignore nox_exec_result_timed_out;
%ignore nox_exec_result_stdout_truncated;
%ignore nox_exec_result_stderr_truncated;
%ignore nox_exec_result_free;
%ignore nox_sandbox_info_session_id;
%ignore nox_sandbox_info_pod_name;
%ignore nox_sandbox_info_expires_at;
%ignore nox_sandbox_info_expires_at_unix;
%ignore nox_sandbox_info_free;
%ignore nox_sandbox_list_count;
%ignore nox_sandbox_list_at;
%ignore nox_sandbox_list_free;
/* Option structs come from tables; their init functions run inside the
 * typemaps. */
%ignore nox_client_options;
%ignore nox_sandbox_options;
%ignore nox_exec_options;
%ignore nox_client_options_init;
%ignore nox_sandbox_options_init;
%ignore nox_exec_options_init;
/* Lua has no portable file descriptors; the in-memory and directory forms
 * cover the same ground. */
%ignore nox_upload_targz_fd;
%ignore nox_download_fd;

%include "noxrunner/version.h"
%include "noxrunner/noxrunner.h"

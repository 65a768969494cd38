/*
 * noxrunner_extra.h - hand-written conversions used by the SWIG typemaps in
 * noxrunner.i.
 *
 * SWIG generates every wrapper function; these helpers only turn Lua tables
 * into the library's option structs and argv arrays, and turn the library's
 * result objects into plain Lua values. Why by hand: SWIG's own struct
 * wrappers copy `const char *` members with malloc and never free them, and
 * cannot express "borrow these strings for the duration of one call"; and a
 * result handle converted to a Lua table at once needs no ownership
 * tracking at all (the handle is freed before the wrapper returns).
 */
#ifndef NOXRUNNER_LUA_EXTRA_H
#define NOXRUNNER_LUA_EXTRA_H

#include <lua.h>

#include "noxrunner/noxrunner.h"

/* Table at idx (nil: defaults) into o. Raises a Lua error for a field of
 * the wrong type. Strings are borrowed from the table, which the caller's
 * stack keeps alive for the call. */
void noxlua_client_options(lua_State *L, int idx, nox_client_options *o);
void noxlua_sandbox_options(lua_State *L, int idx, nox_sandbox_options *o);
void noxlua_exec_options(lua_State *L, int idx, nox_exec_options *o);

/* Array table at idx into a NULL-terminated array of borrowed strings. The
 * array itself lives in a userdata pushed on the stack (so a Lua error
 * raised later in the same wrapper never leaks it). */
const char *const *noxlua_string_array(lua_State *L, int idx, const char *what);

/* Push a table for e: {code = "NOX_ENOTFOUND", errno = -3, message = ...,
 * http_status = 404, body = <string or nil>}; nil when e is NULL. */
void noxlua_push_error(lua_State *L, const nox_error *e);
/* Push a table with the Python-style keys exitCode, stdout, stderr,
 * durationMs, timedOut, stdoutTruncated, stderrTruncated, signal; nil for
 * NULL. */
void noxlua_push_exec_result(lua_State *L, const nox_exec_result *r);
/* {sessionId=, podName=, expiresAt=, expiresAtUnix=}; nil for NULL. */
void noxlua_push_sandbox_info(lua_State *L, const nox_sandbox_info *i);
/* Array of sandbox info tables; nil for NULL. */
void noxlua_push_sandbox_list(lua_State *L, const nox_sandbox_list *l);
/* The bytes as a Lua string; nil for NULL. */
void noxlua_push_bytes(lua_State *L, const nox_bytes *b);

#endif

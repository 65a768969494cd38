/* benchclock.c - CLOCK_MONOTONIC in nanoseconds for the Lua bench driver
 * (Lua has no monotonic clock; os.clock() is CPU time). */
#define _POSIX_C_SOURCE 200809L
#include <lauxlib.h>
#include <lua.h>
#include <time.h>

static int now_ns(lua_State *L) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    lua_pushinteger(L, (lua_Integer)t.tv_sec * 1000000000 + t.tv_nsec);
    return 1;
}

int luaopen_benchclock(lua_State *L) {
    lua_newtable(L);
    lua_pushcfunction(L, now_ns);
    lua_setfield(L, -2, "now_ns");
    return 1;
}

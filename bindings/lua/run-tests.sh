#!/usr/bin/env bash
# Build the Lua binding against a staged install and run its tests and the
# Lua scenario runner. `make test-lua` calls this with NOX_PREFIX set to the
# build tree's staged install (include/, lib/pkgconfig/noxrunner.pc,
# lib/libnoxrunner.so, bin/noxrunnerd, libexec/noxrunner/nox-sandbox).
# Exits non-zero when anything failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${NOX_PREFIX:?set NOX_PREFIX to a staged install (make stage)}"
NOX_PREFIX=$(cd "$NOX_PREFIX" && pwd)

# Lua 5.4, its headers, SWIG and lua-cjson (the scenario runner reads JSON),
# installed only when missing.
missing=()
for p in lua5.4 liblua5.4-dev swig lua-cjson gzip; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "run-tests.sh: missing ${missing[*]}; install them (as root: apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "run-tests.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Always a clean build: the wrapper is generated from the staged header,
# which may have changed since the last run.
make -s -C "$here" clean
make -s -C "$here" NOX_PREFIX="$NOX_PREFIX"

export NOXRUNNERD="${NOXRUNNERD:-$NOX_PREFIX/bin/noxrunnerd}"
export NOXRUNNER_AGENT="${NOXRUNNER_AGENT:-$NOX_PREFIX/libexec/noxrunner/nox-sandbox}"
export NOX_SCENARIOS="${NOX_SCENARIOS:-$root/tests/scenarios}"

rc=0
echo "== Lua binding tests"
lua5.4 "$here/tests/test_binding.lua" || rc=1
lua5.4 "$here/tests/test_transfer_timeout.lua" || rc=1

# The rockspec must build and install a working module; checked when
# LuaRocks is there (it is optional for users and for this script).
if command -v luarocks >/dev/null 2>&1; then
  echo "== LuaRocks install"
  tree=$(mktemp -d /tmp/nox-lua-rock-XXXXXX)
  # Built from a copy, so the in-place module the other tests use is untouched.
  mkdir "$tree/src"
  cp "$here"/Makefile "$here"/noxrunner.i "$here"/noxrunner_extra.[ch] "$here"/noxrunner.lua \
     "$here"/noxrunner-scm-1.rockspec "$tree/src/"
  if (cd "$tree/src" && luarocks --lua-version 5.4 make --tree "$tree" NOXRUNNER_DIR="$NOX_PREFIX" >"$tree.log" 2>&1) &&
     (cd /tmp && LUA_PATH="$tree/share/lua/5.4/?.lua;;" LUA_CPATH="$tree/lib/lua/5.4/?.so;;" TREE="$tree" \
        lua5.4 -e 'local n = require("noxrunner"); assert(n.NoxRunnerClient.new)
                   assert(package.searchpath("noxrunner.core", package.cpath):find(os.getenv("TREE"), 1, true))
                   local c <close> = n.NoxRunnerClient.new{local_test = true, base_dir = os.getenv("TREE") .. "/home",
                                                          agent_path = os.getenv("NOXRUNNER_AGENT")}
                   assert(c:health_check())' ); then
    echo "luarocks: 1 passed, 0 failed"
  else
    cat "$tree.log" >&2
    echo "luarocks: 0 passed, 1 failed"
    rc=1
  fi
  rm -rf "$tree" "$tree.log"
fi

echo "== Lua scenario runner"
lua5.4 "$root/tests/lua/scenario_runner.lua" || rc=1
exit $rc

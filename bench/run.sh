#!/usr/bin/env bash
# NoxRunner benchmark suite: `make bench` runs `bench/run.sh`,
# `make bench-quick` runs `bench/run.sh --quick` (under two minutes once
# the tools are built).
#
# Builds everything it measures from a Release staged install in
# build-bench/ (never touching build/ or the bindings' own build dirs),
# sets up the baselines, then runs bench/bench.py, which prints one table
# and writes bench/results/latest.json and bench/results/latest.md.
#
#   bench/run.sh [--quick] [--sandboxes N] [--only exec,http,mcp,create,xfer,threads,many]
#
# Baselines set up here: noxrunner 2.0.0 from PyPI (build-bench/venv-200),
# our Python package (`pip install .`, build-bench/venv-ours), bubblewrap
# (apt-get when missing), tar/gzip. Go and Lua drivers are built against
# the staged install.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
B=${NOX_BENCH_BUILD:-$root/build-bench}
S=$B/stage
profile=--full
args=()
for a in "$@"; do
  case $a in
    --quick) profile=--quick ;;
    --full) profile=--full ;;
    *) args+=("$a") ;;
  esac
done
log() { printf '== %s\n' "$*" >&2; }

# -- system packages: bubblewrap (baseline), Lua + SWIG (Lua driver) ---------
missing=()
for p in bubblewrap lua5.4 liblua5.4-dev swig tar gzip; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else SUDO=no; fi
  if [ "$SUDO" = no ]; then
    log "missing ${missing[*]} and no root: those measurements will be skipped"
  else
    log "installing ${missing[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# -- the library, Release, staged ---------------------------------------------
log "building the core (Release) into $S"
if [ ! -f "$B/build.ninja" ]; then
  cmake -S "$root" -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNOX_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$B" >/dev/null
cmake --install "$B" --prefix "$S" >/dev/null

log "building nox_bench"
cc -O2 -g -std=c11 -Wall -Wextra -Wno-format-truncation -I"$S/include" -o "$B/nox_bench" \
  "$here/nox_bench.c" -L"$S/lib" -lnoxrunner -lcurl -lpthread -Wl,-rpath,"$S/lib"

# -- Python: 2.0.0 from PyPI, and ours from this tree -------------------------
PY=${PYTHON:-python3}
if [ ! -x "$B/venv-200/bin/python" ] || ! "$B/venv-200/bin/python" -c \
     'import noxrunner, sys; sys.exit(noxrunner.__version__ != "2.0.0")' 2>/dev/null; then
  log "installing noxrunner==2.0.0 from PyPI into $B/venv-200"
  rm -rf "$B/venv-200"
  "$PY" -m venv "$B/venv-200"
  "$B/venv-200/bin/pip" install -q noxrunner==2.0.0
fi
# Reinstall ours when anything it is built from changed since the last install.
stamp=$B/venv-ours/.installed
if [ ! -f "$stamp" ] || [ -n "$(find "$root/core" "$root/server" "$root/bindings/python/noxrunner" \
     "$root/bindings/python/buildtools" "$root/setup.py" "$root/pyproject.toml" "$root/CMakeLists.txt" \
     -newer "$stamp" -type f -print -quit)" ]; then
  log "installing our Python package (pip install .) into $B/venv-ours"
  [ -x "$B/venv-ours/bin/python" ] || "$PY" -m venv "$B/venv-ours"
  (cd "$root" && NOX_PY_CMAKE_BUILD_DIR="$B/py-cmake" "$B/venv-ours/bin/pip" install -q --force-reinstall --no-deps . \
     && "$B/venv-ours/bin/pip" install -q cffi)
  touch "$stamp"
fi

# -- Go driver -------------------------------------------------------------------
if command -v go >/dev/null; then
  log "building the Go driver"
  (cd "$here/drivers/go" && PKG_CONFIG_PATH="$S/lib/pkgconfig" CGO_LDFLAGS="-Wl,-rpath,$S/lib" \
     GOFLAGS=-mod=mod go build -o "$B/bench-go" .) || log "Go driver did not build: Go rows will be skipped"
else
  log "no go toolchain: Go rows will be skipped"
fi

# -- Lua driver: the binding built from a copy, so bindings/lua stays untouched -
if command -v lua5.4 >/dev/null && command -v swig >/dev/null; then
  log "building the Lua module"
  rm -rf "$B/lua" && mkdir -p "$B/lua"
  cp "$root"/bindings/lua/{Makefile,noxrunner.i,noxrunner_extra.c,noxrunner_extra.h,noxrunner.lua} "$B/lua/"
  if make -s -C "$B/lua" NOX_PREFIX="$S" CFLAGS="-O2 -g" >/dev/null; then
    cc -O2 -shared -fPIC -I"$(pkg-config --variable=includedir lua5.4 2>/dev/null || echo /usr/include)/lua5.4" \
      -o "$B/lua/benchclock.so" "$here/drivers/lua/benchclock.c"
  else
    log "Lua module did not build: Lua rows will be skipped"
  fi
fi

log "running"
exec "$PY" "$here/bench.py" "$profile" --tools "$B" --out "$here/results" "${args[@]+"${args[@]}"}"

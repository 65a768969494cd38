#!/usr/bin/env bash
# Build and install the Python package from the repository root into a venv,
# type-check the INSTALLED package with mypy --strict, and run the tests
# against it. Exits non-zero on any failure. Called by `make test`.
#
#   tests/python/run.sh [pytest args...]
#   NOX_PY_VENV=dir   venv to use (default build/py-venv)
#   NOX_PY_WHEEL=1    also build the sdist + repaired wheel (build_wheel.sh)
#   NOX_PY_INSTALL_ONLY=1  stop after installing into the venv
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${NOX_PY_VENV:-$ROOT/build/py-venv}
PYTHON=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
"$PY" -m pip install -q --disable-pip-version-check cffi pytest mypy
echo "run.sh: building and installing noxrunner from $ROOT"
"$PY" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$ROOT"

if [ "${NOX_PY_INSTALL_ONLY:-0}" = 1 ]; then
  exit 0
fi

# Type-check and test from outside the source tree, so the installed package
# is what gets imported.
echo "run.sh: mypy --strict on the installed package"
(cd "$VENV" && "$PY" -m mypy --strict --no-incremental -p noxrunner)

if [ "${NOX_PY_WHEEL:-0}" = 1 ]; then
  "$ROOT/bindings/python/build_wheel.sh"
fi

echo "run.sh: pytest"
cd "$ROOT/tests/python"
exec "$PY" -m pytest -q "$@"

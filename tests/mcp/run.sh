#!/usr/bin/env bash
# The MCP tests (`make test-mcp`, part of `make test`): the official MCP
# Python SDK, pinned, drives build/noxrunner-mcp over stdio, and raw
# JSON-RPC lines probe its error answers. Its own venv, apart from the
# binding's build/py-venv (the SDK pulls in pydantic, httpx, ...).
#
#   tests/mcp/run.sh [pytest args...]
#   NOX_BUILD=dir       build tree with noxrunner-mcp (default build)
#   NOX_MCP_VENV=dir    venv to use (default build/mcp-venv)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${NOX_BUILD:-$ROOT/build}
VENV=${NOX_MCP_VENV:-$BUILD/mcp-venv}
PYTHON=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -m pip install -q --disable-pip-version-check \
  "mcp==2.3.0" "jsonschema==4.26.0" "pytest==9.2.0"
cd "$ROOT/tests/mcp"
NOX_BUILD=$BUILD exec "$PY" -m pytest -q -p no:cacheprovider "$@"

#!/usr/bin/env bash
# Build the sdist and the repaired abi3 wheel, install the wheel alone into
# a fresh virtual environment, and use it: the wheel must carry the core
# and the libraries it links (libcurl, libcjson, libarchive), and its only
# dependency must be cffi.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mktemp -d /tmp/nox-wheel.XXXXXX)
VENV=$(mktemp -d /tmp/nox-wheel-venv.XXXXXX)
HOME_DIR=$(mktemp -d /tmp/nox-wheel-home.XXXXXX)
trap 'rm -rf "$OUT" "$VENV" "$HOME_DIR"' EXIT

NOX_WHEEL_OUT="$OUT" "$ROOT/bindings/python/build_wheel.sh" >/dev/null
wheel=$(ls "$OUT"/*.whl)
case "$wheel" in
  *-abi3-manylinux*) ;;
  *) echo "check_wheel: expected a repaired abi3 manylinux wheel, got $wheel" >&2; exit 1 ;;
esac

python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "$wheel"
deps=$("$VENV/bin/pip" list --format=freeze --disable-pip-version-check |
       grep -v -i -E '^(noxrunner|cffi|pycparser|pip|setuptools)==' || true)
[ -z "$deps" ] || { echo "check_wheel: unexpected dependencies: $deps" >&2; exit 1; }

# The extension's libraries must resolve inside the wheel, not to the
# system's -dev installs.
native=$(ls "$VENV"/lib/python3*/site-packages/noxrunner/_native*.so)
if ldd "$native" | grep -E 'libcurl|libcjson|libarchive' | grep -v -q 'site-packages'; then
  echo "check_wheel: the extension links system libraries:" >&2
  ldd "$native" | grep -E 'libcurl|libcjson|libarchive' >&2
  exit 1
fi

cd "$HOME_DIR"
NOXRUNNER_HOME="$HOME_DIR/state" "$VENV/bin/python" - <<'PY'
import noxrunner
from noxrunner import NoxRunnerClient
c = NoxRunnerClient(local_test=True)
c.create_sandbox("wheel-check", ttl_seconds=60)
r = c.exec("wheel-check", ["sh", "-c", "echo wheel-$((6*7))"])
assert r["exitCode"] == 0 and r["stdout"] == "wheel-42\n", r
assert c.delete_sandbox("wheel-check")
print("check_wheel: noxrunner", noxrunner.__version__, "from the wheel runs a sandbox")
PY
"$VENV/bin/noxrc" --help >/dev/null
# The MCP server from the wheel answers an initialize on stdio.
printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"check","version":"1"}}}' |
  NOXRUNNER_HOME="$HOME_DIR/state" "$VENV/bin/noxrunner-mcp" 2>/dev/null |
  grep -q '"protocolVersion":"2025-11-25"' ||
  { echo "check_wheel: noxrunner-mcp from the wheel did not answer initialize" >&2; exit 1; }
echo "check_wheel: $(basename "$wheel") installs alone and works"

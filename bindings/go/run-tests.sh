#!/usr/bin/env bash
# Test the Go binding against a staged install of the C core, the way a
# user builds it: go vet, go test -race (both backends, a real noxrunnerd),
# the static-link build, and the scenario runner.
#
#   NOX_PREFIX=/path/to/stage bindings/go/run-tests.sh
#
# NOX_PREFIX holds lib/pkgconfig/noxrunner.pc, lib/libnoxrunner.so,
# bin/noxrunnerd and libexec/noxrunner/nox-sandbox (`make stage` makes one
# in build/stage). NOX_SCENARIOS defaults to tests/scenarios of this
# repository. Go modules come from the module proxy only; the binding has
# no third-party dependency.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if ! command -v go >/dev/null 2>&1; then
    echo "run-tests.sh: go is not installed" >&2
    exit 1
fi
: "${NOX_PREFIX:?set NOX_PREFIX to a staged install of libnoxrunner}"
NOX_PREFIX="$(cd "$NOX_PREFIX" && pwd)"
for f in lib/pkgconfig/noxrunner.pc bin/noxrunnerd libexec/noxrunner/nox-sandbox; do
    if [ ! -e "$NOX_PREFIX/$f" ]; then
        echo "run-tests.sh: $NOX_PREFIX/$f is missing" >&2
        exit 1
    fi
done

export PKG_CONFIG_PATH="$NOX_PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$NOX_PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export NOXRUNNERD="$NOX_PREFIX/bin/noxrunnerd"
export NOXRUNNER_AGENT="$NOX_PREFIX/libexec/noxrunner/nox-sandbox"
export NOX_SCENARIOS="${NOX_SCENARIOS:-$repo/tests/scenarios}"
export CGO_ENABLED=1

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# A staged install keeps the prefix it was configured with in noxrunner.pc
# (cmake --install --prefix does not rewrite it). When that prefix is not
# NOX_PREFIX, let pkg-config derive it from where the .pc file lies.
pc_prefix="$(pkg-config --variable=prefix noxrunner)"
if [ "$pc_prefix" != "$NOX_PREFIX" ]; then
    real_pkg_config="$(command -v "${PKG_CONFIG:-pkg-config}")"
    cat >"$tmp/pkg-config" <<WRAP
#!/bin/sh
exec "$real_pkg_config" --define-prefix "\$@"
WRAP
    chmod +x "$tmp/pkg-config"
    export PKG_CONFIG="$tmp/pkg-config"
fi

cd "$here"
echo "== go vet"
go vet ./...
echo "== go vet (noxrunner_static)"
go vet -tags noxrunner_static ./...
echo "== go test -race"
go test -race -count=1 ./...
echo "== static link (noxrunner_static)"
go build -tags noxrunner_static -o "$tmp/nox-scenarios-static" ./cmd/nox-scenarios
if command -v readelf >/dev/null 2>&1 &&
   readelf -d "$tmp/nox-scenarios-static" | grep -q 'libnoxrunner\.so'; then
    echo "run-tests.sh: the noxrunner_static build still needs libnoxrunner.so" >&2
    exit 1
fi
# It runs without the shared library on the search path.
if ! LD_LIBRARY_PATH= "$tmp/nox-scenarios-static" -backend local -run '^health$' >"$tmp/static.log" 2>&1; then
    echo "run-tests.sh: the noxrunner_static build does not run:" >&2
    cat "$tmp/static.log" >&2
    exit 1
fi
echo "static build runs without libnoxrunner.so"
echo "== scenarios"
go build -o "$tmp/nox-scenarios" ./cmd/nox-scenarios
"$tmp/nox-scenarios"

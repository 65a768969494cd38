#!/usr/bin/env bash
# Play tests/scenarios/*.json through the Go binding on both backends.
# The runner itself is bindings/go/cmd/nox-scenarios (inside the binding's
# module, so it builds against the binding in this tree).
#
# Environment, as tests/scenarios/README.md says: NOXRUNNERD,
# NOXRUNNER_AGENT, NOX_SCENARIOS (default: tests/scenarios). With
# NOX_PREFIX (a staged install) the first two and the pkg-config and
# library paths are derived from it. Extra arguments go to the runner
# (-backend local|http|both, -run REGEXP, -v).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
if [ -n "${NOX_PREFIX:-}" ]; then
    export PKG_CONFIG_PATH="$NOX_PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    export LD_LIBRARY_PATH="$NOX_PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export NOXRUNNERD="${NOXRUNNERD:-$NOX_PREFIX/bin/noxrunnerd}"
    export NOXRUNNER_AGENT="${NOXRUNNER_AGENT:-$NOX_PREFIX/libexec/noxrunner/nox-sandbox}"
    if [ "$(pkg-config --variable=prefix noxrunner 2>/dev/null)" != "$NOX_PREFIX" ]; then
        tmp="$(mktemp -d)"
        trap 'rm -rf "$tmp"' EXIT
        printf '#!/bin/sh\nexec %s --define-prefix "$@"\n' "$(command -v pkg-config)" >"$tmp/pkg-config"
        chmod +x "$tmp/pkg-config"
        export PKG_CONFIG="$tmp/pkg-config"
    fi
fi
export NOX_SCENARIOS="${NOX_SCENARIOS:-$repo/tests/scenarios}"
cd "$repo/bindings/go"
exec go run ./cmd/nox-scenarios "$@"

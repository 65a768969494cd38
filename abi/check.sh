#!/usr/bin/env bash
# The ABI promise, checked: the exported symbols are exactly abi/symbols.txt
# and libabigail finds no incompatible change against abi/libnoxrunner.abi.
# `abi/check.sh --update BUILD` rewrites both after a deliberate change.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
update=0
if [ "${1:-}" = "--update" ]; then update=1; shift; fi
build=${1:-build}
lib="$build/libnoxrunner.so.1"
[ -e "$lib" ] || { echo "abi: $lib not found; build first" >&2; exit 2; }

current=$(mktemp)
trap 'rm -f "$current" "$current.abi"' EXIT
nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sed 's/@.*//' | sort -u > "$current"

bad=$(grep -v '^nox_' "$current" || true)
if [ -n "$bad" ]; then
  echo "abi: symbols outside the nox_ prefix are exported:" >&2; echo "$bad" >&2; exit 1
fi

abidw --headers-dir "$here/../core/include/noxrunner" --drop-private-types --no-corpus-path \
      --out-file "$current.abi" "$lib"

if [ $update -eq 1 ]; then
  cp "$current" "$here/symbols.txt"
  cp "$current.abi" "$here/libnoxrunner.abi"
  echo "abi: updated symbols.txt ($(wc -l < "$here/symbols.txt") symbols) and libnoxrunner.abi"
  exit 0
fi

if ! diff -u "$here/symbols.txt" "$current"; then
  echo "abi: the exported symbols changed; if on purpose, run 'make abi-update' and commit abi/" >&2
  exit 1
fi

set +e
abidiff --no-added-syms --headers-dir2 "$here/../core/include/noxrunner" \
        "$here/libnoxrunner.abi" "$current.abi"
rc=$?
set -e
# abidiff's exit status is a bit field: 1 error, 2 usage, 4 ABI change
# (e.g. a public struct's layout), 8 incompatible change (e.g. a removed
# symbol). Added functions are not counted (--no-added-syms), so anything
# left is a change an existing caller would feel.
if [ $rc -ne 0 ]; then
  echo "abi: incompatible change against abi/libnoxrunner.abi (abidiff status $rc)" >&2
  exit 1
fi
echo "abi: $(wc -l < "$current") exported symbols match abi/symbols.txt; no incompatible change"

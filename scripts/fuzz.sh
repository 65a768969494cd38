#!/usr/bin/env bash
# Build the libFuzzer targets (clang, ASan + UBSan) and run each one.
#
#   scripts/fuzz.sh [--seconds N] [--replay] [TARGET...]
#
# --replay   only run every input of the seed corpus (fuzz/corpus/NAME) once
# --seconds  fuzz each target this long (default 60) after the replay
# TARGET     e.g. archive_extract (default: every fuzz/fuzz_*.c)
#
# New inputs go to $FUZZ_BUILD/corpus/NAME (not committed); a crash leaves
# its input in $FUZZ_BUILD/artifacts/ and makes this script fail: once
# fixed, the input goes to fuzz/regressions/NAME, replayed on every run. It prints one line a
# target: executions, speed, corpus size, and the verdict.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60 replay=0 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --replay) replay=1; shift ;;
    -h|--help) sed -n 2,14p "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
B=${FUZZ_BUILD:-build-fuzz}
# clang finds libFuzzer's runtime, or names it back unchanged (no path).
command -v clang >/dev/null && [ -f "$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a)" ] ||
  scripts/install-deps.sh clang libclang-rt-14-dev
CC=clang cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DNOX_FUZZ=ON \
  -DNOX_SANITIZE=address,undefined -DNOX_BUILD_TESTS=OFF >/dev/null
cmake --build "$B" --target fuzz-targets -j "$(nproc)" >/dev/null
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.c; do n=${f##*/fuzz_}; targets+=("${n%.c}"); done
fi
mkdir -p "$B/artifacts"
tmp=$(mktemp -d "$PWD/$B/tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export TMPDIR=$tmp ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=0
for t in "${targets[@]}"; do
  bin=$B/fuzz_$t seeds=fuzz/corpus/$t work=$B/corpus/$t log=$B/fuzz_$t.log
  # Crashes found once stay as regression inputs, replayed every time.
  regress=fuzz/regressions/$t
  mkdir -p "$work" "$seeds"
  dirs=("$seeds")
  [ -d "$regress" ] && dirs+=("$regress")
  if [ $replay = 1 ]; then args=(-runs=0 "${dirs[@]}")
  else args=(-max_total_time="$seconds" "$work" "${dirs[@]}"); fi
  if "$bin" -artifact_prefix="$B/artifacts/$t-" -print_final_stats=1 -timeout=20 \
       -rss_limit_mb=2048 "${args[@]}" >"$log" 2>&1; then verdict=ok
  else verdict="FAILED (see $log and $B/artifacts/)"; failed=1; fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  printf 'fuzz %-18s %10s execs %7s/s  corpus %5s  %s\n' "$t" "${execs:-?}" "${speed:-?}" \
    "$(ls "$work" | wc -l)" "$verdict"
  [ "$verdict" = ok ] || tail -30 "$log"
done
exit $failed

#!/usr/bin/env bash
# scripts/fuzz-smoke.sh BUILD_DIR - run every libFuzzer target briefly on a
# copy of its kept corpus (new inputs are not written back to the tree).
set -euo pipefail
dir="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${TIDE_FUZZ_SECONDS:-20}"
shopt -s nullglob
targets=("$dir"/fuzz/fuzz_*)
if [ "${#targets[@]}" -eq 0 ]; then
  echo "fuzz-smoke: no fuzz targets built in $dir" >&2
  exit 1
fi
for t in "${targets[@]}"; do
  name="$(basename "$t")"; short="${name#fuzz_}"
  work="$(mktemp -d)"
  cp -r "$here/tests/fuzz/corpus/$short/." "$work/" 2>/dev/null || true
  echo "fuzz-smoke: $name for ${secs}s" >&2
  if ! "$t" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=0 "$work" \
       >"$work.log" 2>&1; then
    tail -40 "$work.log" >&2
    rm -rf "$work" "$work.log"
    exit 1
  fi
  rm -rf "$work" "$work.log"
done

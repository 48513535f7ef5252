#!/usr/bin/env bash
# conformance.sh - runs one part of the conformance suite (ctest calls it,
# see tests/cmake/conformance.cmake and docs/conformance.md).
#
#   conformance.sh PART CONFORM_BIN MKMSGS_BIN WORK_DIR
#
# PART is gossb, generated, reverse or cli.  Needs node and the npm
# packages in $TIDE_JS_DIR/node_modules (installed by scripts/setup.sh):
# when they are missing the test FAILS, it is never skipped.
set -euo pipefail

part="$1" conform="$2" mkmsgs="$3" work="$4"
src="${TIDE_SOURCE_DIR:?run through ctest (TIDE_SOURCE_DIR unset)}"
js="${TIDE_JS_DIR:-$src/tests/js}"

need_js() {
  if ! command -v node >/dev/null 2>&1; then
    echo "conformance: node is not installed (run scripts/setup.sh)" >&2
    exit 1
  fi
  for p in ssb-keys ssb-validate ssb-validation-dataset; do
    if [ ! -f "$js/node_modules/$p/package.json" ]; then
      echo "conformance: $js/node_modules/$p is missing (run scripts/setup.sh)" >&2
      exit 1
    fi
  done
}

rm -rf "$work"
mkdir -p "$work"

case "$part" in
  gossb)
    # go-ssb's real feed (MIT, see tests/data/README.md): every message
    # valid in sequence with the recorded id; and TestVerifyBugs.
    "$conform" feed "$src/tests/data/go-ssb-legacy.jsonl" 235 1
    "$conform" cases "$src/tests/data/go-ssb-verify-bugs.jsonl"
    ;;
  generated)
    need_js
    node "$js/gen-conformance.js" "$work/gen"
    "$conform" feed "$work/gen/valid.jsonl" 2000 20
    "$conform" cases "$work/gen/valid-cases.jsonl"
    "$conform" cases "$work/gen/invalid.jsonl"
    "$conform" wire "$work/gen/wire.txt" "$work/gen/wire-expect.jsonl"
    ;;
  reverse)
    need_js
    "$mkmsgs" "$work/tide-messages.jsonl" 100
    node "$js/check-tide-messages.js" "$work/tide-messages.jsonl" 500 6
    ;;
  cli)
    need_js
    tide="${TIDE_BIN:?TIDE_BIN unset}"
    if [ ! -x "$tide" ]; then
      echo "conformance: $tide is not built" >&2
      exit 1
    fi
    node "$js/gen-conformance.js" "$work/gen"
    node "$js/cli-conformance.js" "$tide" "$work/gen" "$work/homes"
    ;;
  *)
    echo "usage: conformance.sh gossb|generated|reverse|cli CONFORM MKMSGS WORK_DIR" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# conformance.sh - runs one part of the conformance suite (ctest calls it,
# see tests/cmake/conformance.cmake and docs/conformance.md).
#
#   conformance.sh PART CONFORM_BIN MKMSGS_BIN WORK_DIR
#
# PART is gossb, generated, reverse, cli or bundle.  Needs node and the npm
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
  bundle)
    # The whole generated set and go-ssb's feed travel through a bundle
    # (binary frames: messages sent without author, sequence, previous...,
    # rebuilt byte for byte before their signatures are checked): the
    # receiving home must end up with byte-identical logs and equal ids.
    need_js
    tide="${TIDE_BIN:?TIDE_BIN unset}"
    node "$js/gen-conformance.js" "$work/gen"
    for h in A B; do "$tide" --home "$work/$h" init >/dev/null; done
    "$tide" --home "$work/A" import "$work/gen/valid.jsonl" >"$work/a-import.txt"
    "$tide" --home "$work/A" import "$src/tests/data/go-ssb-legacy.jsonl" >>"$work/a-import.txt"
    "$tide" --home "$work/A" bundle export -o "$work/all.tideb" >/dev/null
    "$tide" --home "$work/B" bundle import "$work/all.tideb" >"$work/b-import.txt"
    "$tide" --home "$work/A" export >"$work/a.jsonl"
    "$tide" --home "$work/B" export >"$work/b.jsonl"
    want=$(($(grep -c . "$work/gen/valid.jsonl") + 235))
    got=$(grep -c . "$work/b.jsonl")
    if [ "$got" -ne "$want" ] || ! cmp -s "$work/a.jsonl" "$work/b.jsonl"; then
      echo "bundle: B holds $got messages (want $want) or differs from A" >&2
      cat "$work/b-import.txt" >&2
      exit 1
    fi
    echo "bundle: $got messages rebuilt from binary frames, logs byte-identical"
    ;;
  *)
    echo "usage: conformance.sh gossb|generated|reverse|cli|bundle CONFORM MKMSGS WORK_DIR" >&2
    exit 2
    ;;
esac

#!/bin/sh
# clang_format.sh - fails when a tracked C source or header differs from
# what clang-format (the committed .clang-format) would write.  Generated
# files that say "Do not edit." in their first lines are exempt.
set -eu
cd "${TIDE_SOURCE_DIR:?}"
if ! command -v clang-format >/dev/null 2>&1; then
  echo "clang-format not installed (scripts/setup.sh installs it)" >&2
  exit 1
fi
bad=0
checked=0
for f in $(git ls-files '*.c' '*.h' 2>/dev/null || find core bundle transports cli tests -name '*.[ch]'); do
  if head -n 5 "$f" | grep -q 'Do not edit\.'; then
    continue
  fi
  checked=$((checked + 1))
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "not clang-formatted: $f" >&2
    bad=$((bad + 1))
  fi
done
echo "clang-format: $checked files checked, $bad not formatted"
[ "$checked" -gt 0 ] && [ "$bad" -eq 0 ]

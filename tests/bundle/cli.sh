#!/usr/bin/env bash
# cli.sh - `tide bundle export|import|inspect` and `tide usb sync` end to
# end: two homes converge through bundle files, a damaged copy gives a
# clear error and its valid prefix, a sealed bundle is unreadable by a
# third home, and a travelling stick folder carries news between three.
set -u
T=${TIDE_BIN:?TIDE_BIN not set}
W=$(mktemp -d "${TMPDIR:-/tmp}/tide-bundle-cli-XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1
fails=0
ok() { echo "ok - $1"; }
bad() { echo "FAIL - $1"; fails=$((fails + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

for h in a b c; do "$T" --home $h init >/dev/null || exit 1; done
A=$("$T" --home a whoami); B=$("$T" --home b whoami); C=$("$T" --home c whoami)
for i in $(seq 1 30); do "$T" --home a publish --json "{\"type\":\"post\",\"text\":\"a says $i\"}" >/dev/null || exit 1; done
for i in $(seq 1 12); do "$T" --home b publish --json "{\"type\":\"post\",\"text\":\"b says $i\"}" >/dev/null || exit 1; done

"$T" --home a bundle export --for "$B" -o ab.tideb >out 2>err
check "export for B" "grep -q 'wrote ab.tideb: 30 messages' out"
"$T" --home b bundle import ab.tideb >out 2>err
check "import: 30 new" "grep -q 'new: 30, already had: 0, rejected: 0' out"
"$T" --home b bundle import ab.tideb >out 2>err
check "re-import is idempotent" "grep -q 'new: 0, already had: 30, rejected: 0' out"
"$T" --home b bundle export --for "$A" -o ba.tideb >out 2>err
check "reply carries only what A lacks" "grep -q 'wrote ba.tideb: 12 messages' out"
"$T" --home a bundle import ba.tideb >out 2>err
check "A gets B's 12" "grep -q 'new: 12' out"

"$T" --home a bundle inspect ab.tideb >out 2>err
check "inspect shows sender and signature" "grep -q \"sender:     $A\" out && grep -q 'signature:  valid' out && grep -q 'messages:   30 in 1 feeds' out"
"$T" --home a bundle inspect --json ab.tideb >out 2>err
check "inspect --json" "grep -q '\"messages\":30' out && grep -q '\"signature\":\"valid\"' out"

# damaged copy: flip a byte near the end (in the last chunk)
cp ab.tideb bad.tideb
size=$(stat -c %s bad.tideb)
printf '\x00' | dd of=bad.tideb bs=1 seek=$((size - 70)) conv=notrunc 2>/dev/null
"$T" --home c bundle import bad.tideb >out 2>err; rc=$?
check "damaged bundle: exit 1 and a clear error" "[ $rc = 1 ] && grep -q 'does not verify' err"
"$T" --home c bundle inspect bad.tideb >out 2>err; rc=$?
check "inspect reports damage" "[ $rc = 1 ] && grep -q 'INVALID' out"
head -c 300 ab.tideb > cut.tideb
"$T" --home c bundle import cut.tideb >out 2>err; rc=$?
check "truncated bundle: clear error" "[ $rc = 1 ] && grep -q 'truncated' err"

# sealed to B: C cannot read it
"$T" --home a bundle export --for "$B" --seal -o sealed.tideb >out 2>err
"$T" --home c bundle import sealed.tideb >out 2>err; rc=$?
check "sealed bundle unreadable by C" "[ $rc = 1 ] && grep -q \"sealed to $B\" err"
"$T" --home c bundle inspect sealed.tideb >out 2>err
check "C can still verify the signature" "grep -q 'signature:  valid' out && grep -q 'cannot open' out"
"$T" --home b bundle inspect sealed.tideb >out 2>err
check "B opens it" "grep -q 'sealed to us, opened' out"

# budget
"$T" --home a bundle export --max-bytes 1500 -o small.tideb >out 2>err
check "budget respected" "[ \$(stat -c %s small.tideb) -le 1500 ] && grep -q 'left out' out"

# usb: A -> C -> B -> A with a stick folder
mkdir stick
for h in a c b a c; do "$T" --home $h usb sync stick >out 2>err || { cat err; bad "usb sync $h"; }; done
"$T" --home c feeds >out 2>err
check "C got A's and B's news through the stick" "grep -q \"$A\" out && grep -q \"$B\" out"
"$T" --home c usb sync ../nonexistent >out 2>err; rc=$?
check "missing stick folder: clear error" "[ $rc = 1 ] && grep -q 'nonexistent' err"

"$T" bundle frobnicate >out 2>err; rc=$?
check "unknown subcommand is a usage error" "[ $rc = 2 ]"

if [ $fails -ne 0 ]; then echo "$fails check(s) failed"; exit 1; fi
echo "all bundle CLI checks passed"

#!/usr/bin/env bash
# import.sh - tide import: mixed valid / invalid / duplicate / gap lines
# with exact counts, reasons and exit codes; forks; stdin; bad arguments.
. "$(dirname "$0")/lib.sh"

A="$T/a"
run 0 tide "$A" init
F_id="$(ssbjs secret "$T/f/secret")"
G_id="$(ssbjs secret "$T/g/secret")"
ssbjs feed "$T/f/secret" 5 "f" >"$T/f.jsonl"  # F: messages 1..5
ssbjs feed "$T/g/secret" 3 "g" >"$T/g.jsonl"  # G: messages 1..3
f() { sed -n "${1}p" "$T/f.jsonl"; }
g() { sed -n "${1}p" "$T/g.jsonl"; }
gid() { ssbjs ids "$T/g.jsonl" | sed -n "${1}p"; }

# The mixed file, line by line (expected verdict at the right):
{
  f 1                                   # 1  accepted
  f 2                                   # 2  accepted
  f 2                                   # 3  already had (same id again)
  f 3 | ssbjs tamper                    # 4  rejected: invalid signature
  echo '{"previous": null, "author": '  # 5  rejected: not JSON
  f 5                                   # 6  held; F 4 never comes: gap
  echo '   '                            # 7  blank: ignored
  g 2                                   # 8  held until line 9, then accepted
  g 1                                   # 9  accepted
  f 3                                   # 10 accepted
  echo "{\"key\":\"$(gid 1)\",\"value\":$(g 3)}"   # 11 rejected: key mismatch
  echo "{\"key\":\"$(gid 3)\",\"value\":$(g 3)}"   # 12 accepted (wrapper)
  echo '[1,2]'                          # 13 rejected: not a message object
  echo '{"key":"%x","value":"text"}'    # 14 rejected: value not a message
} >"$T/mixed.jsonl"

# What the JS reference says about line 4, given lines 1-2 before it.
{ f 1; f 2; f 3 | ssbjs tamper; } >"$T/ref.jsonl"
ref_reason="$(ssbjs validate "$T/ref.jsonl" | sed -n 's/^line 3: //p' || true)"
expect_eq "$ref_reason" "invalid signature" "ssb-validate's reason for a tampered message"

run 1 tide "$A" import "$T/mixed.jsonl"
expect_in "$T/out" "accepted: 6"
expect_in "$T/out" "already had: 1"
expect_in "$T/out" "rejected: 6"
expect_eq "$(grep -c '^line ' "$T/out")" 6 "number of 'line N:' reports"
expect_in "$T/out" "line 4: $ref_reason"
grep -q '^line 5: .\+' "$T/out" || fail "no reason for the bad JSON line 5"
grep -q '^line 6: gap' "$T/out" || fail "line 6 not rejected with a gap reason: $(grep '^line 6' "$T/out")"
expect_in "$T/out" "line 11: key $(gid 1) does not match the message's id $(gid 3)"
grep -q '^line 13: ' "$T/out" || fail "line 13 ([1,2]) not rejected"
grep -q '^line 14: ' "$T/out" || fail "line 14 (value not an object) not rejected"
for n in 1 2 3 7 8 9 10 12; do
  grep -q "^line $n: " "$T/out" && fail "line $n reported as rejected"
done
# Reports come in line order.
grep '^line ' "$T/out" | sed 's/^line \([0-9]*\):.*/\1/' >"$T/order"
sort -n "$T/order" | cmp -s - "$T/order" || fail "rejections not in line order"

# The store holds exactly the valid messages.
run 0 tide "$A" feeds
expect_in "$T/out" "$F_id  3  ok"
expect_in "$T/out" "$G_id  3  ok"
run 0 tide "$A" export "$F_id"
cp "$T/out" "$T/fx.jsonl"
expect_eq "$(ssbjs ids "$T/fx.jsonl" | tr '\n' ' ')" "$(head -3 "$T/f.jsonl" >"$T/f3.jsonl"; ssbjs ids "$T/f3.jsonl" | tr '\n' ' ')" "F's stored ids"

# Filling the gap later: F 4 and 5 now import cleanly, exit 0.
{ f 4; f 5; } >"$T/rest.jsonl"
run 0 tide "$A" import "$T/rest.jsonl"
expect_in "$T/out" "accepted: 2"
expect_in "$T/out" "already had: 0"
expect_in "$T/out" "rejected: 0"

# Importing everything again: all already had, exit 0.  From stdin too.
cat "$T/f.jsonl" "$T/g.jsonl" >"$T/all.jsonl"
run 0 tide "$A" import - <"$T/all.jsonl"
expect_in "$T/out" "accepted: 0"
expect_in "$T/out" "already had: 8"
expect_in "$T/out" "rejected: 0"

# Out of order across and within feeds (reverse order): all accepted.
B="$T/b"
run 0 tide "$B" init
tac "$T/all.jsonl" >"$T/rev.jsonl"
run 0 tide "$B" import "$T/rev.jsonl"
expect_in "$T/out" "accepted: 8"
expect_in "$T/out" "rejected: 0"
# One thread gives the same verdicts.
C="$T/c"
run 0 tide "$C" init
run 1 tide "$C" import --threads 1 "$T/mixed.jsonl"
expect_in "$T/out" "accepted: 6"
expect_in "$T/out" "already had: 1"
expect_in "$T/out" "rejected: 6"

# A fork: a second, validly signed message 1 of F.  Not appended; the feed
# is marked forked and refuses further messages.
ssbjs feed "$T/f/secret" 1 "fork" >"$T/fork.jsonl"
run 1 tide "$A" import "$T/fork.jsonl"
expect_in "$T/out" "accepted: 0"
expect_in "$T/out" "rejected: 1"
grep -q '^line 1: fork' "$T/out" || fail "fork not reported: $(cat "$T/out")"
run 0 tide "$A" feeds
expect_in "$T/out" "$F_id  5  forked"
run 0 tide "$A" status
expect_in "$T/out" "forks:    1 (in 1 feed)"

# ssb-db's {key,value,timestamp} form is accepted; a non-string key is not.
D="$T/d"
run 0 tide "$D" init
{
  echo "{\"key\":\"$(gid 1)\",\"value\":$(g 1),\"timestamp\":1700000009999}"
  echo "{\"key\":42,\"value\":$(g 2)}"
  echo "{\"value\":$(g 2)}"
} >"$T/kvt.jsonl"
run 1 tide "$D" import "$T/kvt.jsonl"
expect_in "$T/out" "accepted: 2"
expect_in "$T/out" "rejected: 1"
expect_in "$T/out" 'line 2: "key" is not a string'
[ -s "$T/err" ] && fail "import wrote to stderr when it is not a terminal: $(cat "$T/err")"

# Progress: shown on a terminal (script(1) gives one), not with -q, never
# on stdout.
ssbjs feed "$T/g/secret" 1500 "many" >"$T/many.jsonl"
E="$T/e"
run 0 tide "$E" init
run 0 script -qec "'$TIDE_BIN' --home '$E' import '$T/many.jsonl' >'$T/many.out'" "$T/typescript"
grep -q 'import: [0-9]' "$T/typescript" || fail "no progress display on a terminal"
expect_not_in "$T/many.out" "import:"
expect_in "$T/many.out" "accepted: 1500"
run 0 tide "$T/e2" init
run 0 script -qec "'$TIDE_BIN' -q --home '$T/e2' import '$T/many.jsonl' >'$T/many2.out'" "$T/typescript2"
expect_not_in "$T/typescript2" "import:"
expect_in "$T/many2.out" "accepted: 1500"

# A line far beyond any message's size is rejected without parsing.
{ g 1; head -c 1100000 /dev/zero | tr '\0' 'x'; echo; } >"$T/long.jsonl"
run 0 tide "$T/e3" init
run 1 tide "$T/e3" import "$T/long.jsonl"
expect_in "$T/out" "line 2: line too long (1100000 bytes)"
expect_in "$T/out" "accepted: 1"

# Only blank lines / empty input: nothing to do, exit 0.
printf '\n\n  \n' >"$T/blank.jsonl"
run 0 tide "$A" import "$T/blank.jsonl"
expect_in "$T/out" "accepted: 0"
run 0 tide "$A" import - </dev/null
expect_in "$T/out" "rejected: 0"

# Argument errors.
run 2 tide "$A" import
expect_error_shape import
run 2 tide "$A" import a.jsonl b.jsonl
run 2 tide "$A" import --threads x "$T/all.jsonl"
run 2 tide "$A" import --bogus "$T/all.jsonl"
run 1 tide "$A" import "$T/no-such-file.jsonl"
expect_error_shape import
expect_in "$T/err" "no-such-file.jsonl"
# No home: an error, and nothing is created.
run 1 tide "$T/nohome" import "$T/all.jsonl"
expect_in "$T/err" "tide init"
[ ! -e "$T/nohome" ] || fail "import created a home"

finish

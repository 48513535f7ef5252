#!/usr/bin/env bash
# roundtrip.sh - export from one home, import into another: identical ids
# and identical export text; unusual content survives byte for byte.
. "$(dirname "$0")/lib.sh"

A="$T/a"; B="$T/b"
run 0 tide "$A" init; a_id="$(cat "$T/out")"
run 0 tide "$B" init; b_id="$(cat "$T/out")"

# Content that stresses canonical JSON: unicode, escapes, numbers, nested
# objects with index-like keys (V8 orders those first), an empty array.
run 0 tide "$A" publish --json '{"type":"post","text":"hi \"there\" \\ / \u00e9\u2028 \ud83c\udf0a\n\t"}'
run 0 tide "$A" publish --json '{"type":"test","n":[1.5,-0,1e21,1e-7,123456789012345680000,0.1],"o":{"b":1,"10":2,"2":3},"e":[],"z":{}}'
run 0 tide "$A" publish --json '{"type":"post","text":"third","mentions":[{"link":"@x"}]}'
run 0 tide "$A" follow "$b_id"
run 0 tide "$B" publish --json '{"type":"post","text":"from b"}'
run 0 tide "$B" follow "$a_id"

run 0 tide "$A" export
cp "$T/out" "$T/a.jsonl"
expect_eq "$(wc -l <"$T/a.jsonl")" 4 "lines exported from A"
run 0 tide "$B" export "$b_id"
cp "$T/out" "$T/b.jsonl"

# Export's keys are the ids the JS reference computes from the values.
expect_eq "$(ssbjs ids "$T/a.jsonl" | tr '\n' ' ')" "$(node -e '
  const l = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n");
  console.log(l.map(x => JSON.parse(x).key).join(" ") + " ")' "$T/a.jsonl")" "keys vs ssb-validate ids"
run 0 ssbjs validate "$T/a.jsonl"
expect_in "$T/out" "valid: 4"

# A -> B and B -> A.
run 0 tide "$B" import "$T/a.jsonl"
expect_in "$T/out" "accepted: 4"
run 0 tide "$A" import "$T/b.jsonl"
expect_in "$T/out" "accepted: 2"

# B's copy of A's feed exports to exactly the same text as A's original,
# and both homes now export the same everything.
run 0 tide "$B" export "$a_id"
cmp -s "$T/out" "$T/a.jsonl" || fail "A's feed exported from B differs from A's export"
run 0 tide "$A" export; cp "$T/out" "$T/a-all.jsonl"
run 0 tide "$B" export; cp "$T/out" "$T/b-all.jsonl"
cmp -s "$T/a-all.jsonl" "$T/b-all.jsonl" || fail "full exports of A and B differ"
expect_eq "$(wc -l <"$T/a-all.jsonl")" 6 "messages in the full export"
run 0 tide "$B" feed "$a_id" --json
cmp -s "$T/out" "$T/a.jsonl" || fail "feed --json differs from export"

# Importing the export again changes nothing.
run 0 tide "$B" import "$T/a-all.jsonl"
expect_in "$T/out" "accepted: 0"
expect_in "$T/out" "already had: 6"
run 0 tide "$B" feeds
expect_in "$T/out" "$a_id  4  ok"
expect_in "$T/out" "$b_id  2  ok"

# A home on write-protected media (a copy made read-only; as root the
# commands run as uid 65534, since root ignores file modes): the read
# commands still work and give the same answers; publish says why not.
R="$T/ro-home"
cp -r "$B" "$R"
chmod 0755 "$T"
chmod -R a+rX,a-w "$R"
cp "$TIDE_BIN" "$T/tide-reader" # reachable whatever the build folder's modes
chmod 0755 "$T/tide-reader"
as_reader() {
  if [ "$(id -u)" = 0 ]; then
    setpriv --reuid=65534 --regid=65534 --clear-groups -- "$T/tide-reader" --home "$R" "$@"
  else
    "$TIDE_BIN" --home "$R" "$@"
  fi
}
run 0 as_reader export
cmp -s "$T/out" "$T/b-all.jsonl" || fail "export of the read-only home differs"
run 0 as_reader feeds
expect_in "$T/out" "$a_id  4  ok"
run 0 as_reader status
expect_in "$T/out" "messages: 6"
run 1 as_reader import "$T/a-all.jsonl"
expect_in "$T/err" "cannot be written"
[ -e "$R/store.sqlite-shm" ] && fail "a read-only home got a -shm file"
chmod -R u+w "$R"

# Export of a feed we do not have.
other="$(node -e 'console.log(require("ssb-keys").generate().id)')"
run 1 tide "$B" export "$other"
expect_error_shape export

finish

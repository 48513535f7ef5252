#!/usr/bin/env bash
# publish.sh - tide publish / follow / unfollow / block / unblock / feed /
# feeds: happy paths, output formats, and bad input.
. "$(dirname "$0")/lib.sh"

A="$T/a"
run 0 tide "$A" init
me="$(cat "$T/out")"
other="$(node -e 'console.log(require("ssb-keys").generate().id)')"

is_msg_id() { [[ "$1" =~ ^%[A-Za-z0-9+/]{43}=\.sha256$ ]] || fail "'$1' is not a message id"; }

# The three ways to give content.
run 0 tide "$A" publish --json '{"type":"post","text":"one"}'
id1="$(cat "$T/out")"; is_msg_id "$id1"
printf '{"type":"post","text":"two"}' >"$T/c.json"
run 0 tide "$A" publish --file "$T/c.json"
id2="$(cat "$T/out")"; is_msg_id "$id2"
run 0 bash -c 'printf "%s" "{\"type\":\"post\",\"text\":\"three \\u00e9\"}" | "$0" --home "$1" publish' "$TIDE_BIN" "$A"
id3="$(cat "$T/out")"; is_msg_id "$id3"
run 0 tide "$A" publish -f - <"$T/c.json"
id4="$(cat "$T/out")"; is_msg_id "$id4"

# Contact messages.
run 0 tide "$A" follow "$other";   idf="$(cat "$T/out")"; is_msg_id "$idf"
run 0 tide "$A" unfollow "$other"
run 0 tide "$A" block "$other"
run 0 tide "$A" unblock "$other"

# The feed as JSON lines: ids match, sequence order, content as given, and
# the JS reference (ssb-validate) accepts every message.
run 0 tide "$A" feed "$me" --json
cp "$T/out" "$T/a.jsonl"
expect_eq "$(wc -l <"$T/a.jsonl")" 8 "messages in own feed"
run 0 ssbjs validate "$T/a.jsonl"
expect_in "$T/out" "valid: 8"
expect_eq "$(ssbjs ids "$T/a.jsonl" | sed -n 1p)" "$id1" "id of message 1"
expect_eq "$(ssbjs ids "$T/a.jsonl" | sed -n 3p)" "$id3" "id of message 3"
expect_eq "$(ssbjs ids "$T/a.jsonl" | sed -n 5p)" "$idf" "id of the follow message"
expect_eq "$(ssbjs get "$T/a.jsonl" 1 'm.sequence + " " + m.author + " " + m.content.text')" "1 $me one" "message 1"
expect_eq "$(ssbjs get "$T/a.jsonl" 3 'm.content.text')" "three é" "message 3 text"
expect_eq "$(ssbjs get "$T/a.jsonl" 5 'JSON.stringify(m.content)')" "{\"type\":\"contact\",\"contact\":\"$other\",\"following\":true}" "follow content"
expect_eq "$(ssbjs get "$T/a.jsonl" 6 'JSON.stringify(m.content)')" "{\"type\":\"contact\",\"contact\":\"$other\",\"following\":false}" "unfollow content"
expect_eq "$(ssbjs get "$T/a.jsonl" 7 'JSON.stringify(m.content)')" "{\"type\":\"contact\",\"contact\":\"$other\",\"blocking\":true}" "block content"
expect_eq "$(ssbjs get "$T/a.jsonl" 8 'JSON.stringify(m.content)')" "{\"type\":\"contact\",\"contact\":\"$other\",\"blocking\":false}" "unblock content"
# Timestamps: recent (within a day of now) and strictly increasing.
now_ms="$(date +%s%3N)"
for n in 1 2 3 4 5 6 7 8; do
  ts="$(ssbjs get "$T/a.jsonl" "$n" 'm.timestamp')"
  [ $((now_ms - ts)) -lt 86400000 ] && [ $((ts - now_ms)) -lt 86400000 ] || fail "timestamp $ts of message $n is not now ($now_ms)"
  if [ "$n" -gt 1 ] && [ "$ts" -le "$prev_ts" ]; then fail "timestamps not increasing at $n"; fi
  prev_ts="$ts"
done

# Human-readable feed: seq, ISO time, id, type, short content.
run 0 tide "$A" feed "$me"
expect_eq "$(wc -l <"$T/out")" 8 "lines of tide feed"
read -r seq when mid typ txt <"$T/out"
expect_eq "$seq $mid $typ $txt" "1 $id1 post one" "tide feed line 1"
[[ "$when" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$ ]] || fail "tide feed time '$when'"
expect_eq "$(date -u -d "@$(( $(ssbjs get "$T/a.jsonl" 1 'm.timestamp') / 1000 ))" +%Y-%m-%dT%H:%M:%S)" "${when%.*}" "tide feed time of message 1"
expect_in "$T/out" "contact  $other following"
expect_in "$T/out" "contact  $other blocked"

# feeds lists the feed with its latest sequence.
run 0 tide "$A" feeds
expect_eq "$(cat "$T/out")" "$me  8  ok" "tide feeds"
run 0 tide "$A" feeds --json
expect_eq "$(cat "$T/out")" "{\"id\":\"$me\",\"sequence\":8,\"forked\":false}" "tide feeds --json"

# Bad input: nothing is published, exit 1 (runtime) or 2 (usage).
run 1 tide "$A" publish --json '{"type":"post","text":'
expect_error_shape publish
expect_in "$T/err" "not JSON"
run 1 tide "$A" publish --json '{"type":"x","text":"type too short"}'
expect_error_shape publish
run 1 tide "$A" publish --json '"not an object"'
run 1 tide "$A" publish --json '[1,2]'
run 1 tide "$A" publish --file "$T/missing.json"
expect_in "$T/err" "missing.json"
run 2 tide "$A" publish --json '{}' --file "$T/c.json"
run 2 tide "$A" publish --json
run 2 tide "$A" publish extra-argument
run 2 tide "$A" follow
expect_error_shape follow
run 2 tide "$A" follow "@not-a-feed-id.ed25519"
expect_error_shape follow
expect_in "$T/err" "not a feed id"
run 2 tide "$A" block "${other%.ed25519}.sha256"
run 2 tide "$A" unfollow "$other" "$other"
run 2 tide "$A" feed
run 2 tide "$A" feed "%notafeed"
run 1 tide "$A" feed "$other"
expect_in "$T/err" "no messages"
run 2 tide "$A" export "not-an-id"
run 0 tide "$A" feeds
expect_eq "$(cat "$T/out")" "$me  8  ok" "feed unchanged after bad input"

# Concurrent publishers on one home: every message gets its own sequence,
# the chain stays valid (publish is one store transaction).
P="$T/p"
run 0 tide "$P" init
pids=()
for n in 1 2 3 4 5 6 7 8; do
  "$TIDE_BIN" --home "$P" publish --json "{\"type\":\"post\",\"text\":\"racer $n\"}" >"$T/race.$n" 2>&1 &
  pids+=("$!")
done
for pid in "${pids[@]}"; do
  wait "$pid" || fail "a concurrent publish failed: $(cat "$T"/race.*)"
done
run 0 tide "$P" export
cp "$T/out" "$T/race.jsonl"
run 0 ssbjs validate "$T/race.jsonl"
expect_in "$T/out" "valid: 8"

finish

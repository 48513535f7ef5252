#!/usr/bin/env bash
# identity.sh - tide init / whoami / status: creating, importing and
# protecting the identity, and the errors when there is none.
. "$(dirname "$0")/lib.sh"

A="$T/a"

# No identity yet: commands that need one fail with a clear error.
run 1 tide "$A" whoami
expect_error_shape whoami
expect_in "$T/err" "run 'tide init'"
run 1 tide "$A" publish --json '{"type":"post","text":"x"}'
expect_in "$T/err" "run 'tide init'"
run 1 tide "$A" status
expect_error_shape status
run 1 tide "$A" feeds
expect_error_shape feeds
[ ! -e "$A" ] || fail "a failing command created the home $A"

# init makes the home (0700), the secret (0600) and the store.
run 0 tide "$A" init
id="$(cat "$T/out")"
[[ "$id" =~ ^@[A-Za-z0-9+/]{43}=\.ed25519$ ]] || fail "init printed '$id', not a feed id"
expect_eq "$(stat -c %a "$A")" 700 "home mode"
expect_eq "$(stat -c %a "$A/secret")" 600 "secret mode"
[ -f "$A/store.sqlite" ] || fail "init did not create the store"
ls "$A" | grep -q 'tmp' && fail "a temporary file was left in $A"
run 0 tide "$A" whoami
expect_eq "$(cat "$T/out")" "$id" "whoami"
# The secret file is ssb-keys' layout: ssb-keys loads it to the same id.
expect_eq "$(node -e 'console.log(require("ssb-keys").loadSync(process.argv[1]).id)' "$A/secret")" "$id" "ssb-keys reading tide's secret"

# --home after the command name, TIDE_HOME, and a trailing slash all work.
run 0 "$TIDE_BIN" whoami --home "$A"
expect_eq "$(cat "$T/out")" "$id" "whoami --home after the command"
run 0 env TIDE_HOME="$A/" "$TIDE_BIN" whoami
expect_eq "$(cat "$T/out")" "$id" "whoami with TIDE_HOME"
run 0 env -u TIDE_HOME HOME="$T/h" "$TIDE_BIN" init
[ -f "$T/h/.tide/secret" ] || fail "default home \$HOME/.tide not used"

# Re-init refuses and keeps the secret byte for byte.
cp "$A/secret" "$T/secret.before"
run 1 tide "$A" init
expect_error_shape init
expect_in "$T/err" "refusing to overwrite"
cmp -s "$A/secret" "$T/secret.before" || fail "init changed an existing secret"
run 1 tide "$A" init --import-secret "$T/secret.before"
expect_in "$T/err" "refusing to overwrite"

# status on an empty store.
run 0 tide "$A" status
expect_in "$T/out" "feeds:    0"
expect_in "$T/out" "messages: 0"

# Racing inits on a fresh home: exactly one wins, the secret is its key.
R="$T/race"
pids=()
for n in 1 2 3 4; do
  "$TIDE_BIN" --home "$R" init >"$T/init.$n" 2>&1 &
  pids+=("$!")
done
wins=0
for n in 1 2 3 4; do
  if wait "${pids[$((n - 1))]}"; then wins=$((wins + 1)); winner="$(cat "$T/init.$n")"; fi
done
expect_eq "$wins" 1 "successful concurrent inits"
run 0 tide "$R" whoami
expect_eq "$(cat "$T/out")" "${winner:-none}" "the secret belongs to the winning init"

# No command prints the secret key.
run 0 tide "$A" publish --json '{"type":"post","text":"hello"}'
priv="$(node -e 'console.log(require("ssb-keys").loadSync(process.argv[1]).private.slice(0,40))' "$A/secret")"
for c in whoami status feeds "export" "feed $id"; do
  # shellcheck disable=SC2086
  run 0 tide "$A" $c
  expect_not_in "$T/out" "$priv"
  expect_not_in "$T/err" "$priv"
done

# status shows identity, home and counts.
run 0 tide "$A" status
expect_in "$T/out" "identity: $id"
expect_in "$T/out" "home:     $A"
expect_in "$T/out" "store:    $A/store.sqlite"
expect_in "$T/out" "feeds:    1"
expect_in "$T/out" "messages: 1"
expect_in "$T/out" "forks:    0"

# --import-secret of a file made by ssb-keys (comments, JSON in between).
ssbid="$(ssbjs secret "$T/ssb/secret")"
B="$T/b"
run 0 tide "$B" init --import-secret "$T/ssb/secret"
expect_eq "$(cat "$T/out")" "$ssbid" "init --import-secret printed id"
run 0 tide "$B" whoami
expect_eq "$(cat "$T/out")" "$ssbid" "whoami after --import-secret"
expect_eq "$(stat -c %a "$B/secret")" 600 "imported secret mode"
# A message published with the imported key verifies with ssb-validate.
run 0 tide "$B" publish --json '{"type":"post","text":"from an imported key"}'
run 0 tide "$B" export
cp "$T/out" "$T/b.jsonl"
run 0 ssbjs validate "$T/b.jsonl"
expect_in "$T/out" "valid: 1"

# Bad secret files are refused and leave no home behind.
printf '{"curve":"ed25519"}\n' >"$T/bad-secret"
run 1 tide "$T/c" init --import-secret "$T/bad-secret"
expect_error_shape init
[ ! -e "$T/c/secret" ] || fail "a bad secret file was imported"
run 1 tide "$T/c" init --import-secret "$T/does-not-exist"
expect_in "$T/err" "does-not-exist"
# A secret whose public half does not match the private key.
node -e '
  const k = require("ssb-keys"); const a = k.generate(), b = k.generate();
  a.public = b.public; a.id = b.id;
  require("fs").writeFileSync(process.argv[1], JSON.stringify(a, null, 2));' "$T/mismatch-secret"
run 1 tide "$T/d" init --import-secret "$T/mismatch-secret"
[ ! -e "$T/d/secret" ] || fail "a mismatched secret file was imported"

# A lost store is never replaced by an empty one behind the user's back:
# the feed would restart at 1 (a fork of its own feed).  Removed, then
# emptied: every command refuses, says why, and creates nothing.
E="$T/e"
run 0 tide "$E" init
run 0 tide "$E" publish --json '{"type":"post","text":"one"}'
run 0 tide "$E" export
cp "$T/out" "$T/e-backup.jsonl"
rm -f "$E/store.sqlite" "$E/store.sqlite-wal" "$E/store.sqlite-shm"
for cmd in "publish --json {\"type\":\"post\",\"text\":\"two\"}" feeds status "import $T/e-backup.jsonl"; do
  # shellcheck disable=SC2086
  run 1 tide "$E" $cmd
  expect_in "$T/err" "does not exist"
  expect_in "$T/err" "tide init --new-store"
  [ ! -e "$E/store.sqlite" ] || fail "'$cmd' created a new store in place of a lost one"
done
: >"$E/store.sqlite"
run 1 tide "$E" publish --json '{"type":"post","text":"two"}'
expect_in "$T/err" "is empty"
expect_eq "$(stat -c %s "$E/store.sqlite")" 0 "size of an emptied store after a refused open"
# --new-store makes the empty store; importing the backup brings the feed
# back, and the next message continues it at sequence 2.
run 0 tide "$E" init --new-store
expect_in "$T/err" "sync your own feed back"
run 0 tide "$E" init --new-store
expect_in "$T/err" "kept as it is"
run 0 tide "$E" import "$T/e-backup.jsonl"
run 0 tide "$E" publish --json '{"type":"post","text":"two"}'
run 0 tide "$E" feeds --json
expect_in "$T/out" '"sequence":2'
run 2 tide "$E" init --new-store --import-secret "$T/bad-secret"
run 1 tide "$T/f" init --new-store
expect_in "$T/err" "run 'tide init'"

# An unreadable home: a file where the home should be.
: >"$T/file-home"
run 1 tide "$T/file-home" init
expect_error_shape init

finish

#!/usr/bin/env bash
# usage.sh - help texts, version, unknown commands and options, exit codes.
. "$(dirname "$0")/lib.sh"

A="$T/a"
cmds="init whoami publish follow unfollow block unblock import export feed feeds status"

run 0 "$TIDE_BIN" --help
expect_in "$T/out" "usage: tide"
for c in $cmds; do
  expect_in "$T/out" "  $c "
done
run 0 "$TIDE_BIN" -h
run 0 "$TIDE_BIN" help
expect_in "$T/out" "usage: tide"
run 0 "$TIDE_BIN" --version
grep -qE '^tide [0-9]+\.[0-9]+\.[0-9]+$' "$T/out" || fail "--version printed '$(cat "$T/out")'"

# Every command listed by tide --help (also those of other modules) has
# --help (and -h, and tide help CMD), exit 0, on stdout, without needing a
# home; and rejects an unknown option with a usage error.
run 0 "$TIDE_BIN" --help
all="$(sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' "$T/out")"
[ -n "$all" ] || fail "no command list in tide --help"
for c in $cmds; do
  grep -qx "$c" <<<"$all" || fail "tide --help does not list $c"
done
for c in $all; do
  run 2 tide "$A" "$c" --no-such-option
  expect_error_shape "$c"
  [ -s "$T/out" ] && fail "'tide $c --no-such-option' wrote to stdout"
done
for c in $all; do
  run 0 tide "$A" "$c" --help
  grep -q "^usage: tide $c" "$T/out" || fail "'tide $c --help' does not start with its usage"
  [ -s "$T/err" ] && fail "'tide $c --help' wrote to stderr"
  cp "$T/out" "$T/help1"
  run 0 tide "$A" "$c" -h
  cmp -s "$T/out" "$T/help1" || fail "'tide $c -h' differs from --help"
  run 0 "$TIDE_BIN" help "$c"
  cmp -s "$T/out" "$T/help1" || fail "'tide help $c' differs from --help"
done
[ ! -e "$A" ] || fail "help created a home"

# Usage errors: exit 2, message on stderr, nothing on stdout.
run 2 "$TIDE_BIN"
expect_in "$T/err" "usage: tide"
run 2 "$TIDE_BIN" frobnicate
expect_in "$T/err" "unknown command 'frobnicate'"
[ -s "$T/out" ] && fail "unknown command printed on stdout"
run 2 "$TIDE_BIN" help frobnicate
run 2 "$TIDE_BIN" --bogus whoami
expect_in "$T/err" "unknown option '--bogus'"
run 2 "$TIDE_BIN" --home
run 2 "$TIDE_BIN" --home "" whoami
for c in $cmds; do
  run 2 tide "$A" "$c" --no-such-option
  expect_error_shape "$c"
  expect_in "$T/err" "unknown option '--no-such-option'"
  expect_in "$T/err" "Try 'tide $c --help'."
done
run 2 tide "$A" whoami extra
run 2 tide "$A" status extra
run 2 tide "$A" feeds extra
run 2 tide "$A" init --import-secret
expect_in "$T/err" "needs a value"
run 2 tide "$A" feeds --json=yes
run 2 tide "$A" whoami -x

finish

# lib.sh - shared helpers for the CLI tests (sourced, not run).
#
# Needs TIDE_BIN (the tide binary) and TIDE_SOURCE_DIR; ctest sets both
# (tests/cmake/cli.cmake).  Each test gets a private temporary directory
# $T, removed on exit, and runs tide with --home inside it.
set -euo pipefail

: "${TIDE_BIN:?TIDE_BIN must name the tide binary}"
: "${TIDE_SOURCE_DIR:?TIDE_SOURCE_DIR must name the source tree}"
T="$(mktemp -d "${TMPDIR:-/tmp}/tide-cli-test.XXXXXX")"
trap 'rm -rf "$T"' EXIT
export TIDE_HOME="$T/no-such-default-home" # never touch the user's ~/.tide
export NODE_PATH="${TIDE_JS_DIR:-$TIDE_SOURCE_DIR/tests/js}/node_modules"
SSBJS="$TIDE_SOURCE_DIR/tests/cli/ssb.js"
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run EXPECTED_STATUS CMD...: runs CMD with stdout in $T/out, stderr in
# $T/err, and checks the exit status.
run() {
  local want="$1" got=0
  shift
  "$@" >"$T/out" 2>"$T/err" || got=$?
  if [ "$got" != "$want" ]; then
    fail "'$*' exited $got, expected $want"
    sed 's/^/  stdout: /' "$T/out" | head -20 >&2
    sed 's/^/  stderr: /' "$T/err" | head -20 >&2
  fi
  return 0
}

# tide HOME ARGS...: the tide binary on a home directory.
tide() {
  local home="$1"
  shift
  "$TIDE_BIN" --home "$home" "$@"
}

# expect_in FILE TEXT: FILE contains TEXT (fixed string).
expect_in() {
  grep -qF -- "$2" "$1" || { fail "$1 lacks '$2'"; sed 's/^/  | /' "$1" | head -20 >&2; }
}

expect_not_in() {
  if grep -qF -- "$2" "$1"; then fail "$1 contains '$2'"; fi
}

# expect_eq GOT WANT WHAT
expect_eq() {
  [ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"
}

# The usage-error shape: "tide CMD: ..." on stderr, nothing on stdout.
expect_error_shape() {
  local cmd="$1"
  head -1 "$T/err" | grep -q "^tide $cmd: " || fail "stderr does not start with 'tide $cmd: ': $(head -1 "$T/err")"
}

ssbjs() { node "$SSBJS" "$@"; }

finish() {
  if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
  fi
  echo "all checks passed"
}

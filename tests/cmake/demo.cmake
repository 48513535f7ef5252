# The README's demo (scripts/demo.sh with its scripts/demo.d sections) runs
# to the end with this build's tide: exit status 0 and the last line is the
# demo's success line.  Bounded by `timeout` and ctest's TIMEOUT.
add_test(NAME demo.run
         COMMAND bash -c [=[
out="$(timeout 110 bash "$TIDE_SOURCE_DIR/scripts/demo.sh" "$TIDE_BIN" 2>&1)"
status=$?
printf '%s\n' "$out"
if [ "$status" != 0 ]; then
  echo "demo.run: scripts/demo.sh exited with status $status" >&2
  exit 1
fi
last="$(printf '%s\n' "$out" | tail -n 1)"
if [ "$last" != "The demo ran to the end." ]; then
  echo "demo.run: the demo did not end with its success line (last line: $last)" >&2
  exit 1
fi
]=])
set_tests_properties(demo.run PROPERTIES ENVIRONMENT "${TIDE_TEST_ENV}" TIMEOUT 120)

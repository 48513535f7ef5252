# Bundle and USB tests beyond the unit suites (test_frame, test_bundle,
# test_usb): the command line end to end.
add_test(NAME bundle.cli COMMAND bash ${PROJECT_SOURCE_DIR}/tests/bundle/cli.sh)
set_tests_properties(bundle.cli PROPERTIES ENVIRONMENT "${TIDE_TEST_ENV}" TIMEOUT 120)

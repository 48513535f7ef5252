# CLI tests: bash scripts driving the tide binary (tests/cli/*.sh, except
# the sourced lib.sh).  Each runs in its own temporary homes.
file(GLOB TIDE_CLI_TESTS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/cli/*.sh)
foreach(script ${TIDE_CLI_TESTS})
  get_filename_component(name ${script} NAME_WE)
  if(name STREQUAL "lib")
    continue()
  endif()
  add_test(NAME cli.${name} COMMAND bash ${script})
  set_tests_properties(cli.${name} PROPERTIES ENVIRONMENT "${TIDE_TEST_ENV}" TIMEOUT 120
                       LABELS cli)
endforeach()

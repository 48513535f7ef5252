# JSON: differential test of tide's JSON against V8 (node).
# json_tool re-serialises JSON texts; tests/js/json-diff.js generates random
# texts from a fixed seed and compares the tool's output with JSON.parse /
# JSON.stringify byte for byte.  Needs node (not the npm packages); when
# node is missing the test fails rather than passing silently.
add_executable(json_tool ${CMAKE_CURRENT_SOURCE_DIR}/tools/json_tool.c)
target_link_libraries(json_tool PRIVATE tide)

find_program(TIDE_NODE node)
if(NOT TIDE_NODE)
  set(TIDE_NODE node)
endif()
add_test(NAME json.diff_node
         COMMAND ${TIDE_NODE} ${CMAKE_CURRENT_SOURCE_DIR}/js/json-diff.js $<TARGET_FILE:json_tool>)
set_tests_properties(json.diff_node PROPERTIES ENVIRONMENT "${TIDE_TEST_ENV}" TIMEOUT 300)

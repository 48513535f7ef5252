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

# Allocation-failure loop: json_oom compiles the JSON sources itself with
# malloc/realloc renamed to its failing allocator (source properties are
# scoped to this directory, so libtide's objects are unaffected).
set(TIDE_JSON_OOM_SOURCES
    ${PROJECT_SOURCE_DIR}/core/json.c ${PROJECT_SOURCE_DIR}/core/json_parse.c
    ${PROJECT_SOURCE_DIR}/core/json_write.c ${PROJECT_SOURCE_DIR}/core/json_num.c
    ${PROJECT_SOURCE_DIR}/core/buf.c)
add_executable(json_oom ${CMAKE_CURRENT_SOURCE_DIR}/tools/json_oom.c ${TIDE_JSON_OOM_SOURCES}
                        ${PROJECT_SOURCE_DIR}/core/common.c)
set_source_files_properties(${TIDE_JSON_OOM_SOURCES} PROPERTIES COMPILE_DEFINITIONS
                            "malloc=json_oom_malloc;realloc=json_oom_realloc")
target_include_directories(json_oom PRIVATE ${PROJECT_SOURCE_DIR}/core/include
                           ${PROJECT_SOURCE_DIR}/core)
target_link_libraries(json_oom PRIVATE PkgConfig::SODIUM m)
add_test(NAME json.oom COMMAND json_oom)
set_tests_properties(json.oom PROPERTIES ENVIRONMENT "${TIDE_TEST_ENV}" TIMEOUT 300)

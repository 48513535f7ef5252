# Formatting: every C file follows the committed .clang-format.
add_test(NAME style.clang_format COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/style/clang_format.sh)
set_tests_properties(style.clang_format PROPERTIES ENVIRONMENT "${TIDE_TEST_ENV}" TIMEOUT 120)

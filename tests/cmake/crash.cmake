# Crash tests (tests/crash/): kill -9 during ingest, then check the store.
#
# crash.kill9   50 SIGKILLs at random moments of an import through the
#               ingest pipeline into a file store; after each one:
#               integrity_check, gap-free hash-chained feeds, every
#               acknowledged message present (see tests/crash/crash_kill9.c).
# The message count is smaller under the sanitizers so that the test stays
# well under a minute on two shared cores; run the binary by hand with
# --messages 20000 for the full-size run.
add_executable(crash_kill9 ${CMAKE_CURRENT_SOURCE_DIR}/crash/crash_kill9.c)
target_include_directories(crash_kill9 PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/bench)
target_link_libraries(crash_kill9 PRIVATE tide)
if(TIDE_SANITIZE)
  set(TIDE_CRASH_MESSAGES 2500)
else()
  set(TIDE_CRASH_MESSAGES 6000)
endif()
add_test(NAME crash.kill9
         COMMAND crash_kill9 --messages ${TIDE_CRASH_MESSAGES} --feeds 50 --kills 50 --budget 55)
set_tests_properties(crash.kill9 PROPERTIES ENVIRONMENT "${TIDE_TEST_ENV}" TIMEOUT 120
                     LABELS crash)

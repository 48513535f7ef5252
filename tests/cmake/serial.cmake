# Serial/radio transport: link model library (virtual-time tests, the radio
# benchmark and the pty link simulator), the linksim tool, end-to-end tests.
set(TIDE_LINKSIM_DIR ${PROJECT_SOURCE_DIR}/tests/tools/linksim)
add_library(tide_linkmodel STATIC ${TIDE_LINKSIM_DIR}/linkmodel.c ${TIDE_LINKSIM_DIR}/vlink.c)
target_include_directories(tide_linkmodel PUBLIC ${TIDE_LINKSIM_DIR})
target_link_libraries(tide_linkmodel PUBLIC tide m)

foreach(t test_link test_link_collide test_serial test_radio test_rsession)
  if(TARGET ${t})
    target_link_libraries(${t} PRIVATE tide_linkmodel)
  endif()
endforeach()
if(TARGET bench_radio)
  target_link_libraries(bench_radio PRIVATE tide_linkmodel ${CMAKE_DL_LIBS})
endif()

# ioctl shim so that libserialport can open pseudo-terminals: the same
# source the tide program links (cli/pty_ioctl.c), as a preloadable library
# and linked into the tests that drive the serial driver in-process.
# Built without sanitizers: it is preloaded into the tide binary.
add_library(ptyshim SHARED ${PROJECT_SOURCE_DIR}/cli/pty_ioctl.c)
target_compile_options(ptyshim PRIVATE -fno-sanitize=all)
target_link_options(ptyshim PRIVATE -fno-sanitize=all)
target_link_libraries(ptyshim PRIVATE ${CMAKE_DL_LIBS})
set_target_properties(ptyshim PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tools)
foreach(t test_serial bench_radio)
  if(TARGET ${t})
    target_sources(${t} PRIVATE ${PROJECT_SOURCE_DIR}/cli/pty_ioctl.c)
    target_link_libraries(${t} PRIVATE ${CMAKE_DL_LIBS})
  endif()
endforeach()

if(EXISTS ${TIDE_LINKSIM_DIR}/linksim.c)
  add_executable(linksim ${TIDE_LINKSIM_DIR}/linksim.c)
  target_link_libraries(linksim PRIVATE tide_linkmodel)
  set_target_properties(linksim PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tools)
  if(TARGET bench_radio)
    add_dependencies(bench_radio linksim)
  endif()
  if(TARGET test_serial)
    add_dependencies(test_serial linksim)
    set_tests_properties(unit.test_serial PROPERTIES TIMEOUT 120)
  endif()
endif()

# End to end: the real tide binary, libserialport on pseudo-terminals,
# linksim paced at the profile's rate.
add_executable(mkfeed ${TIDE_LINKSIM_DIR}/mkfeed.c)
target_link_libraries(mkfeed PRIVATE tide)
set_target_properties(mkfeed PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tools)
add_test(NAME serial.e2e.lora-e22
         COMMAND sh ${TIDE_LINKSIM_DIR}/e2e_serial.sh lora-e22 100 0.05)
add_test(NAME serial.e2e.cable
         COMMAND sh ${TIDE_LINKSIM_DIR}/e2e_serial.sh cable 2000 0.0)
add_test(NAME serial.e2e.listen
         COMMAND sh ${TIDE_LINKSIM_DIR}/e2e_serial.sh cable 20 0.02 listen)
# Side A gives up after 100 s (e2e_serial.sh): the lora-e22 run is paced
# by airtime (about 15-35 s) but an ASan build on two loaded cores runs the
# CPU part several times slower; the ctest limit stays above A's.
set_tests_properties(serial.e2e.lora-e22 serial.e2e.listen PROPERTIES
                     ENVIRONMENT "${TIDE_TEST_ENV}" TIMEOUT 120)
# Both ends offer short keys: A's opening clock must use them.
set_tests_properties(serial.e2e.cable PROPERTIES
                     ENVIRONMENT "${TIDE_TEST_ENV};E2E_A_KEYS=short" TIMEOUT 120)
# B is started with --full-keys (as for a peer from before short keys):
# B's HELLO offers none, so A's opening clock must use full keys, and the
# sync still completes.
add_test(NAME serial.e2e.fullkeys
         COMMAND sh ${TIDE_LINKSIM_DIR}/e2e_serial.sh cable 50 0.0)
set_tests_properties(serial.e2e.fullkeys PROPERTIES
                     ENVIRONMENT "${TIDE_TEST_ENV};E2E_B_FLAGS=--full-keys;E2E_A_KEYS=full"
                     TIMEOUT 120)

# Both sides --legacy-hello (as two nodes from before HELLO proofs would
# behave): no PROOF is offered or required, the sync completes, and A
# warns that B's HELLO was not shown fresh.
add_test(NAME serial.e2e.legacy
         COMMAND sh ${TIDE_LINKSIM_DIR}/e2e_serial.sh cable 30 0.0)
set_tests_properties(serial.e2e.legacy PROPERTIES
                     ENVIRONMENT "${TIDE_TEST_ENV};E2E_A_FLAGS=--legacy-hello;E2E_B_FLAGS=--legacy-hello;E2E_A_EXPECT=carries no proof of freshness"
                     TIMEOUT 120)

# The same over plain /dev/pts/N names, without the preloaded shim: the
# tide program itself copes with pseudo-terminals (cli/pty_ioctl.c and the
# driver's /proc alias in transports/serial/serial.c).
add_test(NAME serial.e2e.plainpty
         COMMAND sh ${TIDE_LINKSIM_DIR}/e2e_serial.sh cable 200 0.0)
set_tests_properties(serial.e2e.plainpty PROPERTIES
                     ENVIRONMENT "${TIDE_TEST_ENV};TIDE_E2E_PLAIN_PTY=1" TIMEOUT 120)

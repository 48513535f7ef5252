# Message validation against ssb-validate on randomly mutated messages
# (tests/data/msg/mutate.js drives tests/data/msg/msgcheck.c).  Needs node
# and the JS packages of tests/js (scripts/setup.sh); fails without them.
add_executable(msgcheck ${CMAKE_CURRENT_SOURCE_DIR}/data/msg/msgcheck.c)
target_link_libraries(msgcheck PRIVATE tide)
foreach(seed 1 2)
  add_test(NAME msg.differential.${seed}
           COMMAND node ${CMAKE_CURRENT_SOURCE_DIR}/data/msg/mutate.js $<TARGET_FILE:msgcheck> ${seed} 3000)
  set_tests_properties(msg.differential.${seed} PROPERTIES ENVIRONMENT "${TIDE_TEST_ENV}" TIMEOUT 120)
endforeach()

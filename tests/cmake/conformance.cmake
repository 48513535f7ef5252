# Conformance against the JavaScript SSB reference (docs/conformance.md).
#
# conformance.dataset    ssb-validation-dataset (npm, installed by
#                        scripts/setup.sh; the test FAILS when it is missing)
# conformance.gossb      go-ssb's real feed and TestVerifyBugs (tests/data, MIT)
# conformance.generated  vectors made at test time by ssb-validate/ssb-keys
# conformance.reverse    messages made by tide, checked by ssb-validate
# conformance.cli        the same vectors through `tide import/export/publish`
# conformance.bundle     the valid vectors and go-ssb's feed through a bundle
#                        (binary frames), rebuilt byte for byte

set(TIDE_CONFORM_DIR ${CMAKE_CURRENT_SOURCE_DIR}/conformance)

add_executable(conform ${TIDE_CONFORM_DIR}/conform.c ${TIDE_CONFORM_DIR}/conform_util.c)
target_link_libraries(conform PRIVATE tide)
add_executable(mkmsgs ${TIDE_CONFORM_DIR}/mkmsgs.c ${TIDE_CONFORM_DIR}/conform_util.c)
target_link_libraries(mkmsgs PRIVATE tide)

set(TIDE_CONFORM_SH ${TIDE_CONFORM_DIR}/conformance.sh)
set(TIDE_CONFORM_WORK ${PROJECT_BINARY_DIR}/conformance)

add_test(NAME conformance.dataset
         COMMAND conform dataset ${PROJECT_SOURCE_DIR}/tests/js/node_modules/ssb-validation-dataset/data.json)
foreach(part gossb generated reverse cli bundle)
  add_test(NAME conformance.${part}
           COMMAND bash ${TIDE_CONFORM_SH} ${part} $<TARGET_FILE:conform> $<TARGET_FILE:mkmsgs>
                   ${TIDE_CONFORM_WORK}/${part})
endforeach()
set_tests_properties(conformance.dataset conformance.gossb conformance.generated
                     conformance.reverse conformance.cli conformance.bundle
                     PROPERTIES ENVIRONMENT "${TIDE_TEST_ENV}" TIMEOUT 120 LABELS conformance)

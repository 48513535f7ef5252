# Serial/radio transport: link model library (virtual-time tests, the radio
# benchmark and the pty link simulator), the linksim tool, end-to-end tests.
set(TIDE_LINKSIM_DIR ${PROJECT_SOURCE_DIR}/tests/tools/linksim)
add_library(tide_linkmodel STATIC ${TIDE_LINKSIM_DIR}/linkmodel.c ${TIDE_LINKSIM_DIR}/vlink.c)
target_include_directories(tide_linkmodel PUBLIC ${TIDE_LINKSIM_DIR})
target_link_libraries(tide_linkmodel PUBLIC tide m)

foreach(t test_link test_serial test_radio)
  if(TARGET ${t})
    target_link_libraries(${t} PRIVATE tide_linkmodel)
  endif()
endforeach()
if(TARGET bench_radio)
  target_link_libraries(bench_radio PRIVATE tide_linkmodel)
endif()

# ioctl shim so that libserialport can open pseudo-terminals (ptyshim.c).
# Built without sanitizers: it is preloaded into the tide binary.
add_library(ptyshim SHARED ${TIDE_LINKSIM_DIR}/ptyshim.c)
target_compile_options(ptyshim PRIVATE -fno-sanitize=all)
target_link_options(ptyshim PRIVATE -fno-sanitize=all)
target_link_libraries(ptyshim PRIVATE ${CMAKE_DL_LIBS})
set_target_properties(ptyshim PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tools)
if(TARGET test_serial)
  target_sources(test_serial PRIVATE ${TIDE_LINKSIM_DIR}/ptyshim.c)
  target_link_libraries(test_serial PRIVATE ${CMAKE_DL_LIBS})
endif()

if(EXISTS ${TIDE_LINKSIM_DIR}/linksim.c)
  add_executable(linksim ${TIDE_LINKSIM_DIR}/linksim.c)
  target_link_libraries(linksim PRIVATE tide_linkmodel)
  set_target_properties(linksim PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tools)
  if(TARGET test_serial)
    add_dependencies(test_serial linksim)
    set_tests_properties(unit.test_serial PROPERTIES TIMEOUT 120)
  endif()
endif()

# Optional radio encryption (transports/serial/rcrypt.c): the session tests
# run over the virtual-time link model.
if(TARGET test_rcrypt)
  target_link_libraries(test_rcrypt PRIVATE tide_linkmodel)
endif()

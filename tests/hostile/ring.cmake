# Group "ring": a hostile co-resident peer on the shared-memory ring (issue 11,
# items 7-9).  The peer reaches into the sim host's files (ring_peer.c).
add_library(xwt_ring_peer STATIC ${CMAKE_CURRENT_LIST_DIR}/ring_peer.c)
target_link_libraries(xwt_ring_peer PUBLIC xwt_ringlib)

xw_test(ring_forged_index SOURCES ring_forged_index.c TIMEOUT 90 LIBS xwt_ring_peer
  LABELS hostile ring)
xw_test(ring_event_storm SOURCES ring_event_storm.c TIMEOUT 120 LIBS xwt_ring_peer
  LABELS hostile ring)
# It compares round-trip times with and without a storm on 2 CPUs: alone, so
# that another test (QEMU's Xen, say) does not take the CPU the ratio is about
# (seen: 2.28x against the 2x bound while xen_two_domus ran beside it).
set_tests_properties(ring_event_storm PROPERTIES RUN_SERIAL TRUE)
xw_test(ring_scribbler SOURCES ring_scribbler.c TIMEOUT 120 LIBS xwt_ring_peer
  LABELS hostile ring)

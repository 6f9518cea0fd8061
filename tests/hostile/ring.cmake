# Group "ring": a hostile co-resident peer on the shared-memory ring (issue 11,
# items 7-9).  The peer reaches into the sim host's files (ring_peer.c).
add_library(xwt_ring_peer STATIC ${CMAKE_CURRENT_LIST_DIR}/ring_peer.c)
target_link_libraries(xwt_ring_peer PUBLIC xwt_ringlib)

xw_test(ring_forged_index SOURCES ring_forged_index.c TIMEOUT 90 LIBS xwt_ring_peer
  LABELS hostile ring)
xw_test(ring_event_storm SOURCES ring_event_storm.c TIMEOUT 120 LIBS xwt_ring_peer
  LABELS hostile ring)
xw_test(ring_scribbler SOURCES ring_scribbler.c TIMEOUT 120 LIBS xwt_ring_peer
  LABELS hostile ring)

# Group proto: a hostile peer of the in-stack handshake (issue 11 items 3, 5,
# 10).  The hostile side is this stack with XWAY_FAULT=raw (it exchanges the
# SYN option and leaves the control stream to the test, proto_raw.c).
set(XW_PROTO_T ${CMAKE_CURRENT_SOURCE_DIR})
xw_test(hostile_proto_hs_bounded TIMEOUT 120
  SOURCES ${XW_PROTO_T}/proto_hs_bounded.c ${XW_PROTO_T}/proto_raw.c
  LIBS xwt_ringlib LABELS hostile)
xw_test(hostile_proto_replay TIMEOUT 120
  SOURCES ${XW_PROTO_T}/proto_replay.c ${XW_PROTO_T}/proto_raw.c
  LIBS xwt_ringlib LABELS hostile)
xw_test(hostile_proto_ring_caps TIMEOUT 120
  SOURCES ${XW_PROTO_T}/proto_ring_caps.c LIBS xwt_ringlib LABELS hostile)
xw_test(hostile_proto_budget TIMEOUT 60 LINK NETIF LABELS hostile
  SOURCES ${XW_PROTO_T}/proto_budget.c ${XW_PROTO_DIR}/handshake.c ${XW_PROTO_DIR}/ctrlmsg.c)
target_include_directories(hostile_proto_budget PRIVATE ${XW_PROTO_DIR})

# Remote hostile tests (issue 11, items 1, 2, 4, 6): a raw host on the hub
# (remote_raw.c: frames built by hand, no lwIP) against a stack in a child process.
add_library(xwt_remote STATIC ${CMAKE_CURRENT_LIST_DIR}/remote_raw.c
  ${CMAKE_CURRENT_LIST_DIR}/remote_conns.c ${PROJECT_SOURCE_DIR}/tests/stack/peer.c)
target_include_directories(xwt_remote PUBLIC ${CMAKE_CURRENT_LIST_DIR}
  ${PROJECT_SOURCE_DIR}/tests/stack)
target_link_libraries(xwt_remote PUBLIC xwaystack_static xw_testlib Threads::Threads)

foreach(t accept_queue hs_timeout bad_options hub_flood)
  xw_test(remote_${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/remote_${t}.c TIMEOUT 120
    LIBS xwt_remote LABELS hostile)
endforeach()
xw_test(remote_hub_flood_lowfd COMMAND remote_hub_flood 512 TIMEOUT 120 LABELS hostile)

# Not a raw host: two stacks claiming one address.
xw_test(remote_addr_conflict SOURCES ${CMAKE_CURRENT_LIST_DIR}/remote_addr_conflict.c
  ${PROJECT_SOURCE_DIR}/tests/stack/peer.c TIMEOUT 120 LABELS hostile)
target_include_directories(remote_addr_conflict PRIVATE ${PROJECT_SOURCE_DIR}/tests/stack)

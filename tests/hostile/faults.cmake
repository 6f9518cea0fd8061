# Group faults: what a failing machine or a dying peer does to the stack.
#   faults_shm_full    XWAY_HOST on a full tmpfs: TCP with a reason, no SIGBUS
xw_test(faults_shm_full SCRIPT faults_shm_full.sh TIMEOUT 90 LABELS hostile)
#   faults_peer_death  a peer process killed -9 in a live domain (sim with Xen's
#                      liveness): the survivor's blocked call ends in <= 5 s
xw_test(faults_peer_death SOURCES faults_peer_death.c LINK NETIF LIBS Threads::Threads
  TIMEOUT 90 LABELS hostile)
#   faults_peer_kill_domain  tests/ring/peer_kill (two stacks, a victim killed -9
#                      mid-transfer) with the same Xen liveness: <= 5 s
xw_test(faults_peer_kill_domain COMMAND $<TARGET_FILE:ring_peer_kill>
  ENV XWAY_SIM_LIVENESS=domain TIMEOUT 120 LABELS hostile)
#   faults_peer_stopped  a peer stopped dead as a destroyed guest domain is
#                      (XWAY_SIM_LIVENESS=guest): the heartbeats end the
#                      survivor's recv in 3-5 s; a stopped process that can be
#                      seen alive keeps its connection
xw_test(faults_peer_stopped SCRIPT faults_peer_stopped.sh TIMEOUT 60 LABELS hostile)
#   faults_shm_holes   the same full tmpfs and a forged grant ref into a hole of
#                      the granter's table: -ENOENT, no SIGBUS
xw_test(faults_shm_holes SOURCES faults_shm_holes.c LINK NETIF TIMEOUT 60 LABELS hostile)

# A peer cannot flood the log: its lines are rate-limited (stack/core/log.c).
xw_test(hostile_log_peer SOURCES log_peer.c TIMEOUT 30 LABELS hostile)

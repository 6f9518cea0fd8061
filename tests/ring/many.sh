#!/bin/bash
# 256 concurrent ring connections between two processes (all open before any data
# moves; 64 KiB rings so that they fit any /dev/shm): every connection on the
# ring, every connection's bytes verified, both ways at once.
source "$(dirname "$0")/../lib.sh"
ring_env "$@"
export XWAY_RING=65536

bg "$WORK/srv.log" on_hub 10.77.61.1/24 timeout 150 "$XWPERF" -s -1 -v
SRV=$LAST_PID
wait_line "$WORK/srv.log" listening 10 $LAST_PID
out=$(on_hub 10.77.61.2/24 timeout 120 "$XWPERF" -c 10.77.61.1 -P 256 -n 256M -l 16K --bidir --json) ||
    { tail "$WORK/srv.log"; die "client exit ($out)"; }
echo "$out"
json_expect "$out" verified true
json_expect "$out" connections 256
json_expect "$out" path '"ring"'
json_expect "$out" ring_bytes 65536
json_expect "$out" tcp_payload_bytes 0
wait "$SRV" || { tail "$WORK/srv.log"; die "server exit"; }
n=$(grep -c "verified, path ring" "$WORK/srv.log")
[ "$n" = 256 ] || die "server: $n of 256 connections verified on the ring"
echo PASS

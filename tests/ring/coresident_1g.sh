#!/bin/bash
# A co-resident pair (one sim host) takes the ring: 1 GiB both ways at once,
# every byte verified on both sides, and lwIP carried none of the payload.
source "$(dirname "$0")/../lib.sh"
ring_env "$@"

bg "$WORK/srv.log" on_hub 10.77.60.1/24 timeout 100 "$XWPERF" -s -1 -v
SRV=$LAST_PID
wait_line "$WORK/srv.log" listening 10 $LAST_PID
out=$(on_hub 10.77.60.2/24 timeout 100 "$XWPERF" -c 10.77.60.1 --bidir -n 1G --json) ||
    { cat "$WORK/srv.log"; die "client exit ($out)"; }
echo "$out"
json_expect "$out" verified true
json_expect "$out" path '"ring"'
json_expect "$out" fallback '"none"'
json_expect "$out" bytes $((2 << 30))
json_expect "$out" tcp_payload_bytes 0
json_check "$out" 'o["ring_payload_bytes"] >= 2 << 30 and o["ring_bytes"] > 0'
wait "$SRV" || { cat "$WORK/srv.log"; die "server exit"; }
grep -q "1073741824 bytes in, 1073741824 out, verified, path ring" "$WORK/srv.log" ||
    die "server log: $(cat "$WORK/srv.log")"
echo PASS

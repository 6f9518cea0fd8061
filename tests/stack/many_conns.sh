#!/bin/bash
# 200 concurrent connections between two processes on a hub, all opened before any
# data moves; every connection's bytes verified (bulk, then both ways at once).
source "$(dirname "$0")/../lib.sh"
stack_env "$@"

bg "$WORK/srv.log" on_hub 10.77.2.1/24 timeout 200 "$XWPERF" -s
wait_line "$WORK/srv.log" listening 10 $LAST_PID
for mode in "" --bidir; do
    out=$(on_hub 10.77.2.2/24 timeout 120 "$XWPERF" -c 10.77.2.1 -P 200 -n 100M -l 16K $mode --json) ||
        { cat "$WORK/srv.log"; die "client${mode:+ $mode} exit ($out)"; }
    echo "$out"
    [ "$(json_get "$out" verified)" = true ] || die "not verified"
    [ "$(json_get "$out" connections)" = 200 ] || die "connections"
done
echo PASS

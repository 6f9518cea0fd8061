#!/bin/bash
# Two processes on a hub exchange 256 MiB both ways at once; both sides verify
# every byte and compare checksums.
source "$(dirname "$0")/../lib.sh"
stack_env "$@"

bg "$WORK/srv.log" on_hub 10.77.1.1/24 timeout 200 "$XWPERF" -s -1 -v
SRV=$LAST_PID
wait_line "$WORK/srv.log" listening 10 $LAST_PID
out=$(on_hub 10.77.1.2/24 timeout 200 "$XWPERF" -c 10.77.1.1 --bidir -n 256M --json) ||
    { cat "$WORK/srv.log"; die "client exit $? ($out)"; }
echo "$out"
[ "$(json_get "$out" verified)" = true ] || die "not verified"
[ "$(json_get "$out" bytes)" = $((2 * 256 * 1024 * 1024)) ] || die "bytes: $out"
wait "$SRV" || { cat "$WORK/srv.log"; die "server exit $?"; }
grep -q "268435456 bytes in, 268435456 out, verified" "$WORK/srv.log" || die "server log: $(cat "$WORK/srv.log")"
echo PASS

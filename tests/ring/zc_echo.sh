#!/bin/bash
# The example apps/examples/zc_echo.c: its client sends from reservations and
# reads the echo in place, its server copies each view into a reservation;
# the checksums of both streams agree, on the ring and on the TCP path.
source "$(dirname "$0")/../lib.sh"
ring_env "$@"
ZCECHO=$BUILD/apps/examples/xway-zc-echo
[ -x "$ZCECHO" ] || die "$ZCECHO not built"
XW_DIE_SHOW="$WORK/*.log"

bg "$WORK/srv.log" on_hub 10.77.62.1/24 timeout 100 "$ZCECHO" -s -p 7000
wait_line "$WORK/srv.log" listening 10 $LAST_PID
out=$(on_hub 10.77.62.2/24 timeout 60 "$ZCECHO" -c 10.77.62.1 -p 7000 -n 64M) ||
    die "ring client: $out"
echo "$out"
grep -Eq "path ring: sent 67108864 bytes \(fnv ([0-9a-f]{16})\), echo 67108864 bytes \(fnv \1\): ok$" \
    <<<"$out" || die "ring: $out"
out=$(XWAY_BACKEND=off on_hub 10.77.62.3/24 timeout 60 "$ZCECHO" -c 10.77.62.1 -p 7000 -n 16M) ||
    die "tcp client: $out"
echo "$out"
grep -Eq "path tcp: sent 16777216 bytes \(fnv ([0-9a-f]{16})\), echo 16777216 bytes \(fnv \1\): ok$" \
    <<<"$out" || die "tcp: $out"
echo PASS

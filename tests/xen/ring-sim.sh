#!/bin/bash
# The sim twin of the real-Xen ring test: the same xwt_ring program, two
# processes on one sim host, judged by the same ALL PASS / FAIL lines.
# Usage: ring-sim.sh XWT_RING [mib=N]
set -u
BIN=$1; shift
HOST=$(mktemp -d /tmp/xwt-sim.XXXXXX)
trap 'rm -rf "$HOST"' EXIT
export XWT_SIM_HOST=$HOST
timeout 100 "$BIN" sharer /xt/ring "$@" > "$HOST/sharer.log" 2>&1 & p1=$!
timeout 100 "$BIN" mapper /xt/ring "$@" > "$HOST/mapper.log" 2>&1 & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
cat "$HOST/sharer.log" "$HOST/mapper.log" | grep -vE 'XWT: PASS'
ok=1
for r in sharer mapper; do
    grep -q "XWT: ALL PASS prog=xwt_ring role=$r" "$HOST/$r.log" || { echo "missing ALL PASS from $r"; ok=0; }
done
grep -q 'XWT: FAIL' "$HOST"/*.log && ok=0
[ $ok = 1 ] && [ $r1 = 0 ] && [ $r2 = 0 ] && { echo "ring-sim: ALL PASS"; exit 0; }
echo "ring-sim: FAILURES (rc $r1,$r2)"; exit 1

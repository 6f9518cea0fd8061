#!/bin/bash
# The sim twin of the real-Xen ring test: the same xwt_ring program, two
# processes on one sim host, judged by the same ALL PASS / FAIL lines.
# Usage: ring-sim.sh XWT_RING [mib=N]
source "$(dirname "$0")/../lib.sh"
set +e # judged from both programs' logs and exit codes, below
BIN=$1; shift
xw_tmpdir HOST /tmp/xwt-sim.XXXXXX
export XWT_SIM_HOST=$HOST
# Xen's liveness: a killed process's domain lives on (xwt_death).
export XWAY_SIM_LIVENESS=domain
bg "$HOST/sharer.log" timeout 100 "$BIN" sharer /xt/ring "$@"; p1=$LAST_PID
bg "$HOST/mapper.log" timeout 100 "$BIN" mapper /xt/ring "$@"; p2=$LAST_PID
wait $p1; r1=$?; wait $p2; r2=$?
cat "$HOST/sharer.log" "$HOST/mapper.log" | grep -vE 'XWT: PASS'
ok=1
for r in sharer mapper; do
    grep -q "XWT: ALL PASS prog=xwt_ring role=$r" "$HOST/$r.log" || { echo "missing ALL PASS from $r"; ok=0; }
done
grep -q 'XWT: FAIL' "$HOST"/*.log && ok=0
[ $ok = 1 ] && [ $r1 = 0 ] && [ $r2 = 0 ] && { echo "ring-sim: ALL PASS"; exit 0; }
echo "ring-sim: FAILURES (rc $r1,$r2)"; exit 1

#!/bin/bash
# On-demand benchmark (not a test): the stack's TCP path over a hub against the
# kernel's loopback, same xwperf test, same run.  Target: stack >= 0.5x kernel.
#   scripts/bench-tcp.sh [BUILD_DIR] [SECONDS] [MSGLEN]
set -euo pipefail
BUILD=${1:-build}
SECS=${2:-4}
MSGLEN=${3:-64K}
XWPERF=$BUILD/apps/xwperf/xwperf
[ -x "$XWPERF" ] || { echo "bench-tcp: $XWPERF not built" >&2; exit 2; }
WORK=$(mktemp -d /tmp/xwbench-XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_listen() {
    for _ in $(seq 100); do grep -q listening "$1" && return 0; sleep 0.1; done
    cat "$1" >&2; echo "bench-tcp: server did not start" >&2; exit 2
}
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

mkdir "$WORK/hub"
export XWAY_BACKEND=off # the stack's TCP path: no shared-memory ring
XWAY_LINK=hub:$WORK/hub XWAY_ADDR=10.77.100.1/24 "$XWPERF" -s >"$WORK/srv.log" 2>&1 &
PIDS+=($!)
KPORT=$((20000 + RANDOM % 20000))
"$XWPERF" -s --kernel -B 127.0.0.1 -p $KPORT >"$WORK/ksrv.log" 2>&1 &
PIDS+=($!)
wait_listen "$WORK/srv.log"
wait_listen "$WORK/ksrv.log"

tcp=$(XWAY_LINK=hub:$WORK/hub XWAY_ADDR=10.77.100.2/24 \
    "$XWPERF" -c 10.77.100.1 -t "$SECS" -l "$MSGLEN" --json)
kern=$("$XWPERF" -c 127.0.0.1 -p $KPORT --kernel -t "$SECS" -l "$MSGLEN" --json)
echo "stack (hub):      $tcp"
echo "kernel (lo):      $kern"
for j in "$tcp" "$kern"; do
    [ "$(field "$j" verified)" = True ] || { echo "bench-tcp: NOT VERIFIED" >&2; exit 1; }
done
python3 - "$tcp" "$kern" <<'PY'
import json, sys
t, k = (json.loads(a) for a in sys.argv[1:3])
r = t["gbytes_per_s"] / k["gbytes_per_s"]
print(f"stack TCP path {t['gbytes_per_s']:.3f} GB/s, kernel loopback {k['gbytes_per_s']:.3f} GB/s, "
      f"msglen {t['msglen']}: ratio {r:.2f} (target >= 0.50: {'met' if r >= 0.5 else 'NOT met'})")
PY

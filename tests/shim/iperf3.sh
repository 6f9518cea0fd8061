# Unmodified iperf3 server and client under xway-run: exit 0, ring used.
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
bg -e "$WORK/srv.err" "$WORK/srv.out" \
    timeout 60 env XWAY_ADDR=10.77.4.1/24 "$RUN" iperf3 -s -1 -B 10.77.4.1 -p 41521
SRV=$LAST_PID
wait_line "$WORK/srv.err" ": listening.*port 41521" 10 $SRV
timeout 60 env XWAY_ADDR=10.77.4.2/24 "$RUN" iperf3 -c 10.77.4.1 -p 41521 -t 3 --json \
    >"$WORK/cli.json" 2>"$WORK/cli.err" || die "iperf3 client failed: $(tail -5 "$WORK/cli.json")"
wait "$SRV" || die "iperf3 server exit status"
python3 - "$WORK/cli.json" <<'PY' || die "iperf3 report"
import json, sys
r = json.load(open(sys.argv[1]))
s = r["end"]["sum_received"]
assert s["bytes"] > 0, s
print("iperf3: %.1f Gbit/s" % (s["bits_per_second"] / 1e9))
PY
ring_used "$WORK/srv.err"
ring_used "$WORK/cli.err"
echo "ok: iperf3 under xway-run"

# Unmodified iperf3 server and client under xway-run: exit 0, ring used.
. "$(dirname "$0")/lib.sh"
bg timeout 60 env XWAY_ADDR=10.77.4.1/24 "$RUN" iperf3 -s -1 -B 10.77.4.1 -p 41521 \
    >"$T/srv.out" 2>"$T/srv.err"
SRV=$!
wait_log "$T/srv.err" ": listening.*port 41521"
timeout 60 env XWAY_ADDR=10.77.4.2/24 "$RUN" iperf3 -c 10.77.4.1 -p 41521 -t 3 --json \
    >"$T/cli.json" 2>"$T/cli.err" || fail "iperf3 client failed: $(tail -5 "$T/cli.json")"
wait "$SRV" || fail "iperf3 server exit status"
python3 - "$T/cli.json" <<'PY' || fail "iperf3 report"
import json, sys
r = json.load(open(sys.argv[1]))
s = r["end"]["sum_received"]
assert s["bytes"] > 0, s
print("iperf3: %.1f Gbit/s" % (s["bits_per_second"] / 1e9))
PY
ring_used "$T/srv.err"
ring_used "$T/cli.err"
echo "ok: iperf3 under xway-run"

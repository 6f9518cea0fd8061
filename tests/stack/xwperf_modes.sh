#!/bin/bash
# xwperf end to end on a hub: bulk (time-limited), request/response, IPv6, the
# kernel baseline over 127.0.0.1; JSON fields present and verified.
source "$(dirname "$0")/../lib.sh"
stack_env "$@"

bg "$WORK/srv.log" on_hub 10.77.8.1/24,fd00::1/64 timeout 200 "$XWPERF" -s
wait_line "$WORK/srv.log" listening 10 $LAST_PID
check() { # check JSON: verified, bytes > 0, keys present
    local k
    for k in path bytes seconds gbytes_per_s rtt_us_p50 rtt_us_p99 connections verified msglen mode; do
        json_get "$1" $k >/dev/null || die "key $k missing: $1"
    done
    [ "$(json_get "$1" verified)" = true ] || die "not verified: $1"
    python3 -c 'import json,sys; o=json.loads(sys.argv[1]); sys.exit(0 if o["bytes"] > 0 else 1)' "$1" ||
        die "no bytes: $1"
}
run() { on_hub 10.77.8.2/24,fd00::2/64 timeout 60 "$XWPERF" "$@" --json; }

out=$(run -c 10.77.8.1 -t 1); echo "$out"; check "$out"
[ "$(json_get "$out" path)" = '"tcp"' ] || die "path"
out=$(run -c 10.77.8.1 -t 1 --rr); echo "$out"; check "$out"
python3 -c 'import json,sys; o=json.loads(sys.argv[1]); sys.exit(0 if 0 < o["rtt_us_p50"] <= o["rtt_us_p99"] else 1)' "$out" ||
    die "rtt percentiles: $out"
out=$(run -c 10.77.8.1 -n 4M --rr -l 1000 -P 3); echo "$out"; check "$out"
out=$(run -c fd00::1 -n 32M --bidir); echo "$out"; check "$out"

# The event-loop server (-s --epoll, one thread): pipelined request/response
# from 8 connections, bulk, connection setup; --bidir is refused.
bg "$WORK/esrv.log" on_hub 10.77.8.3/24 timeout 200 "$XWPERF" -s --epoll -B 10.77.8.3 -p 5302
wait_line "$WORK/esrv.log" listening 10 $LAST_PID
out=$(run -c 10.77.8.3 -p 5302 -n 2M --rr -l 1000 -P 8 --depth 4); echo "$out"; check "$out"
[ "$(json_get "$out" depth)" = 4 ] || die "depth: $out"
out=$(run -c 10.77.8.3 -p 5302 -n 16M -P 2); echo "$out"; check "$out"
out=$(run -c 10.77.8.3 -p 5302 --connect-rate 20); echo "$out"
[ "$(json_get "$out" verified)" = true ] || die "connect-rate against --epoll: $out"
set +e
out=$(run -c 10.77.8.3 -p 5302 -n 1M --bidir 2>"$WORK/ebidir.err")
rc=$?
set -e
[ $rc != 0 ] && [ "$(json_get "$out" verified)" != true ] || die "--bidir against --epoll not refused: $out"

# kernel baseline: the identical test over kernel sockets
port=$(free_port)
bg "$WORK/ksrv.log" timeout 100 "$XWPERF" -s --kernel -B 127.0.0.1 -p $port
wait_line "$WORK/ksrv.log" listening 10 $LAST_PID
out=$(timeout 60 "$XWPERF" -c 127.0.0.1 -p $port --kernel -n 64M --json); echo "$out"; check "$out"
[ "$(json_get "$out" path)" = '"kernel"' ] || die "kernel path"

# a mismatch must be detected: a kernel "server" that answers with a wrong result
python3 - "$port" >"$WORK/fake.log" 2>&1 <<'PY' &
import socket, struct, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]) + 1)); s.listen(1); print("listening", flush=True)
c, _ = s.accept(); n = -40
while True:
    b = c.recv(65536)
    if not b: break
    n += len(b)
c.sendall(struct.pack(">IIQQQQq", 0x58575052, 0, n, 12345, 0, 0, -1)); c.close()
PY
track $!
wait_line "$WORK/fake.log" listening 10 $LAST_PID
set +e
out=$(timeout 30 "$XWPERF" -c 127.0.0.1 -p $((port + 1)) --kernel -n 1M --json 2>"$WORK/fake.err")
rc=$?
set -e
echo "$out"
[ $rc = 1 ] || die "bad checksum not reported by exit code (rc $rc)"
[ "$(json_get "$out" verified)" = false ] || die "bad checksum: verified not false"
grep -q "VERIFICATION FAILED" "$WORK/fake.err" || die "no message: $(cat "$WORK/fake.err")"
echo PASS

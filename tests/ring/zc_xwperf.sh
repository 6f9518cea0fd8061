#!/bin/bash
# xwperf --zc end to end (include/xway_zc.h): the client writes its pattern
# into reservations, the server checks every byte in place in its views, on the
# ring and on the TCP path (the client's backend off), with the thread-per-
# connection server and the event-loop one; JSON "zc" says so, the server's log
# too; --zc is refused where it cannot run.
source "$(dirname "$0")/../lib.sh"
ring_env "$@"
XW_DIE_SHOW="$WORK/*.log $WORK/*.err"

bg "$WORK/srv.log" on_hub 10.77.61.1/24 timeout 150 "$XWPERF" -s -v
wait_line "$WORK/srv.log" listening 10 $LAST_PID
bg "$WORK/esrv.log" on_hub 10.77.61.3/24 timeout 150 "$XWPERF" -s --epoll -B 10.77.61.3 -p 5302
wait_line "$WORK/esrv.log" listening 10 $LAST_PID

host=10
# run BACKEND ARGS...: one client process (a new address each), its JSON
run() {
    local backend=$1; shift
    host=$((host + 1))
    XWAY_BACKEND=$backend on_hub 10.77.61.$host/24 timeout 60 "$XWPERF" "$@" --json \
        2>>"$WORK/client.err"
}
# zc_ok JSON PATH: verified, zero-copy, on PATH, the payload all on it
zc_ok() {
    json_expect "$1" verified true
    json_expect "$1" zc true
    json_expect "$1" mode '"bulk"'
    json_expect "$1" path "\"$2\""
    if [ "$2" = ring ]; then
        json_expect "$1" fallback '"none"'
        json_expect "$1" tcp_payload_bytes 0
        json_check "$1" 'o["ring_payload_bytes"] >= o["bytes"] > 0 and o["ring_bytes"] > 0'
    else
        json_expect "$1" fallback '"backend-off"'
        json_expect "$1" ring_payload_bytes 0
        json_check "$1" 'o["tcp_payload_bytes"] >= o["bytes"] > 0'
    fi
}

# the ring: 256 MiB, then odd message sizes on 3 connections, then by time
out=$(run sim -c 10.77.61.1 --zc -n 256M); echo "$out"; zc_ok "$out" ring
json_expect "$out" bytes $((256 << 20))
grep -q "bulk zc: 268435456 bytes in, 0 out, verified, path ring" "$WORK/srv.log" ||
    die "server log: $(cat "$WORK/srv.log")"
out=$(run sim -c 10.77.61.1 --zc -n 64M -l 100003 -P 3); echo "$out"; zc_ok "$out" ring
json_expect "$out" bytes $((64 << 20))
[ "$(grep -c "conn ./3 bulk zc: .* verified, path ring" "$WORK/srv.log")" = 3 ] ||
    die "server log: $(cat "$WORK/srv.log")"
out=$(run sim -c 10.77.61.1 --zc -t 1); echo "$out"; zc_ok "$out" ring

# the TCP path
out=$(run off -c 10.77.61.1 --zc -n 64M -l 30000); echo "$out"; zc_ok "$out" tcp
json_expect "$out" bytes $((64 << 20))
grep -q "bulk zc: 67108864 bytes in, 0 out, verified, path tcp" "$WORK/srv.log" ||
    die "server log: $(cat "$WORK/srv.log")"

# the event-loop server checks in place too (nonblocking views)
out=$(run sim -c 10.77.61.3 -p 5302 --zc -n 128M -P 2); echo "$out"; zc_ok "$out" ring
out=$(run off -c 10.77.61.3 -p 5302 --zc -n 32M); echo "$out"; zc_ok "$out" tcp

# without --zc: "zc": false, the server copies as before
out=$(run sim -c 10.77.61.1 -n 16M); echo "$out"
json_expect "$out" verified true
json_expect "$out" zc false
grep -q "conn 1/1 bulk: 16777216 bytes in, 0 out, verified, path ring" "$WORK/srv.log" ||
    die "server log: $(cat "$WORK/srv.log")"

# refused, with a message, before anything starts
refused() { # WHAT ARGS...
    local what=$1 rc=0; shift
    "$XWPERF" "$@" >"$WORK/refused.out" 2>"$WORK/refused.err" || rc=$?
    [ $rc = 2 ] || die "xwperf $* (exit $rc): not refused"
    grep -q -- "--zc: .*$what" "$WORK/refused.err" || die "xwperf $*: $(cat "$WORK/refused.err")"
}
refused "kernel's sockets" --zc --kernel -c 127.0.0.1 -p 5399 -n 1M
refused "kernel's sockets" --zc --unix "$WORK/x.sock" -n 1M
refused "bulk tests only" --zc --rr -c 10.77.61.1
refused "bulk tests only" --zc --bidir -c 10.77.61.1
refused "bulk tests only" --zc --connect-rate 5 -c 10.77.61.1
refused "client option" --zc -s
"$XWPERF" --help | grep -q -- "--zc" || die "--help does not describe --zc"
echo PASS

# Sourced after lib.sh: run one of our test programs against xs_peer (peer.c)
# twice, with the same assertions: on kernel sockets over 127.0.0.1 without the
# shim, then with both ends under xway-run on the hub, co-resident (the ring).
# pair PROG NET PORT [ARGS...]: addresses 10.77.NET.1 (peer) and .2, ports PORT
# (xway) and PORT+1 (kernel).  Outputs: $T/k.out, $T/x.out, $T/x.err (shim log).
pair() {
    local prog=$1 net=$2 port=$3
    shift 3
    bg timeout 50 env -u LD_PRELOAD "$B/tests/shim/xs_peer" 127.0.0.1 $((port + 1)) \
        >"$T/kpeer.out" 2>"$T/kpeer.err"
    wait_log "$T/kpeer.out" listening
    timeout 50 env -u LD_PRELOAD "$B/tests/shim/$prog" kernel 127.0.0.1 $((port + 1)) "$@" \
        >"$T/k.out" 2>"$T/k.err" || fail "kernel run: $(cat "$T/k.out")"
    bg timeout 50 env XWAY_ADDR=10.77.$net.1/24 "$RUN" "$B/tests/shim/xs_peer" 10.77.$net.1 $port \
        >"$T/xpeer.out" 2>"$T/xpeer.err"
    wait_log "$T/xpeer.out" listening
    timeout 50 env XWAY_ADDR=10.77.$net.2/24 "$RUN" "$B/tests/shim/$prog" xway 10.77.$net.1 $port "$@" \
        >"$T/x.out" 2>"$T/x.err" || fail "xway run: $(cat "$T/x.out")"
    ring_used "$T/x.err"
    ring_used "$T/xpeer.err"
}

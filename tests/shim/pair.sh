# Sourced after tests/lib.sh and shim_env: run one of our test programs against
# xs_peer (peer.c) twice, with the same assertions: on kernel sockets over 127.0.0.1 without the
# shim, then with both ends under xway-run on the hub, co-resident (the ring).
# pair PROG NET PORT [ARGS...]: addresses 10.77.NET.1 (peer) and .2, ports PORT
# (xway) and PORT+1 (kernel).  Outputs: $WORK/k.out, $WORK/x.out, $WORK/x.err (shim log).
pair() {
    local prog=$1 net=$2 port=$3
    shift 3
    bg -e "$WORK/kpeer.err" "$WORK/kpeer.out" \
        timeout 50 env -u LD_PRELOAD "$BUILD/tests/shim/xs_peer" 127.0.0.1 $((port + 1))
    wait_line "$WORK/kpeer.out" listening 10 $LAST_PID
    timeout 50 env -u LD_PRELOAD "$BUILD/tests/shim/$prog" kernel 127.0.0.1 $((port + 1)) "$@" \
        >"$WORK/k.out" 2>"$WORK/k.err" || die "kernel run: $(cat "$WORK/k.out")"
    bg -e "$WORK/xpeer.err" "$WORK/xpeer.out" \
        timeout 50 env XWAY_ADDR=10.77.$net.1/24 "$RUN" "$BUILD/tests/shim/xs_peer" 10.77.$net.1 $port
    wait_line "$WORK/xpeer.out" listening 10 $LAST_PID
    timeout 50 env XWAY_ADDR=10.77.$net.2/24 "$RUN" "$BUILD/tests/shim/$prog" xway 10.77.$net.1 $port "$@" \
        >"$WORK/x.out" 2>"$WORK/x.err" || die "xway run: $(cat "$WORK/x.out")"
    ring_used "$WORK/x.err"
    ring_used "$WORK/xpeer.err"
}

# pair_tcp PROG NET PORT [ARGS...]: once more under xway-run, the program's
# backend off: its connections take the stack's TCP path (mode "tcp"); the
# peer at 10.77.NET.4, the program at .3.
# Outputs: $WORK/t.out, $WORK/t.err.
pair_tcp() {
    local prog=$1 net=$2 port=$3
    shift 3
    bg -e "$WORK/tpeer.err" "$WORK/tpeer.out" \
        timeout 50 env XWAY_ADDR=10.77.$net.4/24 "$RUN" "$BUILD/tests/shim/xs_peer" 10.77.$net.4 $port
    wait_line "$WORK/tpeer.out" listening 10 $LAST_PID
    timeout 50 env XWAY_ADDR=10.77.$net.3/24 XWAY_BACKEND=off "$RUN" "$BUILD/tests/shim/$prog" tcp \
        10.77.$net.4 $port "$@" >"$WORK/t.out" 2>"$WORK/t.err" || die "tcp run: $(cat "$WORK/t.out")"
}

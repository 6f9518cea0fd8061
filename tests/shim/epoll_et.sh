# Edge-triggered epoll over 500 connections through the shim (tests/shim/epoll_et.c).
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
N=500
export XWAY_RING=64K
bg -e "$WORK/srv.err" "$WORK/srv.out" \
    timeout 100 env XWAY_ADDR=10.77.5.1/24 "$RUN" "$BUILD/tests/shim/xs_epoll_et" server 10.77.5.1 41560 $N
SRV=$LAST_PID
wait_line "$WORK/srv.out" listening 10 $SRV
timeout 100 env XWAY_ADDR=10.77.5.2/24 "$RUN" "$BUILD/tests/shim/xs_epoll_et" client 10.77.5.1 41560 $N 200000 \
    >"$WORK/cli.out" 2>"$WORK/cli.err" || die "client: $(cat "$WORK/cli.out")"
wait "$SRV" || die "server exit status"
grep -q "verified $N connections" "$WORK/cli.out" || die "client did not verify"
[ "$(grep -c 'ring path' "$WORK/cli.err")" = $N ] || die "not every connection on the ring"
echo "ok: $N connections, edge-triggered epoll, all on the ring"

# Edge-triggered epoll over 500 connections through the shim (tests/shim/epoll_et.c).
. "$(dirname "$0")/lib.sh"
N=500
export XWAY_RING=64K
bg timeout 100 env XWAY_ADDR=10.77.5.1/24 "$RUN" "$B/tests/shim/xs_epoll_et" server 10.77.5.1 41560 $N \
    >"$T/srv.out" 2>"$T/srv.err"
SRV=$!
wait_log "$T/srv.out" listening
timeout 100 env XWAY_ADDR=10.77.5.2/24 "$RUN" "$B/tests/shim/xs_epoll_et" client 10.77.5.1 41560 $N 200000 \
    >"$T/cli.out" 2>"$T/cli.err" || fail "client: $(cat "$T/cli.out")"
wait "$SRV" || fail "server exit status"
grep -q "verified $N connections" "$T/cli.out" || fail "client did not verify"
[ "$(grep -c 'ring path' "$T/cli.err")" = $N ] || fail "not every connection on the ring"
echo "ok: $N connections, edge-triggered epoll, all on the ring"

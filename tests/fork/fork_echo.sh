# A forking echo server under xway-run (tests/fork/fork_echo.c): children serve
# connections the parent accepted on the ring, one execs cat on its socket, the
# parent serves one after forking; every byte checked by the client.
. "$2/tests/shim/lib.sh"
N=9
bg timeout 100 env XWAY_ADDR=10.77.9.1/24 "$RUN" "$B/tests/fork/fork_echo" server 10.77.9.1 41590 $N \
    >"$T/srv.out" 2>"$T/srv.err"
SRV=$!
wait_log "$T/srv.out" listening
timeout 100 env XWAY_ADDR=10.77.9.2/24 "$RUN" "$B/tests/fork/fork_echo" client 10.77.9.1 41590 $N 3000000 \
    >"$T/cli.out" 2>"$T/cli.err" || fail "client: $(cat "$T/cli.out")"
wait "$SRV" || fail "server: $(cat "$T/srv.out")"
grep -q "verified $N of $N" "$T/cli.out" || fail "client did not verify"
grep -q "served $N connections, 0 bad" "$T/srv.out" || fail "server: $(cat "$T/srv.out")"
[ "$(grep -c 'ring path' "$T/cli.err")" = $N ] || fail "not every connection on the ring"
[ "$(grep -c 'handed to its kernel fd' "$T/srv.err")" -ge $N ] || fail "connections not handed off"
echo "ok: $N connections served by forked children (one exec'ing cat) and the parent, all on the ring"

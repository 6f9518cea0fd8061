# A forking echo server under xway-run (tests/fork/fork_echo.c): children serve
# connections the parent accepted on the ring, one execs cat on its socket, the
# parent serves one after forking; every byte checked by the client.
. "$2/tests/lib.sh"
shim_env "$@"
N=9
bg -e "$WORK/srv.err" "$WORK/srv.out" \
    timeout 100 env XWAY_ADDR=10.77.9.1/24 "$RUN" "$BUILD/tests/fork/fork_echo" server 10.77.9.1 41590 $N
SRV=$LAST_PID
wait_line "$WORK/srv.out" listening 10 $SRV
timeout 100 env XWAY_ADDR=10.77.9.2/24 "$RUN" "$BUILD/tests/fork/fork_echo" client 10.77.9.1 41590 $N 3000000 \
    >"$WORK/cli.out" 2>"$WORK/cli.err" || die "client: $(cat "$WORK/cli.out")"
wait "$SRV" || die "server: $(cat "$WORK/srv.out")"
grep -q "verified $N of $N" "$WORK/cli.out" || die "client did not verify"
grep -q "served $N connections, 0 bad" "$WORK/srv.out" || die "server: $(cat "$WORK/srv.out")"
[ "$(grep -c 'ring path' "$WORK/cli.err")" = $N ] || die "not every connection on the ring"
[ "$(grep -c 'handed to its kernel fd' "$WORK/srv.err")" -ge $N ] || die "connections not handed off"
echo "ok: $N connections served by forked children (one exec'ing cat) and the parent, all on the ring"

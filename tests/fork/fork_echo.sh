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

# An idle pumped connection costs no wake-ups: the pump's threads sleep until
# something happens (a keeper's pause interrupts them), where they used to
# wake 4 times a second.  On the TCP path (the client's backend off), whose
# waits have no liveness slices of their own.
bg -e "$WORK/idle-srv.err" "$WORK/idle-srv.out" \
    timeout 100 env XWAY_ADDR=10.77.9.1/24 "$RUN" "$BUILD/tests/fork/fork_echo" server 10.77.9.1 41591 1
SRV=$LAST_PID
wait_line "$WORK/idle-srv.out" listening 10 $SRV
(sleep 2.5; printf 'idle, then this\n') | timeout 20 env XWAY_ADDR=10.77.9.3/24 XWAY_BACKEND=off \
    "$RUN" nc -N 10.77.9.1 41591 >"$WORK/idle.got" 2>"$WORK/idle.err" &
CLI=$!
sleep 1
# voluntary context switches of the server's pump threads (named xway-pump)
pump_wakes() {
    local t=0 n=0 p s
    for p in $(pgrep -f "fork_echo server 10.77.9.1 41591"); do
        for s in /proc/$p/task/*; do
            [ "$(cat "$s/comm" 2>/dev/null)" = xway-pump ] || continue
            n=$((n + 1))
            t=$((t + $(awk '/^voluntary_ctxt_switches/ {print $2}' "$s/status")))
        done
    done
    echo "$n $t"
}
read -r n1 w1 < <(pump_wakes)
sleep 1
read -r n2 w2 < <(pump_wakes)
wait $CLI || die "idle client: $(cat "$WORK/idle.err")"
wait "$SRV" || die "idle server: $(cat "$WORK/idle-srv.out")"
[ "$(cat "$WORK/idle.got")" = "idle, then this" ] || die "idle connection: got '$(cat "$WORK/idle.got")'"
[ "$n1" = 2 ] && [ "$n2" = 2 ] || die "idle connection: $n1/$n2 pump threads, not 2"
[ $((w2 - w1)) -le 1 ] || die "idle pumps woke $((w2 - w1)) times in 1 s"
echo "ok: an idle pumped connection: its 2 pump threads woke $((w2 - w1)) times in 1 s"

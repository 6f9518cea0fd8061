# A forking echo server under xway-run (tests/fork/fork_echo.c): children serve
# connections the parent accepted on the ring (claimed from the parent's pump:
# served in the child), one execs cat on its socket (pumped), the parent
# serves one after forking (pumped); every byte checked by the client.
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
# Connections 0, 3, 6: the child alone keeps them, and claims them.
[ "$(grep -c 'claimed from the owner.s pump: served in this process' "$WORK/srv.err")" = $((N / 3)) ] ||
    die "fork per connection: $(grep -c 'claimed from' "$WORK/srv.err") of $((N / 3)) claimed by their child"
echo "ok: $N connections served by forked children (one exec'ing cat) and the parent, all on the ring; $((N / 3)) served in the child"

# An idle pumped connection costs (almost) no wake-ups: the pump's threads
# sleep until something happens (a keeper's pause interrupts them), where they
# used to wake 4 times a second.  On the TCP path (the client's backend off)
# nothing wakes them; on the ring, the ring path's liveness probes (100 ms,
# doubling while nothing happens, up to 1.6 s; they were every 100 ms).
pump_wakes() { # PORT: threads named xway-pump in the server, their voluntary switches
    local t=0 n=0 p s
    for p in $(pgrep_here -f "fork_echo server 10.77.9.1 $1"); do
        for s in /proc/$p/task/*; do
            [ "$(cat "$s/comm" 2>/dev/null)" = xway-pump ] || continue
            n=$((n + 1))
            t=$((t + $(awk '/^voluntary_ctxt_switches/ {print $2}' "$s/status")))
        done
    done
    echo "$n $t"
}
idle_case() { # PORT BACKEND MAX-WAKES
    local port=$1 srv cli n1 w1 n2 w2
    bg -e "$WORK/idle$port.srv.err" "$WORK/idle$port.srv.out" \
        timeout 100 env XWAY_ADDR=10.77.9.1/24 "$RUN" "$BUILD/tests/fork/fork_echo" server 10.77.9.1 $port 1 2
    srv=$LAST_PID
    wait_line "$WORK/idle$port.srv.out" listening 10 $srv
    (sleep 3.5; printf 'idle, then this\n') | timeout 20 env XWAY_ADDR=10.77.9.3/24 XWAY_BACKEND=$2 \
        "$RUN" nc -N 10.77.9.1 $port >"$WORK/idle$port.got" 2>"$WORK/idle$port.err" &
    cli=$!
    sleep 1.5
    read -r n1 w1 < <(pump_wakes $port)
    sleep 1
    read -r n2 w2 < <(pump_wakes $port)
    wait $cli || die "idle client ($2): $(cat "$WORK/idle$port.err")"
    wait "$srv" || die "idle server ($2): $(cat "$WORK/idle$port.srv.out")"
    [ "$(cat "$WORK/idle$port.got")" = "idle, then this" ] ||
        die "idle connection ($2): got '$(cat "$WORK/idle$port.got")'"
    [ "$n1" = 2 ] && [ "$n2" = 2 ] || die "idle connection ($2): $n1/$n2 pump threads, not 2"
    [ $((w2 - w1)) -le "$3" ] || die "idle pumps ($2) woke $((w2 - w1)) times in 1 s"
    echo "ok: an idle pumped connection ($2): its 2 pump threads woke $((w2 - w1)) times in 1 s"
}
idle_case 41591 off 1
idle_case 41592 sim 2

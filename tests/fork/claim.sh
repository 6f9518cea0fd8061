# Fork per connection on the ring, with our own programs only (so that it
# runs under make asan too): the parent accepts and forks a child per
# connection, which alone keeps it and claims it from the parent's pump
# (shim/claim.c): the child serves it itself, on the ring (also after the
# client's FIN came through the pump).  Also with the
# child's two directions in two threads at once (calls in libc on the number
# while it is claimed), and when the parent exits while its children serve
# (its stack goes on in a keeper).  Every byte checked by the client.
. "$2/tests/lib.sh"
shim_env "$@"
port=41620
run_case() { # FIRST N BYTES WHAT [BACKEND: the client's; off: the TCP path, pumped]
    local first=$1 n=$2 bytes=$3 what=$4 backend=${5:-sim} srv k path=ring claims=$2
    port=$((port + 1))
    bg -e "$WORK/$port.srv.err" "$WORK/$port.srv.out" \
        timeout 100 env XWAY_ADDR=10.77.9.1/24 "$RUN" "$BUILD/tests/fork/fork_echo" server 10.77.9.1 $port $n $first
    srv=$LAST_PID
    wait_line "$WORK/$port.srv.out" listening 10 $srv
    [ "$backend" = off ] && path=tcp claims=0
    timeout 100 env XWAY_ADDR=10.77.9.2/24 XWAY_BACKEND=$backend "$RUN" "$BUILD/tests/fork/fork_echo" client 10.77.9.1 $port $n $bytes \
        >"$WORK/$port.cli.out" 2>"$WORK/$port.cli.err" ||
        die "$what: client: $(cat "$WORK/$port.cli.out" "$WORK/$port.srv.err")"
    wait "$srv" || die "$what: server: $(cat "$WORK/$port.srv.out" "$WORK/$port.srv.err")"
    grep -q "verified $n of $n" "$WORK/$port.cli.out" || die "$what: client did not verify"
    [ "$(grep -c "$path path" "$WORK/$port.cli.err")" = $n ] || die "$what: not every connection on the $path path"
    [ "$(grep -c 'claimed from the owner.s pump: served in this process' "$WORK/$port.srv.err")" = $claims ] ||
        die "$what: $(grep -c 'claimed from' "$WORK/$port.srv.err") of $n served in their child, not $claims: $(grep -i claim "$WORK/$port.srv.err" | head -5)"
    if [ "$first" = -1 ]; then
        grep -q "forked $n children, exiting" "$WORK/$port.srv.out" || die "$what: $(cat "$WORK/$port.srv.out")"
        k=$(sed -n 's/.*live on in keeper \([0-9]*\).*/\1/p' "$WORK/$port.srv.err" | head -1)
        [ -n "$k" ] || die "$what: no keeper took the parent's stack over"
        for _ in $(seq 100); do kill -0 "$k" 2>/dev/null || break; sleep 0.1; done
        ! kill -0 "$k" 2>/dev/null || die "$what: keeper $k outlived the children"
    else
        grep -q "served $n connections, 0 bad" "$WORK/$port.srv.out" || die "$what: $(cat "$WORK/$port.srv.out")"
    fi
    echo "ok: $what: $n connections x $bytes bytes each way on the $path path, $claims served by their child itself, intact"
}
run_case -2 6 4000000 "fork per connection"
# (the whole request and the client's FIN often pumped before the child reads)
run_case -2 4 100 "fork per connection, 100-byte requests"
run_case -3 6 4000000 "fork per connection, two threads per child"
run_case -1 4 16000000 "fork per connection, the parent gone mid-transfer"
# A child killed (-9) mid-transfer on its claimed connection: its client gets
# an error or an early EOF (prefork crash-client), the next children serve.
port=$((port + 1))
bg -e "$WORK/crash.srv.err" "$WORK/crash.srv.out" \
    timeout 100 env XWAY_ADDR=10.77.9.1/24 "$RUN" "$BUILD/tests/fork/fork_echo" server 10.77.9.1 $port 3 -2
srv=$LAST_PID
wait_line "$WORK/crash.srv.out" listening 10 $srv
timeout 60 env XWAY_ADDR=10.77.9.3/24 "$RUN" "$BUILD/tests/fork/prefork" crash-client 10.77.9.1 $port \
    >"$WORK/crash.cli.out" 2>"$WORK/crash.cli.err" || die "crash client: $(cat "$WORK/crash.cli.out")"
grep -q "got 65536 back" "$WORK/crash.cli.out" || die "crash client: $(cat "$WORK/crash.cli.out")"
timeout 100 env XWAY_ADDR=10.77.9.2/24 "$RUN" "$BUILD/tests/fork/fork_echo" client 10.77.9.1 $port 2 300000 \
    >"$WORK/crash.cli2.out" 2>"$WORK/crash.cli2.err" || die "after the crash: $(cat "$WORK/crash.cli2.out")"
wait "$srv" || : # (1: a child was killed)
grep -q "served 3 connections, 1 bad" "$WORK/crash.srv.out" || die "crash server: $(cat "$WORK/crash.srv.out")"
grep -q "verified 2 of 2" "$WORK/crash.cli2.out" || die "after the crash: client did not verify"
[ "$(grep -c 'claimed from the owner.s pump: served in this process' "$WORK/crash.srv.err")" = 3 ] ||
    die "crash: not every connection served by its child"
echo "ok: a child killed mid-transfer: its client $(sed 's/.*ended with/ended with/' "$WORK/crash.cli.out"), the next 2 served intact"

# On the TCP path the child has no lwIP to serve it: it stays pumped.
run_case -2 3 1000000 "fork per connection, TCP path" off

# Pre-fork workers (tests/fork/prefork.c): the parent listens, two workers
# accept (blocking, poll, epoll, EPOLLEXCLUSIVE, an accept mutex; also after the
# listener's process daemonized: fork + exit, double fork + setsid; and after the
# parent closed its copy of the listener; on duplicates of it; in workers that
# chroot into an empty directory and become nobody first; when the server
# became nobody before its first socket; on SO_REUSEPORT listeners each worker
# opens itself; by a helper each worker forks per connection, or a program the
# helper execs on it; and when the owner exits mid-transfer), natively and
# under xway-run with the same client checking every byte; under xway-run the
# connections take the ring and every one is served by a worker, itself on
# the ring (a satellite; also after it chrooted or gave up root: the owner
# opens the sim host's files for it); a connection a worker passes to a helper
# it forks (or a program it execs) is given back to the owner, which pumps it.
. "$2/tests/lib.sh"
shim_env "$@"
N=12
port=41600
run_mode() { # MODE kernel|xway
    local mode=$1 how=$2 srv=127.0.0.1 cli=127.0.0.1 run=()
    port=$((port + 1))
    if [ "$how" = xway ]; then
        srv=10.77.9.1 cli=10.77.9.2 run=("$RUN")
    fi
    bg -e "$WORK/$mode-$how.srv.err" "$WORK/$mode-$how.srv.out" \
        timeout 100 env XWAY_ADDR=$srv/24 "${run[@]}" "$BUILD/tests/fork/prefork" $mode $srv $port 2 $N
    local s=$LAST_PID
    wait_line "$WORK/$mode-$how.srv.out" listening 10 $s
    timeout 100 env XWAY_ADDR=$cli/24 "${run[@]}" "$BUILD/tests/fork/fork_echo" client $srv $port $N 300000 \
        >"$WORK/$mode-$how.cli.out" 2>"$WORK/$mode-$how.cli.err" ||
        die "$mode/$how client: $(cat "$WORK/$mode-$how.cli.out" "$WORK/$mode-$how.srv.err")"
    wait "$s" || die "$mode/$how server: $(cat "$WORK/$mode-$how.srv.out" "$WORK/$mode-$how.srv.err")"
    # A daemon's parent is gone already: its server reports when it is done.
    wait_line "$WORK/$mode-$how.srv.out" "served $N connections" 30 ||
        die "$mode/$how server: $(cat "$WORK/$mode-$how.srv.out")"
    grep -q "verified $N of $N" "$WORK/$mode-$how.cli.out" || die "$mode/$how: client did not verify"
    grep -q "served $N connections, 0 bad" "$WORK/$mode-$how.srv.out" ||
        die "$mode/$how server: $(cat "$WORK/$mode-$how.srv.out")"
    if [ "$how" = xway ]; then
        [ "$(grep -c 'ring path' "$WORK/$mode-$how.cli.err")" = $N ] ||
            die "$mode: not every connection on the ring"
        [ "$(grep -c 'from the owner.s listener (ring path' "$WORK/$mode-$how.srv.err")" = $N ] ||
            die "$mode: not every connection accepted by a worker: $(cat "$WORK/$mode-$how.srv.err")"
        [ "$(grep -c "listener (ring path, served in this process" "$WORK/$mode-$how.srv.err")" = $N ] ||
            die "$mode: not every connection served by its worker itself: $(cat "$WORK/$mode-$how.srv.err")"
        case $mode in helper:* | exec:*)
            [ "$(grep -c "ring connection given back to the owner" "$WORK/$mode-$how.srv.err")" = $N ] ||
                die "$mode: not every connection given back for the helper"
            ;;
        esac
        case $mode in closer:*)
            grep -q "listener closed by this process, kept open" "$WORK/$mode-$how.srv.err" ||
                die "$mode: the closed listener was not kept for the workers"
            ;;
        own:*)
            [ "$(grep -c "listening through the owner's stack" "$WORK/$mode-$how.srv.err")" = 2 ] ||
                die "$mode: the workers' own listeners are not the owner's stack's"
            ;;
        daemon:* | double:* | drop:*)
            case $mode in drop:*)
                grep -q "giving up root: the stack goes on as root in a keeper" "$WORK/$mode-$how.srv.err" ||
                    die "$mode: no keeper kept the stack's privileges"
                ;;
            esac
            # The listener's process exited (or gave up root): a keeper held
            # its stack, and ends with the server (the address is free again).
            local k
            k=$(grep -ao "keeper [0-9]*: the listeners" "$WORK/$mode-$how.srv.err" | awk '{print $2}' | tr -d :)
            [ -n "$k" ] || die "$mode: no keeper: $(cat "$WORK/$mode-$how.srv.err")"
            # It carried on as the server's domain: the client (started after
            # the listener's process exited) did not get the same domain id.
            local sd cd
            sd=$(grep -ao "backend sim: domain [0-9]*" "$WORK/$mode-$how.srv.err" | head -1)
            cd=$(grep -ao "backend sim: domain [0-9]*" "$WORK/$mode-$how.cli.err" | head -1)
            [ -n "$sd" ] && [ -n "$cd" ] && [ "$sd" != "$cd" ] ||
                die "$mode: the keeper lost the server's domain (server '$sd', client '$cd')"
            for _ in $(seq 100); do kill -0 "$k" 2>/dev/null || break; sleep 0.1; done
            ! kill -0 "$k" 2>/dev/null || die "$mode: keeper $k outlived the server"
            ;;
        esac
    fi
    echo "ok: $mode/$how: $(tail -1 "$WORK/$mode-$how.srv.out")"
}
# jail: and drop: need root (CI runs as root).
jail="jail:epoll drop:epoll"
[ "$(id -u)" = 0 ] || { jail=""; echo "not root: jail:epoll and drop:epoll not run"; }
for mode in block poll epoll epollex mutex daemon:epoll double:block closer:epoll dup:epoll own:epoll \
    helper:block exec:epoll $jail; do
    run_mode $mode kernel
    run_mode $mode xway
done

# A worker killed (-9) mid-transfer: its client gets an error or an early EOF,
# the other worker goes on serving everyone else.
port=$((port + 1))
bg -e "$WORK/crash.srv.err" "$WORK/crash.srv.out" \
    timeout 100 env XWAY_ADDR=10.77.9.1/24 "$RUN" "$BUILD/tests/fork/prefork" block 10.77.9.1 $port 2 $N
s=$LAST_PID
wait_line "$WORK/crash.srv.out" listening 10 $s
timeout 60 env XWAY_ADDR=10.77.9.3/24 "$RUN" "$BUILD/tests/fork/prefork" crash-client 10.77.9.1 $port \
    >"$WORK/crash.cli.out" 2>"$WORK/crash.cli.err" || die "crash client: $(cat "$WORK/crash.cli.out")"
grep -q "got 65536 back" "$WORK/crash.cli.out" || die "crash client: $(cat "$WORK/crash.cli.out")"
timeout 100 env XWAY_ADDR=10.77.9.2/24 "$RUN" "$BUILD/tests/fork/fork_echo" client 10.77.9.1 $port $N 300000 \
    >"$WORK/crash.cli2.out" 2>"$WORK/crash.cli2.err" || die "after the crash: $(cat "$WORK/crash.cli2.out")"
wait "$s" || die "crash server: $(cat "$WORK/crash.srv.out")"
grep -q "verified $N of $N" "$WORK/crash.cli2.out" || die "after the crash: client did not verify"
grep -q "served $N connections, 0 bad, by 1 workers" "$WORK/crash.srv.out" ||
    die "crash server: $(cat "$WORK/crash.srv.out")"
echo "ok: crash: $(cat "$WORK/crash.cli.out"); then $(tail -1 "$WORK/crash.srv.out")"

# The listener's process killed (-9, so no keeper): the workers' listener
# becomes their kernel twin (kernel clients still served), and a worker in
# epoll_wait does not spin on the dead half.
port=$((port + 1))
bg -e "$WORK/orphan.srv.err" "$WORK/orphan.srv.out" \
    timeout 100 env XWAY_ADDR=10.77.9.1/24 "$RUN" "$BUILD/tests/fork/prefork" orphan:epoll 10.77.9.1 $port 2 1000
wait_line "$WORK/orphan.srv.out" listening 10 $LAST_PID
read -r parent w1 w2 < <(sed -n 's/.*parent \([0-9]*\), workers \([0-9]*\) \([0-9]*\)/\1 \2 \3/p' "$WORK/orphan.srv.out")
kill -9 "$parent"
sleep 0.5
timeout 60 "$BUILD/tests/fork/fork_echo" client 127.0.0.1 $port 4 300000 >"$WORK/orphan.cli.out" 2>&1 ||
    die "after the owner's death: $(cat "$WORK/orphan.cli.out" "$WORK/orphan.srv.err")"
grep -q "verified 4 of 4" "$WORK/orphan.cli.out" || die "after the owner's death: not verified"
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
c1=$(($(cpu $w1) + $(cpu $w2)))
sleep 1
c2=$(($(cpu $w1) + $(cpu $w2)))
kill "$w1" "$w2"
[ $((c2 - c1)) -le 10 ] || die "workers spin after the owner's death: $((c2 - c1)) ticks in 1 s"
echo "ok: owner killed: kernel clients served by the workers, $((c2 - c1)) ticks of CPU idle in 1 s"

# The owner exits (as exit() does: its stack goes on in a keeper) while a
# worker serves a ring connection itself: the keeper goes on forwarding the
# channel's events, the transfer completes, every byte checked.
port=$((port + 1))
bg -e "$WORK/oexit.srv.err" "$WORK/oexit.srv.out" \
    timeout 100 env XWAY_ADDR=10.77.9.1/24 "$RUN" "$BUILD/tests/fork/prefork" leave:block 10.77.9.1 $port 1 1
wait_line "$WORK/oexit.srv.out" listening 10 $LAST_PID
w=$(sed -n 's/.*workers \([0-9]*\)$/\1/p' "$WORK/oexit.srv.out")
timeout 100 env XWAY_ADDR=10.77.9.2/24 "$RUN" "$BUILD/tests/fork/fork_echo" client 10.77.9.1 $port 1 400000000 \
    >"$WORK/oexit.cli.out" 2>"$WORK/oexit.cli.err" || die "owner exits: client: $(cat "$WORK/oexit.cli.out")"
kill "$w" 2>/dev/null || true
grep -q "verified 1 of 1" "$WORK/oexit.cli.out" || die "owner exits: not verified"
grep -q "owner exits mid-transfer" "$WORK/oexit.srv.out" || die "owner exits: $(cat "$WORK/oexit.srv.out")"
grep -q "served in this process" "$WORK/oexit.srv.err" || die "owner exits: the worker was not a satellite"
grep -q "live on in keeper" "$WORK/oexit.srv.err" || die "owner exits: no keeper"
echo "ok: the owner exited mid-transfer, its keeper carried the worker's ring connection: 400 MB echoed intact"

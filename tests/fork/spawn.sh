# A connection given to another program or process (tests/fork/spawn.c):
# posix_spawn and vfork children on the connection, a server that execs
# itself into another program on it (no fork), a child that serves a
# connection after the process that accepted it exited — natively and under
# xway-run with the same client (spawn client: sends 8 MiB, half-closes; what
# comes back is checked: sha256sum's line, or the echo).  Under xway-run the connections
# take the ring; after exec and after the parent's exit a keeper carries them.
. "$2/tests/lib.sh"
shim_env "$@"
BYTES=8388608
want=$("$BUILD/tests/fork/spawn" pattern $BYTES | sha256sum | cut -d' ' -f1)
port=41730
serve() { # MODE kernel|xway COUNT
    local mode=$1 how=$2 count=$3 srv=127.0.0.1 cli=127.0.0.1 run=() i
    port=$((port + 1))
    [ "$how" = xway ] && srv=10.77.9.1 cli=10.77.9.2 run=("$RUN")
    local tag=$WORK/$mode-$how
    bg -e "$tag.srv.err" "$tag.srv.out" \
        timeout 60 env XWAY_ADDR=$srv/24 "${run[@]}" "$BUILD/tests/fork/spawn" $mode $srv $port $count
    local s=$LAST_PID
    wait_line "$tag.srv.out" listening 10 $s
    for i in $(seq "$count"); do
        timeout 60 env XWAY_ADDR=$cli/24 "${run[@]}" "$BUILD/tests/fork/spawn" client $srv $port $BYTES \
            >"$tag.got$i" 2>"$tag.cli$i.err" || die "$mode/$how: client $i: $(cat "$tag.cli$i.err")"
        if [ $mode = parentexit ]; then
            [ "$(sha256sum <"$tag.got$i" | cut -d' ' -f1)" = "$want" ] ||
                die "$mode/$how: the echo of connection $i differs ($(wc -c <"$tag.got$i") bytes)"
        else
            [ "$(cut -d' ' -f1 <"$tag.got$i")" = "$want" ] ||
                die "$mode/$how: connection $i: sha256sum said '$(cat "$tag.got$i")'"
        fi
        [ $how = kernel ] || ring_used "$tag.cli$i.err"
    done
    wait $s || die "$mode/$how server: $(cat "$tag.srv.out" "$tag.srv.err")"
    case $mode in
    spawn | vfork) grep -q "served $count" "$tag.srv.out" || die "$mode/$how: $(cat "$tag.srv.out")" ;;
    parentexit) wait_line "$tag.srv.out" "child echoed" 10 ;;
    esac
    if [ $how = xway ]; then
        case $mode in
        exec | parentexit)
            grep -q "live on in keeper" "$tag.srv.err" ||
                die "$mode: no keeper took the connection: $(cat "$tag.srv.err")"
            ;;
        esac
    fi
    echo "ok: $mode/$how: $count x 8 MiB intact"
}
for mode in spawn vfork exec parentexit; do
    count=1
    case $mode in spawn | vfork) count=3 ;; esac
    serve $mode kernel $count
    serve $mode xway $count
done

# A client that gives root up and execs (setpriv, as su-like programs do):
# its stack starts as root and goes to a keeper at the setresuid; the new image
# (nobody, who cannot reach the hub or the sim host) is the keeper's client, as
# a forked child is (the exec passes the owner on), and its connection takes
# the ring through it.  (Addresses of their own: the keepers of the cases above
# may still be letting theirs go.)
# (Under make asan the program that execs must be instrumented too: spawn
# drop stands in for setpriv.)
drop=(setpriv --reuid=65534 --regid=65534 --clear-groups)
[ -n "${ASAN_OPTIONS:-}" ] && drop=("$BUILD/tests/fork/spawn" drop 65534)
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    port=$((port + 1))
    bg -e "$WORK/sp.srv.err" "$WORK/sp.srv.out" \
        timeout 60 env XWAY_ADDR=10.77.9.5/24 "$RUN" "$BUILD/tests/fork/spawn" spawn 10.77.9.5 $port 1
    s=$LAST_PID
    wait_line "$WORK/sp.srv.out" listening 10 $s
    timeout 60 env XWAY_ADDR=10.77.9.6/24 "$RUN" "${drop[@]}" \
        "$BUILD/tests/fork/spawn" client 10.77.9.5 $port $BYTES >"$WORK/sp.got" 2>"$WORK/sp.cli.err" ||
        die "setpriv client: $(cat "$WORK/sp.cli.err")"
    [ "$(cut -d' ' -f1 <"$WORK/sp.got")" = "$want" ] || die "setpriv client: got '$(cat "$WORK/sp.got")'"
    grep -q "giving up root" "$WORK/sp.cli.err" || die "setpriv: no keeper at setresuid"
    grep -q "connected through the owner's stack (ring path" "$WORK/sp.cli.err" ||
        die "setpriv: the new image's connection is not the keeper's, on the ring"
    wait $s || die "setpriv: server: $(cat "$WORK/sp.srv.err")"
    echo "ok: setpriv (give root up, exec): connected through the keeper, on the ring, 8 MiB intact"
else
    echo "not root (or no setpriv): the setpriv case not run"
fi

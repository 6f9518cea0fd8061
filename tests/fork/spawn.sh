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

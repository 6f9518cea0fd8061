# Forked children connect out (tests/fork/outgoing.c), blocking and
# nonblocking (EPOLLOUT edge, SO_ERROR), and from a program each child execs
# (the exec passes the owner on), natively and under xway-run with the
# same assertions: every byte of each echo checked, a port where nothing
# listens refused.  Under xway-run the children's connections are made by
# their parent's stack (the owner) and take the ring.
. "$2/tests/lib.sh"
shim_env "$@"
port=41780
for mode in block nonblock exec; do
    for how in kernel xway; do
        port=$((port + 2))
        srv=127.0.0.1 cli=127.0.0.1 run=()
        [ $how = xway ] && srv=10.77.9.1 cli=10.77.9.2 run=("$RUN")
        tag=$WORK/$mode-$how
        bg -e "$tag.srv.err" "$tag.srv.out" \
            timeout 60 env XWAY_ADDR=$srv/24 "${run[@]}" "$BUILD/tests/fork/prefork" block $srv $port 2 5
        s=$LAST_PID
        wait_line "$tag.srv.out" listening 10 $s
        timeout 60 env XWAY_ADDR=$cli/24 "${run[@]}" "$BUILD/tests/fork/outgoing" $mode $srv $port 4 \
            3000000 $((port + 1)) >"$tag.out" 2>"$tag.err" ||
            die "$mode/$how: $(cat "$tag.out" "$tag.err" | grep -v ' info: ')"
        grep -q "children verified 4 of 4" "$tag.out" || die "$mode/$how: $(cat "$tag.out")"
        wait $s || die "$mode/$how server: $(cat "$tag.srv.out")"
        if [ $how = xway ]; then
            n=$(grep -c "connected through the owner's stack (ring path" "$tag.err" || true)
            [ "$n" = 4 ] || die "$mode: $n of 4 children's connections through the owner on the ring"
        fi
        echo "ok: $mode/$how: 4 children connected out, 4 x 3 MB echoed intact, refused where nothing listens"
    done
done

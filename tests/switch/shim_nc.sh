# Unmodified programs under xway-run, moved mid-transfer: nc (netcat-openbsd)
# pipes random data to a listening nc on the same sim host (sha256 of what goes
# in and of what comes out), and in the middle `xwayctl sim-move` moves one of
# the two processes to another sim host: first the receiving listener, then
# (a fresh pair) the sending client, which is then moved back beside its peer
# (ring -> tcp -> ring).  The checksums must match, and each nc's --stats must
# count its connection as switched (moved / peer-moved).
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
CTL=$BUILD/apps/xwayctl/xwayctl
MB=${XS_NC_MB:-384}
export XWAY_CTL_DIR=$WORK/ctl

path_of() { # PID: the path of its established connection
    "$CTL" conns -p "$1" --json | python3 -c '
import json, sys
c = [c for c in json.load(sys.stdin)["connections"] if c["state"] == "established"]
print(c[0]["path"] if c else "")'
}

round() { # PORT WHO(listener|client) [back]
    local port=$1 who=$2 back=${3:-} d=$WORK/$2 pid host2 p
    mkdir -p "$d"
    xw_simhost host2 xw-shimtest2-
    mkfifo "$d/fifo"
    bg -e "$d/sum.err" "$d/out.sum" timeout 120 sha256sum "$d/fifo"
    # The way back needs both sides open: a listener whose input stays open
    # (-N would end its side at once on /dev/null: a half-closed connection
    # stays on TCP); it ends when its peer's stream does.
    if [ -n "$back" ]; then
        (sleep 100 | timeout 120 env XWAY_ADDR=10.77.82.1/24 "$RUN" --stats \
            nc -l -N 10.77.82.1 "$port" >"$d/fifo" 2>"$d/srv.err") &
        track $!
    else
        bg -e "$d/srv.err" "$d/fifo" timeout 120 env XWAY_ADDR=10.77.82.1/24 "$RUN" --stats \
            nc -l -N 10.77.82.1 "$port"
    fi
    wait_line "$d/srv.err" ": listening.*port $port" 10
    (head -c ${MB}M /dev/urandom | tee >(sha256sum >"$d/in.sum") |
        timeout 120 env XWAY_ADDR=10.77.82.2/24 "$RUN" --stats nc -N 10.77.82.1 "$port" \
            2>"$d/cli.err") &
    local cli=$!
    track $cli
    wait_line "$d/srv.err" "ring path" 10
    sleep 0.3
    if [ "$who" = listener ]; then pid=$(pgrep_here -f "^nc -l -N 10.77.82.1 $port")
    else pid=$(pgrep_here -f "^nc -N 10.77.82.1 $port"); fi
    [ -n "$pid" ] || die "$who: no nc process"
    "$CTL" sim-move --pid "$pid" --host "$host2" >"$d/move.out" 2>&1 ||
        die "sim-move $who: $(cat "$d/move.out")"
    grep -q "moved domid=" "$d/move.out" || die "sim-move said: $(cat "$d/move.out")"
    if [ -n "$back" ]; then
        for _ in $(seq 100); do p=$(path_of "$pid"); [ "$p" = tcp ] && break; sleep 0.02; done
        [ "$p" = tcp ] || die "$who moved away: path '$p', want tcp: $("$CTL" conns -p "$pid" 2>&1)"
        "$CTL" sim-move --pid "$pid" --host "$XWAY_HOST" >"$d/move2.out" 2>&1 ||
            die "sim-move $who back: $(cat "$d/move2.out")"
        for _ in $(seq 100); do p=$(path_of "$pid"); [ "$p" = ring ] && break; sleep 0.02; done
        [ "$p" = ring ] || { cat "$d/cli.err" "$d/srv.err" >&2; die "$who moved back: path '$p', want ring"; }
    fi
    wait $cli || die "$who moved: client nc failed: $(tail -5 "$d/cli.err")"
    for _ in $(seq 300); do [ -s "$d/out.sum" ] && [ -s "$d/in.sum" ] && break; sleep 0.1; done
    [ -s "$d/out.sum" ] || die "$who moved: the listener's output has no checksum"
    [ "$(cut -d' ' -f1 "$d/in.sum")" = "$(cut -d' ' -f1 "$d/out.sum")" ] ||
        die "$who moved: checksums differ: $(cat "$d/in.sum" "$d/out.sum")"
    for _ in $(seq 50); do grep -q "stats:" "$d/srv.err" && break; sleep 0.1; done
    local lw=peer-moved cw=moved
    [ "$who" = listener ] && { lw=moved; cw=peer-moved; }
    # (the way back counted too, on both sides)
    local tail=" "
    [ -n "$back" ] && tail=", back-to-ring 1 "
    grep -q "stats: 1 connection(s) on the ring, 0 on TCP, $lw 1$tail" "$d/srv.err" ||
        die "$who moved: listener's stats: $(grep stats: "$d/srv.err")"
    grep -q "stats: 1 connection(s) on the ring, 0 on TCP, $cw 1$tail" "$d/cli.err" ||
        die "$who moved: client's stats: $(grep stats: "$d/cli.err")"
    [ -z "$back" ] || grep -q "back on the ring" "$d/cli.err" || die "$who: no way back logged"
    echo "ok: $MB MiB through nc, the $who moved mid-transfer${back:+ and back}, $(cut -c1-16 "$d/in.sum")"
}
XW_DIE_SHOW="$WORK/*/*.err"
round 41700 listener
MB=${XS_NC_MB_BACK:-1024} round 41701 client back

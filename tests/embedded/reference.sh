#!/bin/bash
# embedded_reference (issue 18, item 3): the core's reference port
# (apps/refport: one thread, no pthread symbol) on a hub and a sim host talks
# to the normal threaded stack (xway-echo, libxwaystack), both ways: a ring
# connection and a TCP-path connection (the threaded side without a backend),
# each a transfer whose bytes are hashed at both ends, and the same served
# through the core's zero-copy calls.
source "$(dirname "$0")/../lib.sh"
ring_env "$@"
REF=$BUILD/apps/refport/xway-refport
[ -x "$REF" ] || die "$REF not built"
XW_DIE_SHOW="$WORK/*.log $WORK/*.err"

# No pthreads: not a pthread symbol in the program (and one thread at run
# time, below).
bad=$(nm -u "$REF" | awk '{ print $2 }' | grep -i pthread || true)
[ -z "$bad" ] || die "the reference port uses pthreads: $bad"

export XWAY_LOG=info
BYTES=$((3 * 1024 * 1024 + 12345))

# fnv FILE: FNV-1a 64 of FILE, as xway-refport prints it.
fnv() {
    python3 -c '
import sys
h = 0xcbf29ce484222325
for b in open(sys.argv[1], "rb").read():
    h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
print("%016x" % h)' "$1"
}
head -c $BYTES /dev/urandom > "$WORK/in"
IN_FNV=$(fnv "$WORK/in")

# field LINE KEY: KEY's value in a "key=value ..." line.
field() { tr ' ' '\n' <<< "$1" | sed -n "s/^$2=//p"; }

# serve MODE NET: the reference port serves (MODE serve, or serve-zc: through
# the core's zero-copy calls, each view copied into a reservation) on
# 10.77.NET.1; the threaded stack's client sends, on the ring (both on the
# sim host) and on TCP (the client without a backend: its SYN carries no
# option); both echoes come back intact, and the reference port saw the
# client's bytes on the expected path.
serve() {
    local mode=$1 net=10.77.$2 log=$WORK/$1.log l p
    bg -e "$WORK/$mode.err" "$log" on_hub $net.1/24 "$REF" $mode 7000 2
    wait_line "$log" "listening on port 7000" 10 $LAST_PID
    SRV=$LAST_PID
    pid=$(pgrep_here -f "xway-refport $mode 7000") || die "no reference port process"
    threads=$(awk '/^Threads:/ { print $2 }' /proc/$pid/status)
    [ "$threads" = 1 ] || die "the reference port runs $threads threads"
    on_hub $net.2/24 timeout 60 "$ECHO" -c $net.1 -p 7000 < "$WORK/in" > "$WORK/$mode.out1" \
        2> "$WORK/$mode.cli1.err" || die "$mode: threaded client (ring): exit $?"
    grep -q "ring path" "$WORK/$mode.cli1.err" || die "$mode: the threaded client is not on the ring"
    XWAY_BACKEND=off on_hub $net.3/24 timeout 60 "$ECHO" -c $net.1 -p 7000 < "$WORK/in" \
        > "$WORK/$mode.out2" 2> "$WORK/$mode.cli2.err" || die "$mode: threaded client (TCP): exit $?"
    for l in 1 2; do
        cmp -s "$WORK/in" "$WORK/$mode.out$l" || die "$mode: the echo from the reference port differs"
    done
    wait $SRV || die "the reference port's $mode failed"
    cat "$log"
    for p in ring tcp; do
        l=$(grep "^served[a-z-]* path=$p " "$log") || die "$mode: no $p connection"
        [ "$(field "$l" received)" = $BYTES ] && [ "$(field "$l" sent)" = $BYTES ] ||
            die "$mode: bytes lost: $l"
        [ "$(field "$l" fnv_received)" = "$IN_FNV" ] && [ "$(field "$l" fnv_sent)" = "$IN_FNV" ] ||
            die "$mode: the bytes the reference port got are not the client's: $l"
    done
    l=$(grep "^served[a-z-]* path=tcp " "$log")
    [ "$(field "$l" fallback)" = peer-no-option ] || die "$mode: TCP for another reason: $l"
    l=$(grep "^served[a-z-]* path=ring " "$log")
    [ "$(field "$l" ring_rx)" = $BYTES ] || die "$mode: the ring connection's bytes missed the ring: $l"
}
serve serve 90
serve serve-zc 91

# The reference port sends: the threaded stack's server echoes, on the
#    ring, then (the server without a backend) on TCP.
for mode in ring tcp; do
    port=$((7100 + ${#mode}))
    be=sim
    [ $mode = tcp ] && be=off
    XWAY_BACKEND=$be bg "$WORK/srv-$mode.log" on_hub 10.77.92.4/24 "$ECHO" -s -p $port -1
    wait_line "$WORK/srv-$mode.log" "listening" 10 $LAST_PID
    out=$(on_hub 10.77.92.5/24 timeout 60 "$REF" send 10.77.92.4 $port $BYTES 2> "$WORK/refcli-$mode.err") ||
        die "the reference port's client ($mode): exit $? ($out)"
    echo "$out"
    line=$(grep "^sent" <<< "$out")
    [ "$(field "$line" path)" = $mode ] || die "$mode expected: $line"
    grep -q "^verified$" <<< "$out" || die "$mode: not verified: $out"
    [ "$(field "$line" sent)" = $BYTES ] && [ "$(field "$line" received)" = $BYTES ] ||
        die "$mode: bytes lost: $line"
    wait $LAST_PID || die "the threaded server ($mode) failed"
done
echo PASS

#!/bin/bash
# The Linux kernel as the peer, over a TAP device inside a network namespace this
# test creates, with the xway side's fast path on (sim backend): kernel client ->
# xway server and xway client -> kernel server stay plain TCP with reason
# "peer-no-option", bytes verified both ways, and the kernel side receives
# exactly the bytes the application sent (never a control byte); the TAP's
# offloads carry them (GSO frames both ways, checksums left to the kernel).
source "$(dirname "$0")/../lib.sh"
in_netns "$0" "$@"
ring_env "$@"

tap_up xwtap1 10.77.65.1/24
TAPENV=(env XWAY_LINK=tap:xwtap1 XWAY_ADDR=10.77.65.2/24 XWAY_LOG=info)

head -c $((2 * 1024 * 1024 + 13)) /dev/urandom >"$WORK/in.bin"
want=$(sha256sum <"$WORK/in.bin" | cut -d' ' -f1)

# offloads_used LOG WHAT: the stack's close line in LOG shows GSO frames and
# checksums the kernel vouched for in, GSO frames and offloaded checksums out.
offloads_used() {
    local n='[1-9][0-9]*'
    grep -Eq "tap xwtap1 closed: rx [0-9]+ \(malformed [0-9]+, bad vnet header 0, gso $n, checksum trusted $n\), tx [0-9]+ \(checksum offloaded $n, gso $n\)" "$1" ||
        die "$2: the TAP's offloads unused: $(grep 'xwtap1 closed' "$1" || cat "$1")"
}

# 1. kernel nc -> xway echo server
bg "$WORK/echo.log" "${TAPENV[@]}" timeout 60 "$ECHO" -s -p 7 -1
pid=$LAST_PID
wait_line "$WORK/echo.log" listening 10 $pid
timeout 30 nc -N 10.77.65.2 7 <"$WORK/in.bin" >"$WORK/out1.bin" || die "nc exit $?"
[ "$(sha256sum <"$WORK/out1.bin" | cut -d' ' -f1)" = "$want" ] ||
    die "kernel -> xway echo: $(stat -c %s "$WORK/out1.bin") bytes back, sha256 differs"
wait_line "$WORK/echo.log" "tcp path, reason peer-no-option" 10
grep -q "ring path" "$WORK/echo.log" && die "xway server claims a ring: $(cat "$WORK/echo.log")"
wait $pid || die "xway echo server exit $?"
offloads_used "$WORK/echo.log" "kernel client -> xway server"
echo "kernel client -> xway server: tcp, peer-no-option, verified, GSO both ways"

# 2. xway echo client -> kernel server that keeps exactly what it received
cat >"$WORK/srv.py" <<'PY'
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.65.1", 7007)); s.listen(1); print("listening", flush=True)
c, _ = s.accept()
with open(sys.argv[1], "wb") as f:
    while True:
        b = c.recv(65536)
        if not b: break
        f.write(b); c.sendall(b)
c.shutdown(socket.SHUT_WR); c.close()
PY
bg "$WORK/py.log" timeout 60 python3 "$WORK/srv.py" "$WORK/kernel_got.bin"
wait_line "$WORK/py.log" listening 10 $LAST_PID
"${TAPENV[@]}" timeout 30 "$ECHO" -c 10.77.65.1 -p 7007 <"$WORK/in.bin" >"$WORK/out2.bin" 2>"$WORK/cli.log" ||
    die "xway-echo client exit $?: $(cat "$WORK/cli.log")"
wait_line "$WORK/cli.log" "tcp path, reason peer-no-option" 5
[ "$(sha256sum <"$WORK/kernel_got.bin" | cut -d' ' -f1)" = "$want" ] ||
    die "the kernel received $(stat -c %s "$WORK/kernel_got.bin") bytes, not exactly what xway sent"
[ "$(sha256sum <"$WORK/out2.bin" | cut -d' ' -f1)" = "$want" ] || die "echo back to xway differs"
offloads_used "$WORK/cli.log" "xway client -> kernel server"
echo "xway client -> kernel server: tcp, peer-no-option, kernel got exactly the payload, verified, GSO both ways"
echo PASS

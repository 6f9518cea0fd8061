#!/bin/bash
# The Linux kernel as the peer, over a TAP device inside a network namespace this
# test creates, with the xway side's fast path on (sim backend): kernel client ->
# xway server and xway client -> kernel server stay plain TCP with reason
# "peer-no-option", bytes verified both ways, and the kernel side receives
# exactly the bytes the application sent (never a control byte).
source "$(dirname "$0")/../lib.sh"
in_netns "$0" "$@"
ring_env "$@"

tap_up xwtap1 10.77.65.1/24
TAPENV=(env XWAY_LINK=tap:xwtap1 XWAY_ADDR=10.77.65.2/24 XWAY_LOG=info)

head -c $((2 * 1024 * 1024 + 13)) /dev/urandom >"$WORK/in.bin"
want=$(sha256sum <"$WORK/in.bin" | cut -d' ' -f1)

# 1. kernel nc -> xway echo server
bg "$WORK/echo.log" "${TAPENV[@]}" timeout 60 "$ECHO" -s -p 7 -1
wait_line "$WORK/echo.log" listening 10 $LAST_PID
timeout 30 nc -N 10.77.65.2 7 <"$WORK/in.bin" >"$WORK/out1.bin" || die "nc exit $?"
[ "$(sha256sum <"$WORK/out1.bin" | cut -d' ' -f1)" = "$want" ] ||
    die "kernel -> xway echo: $(stat -c %s "$WORK/out1.bin") bytes back, sha256 differs"
wait_line "$WORK/echo.log" "tcp path, reason peer-no-option" 10
grep -q "ring path" "$WORK/echo.log" && die "xway server claims a ring: $(cat "$WORK/echo.log")"
echo "kernel client -> xway server: tcp, peer-no-option, verified"

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
echo "xway client -> kernel server: tcp, peer-no-option, kernel got exactly the payload, verified"
echo PASS

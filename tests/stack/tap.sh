#!/bin/bash
# The stack and the Linux kernel over a TAP device, inside a network namespace this
# test creates: kernel nc and xwperf --kernel against xway servers, and xway
# clients against kernel servers (python3, xwperf --kernel); bytes verified both ways.
source "$(dirname "$0")/../lib.sh"
in_netns "$0" "$@"
stack_env "$@"

tap_up xwtap0 10.77.0.1/24
ip link show xwtap0 >/dev/null
TAPENV=(env XWAY_LINK=tap:xwtap0 XWAY_ADDR=10.77.0.2/24)

head -c $((3 * 1024 * 1024 + 17)) /dev/urandom >"$WORK/in.bin"
want=$(sha256sum <"$WORK/in.bin" | cut -d' ' -f1)

# 1. kernel nc -> xway echo server: what comes back is what went out
bg "$WORK/echo.log" "${TAPENV[@]}" timeout 60 "$ECHO" -s -p 7 -1
wait_line "$WORK/echo.log" listening 10 $LAST_PID
timeout 30 nc -N 10.77.0.2 7 <"$WORK/in.bin" >"$WORK/out1.bin" || die "nc exit $?"
got=$(sha256sum <"$WORK/out1.bin" | cut -d' ' -f1)
[ "$got" = "$want" ] || die "nc -> xway echo: $(stat -c %s "$WORK/out1.bin") bytes, sha256 differs"
echo "kernel nc -> xway echo server: $(stat -c %s "$WORK/out1.bin") bytes verified"

# 2. kernel xwperf --kernel -> xway xwperf server, both ways at once
bg "$WORK/srv.log" "${TAPENV[@]}" timeout 100 "$XWPERF" -s -1 -v
wait_line "$WORK/srv.log" listening 10 $LAST_PID
out=$(timeout 60 "$XWPERF" -c 10.77.0.2 --kernel --bidir -n 64M --json) || die "xwperf --kernel -> xway: $out"
echo "$out"
[ "$(json_get "$out" verified)" = true ] || die "not verified"

# 3. xway echo client -> kernel python3 echo server
cat >"$WORK/echo.py" <<'PY'
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.1", 7007)); s.listen(1); print("listening", flush=True)
c, _ = s.accept()
while True:
    b = c.recv(65536)
    if not b: break
    c.sendall(b)
c.shutdown(socket.SHUT_WR); c.close()
PY
bg "$WORK/py.log" timeout 60 python3 "$WORK/echo.py"
wait_line "$WORK/py.log" listening 10 $LAST_PID
"${TAPENV[@]}" timeout 30 "$ECHO" -c 10.77.0.1 -p 7007 <"$WORK/in.bin" >"$WORK/out3.bin" || die "xway-echo client exit $?"
got=$(sha256sum <"$WORK/out3.bin" | cut -d' ' -f1)
[ "$got" = "$want" ] || die "xway echo client -> python3: $(stat -c %s "$WORK/out3.bin") bytes, sha256 differs"
echo "xway echo client -> kernel python3 echo: verified"

# 4. xway xwperf client -> kernel xwperf --kernel server, both ways at once, 4 connections
bg "$WORK/ksrv.log" timeout 100 "$XWPERF" -s --kernel -B 10.77.0.1 -p 5302 -1 -v
wait_line "$WORK/ksrv.log" listening 10 $LAST_PID
out=$("${TAPENV[@]}" timeout 60 "$XWPERF" -c 10.77.0.1 -p 5302 --bidir -n 64M -P 4 --json) ||
    die "xway -> kernel xwperf: $out"
echo "$out"
[ "$(json_get "$out" verified)" = true ] || die "not verified"
echo PASS

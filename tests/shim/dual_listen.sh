# A kernel client (no shim) reaches a shimmed server through its kernel twin
# listener, and a shimmed client reaches it through xway, on the same port.
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
head -c 4M /dev/urandom >"$WORK/in.bin"
# Wildcard listener: the kernel twin listens on 0.0.0.0.
bg -e "$WORK/srv1.err" "$WORK/out1.bin" timeout 60 env XWAY_ADDR=10.77.2.1/24 "$RUN" nc -4 -l -N 41501
wait_line "$WORK/srv1.err" "listening on port 41501 in xway and in the kernel" 10 $LAST_PID
timeout 60 env -u LD_PRELOAD nc -N 127.0.0.1 41501 <"$WORK/in.bin" || die "kernel client failed"
for _ in $(seq 100); do grep -q "accepted kernel connection" "$WORK/srv1.err" && \
    [ "$(stat -c %s "$WORK/out1.bin")" = 4194304 ] && break; sleep 0.1; done
cmp "$WORK/in.bin" "$WORK/out1.bin" || die "kernel client: bytes differ"
grep -q "accepted kernel connection" "$WORK/srv1.err" || die "not accepted from the kernel"
# The same kind of server, reached by a shimmed client through xway.
bg -e "$WORK/srv2.err" "$WORK/out2.bin" timeout 60 env XWAY_ADDR=10.77.2.1/24 "$RUN" nc -4 -l -N 41502
wait_line "$WORK/srv2.err" "listening on port 41502" 10 $LAST_PID
timeout 60 env XWAY_ADDR=10.77.2.2/24 "$RUN" nc -N 10.77.2.1 41502 <"$WORK/in.bin" 2>"$WORK/cli2.err" ||
    die "xway client failed"
for _ in $(seq 100); do [ "$(stat -c %s "$WORK/out2.bin")" = 4194304 ] && break; sleep 0.1; done
cmp "$WORK/in.bin" "$WORK/out2.bin" || die "xway client: bytes differ"
ring_used "$WORK/cli2.err"
echo "ok: kernel client via the twin listener, xway client via the ring"

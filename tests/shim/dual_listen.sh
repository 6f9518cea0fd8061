# A kernel client (no shim) reaches a shimmed server through its kernel twin
# listener, and a shimmed client reaches it through xway, on the same port.
. "$(dirname "$0")/lib.sh"
head -c 4M /dev/urandom >"$T/in.bin"
# Wildcard listener: the kernel twin listens on 0.0.0.0.
bg timeout 60 env XWAY_ADDR=10.77.2.1/24 "$RUN" nc -4 -l -N 41501 >"$T/out1.bin" 2>"$T/srv1.err"
wait_log "$T/srv1.err" "listening on port 41501 in xway and in the kernel"
timeout 60 env -u LD_PRELOAD nc -N 127.0.0.1 41501 <"$T/in.bin" || fail "kernel client failed"
for _ in $(seq 100); do grep -q "accepted kernel connection" "$T/srv1.err" && \
    [ "$(stat -c %s "$T/out1.bin")" = 4194304 ] && break; sleep 0.1; done
cmp "$T/in.bin" "$T/out1.bin" || fail "kernel client: bytes differ"
grep -q "accepted kernel connection" "$T/srv1.err" || fail "not accepted from the kernel"
# The same kind of server, reached by a shimmed client through xway.
bg timeout 60 env XWAY_ADDR=10.77.2.1/24 "$RUN" nc -4 -l -N 41502 >"$T/out2.bin" 2>"$T/srv2.err"
wait_log "$T/srv2.err" "listening on port 41502"
timeout 60 env XWAY_ADDR=10.77.2.2/24 "$RUN" nc -N 10.77.2.1 41502 <"$T/in.bin" 2>"$T/cli2.err" ||
    fail "xway client failed"
for _ in $(seq 100); do [ "$(stat -c %s "$T/out2.bin")" = 4194304 ] && break; sleep 0.1; done
cmp "$T/in.bin" "$T/out2.bin" || fail "xway client: bytes differ"
ring_used "$T/cli2.err"
echo "ok: kernel client via the twin listener, xway client via the ring"

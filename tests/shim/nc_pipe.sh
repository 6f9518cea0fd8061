# nc (netcat-openbsd) pipes 512 MiB between two co-resident processes under
# xway-run: checksum equal, and the payload went through the ring.
. "$(dirname "$0")/lib.sh"
MB=${XS_NC_MB:-512}
mkfifo "$T/fifo"
bg timeout 120 sha256sum "$T/fifo" >"$T/out.sum"
bg timeout 120 env XWAY_ADDR=10.77.1.1/24 "$RUN" nc -l -N 10.77.1.1 41500 >"$T/fifo" 2>"$T/srv.err"
wait_log "$T/srv.err" ": listening.*port 41500"
head -c ${MB}M /dev/urandom | tee >(sha256sum >"$T/in.sum") |
    timeout 120 env XWAY_ADDR=10.77.1.2/24 "$RUN" nc -N 10.77.1.1 41500 2>"$T/cli.err" ||
    fail "client nc failed"
for _ in $(seq 300); do [ -s "$T/out.sum" ] && [ -s "$T/in.sum" ] && break; sleep 0.1; done
[ -s "$T/out.sum" ] || fail "server produced no checksum"
[ "$(cut -d' ' -f1 "$T/in.sum")" = "$(cut -d' ' -f1 "$T/out.sum")" ] ||
    fail "checksums differ: $(cat "$T/in.sum" "$T/out.sum")"
ring_used "$T/srv.err"
ring_used "$T/cli.err"
echo "ok: $MB MiB through nc, $(cut -c1-16 "$T/in.sum"), ring on both ends"

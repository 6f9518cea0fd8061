# nc (netcat-openbsd) pipes 512 MiB between two co-resident processes under
# xway-run: checksum equal, and the payload went through the ring; with
# --stats, each nc prints its stack's counters at exit.
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
MB=${XS_NC_MB:-512}
mkfifo "$WORK/fifo"
bg -e "$WORK/sum.err" "$WORK/out.sum" timeout 120 sha256sum "$WORK/fifo"
bg -e "$WORK/srv.err" "$WORK/fifo" timeout 120 env XWAY_ADDR=10.77.1.1/24 "$RUN" --stats nc -l -N 10.77.1.1 41500
wait_line "$WORK/srv.err" ": listening.*port 41500" 10 $LAST_PID
head -c ${MB}M /dev/urandom | tee >(sha256sum >"$WORK/in.sum") |
    timeout 120 env XWAY_ADDR=10.77.1.2/24 "$RUN" --stats nc -N 10.77.1.1 41500 2>"$WORK/cli.err" ||
    die "client nc failed"
for _ in $(seq 300); do [ -s "$WORK/out.sum" ] && [ -s "$WORK/in.sum" ] && break; sleep 0.1; done
[ -s "$WORK/out.sum" ] || die "server produced no checksum"
[ "$(cut -d' ' -f1 "$WORK/in.sum")" = "$(cut -d' ' -f1 "$WORK/out.sum")" ] ||
    die "checksums differ: $(cat "$WORK/in.sum" "$WORK/out.sum")"
ring_used "$WORK/srv.err"
ring_used "$WORK/cli.err"
for _ in $(seq 50); do grep -q "stats:" "$WORK/srv.err" && break; sleep 0.1; done
for f in srv cli; do
    grep -q "stats: 1 connection(s) on the ring, 0 on TCP (backend sim" "$WORK/$f.err" ||
        die "xway-run --stats: $f: $(grep stats "$WORK/$f.err")"
done
echo "ok: $MB MiB through nc, $(cut -c1-16 "$WORK/in.sum"), ring on both ends"

# curl under xway-run fetches 64 MiB from python3 -m http.server under xway-run.
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
command -v python3 >/dev/null && command -v curl >/dev/null || die "python3/curl missing"
mkdir "$WORK/www"
head -c 64M /dev/urandom >"$WORK/www/big.bin"
bg -e "$WORK/srv.err" "$WORK/srv.out" timeout 120 env XWAY_ADDR=10.77.3.1/24 "$RUN" \
    python3 -m http.server --bind 10.77.3.1 --directory "$WORK/www" 41580
wait_line "$WORK/srv.err" ": listening.*port 41580" 10 $LAST_PID
timeout 120 env XWAY_ADDR=10.77.3.2/24 "$RUN" curl -sS --max-time 100 -o "$WORK/got.bin" \
    http://10.77.3.1:41580/big.bin 2>"$WORK/cli.err" || die "curl failed"
[ "$(sha256sum <"$WORK/www/big.bin")" = "$(sha256sum <"$WORK/got.bin")" ] || die "sha256 differs"
ring_used "$WORK/srv.err"
ring_used "$WORK/cli.err"
echo "ok: 64 MiB over HTTP, sha256 equal, ring on both ends"

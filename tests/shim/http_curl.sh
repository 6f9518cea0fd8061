# curl under xway-run fetches 64 MiB from python3 -m http.server under xway-run.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null && command -v curl >/dev/null || fail "python3/curl missing"
mkdir "$T/www"
head -c 64M /dev/urandom >"$T/www/big.bin"
(cd "$T/www" && exec timeout 120 env XWAY_ADDR=10.77.3.1/24 "$RUN" python3 -m http.server \
    --bind 10.77.3.1 41580 >"$T/srv.out" 2>"$T/srv.err") & PIDS+=($!)
wait_log "$T/srv.err" ": listening.*port 41580"
timeout 120 env XWAY_ADDR=10.77.3.2/24 "$RUN" curl -sS --max-time 100 -o "$T/got.bin" \
    http://10.77.3.1:41580/big.bin 2>"$T/cli.err" || fail "curl failed"
[ "$(sha256sum <"$T/www/big.bin")" = "$(sha256sum <"$T/got.bin")" ] || fail "sha256 differs"
ring_used "$T/srv.err"
ring_used "$T/cli.err"
echo "ok: 64 MiB over HTTP, sha256 equal, ring on both ends"

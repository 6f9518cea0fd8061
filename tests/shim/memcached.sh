# memcached (4 worker threads, each an event loop: libevent over epoll, with a
# pipe from the dispatcher thread in the same set as its ring connections)
# under xway-run, and libmemcached-tools' clients under xway-run: memccp and
# memccat move a 900 KB file through it (sha256 compared), memcaslap runs 16
# connections of gets and sets (a tenth of the gets verified, none missing).
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
command -v memcached >/dev/null || die "memcached is not installed (scripts/install-deps.sh)"
command -v memcaslap >/dev/null || die "libmemcached-tools is not installed (scripts/install-deps.sh)"
S=10.77.14.1:41800
bg -e "$WORK/mc.err" "$WORK/mc.out" \
    timeout 120 env XWAY_ADDR=10.77.14.1/24 "$RUN" memcached -u nobody -m 256 -l 10.77.14.1 -p 41800
MC=$LAST_PID
wait_line "$WORK/mc.err" "listening" 10 $MC
head -c 900000 /dev/urandom >"$WORK/blob"
timeout 30 env XWAY_ADDR=10.77.14.2/24 "$RUN" memccp --servers=$S "$WORK/blob" \
    2>"$WORK/cp.err" || die "memccp failed: $(tail -3 "$WORK/cp.err")"
timeout 30 env XWAY_ADDR=10.77.14.3/24 "$RUN" memccat --servers=$S blob \
    >"$WORK/blob.back" 2>"$WORK/cat.err" || die "memccat failed: $(tail -3 "$WORK/cat.err")"
# (memccat ends the value with a newline)
[ "$(stat -c %s "$WORK/blob.back")" = 900001 ] &&
    [ "$(sha256sum <"$WORK/blob")" = "$(head -c 900000 "$WORK/blob.back" | sha256sum)" ] ||
    die "memccat: the value differs from what memccp stored"
ring_used "$WORK/cp.err"
ring_used "$WORK/cat.err"
timeout 60 env XWAY_ADDR=10.77.14.4/24 "$RUN" memcaslap -s $S -T 2 -c 16 -t 3s --verify=0.1 \
    >"$WORK/slap.out" 2>"$WORK/slap.err" || die "memcaslap failed: $(tail -5 "$WORK/slap.out")"
ring_used "$WORK/slap.err"
for k in get_misses verify_misses verify_failed; do
    grep -q "^$k: 0$" "$WORK/slap.out" || die "memcaslap: $(grep "^$k" "$WORK/slap.out")"
done
tps=$(sed -n 's/.*TPS: \([0-9]*\).*/\1/p' "$WORK/slap.out")
[ "${tps:-0}" -gt 0 ] || die "memcaslap: no operations: $(tail -3 "$WORK/slap.out")"
ring_used "$WORK/mc.err"
kill "$MC"
echo "ok: memcached under xway-run: memccp/memccat 900 KB intact, memcaslap $tps ops/s verified, all on the ring"

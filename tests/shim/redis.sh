# Redis (one event loop on epoll) under xway-run, with Redis's own clients
# under xway-run: a 4 MB value SET through redis-cli and read back (md5
# compared), 1000 keys written and read back by a pipelined batch, and
# redis-benchmark (50 clients, pipelined and not) with no error; the
# connections on the ring.
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null ||
    die "redis is not installed (scripts/install-deps.sh: redis-server redis-tools)"
bg -e "$WORK/r.err" "$WORK/r.out" timeout 120 env XWAY_ADDR=10.77.15.1/24 "$RUN" redis-server \
    --bind 10.77.15.1 --port 41600 --save "" --appendonly no --protected-mode no
R=$LAST_PID
wait_line "$WORK/r.err" ": listening.*port 41600" 20 $R
C="timeout 100 env XWAY_ADDR=10.77.15.2/24 $RUN"
for _ in $(seq 50); do $C redis-cli -h 10.77.15.1 -p 41600 ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
head -c 3000000 /dev/urandom | base64 -w0 >"$WORK/big.txt"
[ "$($C redis-cli -h 10.77.15.1 -p 41600 -x set big <"$WORK/big.txt" 2>"$WORK/c1.err")" = OK ] ||
    die "SET: $(cat "$WORK/c1.err")"
[ "$($C redis-cli -h 10.77.15.1 -p 41600 get big 2>"$WORK/c2.err" | md5sum)" = \
    "$( (cat "$WORK/big.txt"; echo) | md5sum)" ] || die "GET big: another value came back"
ring_used "$WORK/c2.err"
for i in $(seq 1000); do echo "SET key$i value-$i-$((i * 7919 % 1000003))"; done >"$WORK/cmds"
for i in $(seq 1000); do echo "GET key$i"; done >>"$WORK/cmds"
$C redis-cli -h 10.77.15.1 -p 41600 <"$WORK/cmds" >"$WORK/replies" 2>"$WORK/c3.err" ||
    die "batch: $(cat "$WORK/c3.err")"
{ for i in $(seq 1000); do echo OK; done; for i in $(seq 1000); do echo "value-$i-$((i * 7919 % 1000003))"; done; } |
    cmp -s - "$WORK/replies" || die "the batch's replies differ: $(head -3 "$WORK/replies")"
for a in "-c 50 -n 50000 -t set,get" "-c 50 -n 100000 -P 16 -t get"; do
    $C redis-benchmark -h 10.77.15.1 -p 41600 $a -q >"$WORK/b.out" 2>"$WORK/b.err" ||
        die "redis-benchmark $a: $(tail -3 "$WORK/b.out" "$WORK/b.err")"
    n=$(tr '\r' '\n' <"$WORK/b.out" | grep -ac "requests per second")
    [ "$n" = "$(echo "${a##*-t }" | tr ',' '\n' | wc -l)" ] || die "redis-benchmark $a: $(cat "$WORK/b.out")"
    ! tr '\r' '\n' <"$WORK/b.out" | grep -ai "error" || die "redis-benchmark $a reported errors"
done
ring_used "$WORK/b.err"
echo "ok: redis: a 4 MB value and 1000 keys back intact, redis-benchmark without error, over the ring"

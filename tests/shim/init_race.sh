# Thread-safe start of the shim and the stack: 16 threads make the process's
# first socket()+connect() at once (tests/shim/init_race.c), five times.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pair.sh"
N=16
check_run() {
    grep -q "init_race passed xway" "$T/x.out" || fail "xway run $1: $(cat "$T/x.out")"
    [ "$(grep -c 'stack started' "$T/x.err")" = 1 ] || fail "run $1: the stack did not start once"
    [ "$(grep -c ': ring path' "$T/x.err")" = $N ] || fail "run $1: not every connection on the ring"
}
pair xs_init_race 15 41650 $N
grep -q "init_race passed kernel" "$T/k.out" || fail "kernel run: $(cat "$T/k.out")"
check_run 1
for i in 2 3 4 5; do
    timeout 30 env XWAY_ADDR=10.77.15.2/24 "$RUN" "$B/tests/shim/xs_init_race" xway 10.77.15.1 41650 $N \
        >"$T/x.out" 2>"$T/x.err" || fail "xway run $i: $(cat "$T/x.out")"
    check_run $i
done
echo "ok: $N threads' first socket()+connect() at once, 5 runs, every connection on the ring"

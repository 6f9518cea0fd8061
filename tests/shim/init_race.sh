# Thread-safe start of the shim and the stack: 16 threads make the process's
# first socket()+connect() at once (tests/shim/init_race.c), five times.
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
. "$(dirname "$0")/pair.sh"
N=16
check_run() {
    grep -q "init_race passed xway" "$WORK/x.out" || die "xway run $1: $(cat "$WORK/x.out")"
    [ "$(grep -c 'stack started' "$WORK/x.err")" = 1 ] || die "run $1: the stack did not start once"
    [ "$(grep -c ': ring path' "$WORK/x.err")" = $N ] || die "run $1: not every connection on the ring"
}
pair xs_init_race 15 41650 $N
grep -q "init_race passed kernel" "$WORK/k.out" || die "kernel run: $(cat "$WORK/k.out")"
check_run 1
for i in 2 3 4 5; do
    timeout 30 env XWAY_ADDR=10.77.15.2/24 "$RUN" "$BUILD/tests/shim/xs_init_race" xway 10.77.15.1 41650 $N \
        >"$WORK/x.out" 2>"$WORK/x.err" || die "xway run $i: $(cat "$WORK/x.out")"
    check_run $i
done
echo "ok: $N threads' first socket()+connect() at once, 5 runs, every connection on the ring"

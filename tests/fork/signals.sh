# The stack's threads do not take the application's signals (tests/fork/signals.c).
. "$2/tests/lib.sh"
shim_env "$@"
out=$(timeout 30 env XWAY_ADDR=10.77.9.1/24 "$RUN" "$BUILD/tests/fork/signals" 10.77.9.1 2>"$WORK/err") ||
    die "${out:-no output}: $(cat "$WORK/err")"
grep -q "stack started" "$WORK/err" || die "the stack did not start: $(cat "$WORK/err")"
echo "$out"

# Bad input gets libc's errno, without the shim and through it (tests/shim/badinput.c).
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
timeout 30 "$BUILD/tests/shim/xs_badinput" >"$WORK/k.out" || die "kernel run: $(cat "$WORK/k.out")"
grep -q "passed kernel" "$WORK/k.out" || die "kernel run: $(cat "$WORK/k.out")"
timeout 30 env XWAY_ADDR=10.77.6.1/24 "$RUN" "$BUILD/tests/shim/xs_badinput" >"$WORK/x.out" 2>"$WORK/x.err" ||
    die "shim run: $(cat "$WORK/x.out")"
grep -q "passed xway" "$WORK/x.out" || die "shim run: $(cat "$WORK/x.out")"
echo "ok: same errno values with and without the shim"

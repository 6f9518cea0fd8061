# Bad input gets libc's errno, without the shim and through it (tests/shim/badinput.c).
. "$(dirname "$0")/lib.sh"
timeout 30 "$B/tests/shim/xs_badinput" >"$T/k.out" || fail "kernel run: $(cat "$T/k.out")"
grep -q "passed kernel" "$T/k.out" || fail "kernel run: $(cat "$T/k.out")"
timeout 30 env XWAY_ADDR=10.77.6.1/24 "$RUN" "$B/tests/shim/xs_badinput" >"$T/x.out" 2>"$T/x.err" ||
    fail "shim run: $(cat "$T/x.out")"
grep -q "passed xway" "$T/x.out" || fail "shim run: $(cat "$T/x.out")"
echo "ok: same errno values with and without the shim"

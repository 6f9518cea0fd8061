# exec with a close-on-exec connection and one without (tests/shim/exec.c):
# what the new image holds, on kernel sockets and under the shim.
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
. "$(dirname "$0")/pair.sh"
pair xs_exec 14 41640
grep -q "exec passed kernel" "$WORK/k.out" || die "kernel run: $(cat "$WORK/k.out")"
grep -q "exec passed xway" "$WORK/x.out" || die "xway run: $(cat "$WORK/x.out")"
grep "kept number" "$WORK/x.out"
echo "ok: close-on-exec connections are gone in the new image; its own sockets are xway"

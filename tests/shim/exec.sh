# exec with a close-on-exec connection and one without (tests/shim/exec.c):
# what the new image holds, on kernel sockets and under the shim.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pair.sh"
pair xs_exec 14 41640
grep -q "exec passed kernel" "$T/k.out" || fail "kernel run: $(cat "$T/k.out")"
grep -q "exec passed xway" "$T/x.out" || fail "xway run: $(cat "$T/x.out")"
grep "kept number" "$T/x.out"
echo "ok: close-on-exec connections are gone in the new image; its own sockets are xway"

# select and pselect on a pipe and xway connections (tests/shim/select.c).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pair.sh"
pair xs_select 11 41610
grep -q "select passed kernel" "$T/k.out" || fail "kernel run: $(cat "$T/k.out")"
grep -q "select passed xway" "$T/x.out" || fail "xway run: $(cat "$T/x.out")"
echo "ok: select/pselect readiness, timeouts and fd_sets as on kernel sockets, on the ring"

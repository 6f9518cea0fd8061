# select and pselect on a pipe and xway connections (tests/shim/select.c).
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
. "$(dirname "$0")/pair.sh"
pair xs_select 11 41610
grep -q "select passed kernel" "$WORK/k.out" || die "kernel run: $(cat "$WORK/k.out")"
grep -q "select passed xway" "$WORK/x.out" || die "xway run: $(cat "$WORK/x.out")"
pair_tcp xs_select 11 41612
grep -q "select passed tcp" "$WORK/t.out" || die "tcp run: $(cat "$WORK/t.out")"
echo "ok: select/pselect readiness, timeouts and fd_sets as on kernel sockets, on the ring, and on the stack's TCP path"

# dup/dup2/dup3/F_DUPFD, FD_CLOEXEC, O_NONBLOCK, FIONBIO and FIONREAD on xway
# connections, as on kernel sockets (tests/shim/dup.c).
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
. "$(dirname "$0")/pair.sh"
pair xs_dup 13 41630
grep -q "dup passed kernel" "$WORK/k.out" || die "kernel run: $(cat "$WORK/k.out")"
grep -q "dup passed xway" "$WORK/x.out" || die "xway run: $(cat "$WORK/x.out")"
echo "ok: duplicates share the connection and close it with the last number, on the ring"

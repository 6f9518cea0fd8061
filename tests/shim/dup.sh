# dup/dup2/dup3/F_DUPFD, FD_CLOEXEC, O_NONBLOCK, FIONBIO and FIONREAD on xway
# connections, as on kernel sockets (tests/shim/dup.c).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pair.sh"
pair xs_dup 13 41630
grep -q "dup passed kernel" "$T/k.out" || fail "kernel run: $(cat "$T/k.out")"
grep -q "dup passed xway" "$T/x.out" || fail "xway run: $(cat "$T/x.out")"
echo "ok: duplicates share the connection and close it with the last number, on the ring"

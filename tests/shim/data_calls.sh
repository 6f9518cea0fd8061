# sendfile, sendmsg/recvmsg, writev/readv, MSG_PEEK, MSG_WAITALL, SHUT_WR and
# the socket names on xway connections, as on kernel sockets (tests/shim/data_calls.c).
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
. "$(dirname "$0")/pair.sh"
pair xs_data_calls 16 41660
grep -q "data_calls passed kernel" "$WORK/k.out" || die "kernel run: $(cat "$WORK/k.out")"
grep -q "data_calls passed xway" "$WORK/x.out" || die "xway run: $(cat "$WORK/x.out")"
grep -q "names: 10.77.16.2:[0-9]* -> 10.77.16.1:41660" "$WORK/x.out" || die "names: $(cat "$WORK/x.out")"
pair_tcp xs_data_calls 16 41662
grep -q "data_calls passed tcp" "$WORK/t.out" || die "tcp run: $(cat "$WORK/t.out")"
echo "ok: data calls as on kernel sockets, bytes verified, on the ring, and on the stack's TCP path"

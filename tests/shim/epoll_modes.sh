# epoll: level-triggered, EPOLLONESHOT, EPOLL_CTL_MOD/DEL on kernel fds and xway
# connections in one set (tests/shim/epoll_modes.c).
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
. "$(dirname "$0")/pair.sh"
pair xs_epoll_modes 12 41620
grep -q "epoll_modes passed kernel" "$WORK/k.out" || die "kernel run: $(cat "$WORK/k.out")"
grep -q "epoll_modes passed xway" "$WORK/x.out" || die "xway run: $(cat "$WORK/x.out")"
grep -q "kernel path (loopback destination)" "$WORK/x.err" || die "the loopback pair was not kernel"
pair_tcp xs_epoll_modes 12 41622
grep -q "epoll_modes passed tcp" "$WORK/t.out" || die "tcp run: $(cat "$WORK/t.out")"
echo "ok: epoll modes as on kernel sockets, mixed kernel and xway fds, on the ring, and on the stack's TCP path"

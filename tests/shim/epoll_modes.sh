# epoll: level-triggered, EPOLLONESHOT, EPOLL_CTL_MOD/DEL on kernel fds and xway
# connections in one set (tests/shim/epoll_modes.c).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pair.sh"
pair xs_epoll_modes 12 41620
grep -q "epoll_modes passed kernel" "$T/k.out" || fail "kernel run: $(cat "$T/k.out")"
grep -q "epoll_modes passed xway" "$T/x.out" || fail "xway run: $(cat "$T/x.out")"
grep -q "kernel path (loopback destination)" "$T/x.err" || fail "the loopback pair was not kernel"
echo "ok: epoll modes as on kernel sockets, mixed kernel and xway fds, on the ring"

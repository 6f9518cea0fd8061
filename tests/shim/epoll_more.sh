# epoll's finer semantics (tests/shim/epoll_more.c): edge-triggered arrivals
# and EPOLLOUT, EPOLLRDHUP/EPOLLHUP/EPOLLERR, a connection in two sets, a set
# inside another and in poll(), a waiter in another thread, EPOLLEXCLUSIVE;
# the same assertions on kernel sockets and on the ring.
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
. "$(dirname "$0")/pair.sh"
pair xs_epoll_more 13 41640
grep -q "epoll_more passed kernel" "$WORK/k.out" || die "kernel run: $(cat "$WORK/k.out")"
grep -q "epoll_more passed xway" "$WORK/x.out" || die "xway run: $(cat "$WORK/x.out")"
pair_tcp xs_epoll_more 13 41642
grep -q "epoll_more passed tcp" "$WORK/t.out" || die "tcp run: $(cat "$WORK/t.out")"
echo "ok: epoll's finer semantics as on kernel sockets, on the ring and on the stack's TCP path"

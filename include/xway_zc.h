/* xway's zero-copy API: read what arrived where it lies, and write what to send
 * where it will be sent from, on a connected xway socket (include xway.h too).
 *
 * On the ring (co-resident peers) both are in place in the shared ring: the
 * bytes a receiver looks at are the sender's bytes, copied by nobody.  On the
 * TCP path a view is lwIP's received segments in place, and a reservation is
 * a buffer of the socket's whose bytes the commit copies into TCP segments
 * once (as send would copy the caller's).
 *
 *   struct xway_zc z;
 *   ssize_t n = xway_zc_recv(fd, &z, 0);          // wait for bytes (or EOF: 0)
 *   ... read z.seg[0], then z.seg[1] (where the ring wraps, or a 2nd segment) ...
 *   xway_zc_recv_done(fd, used);                  // consume the first `used`
 *
 *   n = xway_zc_reserve(fd, 65536, &z, 0);        // wait for room: 1..65536 bytes
 *   ... write into z.seg[0], then z.seg[1] ...
 *   xway_zc_commit(fd, written, MSG_NOSIGNAL);    // send the first `written`
 *
 * Rules.
 * - One view and one reservation at most per socket at a time.  While one is
 *   open, the other data calls of that direction on the socket (recv, read,
 *   MSG_PEEK; send, write, sendfile) fail with EBUSY, and a second
 *   xway_zc_recv / xway_zc_reserve with EALREADY; the other direction is free.
 *   A view or reservation belongs to the socket, not to a thread.
 * - Blocking follows the socket (O_NONBLOCK, SO_RCVTIMEO/SO_SNDTIMEO: EAGAIN)
 *   or MSG_DONTWAIT in flags.  Waiting in poll/epoll for POLLIN/POLLOUT and
 *   then calling with MSG_DONTWAIT works as for recv/send.
 * - The memory of a view or reservation is valid until xway_zc_recv_done /
 *   xway_zc_commit, or until the socket is closed: close ends both (a
 *   reservation's bytes are not sent) and the memory may be unmapped at once.
 *   Do not touch it after close, from any thread.
 * - A connection reset while a view is open: the view stays readable until
 *   done.  A reservation on a connection reset or shut down for writing since:
 *   the commit sends nothing and fails (ECONNRESET, EPIPE).
 * - A connection moves to another path (the switch) only when no view or
 *   reservation is open on it: the switch waits for them (at most 1 s, then
 *   the connection is reset), and the socket's other calls wait with it.  A
 *   reservation committed while the peer has vanished is sent again over TCP
 *   with the rest.  One exception: a ring acceptor (the side that maps its
 *   peer's pages) whose own domain moves while it holds a view or
 *   reservation — their bytes were in the mapping the move took — has its
 *   connection reset (ECONNRESET).
 * - A view of a whole ring leaves its sender no room until done: consume a
 *   large view in pieces (xwperf --zc: 64 KiB at a time; with the whole
 *   256 KiB ring in one view it was slower than copying, 7.2 against 11.4 GB/s).
 * - Not under xway-run: the shim's programs use the POSIX calls.
 */
#ifndef XWAY_ZC_H
#define XWAY_ZC_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes in place: seg[0], then seg[1] (empty unless the bytes go on elsewhere:
 * where a ring wraps, or into a TCP view's second received segment). */
struct xway_zc {
    struct iovec seg[2];
    size_t len; /* seg[0].iov_len + seg[1].iov_len */
};

/* Look at what arrived, in place, without consuming it: z describes bytes
 * readable now (at least 1: on the ring all of them, on the TCP path those of
 * one or two received segments).  flags: 0 or MSG_DONTWAIT.
 * Returns z->len (> 0), 0 at EOF (no view is open then), or -1 with errno:
 * EAGAIN (nonblocking, or SO_RCVTIMEO passed), EALREADY (a view is open),
 * ECONNRESET, ENOTCONN, EBADF/ENOTSOCK (not an xway socket), EINVAL. */
ssize_t xway_zc_recv(int fd, struct xway_zc *z, int flags);

/* Close the view, consuming its first n bytes (0 <= n <= z->len; the rest
 * is read next, by any call).  0, or -1 with errno EINVAL (no view is open,
 * or n is larger than it). */
int xway_zc_recv_done(int fd, size_t n);

/* Reserve room to send, in place, waiting for room as send would: z
 * describes 1 to want bytes of it (at most what the ring or TCP has free
 * now; the TCP path offers at most 256 KiB).  flags: 0 or MSG_DONTWAIT.
 * Returns z->len, or -1 with errno: EAGAIN (nonblocking, or SO_SNDTIMEO
 * passed), EALREADY (a reservation is open), EPIPE, ECONNRESET, ENOTCONN,
 * EBADF/ENOTSOCK, EINVAL (want 0). */
ssize_t xway_zc_reserve(int fd, size_t want, struct xway_zc *z, int flags);

/* Send the reservation's first n bytes (0 <= n <= z->len) and close it.
 * flags: MSG_NOSIGNAL, MSG_DONTWAIT.  All n go at once (on the TCP path the
 * reservation was no larger than TCP's room; if another thread sent since,
 * the commit waits as send would, or with MSG_DONTWAIT on a nonblocking
 * socket sends what fits).  Returns the bytes sent (from the start), or -1
 * with errno: EINVAL (no reservation, n too large), EPIPE (SIGPIPE too,
 * unless MSG_NOSIGNAL), ECONNRESET: nothing sent. */
ssize_t xway_zc_commit(int fd, size_t n, int flags);

#ifdef __cplusplus
}
#endif

#endif

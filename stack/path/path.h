/* The ways a connection moves its bytes (paths), behind one ops table.
 *
 * Every connection is an lwIP TCP connection (struct xw_tcp_conn in socket.h):
 * it is set up and torn down by TCP, and TCP stays open beside any other path
 * as the connection's control and liveness channel.  What carries the payload
 * is the connection's path: the TCP path (tcp_path.c: the bytes go through lwIP)
 * or the ring path (ring_path.c: the bytes go through a shared-memory channel).
 * The socket layer (sock/) calls a connection's path only through its ops and
 * never asks which path it is.
 *
 * The switch rule.  s->ops is written only with the stack lock held, by
 * xw_path_set, with release order: whatever the new path needs (its state in
 * struct xw_sock, its readiness) is in place before the new ops are visible.
 * A caller without the stack lock loads s->ops once (acquire) per call and runs
 * that path's op to its end; the old path's state stays valid until the socket
 * is reclaimed (xw_path_release), so a call that loaded the old ops never
 * touches freed state.  An op that waits and finds on waking that the
 * connection's ops changed returns what it has moved (or -EAGAIN if nothing);
 * the socket layer then calls the new path for the rest (it compares the ops
 * it called with the current ones; no value is reserved for "switched").
 * Switches: the handshake's TCP -> ring, made before the connection is shown
 * to the application as connected or accepted; and ring -> TCP on a live
 * connection (switch.c), when a domain moves.
 */
#ifndef XW_PATH_H
#define XW_PATH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct xw_sock;
struct xway_conn_info;
/* A source of bytes for sendfile (a file, on Linux). */
typedef ssize_t (*xw_fill_fn)(void *arg, const struct iovec *iov, int cnt);

struct xw_path_ops {
    const char *name; /* "tcp", "ring": xway_conn_info.path, logs */
    /* send/recv run without the stack lock (the caller holds a lock-free or a
     * counted reference); false: they run with it held and may sleep on the
     * socket's condition variable. */
    bool unlocked_io;
    /* Close with SO_LINGER {1, t} on a blocking socket waits up to t for the
     * bytes this path sent to be acknowledged. */
    bool linger;
    /* Bytes moved, or -errno (EAGAIN: nonblocking and nothing possible now).
     * Blocking per the socket's mode, flags and timeouts; no SIGPIPE. */
    ssize_t (*send)(struct xw_sock *s, const struct iovec *iov, int iovcnt, size_t total,
                    int flags);
    ssize_t (*recv)(struct xw_sock *s, const struct iovec *iov, int iovcnt, size_t want,
                    int flags);
    /* sendfile: up to count bytes that fill(arg, iov, cnt) writes straight
     * into the path (into iov: bytes written, 0 at the source's end, -errno),
     * moved as send would (same blocking and errors; the source's -errno when
     * nothing was sent).  NULL: the socket layer copies through a buffer. */
    ssize_t (*sendfile)(struct xw_sock *s, xw_fill_fn fill, void *arg, size_t count);
    /* Lock held.  End our sending direction of the path's stream: the peer
     * reads EOF after our last byte (the TCP connection's FIN is the socket
     * layer's).  NULL: the TCP FIN is the end of the stream. */
    void (*shutdown_wr)(struct xw_sock *s);
    /* Lock held.  Abort the path's stream: the peer sees ECONNRESET.  NULL:
     * the TCP reset is enough. */
    void (*reset)(struct xw_sock *s);
    /* Lock held.  Readable/writable now.  settle: the caller is about to sleep
     * in the kernel on the socket's readiness fd, which must then not say
     * "ready" when it is not (it may cost syscalls); otherwise a pure look. */
    void (*readiness)(struct xw_sock *s, bool settle, bool *rd, bool *wr);
    /* Lock held.  The connection's state changed (data, space, EOF, error,
     * close): publish the readiness fd and wake this path's own sleepers
     * (the socket layer broadcasts the socket's condition variable). */
    void (*changed)(struct xw_sock *s);
    /* Lock held.  Wake this path's sleepers only (the socket is closing). */
    void (*wake)(struct xw_sock *s);
    /* Without the stack lock (a lock-free reference held): XW_CHAN_* events
     * among `events` that are ready now, for busy-polling.  NULL: the path
     * cannot be polled without the lock (nobody spins on it). */
    int (*poll_fast)(struct xw_sock *s, int events);
    /* Without the stack lock (a lock-free reference held): the socket's
     * EPOLL* mask now (IN, OUT, RDHUP, HUP, ERR and the NORM twins) for a
     * waiter in user space (waiter.h), and its edges' marks: marks[0] moves
     * with every arrival, marks[1] with every send that found no room.  arm
     * (XW_CHAN_* mask): first ask the peer to notify its next move in those
     * directions (a waiter about to sleep).  The path's events signal the
     * socket's watchers.  NULL: the path's readiness is the readiness fd's
     * (the kernel waits on it). */
    uint32_t (*look)(struct xw_sock *s, int arm, uint32_t marks[2]);
    /* The zero-copy API (xway_zc.h; sock/zc.c keeps each socket's open view
     * and reservation).  Lock held iff !unlocked_io.  view: wait (unless
     * nonblock; SO_RCVTIMEO: -EAGAIN) for readable bytes and describe them in
     * place in seg: count, 0 at EOF, -errno; a view holds the receiving
     * direction until consume(n <= count).  reserve: wait for room, up to
     * want bytes in seg: count or -errno; holds the sending direction until
     * commit(n <= count): bytes sent or -errno. */
    ssize_t (*zc_view)(struct xw_sock *s, struct iovec seg[2], bool nonblock);
    void (*zc_consume)(struct xw_sock *s, size_t n);
    ssize_t (*zc_reserve)(struct xw_sock *s, size_t want, struct iovec seg[2], bool nonblock);
    ssize_t (*zc_commit)(struct xw_sock *s, size_t n, int flags);
    /* Lock held, last reference gone: free the path's state in s (called for
     * every path, whether s used it or not; a no-op then). */
    void (*release)(struct xw_sock *s);
    /* Lock held: the path's part of xway_conn_info (path, fallback, bytes). */
    void (*info)(const struct xw_sock *s, struct xway_conn_info *ci);
};

extern const struct xw_path_ops xw_tcp_ops;
extern const struct xw_path_ops xw_ring_ops;

/* The ring path's state of a connection (ring_path.c).
 * ch: set by the handshake under the stack lock before xw_ring_ops is
 * published (xw_path_set), cleared only by release (last reference, no
 * lock-free user) or by the handshake before that; the ring's indices are the
 * channel's own (channel.c: validated, never trusted).  The other members are
 * atomics, updated by the ring path without any lock. */
struct xw_ring_state {
    struct xw_channel *ch;
    /* Futex word of the path's sleepers: bumped by every event for this
     * socket and by anything that must wake them (close, TCP reset). */
    _Atomic unsigned seq;
    _Atomic int sleepers;  /* threads sleeping (or about to) on seq */
    /* How long a wait spins now, microseconds (ring_path.c: adaptive, at most
     * XWAY_SPIN_US); 0: not set yet. */
    _Atomic unsigned spin_us;
    _Atomic uint64_t tx_bytes, rx_bytes;
    _Atomic bool err_seen; /* the ring's error was reported once */
    /* Each direction of a ring has one owner at a time (ring.c): a thread
     * holds the direction's flag for one nonblocking step or one owner's check
     * of the indices (never while it waits), so that threads sending (or
     * receiving) on one socket at once interleave whole steps, never reserve
     * the same bytes, and never judge an index another one is moving. */
    _Atomic bool tx_busy, rx_busy;
    /* Bytes of the peer's to deliver before the ring's (a connection claimed
     * from a pump, satellite.h: what the pump had passed on and the process
     * had not read yet); pre_off moves under rx_busy.  NULL: none. */
    char *pre;
    size_t pre_len;
    _Atomic size_t pre_off;
    uint32_t rx_mark; /* the peer's producer index at the last arrival's edge (ready.lock) */
    _Atomic uint32_t tx_stalls; /* sends that found the ring full (an EPOLLOUT edge each) */
    /* Heartbeats (ring_beat.c, lock held): the list of ring sockets, and
     * whether the peer's beats are what tells its death. */
    struct xw_sock *beat_next, *beat_prev;
    bool watch_beat;
    /* Waits that spun / slept (xwayctl). */
    _Atomic unsigned spins, sleeps;
    /* The connection left the ring (switch.c): every call of the ring path
     * stops at its next step (a direction's owner checks it) and the socket
     * layer calls the TCP path instead. */
    _Atomic bool left;
};

/* Lock held: switch the connection to ops (the switch rule above). */
void xw_path_set(struct xw_sock *s, const struct xw_path_ops *ops);
/* Lock held, last reference gone: every path releases its state in s. */
void xw_path_release(struct xw_sock *s);
/* Lock held: xway_conn_info of s (XWAY_CONN_INFO). */
void xw_path_info(const struct xw_sock *s, struct xway_conn_info *ci);

#endif

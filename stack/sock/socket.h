/* The socket table and the per-socket state shared by the API entry points
 * (api.c, sockopt.c, poll.c, handoff.c) and the paths (path/).
 *
 * This is the core's socket (freestanding C): the connection logic (path/,
 * conn.c) uses it and calls the table, readiness and waiting functions below,
 * which its host implements — the Linux library's socket layer (table.c: each
 * socket a struct xw_sock_linux, sock_linux.h, whose number is its readiness
 * fd) or the core's threadless loop (stack/loop/loop.c).
 *
 * Locking.  A socket's members are written with the stack lock held (stack.h),
 * except the path state that its comment says otherwise.  The lock-free ring
 * path (path/ring_path.c) also *reads*, without the lock: ops, closing, err,
 * nonblock, shut_rd, shut_wr and polled (atomics: a stale value only delays
 * what the next call or wake-up sees), rcvtimeo_us/sndtimeo_us (a setsockopt
 * racing a call takes effect on the next call), fd, and the Linux socket's
 * readiness fd (sock_linux.h; it has its own lock).
 * Lifetime: a socket is reachable through the table from xway_socket/accept
 * until xway_close; a thread sleeping on it (xw_sock_wait) holds a reference
 * (refs) and a lock-free caller holds a user count (users), so that a
 * concurrent close reclaims the socket only after both have left (table.c).
 */
#ifndef XW_SOCKET_H
#define XW_SOCKET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "channel.h"
#include "handshake.h"
#include "lwip/tcp.h"
#include "path.h"

/* The socket calls' families and flags, Linux's values (the Linux library
 * passes its callers' on; sock_linux.h checks that they agree). */
#define XW_AF_INET 2
#define XW_AF_INET6 10
#define XW_MSG_PEEK 0x2
#define XW_MSG_DONTWAIT 0x40
#define XW_MSG_WAITALL 0x100
#define XW_MSG_NOSIGNAL 0x4000
/* Internal (no caller's flag: the calls accept only the ones they know): the
 * rest of a call that moved bytes on the path it switched from.  A pending
 * error is then reported to the call but not taken: the call returns its
 * count, and the error is the next call's, as after any partial transfer. */
#define XW_MSG_CONT 0x8000000
/* The readiness events of a user-space waiter (path.h: look), epoll's. */
#define XW_EPOLLIN 0x001
#define XW_EPOLLOUT 0x004
#define XW_EPOLLERR 0x008
#define XW_EPOLLHUP 0x010
#define XW_EPOLLRDNORM 0x040
#define XW_EPOLLWRNORM 0x100
#define XW_EPOLLRDHUP 0x2000

enum xw_sock_state {
    XW_SS_NEW,        /* created, maybe bound */
    XW_SS_LISTEN,
    XW_SS_CONNECTING,
    XW_SS_CONNECTED,
    XW_SS_DEAD,       /* the connection is gone: error, reset or fully closed */
};

/* The lwIP connection every socket has (tcp_path.c).  It carries the TCP
 * path's payload and the handshake's control messages, and under any other
 * path stays open as the connection's control and liveness channel.  Stack
 * lock held for every member. */
struct xw_tcp_conn {
    struct tcp_pcb *pcb;     /* NULL once lwIP freed it or we let go */
    struct pbuf *rx;         /* received, not yet read; rx_off bytes of it consumed */
    uint32_t rx_off;
    uint32_t rx_len;         /* bytes readable = rx->tot_len - rx_off */
    uint16_t mss;            /* once established: the MSS (TCP_MAXSEG); lwIP's
                              * segments may be longer (xw_stack_tcp_seg) */
    bool arrived;            /* bytes came since the readiness fd was last set */
    uint64_t tx_bytes, rx_bytes; /* payload the TCP path moved */
    void *zc_buf;            /* zero copy: the reservations' buffer (tcp_path.c) */
    size_t zc_cap;
    /* After a switch from the ring (switch.c): pre, the peer's bytes the ring
     * still held, read before lwIP's (counted in rx_len); resend, ours the
     * peer had not read from the ring, sent before any new byte; hold: where
     * the peer's reading stopped is not known yet, nothing is sent; fin_due:
     * the application ended its sending side while the ring carried it, the
     * FIN follows the resend. */
    uint8_t *pre, *resend;
    size_t pre_len, pre_off, resend_len, resend_off;
    bool hold, fin_due;
};

/* The switch from the ring to TCP (switch.c): state NONE -> (PENDING: an open
 * zero-copy view or reservation holds the ring) -> WAIT (we left: our SWITCH
 * sent, the peer's due) -> DONE (the peer's SWITCH applied). */
enum { XW_SW_NONE, XW_SW_PENDING, XW_SW_WAIT, XW_SW_DONE };
struct xw_switch {
    int state;
    int reason;          /* enum xw_reason: why we left */
    bool moved;          /* our domain moved: our mappings of the peer's pages are gone */
    bool peer_known;     /* the peer's SWITCH arrived: peer_idx */
    uint32_t peer_idx;
    uint8_t in[32];      /* the peer's SWITCH as it arrives */
    uint8_t in_len;
    struct xw_chan_switch out; /* what we held of the ring when we left */
    bool release_due;    /* the ring's channel goes once no call is inside it */
    int ring_calls;      /* path_io's calls inside the ring path now */
    uint32_t count;      /* switches made (XWAY_INFO) */
};

/* The way back, TCP -> ring on a live connection (upgrade.c): each side sends
 * a control section (HELLO, then the handshake's messages) at a position its
 * MARK option names; UP_DRAIN: ours waits for our queued bytes to leave (the
 * application's new ones wait: tcp.hold); UP_ON: ours is out. */
enum { XW_UP_NONE, XW_UP_DRAIN, XW_UP_ON };
struct xw_upgrade {
    int state;
    struct xw_hs hs;       /* the exchange after both HELLOs */
    bool peer_hello;       /* the peer's HELLO arrived */
    bool decided;          /* both HELLOs seen, the FSM started */
    bool willing;          /* our HELLO offers our host (else: only an answer) */
    uint64_t my_host;      /* the host our HELLO named (0: unwilling) */
    bool retry;            /* we answered unwilling, for a while only: try later */
    struct xw_channel *ch; /* the new ring while the exchange goes on */
    uint32_t peer_domid;
    uint64_t peer_host;
    bool in_section;       /* the bytes arriving are the peer's section */
    bool mark_done;        /* rx_mark's section was read (or is being read) */
    uint32_t rx_mark;
    uint8_t in[32];        /* the peer's message as it arrives */
    uint8_t in_len;
};

/* The zero-copy API's open view and reservation (zc.c, xway_zc.h): state
 * ZC_NONE -> ZC_OPENING (the call waits) -> ZC_OPEN -> ZC_CLOSING -> ZC_NONE;
 * the path that made it, and its size. */
enum { XW_ZC_NONE, XW_ZC_OPENING, XW_ZC_OPEN, XW_ZC_CLOSING };
struct xw_zc_dir {
    _Atomic int state;
    const struct xw_path_ops *ops;
    size_t len;
};

struct xw_sat;

struct xw_sock {
    /* Lock-free users (xw_sock_get_fast).  Kept across reuse. */
    _Atomic int users;
    _Atomic bool zombie;     /* last reference dropped while users > 0 */
    struct xw_sock *next_free;
    int fd;                  /* public number: the readiness fd the app polls */
    uint64_t id;             /* unique in the process (never reused, unlike the struct) */
    /* The user-space waiters watching it (waiter.h), under watch_lock. */
    atomic_flag watch_lock;
    _Atomic int nwatch;
    int capwatch;
    struct xw_waiter **watch;
    int domain;              /* AF_INET / AF_INET6 */
    enum xw_sock_state state;
    _Atomic bool nonblock;
    _Atomic bool closing;    /* xway_close in progress: sleepers must leave */
    _Atomic bool halt;       /* a pump's pause (handoff.c): every wait of a call
                                ends at once, as a timeout does (EAGAIN) */
    int refs;                /* table reference + one per sleeping thread */

    _Atomic int err;         /* pending error for SO_ERROR / the next call, errno */
    bool rd_eof;             /* peer sent FIN */
    _Atomic bool shut_rd, shut_wr; /* local shutdown */
    bool was_connected;
    struct xw_tcp_conn tcp;

    /* listen: established, not yet accepted.  Every connection in it or still
     * negotiating counts in lwIP's backlog, so aq_cap (never below backlog + 1)
     * has room for all of them; one lost before accept leaves it (tcp_path.c). */
    struct xw_sock **acceptq;
    int aq_head, aq_len, aq_cap;
    int backlog;
    bool shared;               /* listening when the process forked (keeper.h) */
    bool for_other;            /* made by the process channel for another process
                                  (owner.h: CONNECT, LISTEN): never handed off at
                                  fork nor closed as this process's own */
    /* SO_REUSEPORT listeners on one address and port: the first (the leader)
     * holds lwIP's listening pcb; each new connection goes to one of the group
     * in turn (tcp_path.c).  Leader: rp_next lists the others, rp_turn is the
     * next to get one.  Others: rp_leader, and no pcb of their own. */
    struct xw_sock *rp_leader, *rp_next, *rp_turn;
    ip_addr_t rp_name_ip;      /* a follower's bound name */
    u16_t rp_name_port;
    bool kept;                 /* closed by its process, kept for the others */
    /* A satellite's socket (satellite.h): a ring connection of the owner's
     * stack served in this process; no pcb here.  NULL otherwise. */
    struct xw_sat *sat;

    /* The handshake (negotiate.c).  A connector stays CONNECTING and an
     * acceptor stays out of the accept queue until the handshake is done, so
     * the application never sees a half-decided socket. */
    struct xw_hs hs;
    struct xw_sock *listener;  /* acceptor, while negotiating */
    bool hs_done;              /* the outcome has been applied */
    bool doomed;               /* never shown to the application; freed when lost */
    bool connect_quiet;        /* a blocking connect in progress: readiness published at its end */
    /* Connector of a ring: the listener's address, where a channel parked at
     * the close is offered again (ring_park.h); port 0: none. */
    ip_addr_t ring_peer_ip;
    u16_t ring_peer_port;
    struct xw_sock *queued;    /* the listener whose accept queue holds it */
    struct xw_chan_offer hs_offer; /* fault injection: an offer answered late */

    /* The path that carries the payload (path.h: read it with xw_path_of,
     * change it with xw_path_set), and the ring path's state. */
    _Atomic(const struct xw_path_ops *) ops;
    struct xw_ring_state ring;
    struct xw_switch sw;
    struct xw_upgrade up;
    struct xw_zc_dir zc_rx, zc_tx;

    /* options */
    _Atomic bool polled;       /* XWAY_POLLED: keep the fd exact on the ring */
    /* xway_poll's kernel sleeps on the fd of a socket it could not watch in
     * user space (not on the ring when it looked): the fd is kept exact while
     * one lasts, so that a switch to the ring during it wakes it. */
    _Atomic int fd_sleepers;
    bool reuseaddr, reuseport, keepalive, nodelay;
    int linger_on, linger_s;   /* SO_LINGER: struct linger's l_onoff, l_linger */
    int rcvbuf, sndbuf;
    uint64_t rcvtimeo_us, sndtimeo_us; /* SO_RCVTIMEO, SO_SNDTIMEO; 0: none */
    int keepidle, keepintvl, keepcnt;
    bool bound;
};

/* The connection's current path (any context). */
static inline const struct xw_path_ops *xw_path_of(const struct xw_sock *s)
{
    return atomic_load_explicit(&s->ops, memory_order_acquire);
}

/* Enter a public API call on fd: start the stack if needed, lock, look fd up.
 * NULL with errno set on failure (the lock is then not held). */
struct xw_sock *xw_api_enter(int fd);
/* A zero-copy view (receiving) or reservation (sending) is open or being
 * opened on s: that direction's other data calls fail with EBUSY (zc.c). */
static inline bool xw_zc_busy(struct xw_sock *s, bool sending)
{
    return atomic_load_explicit(sending ? &s->zc_tx.state : &s->zc_rx.state,
                                memory_order_relaxed) != XW_ZC_NONE;
}
/* The zero-copy API's view (receiving) or reservation (sending) on s (conn.c,
 * every host's; xway_zc.h for the contract): open one through the
 * connection's path — its bytes in seg, their count, 0 at EOF, -errno
 * (EALREADY: one is open; ENOTCONN: a listener); close it — consume n of the
 * viewed bytes (0), or send n of the reserved ones (bytes sent or -errno;
 * flags: XW_MSG_*) — by the path that opened it; -EINVAL when none is open or
 * n is more than it holds.  The caller holds s the way its path runs. */
ssize_t xw_sock_zc_open(struct xw_sock *s, bool sending, size_t want, struct iovec seg[2],
                        bool nonblock);
ssize_t xw_sock_zc_close(struct xw_sock *s, bool sending, size_t n, int flags);
/* Leave it (xw_stack_leave) with a result: negative values become -1 + errno. */
long xw_api_leave(long rc);

/* The body of xway_close (lock held): close or reset, then xw_sock_free. */
void xw_sock_close_locked(struct xw_sock *s);
/* Closing s (lock held, s->closing set; conn.c, every host's): reset the
 * connections queued on a listener and those still negotiating on it, and end
 * the path's stream, gracefully (the peer reads EOF after our last byte) or
 * not (SO_LINGER {1, 0}, unread bytes, or a switch to TCP in the middle): true
 * when reset.  The host then lets go of the connection (xw_tcp_release with
 * that answer) and frees s. */
bool xw_sock_close_begin(struct xw_sock *s);
/* send/recv on a socket already looked up (lock held; the ring path drops it
 * while it works).  Bytes or -errno; no SIGPIPE. */
ssize_t xw_sock_send_locked(struct xw_sock *s, const struct iovec *iov, int iovcnt,
                            size_t total, int flags);
ssize_t xw_sock_recv_locked(struct xw_sock *s, const struct iovec *iov, int iovcnt,
                            size_t total, int flags);

/* Table: fd -> socket, lock held. */
struct xw_sock *xw_sock_lookup(int fd);
/* Without the stack lock: the socket with a lock-free reference, or NULL.
 * Release with xw_sock_put_fast. */
struct xw_sock *xw_sock_get_fast(int fd);
void xw_sock_put_fast(struct xw_sock *s);
/* A new socket and its pollable fd (connected: an established connection's,
 * writable from the start).  0 or -errno. */
int xw_sock_new(int domain, bool nonblock, bool cloexec, bool connected, struct xw_sock **out);
/* A new socket's fields (the host allocated it zeroed): its number fd, its
 * id, the defaults of a TCP socket (buffers, keep-alive), the TCP path. */
void xw_sock_init(struct xw_sock *s, int fd, uint64_t id, int domain, bool nonblock);
void xw_sock_free(struct xw_sock *s);
/* Give socket s the number nfd, a duplicate of its readiness fd that nobody
 * else holds in the table; its old number is no longer its (the caller
 * replaces or closes it).  0, -EBUSY (nfd is a socket's), -EBADF, -EINVAL. */
int xw_sock_move(struct xw_sock *s, int nfd);
/* The same as an API call (api.c, takes the lock), for the shim's dup2 onto a
 * number whose connection has other numbers: 0, or -1 with errno. */
int xw_sock_renumber(int fd, int nfd);
/* fn(fd) is called (stack lock held) just before the stack closes a socket's
 * public number fd, whoever asked (xway_close, xway_fini): the shim's fd table
 * learns of closes it did not make.  fn must not take locks. */
void xw_sock_on_release(void (*fn)(int fd));
/* Drop a reference taken with s->refs++ (lock held); frees on the last. */
void xw_sock_put(struct xw_sock *s);
/* Reset and free the connections still negotiating on listener l. */
void xw_sock_close_children(struct xw_sock *l);
/* In a forked child: forget the parent's sockets. */
void xw_sock_forget_all(void);
/* Handed-off numbers (handoff.c): fd's entry now marks a kernel fd carrying a
 * connection that a pump owns; lookups no longer find the socket. */
void xw_sock_mark_handed(struct xw_sock *s);
bool xw_sock_is_handed(int fd);
void xw_sock_unmark(int fd);
/* Call fn on every socket in the table (lock held). */
void xw_sock_foreach(void (*fn)(struct xw_sock *s));
/* Close every socket (stack shutdown). */
void xw_sock_close_all(void);

/* After a state change: the path publishes the readiness fd and wakes its
 * sleepers, and every thread sleeping on it (xw_sock_wait) wakes. */
void xw_sock_changed(struct xw_sock *s);

/* The socket's readiness as the application sees it (the Linux socket: its
 * readiness fd, readyfd.h), published by the paths: between begin and end
 * (the readiness's own lock: a state computed under it is never overwritten
 * by an older one) set it, pulse it (a new arrival while readable: an edge for
 * edge-triggered pollers), show the connection's end (rdhup: the peer's FIN;
 * hup: both directions over; err: reset or error), or read what was last set. */
void xw_sock_ready_begin(struct xw_sock *s);
void xw_sock_ready_set(struct xw_sock *s, bool rd, bool wr);
void xw_sock_ready_pulse(struct xw_sock *s);
void xw_sock_ready_ends(struct xw_sock *s, bool rdhup, bool hup, bool err);
void xw_sock_ready_shown(struct xw_sock *s, bool *rd, bool *wr);
void xw_sock_ready_end(struct xw_sock *s);

/* Sleep until s changes (xw_sock_changed) or the deadline (0: none; the
 * port's clock, xway_port_now_us).  0, -ETIMEDOUT, or -EBADF when the socket
 * is being closed meanwhile. */
int xw_sock_wait(struct xw_sock *s, uint64_t deadline_us);
/* The deadline of a timeout from now (SO_RCVTIMEO, SO_SNDTIMEO): 0 for none. */
uint64_t xw_deadline(uint64_t timeo_us);

#endif

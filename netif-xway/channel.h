/* The ring channel: one connection's pair of one-way rings in pages that one
 * domain shares and the other maps, plus one event channel.
 *
 * Setup (driven by the in-stack handshake, which carries the offer):
 *   creator:  xw_channel_create() -> offer (fixed-width) -> peer
 *   acceptor: xw_channel_accept(offer): the offer's key must be the page's;
 *             the nonce read through the mapping -> peer
 *   creator:  xw_channel_check_nonce(echoed nonce) == 0 -> both use the ring
 * Any failure: close the channel and stay on TCP.
 *
 * Threads: one sending and one receiving thread at a time per channel; setup,
 * close, park and adopt calls of a process one at a time (its stack's lock).  Waits
 * use the backend handle's single event-channel fd; several channels of one
 * handle may wait in different threads (every wake re-checks the rings, and
 * blocking waits are cut into slices of XW_CHAN_SLICE_MS, which also bounds how
 * long a dead peer goes unnoticed).
 */
#ifndef XW_CHANNEL_H
#define XW_CHANNEL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "xenif.h"

/* Default bytes per direction.  Measured (ringbench, 2 cores, 64 KiB
 * messages): 64K 5.8, 256K 17.4, 1M 14.5, 4M 15.5 GB/s; through xwperf 256K
 * and 1M are alike (~11 GB/s).  256K also takes 4x fewer grants (129 pages per
 * connection: Xen's gntalloc allows 1024 per domain by default). */
#define XW_CHAN_DEFAULT_RING (256u * 1024u)
#define XW_CHAN_MIN_RING (64u * 1024u)
#define XW_CHAN_MAX_RING (4u * 1024u * 1024u)
/* Default busy-wait before blocking, microseconds (XWAY_SPIN_US): covers a
 * peer turnaround (ring ping-pong median 0.43 us) at a small cost before an
 * idle channel blocks; blocking every time costs ~5.6 us per round trip. */
#define XW_CHAN_DEFAULT_SPIN_US 50u
/* Acceptor: most channels mapped from one peer domain at a time (a stack's
 * default; see xw_chan_params.peer_rings). */
#define XW_CHAN_PEER_RINGS 512
/* Blocking waits re-check peer liveness at least this often. */
#define XW_CHAN_SLICE_MS 100

/* What the acceptor needs, all fixed width (host byte order; the control
 * message encodes it explicitly).  The nonce is deliberately NOT here: the
 * acceptor can only learn it through the mapped interface page.  The key is
 * in both: refs and ports are guessable (small, sequential), so a peer that
 * did not create the page could otherwise replay an offer made to someone else
 * in our domain; the acceptor checks the key before it binds or answers. */
struct xw_chan_offer {
    uint32_t domid;      /* the creator's domain id */
    uint32_t intf_ref;   /* grant ref of the interface page */
    uint32_t port;       /* the creator's unbound event-channel port */
    uint32_t ring_shift; /* log2(bytes per direction); must match the page */
    uint64_t key;        /* random; must match the page */
};

struct xw_chan_params {
    uint32_t ring_bytes; /* creator: per direction, power of two; 0: default.
                            Tests may go below XW_CHAN_MIN_RING down to one
                            page.  Acceptor: the largest ring it maps (an
                            offer of a bigger one is refused); 0: any */
    int spin_us;         /* -1: default */
    uint32_t peer_rings; /* acceptor: most channels mapped from one peer domain
                            in this process at a time; 0: no cap */
};

struct xw_channel;

/* Creator: share pages with peer_domid, allocate an unbound port, fill the
 * interface page.  -EINVAL bad size; -ENOSPC out of grants/ports (or over
 * the share limit, budget.h); -errno. */
int xw_channel_create(struct xw_xenif *x, uint32_t peer_domid,
                      const struct xw_chan_params *p, struct xw_channel **out,
                      struct xw_chan_offer *offer);
/* Acceptor: map, check the key, validate geometry, bind.  *nonce: to echo to
 * the creator.  -EMSGSIZE: the ring is bigger than p->ring_bytes; -ENOSPC:
 * p->peer_rings channels of that domain are mapped already (both checked
 * before mapping anything); -EKEYREJECTED: the offer's key is not the page's
 * (nothing bound, nothing learnt); -EPROTO: the page does not describe a
 * valid ring; -EPERM/-ENOENT: mapping refused; -ESRCH: creator gone. */
int xw_channel_accept(struct xw_xenif *x, const struct xw_chan_offer *offer,
                      const struct xw_chan_params *p, struct xw_channel **out,
                      uint64_t *nonce);
/* Creator: 0 if nonce is the one in our page, else -EACCES. */
int xw_channel_check_nonce(struct xw_channel *ch, uint64_t nonce);

/* timeout_ms: -1 forever, 0 nonblocking (-EAGAIN when nothing can be done).
 * send: blocks until all len bytes are in the ring; returns len, or the bytes
 * written before a timeout/error if any, else -EAGAIN/-ETIMEDOUT/-EPIPE/
 * -ECONNRESET/-EPROTO.  recv: returns > 0 bytes, 0 at EOF, or -errno. */
ssize_t xw_channel_send(struct xw_channel *ch, const void *buf, size_t len, int timeout_ms);
ssize_t xw_channel_recv(struct xw_channel *ch, void *buf, size_t len, int timeout_ms);

/* One nonblocking step of a send whose bytes fill() writes straight into the
 * ring's free space (sendfile reads the file into it: one copy).  fill gets
 * the free space as 1 or 2 segments and returns the bytes it wrote (from the
 * start), 0 (nothing more to send) or -1 (its own error, which it keeps).
 * Returns the bytes published, 0 when fill gave none, -EAGAIN (the ring is
 * full), or -errno of the channel. */
ssize_t xw_channel_send_fill(struct xw_channel *ch,
                             ssize_t (*fill)(void *arg, const struct iovec *iov, int cnt),
                             void *arg);

/* The readable bytes in place, without consuming them (MSG_PEEK): segments in
 * the ring (iov[1] is non-empty only across the wrap point), count or -errno,
 * 0 = none now. */
int xw_channel_peek(struct xw_channel *ch, struct iovec iov[2]);

/* Zero copy, by the direction's owner.  view: the readable bytes in place
 * (1 or 2 segments), count, 0 at EOF, -EAGAIN, or -errno (a reset discards
 * what is queued); consume: release the first n of them (-EINVAL: more than
 * the view had).  reserve: the free space in place, count, -EAGAIN (full), or
 * -errno (-EPIPE ...); commit: publish its first n bytes (nothing when the
 * channel failed since: -errno). */
int xw_channel_view(struct xw_channel *ch, struct iovec iov[2]);
int xw_channel_consume(struct xw_channel *ch, uint32_t n);
int xw_channel_reserve(struct xw_channel *ch, struct iovec iov[2]);
int xw_channel_commit(struct xw_channel *ch, uint32_t n);

/* Wait until readable (events & 1) and/or writable (events & 2), or EOF/error.
 * Returns the ready mask (1 readable-or-EOF, 2 writable, 4 error), -ETIMEDOUT, -errno. */
enum { XW_CHAN_READABLE = 1, XW_CHAN_WRITABLE = 2, XW_CHAN_ERROR = 4 };
int xw_channel_wait(struct xw_channel *ch, int events, int timeout_ms);

/* For an external poller: arm the wanted notifications and return what is
 * ready now (non-zero: do not sleep).  When 0, poll xw_channel_fd() for POLLIN,
 * then call xw_xenif_drain() on the handle and xw_channel_arm() again. */
int xw_channel_arm(struct xw_channel *ch, int events);
/* The peer's EOF has been read: nothing more will arrive. */
bool xw_channel_at_eof(struct xw_channel *ch);
/* The peer shut its side down (its EOF is there, bytes before it maybe not
 * read yet). */
bool xw_channel_peer_shut(struct xw_channel *ch);
/* The peer ended its stream gracefully (EOF, no reset of its own, no error
 * of the channel's): what is left in the ring is the stream's end. */
bool xw_channel_peer_ended(struct xw_channel *ch);
/* The peer's producer index as it is now (unvalidated): it moves when bytes
 * arrive, and only then (an edge for edge-triggered pollers). */
uint32_t xw_channel_rx_mark(const struct xw_channel *ch);
/* What is ready now (XW_CHAN_* mask), without arming anything: for spinning. */
int xw_channel_poll(struct xw_channel *ch, int events);
/* The thread that receives (events & XW_CHAN_READABLE) and/or sends
 * (XW_CHAN_WRITABLE), while it waits: validate those rings now (the shared
 * copy of our own index, the peer's index).  XW_CHAN_ERROR when the channel
 * is broken (reset, -EPROTO), else 0. */
int xw_channel_check(struct xw_channel *ch, int events);
/* The event handler (one thread at a time), for each event of our port: did
 * the peer publish anything new since the last call — its index moved forward
 * within bounds, EOF or an error newly set, its process gone?  An honest peer
 * notifies only after such a move; events without one are spurious (or late:
 * a notification of a parked ring's previous connection), and a peer that
 * sends nothing else is storming (the caller masks the port for a while). */
bool xw_channel_progress(struct xw_channel *ch);
/* Our local event-channel port: events of the handle's fd name it. */
int xw_channel_port(const struct xw_channel *ch);
/* The peer's domain. */
uint32_t xw_channel_peer_domid(const struct xw_channel *ch);

/* Heartbeats, for a peer in a domain whose death nothing else tells us (a
 * guest cannot see another guest's domain go: no event, no xenstore node it
 * may read, and a destroyed domain's kernel sends no unmap notification).
 * Each side's process calls beat every XW_CHAN_BEAT_MS (one thread per
 * channel: it bumps a counter in the ring it produces); peer_stalled (one
 * thread per channel) is true when the peer's counter has not moved for
 * dead_ms of now_ms (a monotonic clock): its domain is gone, paused, or its
 * process stopped (a debugger, SIGSTOP).  A peer that never beat (version)
 * cannot be here: the interface page's version has the beats. */
#define XW_CHAN_BEAT_MS 500
#define XW_CHAN_DEAD_MS 3000
void xw_channel_beat(struct xw_channel *ch);
bool xw_channel_peer_stalled(struct xw_channel *ch, uint64_t now_ms, unsigned dead_ms);
int xw_channel_fd(const struct xw_channel *ch);

/* End our sending direction (the peer reads EOF after the last byte). */
int xw_channel_shutdown_write(struct xw_channel *ch);
/* Abort both directions: the peer gets -ECONNRESET. */
void xw_channel_reset(struct xw_channel *ch);
/* The sticky error (-errno) or 0. */
int xw_channel_error(const struct xw_channel *ch);
/* Release everything: signal the peer (EOF + EPIPE on our receive side),
 * unmap/unshare, unbind.  ch is freed. */
void xw_channel_close(struct xw_channel *ch);

/* The switch to TCP (stack/path/switch.c).
 * vanished: the peer's process or domain went without a word (its live byte
 * cleared, its port or domain gone, before it ended or reset the stream
 * itself): it died, or its domain moved to another host.
 * switch_out: what this side still holds of the connection, copied out, the
 * directions' owners stopped (the caller holds both): rx, the peer's bytes we
 * have not consumed, and rx_idx our ring index after them; tx, our bytes the
 * peer may not have consumed yet, [tx_from, tx_idx).  Both rings are in the
 * creator's pages: an acceptor whose domain moved (moved) has lost its
 * mapping of them and copies neither (rx_len 0, tx_known false).  Buffers
 * from xway_port_malloc (NULL when empty), the caller's to free (the stack
 * frees them with free(): the Linux port's allocator is malloc's).  0,
 * -EPROTO (the peer's index is out of bounds), -ENOMEM.
 * close_quiet: release as close does, without a word to the peer (no EOF, no
 * EPIPE): after a switch, the stream goes on elsewhere. */
bool xw_channel_vanished(const struct xw_channel *ch);
/* Our domain is about to move (before the backend's handle is retired): a
 * zero-copy commit that finds the peer vanished records its bytes for the
 * switch only where they stay readable (the creator's own pages). */
void xw_channel_moving(struct xw_channel *ch);
/* The channel's pages are ours (we created it), not a mapping of the peer's. */
bool xw_channel_is_creator(const struct xw_channel *ch);
struct xw_chan_switch {
    uint8_t *rx, *tx;
    uint32_t rx_len, rx_idx;
    uint32_t tx_from, tx_idx;
    bool tx_known; /* tx holds [tx_from, tx_idx) (else unreadable) */
};
int xw_channel_switch_out(struct xw_channel *ch, bool moved, struct xw_chan_switch *out);
void xw_channel_close_quiet(struct xw_channel *ch);

/* Another process of our domain taking over an acceptor's data path (a
 * forked worker serving a connection its owner accepted: stack/sock/
 * satellite.c).  describe: what it needs (-EINVAL for a creator's channel).
 * adopt: map the same pages with handle x (a copy of the owner's handle, or
 * one of the same domain), validate them as accept does, and use the owner's
 * bound port to notify (borrowed: the port stays the owner's, whose event
 * dispatcher forwards its events).  The indices start at 0: the owner has
 * moved none.  -EPROTO/-EKEYREJECTED: the page is not the one described;
 * -errno from the mapping. */
struct xw_chan_desc {
    uint32_t peer_domid, intf_ref, port, ring_shift;
    uint64_t key;
    /* The lender's name for the ring: a borrower that served it before and
     * closed cleanly kept its mapping (at most 32, 4 s), and takes that one
     * (the page's key checked as a new mapping's is).  0: none. */
    uint64_t ring_id;
};
/* The private positions of both directions (ours to own), for handing a
 * channel's data path to another process and back. */
struct xw_chan_pos {
    uint32_t rx_idx, rx_seen, tx_idx, tx_seen;
    uint32_t wr_shut;
};
int xw_channel_describe(const struct xw_channel *ch, struct xw_chan_desc *d);
int xw_channel_adopt(struct xw_xenif *x, const struct xw_chan_desc *d,
                     struct xw_channel **out);
void xw_channel_position(const struct xw_channel *ch, struct xw_chan_pos *pos);
/* The borrower's kept mappings of handle x's rings (NULL: every handle's):
 * unmapped (the stack stops), or forgotten (a forked child: the parent's). */
void xw_channel_unkeep(struct xw_xenif *x, bool unmap);
/* Adopted on a mapping kept from the ring's last connection here. */
bool xw_channel_mapped_before(const struct xw_channel *ch);
/* The lender's side: while lent, xw_channel_progress judges the peer's moves
 * against the indices the borrower publishes (ours stay where they were). */
void xw_channel_lend(struct xw_channel *ch, bool lent);
/* Lent: did the borrower leave bytes of the peer's unread (its published
 * consumer index behind the peer's producer index)? */
bool xw_channel_lent_unread(const struct xw_channel *ch);
/* Lent now (its data path is another process's). */
bool xw_channel_is_lent(const struct xw_channel *ch);
/* The data path comes back: take over the positions another process reached. */
void xw_channel_set_position(struct xw_channel *ch, const struct xw_chan_pos *pos);
/* A borrowed channel given back: unmap, no word to the peer. */
void xw_channel_drop(struct xw_channel *ch);

/* Parking: a connection closed cleanly keeps its channel, which serves the
 * next connection between the same two processes without sharing, mapping
 * or binding anything (stack/path/ring_park.c).
 * parkable: at our close, nothing went wrong (no error, no reset either way,
 * the peer's process alive, the data path ours).  park: end our side as close
 * does (EOF, EPIPE, a kick if the peer asked) and keep everything else.
 * reoffer (creator): the acceptor has parked it too (its acceptor_parked
 * mark) and still maps the pages: zero both rings, a new nonce and key,
 * *offer to send (flagged as a parked channel's); -EAGAIN (not parked there
 * yet: ask later), -ESRCH (the acceptor is gone: close this channel), -errno.
 * reaccept (acceptor): the offer names this channel and its key is the page's:
 * fresh indices, *nonce to echo; -EINVAL (it names another channel),
 * -EKEYREJECTED (not its creator's offer); -ESRCH (the creator is gone),
 * -EPROTO (the page no longer matches): close this channel.
 * retake (creator): reoffer for a TAKE: the acceptor proposed the channel by
 * its key (-EKEYREJECTED: not this channel's); the new key, in the page now,
 * is xw_channel_key's.
 * retaken (acceptor): the TAKE of a channel we proposed carries key: it is the
 * page's (the creator wrote it: -EKEYREJECTED otherwise), fresh indices; the
 * other errors as reaccept's.
 * key: the key of the channel's latest offer or TAKE (both ends know it).
 * peer_closed: 1 when the peer has closed its end (its EOF, its EPIPE on
 * ours): on a parked channel, the peer has parked it too (or dropped it); 0
 * not yet; -ESRCH: the peer's process is gone.
 * identity: the offer's domain, interface ref, port (the creator's) and ring
 * size (key 0) that name this channel. */
bool xw_channel_parkable(struct xw_channel *ch);
void xw_channel_park(struct xw_channel *ch);
int xw_channel_reoffer(struct xw_channel *ch, struct xw_chan_offer *offer);
int xw_channel_reaccept(struct xw_channel *ch, const struct xw_chan_offer *offer,
                        uint64_t *nonce);
int xw_channel_retake(struct xw_channel *ch, uint64_t key);
int xw_channel_retaken(struct xw_channel *ch, uint64_t key);
uint64_t xw_channel_key(const struct xw_channel *ch);
int xw_channel_peer_closed(const struct xw_channel *ch);
void xw_channel_identity(const struct xw_channel *ch, struct xw_chan_offer *o);

/* Bytes in the rings now (hints, for tools): ours not yet consumed by the
 * peer, and the peer's not yet consumed by us. */
struct xw_chan_fill {
    uint32_t tx, rx;
};
void xw_channel_fill(const struct xw_channel *ch, struct xw_chan_fill *f);

/* Bytes per direction of this channel. */
uint32_t xw_channel_ring_bytes(const struct xw_channel *ch);

/* XWAY_RING / XWAY_SPIN_US style validation: 0 or -EINVAL. */
int xw_channel_check_ring_bytes(unsigned long bytes);

#endif

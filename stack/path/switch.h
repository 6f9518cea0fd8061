/* The switch: a live ring connection moves to TCP (docs/PROTOCOL.md, "The
 * switch").  Each side stops using the ring, keeps what it still holds of it
 * (the peer's bytes it has not read; its own the peer may not have read), and
 * sends SWITCH on the TCP connection, saying up to which ring index it has the
 * peer's bytes.  What each side sends next on TCP is the rest of its stream
 * from the index the peer named: nothing lost, duplicated or reordered.  A
 * side leaves when its domain moves, when the peer's SWITCH arrives, or when
 * the peer vanishes (dead, or moved: only its SWITCH tells); a peer that
 * sends no SWITCH within XW_SWITCH_TIMEOUT_MS is dead, and the connection is
 * reset.  The way back, TCP -> ring: upgrade.h.  Everything here runs with
 * the stack lock held. */
#ifndef XW_SWITCH_H
#define XW_SWITCH_H

#include <stdbool.h>
#include <stdint.h>

#include "lwip/pbuf.h"

#define XW_SWITCH_TIMEOUT_MS 1000

struct xw_sock;

/* Leave the ring (reason: enum xw_reason, XW_REASON_MOVED or _PEER_MOVED;
 * moved: our own domain moved, its mappings of the peer's pages are gone).
 * A connection that cannot go on over TCP (its TCP connection is closing or
 * gone, its ring is served by another process) is reset, as before the
 * switch existed. */
void xw_switch_leave(struct xw_sock *s, int reason, bool moved);
/* A zero-copy call gave a direction of the ring back: a leave that waited
 * for it goes on. */
void xw_switch_retry(struct xw_sock *s);

/* lwIP's bytes p arrived: does the switch read them (the connection is on the
 * ring, where TCP carries no payload, or the peer's SWITCH is still due)?
 * input: the bytes of p that were the peer's control message (the caller
 * acknowledges and drops them; the rest is payload); a malformed one resets
 * the connection (s->tcp.pcb changes). */
bool xw_switch_wants_input(const struct xw_sock *s);
u16_t xw_switch_input(struct xw_sock *s, struct pbuf *p);

/* Our bytes are not all with TCP yet (a close now would lose them). */
bool xw_switch_unfinished(const struct xw_sock *s);
/* A call left the ring path: the ring's channel may go now. */
void xw_switch_ring_idle(struct xw_sock *s);
/* Our domain moves (lock held): before the backend moves, every ring
 * connection leaves the ring (reason "moved"); after it moved (a new domain id
 * and host), the SYN option names the new host and every TCP connection that
 * can tries the ring again. */
void xw_switch_move_leave(void);
void xw_switch_moved(void);
/* The socket goes away: timers off, what the switch kept freed. */
void xw_switch_forget(struct xw_sock *s);

#endif

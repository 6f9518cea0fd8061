/* The way back: a live TCP connection between two xway stacks moves to the
 * ring when their domains are co-resident again (docs/PROTOCOL.md, section
 * 7).  Each side sends one control section in its stream, at the position its
 * MARK option names: HELLO (its domain and host), then, when both judge the
 * hosts equal, the handshake's own messages (OFFER / ACCEPT / CONFIRM, or
 * their refusals).  While its section is open a side sends no payload;
 * everything before the peer's mark is payload, read first.  Everything here
 * runs with the stack lock held. */
#ifndef XW_UPGRADE_H
#define XW_UPGRADE_H

#include <stdbool.h>

#include "lwip/pbuf.h"

#define XW_UPGRADE_TIMEOUT_MS 2000

struct xw_sock;

/* Try to go back to the ring (our domain moved, or the peer said HELLO): a
 * no-op for a connection that cannot (not between two xway stacks, not fully
 * open both ways, already trying, or in the middle of a switch). */
void xw_upgrade_start(struct xw_sock *s);
/* lwIP delivered p on the TCP path: the payload of it (the rest is the
 * peer's section, taken here), NULL when none is left; may reset the
 * connection (s->tcp.pcb changes). */
struct pbuf *xw_upgrade_input(struct xw_sock *s, struct pbuf *p);
/* A switch is over (its old ring released, its bytes with TCP): if we
 * answered a HELLO unwilling because of it, we try now. */
void xw_upgrade_retry(struct xw_sock *s);
/* Our domain moved: try now, or after the exchange in progress (which named
 * our old host). */
void xw_upgrade_moved(struct xw_sock *s);
/* Some of our queued bytes left: a section waiting for them goes out. */
void xw_upgrade_sent(struct xw_sock *s);
void xw_upgrade_forget(struct xw_sock *s);

#endif

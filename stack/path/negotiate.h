/* The in-stack handshake's I/O side (see handshake.h for its decisions and
 * docs/PROTOCOL.md for the wire).  The TCP connection reaches it through the
 * hooks it registers (tcp_path.h).  Stack lock held for everything. */
#ifndef XW_NEGOTIATE_H
#define XW_NEGOTIATE_H

#include <stdbool.h>

#include "xway_types.h"

/* XWAY_FAULT: make one step of the handshake fail on purpose (tests).
 * Two make this stack a tool for crafting hostile peers:
 *   raw:        the SYN option is exchanged (claiming an unknown host, which
 *               any listener answers) but no control message: the application
 *               reads and writes the control stream itself;
 *   offer-late: the connector sends its OFFER XW_OFFER_LATE_MS after creating
 *               the ring (within the acceptor's timeout). */
enum xw_fault {
    XW_FAULT_NONE, XW_FAULT_GRANT_SHARE, XW_FAULT_GRANT_MAP, XW_FAULT_EVTCHN,
    XW_FAULT_TIMEOUT, XW_FAULT_MALFORMED, XW_FAULT_VERSION, XW_FAULT_RESOURCES,
    XW_FAULT_NONCE, XW_FAULT_RAW, XW_FAULT_OFFER_LATE, XW_FAULT_UPGRADE_GRANTS,
};
#define XW_OFFER_LATE_MS 1000
int xw_neg_parse_fault(const char *v, enum xw_fault *out);

/* After the backend is up (or not): per-process state; registers the
 * handshake with the TCP connection (tcp_path.h). */
void xw_neg_start(enum xw_fault fault);

void xw_neg_stats(struct xway_stats *st);
/* xwayctl stats --reset: the counters start again from 0. */
void xw_neg_reset_stats(void);
/* Our host changed (a move): the SYN option names the new one. */
void xw_neg_rehost(void);
/* The way back to the ring (upgrade.c).  marks: both sides spoke the SYN
 * option, so every segment carries a MARK; mark_tx: our next control section
 * starts at the next byte we queue; mark_rx: where the peer's latest starts
 * (false: never said); connector: s made the connection; host: our host hash. */
struct xw_sock;
bool xw_neg_marks(const struct xw_sock *s);
void xw_neg_mark_tx(struct xw_sock *s);
bool xw_neg_mark_rx(const struct xw_sock *s, uint32_t *seq);
bool xw_neg_connector(const struct xw_sock *s);
uint64_t xw_neg_host(void);
enum xw_fault xw_neg_fault(void);
/* A ring connection switched to TCP (switch.c), by reason. */
void xw_neg_count_switch(int reason);
/* A TCP connection went back onto a ring (upgrade.c), and how many did: not
 * in struct xway_stats (its size is the ABI's), in xwayctl's and --stats'
 * reasons as "back-to-ring". */
void xw_neg_count_back(void);
uint64_t xw_neg_back(void);
/* Ring connections that took a parked channel (ring_park.h); of those, the
 * ones taken at the SYN exchange (the SYN-ACK proposed it: TAKE, no OFFER). */
uint64_t xw_neg_reused(void);
uint64_t xw_neg_taken(void);

#endif

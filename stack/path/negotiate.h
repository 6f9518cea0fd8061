/* The in-stack handshake's I/O side (see handshake.h for its decisions and
 * docs/PROTOCOL.md for the wire).  Stack lock held for everything. */
#ifndef XW_NEGOTIATE_H
#define XW_NEGOTIATE_H

#include <stdbool.h>

#include "socket.h"
#include "xway.h"

/* XWAY_FAULT: make one step of the handshake fail on purpose (tests). */
enum xw_fault {
    XW_FAULT_NONE, XW_FAULT_GRANT_SHARE, XW_FAULT_GRANT_MAP, XW_FAULT_EVTCHN,
    XW_FAULT_TIMEOUT, XW_FAULT_MALFORMED, XW_FAULT_VERSION, XW_FAULT_RESOURCES,
    XW_FAULT_NONCE,
};
int xw_neg_parse_fault(const char *v, enum xw_fault *out);

/* After the backend is up (or not): per-process state. */
void xw_neg_start(enum xw_fault fault);
/* Before tcp_connect: our SYN offers the option when the fast path is up. */
void xw_neg_connect_prepare(struct xw_sock *s);
/* After tcp_listen: answer options in SYNs. */
void xw_neg_listen_prepare(struct xw_sock *s);
/* Connector established.  true: the handshake owns the socket's state (it
 * marks it connected when done); false: plain TCP, connected now. */
bool xw_neg_on_connected(struct xw_sock *s);
/* Acceptor established.  true: negotiating (queued on l when done); false:
 * plain TCP, queue it now. */
bool xw_neg_on_accepted(struct xw_sock *l, struct xw_sock *s);
/* Bytes arrived while the handshake reads the stream. */
void xw_neg_input(struct xw_sock *s);
/* The socket goes away: cancel its timers. */
void xw_neg_forget(struct xw_sock *s);

void xw_neg_info(const struct xw_sock *s, struct xway_conn_info *ci);
void xw_neg_stats(struct xway_stats *st);

#endif

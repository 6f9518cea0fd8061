/* The fast path's backend handle and its event dispatcher thread. */
#ifndef XW_RING_EVENTS_H
#define XW_RING_EVENTS_H

#include <stddef.h>

#include "config.h"
#include "socket.h"
#include "xenif.h"

/* Open the backend per the configuration and start the dispatcher.  With
 * XWAY_BACKEND=auto a missing backend is not an error (TCP only).  Lock held. */
int xw_ring_events_start(const struct xw_config *c, char *err, size_t errlen);
/* Stop the dispatcher and close the backend.  Stack lock NOT held. */
void xw_ring_events_stop(void);
/* In a forked child: drop the parent's state without touching it. */
void xw_ring_events_forget(void);
/* The backend handle, or NULL when the fast path is unavailable. */
struct xw_xenif *xw_ring_xenif(void);

/* Route events of local port to s (lock held). */
int xw_ring_port_attach(int port, struct xw_sock *s);
void xw_ring_port_detach(int port, struct xw_sock *s);

void xw_futex_wake(_Atomic unsigned *word);
/* Sleep while *word == seen, at most timeout_ms (-1: forever).  0 or -ETIMEDOUT. */
int xw_futex_wait(_Atomic unsigned *word, unsigned seen, int timeout_ms);

#endif

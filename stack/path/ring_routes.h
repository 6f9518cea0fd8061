/* The ring connections' event routes (part of the core): which ring is behind
 * each event-channel port of the process's backend handle, and the defence
 * against event storms.  The environment waits for the backend's events and
 * calls xw_rev_routes_dispatch (the Linux library: its dispatcher thread,
 * ring_events.h).  Stack lock held for every call but xw_rev_xenif. */
#ifndef XW_RING_ROUTES_H
#define XW_RING_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "xenif.h"

/* The backend handle, or NULL when the fast path is unavailable (any
 * context: set while no ring exists). */
struct xw_xenif *xw_rev_xenif(void);

/* Route the events of local port to fn(arg), which returns whether the event
 * brought anything new (false: spurious; a port with many spurious events in
 * a row stays masked for a while).  -EINVAL if the port is out of range or
 * already routed, -ENOMEM. */
int xw_rev_attach(int port, bool (*fn)(void *arg), void *arg);
/* Stop routing port (if it still goes to arg). */
void xw_rev_detach(int port, void *arg);

/* Routes for handle x, ports 0..max_ports-1 (the backend's event-channel ABI
 * limit); listing: also keep a list of the routed ports (for
 * xw_rev_routes_run_all).  0 or -ENOMEM. */
int xw_rev_routes_open(struct xw_xenif *x, unsigned max_ports, bool listing);
/* Free the routes (not the handle). */
void xw_rev_routes_close(void);
/* Another handle (a move: every ring left the old one): no route is kept. */
void xw_rev_routes_rehandle(struct xw_xenif *x);
/* A forked child: the parent's tables are not ours; *kept gets them (for a
 * leak checker to find), and the routes are empty, without a handle. */
void xw_rev_routes_forget(void *kept[3]);

/* Take every pending port (a bounded batch, so that an event storm cannot
 * starve the others), call its route, then unmask it or keep it masked a
 * while.  The milliseconds until a masked port is due (the wait's timeout),
 * or -1 when none is. */
int xw_rev_routes_dispatch(void);
/* Call every listed route (an event that does not say its port). */
void xw_rev_routes_run_all(void);

#endif

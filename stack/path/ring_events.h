/* The fast path's backend handle and its event dispatcher thread (xw_rev_*,
 * Linux): it waits for the backend's events and dispatches them to their
 * routes (ring_routes.h). */
#ifndef XW_RING_EVENTS_H
#define XW_RING_EVENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "ring_routes.h" /* (the routes: xw_rev_attach, xw_rev_xenif) */
#include "xenif.h"

struct xw_config;

/* Open the backend per the configuration and start the dispatcher.  With
 * XWAY_BACKEND=auto a missing backend is not an error (TCP only).  Lock held. */
int xw_rev_start(const struct xw_config *c, char *err, size_t errlen);
/* Stop the dispatcher and close the backend.  Stack lock NOT held. */
void xw_rev_stop(void);
/* The keeper (keeper.c): stop the dispatcher thread keeping the handle and
 * its routes; start it again (in the keeper process).  0 or -errno. */
void xw_rev_pause(void);
int xw_rev_resume(void);
/* The sim's live migration (xwayctl sim-move), stack lock NOT held, every
 * ring connection off the ring already (switch.h): our domain moves to the sim
 * host dir, with a new domain id and host token; the old handle is retired
 * (xenif.h), kept for the channels still mapped through it.  0, -ENODEV (no
 * backend), -EOPNOTSUPP (not the sim), -errno of opening the new host. */
int xw_rev_move(const char *host);
/* In a forked child: drop the parent's state without touching it. */
void xw_rev_forget(void);
/* A forked child serving ring connections of its owner (satellite.h): the
 * parent's handle (its copy, inherited: sim only) maps and notifies, and a
 * dispatcher thread runs the routes of our ports whenever the owner signals
 * fwd_fd (an eventfd).  0, -ENODEV (no usable handle), -errno.  Lock held. */
int xw_rev_satellite(int fwd_fd);
/* A waiter about to sleep in the kernel (waiter.h) may also wait for the
 * event fd the dispatcher waits on (readable: events are pending; -1: none,
 * or a satellite's), and when woken by it, take the pending events itself
 * (stack lock NOT held): the route runs on the waiter's thread, one thread
 * switch less than through the dispatcher (which wakes too, and finds them
 * taken). */
int xw_rev_wait_fd(void);
void xw_rev_dispatch_now(void);
/* A ring sleeper polling the event fd itself while it waits for *word to
 * change, up to ms (ring_wait.c): 0, -ETIMEDOUT, or 1 when the fd cannot be
 * lent now.  Whoever changes the word it waits on (xw_rev_lent_to) kicks it
 * (xw_rev_kick_lender: not when it is the calling thread). */
int xw_rev_poll_events(_Atomic unsigned *word, unsigned seen, int ms);
bool xw_rev_lent_to(const _Atomic unsigned *word);
void xw_rev_kick_lender(void);

#endif

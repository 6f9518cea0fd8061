/* The ring path of a connection (xw_ring_ops, path.h): payload through the
 * shared-memory channel, without the stack lock and without lwIP. */
#ifndef XW_RING_PATH_H
#define XW_RING_PATH_H

#include <stdbool.h>
#include <stddef.h>

#include "path.h"

/* Lock held, s->ring.ch mapped and the handshake done: route the channel's
 * events to s and put the connection on the ring (xw_path_set).  -EINVAL if
 * the channel's port is already routed (the connection stays as it was). */
int xw_rpath_start(struct xw_sock *s);

/* Lock held: the channel's events go to fn(arg) instead of s (a satellite
 * serves it: owner.c forwards them); fn NULL: from arg back to s.  0 or
 * -errno. */
int xw_rpath_forward(struct xw_sock *s, bool (*fn)(void *arg), void *arg);

/* Lock held: bytes of the peer's that s delivers before the ring's (buf,
 * malloc'd, is s's now; len 0: none, buf freed); are some left? */
void xw_rpath_set_pre(struct xw_sock *s, char *buf, size_t len);
bool xw_rpath_pre_left(struct xw_sock *s);

/* Lock held: the peer is gone without a word (ring_beat.c): reset the channel
 * and wake every waiter of s. */
void xw_rpath_peer_gone(struct xw_sock *s);

/* The switch to TCP (switch.c), lock held.  stop: take both directions (the
 * calls in a step finish first) and mark the ring left (s->ring.left: every
 * call stops at its next step); no event or heartbeat reaches s any more.
 * false, nothing done: a zero-copy view or reservation holds a direction (the
 * ring path calls xw_switch_retry when it gives it back).  stopped: give the
 * directions back and wake every waiter (they find the new path).  drop:
 * release the channel without a word to the peer (no call inside it). */
bool xw_rpath_stop(struct xw_sock *s);
void xw_rpath_stopped(struct xw_sock *s);
void xw_rpath_drop(struct xw_sock *s);

/* For the shim: raw fds are waited on only through xway_poll (which settles
 * them first) or with XWAY_POLLED, so EAGAIN leaves a socket's fd alone. */
void xw_rpath_lazy_ready(void);

#endif

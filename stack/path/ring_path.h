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
 * allocated as xway_port_malloc does, is s's now; len 0: none, buf freed);
 * are some left? */
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

/* What the ring path asks of its host (the Linux library: ring_wait.c).
 * wait: until the channel is ready for events (XW_CHAN_* mask, returned), or
 * -ETIMEDOUT at the deadline (the port's clock, microseconds; UINT64_MAX:
 * none), -EBADF when the socket is being closed, or what
 * xw_rpath_interrupted says; leave_wait: while a switch waits for a zero-copy
 * call to end (switch.c: PENDING, which another thread's call ends, or the
 * switch's timeout with a reset), to go on over TCP or report the reset;
 * wake: the threads in s's ring calls re-check; yield: let another thread
 * finish its step on a direction (a waiting one's turn). */
int xw_rpath_wait(struct xw_sock *s, int events, uint64_t deadline_us);
void xw_rpath_leave_wait(struct xw_sock *s);
void xw_rpath_wake(struct xw_sock *s);
void xw_rpath_yield(void);
/* For the host's waits: a reason to stop waiting that is not the ring's
 * (-EBADF: closing; -ETIMEDOUT: a pump's pause or the switch to TCP;
 * XW_CHAN_ERROR: a TCP reset), or 0; the channel's check of the directions
 * in events, made as their owner. */
int xw_rpath_interrupted(const struct xw_sock *s);
int xw_rpath_check_owned(struct xw_sock *s, int events);

/* For the shim: raw fds are waited on only through xway_poll (which settles
 * them first) or with XWAY_POLLED, so EAGAIN leaves a socket's fd alone. */
void xw_rpath_lazy_ready(void);

#endif

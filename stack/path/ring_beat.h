/* Heartbeats of the ring connections (ring_beat.c). */
#ifndef XW_RING_BEAT_H
#define XW_RING_BEAT_H

struct xw_sock;

/* Lock held: s is on the ring (xw_rpath_start) / leaves it (its channel is
 * about to close). */
void xw_rbeat_add(struct xw_sock *s);
void xw_rbeat_remove(struct xw_sock *s);

#endif

/* Shared by the Xen ring-channel test program (xwt_ring): the test state,
 * the rendezvous of the two sides through the backend's key store
 * (xwt_meet.c) and the hostile-peer cases (xwt_hostile.c). */
#ifndef XWT_RING_H
#define XWT_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "channel.h"
#include "xenif.h"

#define WAIT_KEY_MS 120000 /* the peer guest may boot ~10 s later */

/* One side of the test.  Used by the main thread only (the sender thread
 * touches the channel, never this). */
struct xwt {
    struct xw_xenif *x;
    const char *dir;
    bool sharer;
    uint32_t peer;
    uint64_t bytes;      /* per direction */
    uint32_t ring_bytes; /* per direction */
    int watch_events;    /* store watch events seen */
    int watch_failures;  /* store_watch calls that failed */
};

double xwt_now_s(void);
/* The xen backend, or the sim on XWT_SIM_HOST when set (the sim twin). */
int xwt_open_backend(struct xw_xenif **x);

/* Keys under t->dir: write ours; wait (watch + read) for the peer's. */
int xwt_put(struct xwt *t, const char *key, const char *val);
int xwt_get_wait(struct xwt *t, const char *key, char *buf, size_t len, int ms);
const char *xwt_me(struct xwt *t);
const char *xwt_other(struct xwt *t);
/* Exchange domain ids; wait until the peer reached step name too. */
int xwt_meet(struct xwt *t);
int xwt_barrier(struct xwt *t, const char *name);

/* Channel setup through the store: the sharer creates and offers, the mapper
 * accepts and echoes the nonce, the sharer checks it.  0 or -errno. */
int xwt_publish_offer(struct xwt *t, const char *name, const struct xw_chan_offer *o);
int xwt_setup_create(struct xwt *t, const char *name, struct xw_channel **ch);
int xwt_setup_accept(struct xwt *t, const char *name, struct xw_channel **ch,
                     struct xw_chan_offer *o);

/* Hostile peer: the acceptor corrupts the creator's receive ring (case 1);
 * the creator corrupts the acceptor's send ring, or storms and then corrupts
 * its receive ring while it is blocked (cases 2 and 3). */
void xwt_hostile_acceptor(struct xwt *t);
void xwt_hostile_creator(struct xwt *t, const char *name, bool blocked);

/* A peer process killed with SIGKILL in a live domain: the survivor's blocked
 * recv fails within 5 s, the creator's death (case 1) and the acceptor's. */
void xwt_death(struct xwt *t);

#endif

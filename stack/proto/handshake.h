/* The in-stack handshake as a state machine: what to do next, given what has
 * happened.  No I/O: the caller (negotiate.c) creates and maps channels, sends
 * the messages chosen here and switches the connection's path.  See
 * docs/PROTOCOL.md for the exchange. */
#ifndef XW_HANDSHAKE_H
#define XW_HANDSHAKE_H

#include <stdbool.h>
#include <stdint.h>

#include "ctrlmsg.h"

enum xw_hs_state {
    XW_HS_NONE,          /* no exchange: plain TCP from the start */
    XW_HS_WAIT_RESPONSE, /* connector: OFFER sent, waiting for ACCEPT/DECLINE */
    XW_HS_DISCARD,       /* connector: gave up (ABORT sent); one response still due */
    XW_HS_WAIT_OFFER,    /* acceptor: waiting for OFFER/NOOFFER */
    XW_HS_WAIT_CONFIRM,  /* acceptor: ACCEPT sent, waiting for CONFIRM/ABORT */
    XW_HS_STRIP,         /* acceptor: DECLINE sent; the connector's ABORT is due */
    XW_HS_RING,          /* done: payload through the ring */
    XW_HS_TCP,           /* done: payload through TCP */
};

struct xw_hs {
    enum xw_hs_state state;
    int reason; /* enum xw_reason: why TCP (XW_REASON_NONE on the ring) */
    bool parked;           /* the ring is a parked one (ring_park.c): the connector's
                              OFFER out names it / the acceptor took it */
    bool declined_unknown; /* acceptor: answered one such OFFER with RING_UNKNOWN */
    bool taken;            /* parked, and taken at the SYN exchange (a TAKE, no OFFER) */
};

/* What the caller must do.  Fields apply in this order: map (acceptor maps the
 * offered ring, then calls xw_hs_mapped), send msg, close the channel, reset
 * the connection; `done` tells the outcome is final (state RING or TCP). */
struct xw_hs_step {
    bool map;
    bool send;
    struct xw_ctrl msg;
    bool close_channel;
    bool reoffer; /* connector: a new ring's offer next (xw_hs_connector_start) */
    bool reset;
    bool done;
};

/* Connector, connection established.  peer_opt: the SYN-ACK carried our option
 * (with the reply flag); coresident: the identities allow a ring; create_rc:
 * result of creating the channel (only looked at when the first two hold), the
 * offer in *m when 0. */
struct xw_hs_step xw_hs_connector_start(struct xw_hs *hs, bool peer_opt, bool coresident,
                                        int create_rc, const struct xw_ctrl *offer);
/* Connector, connection established: the SYN-ACK proposed a parked ring and
 * we took it (its new key): TAKE, and the ring at once. */
struct xw_hs_step xw_hs_connector_take(struct xw_hs *hs, uint64_t key);
/* Acceptor, waiting for the offer: a TAKE came.  proposed: our SYN-ACK
 * proposed a parked ring; take_rc: taking it (0, or -errno).  The connector
 * is on the ring already: anything but success resets the connection. */
struct xw_hs_step xw_hs_taken(struct xw_hs *hs, bool proposed, int take_rc);
/* Acceptor, connection established: whether we answered the option (replied)
 * and judged the peer co-resident. */
struct xw_hs_step xw_hs_acceptor_start(struct xw_hs *hs, bool replied, bool coresident);
/* A control message arrived (parse_rc: xw_ctrl_parse's result; m valid when
 * > 0).  nonce_ok: connector only, for ACCEPT: the echoed nonce matched. */
struct xw_hs_step xw_hs_input(struct xw_hs *hs, int parse_rc, const struct xw_ctrl *m,
                              bool nonce_ok);
/* Acceptor: result of mapping the offered ring (0, or -errno) and the nonce
 * read through the mapping. */
struct xw_hs_step xw_hs_mapped(struct xw_hs *hs, int map_rc, uint64_t nonce, uint32_t domid);
/* Acceptor: the OFFER names a parked ring we do not have.  The first time,
 * DECLINE with XW_CTRL_RING_UNKNOWN and wait for the connector's next offer;
 * after that, an ordinary decline. */
struct xw_hs_step xw_hs_unknown_ring(struct xw_hs *hs);
/* The wait for the peer's message ran out. */
struct xw_hs_step xw_hs_timeout(struct xw_hs *hs);

/* Does the handshake still own the incoming byte stream? */
static inline bool xw_hs_reading(const struct xw_hs *hs)
{
    return hs->state == XW_HS_WAIT_RESPONSE || hs->state == XW_HS_DISCARD ||
           hs->state == XW_HS_WAIT_OFFER || hs->state == XW_HS_WAIT_CONFIRM ||
           hs->state == XW_HS_STRIP;
}

/* errno from creating (connector) or mapping (acceptor) a channel -> reason. */
int xw_hs_reason_of(int err, bool creating);

#endif

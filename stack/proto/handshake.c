/* The handshake state machine (handshake.h).  Every path ends in RING or TCP,
 * except a peer that breaks the framing of the exchange, which gets a reset:
 * after garbage the byte stream cannot be trusted to carry payload. */
#include "handshake.h"

#include <errno.h>
#include <string.h>

static struct xw_hs_step finish(struct xw_hs *hs, enum xw_hs_state st, int reason)
{
    struct xw_hs_step s = { .done = true };

    hs->state = st;
    hs->reason = st == XW_HS_RING ? XW_REASON_NONE : reason;
    return s;
}

static struct xw_hs_step send_and_finish(struct xw_hs *hs, enum xw_hs_state st, int reason,
                                         uint8_t type)
{
    struct xw_hs_step s = finish(hs, st, reason);

    s.send = true;
    s.msg.type = type;
    s.msg.reason = (uint16_t)reason;
    return s;
}

/* Acceptor declines an offer.  The connector answers every DECLINE with one
 * ABORT (unless it already sent one after a timeout, which then crossed our
 * DECLINE): either way exactly one message follows, which STRIP removes from
 * the stream before the application sees it. */
static struct xw_hs_step decline(struct xw_hs *hs, int reason)
{
    struct xw_hs_step s = { .send = true };

    hs->state = XW_HS_STRIP;
    hs->reason = reason;
    s.msg.type = XW_CTRL_DECLINE;
    s.msg.reason = (uint16_t)reason;
    return s;
}

static struct xw_hs_step reset(struct xw_hs *hs, int reason)
{
    struct xw_hs_step s = finish(hs, XW_HS_TCP, reason);

    s.reset = true;
    s.close_channel = true;
    return s;
}

int xw_hs_reason_of(int err, bool creating)
{
    switch (err) {
    case -ENOSPC:
    case -ENOMEM:
    case -EMFILE:
    case -ENFILE:
    case -EMSGSIZE: /* a ring bigger than we map */
        return XW_REASON_RESOURCES;
    case -EPROTO:
        return XW_REASON_MALFORMED;
    case -ESRCH:
        return XW_REASON_EVTCHN;
    case -ENODEV:
        return XW_REASON_BACKEND_OFF;
    case -EKEYREJECTED:
        return XW_REASON_OFFER_KEY;
    default:
        return creating ? XW_REASON_GRANT_SHARE : XW_REASON_GRANT_MAP;
    }
}

struct xw_hs_step xw_hs_connector_start(struct xw_hs *hs, bool peer_opt, bool coresident,
                                        int create_rc, const struct xw_ctrl *offer)
{
    struct xw_hs_step s = { 0 };

    if (!peer_opt)
        return finish(hs, XW_HS_TCP, XW_REASON_PEER_NO_OPTION);
    if (!coresident)
        return finish(hs, XW_HS_TCP, XW_REASON_NOT_CORESIDENT);
    if (create_rc < 0)
        return send_and_finish(hs, XW_HS_TCP, xw_hs_reason_of(create_rc, true),
                               XW_CTRL_NOOFFER);
    hs->state = XW_HS_WAIT_RESPONSE;
    hs->parked = (offer->flags & XW_CTRL_F_PARKED) != 0;
    s.send = true;
    s.msg = *offer;
    s.msg.type = XW_CTRL_OFFER;
    return s;
}

struct xw_hs_step xw_hs_connector_take(struct xw_hs *hs, uint64_t key)
{
    struct xw_hs_step s = finish(hs, XW_HS_RING, XW_REASON_NONE);

    hs->parked = hs->taken = true;
    s.send = true;
    s.msg.type = XW_CTRL_TAKE;
    s.msg.key = key;
    return s;
}

struct xw_hs_step xw_hs_taken(struct xw_hs *hs, bool proposed, int take_rc)
{
    if (hs->state != XW_HS_WAIT_OFFER || !proposed)
        return reset(hs, XW_REASON_MALFORMED);
    if (take_rc < 0)
        return reset(hs, xw_hs_reason_of(take_rc, false));
    hs->parked = hs->taken = true;
    return finish(hs, XW_HS_RING, XW_REASON_NONE);
}

struct xw_hs_step xw_hs_acceptor_start(struct xw_hs *hs, bool replied, bool coresident)
{
    struct xw_hs_step s = { 0 };

    if (!replied)
        return finish(hs, XW_HS_TCP, XW_REASON_PEER_NO_OPTION);
    if (!coresident)
        return finish(hs, XW_HS_TCP, XW_REASON_NOT_CORESIDENT);
    hs->state = XW_HS_WAIT_OFFER;
    hs->declined_unknown = hs->parked = hs->taken = false;
    return s;
}

/* A message that is well framed but not understood: fall back, saying why. */
static int unusable_reason(int parse_rc)
{
    return parse_rc == -EPROTONOSUPPORT ? XW_REASON_VERSION : XW_REASON_MALFORMED;
}

/* The reason a peer gave, when it is one we know. */
static int peer_reason(const struct xw_ctrl *m)
{
    return m->reason && m->reason < XW_REASON_MAX ? m->reason : XW_REASON_PEER_DECLINED;
}

static struct xw_hs_step connector_input(struct xw_hs *hs, int rc, const struct xw_ctrl *m,
                                         bool nonce_ok)
{
    if (hs->state == XW_HS_DISCARD) /* the late response to an abandoned offer */
        return finish(hs, XW_HS_TCP, hs->reason);
    if (rc < 0) {
        struct xw_hs_step s = send_and_finish(hs, XW_HS_TCP, unusable_reason(rc),
                                              XW_CTRL_ABORT);
        s.close_channel = true;
        return s;
    }
    if (m->type == XW_CTRL_DECLINE && m->reason == XW_CTRL_RING_UNKNOWN &&
        hs->parked) {
        struct xw_hs_step s = { .close_channel = true, .reoffer = true };
        hs->parked = false;
        return s;
    }
    if (m->type == XW_CTRL_DECLINE) {
        struct xw_hs_step s = send_and_finish(hs, XW_HS_TCP, peer_reason(m), XW_CTRL_ABORT);
        s.close_channel = true;
        return s;
    }
    if (m->type != XW_CTRL_ACCEPT) {
        struct xw_hs_step s = send_and_finish(hs, XW_HS_TCP, XW_REASON_MALFORMED,
                                              XW_CTRL_ABORT);
        s.close_channel = true;
        return s;
    }
    /* A parked ring's acceptor is on it once it answered: no CONFIRM, and a
     * nonce that is not ours cannot go back to TCP any more. */
    if (!nonce_ok && hs->parked)
        return reset(hs, XW_REASON_NONCE);
    if (!nonce_ok) {
        struct xw_hs_step s = send_and_finish(hs, XW_HS_TCP, XW_REASON_NONCE, XW_CTRL_ABORT);
        s.close_channel = true;
        return s;
    }
    if (hs->parked)
        return finish(hs, XW_HS_RING, XW_REASON_NONE);
    return send_and_finish(hs, XW_HS_RING, XW_REASON_NONE, XW_CTRL_CONFIRM);
}

static struct xw_hs_step acceptor_input(struct xw_hs *hs, int rc, const struct xw_ctrl *m)
{
    if (hs->state == XW_HS_WAIT_OFFER) {
        struct xw_hs_step s = { 0 };
        if (rc < 0)
            return decline(hs, unusable_reason(rc));
        if (m->type == XW_CTRL_NOOFFER)
            return finish(hs, XW_HS_TCP, peer_reason(m));
        /* gave up before our answer: it still gets one (unless the answer
         * was our RING_UNKNOWN, which it takes as the one it waits for) */
        if (m->type == XW_CTRL_ABORT && hs->declined_unknown)
            return finish(hs, XW_HS_TCP, peer_reason(m));
        if (m->type == XW_CTRL_ABORT)
            return send_and_finish(hs, XW_HS_TCP, peer_reason(m), XW_CTRL_DECLINE);
        if (m->type != XW_CTRL_OFFER)
            return decline(hs, XW_REASON_MALFORMED);
        s.map = true;
        return s;
    }
    if (hs->state == XW_HS_STRIP) {
        if (rc > 0 && m->type == XW_CTRL_ABORT)
            return finish(hs, XW_HS_TCP, hs->reason);
        return reset(hs, XW_REASON_MALFORMED);
    }
    /* WAIT_CONFIRM: our ACCEPT is out; the connector decides. */
    if (rc > 0 && m->type == XW_CTRL_CONFIRM)
        return finish(hs, XW_HS_RING, XW_REASON_NONE);
    if (rc > 0 && m->type == XW_CTRL_ABORT) {
        struct xw_hs_step s = finish(hs, XW_HS_TCP, peer_reason(m));
        s.close_channel = true;
        return s;
    }
    return reset(hs, unusable_reason(rc < 0 ? rc : -EBADMSG));
}

struct xw_hs_step xw_hs_input(struct xw_hs *hs, int parse_rc, const struct xw_ctrl *m,
                              bool nonce_ok)
{
    /* A broken frame (bad magic or length): nothing after it can be trusted. */
    if (parse_rc == -EBADMSG)
        return reset(hs, XW_REASON_MALFORMED);
    if (hs->state == XW_HS_WAIT_RESPONSE || hs->state == XW_HS_DISCARD)
        return connector_input(hs, parse_rc, m, nonce_ok);
    if (hs->state == XW_HS_WAIT_OFFER || hs->state == XW_HS_WAIT_CONFIRM ||
        hs->state == XW_HS_STRIP)
        return acceptor_input(hs, parse_rc, m);
    return reset(hs, XW_REASON_MALFORMED);
}

struct xw_hs_step xw_hs_mapped(struct xw_hs *hs, int map_rc, uint64_t nonce, uint32_t domid)
{
    struct xw_hs_step s = { 0 };

    if (map_rc < 0)
        return decline(hs, xw_hs_reason_of(map_rc, false));
    hs->state = XW_HS_WAIT_CONFIRM;
    if (hs->parked) { /* its ACCEPT is final (no CONFIRM follows) */
        hs->state = XW_HS_RING;
        hs->reason = XW_REASON_NONE;
        s.done = true;
    }
    s.send = true;
    s.msg.type = XW_CTRL_ACCEPT;
    s.msg.nonce = nonce;
    s.msg.domid = domid;
    return s;
}

struct xw_hs_step xw_hs_unknown_ring(struct xw_hs *hs)
{
    struct xw_hs_step s = { .send = true };

    if (hs->declined_unknown || hs->state != XW_HS_WAIT_OFFER)
        return decline(hs, XW_REASON_OFFER_KEY);
    hs->declined_unknown = true;
    s.msg.type = XW_CTRL_DECLINE;
    s.msg.reason = XW_CTRL_RING_UNKNOWN;
    return s;
}

struct xw_hs_step xw_hs_timeout(struct xw_hs *hs)
{
    struct xw_hs_step s;

    switch (hs->state) {
    case XW_HS_WAIT_RESPONSE:
        /* Give up on the ring; the acceptor's answer, when it comes, is dropped. */
        s = send_and_finish(hs, XW_HS_TCP, XW_REASON_TIMEOUT, XW_CTRL_ABORT);
        s.close_channel = true;
        s.done = true;
        hs->state = XW_HS_DISCARD;
        return s;
    case XW_HS_WAIT_OFFER:
    case XW_HS_WAIT_CONFIRM:
    case XW_HS_STRIP:
        /* The connector always speaks first and decides last: silence means it
         * is broken, and the stream's next bytes would be ambiguous. */
        return reset(hs, XW_REASON_TIMEOUT);
    case XW_HS_DISCARD:
        /* The answer to our abandoned offer never came: without it we cannot
         * tell where the acceptor's payload starts. */
        return reset(hs, XW_REASON_TIMEOUT);
    default:
        memset(&s, 0, sizeof(s));
        return s;
    }
}

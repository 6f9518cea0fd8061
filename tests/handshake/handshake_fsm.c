/* The handshake state machine: every path ends on the ring or on TCP with the
 * right reason, and the byte stream stays framed (one response per offer, one
 * ABORT per DECLINE, resets only on broken framing or silence). */
#include <errno.h>
#include <string.h>

#include "handshake.h"
#include "testlib.h"

static struct xw_ctrl msg(uint8_t type, uint16_t reason)
{
    struct xw_ctrl m;
    memset(&m, 0, sizeof(m));
    m.type = type;
    m.reason = reason;
    return m;
}

static void connector_paths(void)
{
    struct xw_hs hs = { 0 };
    struct xw_ctrl offer = msg(XW_CTRL_OFFER, 0), m;
    struct xw_hs_step st;

    st = xw_hs_connector_start(&hs, false, true, 0, &offer);
    CHECK(st.done && !st.send && hs.state == XW_HS_TCP);
    CHECK_EQ(hs.reason, XW_REASON_PEER_NO_OPTION);

    st = xw_hs_connector_start(&hs, true, false, 0, &offer);
    CHECK(st.done && !st.send);
    CHECK_EQ(hs.reason, XW_REASON_NOT_CORESIDENT);

    st = xw_hs_connector_start(&hs, true, true, -ENOSPC, &offer);
    CHECK(st.done && st.send && st.msg.type == XW_CTRL_NOOFFER);
    CHECK_EQ(st.msg.reason, XW_REASON_RESOURCES);
    st = xw_hs_connector_start(&hs, true, true, -EACCES, &offer);
    CHECK_EQ(hs.reason, XW_REASON_GRANT_SHARE);

    /* offer -> accept with the right nonce -> confirm, ring */
    st = xw_hs_connector_start(&hs, true, true, 0, &offer);
    CHECK(!st.done && st.send && st.msg.type == XW_CTRL_OFFER);
    CHECK(xw_hs_reading(&hs));
    m = msg(XW_CTRL_ACCEPT, 0);
    st = xw_hs_input(&hs, 24, &m, true);
    CHECK(st.done && st.send && st.msg.type == XW_CTRL_CONFIRM && hs.state == XW_HS_RING);
    CHECK(!st.close_channel);

    /* wrong nonce -> ABORT(nonce), channel closed, TCP */
    xw_hs_connector_start(&hs, true, true, 0, &offer);
    st = xw_hs_input(&hs, 24, &m, false);
    CHECK(st.done && st.msg.type == XW_CTRL_ABORT && st.close_channel);
    CHECK_EQ(hs.reason, XW_REASON_NONCE);

    /* DECLINE is answered by exactly one ABORT */
    xw_hs_connector_start(&hs, true, true, 0, &offer);
    m = msg(XW_CTRL_DECLINE, XW_REASON_GRANT_MAP);
    st = xw_hs_input(&hs, 12, &m, false);
    CHECK(st.done && st.send && st.msg.type == XW_CTRL_ABORT && st.close_channel);
    CHECK_EQ(hs.reason, XW_REASON_GRANT_MAP);

    /* unknown version / type: ABORT with the reason, TCP */
    xw_hs_connector_start(&hs, true, true, 0, &offer);
    st = xw_hs_input(&hs, -EPROTONOSUPPORT, &m, false);
    CHECK(st.done && st.msg.type == XW_CTRL_ABORT && st.close_channel);
    CHECK_EQ(hs.reason, XW_REASON_VERSION);
    xw_hs_connector_start(&hs, true, true, 0, &offer);
    st = xw_hs_input(&hs, -ENOMSG, &m, false);
    CHECK_EQ(hs.reason, XW_REASON_MALFORMED);

    /* broken framing: reset */
    xw_hs_connector_start(&hs, true, true, 0, &offer);
    st = xw_hs_input(&hs, -EBADMSG, &m, false);
    CHECK(st.reset);

    /* timeout: ABORT(timeout), TCP now, and the late answer is discarded silently */
    xw_hs_connector_start(&hs, true, true, 0, &offer);
    st = xw_hs_timeout(&hs);
    CHECK(st.done && st.send && st.msg.type == XW_CTRL_ABORT && st.close_channel);
    CHECK_EQ(st.msg.reason, XW_REASON_TIMEOUT);
    CHECK(xw_hs_reading(&hs));
    m = msg(XW_CTRL_DECLINE, XW_REASON_TIMEOUT);
    st = xw_hs_input(&hs, 12, &m, false);
    CHECK(!st.send && hs.state == XW_HS_TCP && !xw_hs_reading(&hs));
    CHECK_EQ(hs.reason, XW_REASON_TIMEOUT);

    /* ... and when the late answer never comes either, the discard ends too:
     * reset (where the acceptor's payload starts is unknown) */
    xw_hs_connector_start(&hs, true, true, 0, &offer);
    xw_hs_timeout(&hs);
    CHECK(hs.state == XW_HS_DISCARD);
    st = xw_hs_timeout(&hs);
    CHECK(st.reset && !st.send && !xw_hs_reading(&hs));
    CHECK_EQ(hs.reason, XW_REASON_TIMEOUT);
}

static void acceptor_paths(void)
{
    struct xw_hs hs = { 0 };
    struct xw_ctrl m;
    struct xw_hs_step st;

    st = xw_hs_acceptor_start(&hs, false, true);
    CHECK(st.done && hs.state == XW_HS_TCP);
    st = xw_hs_acceptor_start(&hs, true, false);
    CHECK_EQ(hs.reason, XW_REASON_NOT_CORESIDENT);

    /* offer -> map ok -> ACCEPT -> CONFIRM: ring */
    st = xw_hs_acceptor_start(&hs, true, true);
    CHECK(!st.done && xw_hs_reading(&hs));
    m = msg(XW_CTRL_OFFER, 0);
    st = xw_hs_input(&hs, 24, &m, false);
    CHECK(st.map && !st.send);
    st = xw_hs_mapped(&hs, 0, 0x1234, 7);
    CHECK(st.send && st.msg.type == XW_CTRL_ACCEPT && st.msg.nonce == 0x1234);
    m = msg(XW_CTRL_CONFIRM, 0);
    st = xw_hs_input(&hs, 12, &m, false);
    CHECK(st.done && hs.state == XW_HS_RING);

    /* ACCEPT -> ABORT: TCP, channel closed */
    xw_hs_acceptor_start(&hs, true, true);
    m = msg(XW_CTRL_OFFER, 0);
    xw_hs_input(&hs, 24, &m, false);
    xw_hs_mapped(&hs, 0, 1, 7);
    m = msg(XW_CTRL_ABORT, XW_REASON_NONCE);
    st = xw_hs_input(&hs, 12, &m, false);
    CHECK(st.done && st.close_channel && !st.send);
    CHECK_EQ(hs.reason, XW_REASON_NONCE);

    /* map failure -> DECLINE, then the connector's ABORT is stripped */
    xw_hs_acceptor_start(&hs, true, true);
    m = msg(XW_CTRL_OFFER, 0);
    xw_hs_input(&hs, 24, &m, false);
    st = xw_hs_mapped(&hs, -EPERM, 0, 7);
    CHECK(st.send && st.msg.type == XW_CTRL_DECLINE && !st.done);
    CHECK_EQ(st.msg.reason, XW_REASON_GRANT_MAP);
    CHECK(xw_hs_reading(&hs));
    m = msg(XW_CTRL_ABORT, XW_REASON_PEER_DECLINED);
    st = xw_hs_input(&hs, 12, &m, false);
    CHECK(st.done && hs.state == XW_HS_TCP && !st.send);
    CHECK_EQ(hs.reason, XW_REASON_GRANT_MAP);
    CHECK_EQ(xw_hs_reason_of(-ESRCH, false), XW_REASON_EVTCHN);

    /* something other than ABORT after DECLINE: reset */
    xw_hs_acceptor_start(&hs, true, true);
    m = msg(XW_CTRL_OFFER, 0);
    xw_hs_input(&hs, 24, &m, false);
    xw_hs_mapped(&hs, -EPERM, 0, 7);
    m = msg(XW_CTRL_CONFIRM, 0);
    CHECK(xw_hs_input(&hs, 12, &m, false).reset);

    /* NOOFFER: TCP with the connector's reason, nothing sent */
    xw_hs_acceptor_start(&hs, true, true);
    m = msg(XW_CTRL_NOOFFER, XW_REASON_RESOURCES);
    st = xw_hs_input(&hs, 12, &m, false);
    CHECK(st.done && !st.send);
    CHECK_EQ(hs.reason, XW_REASON_RESOURCES);

    /* ABORT before our answer (the connector timed out): one DECLINE, TCP */
    xw_hs_acceptor_start(&hs, true, true);
    m = msg(XW_CTRL_ABORT, XW_REASON_TIMEOUT);
    st = xw_hs_input(&hs, 12, &m, false);
    CHECK(st.done && st.send && st.msg.type == XW_CTRL_DECLINE);
    CHECK_EQ(hs.reason, XW_REASON_TIMEOUT);

    /* silence: reset; garbage: reset */
    xw_hs_acceptor_start(&hs, true, true);
    CHECK(xw_hs_timeout(&hs).reset);
    xw_hs_acceptor_start(&hs, true, true);
    CHECK(xw_hs_input(&hs, -EBADMSG, &m, false).reset);
    /* an unusable first message: DECLINE(version) */
    xw_hs_acceptor_start(&hs, true, true);
    st = xw_hs_input(&hs, -EPROTONOSUPPORT, &m, false);
    CHECK(st.send && st.msg.type == XW_CTRL_DECLINE);
    CHECK_EQ(st.msg.reason, XW_REASON_VERSION);
}

/* A parked ring offered again (ring_park.c): the acceptor that does not have
 * it says so once (DECLINE RING_UNKNOWN) and waits for the next offer; the
 * connector answers with a new ring's offer on the same stream.  A second
 * unknown one, or RING_UNKNOWN to an offer of a new ring, is an ordinary
 * decline. */
static void parked_paths(void)
{
    struct xw_hs hs = { 0 };
    struct xw_ctrl parked = msg(XW_CTRL_OFFER, 0), fresh = msg(XW_CTRL_OFFER, 0), m;
    struct xw_hs_step st;

    parked.flags = XW_CTRL_F_PARKED;
    st = xw_hs_connector_start(&hs, true, true, 0, &parked);
    CHECK(st.send && st.msg.type == XW_CTRL_OFFER && st.msg.flags == XW_CTRL_F_PARKED);
    m = msg(XW_CTRL_DECLINE, XW_CTRL_RING_UNKNOWN);
    st = xw_hs_input(&hs, 12, &m, false);
    CHECK(st.reoffer && st.close_channel && !st.send && !st.done && !st.reset);
    CHECK(hs.state == XW_HS_WAIT_RESPONSE && xw_hs_reading(&hs));
    st = xw_hs_connector_start(&hs, true, true, 0, &fresh);
    CHECK(st.send && st.msg.type == XW_CTRL_OFFER && st.msg.flags == 0);
    /* the new ring unknown too: not offered again, TCP after one ABORT */
    st = xw_hs_input(&hs, 12, &m, false);
    CHECK(!st.reoffer && st.done && st.send && st.msg.type == XW_CTRL_ABORT);
    CHECK(hs.state == XW_HS_TCP && st.close_channel);
    /* the new ring accepted: the ring */
    xw_hs_connector_start(&hs, true, true, 0, &parked);
    xw_hs_input(&hs, 12, &m, false);
    xw_hs_connector_start(&hs, true, true, 0, &fresh);
    m = msg(XW_CTRL_ACCEPT, 0);
    st = xw_hs_input(&hs, 24, &m, true);
    CHECK(st.done && st.msg.type == XW_CTRL_CONFIRM && hs.state == XW_HS_RING);

    /* acceptor: once RING_UNKNOWN, still waiting for an offer; twice a decline */
    xw_hs_acceptor_start(&hs, true, true);
    st = xw_hs_unknown_ring(&hs);
    CHECK(st.send && st.msg.type == XW_CTRL_DECLINE && !st.done && !st.reset);
    CHECK_EQ(st.msg.reason, XW_CTRL_RING_UNKNOWN);
    CHECK(hs.state == XW_HS_WAIT_OFFER);
    st = xw_hs_input(&hs, 32, &fresh, false);
    CHECK(st.map && !st.send);
    st = xw_hs_unknown_ring(&hs);
    CHECK(st.send && st.msg.type == XW_CTRL_DECLINE && hs.state == XW_HS_STRIP);
    CHECK_EQ(st.msg.reason, XW_REASON_OFFER_KEY);
    /* the connector gave up (timeout) before our RING_UNKNOWN reached it: that
     * was its one answer, none more */
    xw_hs_acceptor_start(&hs, true, true);
    xw_hs_unknown_ring(&hs);
    m = msg(XW_CTRL_ABORT, XW_REASON_TIMEOUT);
    st = xw_hs_input(&hs, 12, &m, false);
    CHECK(st.done && !st.send && hs.state == XW_HS_TCP);
    CHECK_EQ(hs.reason, XW_REASON_TIMEOUT);
    /* ... and on the connector's side: DISCARD takes RING_UNKNOWN as it */
    xw_hs_connector_start(&hs, true, true, 0, &parked);
    st = xw_hs_timeout(&hs);
    CHECK(st.send && st.msg.type == XW_CTRL_ABORT && hs.state == XW_HS_DISCARD);
    m = msg(XW_CTRL_DECLINE, XW_CTRL_RING_UNKNOWN);
    st = xw_hs_input(&hs, 12, &m, false);
    CHECK(st.done && !st.send && !st.reoffer && hs.state == XW_HS_TCP);
    /* a new connection starts over */
    xw_hs_acceptor_start(&hs, true, true);
    st = xw_hs_unknown_ring(&hs);
    CHECK_EQ(st.msg.reason, XW_CTRL_RING_UNKNOWN);
}

/* A parked ring taken at the SYN exchange: the connector sends TAKE and is on
 * the ring at once; the acceptor that proposed it finishes on the ring at
 * the TAKE.  A TAKE it did not propose, or one whose ring it no longer has,
 * resets (the connector's bytes go to the ring already); so does a TAKE
 * after an offer. */
static void taken_paths(void)
{
    struct xw_hs hs = { 0 };
    struct xw_ctrl m = msg(XW_CTRL_TAKE, 0), offer = msg(XW_CTRL_OFFER, 0);
    struct xw_hs_step st;

    st = xw_hs_connector_take(&hs, 0x1234);
    CHECK(st.done && st.send && !st.reset && !st.close_channel && !st.map);
    CHECK(st.msg.type == XW_CTRL_TAKE && st.msg.key == 0x1234);
    CHECK(hs.state == XW_HS_RING && hs.parked && hs.taken && !xw_hs_reading(&hs));
    CHECK_EQ(hs.reason, XW_REASON_NONE);

    xw_hs_acceptor_start(&hs, true, true);
    CHECK(!hs.parked && !hs.taken);
    st = xw_hs_taken(&hs, true, 0);
    CHECK(st.done && !st.send && !st.reset && hs.state == XW_HS_RING && hs.parked && hs.taken);

    xw_hs_acceptor_start(&hs, true, true);
    st = xw_hs_taken(&hs, false, 0);
    CHECK(st.reset && hs.state == XW_HS_TCP);
    CHECK_EQ(hs.reason, XW_REASON_MALFORMED);

    xw_hs_acceptor_start(&hs, true, true);
    st = xw_hs_taken(&hs, true, -ENOENT);
    CHECK(st.reset && st.close_channel && hs.state == XW_HS_TCP);
    xw_hs_acceptor_start(&hs, true, true);
    st = xw_hs_taken(&hs, true, -EKEYREJECTED);
    CHECK(st.reset);
    CHECK_EQ(hs.reason, XW_REASON_OFFER_KEY);

    /* after an offer (WAIT_CONFIRM): not the state for it */
    xw_hs_acceptor_start(&hs, true, true);
    st = xw_hs_input(&hs, 32, &offer, false);
    CHECK(st.map);
    xw_hs_mapped(&hs, 0, 1, 2);
    CHECK(hs.state == XW_HS_WAIT_CONFIRM);
    st = xw_hs_taken(&hs, true, 0);
    CHECK(st.reset && hs.state == XW_HS_TCP);
    /* ... and TAKE as a message there: a reset too */
    xw_hs_acceptor_start(&hs, true, true);
    xw_hs_input(&hs, 32, &offer, false);
    xw_hs_mapped(&hs, 0, 1, 2);
    st = xw_hs_input(&hs, 16, &m, false);
    CHECK(st.reset);
    /* a connector waiting for ACCEPT that gets a TAKE: ABORT, TCP */
    xw_hs_connector_start(&hs, true, true, 0, &offer);
    st = xw_hs_input(&hs, 16, &m, false);
    CHECK(st.done && st.send && st.msg.type == XW_CTRL_ABORT && hs.state == XW_HS_TCP);
}

int main(void)
{
    connector_paths();
    acceptor_paths();
    parked_paths();
    taken_paths();
    printf("handshake_fsm: PASS\n");
    return 0;
}

/* The handshake's I/O: the SYN option through lwIP's hooks, the control
 * messages on the connection, the channel's creation and mapping, timers, and
 * the switch of a connection to its path.  Decisions are handshake.c's.
 * Everything here runs with the stack lock held (lwIP callbacks and hooks). */
#include "negotiate.h"

#include <errno.h>
#include <string.h>

#include "channel.h"
#include "ctrlmsg.h"
#include "host.h"
#include "log.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "pcbopt.h"
#include "ring_park.h"
#include "ring_path.h"
#include "ring_routes.h"
#include "tcp_path.h"
#include "tcpopt.h"
#include "xway_port.h"

#define HS_TIMEOUT_MS 2000

static struct {
    uint64_t host;  /* our host hash */
    enum xw_fault fault;
    uint64_t count[XW_REASON_MAX];
    uint64_t ring_conns, tcp_conns;
    uint64_t back; /* TCP connections that went back onto a ring (upgrade.c) */
    uint64_t reused; /* ring connections on a parked channel (ring_park.c) */
    uint64_t taken;  /* of those, taken at the SYN exchange (no OFFER) */
} ng;

static const char *const fault_names[] = {
    [XW_FAULT_NONE] = "", [XW_FAULT_GRANT_SHARE] = "grant-share",
    [XW_FAULT_GRANT_MAP] = "grant-map", [XW_FAULT_EVTCHN] = "evtchn",
    [XW_FAULT_TIMEOUT] = "timeout", [XW_FAULT_MALFORMED] = "malformed",
    [XW_FAULT_VERSION] = "version", [XW_FAULT_RESOURCES] = "resources",
    [XW_FAULT_NONCE] = "nonce", [XW_FAULT_RAW] = "raw",
    [XW_FAULT_OFFER_LATE] = "offer-late", [XW_FAULT_UPGRADE_GRANTS] = "upgrade-grants",
};

int xw_neg_parse_fault(const char *v, enum xw_fault *out)
{
    *out = XW_FAULT_NONE;
    if (!v || !*v)
        return 0;
    for (int i = 1; i < (int)(sizeof(fault_names) / sizeof(fault_names[0])); i++)
        if (!strcmp(v, fault_names[i])) {
            *out = (enum xw_fault)i;
            return 0;
        }
    return -EINVAL;
}

static bool ring_available(void)
{
    return xw_pcbopt_ring();
}

static bool coresident(const struct xw_synopt *peer)
{
    /* Unknown identity (0) on either side: let the mapping decide. */
    return !ng.host || !peer->host || peer->host == ng.host;
}

static void neg_connect_prepare(struct xw_sock *s);
static void neg_listen_prepare(struct xw_sock *s);
static bool neg_on_connected(struct xw_sock *s);
static bool neg_on_accepted(struct xw_sock *l, struct xw_sock *s);
static void neg_input(struct xw_sock *s);
static void neg_forget(struct xw_sock *s);

/* How the TCP connection reaches the handshake (tcp_path.h). */
static const struct xw_tcp_handshake hooks = {
    .connect_prepare = neg_connect_prepare,
    .listen_prepare = neg_listen_prepare,
    .connected = neg_on_connected,
    .accepted = neg_on_accepted,
    .input = neg_input,
    .forget = neg_forget,
};

/* What the SYN option says of us (pcbopt.h). */
static void say(void)
{
    struct xw_xenif *x = xw_rev_xenif();

    ng.host = x ? xw_host_hash(x->host_token) : 0;
    xw_pcbopt_set(ng.host, x ? x->domid : 0, x != NULL, ng.fault == XW_FAULT_RAW);
}

/* Acceptor, a SYN saying the connector can take a parked ring: one we hold
 * for its domain and address, by its key (ring_park.h). */
static bool propose(const struct tcp_pcb *pcb, const struct xw_synopt *peer, uint64_t *key)
{
    return ring_available() && ng.fault == XW_FAULT_NONE && coresident(peer) &&
           xw_park_propose(peer->domid, &pcb->remote_ip, key) == 0;
}

void xw_neg_start(enum xw_fault fault)
{
    ng.fault = fault;
    say();
    xw_pcbopt_set_proposer(propose);
    xw_tcp_set_handshake(&hooks);
}

void xw_neg_rehost(void)
{
    say();
}

static void neg_connect_prepare(struct xw_sock *s)
{
    s->hs.state = XW_HS_NONE;
    s->hs.reason = XW_REASON_BACKEND_OFF;
    if (!ring_available())
        return;
    if (!xw_pcbopt_connect(s->tcp.pcb))
        s->hs.reason = XW_REASON_RESOURCES;
}

static void neg_listen_prepare(struct xw_sock *s)
{
    if (ring_available())
        xw_pcbopt_listen(s->tcp.pcb);
}

/* ---- the exchange --------------------------------------------------------------- */

static void count_outcome(struct xw_sock *s)
{
    if (s->hs.state == XW_HS_RING) {
        ng.ring_conns++;
        ng.reused += s->hs.parked;
        ng.taken += s->hs.taken;
    } else {
        ng.tcp_conns++;
        if (s->hs.reason > 0 && s->hs.reason < XW_REASON_MAX)
            ng.count[s->hs.reason]++;
    }
    xw_info("fd %d: %s path%s%s", s->fd, s->hs.state == XW_HS_RING ? "ring" : "tcp",
            s->hs.state == XW_HS_RING
                ? (s->hs.taken ? " (a parked ring), taken at the SYN exchange"
                               : s->hs.parked ? " (a parked ring)" : "")
                : ", reason ",
            s->hs.state == XW_HS_RING ? "" : xw_reason_name(s->hs.reason));
}

static int send_ctrl(struct xw_sock *s, const struct xw_ctrl *m)
{
    uint8_t buf[XW_CTRL_MAX];
    int n = xw_ctrl_write(buf, sizeof(buf), m);

    if (n < 0 || !s->tcp.pcb)
        return n < 0 ? n : -ENOTCONN;
    /* Test faults: a well-framed message the peer cannot use. */
    if (m->type == XW_CTRL_ACCEPT && ng.fault == XW_FAULT_MALFORMED)
        buf[3] = 0x7f;
    if (m->type == XW_CTRL_ACCEPT && ng.fault == XW_FAULT_VERSION)
        buf[2] = XW_CTRL_VERSION + 1;
    if (tcp_write(s->tcp.pcb, buf, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK)
        return -ENOBUFS;
    tcp_output(s->tcp.pcb);
    return 0;
}

static void hs_timeout(void *arg);

static void arm_timer(struct xw_sock *s)
{
    sys_untimeout(hs_timeout, s);
    sys_timeout(HS_TIMEOUT_MS, hs_timeout, s);
}

/* The outcome is final: put the connection on its path and show it to the
 * application (connector: connected; acceptor: on the listener's queue). */
static void finish(struct xw_sock *s)
{
    sys_untimeout(hs_timeout, s);
    if (s->hs_done)
        return;
    s->hs_done = true;
    if (s->hs.state == XW_HS_RING) {
        if (xw_rpath_start(s) < 0) {
            xw_warn("fd %d: event-channel port %d already routed: resetting", s->fd,
                    xw_channel_port(s->ring.ch));
            xw_tcp_abort_conn(s, ECONNRESET);
            return;
        }
    }
    count_outcome(s);
    /* The peer's last control message may still wait for our ACK, and with it
     * (Nagle) its first payload: acknowledge now, not at the delayed-ACK timer. */
    if (s->tcp.pcb) {
        tcp_ack_now(s->tcp.pcb);
        tcp_output(s->tcp.pcb);
    }
    if (s->listener) {
        struct xw_sock *l = s->listener;
        s->listener = NULL;
        xw_tcp_queue_accepted(l, s);
    } else {
        s->state = XW_SS_CONNECTED;
        s->was_connected = true;
    }
    xw_sock_changed(s);
}

static void apply(struct xw_sock *s, const struct xw_hs_step *st);
static void offer_new(struct xw_sock *s);

/* The OFFER message and the channel's offer: the same fields. */
static struct xw_chan_offer chan_offer(const struct xw_ctrl *m)
{
    return (struct xw_chan_offer){ .domid = m->domid, .intf_ref = m->intf_ref, .port = m->port,
                                   .ring_shift = m->ring_shift, .key = m->key };
}

static struct xw_ctrl offer_msg(const struct xw_chan_offer *o, bool parked)
{
    return (struct xw_ctrl){ .type = XW_CTRL_OFFER, .domid = o->domid,
                             .intf_ref = o->intf_ref, .port = o->port,
                             .ring_shift = (uint8_t)o->ring_shift,
                             .flags = parked ? XW_CTRL_F_PARKED : 0, .key = o->key };
}

/* Acceptor: map the offered ring (or fail it on purpose for the fault tests). */
static void map_offer(struct xw_sock *s, const struct xw_ctrl *m)
{
    struct xw_chan_offer off = chan_offer(m);
    bool parked = (m->flags & XW_CTRL_F_PARKED) && ng.fault == XW_FAULT_NONE;
    /* Never bigger than our own rings; never more than the cap per peer domain. */
    struct xw_chan_params prm = { .ring_bytes = xw_stack_ring_bytes(), .spin_us = -1,
                                  .peer_rings = XW_CHAN_PEER_RINGS };
    uint64_t nonce = 0;
    int rc;
    struct xw_hs_step st;

    if (ng.fault == XW_FAULT_GRANT_MAP)
        rc = -EPERM;
    else if (ng.fault == XW_FAULT_EVTCHN)
        rc = -ESRCH;
    else if (parked)
        rc = xw_park_accept(&off, &s->ring.ch, &nonce);
    else {
        rc = xw_channel_accept(xw_rev_xenif(), &off, &prm, &s->ring.ch, &nonce);
        /* the cap per peer domain: its parked channels count */
        if (rc == -ENOSPC && xw_park_evict(false, (long)off.domid) > 0)
            rc = xw_channel_accept(xw_rev_xenif(), &off, &prm, &s->ring.ch, &nonce);
    }
    if (rc < 0)
        s->ring.ch = NULL;
    s->hs.parked = parked && rc == 0;
    if (rc < 0 && parked) { /* not ours (any more): the connector offers a new one */
        st = xw_hs_unknown_ring(&s->hs);
        apply(s, &st);
        return;
    }
    if (ng.fault == XW_FAULT_NONCE)
        nonce ^= 1;
    st = xw_hs_mapped(&s->hs, rc, nonce, xw_rev_xenif()->domid);
    apply(s, &st);
}

/* Acceptor: the connector took the parked ring our SYN-ACK proposed. */
static void take_proposed(struct xw_sock *s, const struct xw_ctrl *m)
{
    struct xw_pcbopt *h = xw_pcbopt_of(s->tcp.pcb);
    bool proposed = h && h->proposed;
    int rc = proposed ? xw_park_retaken(h->prop_key, m->key, &s->ring.ch) : -ENOENT;
    struct xw_hs_step st;

    if (rc < 0)
        s->ring.ch = NULL;
    if (h)
        h->proposed = false;
    st = xw_hs_taken(&s->hs, proposed, rc);
    apply(s, &st);
}

static void delayed_map(void *arg)
{
    struct xw_sock *s = arg;
    struct xw_ctrl m = offer_msg(&s->hs_offer, false);

    if (s->hs.state != XW_HS_WAIT_OFFER || !s->tcp.pcb)
        return;
    map_offer(s, &m);
}

static void apply(struct xw_sock *s, const struct xw_hs_step *st)
{
    if (st->send && send_ctrl(s, &st->msg) < 0 && !st->reset) {
        xw_tcp_abort_conn(s, ECONNRESET);
        return;
    }
    if (st->close_channel && s->ring.ch) {
        xw_channel_close(s->ring.ch);
        s->ring.ch = NULL;
    }
    if (st->reoffer) {
        offer_new(s);
        return;
    }
    if (st->reset) {
        xw_warn_peer("fd %d: handshake failed (%s): connection reset", s->fd,
                xw_reason_name(s->hs.reason));
        if (!s->hs_done) /* a connector discarding a late answer was counted */
            count_outcome(s);
        xw_tcp_abort_conn(s, ECONNRESET);
        return;
    }
    if (st->done)
        finish(s);
    /* Every state that reads the peer's messages has a timer, including a
     * connector that finished on TCP and still discards one late answer. */
    if (xw_hs_reading(&s->hs) && s->tcp.pcb)
        arm_timer(s);
}

static void hs_timeout(void *arg)
{
    struct xw_sock *s = arg;
    struct xw_hs_step st = xw_hs_timeout(&s->hs);

    xw_info("fd %d: handshake timed out", s->fd);
    apply(s, &st);
}

/* XW_FAULT_RAW: the option was exchanged, the stream is the application's. */
static bool raw_stream(struct xw_sock *s)
{
    s->hs.state = XW_HS_TCP;
    s->hs.reason = XW_REASON_NONE;
    count_outcome(s);
    return false;
}

/* XW_FAULT_OFFER_LATE: the offer made in neg_on_connected goes out now. */
static void late_offer(void *arg)
{
    struct xw_sock *s = arg;
    struct xw_ctrl offer = offer_msg(&s->hs_offer, false);
    struct xw_hs_step st;

    if (!s->tcp.pcb)
        return;
    st = xw_hs_connector_start(&s->hs, true, true, 0, &offer);
    apply(s, &st);
}

/* Connector: a new channel with the peer's domain (0, or -errno: none). */
static int create_ring(struct xw_sock *s, uint32_t domid, struct xw_chan_offer *off)
{
    struct xw_chan_params prm = { .ring_bytes = xw_stack_ring_bytes(), .spin_us = -1 };
    int rc;

    if (ng.fault == XW_FAULT_GRANT_SHARE)
        return -EACCES;
    if (ng.fault == XW_FAULT_RESOURCES)
        return -ENOSPC;
    rc = xw_channel_create(xw_rev_xenif(), domid, &prm, &s->ring.ch, off);
    /* out of grants or ports: our parked channels hold some */
    if (rc == -ENOSPC && xw_park_evict(true, -1) > 0)
        rc = xw_channel_create(xw_rev_xenif(), domid, &prm, &s->ring.ch, off);
    if (rc < 0) {
        s->ring.ch = NULL;
        xw_info("fd %d: cannot offer a ring: %s", s->fd, xway_port_strerror(-rc));
    }
    return rc;
}

/* Connector: the acceptor did not have the parked ring we offered. */
static void offer_new(struct xw_sock *s)
{
    struct xw_pcbopt *h = xw_pcbopt_of(s->tcp.pcb);
    struct xw_chan_offer off;
    struct xw_ctrl offer = { 0 };
    struct xw_hs_step st;
    int rc = h ? create_ring(s, h->peer.domid, &off) : -EINVAL;

    if (rc == 0)
        offer = offer_msg(&off, false);
    st = xw_hs_connector_start(&s->hs, true, true, rc, &offer);
    apply(s, &st);
}

static bool neg_on_connected(struct xw_sock *s)
{
    struct xw_pcbopt *h = xw_pcbopt_of(s->tcp.pcb);
    struct xw_ctrl offer = { 0 };
    struct xw_chan_offer off;
    struct xw_hs_step st;
    bool cores = h && h->peer_opt && coresident(&h->peer);
    int rc = -EINVAL;

    if (!h) { /* no option offered: backend off, or no memory for the state */
        s->hs.state = XW_HS_TCP;
        count_outcome(s);
        return false;
    }
    if (h->peer_opt && ng.fault == XW_FAULT_RAW)
        return raw_stream(s);
    if (cores) {
        /* (the listener's address: a parked channel's key, ring_release) */
        ip_addr_copy(s->ring_peer_ip, s->tcp.pcb->remote_ip);
        s->ring_peer_port = s->tcp.pcb->remote_port;
        /* The SYN-ACK proposed a parked ring of ours: take it, no offer. */
        if (ng.fault == XW_FAULT_NONE && (h->peer.flags & XW_OPT_F_PARKED) &&
            xw_park_take(h->peer.domid, &s->ring_peer_ip, s->ring_peer_port,
                         xw_stack_ring_bytes(), h->peer.key, &s->ring.ch) == 0) {
            st = xw_hs_connector_take(&s->hs, xw_channel_key(s->ring.ch));
            apply(s, &st);
            return true;
        }
        if (ng.fault == XW_FAULT_NONE &&
            xw_park_offer(h->peer.domid, &s->ring_peer_ip, s->ring_peer_port,
                          xw_stack_ring_bytes(), &s->ring.ch, &off) == 0) {
            rc = 0;
            offer = offer_msg(&off, true);
        } else {
            rc = create_ring(s, h->peer.domid, &off);
            if (rc == 0)
                offer = offer_msg(&off, false);
        }
        if (rc == 0 && ng.fault == XW_FAULT_OFFER_LATE) {
            s->hs_offer = off;
            sys_timeout(XW_OFFER_LATE_MS, late_offer, s);
            return true;
        }
    }
    st = xw_hs_connector_start(&s->hs, h->peer_opt, cores, rc, &offer);
    apply(s, &st);
    return true;
}

static bool neg_on_accepted(struct xw_sock *l, struct xw_sock *s)
{
    struct xw_pcbopt *h = xw_pcbopt_of(s->tcp.pcb);
    struct xw_hs_step st;

    if (!h || !h->replied) {
        s->hs.state = XW_HS_TCP;
        s->hs.reason = ring_available() ? XW_REASON_PEER_NO_OPTION : XW_REASON_BACKEND_OFF;
        count_outcome(s);
        return false;
    }
    if (ng.fault == XW_FAULT_RAW)
        return raw_stream(s);
    /* (the connector's address: its SYNs get the channel proposed once parked) */
    ip_addr_copy(s->ring_peer_ip, s->tcp.pcb->remote_ip);
    st = xw_hs_acceptor_start(&s->hs, true, coresident(&h->peer));
    if (st.done) {
        count_outcome(s);
        return false;
    }
    s->listener = l;
    arm_timer(s);
    return true;
}

static void neg_input(struct xw_sock *s)
{
    while (xw_hs_reading(&s->hs) && s->tcp.rx_len && s->tcp.pcb) {
        struct xw_pcbopt *h;
        uint8_t buf[XW_CTRL_MAX + 40];
        struct xw_ctrl m;
        size_t have = xw_tcp_rx_take(s, buf, s->tcp.rx_len < sizeof(buf) ? s->tcp.rx_len : sizeof(buf),
                                     true);
        int rc = xw_ctrl_parse(buf, have, &m);
        size_t used = rc > 0 ? (size_t)rc : 0;
        struct xw_hs_step st;

        if (rc == -EPROTONOSUPPORT || rc == -ENOMSG) {
            /* framed but unusable (version, type): skipped by its length */
            int skip = xw_ctrl_skip(buf, have);
            if (skip < 0)
                rc = skip;
            used = skip > 0 ? (size_t)skip : 0;
        }
        if (rc == 0 || (rc != -EBADMSG && !used))
            return; /* wait for the rest: the handshake's timer bounds the wait */
        xw_tcp_rx_take(s, buf, used, false);
        if (rc > 0 && m.type == XW_CTRL_TAKE && s->hs.state == XW_HS_WAIT_OFFER) {
            take_proposed(s, &m);
            continue;
        }
        if (s->hs.state == XW_HS_WAIT_OFFER && (h = xw_pcbopt_of(s->tcp.pcb)))
            h->proposed = false; /* not taken: a TAKE now is a reset */
        if (rc > 0 && m.type == XW_CTRL_OFFER && s->hs.state == XW_HS_WAIT_OFFER) {
            if (ng.fault == XW_FAULT_TIMEOUT) {
                /* answer late: after the connector's timeout */
                s->hs_offer = chan_offer(&m);
                sys_untimeout(hs_timeout, s);
                sys_timeout(HS_TIMEOUT_MS + 1000, delayed_map, s);
                continue;
            }
            map_offer(s, &m);
            continue;
        }
        st = xw_hs_input(&s->hs, rc, &m,
                         rc > 0 && m.type == XW_CTRL_ACCEPT && s->ring.ch &&
                             xw_channel_check_nonce(s->ring.ch, m.nonce) == 0);
        apply(s, &st);
    }
}

static void neg_forget(struct xw_sock *s)
{
    sys_untimeout(hs_timeout, s);
    sys_untimeout(delayed_map, s);
    sys_untimeout(late_offer, s);
}

bool xw_neg_marks(const struct xw_sock *s)
{
    const struct xw_pcbopt *h = xw_pcbopt_of(s->tcp.pcb);

    return h && xw_pcbopt_marks(s->tcp.pcb, h);
}

void xw_neg_mark_tx(struct xw_sock *s)
{
    struct xw_pcbopt *h = xw_pcbopt_of(s->tcp.pcb);

    if (h) {
        h->tx_mark = s->tcp.pcb->snd_lbb;
        h->tx_mark_set = true;
    }
}

bool xw_neg_mark_rx(const struct xw_sock *s, uint32_t *seq)
{
    const struct xw_pcbopt *h = xw_pcbopt_of(s->tcp.pcb);

    if (!h || !h->rx_mark_set)
        return false;
    *seq = h->rx_mark;
    return true;
}

bool xw_neg_connector(const struct xw_sock *s)
{
    const struct xw_pcbopt *h = xw_pcbopt_of(s->tcp.pcb);

    return h && h->offer_opt;
}

uint64_t xw_neg_host(void)
{
    return ng.host;
}

enum xw_fault xw_neg_fault(void)
{
    return ng.fault;
}

void xw_neg_count_switch(int reason)
{
    if (reason > 0 && reason < XW_REASON_MAX)
        ng.count[reason]++;
}

void xw_neg_count_back(void)
{
    ng.back++;
}

uint64_t xw_neg_back(void)
{
    return ng.back;
}

uint64_t xw_neg_reused(void)
{
    return ng.reused;
}

uint64_t xw_neg_taken(void)
{
    return ng.taken;
}

void xw_neg_reset_stats(void)
{
    memset(ng.count, 0, sizeof(ng.count));
    ng.ring_conns = ng.tcp_conns = ng.back = ng.reused = ng.taken = 0;
}

void xw_neg_stats(struct xway_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->ring_conns = ng.ring_conns;
    st->tcp_conns = ng.tcp_conns;
    for (int i = 0; i < XW_REASON_MAX && i < XWAY_REASONS; i++)
        st->fallback[i] = ng.count[i];
    st->backend = xw_rev_xenif() ? xw_rev_xenif()->ops->name : "off";
    st->domid = xw_rev_xenif() ? (int)xw_rev_xenif()->domid : -1;
}

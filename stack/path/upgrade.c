/* The way back to the ring (upgrade.h).  Each side's control section, in its
 * own stream: HELLO(domid, host), then, if both hosts are known and equal,
 * the handshake's messages, decided by the same state machine as at the
 * connection's start (stack/proto/handshake.c, on a struct xw_hs of its own):
 * the connector offers a fresh ring, the acceptor maps it and answers with
 * the nonce, the connector confirms.  A section's bytes follow the sender's
 * earlier payload and nothing else follows them until the exchange is over:
 * its application's new bytes wait (tcp_path.c: held). */
#include "upgrade.h"

#include <errno.h>
#include <string.h>

#include "channel.h"
#include "ctrlmsg.h"
#include "host.h"
#include "log.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "negotiate.h"
#include "ring_path.h"
#include "ring_routes.h"
#include "socket.h"
#include "tcp_path.h"
#include "xway_port.h"

static void timed_out(void *arg);
void xw_upgrade_retry(struct xw_sock *s);

static void fail(struct xw_sock *s, const char *why, int err)
{
    xw_warn_peer("fd %d: the way back to the ring failed (%s): connection reset", s->fd, why);
    sys_untimeout(timed_out, s);
    if (s->up.ch) {
        xw_channel_close(s->up.ch);
        s->up.ch = NULL;
    }
    s->up.state = XW_UP_NONE;
    s->up.in_section = false;
    xw_tcp_abort_conn(s, err);
}

/* Can this connection take the ring again?  Both sides xway (MARKs), open
 * both ways, on TCP with nothing of a switch pending, a backend here. */
static bool eligible(const struct xw_sock *s)
{
    const struct tcp_pcb *pcb = s->tcp.pcb;

    return pcb && pcb->state == ESTABLISHED && s->state == XW_SS_CONNECTED && !s->closing &&
           !s->sat && xw_path_of(s) == &xw_tcp_ops && xw_neg_marks(s) && !s->shut_wr &&
           !s->rd_eof && (s->sw.state == XW_SW_NONE || s->sw.state == XW_SW_DONE) &&
           !s->sw.release_due && !s->ring.ch && !s->tcp.resend && !s->tcp.fin_due &&
           xw_rev_xenif() != NULL;
}

static int send_msg(struct xw_sock *s, const struct xw_ctrl *m)
{
    uint8_t buf[XW_CTRL_MAX];
    int n = xw_ctrl_write(buf, sizeof(buf), m);

    if (n < 0 || !s->tcp.pcb ||
        tcp_write(s->tcp.pcb, buf, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK)
        return -ENOBUFS;
    tcp_output(s->tcp.pcb);
    return 0;
}

/* Our exchange is over: the ring (both sections are complete then), or TCP
 * with the reason (the peer's section may still end later: in_section). */
static void finish(struct xw_sock *s)
{
    struct xw_upgrade *u = &s->up;

    sys_untimeout(timed_out, s);
    u->state = XW_UP_NONE;
    if (u->hs.state != XW_HS_RING) {
        xw_info("fd %d: stays on TCP (%s)", s->fd, xw_reason_name(u->hs.reason));
        xw_tcp_pump(s);
        xw_sock_changed(s);
        if (!u->in_section)
            xw_upgrade_retry(s); /* (we moved again meanwhile) */
        return;
    }
    /* What TCP brought and the application did not read yet comes first. */
    size_t pre = s->tcp.rx_len;
    char *buf = pre ? xway_port_malloc(pre) : NULL;
    if (pre && !buf) {
        fail(s, "no memory", ENOMEM);
        return;
    }
    if (pre)
        xw_tcp_rx_take(s, buf, pre, false);
    xw_tcp_rx_flush(s);
    s->ring.ch = u->ch;
    u->ch = NULL;
    atomic_store(&s->ring.left, false);
    atomic_store(&s->ring.err_seen, false);
    atomic_store(&s->ring.spin_us, 0);
    xw_rpath_set_pre(s, buf, pre);
    s->sw.state = XW_SW_NONE;
    s->sw.moved = s->sw.peer_known = false;
    s->sw.in_len = 0;
    if (xw_rpath_start(s) < 0) {
        fail(s, "its event-channel port is routed already", ECONNRESET);
        return;
    }
    if (s->shut_wr) /* (ended during the exchange: the end goes in the ring) */
        xw_channel_shutdown_write(s->ring.ch);
    s->sw.count++;
    xw_neg_count_back();
    xw_info("fd %d: back on the ring (%u byte(s) of TCP first)", s->fd, (unsigned)pre);
    xw_sock_changed(s);
}

static void apply(struct xw_sock *s, const struct xw_hs_step *st)
{
    if (st->send && send_msg(s, &st->msg) < 0 && !st->reset) {
        fail(s, "TCP has no room for a control message", ECONNRESET);
        return;
    }
    if (st->close_channel && s->up.ch) {
        xw_channel_close(s->up.ch);
        s->up.ch = NULL;
    }
    if (st->reset) {
        fail(s, xw_reason_name(s->up.hs.reason), ECONNRESET);
        return;
    }
    if (st->done && s->up.state != XW_UP_NONE)
        finish(s);
}

/* The peer's section is over; a try we owe (xw_upgrade_retry) may start. */
static void section_over(struct xw_sock *s)
{
    s->up.in_section = false;
    if (s->up.state == XW_UP_NONE)
        xw_upgrade_retry(s);
}

/* Co-resident, as both sides judge it: from the two HELLOs only (our host
 * may have changed since ours went out). */
static bool same_host(const struct xw_upgrade *u)
{
    return u->my_host && u->peer_host && u->peer_host == u->my_host;
}

/* Both HELLOs are out: the connector offers a ring if the hosts are equal. */
static void decide(struct xw_sock *s)
{
    struct xw_upgrade *u = &s->up;
    bool coresident = same_host(u);
    struct xw_hs_step st;

    u->decided = true;
    memset(&u->hs, 0, sizeof(u->hs));
    if (!xw_neg_connector(s)) {
        st = xw_hs_acceptor_start(&u->hs, true, coresident);
        apply(s, &st);
        return;
    }
    struct xw_ctrl offer = { 0 };
    struct xw_chan_offer off;
    struct xw_chan_params prm = { .ring_bytes = xw_stack_ring_bytes(), .spin_us = -1 };
    int rc = -EINVAL;
    if (coresident && xw_neg_fault() == XW_FAULT_UPGRADE_GRANTS) {
        rc = -ENOSPC; /* (test knob: no grants left for the way back) */
    } else if (coresident) {
        rc = xw_channel_create(xw_rev_xenif(), u->peer_domid, &prm, &u->ch, &off);
        if (rc < 0) {
            u->ch = NULL;
            xw_info("fd %d: cannot offer a ring: %s", s->fd, xway_port_strerror(-rc));
        } else {
            offer = (struct xw_ctrl){ .type = XW_CTRL_OFFER, .domid = off.domid,
                                      .intf_ref = off.intf_ref, .port = off.port,
                                      .ring_shift = (uint8_t)off.ring_shift, .key = off.key };
        }
    }
    st = xw_hs_connector_start(&u->hs, true, coresident, rc, &offer);
    apply(s, &st);
    /* (NOOFFER: the acceptor's section was its HELLO alone) */
    if (s->tcp.pcb && u->in_section && u->peer_hello && !xw_hs_reading(&u->hs))
        section_over(s);
}

/* Our section goes out once everything we sent before has been acknowledged:
 * it starts a segment of its own, so its first byte carries the MARK naming
 * it, and the peer has taken our previous section's start before any segment
 * says a new one (a MARK names only the latest). */
static void open_section(struct xw_sock *s)
{
    struct xw_upgrade *u = &s->up;
    struct xw_xenif *x = xw_rev_xenif();
    struct xw_ctrl hello = { .type = XW_CTRL_HELLO, .domid = x ? x->domid : 0,
                             .host = u->my_host };

    /* (after a switch's bytes too: they are our stream's before the section) */
    if (!s->tcp.pcb || s->tcp.pcb->unsent || s->tcp.pcb->unacked || s->tcp.hold ||
        s->tcp.resend)
        return; /* (xw_upgrade_sent) */
    xw_neg_mark_tx(s);
    if (send_msg(s, &hello) < 0)
        return; /* no room yet: again when something is acknowledged */
    u->state = XW_UP_ON;
    if (u->peer_hello)
        decide(s);
}

/* Start our section; willing: we can take the ring (else we only answer). */
static void start_section(struct xw_sock *s, bool willing)
{
    struct xw_upgrade *u = &s->up;

    u->state = XW_UP_DRAIN;
    u->willing = willing;
    u->my_host = willing ? xw_neg_host() : 0; /* (the exchange judges by it) */
    u->decided = false;
    /* Unwilling while a switch still holds the old ring or our bytes: we try
     * again ourselves once it is over (xw_upgrade_retry). */
    u->retry = !willing && (s->sw.release_due || s->ring.ch || s->tcp.resend ||
                            s->sw.state == XW_SW_WAIT || s->sw.state == XW_SW_PENDING);
    sys_untimeout(timed_out, s);
    sys_timeout(XW_UPGRADE_TIMEOUT_MS, timed_out, s);
    xw_info("fd %d: %s", s->fd, willing ? "trying the way back to the ring" : "answering HELLO");
    open_section(s);
}

void xw_upgrade_start(struct xw_sock *s)
{
    if (s->up.state == XW_UP_NONE && !s->up.in_section && eligible(s)) {
        s->up.peer_hello = false; /* (this exchange's HELLO is still to come) */
        s->up.retry = false;
        start_section(s, true);
    }
}

void xw_upgrade_retry(struct xw_sock *s)
{
    if (s->up.retry)
        xw_upgrade_start(s);
}

void xw_upgrade_moved(struct xw_sock *s)
{
    if (s->up.state != XW_UP_NONE || s->up.in_section)
        s->up.retry = true; /* (an exchange named our old host: again after it) */
    else
        xw_upgrade_start(s);
}

void xw_upgrade_sent(struct xw_sock *s)
{
    if (s->up.state == XW_UP_DRAIN)
        open_section(s);
}

static void timed_out(void *arg)
{
    struct xw_sock *s = arg;

    if (s->up.state == XW_UP_DRAIN && (!s->up.peer_hello || !s->up.willing) &&
        !s->up.in_section) {
        /* Nothing of ours went out (what we sent before is still not
         * acknowledged: the peer does not read), and nothing we owe would
         * have said yes: give up, quietly. */
        xw_info("fd %d: the way back to the ring waits too long: stays on TCP", s->fd);
        s->up.state = XW_UP_NONE;
        xw_tcp_pump(s);
        xw_sock_changed(s);
        return;
    }
    if (s->rd_eof && !s->up.peer_hello && s->up.state == XW_UP_ON) {
        /* (the peer ended its stream: it cannot answer; we stay on TCP) */
        s->up.hs.state = XW_HS_TCP;
        s->up.hs.reason = XW_REASON_TIMEOUT;
        finish(s);
        return;
    }
    fail(s, "timed out", ETIMEDOUT);
}

/* One whole message of the peer's section. */
static void message(struct xw_sock *s, int rc, const struct xw_ctrl *m)
{
    struct xw_upgrade *u = &s->up;

    if (!u->peer_hello) {
        if (rc <= 0 || m->type != XW_CTRL_HELLO) {
            fail(s, "its section does not start with HELLO", ECONNRESET);
            return;
        }
        u->peer_hello = true;
        u->peer_domid = m->domid;
        u->peer_host = m->host;
        if (u->state == XW_UP_NONE && (s->shut_wr || s->tcp.fin_due)) {
            /* Our side is ended (its FIN is out or due): no section of ours
             * can follow; the peer's ends here, and its attempt times out
             * quietly on our FIN. */
            u->my_host = 0;
            xw_info("fd %d: HELLO on a connection we ended: no answer", s->fd);
        } else if (u->state == XW_UP_NONE)
            start_section(s, eligible(s));
        else if (u->state == XW_UP_ON && !u->decided)
            decide(s);
        if (!s->tcp.pcb)
            return;
        /* The peer judges as we do: unequal hosts end both sections here. */
        if (!same_host(u))
            section_over(s);
        return;
    }
    if (rc > 0 && m->type == XW_CTRL_OFFER && u->hs.state == XW_HS_WAIT_OFFER) {
        struct xw_chan_offer off = { .domid = m->domid, .intf_ref = m->intf_ref,
                                     .port = m->port, .ring_shift = m->ring_shift,
                                     .key = m->key };
        struct xw_chan_params prm = { .ring_bytes = xw_stack_ring_bytes(),
                                      .spin_us = -1, .peer_rings = XW_CHAN_PEER_RINGS };
        uint64_t nonce = 0;
        int mrc = xw_channel_accept(xw_rev_xenif(), &off, &prm, &u->ch, &nonce);
        struct xw_hs_step st;
        if (mrc < 0)
            u->ch = NULL;
        st = xw_hs_mapped(&u->hs, mrc, nonce, xw_rev_xenif()->domid);
        apply(s, &st);
    } else {
        struct xw_hs_step st = xw_hs_input(
            &u->hs, rc, m,
            rc > 0 && m->type == XW_CTRL_ACCEPT && u->ch &&
                xw_channel_check_nonce(u->ch, m->nonce) == 0);
        apply(s, &st);
    }
    if (s->tcp.pcb && !xw_hs_reading(&u->hs))
        section_over(s);
}

/* Bytes of the peer's section, from p at offset off: the count taken. */
static u16_t section(struct xw_sock *s, struct pbuf *p, u16_t off)
{
    struct xw_upgrade *u = &s->up;
    struct tcp_pcb *pcb = s->tcp.pcb;
    u16_t used = off;

    while (used < p->tot_len && u->in_section && s->tcp.pcb == pcb) {
        struct xw_ctrl m;
        int rc;
        u->in[u->in_len++] = pbuf_get_at(p, used++);
        rc = xw_ctrl_parse(u->in, u->in_len, &m);
        if (rc == -EPROTONOSUPPORT || rc == -ENOMSG) {
            int skip = xw_ctrl_skip(u->in, u->in_len);
            if (skip == 0)
                continue;
            rc = skip < 0 ? skip : rc;
        } else if (rc == 0) {
            if (u->in_len == sizeof(u->in))
                rc = -EBADMSG;
            else
                continue;
        }
        u->in_len = 0;
        message(s, rc, &m);
    }
    return (u16_t)(used - off);
}

struct pbuf *xw_upgrade_input(struct xw_sock *s, struct pbuf *p)
{
    struct xw_upgrade *u = &s->up;
    struct tcp_pcb *pcb = s->tcp.pcb;
    uint32_t mark, first = pcb->rcv_nxt - p->tot_len;
    u16_t at = p->tot_len, took;

    if (!u->in_section && xw_neg_mark_rx(s, &mark) && !(u->mark_done && mark == u->rx_mark)) {
        if (mark - first < p->tot_len) { /* a new section starts in p */
            at = (u16_t)(mark - first);
            u->in_section = true;
            u->mark_done = true;
            u->rx_mark = mark;
            u->peer_hello = false;
            u->in_len = 0;
        } else if ((int32_t)(mark - first) < 0) {
            xw_warn("fd %d: mark %u, segment %u+%u, last mark %u (%s)", s->fd, mark, first,
                    p->tot_len, u->rx_mark, u->mark_done ? "read" : "not read");
            pbuf_free(p);
            fail(s, "a section before bytes already taken as payload", ECONNRESET);
            return NULL;
        }
    } else if (u->in_section) {
        at = 0;
    }
    if (at == p->tot_len)
        return p;
    /* p = payload [0, at), the section from at, maybe payload after it. */
    took = section(s, p, at);
    if (s->tcp.pcb != pcb) {
        pbuf_free(p);
        return NULL;
    }
    tcp_recved(pcb, took);
    if (at == 0) {
        if (took == p->tot_len) {
            pbuf_free(p);
            return NULL;
        }
        return pbuf_free_header(p, took);
    }
    /* Payload on both sides of the section (rare): the head in a copy of its own. */
    struct pbuf *head = pbuf_alloc(PBUF_RAW, at, PBUF_RAM), *tail = NULL;
    if (!head) {
        pbuf_free(p);
        fail(s, "no memory", ENOMEM);
        return NULL;
    }
    pbuf_copy_partial(p, head->payload, at, 0);
    if (at + took < p->tot_len)
        tail = pbuf_free_header(p, (u16_t)(at + took));
    else
        pbuf_free(p);
    if (tail)
        pbuf_cat(head, tail);
    return head;
}

void xw_upgrade_forget(struct xw_sock *s)
{
    sys_untimeout(timed_out, s);
    if (s->up.ch) {
        xw_channel_close(s->up.ch);
        s->up.ch = NULL;
    }
}

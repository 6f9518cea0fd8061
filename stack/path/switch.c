/* The switch from the ring to TCP (switch.h).  Stream positions are the
 * rings' own free-running indices: each side's ring index of the peer's
 * stream (what it consumed, plus what it copied out of the ring when it left)
 * is the authority on what it has; the other side sends again, over TCP, its
 * bytes from that index on, out of the copy it made of its own unconsumed
 * bytes when it left. */
#include "switch.h"

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
#include "ring_park.h"
#include "ring_path.h"
#include "ring_routes.h"
#include "socket.h"
#include "tcp_path.h"
#include "upgrade.h"
#include "xway_port.h"

static void timed_out(void *arg);
static void retry_release(void *arg);

static void fail(struct xw_sock *s, const char *why)
{
    xw_warn_peer("fd %d: switch to TCP failed (%s): connection reset", s->fd, why);
    sys_untimeout(timed_out, s);
    s->sw.state = XW_SW_DONE;
    s->tcp.hold = false;
    xw_tcp_abort_conn(s, ECONNRESET);
}

static void timed_out(void *arg)
{
    struct xw_sock *s = arg;

    if (s->sw.state == XW_SW_PENDING || s->sw.state == XW_SW_WAIT)
        fail(s, s->sw.state == XW_SW_PENDING ? "a zero-copy call held the ring"
                                             : "no SWITCH from the peer");
}

/* Can the connection go on over TCP?  Its TCP connection must still carry
 * bytes both ways (the peer's FIN: its end is in the ring already), and this
 * process must be the ring's only user. */
static bool switchable(const struct xw_sock *s)
{
    const struct tcp_pcb *pcb = s->tcp.pcb;

    return pcb && (pcb->state == ESTABLISHED || pcb->state == CLOSE_WAIT) && !s->closing &&
           !s->sat && s->ring.ch && !xw_channel_is_lent(s->ring.ch) &&
           xw_path_of(s) == &xw_ring_ops;
}

static int send_switch(struct xw_sock *s)
{
    struct xw_ctrl m = { .type = XW_CTRL_SWITCH, .rx_idx = s->sw.out.rx_idx,
                         .reason = (uint16_t)s->sw.reason };
    uint8_t buf[XW_CTRL_MAX];
    int n = xw_ctrl_write(buf, sizeof(buf), &m);

    if (n < 0 || tcp_write(s->tcp.pcb, buf, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK)
        return -ENOBUFS;
    tcp_output(s->tcp.pcb);
    return 0;
}

/* The peer's index is known: our bytes from it on go first on TCP. */
static void resume(struct xw_sock *s)
{
    struct xw_chan_switch *o = &s->sw.out;
    uint32_t from = s->sw.peer_idx;

    if (!o->tx_known && from != o->tx_idx) {
        fail(s, "the peer lacks bytes only the lost mapping held");
        return;
    }
    if (o->tx_known && from - o->tx_from > o->tx_idx - o->tx_from) {
        fail(s, "the peer's index is outside what we sent");
        return;
    }
    sys_untimeout(timed_out, s);
    if (o->tx_known && from != o->tx_idx) {
        /* (the copy's head, already read by the peer, is dropped) */
        memmove(o->tx, o->tx + (from - o->tx_from), o->tx_idx - from);
        s->tcp.resend = o->tx;
        s->tcp.resend_len = o->tx_idx - from;
        s->tcp.resend_off = 0;
    } else {
        xway_port_free(o->tx);
    }
    o->tx = NULL;
    s->tcp.hold = false;
    s->sw.state = XW_SW_DONE;
    xw_info("fd %d: switched to TCP (%s): %u byte(s) sent again, %u kept from the ring", s->fd,
            xw_reason_name(s->sw.reason), o->tx_known ? o->tx_idx - from : 0, o->rx_len);
    xw_tcp_pump(s);
    xw_sock_changed(s);
    if (s->sw.moved)
        xw_upgrade_start(s); /* (the new host may be the peer's) */
    else
        xw_upgrade_retry(s);
}

/* Try to give the ring's channel back: only with no call inside the ring
 * path (path_io's, counted in ring_calls, and lock-free ones, in users). */
void xw_switch_ring_idle(struct xw_sock *s)
{
    if (!s->sw.release_due)
        return;
    if (s->sw.ring_calls || atomic_load(&s->users)) {
        sys_untimeout(retry_release, s);
        sys_timeout(100, retry_release, s);
        return;
    }
    s->sw.release_due = false;
    sys_untimeout(retry_release, s);
    xw_rpath_drop(s);
    if (s->sw.moved && s->sw.state == XW_SW_DONE)
        xw_upgrade_start(s);
    else
        xw_upgrade_retry(s);
}

static void retry_release(void *arg)
{
    xw_switch_ring_idle(arg);
}

/* Leave now: the ring path stopped, what it held copied out, our SWITCH sent. */
static void leave_now(struct xw_sock *s)
{
    struct xw_chan_switch *o = &s->sw.out;
    int rc;

    sys_untimeout(timed_out, s);
    if (!xw_rpath_stop(s)) {
        if (s->sw.moved && !xw_channel_is_creator(s->ring.ch)) {
            /* The view's or reservation's bytes are in the peer's pages,
             * whose mapping our domain's move took: no waiting brings them
             * back. */
            fail(s, "a zero-copy view or reservation was open in the mapping the move took");
            return;
        }
        s->sw.state = XW_SW_PENDING; /* a zero-copy call's end retries */
        sys_timeout(XW_SWITCH_TIMEOUT_MS, timed_out, s);
        return;
    }
    rc = xw_channel_switch_out(s->ring.ch, s->sw.moved, o);
    s->sw.state = XW_SW_WAIT;
    s->sw.count++;
    xw_path_set(s, &xw_tcp_ops);
    xw_rpath_stopped(s);
    s->sw.release_due = true;
    xw_switch_ring_idle(s);
    if (rc < 0) {
        fail(s, rc == -EPROTO ? "the peer broke the ring" : xway_port_strerror(-rc));
        return;
    }
    /* What the application reads next: the bytes a pump passed on (a claimed
     * connection's), then those the ring held, then TCP's. */
    {
        size_t pre = xw_rpath_pre_left(s) ? s->ring.pre_len - s->ring.pre_off : 0;
        uint8_t *buf = pre + o->rx_len ? xway_port_malloc(pre + o->rx_len) : NULL;
        if (pre + o->rx_len && !buf) {
            fail(s, "no memory");
            return;
        }
        if (pre)
            memcpy(buf, s->ring.pre + s->ring.pre_off, pre);
        if (o->rx_len)
            memcpy(buf + pre, o->rx, o->rx_len);
        xway_port_free(o->rx);
        o->rx = NULL;
        s->tcp.pre = buf;
        s->tcp.pre_len = pre + o->rx_len;
        s->tcp.pre_off = 0;
        s->tcp.rx_len += (uint32_t)s->tcp.pre_len;
    }
    s->tcp.hold = true;
    xw_neg_count_switch(s->sw.reason);
    xw_sock_changed(s);
    xw_info("fd %d: leaving the ring (%s): at ring index %u of the peer's bytes, %u of ours",
            s->fd, xw_reason_name(s->sw.reason), o->rx_idx, o->tx_idx);
    if (send_switch(s) < 0) {
        fail(s, "TCP has no room for SWITCH");
        return;
    }
    if (s->sw.peer_known)
        resume(s);
    else
        sys_timeout(XW_SWITCH_TIMEOUT_MS, timed_out, s);
}

void xw_switch_leave(struct xw_sock *s, int reason, bool moved)
{
    if (s->sw.state != XW_SW_NONE)
        return;
    if (!switchable(s)) {
        /* Nothing can carry the stream on: as a peer gone without a word. */
        if (xw_path_of(s) == &xw_ring_ops && s->ring.ch)
            xw_rpath_peer_gone(s);
        return;
    }
    s->sw.reason = reason;
    s->sw.moved = moved;
    leave_now(s);
}

void xw_switch_retry(struct xw_sock *s)
{
    if (s->sw.state == XW_SW_PENDING)
        leave_now(s);
}

bool xw_switch_wants_input(const struct xw_sock *s)
{
    if (s->sw.state == XW_SW_NONE)
        return xw_path_of(s) == &xw_ring_ops;
    return !s->sw.peer_known;
}

u16_t xw_switch_input(struct xw_sock *s, struct pbuf *p)
{
    struct xw_ctrl m;
    u16_t used = 0;
    int rc = 0;

    /* Byte by byte until the message is whole: the peer sends one SWITCH and
     * then payload, in one segment or several. */
    while (used < p->tot_len && s->sw.in_len < sizeof(s->sw.in)) {
        s->sw.in[s->sw.in_len++] = pbuf_get_at(p, used++);
        rc = xw_ctrl_parse(s->sw.in, s->sw.in_len, &m);
        if (rc != 0)
            break;
    }
    if (rc == 0)
        return used; /* more to come (the timer bounds the wait) */
    if (rc < 0 || m.type != XW_CTRL_SWITCH) {
        xw_warn_peer("fd %d: %s on TCP for a ring connection", s->fd,
                     rc < 0 ? "garbage" : "a control message other than SWITCH");
        s->sw.state = XW_SW_DONE;
        s->tcp.hold = false;
        xw_tcp_abort_conn(s, ECONNRESET);
        return used;
    }
    s->sw.peer_known = true;
    s->sw.peer_idx = m.rx_idx;
    xw_info("fd %d: the peer leaves the ring (%s)", s->fd, xw_reason_name(m.reason));
    if (s->sw.state == XW_SW_NONE) {
        xw_switch_leave(s, XW_REASON_PEER_MOVED, false);
        if (s->sw.state == XW_SW_NONE)
            fail(s, "the connection cannot go on over TCP");
    } else if (s->sw.state == XW_SW_WAIT) {
        resume(s);
    }
    return used;
}

bool xw_switch_unfinished(const struct xw_sock *s)
{
    return s->tcp.hold || s->tcp.resend || s->sw.state == XW_SW_PENDING;
}

void xw_switch_forget(struct xw_sock *s)
{
    sys_untimeout(timed_out, s);
    sys_untimeout(retry_release, s);
    xway_port_free(s->sw.out.rx);
    xway_port_free(s->sw.out.tx);
    s->sw.out.rx = s->sw.out.tx = NULL;
}

static void leave_moved(struct xw_sock *s)
{
    if (xw_path_of(s) == &xw_ring_ops && s->ring.ch) {
        xw_channel_moving(s->ring.ch);
        xw_switch_leave(s, XW_REASON_MOVED, true);
    }
}

/* (a connection on TCP since before the move: the new host may be the peer's) */
static void try_back(struct xw_sock *s)
{
    if (xw_path_of(s) == &xw_tcp_ops && (!s->sw.moved || s->sw.state == XW_SW_DONE))
        xw_upgrade_moved(s);
}

void xw_switch_move_leave(void)
{
    xw_park_flush(); /* (their peers are not co-resident any more) */
    xw_sock_foreach(leave_moved);
}

void xw_switch_moved(void)
{
    xw_neg_rehost();
    xw_info("moved: domain %u, host changed", xw_rev_xenif()->domid);
    xw_sock_foreach(try_back);
}

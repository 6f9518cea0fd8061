/* The TCP connection every socket has, and the TCP path (xw_tcp_ops): a
 * connection's bytes through lwIP.  lwIP's callbacks update the socket
 * (socket.h) and wake its sleepers; send and receive copy between the caller's
 * buffers and lwIP segments.  The handshake sees the connection through the
 * hooks it registered (xw_tcp_set_handshake).  Every function runs with the
 * stack lock. */
#include "tcp_path.h"

#include <errno.h>
#include <string.h>

#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "channel.h"
#include "host.h"
#include "log.h"
#include "negotiate.h"
#include "ports.h"
#include "switch.h"
#include "timewait.h"
#include "upgrade.h"
#include "xway_port.h"
#include "xway_types.h"


/* No handshake registered: every connection is plain TCP. */
static bool plain_connected(struct xw_sock *s) { return false; }
static bool plain_accepted(struct xw_sock *l, struct xw_sock *s) { return false; }
static void plain_none(struct xw_sock *s) {}
static const struct xw_tcp_handshake plain = {
    .connect_prepare = plain_none, .listen_prepare = plain_none,
    .connected = plain_connected, .accepted = plain_accepted,
    .input = plain_none, .forget = plain_none,
};
static const struct xw_tcp_handshake *hs = &plain;

static void reap_later(void *arg);

void xw_tcp_set_handshake(const struct xw_tcp_handshake *h)
{
    hs = h ? h : &plain;
}

void xw_tcp_forget(struct xw_sock *s)
{
    hs->forget(s);
    xw_switch_forget(s);
    xw_upgrade_forget(s);
    sys_untimeout(reap_later, s);
}

/* ---- lwIP callbacks ---------------------------------------------------------- */

static void rx_append(struct xw_sock *s, struct pbuf *p)
{
    /* Segments are kept as one list linked through ->next; tot_len (16 bits) is
     * not maintained across segments, rx_len counts. */
    struct pbuf *tail;

    s->tcp.rx_len += p->tot_len;
    if (!s->tcp.rx) {
        s->tcp.rx = p;
        return;
    }
    for (tail = s->tcp.rx; tail->next; tail = tail->next)
        ;
    tail->next = p;
}

/* Take s out of its listener's accept queue, keeping the order of the rest. */
static void unqueue(struct xw_sock *s)
{
    struct xw_sock *l = s->queued;
    int i = 0;

    if (!l)
        return;
    s->queued = NULL;
    while (i < l->aq_len && l->acceptq[(l->aq_head + i) % l->aq_cap] != s)
        i++;
    if (i == l->aq_len)
        return;
    for (; i + 1 < l->aq_len; i++)
        l->acceptq[(l->aq_head + i) % l->aq_cap] = l->acceptq[(l->aq_head + i + 1) % l->aq_cap];
    l->aq_len--;
    xw_sock_changed(l);
}

static void reap_later(void *arg)
{
    xw_sock_free(arg);
}

/* s lost its connection before the application accepted it (negotiating, or
 * in the accept queue): nobody else will free it.  It leaves the queue now
 * (lwIP no longer counts it in the backlog) and is freed from the stack
 * thread's timers, not here: the callback or handshake step that got here may
 * still use it. */
static void drop_unseen(struct xw_sock *s)
{
    unqueue(s);
    s->listener = NULL;
    s->doomed = true;
    hs->forget(s);
    sys_untimeout(reap_later, s);
    sys_timeout(0, reap_later, s);
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct xw_sock *s = arg;

    if (p && xw_switch_wants_input(s)) {
        /* On the ring, and until the peer's SWITCH: its control message. */
        u16_t used = xw_switch_input(s, p);
        if (s->tcp.pcb != pcb) {
            pbuf_free(p);
            return ERR_ABRT; /* reset: malformed */
        }
        tcp_recved(pcb, used);
        if (used == p->tot_len) {
            pbuf_free(p);
            xw_sock_changed(s);
            return ERR_OK;
        }
        p = pbuf_free_header(p, used);
    }
    if (p && xw_path_of(s) == &xw_tcp_ops && !xw_hs_reading(&s->hs) && xw_neg_marks(s)) {
        /* The peer's control section (the way back to the ring), if one starts here. */
        p = xw_upgrade_input(s, p);
        if (s->tcp.pcb != pcb)
            return ERR_ABRT;
        if (!p) {
            xw_sock_changed(s);
            return ERR_OK;
        }
    }
    if (p && xw_path_of(s) != &xw_tcp_ops) {
        /* Under another path TCP carries no payload: a peer sending some is broken. */
        pbuf_free(p);
        xw_warn_peer("fd %d: payload on TCP for a ring connection: reset", s->fd);
        xw_tcp_abort_conn(s, ECONNRESET);
        return ERR_ABRT;
    }
    if (!p && xw_hs_reading(&s->hs)) {
        xw_tcp_abort_conn(s, ECONNRESET); /* closed in the middle of the handshake */
        return ERR_ABRT;
    }
    if (!p) {
        s->rd_eof = true;
    } else if (s->shut_rd) {
        /* Data after SHUT_RD is accepted and dropped, as Linux does. */
        tcp_recved(pcb, p->tot_len);
        pbuf_free(p);
        return ERR_OK;
    } else {
        rx_append(s, p);
        s->tcp.arrived = true;
        if (xw_hs_reading(&s->hs)) {
            hs->input(s);
            if (s->tcp.pcb != pcb)
                return ERR_ABRT; /* reset by the handshake */
        }
    }
    xw_sock_changed(s);
    return ERR_OK;
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
    struct xw_sock *s = arg;

    if (s->tcp.resend)
        xw_tcp_pump(s);
    xw_upgrade_sent(s);
    xw_sock_changed(s);
    return ERR_OK;
}

/* lwIP frees a pcb in TIME-WAIT without a word to its owner (at 2 MSL; by
 * tcp_abort: timewait.c's trim, and a SYN for its 4-tuple): a socket still
 * holding one (both sides sent FIN, the application has not closed it yet:
 * shutdown, then a late close) lets go of it as it goes, as after lwIP's
 * "closed" error.  Every pcb a socket holds but a listener's carries the
 * socket in an ext arg of its own while s->tcp.pcb is that pcb (hold/let_go),
 * so the destroy callback finds it; other frees reach on_err first, which
 * lets go, or after (tcp_abort), which finds s->tcp.pcb NULL. */
static u8_t sock_arg_id;
static bool sock_arg_ready;

static void pcb_destroyed(u8_t id, void *data)
{
    struct xw_sock *s = data;

    (void)id;
    if (!s || !s->tcp.pcb)
        return;
    s->tcp.pcb = NULL;
    /* (lwIP's own tcp_abort of a live pcb calls on_err next, which adds the
     * error; a socket not accepted yet cannot have sent its FIN) */
    if (s->listener || s->queued || s->state == XW_SS_DEAD)
        return;
    s->state = XW_SS_DEAD;
    xw_debug("fd %d: lwIP freed its connection (TIME-WAIT) before its close", s->fd);
    xw_sock_changed(s);
}

static const struct tcp_ext_arg_callbacks sock_arg_cbs = { .destroy = pcb_destroyed };

static void hold(struct xw_sock *s, struct tcp_pcb *pcb)
{
    s->tcp.pcb = pcb;
    if (!pcb || pcb->state == LISTEN)
        return;
    if (!sock_arg_ready) {
        sock_arg_id = tcp_ext_arg_alloc_id();
        sock_arg_ready = true;
    }
    tcp_ext_arg_set_callbacks(pcb, sock_arg_id, &sock_arg_cbs);
    tcp_ext_arg_set(pcb, sock_arg_id, s);
}

/* s->tcp.pcb NULL; the pcb (still lwIP's, or about to be freed) forgets s. */
static void let_go(struct xw_sock *s)
{
    struct tcp_pcb *pcb = s->tcp.pcb;

    s->tcp.pcb = NULL;
    if (pcb && pcb->state != LISTEN && sock_arg_ready)
        tcp_ext_arg_set(pcb, sock_arg_id, NULL);
}

/* lwIP freed the pcb.  ERR_ABRT from lwIP itself means retransmissions or
 * keepalives ran out (our own aborts detach the callbacks first). */
static void on_err(void *arg, err_t err)
{
    struct xw_sock *s = arg;
    bool connecting = s->state == XW_SS_CONNECTING;

    let_go(s); /* (the pcb is freed after this) */
    if (err == ERR_RST && xw_path_of(s) == &xw_ring_ops && s->ring.ch &&
        xw_channel_peer_ended(s->ring.ch)) {
        /* The peer ended its stream in the ring, then its stack reset TCP as
         * it stopped (its process exited): what the ring holds is still ours
         * to read, then EOF, as after the graceful close it was. */
        xw_debug("fd %d: reset after the peer's end in the ring: a close", s->fd);
    } else if (err == ERR_RST)
        s->err = connecting ? ECONNREFUSED : ECONNRESET;
    else if (err == ERR_ABRT || err == ERR_TIMEOUT)
        s->err = ETIMEDOUT;
    else if (err != ERR_CLSD)
        s->err = ECONNABORTED;
    s->state = XW_SS_DEAD;
    xw_debug("fd %d: connection %s (%s)", s->fd, connecting ? "failed" : "lost",
             s->err ? xway_port_strerror(s->err) : "closed");
    if (s->listener || s->queued) {
        drop_unseen(s);
        return;
    }
    xw_sock_changed(s);
}

/* Established: lwIP's segments as long as the link takes (host.h), the MSS
 * kept for TCP_MAXSEG.  At least one such segment fits the congestion window
 * (lwIP set it from the MSS: the connector's before this). */
static void set_seg(struct xw_sock *s, struct tcp_pcb *pcb)
{
    u16_t seg = xw_stack_tcp_seg(pcb);

    s->tcp.mss = pcb->mss;
    if (seg <= pcb->mss)
        return;
    pcb->mss = seg;
    if (pcb->cwnd < seg)
        pcb->cwnd = seg;
}

/* A segment longer than the MSS (set_seg) waits for a window that takes it
 * whole, and lwIP splits one only when its persist timer fires (1.5 s) with
 * nothing in flight.  A receiver whose window stays below it (an application
 * reading slowly) would get bytes at that pace: an ACK that leaves nothing in
 * flight and offers less than the first segment waiting splits it at once,
 * at the MSSes the window takes (before lwIP takes the ACK and sends). */
void xw_tcp_seg_fit(struct tcp_pcb *pcb, const struct tcp_hdr *hdr)
{
    u8_t flags = TCPH_FLAGS(hdr);
    struct xw_sock *s;
    u32_t wnd, fit;

    if (!pcb->unsent || !sock_arg_ready || !(flags & TCP_ACK) || (flags & (TCP_SYN | TCP_RST)))
        return;
    s = tcp_ext_arg_get(pcb, sock_arg_id);
    if (!s || !s->tcp.mss || pcb->mss <= s->tcp.mss)
        return;
    if (pcb->unacked && hdr->ackno != pcb->snd_nxt)
        return; /* (bytes in flight: their ACKs open the window) */
    wnd = SND_WND_SCALE(pcb, (u32_t)hdr->wnd);
    if (wnd > pcb->cwnd)
        wnd = pcb->cwnd;
    fit = wnd / s->tcp.mss * s->tcp.mss;
    if (fit && pcb->unsent->len > wnd)
        tcp_split_unsent_seg(pcb, (u16_t)fit);
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
    struct xw_sock *s = arg;

    set_seg(s, pcb);
    if (hs->connected(s))
        return s->tcp.pcb == pcb ? ERR_OK : ERR_ABRT;
    s->state = XW_SS_CONNECTED;
    s->was_connected = true;
    xw_sock_changed(s);
    return ERR_OK;
}

static void attach(struct xw_sock *s, struct tcp_pcb *pcb)
{
    hold(s, pcb);
    tcp_arg(pcb, s);
    tcp_recv(pcb, on_recv);
    tcp_sent(pcb, on_sent);
    tcp_err(pcb, on_err);
}

void xw_tcp_apply_opts(struct xw_sock *s)
{
    struct tcp_pcb *pcb = s->tcp.pcb;

    if (!pcb || pcb->state == LISTEN)
        return;
    if (s->nodelay)
        tcp_nagle_disable(pcb);
    else
        tcp_nagle_enable(pcb);
    if (s->keepalive)
        ip_set_option(pcb, SOF_KEEPALIVE);
    else
        ip_reset_option(pcb, SOF_KEEPALIVE);
    pcb->keep_idle = (u32_t)s->keepidle * 1000u;
    pcb->keep_intvl = (u32_t)s->keepintvl * 1000u;
    pcb->keep_cnt = (u32_t)s->keepcnt;
}

/* The listener of l's SO_REUSEPORT group (l itself when alone) to get the
 * next connection: each in turn, skipping those closing or full. */
static struct xw_sock *rp_pick(struct xw_sock *l)
{
    struct xw_sock *start, *c;

    if (!l->rp_next)
        return l;
    start = c = l->rp_turn ? l->rp_turn : l;
    do {
        struct xw_sock *next = c == l ? l->rp_next : c->rp_next ? c->rp_next : l;
        if (!c->closing && c->aq_len < c->aq_cap) {
            l->rp_turn = next;
            return c;
        }
        c = next;
    } while (c != start);
    return l;
}

static err_t on_accept(void *arg, struct tcp_pcb *newpcb, err_t err)
{
    struct xw_sock *l = arg, *s;
    int rc;

    if (err != ERR_OK || !newpcb)
        return ERR_VAL;
    l = rp_pick(l);
    if (l->closing || l->aq_len == l->aq_cap)
        return ERR_MEM; /* lwIP aborts the new connection */
    rc = xw_sock_new(l->domain, false, false, true, &s);
    if (rc < 0) {
        xw_warn("accept on fd %d: no socket for the new connection: %s", l->fd,
                xway_port_strerror(-rc));
        return ERR_MEM;
    }
    s->state = XW_SS_CONNECTING; /* until queued for accept */
    s->doomed = true;             /* until queued: freed by us if it fails */
    s->nodelay = l->nodelay;
    s->keepalive = l->keepalive;
    s->keepidle = l->keepidle;
    s->keepintvl = l->keepintvl;
    s->keepcnt = l->keepcnt;
    attach(s, newpcb);
    set_seg(s, newpcb);
    xw_tcp_apply_opts(s);
    /* Counted against the listen backlog until the application accepts it, so
     * that excess SYNs wait (and are retried by the peer) as on Linux. */
    tcp_backlog_delayed(newpcb);
    if (!hs->accepted(l, s) && !xw_tcp_queue_accepted(l, s))
        return ERR_ABRT;
    return ERR_OK;
}

bool xw_tcp_queue_accepted(struct xw_sock *l, struct xw_sock *s)
{
    if (l->closing || l->state != XW_SS_LISTEN || l->aq_len >= l->aq_cap) {
        xw_warn_peer("listener fd %d: accept queue full: new connection reset", l->fd);
        xw_tcp_release(s, true);
        s->state = XW_SS_DEAD;
        drop_unseen(s);
        return false;
    }
    s->doomed = false;
    s->state = XW_SS_CONNECTED;
    s->was_connected = true;
    l->acceptq[(l->aq_head + l->aq_len++) % l->aq_cap] = s;
    s->queued = l;
    xw_sock_changed(s);
    xw_sock_changed(l);
    return true;
}

void xw_tcp_abort_conn(struct xw_sock *s, int err)
{
    const struct xw_path_ops *ops = xw_path_of(s);

    if (ops->reset)
        ops->reset(s);
    xw_tcp_release(s, true);
    s->err = err;
    s->state = XW_SS_DEAD;
    if (s->listener || s->queued) {
        drop_unseen(s);
        return;
    }
    xw_sock_changed(s);
}

/* ---- setup ------------------------------------------------------------------- */

static int err_to_errno(err_t e)
{
    switch (e) {
    case ERR_OK: return 0;
    case ERR_MEM: return ENOMEM;
    case ERR_BUF: return ENOBUFS;
    case ERR_RTE: return ENETUNREACH;
    case ERR_USE: return EADDRINUSE;
    case ERR_ISCONN: return EISCONN;
    case ERR_ALREADY: return EALREADY;
    case ERR_VAL: return EINVAL;
    case ERR_RST: return ECONNRESET;
    case ERR_ABRT: return ECONNABORTED;
    case ERR_CONN: return ENOTCONN;
    default: return EIO;
    }
}

static int ensure_pcb(struct xw_sock *s)
{
    if (s->tcp.pcb)
        return 0;
    if (s->state != XW_SS_NEW)
        return -EINVAL;
    hold(s, tcp_new_ip_type(s->domain == XW_AF_INET6 ? IPADDR_TYPE_V6 : IPADDR_TYPE_V4));
    if (!s->tcp.pcb)
        return -ENOMEM;
    tcp_arg(s->tcp.pcb, s);
    return 0;
}

int xw_tcp_bind(struct xw_sock *s, const ip_addr_t *ip, u16_t port)
{
    int rc = ensure_pcb(s);
    err_t e;

    if (rc < 0)
        return rc;
    if (s->bound)
        return -EINVAL;
    if (s->reuseaddr || s->reuseport) /* (a group shares one port: listen) */
        ip_set_option(s->tcp.pcb, SOF_REUSEADDR);
    if (!port && !(port = xw_port_ephemeral()))
        return -EADDRINUSE; /* (Linux's answer when none is left) */
    e = tcp_bind(s->tcp.pcb, ip, port);
    if (e != ERR_OK)
        return e == ERR_USE ? -EADDRINUSE : -err_to_errno(e);
    xw_port_taken(port);
    s->bound = true;
    return 0;
}

/* Room in the accept queue for every connection a backlog admits.  It never
 * shrinks: connections admitted under a larger backlog still need their place. */
static int aq_reserve(struct xw_sock *l, int backlog)
{
    int cap = backlog + 1;
    struct xw_sock **q;

    if (cap <= l->aq_cap)
        return 0;
    q = xway_port_calloc((size_t)cap, sizeof(*q));
    if (!q)
        return -ENOMEM;
    for (int i = 0; i < l->aq_len; i++)
        q[i] = l->acceptq[(l->aq_head + i) % l->aq_cap];
    xway_port_free(l->acceptq);
    l->acceptq = q;
    l->aq_head = 0;
    l->aq_cap = cap;
    return 0;
}

/* SO_REUSEPORT: the leader of a group that bound s's address and port. */
static struct xw_sock *rp_want, *rp_found;

static void rp_match(struct xw_sock *l)
{
    const struct tcp_pcb *a = l->tcp.pcb, *b = rp_want->tcp.pcb;

    if (!rp_found && l != rp_want && l->state == XW_SS_LISTEN && l->reuseport && !l->closing &&
        !l->rp_leader && a && l->domain == rp_want->domain && a->local_port == b->local_port &&
        ip_addr_cmp(&a->local_ip, &b->local_ip))
        rp_found = l;
}

/* Listen as one more of a group (its bound pcb let go): 0, or -ENOENT when
 * there is no group to join (s listens on its own and leads one). */
static int rp_join(struct xw_sock *s)
{
    struct xw_sock *l;

    rp_want = s;
    rp_found = NULL;
    xw_sock_foreach(rp_match);
    if (!(l = rp_found))
        return -ENOENT;
    s->rp_name_ip = s->tcp.pcb->local_ip;
    s->rp_name_port = s->tcp.pcb->local_port;
    {
        struct tcp_pcb *pcb = s->tcp.pcb;
        let_go(s);
        tcp_close(pcb); /* bound, never listening: freed */
    }
    s->rp_leader = l;
    s->rp_next = l->rp_next;
    l->rp_next = s;
    return 0;
}

/* s leaves its SO_REUSEPORT group; a leader hands its pcb to the next one. */
static void rp_leave(struct xw_sock *s)
{
    struct xw_sock *l = s->rp_leader, **pp, *n;

    if (l) {
        for (pp = &l->rp_next; *pp && *pp != s; pp = &(*pp)->rp_next)
            ;
        if (*pp)
            *pp = s->rp_next;
        if (l->rp_turn == s)
            l->rp_turn = NULL;
    } else if ((n = s->rp_next) != NULL && s->tcp.pcb) {
        n->tcp.pcb = s->tcp.pcb;
        s->tcp.pcb = NULL;
        tcp_arg(n->tcp.pcb, n);
        n->rp_leader = NULL;
        n->rp_turn = NULL;
        for (struct xw_sock *m = n->rp_next; m; m = m->rp_next)
            m->rp_leader = n;
    }
    s->rp_leader = s->rp_next = s->rp_turn = NULL;
}

int xw_tcp_listen(struct xw_sock *s, int backlog)
{
    struct tcp_pcb *lpcb;
    err_t e = ERR_OK;
    int rc;

    if (backlog > 255)
        backlog = 255;
    if (backlog < 1)
        backlog = 1;
    if (s->state == XW_SS_LISTEN) { /* Linux allows re-listen to change the backlog */
        rc = aq_reserve(s, backlog);
        if (rc < 0)
            return rc;
        if (s->tcp.pcb) /* (a follower of a group has none) */
            tcp_backlog_set(s->tcp.pcb, (u8_t)backlog);
        s->backlog = backlog;
        return 0;
    }
    if (s->state != XW_SS_NEW)
        return -EINVAL;
    if (!s->bound) {
        rc = xw_tcp_bind(s, s->domain == XW_AF_INET6 ? IP6_ADDR_ANY : IP4_ADDR_ANY, 0);
        if (rc < 0)
            return rc;
    }
    rc = aq_reserve(s, backlog);
    if (rc < 0)
        return rc;
    if (s->reuseport && rp_join(s) == 0) { /* (the leader's pcb is prepared) */
        s->backlog = backlog;
        s->state = XW_SS_LISTEN;
        xw_sock_changed(s);
        return 0;
    }
    if (sock_arg_ready) /* (lwIP copies the ext args to the listener it makes) */
        tcp_ext_arg_set(s->tcp.pcb, sock_arg_id, NULL);
    lpcb = tcp_listen_with_backlog_and_err(s->tcp.pcb, (u8_t)backlog, &e);
    if (!lpcb && sock_arg_ready)
        tcp_ext_arg_set(s->tcp.pcb, sock_arg_id, s);
    if (!lpcb)
        return -err_to_errno(e); /* the queue goes with the socket */
    s->tcp.pcb = lpcb;
    s->backlog = backlog;
    s->state = XW_SS_LISTEN;
    tcp_arg(lpcb, s);
    tcp_accept(lpcb, on_accept);
    hs->listen_prepare(s);
    xw_sock_changed(s);
    return 0;
}

struct xw_sock *xw_tcp_accept_next(struct xw_sock *l)
{
    struct xw_sock *s;

    if (!l->aq_len)
        return NULL;
    s = l->acceptq[l->aq_head];
    l->aq_head = (l->aq_head + 1) % l->aq_cap;
    l->aq_len--;
    s->queued = NULL;
    if (s->tcp.pcb)
        tcp_backlog_accepted(s->tcp.pcb);
    xw_sock_changed(l);
    xw_sock_changed(s); /* (its fd follows it from now on: ring_path.c's refresh) */
    return s;
}

int xw_tcp_connect(struct xw_sock *s, const ip_addr_t *ip, u16_t port)
{
    int rc;
    err_t e;

    if (s->state == XW_SS_CONNECTING)
        return -EALREADY;
    if (s->state == XW_SS_CONNECTED)
        return -EISCONN;
    if (s->state != XW_SS_NEW)
        return s->state == XW_SS_LISTEN ? -EINVAL : -EISCONN;
    rc = xw_stack_route_check(ip);
    if (rc == 0)
        rc = ensure_pcb(s);
    if (rc < 0)
        return rc;
    attach(s, s->tcp.pcb);
    xw_tcp_apply_opts(s);
    /* Our port, not lwIP's choice (ports.h); tcp_connect takes a pcb's
     * preset port as it is (the pcb goes on the active list). */
    if (!s->tcp.pcb->local_port && !(s->tcp.pcb->local_port = xw_port_ephemeral()))
        return -EADDRNOTAVAIL;
    hs->connect_prepare(s);
    e = tcp_connect(s->tcp.pcb, ip, port, on_connected);
    if (e != ERR_OK)
        return -err_to_errno(e);
    s->state = XW_SS_CONNECTING;
    xw_sock_changed(s);
    return 0;
}

/* ---- data -------------------------------------------------------------------- */

/* The switch's prefix (bytes the ring still held) into iov from byte io of
 * iov[*i], up to len: bytes copied; consumed unless peek. */
static size_t pre_copy(struct xw_sock *s, const struct iovec *iov, int iovcnt, int *i, size_t *io,
                       size_t len, bool peek)
{
    size_t off = s->tcp.pre_off, done = 0;

    while (off < s->tcp.pre_len && done < len && (!iov || *i < iovcnt)) {
        size_t n = s->tcp.pre_len - off, room = iov ? iov[*i].iov_len - *io : SIZE_MAX;
        if (n > room)
            n = room;
        if (n > len - done)
            n = len - done;
        if (iov)
            memcpy((char *)iov[*i].iov_base + *io, s->tcp.pre + off, n);
        done += n;
        off += n;
        *io += n;
        if (iov && *io == iov[*i].iov_len) {
            (*i)++;
            *io = 0;
        }
    }
    if (!peek) {
        s->tcp.pre_off = off;
        s->tcp.rx_len -= (uint32_t)done;
        if (off == s->tcp.pre_len) {
            xway_port_free(s->tcp.pre);
            s->tcp.pre = NULL;
            s->tcp.pre_len = s->tcp.pre_off = 0;
        }
    }
    return done;
}

/* Copy up to len bytes of the receive queue into iov, from byte `skip` of the
 * iovec on (iov NULL: none, the bytes are only consumed); consume them unless
 * peeking.  Returns bytes copied. */
static size_t rx_copy(struct xw_sock *s, const struct iovec *iov, int iovcnt, size_t skip,
                      size_t len, bool peek)
{
    struct pbuf *q = s->tcp.rx;
    size_t off = s->tcp.rx_off, done = 0, pre;
    int i = 0;
    size_t io = skip;

    while (iov && i < iovcnt && io >= iov[i].iov_len)
        io -= iov[i++].iov_len;
    pre = s->tcp.pre ? pre_copy(s, iov, iovcnt, &i, &io, len, peek) : 0;
    len -= pre; /* done: lwIP's bytes (the window opens by them) */
    if (pre && peek && s->tcp.pre_off + pre < s->tcp.pre_len)
        return pre;
    while (q && done < len && (!iov || i < iovcnt)) {
        size_t n = q->len - off;
        size_t room = iov ? iov[i].iov_len - io : SIZE_MAX;
        if (n > room)
            n = room;
        if (n > len - done)
            n = len - done;
        if (iov)
            memcpy((char *)iov[i].iov_base + io, (char *)q->payload + off, n);
        done += n;
        off += n;
        io += n;
        if (iov && io == iov[i].iov_len) {
            i++;
            io = 0;
        }
        if (off == q->len) {
            q = q->next;
            off = 0;
        }
    }
    if (peek)
        return done + pre;
    /* Free the fully consumed pbufs one by one (detached, so the rest survives). */
    while (s->tcp.rx != q) {
        struct pbuf *head = s->tcp.rx;
        s->tcp.rx = head->next;
        head->next = NULL;
        head->tot_len = head->len;
        pbuf_free(head);
    }
    s->tcp.rx_off = (uint32_t)off;
    s->tcp.rx_len -= (uint32_t)done;
    if (s->tcp.pcb) {
        for (size_t left = done; left;) {
            u16_t n = left > 0xffff ? 0xffff : (u16_t)left;
            tcp_recved(s->tcp.pcb, n);
            left -= n;
        }
        /* The application has read everything: a delayed ACK goes now, as
         * Linux sends it when its reader empties the queue.  lwIP's would
         * wait for its 250 ms timer, and a sender waiting for it stalls: one
         * whose switch or upgrade waits for everything it sent to be
         * acknowledged took 250-500 ms instead of 5-10 (switch_bench; only
         * reads of more than 4 KiB acknowledging at once still stalled). */
        if (done && !s->tcp.rx_len && (s->tcp.pcb->flags & TF_ACK_DELAY)) {
            tcp_ack_now(s->tcp.pcb);
            tcp_output(s->tcp.pcb);
        }
    }
    return done + pre;
}

size_t xw_tcp_rx_take(struct xw_sock *s, void *buf, size_t len, bool peek)
{
    struct iovec v = { buf, len };
    return rx_copy(s, &v, 1, 0, len, peek);
}

void xw_tcp_rx_flush(struct xw_sock *s)
{
    xway_port_free(s->tcp.pre);
    s->tcp.pre = NULL;
    s->tcp.pre_len = s->tcp.pre_off = 0;
    while (s->tcp.rx) {
        struct pbuf *head = s->tcp.rx;
        s->tcp.rx = head->next;
        head->next = NULL;
        head->tot_len = head->len;
        pbuf_free(head);
    }
    s->tcp.rx_len = s->tcp.rx_off = 0;
}

/* Wait until the receive queue has bytes for the application: 1; 0 at EOF
 * (or a dead or shut connection); 2 when an error is pending (the caller
 * reports it, or first what it has); -EAGAIN (nonblocking, the timeout, or
 * the connection switched path: path.h), -errno. */
static int rx_ready(struct xw_sock *s, bool nonblock, uint64_t deadline)
{
    int rc;

    for (;;) {
        if (xw_path_of(s) != &xw_tcp_ops) /* switched while we waited (path.h) */
            return -EAGAIN;
        if (s->tcp.rx_len && !xw_hs_reading(&s->hs))
            return 1;
        if (s->rd_eof || s->shut_rd)
            return 0;
        if (s->err)
            return 2;
        if (s->state == XW_SS_DEAD)
            return 0;
        if (nonblock)
            return -EAGAIN;
        rc = xw_sock_wait(s, deadline);
        if (rc == -ETIMEDOUT)
            return -EAGAIN;
        if (rc < 0)
            return rc;
    }
}

/* The pending error, reported once. */
static int take_err(struct xw_sock *s)
{
    int rc = s->err;

    s->err = 0;
    xw_sock_changed(s);
    return -rc;
}

static ssize_t path_recv(struct xw_sock *s, const struct iovec *iov, int iovcnt,
                           size_t want, int flags)
{
    uint64_t deadline = xw_deadline(s->rcvtimeo_us);
    bool peek = flags & XW_MSG_PEEK, nonblock = s->nonblock || (flags & XW_MSG_DONTWAIT);
    bool waitall = (flags & XW_MSG_WAITALL) && !peek && !nonblock;
    size_t got = 0;
    int rc;

    if (s->state == XW_SS_NEW || s->state == XW_SS_LISTEN)
        return -ENOTCONN;
    if (want == 0)
        return 0;
    for (;;) {
        rc = rx_ready(s, nonblock, deadline);
        if (rc == 1) {
            size_t n = rx_copy(s, iov, iovcnt, got, want - got, peek);
            got += n;
            if (!peek)
                s->tcp.rx_bytes += n;
            xw_sock_changed(s);
            if (got == want || !waitall)
                return (ssize_t)got;
            continue;
        }
        if (got)
            return (ssize_t)got;
        if (rc == 2)
            return (flags & XW_MSG_CONT) ? -s->err : take_err(s);
        return rc;
    }
}

/* Writable space as lwIP counts it: buffer bytes and segment-queue slots. */
static size_t send_space(struct tcp_pcb *pcb)
{
    if (tcp_sndqueuelen(pcb) >= TCP_SND_QUEUELEN - 8)
        return 0;
    return pcb->snd_buf; /* tcp_sndbuf() clamps to 16 bits */
}

/* The switch's resend as far as lwIP takes it now; then the FIN the
 * application asked for while the ring carried its bytes.  Lock held.  true
 * when nothing of the switch holds new bytes back any more. */
bool xw_tcp_pump(struct xw_sock *s)
{
    struct tcp_pcb *pcb = s->tcp.pcb;

    if (s->tcp.hold || !pcb)
        return false;
    while (s->tcp.resend_off < s->tcp.resend_len) {
        size_t n = s->tcp.resend_len - s->tcp.resend_off, room = send_space(pcb);
        if (n > room)
            n = room;
        if (n > 0xffff)
            n = 0xffff;
        if (!n || tcp_write(pcb, s->tcp.resend + s->tcp.resend_off, (u16_t)n,
                            TCP_WRITE_FLAG_COPY) != ERR_OK)
            break;
        s->tcp.resend_off += n;
        s->tcp.tx_bytes += n;
    }
    if (s->tcp.resend_off < s->tcp.resend_len) {
        tcp_output(pcb);
        return false;
    }
    bool resent = s->tcp.resend != NULL;
    xway_port_free(s->tcp.resend);
    s->tcp.resend = NULL;
    s->tcp.resend_len = s->tcp.resend_off = 0;
    if (s->tcp.fin_due && s->state == XW_SS_CONNECTED && s->up.state == XW_UP_NONE) {
        s->tcp.fin_due = false; /* (not inside our section: after it, upgrade.c) */
        tcp_shutdown(pcb, 0, 1);
    }
    tcp_output(pcb);
    if (resent)
        xw_upgrade_retry(s);
    return true;
}

/* New bytes must wait: the switch's resend goes first, and none go while our
 * control section for the way back to the ring is open (upgrade.c). */
static bool held(struct xw_sock *s)
{
    return ((s->tcp.hold || s->tcp.resend) && !xw_tcp_pump(s)) || s->up.state != XW_UP_NONE;
}

/* Queue as much of iov (from byte `skip`) as lwIP takes now.  Returns bytes queued. */
static size_t tx_queue(struct xw_sock *s, const struct iovec *iov, int iovcnt, size_t skip,
                       size_t len)
{
    size_t done = 0, io = skip;
    int i = 0;

    while (i < iovcnt && io >= iov[i].iov_len)
        io -= iov[i++].iov_len;
    while (done < len && i < iovcnt) {
        size_t room = send_space(s->tcp.pcb), n = iov[i].iov_len - io;
        u8_t fl = TCP_WRITE_FLAG_COPY;
        if (n > room)
            n = room;
        if (n > 0xffff)
            n = 0xffff;
        if (n > len - done)
            n = len - done;
        if (n == 0)
            break;
        if (done + n < len)
            fl |= TCP_WRITE_FLAG_MORE;
        if (tcp_write(s->tcp.pcb, (char *)iov[i].iov_base + io, (u16_t)n, fl) != ERR_OK)
            break;
        done += n;
        io += n;
        if (io == iov[i].iov_len) {
            i++;
            io = 0;
        }
    }
    return done;
}

static ssize_t path_send(struct xw_sock *s, const struct iovec *iov, int iovcnt,
                           size_t total, int flags)
{
    uint64_t deadline = xw_deadline(s->sndtimeo_us);
    bool nonblock = s->nonblock || (flags & XW_MSG_DONTWAIT);
    size_t sent = 0;
    int rc;

    for (;;) {
        if (s->err) {
            if (sent)
                break;
            if (flags & XW_MSG_CONT)
                return -s->err;
            rc = s->err;
            s->err = 0;
            xw_sock_changed(s);
            return -rc;
        }
        if (s->shut_wr || (s->state == XW_SS_DEAD && s->was_connected))
            return sent ? (ssize_t)sent : -EPIPE;
        if (s->state == XW_SS_CONNECTING && !nonblock) {
            rc = xw_sock_wait(s, deadline);
            if (rc < 0)
                return rc == -ETIMEDOUT ? -EAGAIN : rc;
            continue;
        }
        if (s->state == XW_SS_CONNECTING)
            return -EAGAIN;
        if (s->state != XW_SS_CONNECTED || !s->tcp.pcb)
            return sent ? (ssize_t)sent : -ENOTCONN;
        if (xw_path_of(s) != &xw_tcp_ops) /* switched while we waited (path.h) */
            return sent ? (ssize_t)sent : -EAGAIN;
        if (!held(s)) {
            size_t n = tx_queue(s, iov, iovcnt, sent, total - sent);
            sent += n;
            s->tcp.tx_bytes += n;
        }
        if (sent == total || (sent && nonblock))
            break;
        tcp_output(s->tcp.pcb);
        xw_sock_changed(s);
        if (nonblock)
            return sent ? (ssize_t)sent : -EAGAIN;
        rc = xw_sock_wait(s, deadline);
        if (rc == -ETIMEDOUT)
            return sent ? (ssize_t)sent : -EAGAIN;
        if (rc < 0)
            return sent ? (ssize_t)sent : rc;
    }
    if (s->tcp.pcb)
        tcp_output(s->tcp.pcb);
    xw_sock_changed(s);
    return (ssize_t)sent;
}

int xw_tcp_shutdown(struct xw_sock *s, bool rd, bool wr)
{
    err_t e;

    if (s->state != XW_SS_CONNECTED && s->state != XW_SS_DEAD &&
        s->state != XW_SS_CONNECTING)
        return -ENOTCONN;
    if (rd) {
        s->shut_rd = true;
        if (!xw_zc_busy(s, false)) /* else at its consume: the view is in it */
            xw_tcp_rx_flush(s);
    }
    if (wr && !s->shut_wr) {
        const struct xw_path_ops *ops = xw_path_of(s);
        s->shut_wr = true;
        if (ops->shutdown_wr)
            ops->shutdown_wr(s);
        if (ops != &xw_tcp_ops || s->tcp.hold || s->tcp.resend || s->up.state != XW_UP_NONE) {
            /* The ring carries our end (EOF in the ring); TCP's FIN waits, so
             * that a switch can still send what the peer did not read. */
            s->tcp.fin_due = true;
        } else if (s->tcp.pcb && s->state == XW_SS_CONNECTED) {
            e = tcp_shutdown(s->tcp.pcb, 0, 1);
            if (e != ERR_OK)
                return -err_to_errno(e);
            tcp_output(s->tcp.pcb);
        }
    }
    xw_sock_changed(s);
    return 0;
}

/* Let go of the pcb: graceful close, or reset when asked (SO_LINGER {1,0}) or when
 * lwIP cannot close it.  Callbacks are detached first so lwIP never calls back
 * into a freed socket. */
void xw_tcp_release(struct xw_sock *s, bool reset)
{
    struct tcp_pcb *pcb;

    if (s->rp_leader || s->rp_next)
        rp_leave(s);
    pcb = s->tcp.pcb;
    if (s->sat) /* (a satellite's: lwIP is its owner's) */
        return;
    hs->forget(s);
    let_go(s);
    if (!pcb)
        return;
    tcp_arg(pcb, NULL);
    if (pcb->state == LISTEN) {
        tcp_accept(pcb, NULL);
        tcp_close(pcb);
        return;
    }
    tcp_recv(pcb, NULL);
    tcp_sent(pcb, NULL);
    tcp_err(pcb, NULL);
    if (pcb->state == CLOSED) {
        tcp_close(pcb);
        return;
    }
    if (reset || tcp_close(pcb) != ERR_OK)
        tcp_abort(pcb);
    else
        xw_timewait_watch();
}

bool xw_tcp_unsent(const struct xw_sock *s)
{
    return s->tcp.pcb && (s->tcp.pcb->unsent || s->tcp.pcb->unacked);
}

static size_t tcp_space(const struct xw_sock *s)
{
    return s->tcp.pcb && s->state == XW_SS_CONNECTED ? send_space(s->tcp.pcb) : 0;
}

/* ---- zero copy (path.h): lwIP's segments in place; a buffer to send from -- */

#define ZC_TX_MAX (256u * 1024u) /* the most one reservation offers */

static ssize_t tcp_zc_view(struct xw_sock *s, struct iovec seg[2], bool nonblock)
{
    uint64_t deadline = xw_deadline(s->rcvtimeo_us);
    struct pbuf *q;
    int rc;

    if (s->state == XW_SS_NEW || s->state == XW_SS_LISTEN)
        return -ENOTCONN;
    rc = rx_ready(s, nonblock, deadline);
    if (rc != 1)
        return rc == 2 ? take_err(s) : rc;
    if (s->tcp.pre) { /* the ring's bytes first (a switch) */
        seg[0] = (struct iovec){ s->tcp.pre + s->tcp.pre_off, s->tcp.pre_len - s->tcp.pre_off };
        seg[1] = (struct iovec){ NULL, 0 };
        return (ssize_t)seg[0].iov_len;
    }
    q = s->tcp.rx;
    seg[0] = (struct iovec){ (char *)q->payload + s->tcp.rx_off, q->len - s->tcp.rx_off };
    seg[1] = (struct iovec){ NULL, 0 };
    if (q->next)
        seg[1] = (struct iovec){ q->next->payload, q->next->len };
    if (seg[0].iov_len + seg[1].iov_len > s->tcp.rx_len) /* (never: rx_len counts them) */
        seg[1].iov_len = s->tcp.rx_len - seg[0].iov_len;
    return (ssize_t)(seg[0].iov_len + seg[1].iov_len);
}

static void tcp_zc_consume(struct xw_sock *s, size_t n)
{
    s->tcp.rx_bytes += rx_copy(s, NULL, 0, 0, n, false);
    if (s->shut_rd) /* shut while the view was open (xw_tcp_shutdown) */
        xw_tcp_rx_flush(s);
    xw_sock_changed(s);
}

/* Room: a buffer of the socket's (the commit copies it into TCP segments, as
 * send copies the caller's), offered once TCP has room (waiting for it as
 * send would) and no larger than that room: a commit of it then goes at once,
 * unless another thread sent meanwhile. */
static ssize_t tcp_zc_reserve(struct xw_sock *s, size_t want, struct iovec seg[2], bool nonblock)
{
    uint64_t deadline = xw_deadline(s->sndtimeo_us);
    size_t n = want < ZC_TX_MAX ? want : ZC_TX_MAX, room;
    int rc;

    for (;;) {
        if (s->err)
            return take_err(s);
        if (s->shut_wr || (s->state == XW_SS_DEAD && s->was_connected))
            return -EPIPE;
        if (s->state == XW_SS_CONNECTING && nonblock)
            return -EAGAIN;
        if (s->state != XW_SS_CONNECTING && (s->state != XW_SS_CONNECTED || !s->tcp.pcb))
            return -ENOTCONN;
        if (xw_path_of(s) != &xw_tcp_ops) /* switched while we waited (path.h) */
            return -EAGAIN;
        if (s->state == XW_SS_CONNECTED && !held(s) && (room = send_space(s->tcp.pcb)) > 0)
            break;
        if (nonblock)
            return -EAGAIN;
        rc = xw_sock_wait(s, deadline);
        if (rc < 0)
            return rc == -ETIMEDOUT ? -EAGAIN : rc;
    }
    if (n > room)
        n = room;
    if (s->tcp.zc_cap < n) {
        void *b = xway_port_malloc(n); /* (a new reservation: nothing to keep) */
        if (!b)
            return -ENOMEM;
        xway_port_free(s->tcp.zc_buf);
        s->tcp.zc_buf = b;
        s->tcp.zc_cap = n;
    }
    seg[0] = (struct iovec){ s->tcp.zc_buf, n };
    seg[1] = (struct iovec){ NULL, 0 };
    return (ssize_t)n;
}

static ssize_t tcp_zc_commit(struct xw_sock *s, size_t n, int flags)
{
    struct iovec v = { s->tcp.zc_buf, n };

    return n ? path_send(s, &v, 1, n, flags) : 0;
}

static void tcp_release(struct xw_sock *s)
{
    xw_tcp_rx_flush(s);
    xway_port_free(s->tcp.resend);
    s->tcp.resend = NULL;
    s->tcp.resend_len = s->tcp.resend_off = 0;
    xway_port_free(s->tcp.zc_buf);
    s->tcp.zc_buf = NULL;
    s->tcp.zc_cap = 0;
}

/* ---- the path's ops ---------------------------------------------------------- */

static bool readable(const struct xw_sock *s)
{
    if (s->state == XW_SS_LISTEN)
        return s->aq_len > 0;
    if (s->state == XW_SS_CONNECTING || xw_hs_reading(&s->hs))
        return s->err != 0;
    return s->tcp.rx_len > 0 || s->rd_eof || s->shut_rd || s->err || s->state == XW_SS_DEAD;
}

static bool writable(const struct xw_sock *s)
{
    if (s->err || s->state == XW_SS_DEAD || s->shut_wr)
        return s->was_connected || s->err;
    if (s->state != XW_SS_CONNECTED || s->tcp.hold || s->tcp.resend ||
        s->up.state != XW_UP_NONE)
        return false;
    return tcp_space(s) >= TCP_SND_BUF / 4;
}

/* The readiness fd follows the socket's state exactly, so settling is free. */
static void tcp_readiness(struct xw_sock *s, bool settle, bool *rd, bool *wr)
{
    *rd = readable(s);
    *wr = writable(s);
}

static void tcp_changed(struct xw_sock *s)
{
    /* A connection not accepted yet: no one has its fd (the accept shows it).
     * A blocking connect: its caller is inside it (its end shows the outcome). */
    if (s->doomed || s->queued || s->connect_quiet)
        return;
    xw_sock_ready_begin(s);
    /* Every arrival is an edge (edge-triggered pollers), as on a kernel socket. */
    if (s->tcp.arrived && s->polled && readable(s))
        xw_sock_ready_pulse(s);
    s->tcp.arrived = false;
    xw_sock_ready_set(s, readable(s), writable(s));
    if (s->state != XW_SS_LISTEN && s->was_connected)
        xw_sock_ready_ends(s, s->rd_eof || s->state == XW_SS_DEAD,
                           s->state == XW_SS_DEAD || (s->rd_eof && s->shut_wr),
                           s->state == XW_SS_DEAD && s->err);
    xw_sock_ready_end(s);
}

/* Its sleepers wait on the socket's condition variable (the socket layer's). */
static void tcp_wake(struct xw_sock *s)
{
}

static void tcp_info(const struct xw_sock *s, struct xway_conn_info *ci)
{
    /* A connection that left the ring: why it did. */
    int r = s->sw.count ? s->sw.reason : s->hs.reason;
    const char *name = xw_reason_name(r);
    size_t n = strlen(name) + 1;

    memcpy(ci->path, "tcp", sizeof("tcp"));
    memcpy(ci->fallback, name, n < sizeof(ci->fallback) ? n : sizeof(ci->fallback));
    ci->fallback[sizeof(ci->fallback) - 1] = '\0';
    ci->fallback_code = r;
}

const struct xw_path_ops xw_tcp_ops = {
    .name = "tcp",
    .unlocked_io = false,
    .linger = true,
    .send = path_send,
    .recv = path_recv,
    .readiness = tcp_readiness,
    .changed = tcp_changed,
    .wake = tcp_wake,
    .zc_view = tcp_zc_view,
    .zc_consume = tcp_zc_consume,
    .zc_reserve = tcp_zc_reserve,
    .zc_commit = tcp_zc_commit,
    .release = tcp_release,
    .info = tcp_info,
};

static struct {
    struct tcp_pcb *active, *tw, *bound;
    struct tcp_pcb_listen *listen;
} parents_pcbs;

void xw_tcp_forget_pcbs(void)
{
    parents_pcbs.active = tcp_active_pcbs;
    parents_pcbs.tw = tcp_tw_pcbs;
    parents_pcbs.bound = tcp_bound_pcbs;
    parents_pcbs.listen = tcp_listen_pcbs.listen_pcbs;
    tcp_active_pcbs = tcp_tw_pcbs = tcp_bound_pcbs = NULL;
    tcp_listen_pcbs.listen_pcbs = NULL;
    tcp_active_pcbs_changed = 1;
}

bool xw_tcp_output_pending(void)
{
    for (struct tcp_pcb *p = tcp_active_pcbs; p; p = p->next)
        if (p->unsent || p->unacked)
            return true;
    return false;
}

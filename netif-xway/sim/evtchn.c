/* The sim backend's event channels (xenevtchn_*).
 *
 * A port entry of dom<ID>.evt is one 64-bit word (state | remote domid |
 * remote port) so a bind is one compare-and-swap on the peer's entry.  Notify
 * sets the peer's pending bit; only if it was clear, sets the peer's upcall
 * flag; only if that was clear, sends one datagram to the peer's socket (the
 * handle's pollable fd).  So a notify while pending costs no syscall.
 *
 * Masks are Xen's: a port that evtchn_pending returned stays masked until
 * evtchn_unmask, and its pending bit is left set while it is, so the peer's
 * notifies meanwhile stop at that bit and cost us nothing (the dispatcher
 * keeps a storming port masked: stack/path/ring_events.c).  Unmasking a port
 * that became pending raises it again.  The mask is private to the handle.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sim.h"

enum port_state { PORT_FREE = 0, PORT_UNBOUND = 1, PORT_INTER = 2 };

static uint64_t pack(uint32_t st, uint32_t dom, uint32_t port)
{
    return (uint64_t)st << 56 | (uint64_t)(dom & 0xffff) << 32 | port;
}
static uint32_t p_state(uint64_t v) { return (uint32_t)(v >> 56); }
static uint32_t p_dom(uint64_t v) { return (uint32_t)(v >> 32) & 0xffff; }
static uint32_t p_port(uint64_t v) { return (uint32_t)v; }

static void sock_name(struct xw_sim *s, uint32_t id, struct sockaddr_un *sa, socklen_t *len)
{
    int n;

    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    /* Abstract name: vanishes with the process, so a dead peer refuses. */
    n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "xway-sim-%s-%u",
                 s->pub.host_token, id);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static int open_sock(struct xw_sim *s)
{
    struct sockaddr_un sa;
    socklen_t len;
    int sz = 1 << 16;

    s->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->sock < 0)
        return -errno;
    setsockopt(s->sock, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    sock_name(s, s->pub.domid, &sa, &len);
    if (bind(s->sock, (struct sockaddr *)&sa, len) < 0)
        return errno == EADDRINUSE ? -EADDRINUSE : -errno;
    return 0;
}

int xw_sim_evtchn_open(struct xw_sim *s)
{
    int fd = -1, err;

    s->evt = xw_sim_map_state(s, "evt", s->pub.domid, EVT_BYTES, true, true, &fd);
    if (!s->evt)
        return -ENOMEM;
    /* Peers touch it too, also after our death (see xw_sim_evtchn_reclaim). */
    err = xw_sim_reserve(fd, 0, EVT_BYTES);
    close(fd);
    if (err)
        return err;
    s->evt->magic = EVT_MAGIC;
    return open_sock(s);
}

/* Our ports are freed before the page is unmapped: a peer that notifies or
 * probes one of them finds it closed. */
void xw_sim_evtchn_close(struct xw_sim *s)
{
    uint32_t i;

    for (i = 0; s->peers && i <= XW_SIM_MAX_DOMID; i++)
        if (s->peers[i].evt)
            munmap(s->peers[i].evt, EVT_BYTES);
    if (s->evt) {
        if (!s->retired)
            memset((void *)s->evt->port, 0, sizeof(s->evt->port));
        munmap(s->evt, EVT_BYTES);
    }
    if (s->sock >= 0)
        close(s->sock);
}

/* Zeroed and allocated again: peers that still have the dead domain's page
 * mapped read it when they notify or probe (its ports are free now). */
void xw_sim_evtchn_reclaim(struct xw_sim *s, uint32_t id)
{
    xw_sim_zero_state(s, "evt", id, EVT_BYTES, true);
}

/* Our own page, or a peer's mapped on first use; NULL if it has none. */
static struct evt_page *evt_of(struct xw_sim *s, uint32_t domid)
{
    if (domid == s->pub.domid)
        return s->evt;
    if (domid < 1 || domid > XW_SIM_MAX_DOMID)
        return NULL;
    return xw_sim_peer_state(s, &s->peers[domid].evt, "evt", domid, EVT_BYTES, true);
}

static int alloc_port(struct xw_sim *s, uint64_t val)
{
    uint32_t i, p;
    uint64_t free_v = 0;

    xw_sim_lock(&s->mu);
    for (i = 0; i < XW_SIM_MAX_PORTS; i++) {
        p = (s->port_hint + i) % XW_SIM_MAX_PORTS;
        if (p == 0)
            continue;
        free_v = 0;
        if (atomic_compare_exchange_strong(&s->evt->port[p], &free_v, val)) {
            s->port_hint = p + 1;
            xw_sim_unlock(&s->mu);
            return (int)p;
        }
    }
    xw_sim_unlock(&s->mu);
    return -ENOSPC;
}

int xw_sim_evtchn_fd(struct xw_xenif *x) { return xw_sim_of(x)->sock; }

int xw_sim_evtchn_alloc_unbound(struct xw_xenif *x, uint32_t domid)
{
    if (domid > XW_SIM_MAX_DOMID)
        return -EINVAL;
    return alloc_port(xw_sim_of(x), pack(PORT_UNBOUND, domid, 0));
}

int xw_sim_evtchn_bind(struct xw_xenif *x, uint32_t domid, uint32_t rport)
{
    struct xw_sim *s = xw_sim_of(x);
    struct evt_page *pe;
    uint64_t want;
    int l;

    if (rport == 0 || rport >= XW_SIM_MAX_PORTS)
        return -EINVAL;
    if (xw_sim_alive(s, domid) != 1)
        return -ESRCH;
    pe = evt_of(s, domid);
    if (!pe)
        return -ESRCH;
    l = alloc_port(s, pack(PORT_INTER, domid, rport));
    if (l < 0)
        return l;
    want = pack(PORT_UNBOUND, s->pub.domid, 0);
    if (!atomic_compare_exchange_strong(&pe->port[rport], &want,
                                        pack(PORT_INTER, s->pub.domid, (uint32_t)l))) {
        atomic_store(&s->evt->port[l], 0);
        return -EINVAL; /* not unbound, or not offered to us */
    }
    return l;
}

/* One unbound datagram socket per process, made on first use, to send wake
 * datagrams from a process that has no socket of its domain's. */
static int spare_sock(void)
{
    static _Atomic int spare = -1;
    int fd = atomic_load(&spare), mine, none = -1;

    if (fd >= 0)
        return fd;
    mine = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (mine < 0 || atomic_compare_exchange_strong(&spare, &none, mine))
        return mine;
    close(mine);
    return none;
}

/* Set port rp of domain rd (page pe) pending; wake rd only if the bit was
 * clear and no wake is on its way.  0, or -ESRCH when rd has no socket. */
static int raise_port(struct xw_sim *s, struct evt_page *pe, uint32_t rd, uint32_t rp)
{
    struct sockaddr_un sa;
    uint64_t bit = 1ull << (rp % 64);
    socklen_t len;
    char c = 0;
    int fd = s->sock, err = 0;

    /* Already pending: coalesced, no syscall.  Looked at before the atomic
     * update, so that a peer notifying a masked port in a loop only reads the
     * line (the fence: what we published before is visible before the look,
     * as the update would have made it). */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&pe->pending[rp / 64], memory_order_relaxed) & bit)
        return 0;
    if (atomic_fetch_or(&pe->pending[rp / 64], bit) & bit)
        return 0;
    if (atomic_exchange(&pe->upcall, 1))
        return 0; /* a wake is already on its way */
    if (fd < 0) /* not the domain's process (a forked child), or a reclaim
                   while we open: any unbound socket sends */
        fd = spare_sock();
    sock_name(s, rd, &sa, &len);
    if (sendto(fd, &c, 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0) {
        if (errno == ECONNREFUSED || errno == ENOENT)
            err = -ESRCH;
        else if (errno != EAGAIN) /* a full queue already wakes the peer */
            err = -errno;
    }
    return err;
}

void xw_sim_evtchn_send_for(struct xw_sim *s, uint32_t dom, uint32_t port)
{
    struct evt_page *de = evt_of(s, dom), *pe;
    uint64_t v;

    if (!de || port == 0 || port >= XW_SIM_MAX_PORTS)
        return;
    v = atomic_load(&de->port[port]);
    if (p_state(v) != PORT_INTER || p_port(v) == 0 || p_port(v) >= XW_SIM_MAX_PORTS)
        return;
    pe = evt_of(s, p_dom(v));
    if (pe && atomic_load(&pe->port[p_port(v)]) == pack(PORT_INTER, dom, port))
        raise_port(s, pe, p_dom(v), p_port(v));
}

int xw_sim_evtchn_notify(struct xw_xenif *x, uint32_t port)
{
    struct xw_sim *s = xw_sim_of(x);
    struct evt_page *pe;
    uint64_t me;
    uint32_t rd, rp;
    int err;

    if (port == 0 || port >= XW_SIM_MAX_PORTS)
        return -EINVAL;
    me = atomic_load_explicit(&s->evt->port[port], memory_order_relaxed);
    if (p_state(me) == PORT_UNBOUND)
        return 0; /* as Xen: nobody to signal yet */
    if (p_state(me) != PORT_INTER)
        return -EINVAL;
    rd = p_dom(me);
    rp = p_port(me);
    pe = evt_of(s, rd);
    if (!pe || rp >= XW_SIM_MAX_PORTS)
        return -ESRCH;
    if (atomic_load_explicit(&pe->port[rp], memory_order_relaxed) !=
        pack(PORT_INTER, s->pub.domid, port))
        return 0; /* the remote closed its end: dropped, as in Xen */
    err = raise_port(s, pe, rd, rp);
    if (err == -ESRCH && s->domain_liveness)
        return 0; /* Xen: dropped, not an error */
    return err;
}

/* Collect every pending port that is not masked into q, masking it.  Order
 * matters: read the socket, then clear upcall, then take the pending bits — a
 * notifier that races with us either finds upcall clear and sends a new
 * datagram, or set its bit before we take the bits. */
static void refill(struct xw_sim *s)
{
    char buf[64];
    unsigned w;
    uint64_t bits, m;

    /* One datagram is on its way per raised upcall (raise_port): one read
     * takes it, the first of a round of calls (until one finds nothing:
     * another read then would find none but the one a notifier raised since,
     * and that wakes the next round).  (One sent late, after a read that
     * found none, is read by the wake-up it makes.) */
    if (!s->round) {
        (void)!recv(s->sock, buf, sizeof(buf), MSG_DONTWAIT);
        atomic_store(&s->evt->upcall, 0);
        s->round = true;
    }
    for (w = 0; w < EVT_PWORDS; w++) {
        m = atomic_load_explicit(&s->masked[w], memory_order_relaxed);
        if (!(atomic_load_explicit(&s->evt->pending[w], memory_order_relaxed) & ~m))
            continue;
        bits = atomic_fetch_and(&s->evt->pending[w], m) & ~m;
        atomic_fetch_or(&s->masked[w], bits);
        while (bits && s->qlen < XW_SIM_MAX_PORTS) {
            unsigned b = (unsigned)__builtin_ctzll(bits);

            bits &= bits - 1;
            s->q[(s->qhead + s->qlen++) % XW_SIM_MAX_PORTS] = (uint16_t)(w * 64 + b);
        }
    }
}

/* Make our own fd readable (as a notifier does): a masked port went pending. */
static void raise_upcall(struct xw_sim *s)
{
    struct sockaddr_un sa;
    socklen_t len;
    char c = 0;

    if (atomic_exchange(&s->evt->upcall, 1))
        return;
    sock_name(s, s->pub.domid, &sa, &len);
    (void)sendto(s->sock, &c, 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
}

int xw_sim_evtchn_pending(struct xw_xenif *x)
{
    struct xw_sim *s = xw_sim_of(x);
    int p;

    if (!s->qlen)
        refill(s);
    if (!s->qlen) {
        s->round = false;
        return -EAGAIN;
    }
    p = s->q[s->qhead];
    s->qhead = (s->qhead + 1) % XW_SIM_MAX_PORTS;
    s->qlen--;
    return p;
}

int xw_sim_evtchn_unmask(struct xw_xenif *x, uint32_t port)
{
    struct xw_sim *s = xw_sim_of(x);
    uint64_t bit = 1ull << (port % 64);

    if (port >= XW_SIM_MAX_PORTS)
        return -EINVAL;
    if ((atomic_fetch_and(&s->masked[port / 64], ~bit) & bit) &&
        (atomic_load(&s->evt->pending[port / 64]) & bit))
        raise_upcall(s);
    return 0;
}

int xw_sim_evtchn_unbind(struct xw_xenif *x, uint32_t port)
{
    struct xw_sim *s = xw_sim_of(x);

    if (port == 0 || port >= XW_SIM_MAX_PORTS || !atomic_load(&s->evt->port[port]))
        return -EINVAL;
    atomic_store(&s->evt->port[port], 0);
    atomic_fetch_and(&s->evt->pending[port / 64], ~(1ull << (port % 64)));
    atomic_fetch_and(&s->masked[port / 64], ~(1ull << (port % 64)));
    return 0;
}

int xw_sim_evtchn_peer_alive(struct xw_xenif *x, uint32_t port)
{
    struct xw_sim *s = xw_sim_of(x);
    struct evt_page *pe;
    uint64_t me;
    int alive;

    if (port == 0 || port >= XW_SIM_MAX_PORTS)
        return -EINVAL;
    me = atomic_load(&s->evt->port[port]);
    if (p_state(me) == PORT_FREE)
        return -EINVAL;
    alive = xw_sim_alive(s, p_dom(me));
    if (alive == 0 && p_state(me) == PORT_INTER) /* what its kernel would do */
        xw_sim_ntf_run(s, p_dom(me), p_port(me));
    if (s->domain_liveness == XW_SIM_LIVE_GUEST)
        return -EACCES; /* as xen_peer_alive in a guest */
    if (s->domain_liveness)
        return 1; /* as xen_peer_alive: the peer's domain lives on */
    if (alive != 1 || p_state(me) == PORT_UNBOUND)
        return alive;
    pe = evt_of(s, p_dom(me));
    if (!pe || p_port(me) >= XW_SIM_MAX_PORTS)
        return 0;
    return atomic_load(&pe->port[p_port(me)]) == pack(PORT_INTER, s->pub.domid, port);
}

/* Parked channels (ring_park.h).
 *
 * Setting up a ring costs both processes work a TCP connection does not: the
 * connector shares pages and allocates a port, the acceptor maps them and
 * binds, and both undo it all at the close.  Between the same two processes
 * (a client that reconnects, a server's clients) the next connection can have
 * the last one's channel instead: each side parks it at a clean close, the
 * connector offers it again (zeroed rings, a new nonce and key, the OFFER
 * flagged XW_CTRL_F_PARKED), the acceptor finds it by what the offer names and
 * checks the key through its mapping.  An acceptor without it (closed since,
 * another process at that address) answers DECLINE with XW_CTRL_RING_UNKNOWN
 * and the connector offers a new ring on the same connection.
 *
 * Bounded: at most PARK_MAX per side, and where the backend limits the grants
 * (Xen's gntalloc: the domain's, 1024 pages by default, so other processes
 * share it) our parked channels hold at most a quarter of them; one parked
 * longer than the side's idle time is closed (the acceptor keeps its own
 * twice as long, so that a connector's offer rarely names one the acceptor
 * just closed); a share or
 * map that fails for want of grants, ports or the per-domain cap closes them
 * first (negotiate.c).  A channel the acceptor's or connector's process left
 * is seen by its live byte and closed when met.  Lock held throughout: the
 * lists are the stack's, and the expiry runs on its timer. */
#include "ring_park.h"

#include <errno.h>
#include <string.h>

#include "budget.h"
#include "lwip/timeouts.h"
#include "xway_port.h"

#define PARK_MAX 16           /* per side */
#define PARK_IDLE_MS 2000     /* a connector's parked channel; the acceptor's: 2x */
#define PARK_SWEEP_MS 500
#define PROPOSE_HOLD_MS 3000  /* a proposal's TAKE may still come (the handshake's
                                 2 s and then some): neither proposed again nor
                                 expired meanwhile */

struct parked {
    struct xw_channel *ch;
    uint64_t since_ms;
    uint64_t proposed_ms; /* acceptor: when a SYN-ACK proposed it (0: not) */
    ip_addr_t ip; /* creator: the listener's address; acceptor: the connector's */
    uint16_t port;
};

static struct {
    struct parked *side[2]; /* [1]: ours (creator), [0]: mapped; PARK_MAX each,
                               allocated at the first park */
    unsigned n[2];
    bool armed;
    /* A forked child's copy of the parent's, kept reachable for leak checkers. */
    struct parked *forgotten[2];
} pk;

static uint64_t now_ms(void)
{
    return xway_port_now_us() / 1000u;
}

static void take_out(int side, unsigned i)
{
    pk.side[side][i] = pk.side[side][--pk.n[side]];
}

/* Grant pages a channel of ours holds (its interface page and data pages). */
static uint64_t pages_of(struct xw_channel *ch)
{
    return 1u + 2u * (uint64_t)xw_channel_ring_bytes(ch) / XW_PAGE_SIZE;
}

static void drop(int side, unsigned i)
{
    struct xw_channel *ch = pk.side[side][i].ch;

    take_out(side, i);
    xw_channel_close_quiet(ch); /* (its end was marked at the park) */
}

static bool held(const struct parked *p, uint64_t now)
{
    return p->proposed_ms && now - p->proposed_ms < PROPOSE_HOLD_MS;
}

/* The side's longest parked channel not held for a TAKE; n[side] if none. */
static unsigned oldest(int side)
{
    uint64_t now = now_ms();
    unsigned old = pk.n[side];

    for (unsigned i = 0; i < pk.n[side]; i++)
        if (!held(&pk.side[side][i], now) &&
            (old == pk.n[side] || pk.side[side][i].since_ms < pk.side[side][old].since_ms))
            old = i;
    return old;
}

static void sweep(void *arg)
{
    uint64_t now = now_ms();

    (void)arg;
    pk.armed = false;
    for (int side = 0; side < 2; side++) {
        uint64_t idle = side ? PARK_IDLE_MS : 2 * PARK_IDLE_MS;
        for (unsigned i = 0; i < pk.n[side];) {
            if (now - pk.side[side][i].since_ms >= idle && !held(&pk.side[side][i], now))
                drop(side, i);
            else
                i++;
        }
    }
    if (pk.n[0] || pk.n[1]) {
        pk.armed = true;
        sys_timeout(PARK_SWEEP_MS, sweep, NULL);
    }
}

bool xw_park_keep(struct xw_channel *ch, const ip_addr_t *ip, uint16_t port)
{
    int side = xw_channel_is_creator(ch) ? 1 : 0;
    struct parked *p;

    if (!xw_channel_parkable(ch) || (side && (!ip || !port)))
        return false;
    if (!pk.side[side] && !(pk.side[side] = xway_port_calloc(PARK_MAX, sizeof(struct parked))))
        return false;
    if (side) {
        uint64_t limit = xw_budget_share_limit() / 4, held = pages_of(ch);
        for (unsigned i = 0; i < pk.n[1]; i++)
            held += pages_of(pk.side[1][i].ch);
        while (limit && held > limit && pk.n[1]) {
            held -= pages_of(pk.side[1][oldest(1)].ch);
            drop(1, oldest(1));
        }
        if (limit && held > limit)
            return false;
    }
    if (pk.n[side] == PARK_MAX) {
        if (oldest(side) == PARK_MAX) /* (all held for a TAKE) */
            return false;
        drop(side, oldest(side));
    }
    xw_channel_park(ch);
    p = &pk.side[side][pk.n[side]++];
    memset(p, 0, sizeof(*p));
    p->ch = ch;
    p->since_ms = now_ms();
    if (ip)
        ip_addr_copy(p->ip, *ip);
    p->port = side ? port : 0;
    if (!pk.armed) {
        pk.armed = true;
        sys_timeout(PARK_SWEEP_MS, sweep, NULL);
    }
    return true;
}

/* Creator: p is a parked channel for the listener at ip/port in domain domid,
 * of ring_bytes. */
static bool for_listener(const struct parked *p, uint32_t domid, const ip_addr_t *ip,
                         uint16_t port, uint32_t ring_bytes)
{
    return xw_channel_peer_domid(p->ch) == domid && p->port == port &&
           ip_addr_cmp(&p->ip, ip) && xw_channel_ring_bytes(p->ch) == ring_bytes;
}

int xw_park_offer(uint32_t domid, const ip_addr_t *ip, uint16_t port, uint32_t ring_bytes,
                  struct xw_channel **out, struct xw_chan_offer *offer)
{
    struct parked *a = pk.side[1];

    for (unsigned i = 0; i < pk.n[1];) {
        int rc;
        if (!for_listener(&a[i], domid, ip, port, ring_bytes)) {
            i++;
            continue;
        }
        rc = xw_channel_reoffer(a[i].ch, offer);
        if (rc == -EAGAIN) { /* its acceptor is still closing: another, or later */
            i++;
            continue;
        }
        if (rc < 0) {
            drop(1, i);
            continue;
        }
        *out = a[i].ch;
        take_out(1, i);
        return 0;
    }
    return -ENOENT;
}

int xw_park_accept(const struct xw_chan_offer *offer, struct xw_channel **out,
                   uint64_t *nonce)
{
    struct parked *a = pk.side[0];

    for (unsigned i = 0; i < pk.n[0];) {
        int rc = xw_channel_reaccept(a[i].ch, offer, nonce);
        if (rc == 0) {
            *out = a[i].ch;
            take_out(0, i);
            return 0;
        }
        /* Another channel; or a key that is not the page's: not its
         * creator's offer (a forged one, naming it, must not cost its creator
         * the channel).  Anything else: a creator gone, or one whose numbers
         * are another's now. */
        if (rc == -EINVAL || rc == -EKEYREJECTED)
            i++;
        else
            drop(0, i);
    }
    return -ENOENT;
}

int xw_park_take(uint32_t domid, const ip_addr_t *ip, uint16_t port, uint32_t ring_bytes,
                 uint64_t key, struct xw_channel **out)
{
    struct parked *a = pk.side[1];

    for (unsigned i = 0; i < pk.n[1]; i++) {
        int rc;
        if (xw_channel_key(a[i].ch) != key || !for_listener(&a[i], domid, ip, port, ring_bytes))
            continue;
        rc = xw_channel_retake(a[i].ch, key);
        if (rc == -EAGAIN) /* its acceptor is still closing */
            return rc;
        if (rc < 0) {
            drop(1, i);
            return rc;
        }
        *out = a[i].ch;
        take_out(1, i);
        return 0;
    }
    return -ENOENT;
}

int xw_park_propose(uint32_t domid, const ip_addr_t *ip, uint64_t *key)
{
    struct parked *a = pk.side[0];
    uint64_t now = now_ms();

    for (unsigned i = 0; i < pk.n[0];) {
        int closed;
        if (xw_channel_peer_domid(a[i].ch) != domid || !ip_addr_cmp(&a[i].ip, ip) ||
            held(&a[i], now)) {
            i++;
            continue;
        }
        closed = xw_channel_peer_closed(a[i].ch);
        if (closed < 0) { /* its creator is gone (another process at its address now) */
            drop(0, i);
            continue;
        }
        if (closed) {
            a[i].proposed_ms = now ? now : 1;
            *key = xw_channel_key(a[i].ch);
            return 0;
        }
        i++;
    }
    return -ENOENT;
}

int xw_park_retaken(uint64_t proposed, uint64_t key, struct xw_channel **out)
{
    struct parked *a = pk.side[0];

    for (unsigned i = 0; i < pk.n[0]; i++) {
        int rc;
        if (!a[i].proposed_ms || xw_channel_key(a[i].ch) != proposed)
            continue;
        a[i].proposed_ms = 0;
        rc = xw_channel_retaken(a[i].ch, key);
        if (rc == 0) {
            *out = a[i].ch;
            take_out(0, i);
        } else if (rc != -EKEYREJECTED) /* (a forged TAKE costs its creator nothing) */
            drop(0, i);
        return rc;
    }
    return -ENOENT;
}

int xw_park_evict(bool creators, long domid)
{
    int side = creators ? 1 : 0, n = 0;

    for (unsigned i = 0; i < pk.n[side];) {
        struct xw_channel *ch = pk.side[side][i].ch;
        /* (one held for a TAKE: its connector may be on it already) */
        if ((!creators && domid >= 0 && xw_channel_peer_domid(ch) != (uint32_t)domid) ||
            (domid >= 0 && held(&pk.side[side][i], now_ms()))) {
            i++;
            continue;
        }
        drop(side, i);
        n++;
    }
    return n;
}

void xw_park_flush(void)
{
    xw_park_evict(true, -1);
    xw_park_evict(false, -1);
    if (pk.armed)
        sys_untimeout(sweep, NULL);
    pk.armed = false;
    for (int side = 0; side < 2; side++) {
        xway_port_free(pk.side[side]);
        pk.side[side] = NULL;
    }
}

void xw_park_forget(void)
{
    for (int side = 0; side < 2; side++) {
        if (pk.side[side])
            pk.forgotten[side] = pk.side[side];
        pk.side[side] = NULL;
        pk.n[side] = 0;
    }
    pk.armed = false; /* (the timer list is the parent's copy too) */
}

/* Heartbeats of the ring connections.
 *
 * A peer's death is told by its unmap notification (its process), and by the
 * backend's domain check at each blocking slice (ring_path.c) where a domain
 * can see another's death: dom0, the sim.  A guest cannot: it may not read
 * another guest's xenstore nodes, a destroyed domain's kernel sends no unmap
 * notification, and an event channel whose far end is gone just drops our
 * notifies.  So each process bumps a counter in every ring it produces, every
 * XW_CHAN_BEAT_MS, from the stack thread's timer; the same timer resets a
 * connection whose peer is in such a domain and has not beaten for
 * XW_CHAN_DEAD_MS (channel.h) — its domain was destroyed, paused, or its
 * process stopped — and wakes its waiters, whatever they wait in.  The timer
 * runs only while the process has ring connections.
 *
 * Lock held throughout: the list, and each channel's beat state, are the
 * stack thread's (through this timer) and its callers'. */
#include "ring_beat.h"

#include <string.h>

#include "channel.h"
#include "log.h"
#include "lwip/timeouts.h"
#include "ring_path.h"
#include "ring_routes.h"
#include "socket.h"
#include "switch.h"
#include "xway_port.h"

/* Whether a peer domain's life can be seen from here is our privilege, not
 * the peer's state: asked once per peer domain (on Xen a xenstore read), not
 * per connection.  Direct-mapped by domain id, per backend handle. */
#define SEEN_SLOTS 64

static struct {
    struct xw_sock *head;
    bool armed;
    const struct xw_xenif *x; /* the handle the slots are about */
    struct {
        uint32_t domid_1; /* domain id + 1; 0: empty */
        bool watch;
    } seen[SEEN_SLOTS];
} bt;

/* Watched where nothing else can tell the peer's domain is gone (the domain
 * check answers neither "alive" nor "gone"). */
static bool watch_peer(struct xw_xenif *x, uint32_t peer)
{
    unsigned i = peer % SEEN_SLOTS;

    if (!x || peer == x->domid)
        return false;
    if (bt.x != x) {
        memset(bt.seen, 0, sizeof(bt.seen));
        bt.x = x;
    }
    if (bt.seen[i].domid_1 != peer + 1) {
        bt.seen[i].domid_1 = peer + 1;
        bt.seen[i].watch = xw_domain_alive(x, peer) < 0;
    }
    return bt.seen[i].watch;
}

static void tick(void *arg)
{
    uint64_t now_ms = xway_port_now_us() / 1000u;

    (void)arg;
    bt.armed = false;
    for (struct xw_sock *s = bt.head, *next; s; s = next) {
        next = s->ring.beat_next; /* (a switch takes s off the list) */
        if (!s->ring.ch)
            continue;
        xw_channel_beat(s->ring.ch);
        if (s->ring.watch_beat && !xw_channel_error(s->ring.ch) &&
            xw_channel_peer_stalled(s->ring.ch, now_ms, XW_CHAN_DEAD_MS)) {
            xw_info("fd %d: ring peer (domain %u) silent for %u ms: gone", s->fd,
                    xw_channel_peer_domid(s->ring.ch), XW_CHAN_DEAD_MS);
            xw_switch_leave(s, XW_REASON_PEER_MOVED, false); /* dead, or moved */
        }
    }
    if (bt.head) {
        sys_timeout(XW_CHAN_BEAT_MS, tick, NULL);
        bt.armed = true;
    }
}

void xw_rbeat_add(struct xw_sock *s)
{
    uint32_t peer = xw_channel_peer_domid(s->ring.ch);

    s->ring.watch_beat = watch_peer(xw_rev_xenif(), peer);
    xw_debug("fd %d: ring peer in domain %u; its heartbeats %s", s->fd, peer,
             s->ring.watch_beat ? "tell its death" : "are not watched");
    s->ring.beat_prev = NULL;
    s->ring.beat_next = bt.head;
    if (bt.head)
        bt.head->ring.beat_prev = s;
    bt.head = s;
    xw_channel_beat(s->ring.ch); /* the peer sees us from the start */
    if (!bt.armed) {
        sys_timeout(XW_CHAN_BEAT_MS, tick, NULL);
        bt.armed = true;
    }
}

void xw_rbeat_remove(struct xw_sock *s)
{
    if (s->ring.beat_prev)
        s->ring.beat_prev->ring.beat_next = s->ring.beat_next;
    else if (bt.head == s)
        bt.head = s->ring.beat_next;
    else
        return; /* not on the list */
    if (s->ring.beat_next)
        s->ring.beat_next->ring.beat_prev = s->ring.beat_prev;
    s->ring.beat_next = s->ring.beat_prev = NULL;
}

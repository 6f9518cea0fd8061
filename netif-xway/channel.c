/* The ring channel: setup (share/map/bind), copy transfer and in-place peek
 * with notification suppression, adaptive spin-then-block waits, teardown.
 *
 * Hostile peer: the interface header is read once into locals and validated
 * at accept; geometry lives in our private struct xw_ring copies; the ref list
 * is copied before use; shared indices go through ring.c's validation.  Any
 * violation resets the channel (-EPROTO for us, ECONNRESET for the peer).
 *
 * Peer liveness: each side's live byte in the interface page is registered
 * for an unmap notification on the channel's port, so the peer's kernel (or
 * the sim) clears it and signals us when the peer's process ends, however it
 * ends; every readiness check reads it (check_peer).  This is what tells a
 * dead peer process on Xen, where its domain lives on and notifies to it are
 * dropped.  Slower backstops: evtchn_peer_alive at each blocking slice, and
 * -ESRCH from a notify.
 *
 * Threads: one sender and one receiver at a time (tx and rx state are
 * separate); error is written with a relaxed atomic so either may set it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "barrier.h"
#include "budget.h"
#include "channel.h"
#include "ring.h"
#include "xway_port.h"

struct xw_channel {
    struct xw_xenif *x;
    bool creator;
    uint32_t peer_domid;
    int port;
    struct xw_intf *intf; /* shared page (creator) or mapping (acceptor) */
    uint8_t *data;        /* npages: in ring, then out ring */
    uint32_t npages;
    void *ind;            /* creator only: shared indirect ref pages */
    uint32_t nind;
    uint32_t budget_pages; /* creator: pages taken from the share budget */
    bool budget_mapped;    /* acceptor: counted against its peer's rings */
    bool borrowed;         /* adopted: the port is another process's */
    bool lent;             /* another process moves our indices (adopted it) */
    uint32_t intf_ref;     /* the interface page's ref (the offer's) */
    uint64_t ring_id;      /* acceptor: this process's name for the ring (its pages
                            * never change while it lives, parked or not); borrowed:
                            * its lender's */
    bool mapped_before;    /* borrowed: on a mapping kept from its last connection */
    uint32_t peer_port;    /* acceptor: the creator's port (the offer's) */
    uint32_t shift;
    uint64_t nonce, key;
    unsigned spin_us;
    struct xw_ring tx, rx;
    _Atomic int error; /* sticky -errno */
    bool wr_shut;
    /* The peer's live byte has been 1 (or the nonce proved it mapped): a 0
     * from now on means its process is gone. */
    _Atomic bool peer_seen_live;
    /* The peer went without ending or resetting the stream (xw_channel_vanished). */
    _Atomic bool vanished;
    /* Our domain moves (xw_channel_moving): an acceptor's mapping goes. */
    _Atomic bool moving;
    /* xw_channel_progress (the event handler's thread): what the peer had
     * published at the last event. */
    uint32_t ev_prod, ev_cons, ev_flags;
    /* Heartbeats (their caller's thread): ours, and the peer's as last seen
     * with when it moved (ms; 0: not looked yet). */
    uint32_t beat, peer_beat;
    uint64_t peer_beat_ms;
};

int xw_channel_check_ring_bytes(unsigned long bytes)
{
    if (bytes < XW_PAGE_SIZE || bytes > XW_CHAN_MAX_RING || (bytes & (bytes - 1)))
        return -EINVAL;
    return 0;
}

static int params(const struct xw_chan_params *p, uint32_t *shift, unsigned *spin)
{
    uint32_t bytes = p && p->ring_bytes ? p->ring_bytes : XW_CHAN_DEFAULT_RING;

    if (xw_channel_check_ring_bytes(bytes))
        return -EINVAL;
    *shift = (uint32_t)__builtin_ctz(bytes);
    *spin = p && p->spin_us >= 0 ? (unsigned)p->spin_us : XW_CHAN_DEFAULT_SPIN_US;
    return 0;
}

static void set_error(struct xw_channel *ch, int err)
{
    int zero = 0;

    atomic_compare_exchange_strong(&ch->error, &zero, err);
}

/* Our rings: the creator consumes "in" and produces "out" (pvcalls). */
static void setup_rings(struct xw_channel *ch)
{
    uint32_t size = 1u << ch->shift;
    struct xw_ring *in = ch->creator ? &ch->rx : &ch->tx;
    struct xw_ring *out = ch->creator ? &ch->tx : &ch->rx;

    xw_ring_init(in, &ch->intf->in, ch->data, size);
    xw_ring_init(out, &ch->intf->out, ch->data + size, size);
}

/* Creator: put the data refs into the page, directly or via indirect pages. */
static int publish_refs(struct xw_channel *ch, const uint32_t *refs)
{
    uint32_t ind_refs[XW_INTF_MAX_REFS];
    int err;

    if (ch->npages <= XW_INTF_MAX_REFS) {
        memcpy(ch->intf->ref, refs, ch->npages * sizeof(*refs));
        ch->intf->nrefs = ch->npages;
        return 0;
    }
    ch->nind = (ch->npages + XW_REFS_PER_PAGE - 1) / XW_REFS_PER_PAGE;
    err = xw_share(ch->x, ch->peer_domid, ch->nind, 0, ind_refs, &ch->ind);
    if (err)
        return err;
    memcpy(ch->ind, refs, ch->npages * sizeof(*refs));
    memcpy(ch->intf->ref, ind_refs, ch->nind * sizeof(*refs));
    ch->intf->nrefs = ch->nind;
    ch->intf->flags = XW_INTF_F_INDIRECT;
    return 0;
}

int xw_channel_create(struct xw_xenif *x, uint32_t peer_domid, const struct xw_chan_params *p,
                      struct xw_channel **out, struct xw_chan_offer *offer)
{
    struct xw_channel *ch = xway_port_calloc(1, sizeof(*ch));
    uint32_t intf_ref, *refs = NULL;
    int err = -ENOMEM;

    if (!ch)
        return -ENOMEM;
    ch->x = x;
    ch->creator = true;
    ch->peer_domid = peer_domid;
    ch->port = -1;
    err = params(p, &ch->shift, &ch->spin_us);
    if (err)
        goto out_free;
    ch->npages = xw_ring_data_pages(ch->shift);
    refs = xway_port_malloc(ch->npages * sizeof(*refs));
    if (!refs) {
        err = -ENOMEM;
        goto out_free;
    }
    ch->budget_pages = 1 + ch->npages;
    if (ch->npages > XW_INTF_MAX_REFS)
        ch->budget_pages += (ch->npages + XW_REFS_PER_PAGE - 1) / XW_REFS_PER_PAGE;
    err = xw_budget_share_take(ch->budget_pages);
    if (err)
        goto out_free;
    /* The port first: the interface page's unmap notification signals it. */
    err = xw_evtchn_alloc_unbound(x, peer_domid);
    if (err < 0)
        goto out_budget;
    ch->port = err;
    err = xw_share_notify(x, peer_domid, 1, &intf_ref, offsetof(struct xw_intf, creator_live),
                          ch->port, (void **)&ch->intf);
    if (err)
        goto out_unbind;
    /* The data pages may be kept ones (xw_unshare_keep): their contents are
     * what we and this domain wrote, and the ring reads only what it was
     * written.  The interface page is always fresh. */
    err = xw_share_kept(x, peer_domid, ch->npages, 1, refs, (void **)&ch->data);
    if (err)
        goto out_unshare_intf;
    err = publish_refs(ch, refs);
    if (err)
        goto out_unshare_data;
    {
        uint64_t rnd[2]; /* one call: the nonce and the key */
        err = xway_port_random(rnd, sizeof(rnd));
        if (err)
            goto out_unshare_ind;
        ch->nonce = rnd[0];
        ch->key = rnd[1];
    }
    xw_store_release8(&ch->intf->creator_live, 1);
    ch->intf->magic = XW_INTF_MAGIC;
    ch->intf->version = XW_INTF_VERSION;
    ch->intf->ring_shift = ch->shift;
    ch->intf->nonce = ch->nonce;
    ch->intf->key = ch->key;
    setup_rings(ch);
    ch->intf_ref = intf_ref;
    *offer = (struct xw_chan_offer){ .domid = x->domid, .intf_ref = intf_ref,
                                     .port = (uint32_t)ch->port, .ring_shift = ch->shift,
                                     .key = ch->key };
    xway_port_free(refs);
    *out = ch;
    return 0;
out_unshare_ind:
    if (ch->ind)
        xw_unshare(x, ch->ind, ch->nind);
out_unshare_data:
    xw_unshare(x, ch->data, ch->npages);
out_unshare_intf:
    xw_unshare(x, ch->intf, 1);
out_unbind:
    xw_evtchn_unbind(x, (uint32_t)ch->port);
out_budget:
    xw_budget_share_put(ch->budget_pages);
out_free:
    xway_port_free(refs);
    xway_port_free(ch);
    return err;
}

/* Acceptor: read the header once, validate it against the offer.  The key
 * first: an offer its sender did not make learns nothing from the page. */
static int read_header(struct xw_channel *ch, const struct xw_chan_offer *offer,
                       uint32_t *nrefs, uint32_t *flags)
{
    struct xw_intf *i = ch->intf;
    /* Each shared field read once (the peer may change them meanwhile). */
    uint32_t magic = xw_load_relaxed(&i->magic), version = xw_load_relaxed(&i->version);
    uint32_t shift = xw_load_relaxed(&i->ring_shift);
    uint64_t key = xw_load_relaxed64(&i->key);
    uint32_t want;

    if (magic != XW_INTF_MAGIC || version != XW_INTF_VERSION)
        return -EPROTO;
    if (key != offer->key)
        return -EKEYREJECTED;
    *nrefs = xw_load_relaxed(&i->nrefs);
    *flags = xw_load_relaxed(&i->flags);
    ch->nonce = xw_load_relaxed64(&i->nonce);
    if (shift != offer->ring_shift)
        return -EPROTO;
    ch->shift = shift;
    ch->npages = xw_ring_data_pages(shift);
    want = *flags & XW_INTF_F_INDIRECT
               ? (ch->npages + XW_REFS_PER_PAGE - 1) / XW_REFS_PER_PAGE
               : ch->npages;
    if ((*flags & ~XW_INTF_F_INDIRECT) || *nrefs != want || want > XW_INTF_MAX_REFS)
        return -EPROTO;
    return 0;
}

/* Acceptor: a private copy of the data refs (the shared list may change). */
static int copy_refs(struct xw_channel *ch, uint32_t domid, uint32_t nrefs, uint32_t flags,
                     uint32_t *refs)
{
    uint32_t ind[XW_INTF_MAX_REFS];
    void *pages;
    int err;

    if (!(flags & XW_INTF_F_INDIRECT)) {
        memcpy(refs, ch->intf->ref, ch->npages * sizeof(*refs));
        return 0;
    }
    memcpy(ind, ch->intf->ref, nrefs * sizeof(*ind));
    err = xw_map(ch->x, domid, nrefs, ind, 0, &pages);
    if (err)
        return err;
    memcpy(refs, pages, ch->npages * sizeof(*refs));
    xw_unmap(ch->x, pages, nrefs);
    return 0;
}

/* Acceptor: our live byte, registered for the unmap notification.  The port
 * exists only after the bind: the notification is armed on the mapping we
 * have where the backend can (the sim), else the interface page is mapped
 * again with it and the first mapping dropped (geometry and nonce are
 * already private copies). */
static int arm_live(struct xw_channel *ch, const struct xw_chan_offer *offer)
{
    const int live = offsetof(struct xw_intf, acceptor_live);
    void *m;
    int err;

    if (ch->x->ops->map_set_notify) { /* on the mapping we have (the sim) */
        err = ch->x->ops->map_set_notify(ch->x, ch->intf, offer->domid, offer->intf_ref, 1,
                                         live, ch->port);
    } else {
        err = xw_map_notify(ch->x, offer->domid, offer->intf_ref, 1, live, ch->port, &m);
        if (!err) {
            xw_unmap(ch->x, ch->intf, 1);
            ch->intf = m;
        }
    }
    if (err)
        return err;
    xw_store_release8(&ch->intf->acceptor_live, 1);
    atomic_store(&ch->peer_seen_live, true); /* the creator set its byte first */
    return 0;
}

/* Acceptor: the offer's size against the bounds and against the most we map. */
static int accept_params(const struct xw_chan_params *p, const struct xw_chan_offer *offer,
                         unsigned *spin)
{
    uint32_t max_shift;
    int err = params(p, &max_shift, spin);

    if (err)
        return err;
    if (!p || !p->ring_bytes)
        max_shift = XW_RING_MAX_SHIFT;
    if (offer->ring_shift < XW_RING_MIN_SHIFT || offer->ring_shift > XW_RING_MAX_SHIFT)
        return -EPROTO;
    return offer->ring_shift > max_shift ? -EMSGSIZE : 0;
}

/* The acceptors' ring ids so far, and a borrower's kept mappings (below):
 * the process's channel calls are serialized by their caller (the stack's
 * lock). */
static uint64_t ring_ids;

/* Acceptor (and adopter): map the interface page, validate it against the
 * offer, map the data pages.  0 or -errno (nothing left mapped). */
static int map_pages(struct xw_channel *ch, const struct xw_chan_offer *offer)
{
    uint32_t *refs = NULL, nrefs, flags;
    int err = xw_map(ch->x, offer->domid, 1, &offer->intf_ref, 1, (void **)&ch->intf);

    if (err)
        return err;
    err = read_header(ch, offer, &nrefs, &flags);
    if (!err) {
        refs = xway_port_malloc(ch->npages * sizeof(*refs));
        err = refs ? copy_refs(ch, offer->domid, nrefs, flags, refs) : -ENOMEM;
    }
    if (!err)
        err = xw_map(ch->x, offer->domid, ch->npages, refs, 1, (void **)&ch->data);
    xway_port_free(refs);
    if (err)
        xw_unmap(ch->x, ch->intf, 1);
    return err;
}

int xw_channel_accept(struct xw_xenif *x, const struct xw_chan_offer *offer,
                      const struct xw_chan_params *p, struct xw_channel **out, uint64_t *nonce)
{
    struct xw_channel *ch = xway_port_calloc(1, sizeof(*ch));
    int err;

    if (!ch)
        return -ENOMEM;
    ch->x = x;
    ch->peer_domid = offer->domid;
    ch->intf_ref = offer->intf_ref;
    ch->peer_port = offer->port;
    ch->key = offer->key;
    ch->ring_id = ++ring_ids;
    err = accept_params(p, offer, &ch->spin_us);
    if (err)
        goto out_free;
    err = xw_budget_map_take(offer->domid, p ? p->peer_rings : 0);
    if (err)
        goto out_free;
    ch->budget_mapped = true;
    err = map_pages(ch, offer);
    if (err)
        goto out_free;
    err = xw_evtchn_bind(x, offer->domid, offer->port);
    if (err < 0)
        goto out_unmap_data;
    ch->port = err;
    err = arm_live(ch, offer);
    if (err)
        goto out_unbind;
    setup_rings(ch);
    *nonce = ch->nonce;
    *out = ch;
    return 0;
out_unbind:
    xw_evtchn_unbind(x, (uint32_t)ch->port);
out_unmap_data:
    xw_unmap(x, ch->data, ch->npages);
    xw_unmap(x, ch->intf, 1);
out_free:
    if (ch->budget_mapped)
        xw_budget_map_put(ch->peer_domid);
    xway_port_free(ch);
    return err;
}

int xw_channel_check_nonce(struct xw_channel *ch, uint64_t nonce)
{
    if (!ch->creator || nonce != ch->nonce)
        return -EACCES;
    atomic_store(&ch->peer_seen_live, true); /* it set its byte before it answered */
    return 0;
}

uint32_t xw_channel_ring_bytes(const struct xw_channel *ch) { return 1u << ch->shift; }
int xw_channel_fd(const struct xw_channel *ch) { return xw_evtchn_fd(ch->x); }
uint32_t xw_channel_peer_domid(const struct xw_channel *ch) { return ch->peer_domid; }

void xw_channel_fill(const struct xw_channel *ch, struct xw_chan_fill *f)
{
    uint32_t size = 1u << ch->shift;
    uint32_t t = xw_load_relaxed(&ch->tx.idx) - xw_load_relaxed(&ch->tx.ctl->cons);
    uint32_t r = xw_load_relaxed(&ch->rx.ctl->prod) - xw_load_relaxed(&ch->rx.idx);

    f->tx = t <= size ? t : size; /* (the peer's index is a hint: clamped) */
    f->rx = r <= size ? r : size;
}

void xw_channel_beat(struct xw_channel *ch)
{
    xw_store_relaxed(&ch->tx.ctl->beat, ++ch->beat);
}

bool xw_channel_peer_stalled(struct xw_channel *ch, uint64_t now_ms, unsigned dead_ms)
{
    uint32_t b = xw_load_relaxed(&ch->rx.ctl->beat); /* any value: only "moved?" */

    if (!ch->peer_beat_ms || b != ch->peer_beat) {
        ch->peer_beat = b;
        ch->peer_beat_ms = now_ms;
        return false;
    }
    return now_ms - ch->peer_beat_ms >= dead_ms;
}
int xw_channel_error(const struct xw_channel *ch) { return atomic_load(&ch->error); }

/* The peer is gone.  Without its own word on our sending direction (its close
 * says EPIPE, its reset ECONNRESET) it vanished: died, or moved away. */
static void peer_gone(struct xw_channel *ch)
{
    if (!xw_ring_peer_error(&ch->tx))
        atomic_store(&ch->vanished, true);
}

bool xw_channel_is_creator(const struct xw_channel *ch)
{
    return ch->creator;
}

void xw_channel_moving(struct xw_channel *ch)
{
    atomic_store(&ch->moving, true);
}

bool xw_channel_vanished(const struct xw_channel *ch)
{
    return atomic_load_explicit(&ch->vanished, memory_order_relaxed);
}

static void kick(struct xw_channel *ch)
{
    int err = xw_evtchn_notify(ch->x, (uint32_t)ch->port);

    /* The peer is gone.  If it ended its stream first (EOF), what it wrote is
     * still ours to read: only a peer that died mid-stream resets us. */
    if (err == -ESRCH) {
        peer_gone(ch);
        if (!xw_load_acquire(&ch->rx.ctl->eof))
            set_error(ch, -ECONNRESET);
    }
}

/* A ring reported a violation: tell the peer, remember it. */
static int broken(struct xw_channel *ch, int err)
{
    if (err == -EPROTO) {
        xw_ring_set_error(&ch->tx, ECONNRESET);
        xw_ring_set_error(&ch->rx, ECONNRESET);
        kick(ch);
    }
    set_error(ch, err);
    return err;
}

/* The peer's live byte (read once).  Cleared: its process is gone.  If it had
 * ended its stream (EOF) what it wrote is still ours to read, and only our
 * sending side fails, as its close would have made it (EPIPE); a peer that
 * died mid-stream resets the channel. */
static void check_peer(struct xw_channel *ch)
{
    const uint8_t *live = ch->creator ? &ch->intf->acceptor_live : &ch->intf->creator_live;

    if (xw_load_acquire8(live)) {
        if (!atomic_load_explicit(&ch->peer_seen_live, memory_order_relaxed))
            atomic_store(&ch->peer_seen_live, true);
        return;
    }
    if (!atomic_load_explicit(&ch->peer_seen_live, memory_order_relaxed))
        return; /* the acceptor has not mapped yet */
    peer_gone(ch);
    if (!xw_load_acquire(&ch->rx.ctl->eof))
        set_error(ch, -ECONNRESET);
    else if (!xw_ring_peer_error(&ch->tx))
        xw_ring_set_error(&ch->tx, EPIPE);
}

/* What is ready now, without waiting: XW_CHAN_* mask. */
static int ready(struct xw_channel *ch, int events)
{
    int r = 0;

    check_peer(ch);
    if (atomic_load_explicit(&ch->error, memory_order_relaxed))
        return XW_CHAN_ERROR | events;
    /* Any thread may ask (the dispatcher, pollers): the published indices
     * only; the owner's own calls validate the peer. */
    if ((events & XW_CHAN_READABLE) &&
        (xw_ring_poll_readable(&ch->rx) || xw_ring_at_eof(&ch->rx) ||
         xw_ring_peer_error(&ch->rx)))
        r |= XW_CHAN_READABLE;
    if ((events & XW_CHAN_WRITABLE) &&
        (xw_ring_poll_writable(&ch->tx) || xw_ring_peer_error(&ch->tx)))
        r |= XW_CHAN_WRITABLE;
    if (ch->rx.broken || ch->tx.broken) {
        broken(ch, ch->rx.broken ? ch->rx.broken : ch->tx.broken);
        r |= XW_CHAN_ERROR;
    }
    return r;
}

bool xw_channel_at_eof(struct xw_channel *ch)
{
    return xw_ring_at_eof(&ch->rx);
}

uint32_t xw_channel_rx_mark(const struct xw_channel *ch)
{
    return xw_load_acquire(&ch->rx.ctl->prod);
}

bool xw_channel_peer_shut(struct xw_channel *ch)
{
    return xw_ring_eof_sent(&ch->rx);
}

bool xw_channel_peer_ended(struct xw_channel *ch)
{
    return xw_ring_eof_sent(&ch->rx) && xw_ring_peer_error(&ch->rx) != -ECONNRESET &&
           !atomic_load(&ch->error);
}

int xw_channel_poll(struct xw_channel *ch, int events)
{
    return ready(ch, events);
}

int xw_channel_port(const struct xw_channel *ch)
{
    return ch->port;
}

/* idx moved forward from *last, by at most limit - *last: then remember it. */
static bool moved(uint32_t *last, uint32_t idx, uint32_t limit)
{
    if (idx == *last || idx - *last > limit - *last)
        return false;
    *last = idx;
    return true;
}

/* The peer's live byte cleared once it had been set (its process gone). */
static bool peer_dead(struct xw_channel *ch)
{
    const uint8_t *live = ch->creator ? &ch->intf->acceptor_live : &ch->intf->creator_live;

    return !xw_load_acquire8(live) && atomic_load_explicit(&ch->peer_seen_live, memory_order_relaxed);
}

bool xw_channel_progress(struct xw_channel *ch)
{
    uint32_t prod = xw_load_acquire(&ch->rx.ctl->prod);
    uint32_t cons = xw_load_acquire(&ch->tx.ctl->cons);
    uint32_t flags = (xw_load_relaxed(&ch->rx.ctl->eof) ? 1u : 0u) |
                     (xw_load_relaxed(&ch->rx.ctl->error) ? 2u : 0u) |
                     (xw_load_relaxed(&ch->tx.ctl->error) ? 4u : 0u) |
                     (peer_dead(ch) ? 8u : 0u);
    /* Our private indices, read as pollers do (a hint): the peer's index can
     * only move within what they allow.  Lent: the borrower's, as published. */
    uint32_t rx_idx = ch->lent ? xw_load_relaxed(&ch->rx.ctl->cons) : xw_load_relaxed(&ch->rx.idx);
    uint32_t tx_idx = ch->lent ? xw_load_relaxed(&ch->tx.ctl->prod) : xw_load_relaxed(&ch->tx.idx);
    bool p = moved(&ch->ev_prod, prod, rx_idx + ch->rx.size);
    bool c = moved(&ch->ev_cons, cons, tx_idx);

    if (flags & ~ch->ev_flags) {
        ch->ev_flags |= flags;
        return true;
    }
    return p || c;
}

int xw_channel_check(struct xw_channel *ch, int events)
{
    long err = 0;

    if (events & XW_CHAN_READABLE)
        err = xw_ring_readable(&ch->rx);
    if (err >= 0 && (events & XW_CHAN_WRITABLE))
        err = xw_ring_writable(&ch->tx);
    if (err >= 0)
        return 0;
    broken(ch, (int)err);
    return XW_CHAN_ERROR;
}

int xw_channel_arm(struct xw_channel *ch, int events)
{
    if (events & XW_CHAN_READABLE)
        xw_ring_arm_consumer(&ch->rx);
    if (events & XW_CHAN_WRITABLE)
        xw_ring_arm_producer(&ch->tx);
    return ready(ch, events); /* the re-check after arming */
}

int xw_xenif_drain(struct xw_xenif *x)
{
    int p, n = 0;

    /* Bounded: a port the peer keeps notifying is pending again as soon as it
     * is unmasked. */
    while (n < XW_SIM_MAX_PORTS && (p = x->ops->evtchn_pending(x)) >= 0) {
        x->ops->evtchn_unmask(x, (uint32_t)p);
        n++;
    }
    return n;
}

/* Block on the event channel for up to ms; then check the peer is alive. */
static int block(struct xw_channel *ch, int ms)
{
    int n = ch->x->ops->evtchn_wait(ch->x, ms);

    if (n > 0) {
        xw_xenif_drain(ch->x);
        return 0;
    }
    if (n < 0)
        return n == -EINTR ? 0 : n;
    if (xw_evtchn_peer_alive(ch->x, (uint32_t)ch->port) == 0) {
        peer_gone(ch);
        set_error(ch, -ECONNRESET);
    }
    return 0;
}

int xw_channel_wait(struct xw_channel *ch, int events, int timeout_ms)
{
    uint64_t start = xway_port_now_us(), deadline = timeout_ms < 0 ? UINT64_MAX
                                                         : start + (uint64_t)timeout_ms * 1000u;
    uint64_t spin_end = start + ch->spin_us, t;
    unsigned i;
    int r, err;

    /* Spin: while the peer is busy, no syscall at all. */
    for (i = 0;; i++) {
        r = ready(ch, events);
        if (r)
            return r;
        if ((i & 63) == 63 && xway_port_now_us() >= spin_end)
            break;
        xw_cpu_relax();
    }
    for (;;) {
        r = xw_channel_arm(ch, events);
        if (r)
            return r;
        t = xway_port_now_us();
        if (t >= deadline)
            return -ETIMEDOUT;
        err = block(ch, (int)((deadline - t) / 1000u < XW_CHAN_SLICE_MS
                                  ? (deadline - t + 999u) / 1000u
                                  : XW_CHAN_SLICE_MS));
        if (err)
            return err;
        r = ready(ch, events);
        if (r)
            return r;
    }
}

static int tx_state(struct xw_channel *ch)
{
    int err = atomic_load_explicit(&ch->error, memory_order_relaxed);

    if (err)
        return err;
    if (ch->wr_shut)
        return -EPIPE;
    return xw_ring_peer_error(&ch->tx);
}

/* What is left of a wait of timeout_ms that started at start_us: -1 forever,
 * else milliseconds (rounded up), 0 once it is over.  Every loop that waits
 * more than once goes by it, so that a peer whose moves wake us without ever
 * letting us make progress cannot stretch the caller's timeout. */
static int time_left(int timeout_ms, uint64_t start_us)
{
    uint64_t spent = xway_port_now_us() - start_us, total = (uint64_t)timeout_ms * 1000u;

    if (timeout_ms < 0)
        return -1;
    return spent >= total ? 0 : (int)((total - spent + 999u) / 1000u);
}

ssize_t xw_channel_send(struct xw_channel *ch, const void *buf, size_t len, int timeout_ms)
{
    uint64_t start = timeout_ms > 0 ? xway_port_now_us() : 0;
    size_t done = 0;
    long n;
    int err, left;

    while (done < len) {
        err = tx_state(ch);
        if (err)
            break;
        n = xw_ring_write(&ch->tx, (const uint8_t *)buf + done, len - done);
        if (n < 0) {
            err = broken(ch, (int)n);
            break;
        }
        if (n > 0) {
            done += (size_t)n;
            if (xw_ring_producer_should_kick(&ch->tx))
                kick(ch);
            continue;
        }
        left = timeout_ms > 0 ? time_left(timeout_ms, start) : timeout_ms;
        if (left == 0) {
            err = timeout_ms ? -ETIMEDOUT : -EAGAIN;
            break;
        }
        err = xw_channel_wait(ch, XW_CHAN_WRITABLE, left);
        if (err < 0)
            break;
    }
    return done ? (ssize_t)done : (done == len ? 0 : err);
}

ssize_t xw_channel_send_fill(struct xw_channel *ch,
                             ssize_t (*fill)(void *arg, const struct iovec *iov, int cnt),
                             void *arg)
{
    struct iovec iov[2];
    int err = tx_state(ch), room;
    ssize_t n;

    if (err)
        return err;
    room = xw_ring_reserve(&ch->tx, iov);
    if (room < 0)
        return broken(ch, room);
    if (room == 0)
        return -EAGAIN;
    n = fill(arg, iov, iov[1].iov_len ? 2 : 1);
    if (n <= 0)
        return n < 0 ? -EIO : 0;
    if ((size_t)n > (size_t)room)
        n = room;
    xw_ring_commit(&ch->tx, (uint32_t)n);
    if (xw_ring_producer_should_kick(&ch->tx))
        kick(ch);
    return n;
}

/* One nonblocking attempt: bytes, 0 at EOF, -EAGAIN or -errno. */
static ssize_t try_recv(struct xw_channel *ch, void *buf, size_t len)
{
    struct iovec iov[2];
    int n = xw_channel_view(ch, iov), err;
    size_t c, a;

    if (n <= 0)
        return n;
    c = (size_t)n < len ? (size_t)n : len;
    a = c < iov[0].iov_len ? c : iov[0].iov_len;
    memcpy(buf, iov[0].iov_base, a);
    if (c > a)
        memcpy((uint8_t *)buf + a, iov[1].iov_base, c - a);
    err = xw_channel_consume(ch, (uint32_t)c);
    return err ? err : (ssize_t)c;
}

ssize_t xw_channel_recv(struct xw_channel *ch, void *buf, size_t len, int timeout_ms)
{
    uint64_t start = timeout_ms > 0 ? xway_port_now_us() : 0;
    ssize_t n;
    int err, left;

    if (!len)
        return 0;
    for (;;) {
        n = try_recv(ch, buf, len);
        if (n != -EAGAIN || timeout_ms == 0)
            return n;
        left = timeout_ms > 0 ? time_left(timeout_ms, start) : timeout_ms;
        if (left == 0)
            return -ETIMEDOUT;
        err = xw_channel_wait(ch, XW_CHAN_READABLE, left);
        if (err < 0)
            return err;
    }
}

int xw_channel_peek(struct xw_channel *ch, struct iovec iov[2])
{
    int err = atomic_load_explicit(&ch->error, memory_order_relaxed);

    if (err)
        return err;
    err = xw_ring_peek(&ch->rx, iov);
    return err < 0 ? broken(ch, err) : err;
}

int xw_channel_view(struct xw_channel *ch, struct iovec iov[2])
{
    int err = atomic_load_explicit(&ch->error, memory_order_relaxed);
    int perr = xw_ring_peer_error(&ch->rx), n;

    if (err)
        return err;
    if (perr == -ECONNRESET)
        return perr; /* a reset discards what is still queued */
    n = xw_ring_peek(&ch->rx, iov);
    if (n < 0)
        return broken(ch, n);
    if (n > 0)
        return n;
    if (xw_ring_at_eof(&ch->rx))
        return 0;
    if (ch->rx.broken)
        return broken(ch, ch->rx.broken);
    return perr ? perr : -EAGAIN;
}

int xw_channel_consume(struct xw_channel *ch, uint32_t n)
{
    int err = xw_ring_release(&ch->rx, n);

    if (err)
        return err == -EINVAL ? err : broken(ch, err);
    if (n && xw_ring_consumer_should_kick(&ch->rx))
        kick(ch);
    return 0;
}

int xw_channel_reserve(struct xw_channel *ch, struct iovec iov[2])
{
    int err = tx_state(ch), room;

    if (err)
        return err;
    room = xw_ring_reserve(&ch->tx, iov);
    if (room < 0)
        return broken(ch, room);
    return room ? room : -EAGAIN;
}

int xw_channel_commit(struct xw_channel *ch, uint32_t n)
{
    int err = tx_state(ch);
    /* A reservation written while the peer vanished: if the connection
     * switches, its bytes are sent again (xw_channel_switch_out copies up to
     * our index) — unless they are in an acceptor's mapping that its move
     * took — so they are committed here, unseen by the peer. */
    bool vanished = err && !ch->wr_shut && xw_channel_vanished(ch) &&
                    (ch->creator || !atomic_load(&ch->moving));

    if (err && !vanished)
        return err;
    err = xw_ring_commit(&ch->tx, n);
    if (err)
        return err == -EINVAL ? err : broken(ch, err);
    if (vanished)
        return 0;
    if (n && xw_ring_producer_should_kick(&ch->tx))
        kick(ch);
    return 0;
}

int xw_channel_shutdown_write(struct xw_channel *ch)
{
    if (!ch->wr_shut) {
        ch->wr_shut = true;
        xw_ring_set_eof(&ch->tx);
        /* As for bytes: only a peer that asked (a consumer arms, then looks). */
        if (xw_ring_producer_should_kick(&ch->tx))
            kick(ch);
    }
    return 0;
}

void xw_channel_reset(struct xw_channel *ch)
{
    xw_ring_set_error(&ch->tx, ECONNRESET);
    xw_ring_set_error(&ch->rx, ECONNRESET);
    set_error(ch, -ECONNRESET);
    kick(ch);
}

int xw_channel_describe(const struct xw_channel *ch, struct xw_chan_desc *d)
{
    if (ch->creator || ch->borrowed)
        return -EINVAL;
    *d = (struct xw_chan_desc){ .peer_domid = ch->peer_domid, .intf_ref = ch->intf_ref,
                                .port = (uint32_t)ch->port, .ring_shift = ch->shift,
                                .key = ch->key, .ring_id = ch->ring_id };
    return 0;
}

void xw_channel_lend(struct xw_channel *ch, bool lent)
{
    ch->lent = lent;
}

bool xw_channel_is_lent(const struct xw_channel *ch)
{
    return ch->lent;
}

bool xw_channel_lent_unread(const struct xw_channel *ch)
{
    return xw_load_acquire(&ch->rx.ctl->prod) != xw_load_acquire(&ch->rx.ctl->cons);
}

void xw_channel_position(const struct xw_channel *ch, struct xw_chan_pos *pos)
{
    *pos = (struct xw_chan_pos){ .rx_idx = ch->rx.idx, .rx_seen = ch->rx.seen,
                                 .tx_idx = ch->tx.idx, .tx_seen = ch->tx.seen,
                                 .wr_shut = ch->wr_shut };
}

/* The positions come from a process of our own domain, but a forged or stale
 * one only makes our next checks fail (ring.c validates every index against
 * seen and the size), never reach outside the ring. */
void xw_channel_set_position(struct xw_channel *ch, const struct xw_chan_pos *pos)
{
    ch->rx.idx = pos->rx_idx;
    ch->rx.seen = pos->rx_seen - pos->rx_idx <= ch->rx.size ? pos->rx_seen : pos->rx_idx;
    ch->tx.idx = pos->tx_idx;
    ch->tx.seen = pos->tx_idx - pos->tx_seen <= ch->tx.size ? pos->tx_seen : pos->tx_idx;
    ch->rx.reserved = ch->tx.reserved = 0;
    ch->wr_shut = pos->wr_shut != 0;
    ch->ev_prod = ch->ev_cons = ch->ev_flags = 0;
}

/* A borrower's mappings of rings it served, kept for the next connection its
 * lender gives it on the same ring (a parked one: channel.h). */
#define KEPT_MAX 32
#define KEPT_US (4u * 1000000u)

static struct kept {
    struct xw_xenif *x;
    uint64_t ring_id, at_us;
    struct xw_intf *intf;
    uint8_t *data;
    uint32_t npages;
} kept[KEPT_MAX];
static unsigned nkept;

static void kept_unmap(unsigned i)
{
    xw_unmap(kept[i].x, kept[i].data, kept[i].npages);
    xw_unmap(kept[i].x, kept[i].intf, 1);
    kept[i] = kept[--nkept];
}

/* Those kept too long (their lender may have closed the ring since: its
 * pages stay the peer's while we map them). */
static void kept_sweep(uint64_t now)
{
    for (unsigned i = 0; i < nkept;)
        if (now - kept[i].at_us > KEPT_US)
            kept_unmap(i);
        else
            i++;
}

/* Borrowed ch's mapping of a ring its lender keeps (closed cleanly): kept.
 * False: not kept (unmap it). */
static bool keep_mapping(struct xw_channel *ch)
{
    uint64_t now = xway_port_now_us();

    if (!ch->ring_id || atomic_load(&ch->error) || ch->rx.broken || ch->tx.broken ||
        atomic_load(&ch->vanished) || atomic_load(&ch->moving))
        return false;
    kept_sweep(now);
    if (nkept == KEPT_MAX) { /* (the oldest goes) */
        unsigned old = 0;
        for (unsigned i = 1; i < nkept; i++)
            if (kept[i].at_us < kept[old].at_us)
                old = i;
        kept_unmap(old);
    }
    kept[nkept++] = (struct kept){ .x = ch->x, .ring_id = ch->ring_id, .at_us = now,
                                   .intf = ch->intf, .data = ch->data,
                                   .npages = ch->npages };
    return true;
}

/* Adopting: the ring's mapping kept from its last connection here, checked as
 * a new one is (the page's key is this connection's).  False: none (map it). */
static bool take_kept(struct xw_channel *ch, const struct xw_chan_offer *offer)
{
    uint32_t nrefs, flags;
    unsigned i;

    kept_sweep(xway_port_now_us());
    for (i = 0; i < nkept && !(kept[i].x == ch->x && kept[i].ring_id == ch->ring_id); i++)
        ;
    if (!ch->ring_id || i == nkept)
        return false;
    ch->intf = kept[i].intf;
    ch->data = kept[i].data;
    if (read_header(ch, offer, &nrefs, &flags) || ch->npages != kept[i].npages) {
        kept_unmap(i);
        ch->intf = NULL;
        ch->data = NULL;
        return false;
    }
    kept[i] = kept[--nkept];
    ch->mapped_before = true;
    return true;
}

bool xw_channel_mapped_before(const struct xw_channel *ch)
{
    return ch->mapped_before;
}

void xw_channel_unkeep(struct xw_xenif *x, bool unmap)
{
    for (unsigned i = 0; i < nkept;)
        if (x && kept[i].x != x)
            i++;
        else if (unmap)
            kept_unmap(i);
        else
            kept[i] = kept[--nkept];
}

int xw_channel_adopt(struct xw_xenif *x, const struct xw_chan_desc *d,
                     struct xw_channel **out)
{
    struct xw_chan_offer offer = { .domid = d->peer_domid, .intf_ref = d->intf_ref,
                                   .port = d->port, .ring_shift = d->ring_shift, .key = d->key };
    struct xw_channel *ch = xway_port_calloc(1, sizeof(*ch));
    int err;

    if (!ch)
        return -ENOMEM;
    ch->x = x;
    ch->borrowed = true;
    ch->peer_domid = d->peer_domid;
    ch->intf_ref = d->intf_ref;
    ch->key = d->key;
    ch->port = (int)d->port;
    ch->spin_us = XW_CHAN_DEFAULT_SPIN_US;
    ch->ring_id = d->ring_id;
    err = accept_params(NULL, &offer, &ch->spin_us);
    if (!err && !take_kept(ch, &offer))
        err = map_pages(ch, &offer);
    if (err) {
        xway_port_free(ch);
        return err;
    }
    setup_rings(ch);
    atomic_store(&ch->peer_seen_live, true); /* its owner saw the creator's byte */
    *out = ch;
    return 0;
}

void xw_channel_drop(struct xw_channel *ch)
{
    if (!ch)
        return;
    xw_unmap(ch->x, ch->data, ch->npages);
    xw_unmap(ch->x, ch->intf, 1);
    xway_port_free(ch);
}

static uint8_t *copy_span(const struct xw_ring *r, uint32_t from, uint32_t n)
{
    struct iovec iov[2];
    uint8_t *buf;

    if (!n)
        return NULL;
    buf = xway_port_malloc(n);
    if (!buf)
        return NULL;
    xw_ring_span(r, from, n, iov);
    memcpy(buf, iov[0].iov_base, iov[0].iov_len);
    memcpy(buf + iov[0].iov_len, iov[1].iov_base, iov[1].iov_len);
    return buf;
}

int xw_channel_switch_out(struct xw_channel *ch, bool moved, struct xw_chan_switch *out)
{
    /* The creator's pages hold both rings; the acceptor reads them through
     * its mapping, which a domain that moved no longer has. */
    bool readable = ch->creator || !moved;
    long avail = 0;

    memset(out, 0, sizeof(*out));
    if (readable) {
        avail = xw_ring_readable(&ch->rx);
        if (avail < 0)
            return (int)avail;
    }
    out->rx_idx = ch->rx.idx + (uint32_t)avail;
    out->rx_len = (uint32_t)avail;
    out->rx = copy_span(&ch->rx, ch->rx.idx, (uint32_t)avail);
    out->tx_from = ch->tx.seen;
    out->tx_idx = ch->tx.idx;
    out->tx_known = readable;
    if (out->tx_known)
        out->tx = copy_span(&ch->tx, out->tx_from, out->tx_idx - out->tx_from);
    if ((avail && !out->rx) || (out->tx_known && out->tx_idx != out->tx_from && !out->tx)) {
        xway_port_free(out->rx);
        xway_port_free(out->tx);
        return -ENOMEM;
    }
    return 0;
}

/* Our end of both streams: EOF after our last byte, EPIPE for the peer's. */
static void mark_closed(struct xw_channel *ch)
{
    if (!ch->wr_shut)
        xw_ring_set_eof(&ch->tx);
    if (!atomic_load(&ch->error))
        xw_ring_set_error(&ch->rx, EPIPE); /* nobody will consume any more */
}

/* Creator closing: has the acceptor unmapped all its pages (its interface
 * page's unmap notification, last, cleared its byte)?  One that has ended its
 * stream (EOF: most close right after) or closed (EPIPE) is likely unmapping:
 * wait for it at most KEEP_WAIT_US, a few times what a close takes. */
#define KEEP_WAIT_US 50
static bool peer_unmapped(struct xw_channel *ch)
{
    uint64_t start = 0;

    if (!atomic_load(&ch->peer_seen_live))
        return false;
    while (xw_load_acquire8(&ch->intf->acceptor_live)) {
        if (!xw_load_acquire(&ch->rx.ctl->eof) &&
            xw_load_acquire(&ch->tx.ctl->error) != EPIPE)
            return false;
        if (!start)
            start = xway_port_now_us();
        else if (xway_port_now_us() - start > KEEP_WAIT_US)
            return false;
        xw_cpu_relax();
    }
    return true;
}

static void release(struct xw_channel *ch, bool quiet)
{
    /* The pages first, the port last (as create's error path and Xen's
     * drivers do): the interface page's unmap notification signals the port. */
    if (ch->creator) {
        int (*drop)(struct xw_xenif *, void *, uint32_t) = xw_unshare;

        if (!quiet) {
            mark_closed(ch);
            /* Only a peer that asked: one that reads (our EOF), one that
             * writes (its EPIPE); either arms before it looks. */
            if (xw_ring_producer_should_kick(&ch->tx) | xw_ring_consumer_should_kick(&ch->rx))
                kick(ch);
            /* Data pages the peer no longer maps may serve our next channel
             * with its domain (their contents are what we two wrote). */
            if (peer_unmapped(ch))
                drop = xw_unshare_keep;
        }
        if (ch->ind)
            xw_unshare(ch->x, ch->ind, ch->nind);
        drop(ch->x, ch->data, ch->npages);
        xw_unshare(ch->x, ch->intf, 1);
        xw_budget_share_put(ch->budget_pages);
    } else {
        /* The data pages go before our end is marked, and the interface
         * page's unmap notification wakes the peer (a borrowed channel has
         * none: a kick): a creator closing after it finds everything
         * unmapped. */
        bool keep = !quiet && ch->borrowed && keep_mapping(ch);

        if (!keep)
            xw_unmap(ch->x, ch->data, ch->npages);
        if (!quiet) {
            mark_closed(ch);
            if (ch->borrowed)
                kick(ch);
        }
        if (!keep)
            xw_unmap(ch->x, ch->intf, 1);
        if (!ch->borrowed)
            xw_budget_map_put(ch->peer_domid);
    }
    if (!ch->borrowed)
        xw_evtchn_unbind(ch->x, (uint32_t)ch->port);
    xway_port_free(ch);
}

/* ---- parking (stack/path/ring_park.c) ------------------------------------ */

bool xw_channel_parkable(struct xw_channel *ch)
{
    /* Either direction's error: EPIPE is a close's (ours on the ring we
     * read, or a borrower's for us), anything else a reset. */
    uint32_t tx_err = xw_load_acquire(&ch->tx.ctl->error);
    uint32_t rx_err = xw_load_acquire(&ch->rx.ctl->error);

    return !ch->borrowed && !ch->lent && !atomic_load(&ch->error) && !ch->rx.broken &&
           !ch->tx.broken && !atomic_load(&ch->vanished) && !atomic_load(&ch->moving) &&
           (tx_err == 0 || tx_err == EPIPE) && (rx_err == 0 || rx_err == EPIPE) &&
           xw_load_acquire8(ch->creator ? &ch->intf->acceptor_live : &ch->intf->creator_live);
}

void xw_channel_park(struct xw_channel *ch)
{
    mark_closed(ch);
    if (xw_ring_producer_should_kick(&ch->tx) | xw_ring_consumer_should_kick(&ch->rx))
        kick(ch);
    if (!ch->creator)
        xw_store_release8(&ch->intf->acceptor_parked, 1);
}

/* Both sides, before a parked channel serves again: fresh private state (the
 * creator zeroed the shared indices before it offered the channel again). */
static void reset_private(struct xw_channel *ch)
{
    atomic_store(&ch->error, 0);
    ch->wr_shut = false;
    atomic_store(&ch->peer_seen_live, true);
    atomic_store(&ch->vanished, false);
    atomic_store(&ch->moving, false);
    ch->ev_prod = ch->ev_cons = ch->ev_flags = 0;
    ch->beat = ch->peer_beat = 0;
    ch->peer_beat_ms = 0;
    setup_rings(ch);
}

/* Creator: the acceptor has parked the channel too and still maps it (see
 * reoffer's checks): zero both rings, a new nonce and key, fresh private
 * state.  0, or -ESRCH / -EAGAIN / -errno. */
static int rearm(struct xw_channel *ch)
{
    uint64_t rnd[2];
    int err, closed;

    if (!ch->creator)
        return -EINVAL;
    closed = xw_channel_peer_closed(ch);
    if (closed < 0)
        return closed;
    /* The acceptor parked it, its last write (a satellite serving the
     * connection for it may have marked the end before the acceptor was done),
     * and closed its end (its EOF, its EPIPE on ours), not reset it. */
    if (!xw_load_acquire8(&ch->intf->acceptor_parked) || !closed)
        return -EAGAIN;
    err = xway_port_random(rnd, sizeof(rnd));
    if (err)
        return err;
    memset(&ch->intf->in, 0, sizeof(ch->intf->in));
    memset(&ch->intf->out, 0, sizeof(ch->intf->out));
    ch->intf->acceptor_parked = 0;
    ch->nonce = rnd[0];
    ch->key = rnd[1];
    ch->intf->nonce = ch->nonce;
    ch->intf->key = ch->key;
    xw_fence_full(); /* all of it before the offer or TAKE leaves */
    reset_private(ch);
    return 0;
}

int xw_channel_reoffer(struct xw_channel *ch, struct xw_chan_offer *offer)
{
    int err = rearm(ch);

    if (err)
        return err;
    atomic_store(&ch->peer_seen_live, false); /* proved again by the nonce */
    *offer = (struct xw_chan_offer){ .domid = ch->x->domid, .intf_ref = ch->intf_ref,
                                     .port = (uint32_t)ch->port, .ring_shift = ch->shift,
                                     .key = ch->key };
    return 0;
}

int xw_channel_retake(struct xw_channel *ch, uint64_t key)
{
    if (!ch->creator || key != ch->key)
        return -EKEYREJECTED;
    return rearm(ch);
}

int xw_channel_reaccept(struct xw_channel *ch, const struct xw_chan_offer *offer,
                        uint64_t *nonce)
{
    uint32_t nrefs, flags, shift = ch->shift;
    int err;

    if (ch->creator || offer->domid != ch->peer_domid || offer->intf_ref != ch->intf_ref ||
        offer->port != ch->peer_port)
        return -EINVAL;
    if (offer->ring_shift != shift)
        return -EPROTO;
    if (!xw_load_acquire8(&ch->intf->creator_live))
        return -ESRCH;
    err = read_header(ch, offer, &nrefs, &flags);
    if (!err && ch->shift != shift)
        err = -EPROTO;
    if (err) {
        ch->shift = shift;
        return err;
    }
    ch->key = offer->key;
    reset_private(ch);
    *nonce = ch->nonce;
    return 0;
}

int xw_channel_retaken(struct xw_channel *ch, uint64_t key)
{
    struct xw_chan_offer o;
    uint64_t nonce;

    xw_channel_identity(ch, &o);
    o.key = key;
    return xw_channel_reaccept(ch, &o, &nonce);
}

uint64_t xw_channel_key(const struct xw_channel *ch)
{
    return ch->key;
}

int xw_channel_peer_closed(const struct xw_channel *ch)
{
    if (!xw_load_acquire8(ch->creator ? &ch->intf->acceptor_live : &ch->intf->creator_live))
        return -ESRCH;
    return xw_load_acquire(&ch->rx.ctl->eof) && xw_load_acquire(&ch->tx.ctl->error) == EPIPE;
}

void xw_channel_identity(const struct xw_channel *ch, struct xw_chan_offer *o)
{
    *o = (struct xw_chan_offer){ .domid = ch->creator ? ch->x->domid : ch->peer_domid,
                                 .intf_ref = ch->intf_ref,
                                 .port = ch->creator ? (uint32_t)ch->port : ch->peer_port,
                                 .ring_shift = ch->shift, .key = 0 };
}

void xw_channel_close(struct xw_channel *ch)
{
    if (ch)
        release(ch, false);
}

void xw_channel_close_quiet(struct xw_channel *ch)
{
    if (ch)
        release(ch, true);
}

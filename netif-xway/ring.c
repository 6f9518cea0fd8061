/* Pure logic of one one-way byte ring over mapped memory.  No I/O, no syscalls.
 *
 * Hostile-peer rules applied here: the peer's index is read once per decision
 * into a local and validated with unsigned arithmetic: it moves only forward,
 * from what we saw last to what our own index allows (so prod - cons <= size);
 * our own index comes from the private copy, never from shared memory, and the
 * owner checks before every wait that the shared copy of it is untouched; sizes
 * are private copies; every offset is masked.  A violation makes the ring
 * broken (-EPROTO, sticky) — callers reset the connection. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "barrier.h"
#include "ring.h"

_Static_assert(sizeof(struct xw_ring_ctl) == 128, "ctl is two cache lines");
_Static_assert(offsetof(struct xw_ring_ctl, cons) == 64, "cons starts the second line");
_Static_assert(sizeof(struct xw_intf) == XW_INTF_REF_OFFSET, "ref[] offset");

int xw_ring_init(struct xw_ring *r, struct xw_ring_ctl *ctl, void *data, uint32_t size)
{
    if (!ctl || !data || size < 2 || (size & (size - 1)))
        return -EINVAL;
    memset(r, 0, sizeof(*r));
    r->ctl = ctl;
    r->data = data;
    r->size = size;
    r->mask = size - 1;
    return 0;
}

static int fail(struct xw_ring *r, int err)
{
    if (!r->broken)
        r->broken = err;
    return err;
}

/* The owner's checks before a decision: the peer's index, read once, lies in
 * [seen, limit]; and whenever it has not moved since our last look (before
 * every wait), the shared copy of our own index is still the one we published.
 * While the peer moves, a forged copy of ours influences nothing (nobody here
 * reads it) and our next publication overwrites it; checking it only when the
 * peer is idle keeps the busy path as it was (measured: ~4% on a 1-byte round
 * trip when checked every time). */
static int check(struct xw_ring *r, const uint32_t *own, uint32_t peer, uint32_t limit)
{
    if (peer - r->seen > limit - r->seen)
        return fail(r, -EPROTO);
    if (peer == r->seen && xw_load_relaxed(own) != r->idx)
        return fail(r, -EPROTO);
    r->seen = peer;
    return 0;
}

long xw_ring_writable(struct xw_ring *r)
{
    uint32_t cons;

    if (r->broken)
        return r->broken;
    cons = xw_load_acquire(&r->ctl->cons);
    /* The consumer frees only what we produced: seen <= cons <= idx. */
    if (check(r, &r->ctl->prod, cons, r->idx))
        return r->broken;
    return (long)r->size - (long)(r->idx - cons);
}

long xw_ring_readable(struct xw_ring *r)
{
    uint32_t prod;

    if (r->broken)
        return r->broken;
    prod = xw_load_acquire(&r->ctl->prod);
    /* The producer fills at most the ring: seen <= prod <= idx + size. */
    if (check(r, &r->ctl->cons, prod, r->idx + r->size))
        return r->broken;
    return (long)(prod - r->idx);
}

/* Split [idx, idx+n) into at most two segments of the data area. */
static void segments(const struct xw_ring *r, uint32_t idx, uint32_t n, struct iovec iov[2])
{
    uint32_t off = idx & r->mask;
    uint32_t first = r->size - off;

    if (first > n)
        first = n;
    iov[0].iov_base = r->data + off;
    iov[0].iov_len = first;
    iov[1].iov_base = r->data;
    iov[1].iov_len = n - first;
}

void xw_ring_span(const struct xw_ring *r, uint32_t idx, uint32_t n, struct iovec iov[2])
{
    segments(r, idx, n <= r->size ? n : r->size, iov);
}

int xw_ring_reserve(struct xw_ring *r, struct iovec iov[2])
{
    long room = xw_ring_writable(r);

    if (room < 0)
        return (int)room;
    /* A consumer that went away (closed) will never free space. */
    if (room == 0 && xw_load_relaxed(&r->ctl->error))
        return fail(r, -EPIPE);
    segments(r, r->idx, (uint32_t)room, iov);
    r->reserved = (uint32_t)room;
    return (int)room;
}

int xw_ring_commit(struct xw_ring *r, uint32_t n)
{
    if (r->broken)
        return r->broken;
    if (n > r->reserved)
        return -EINVAL;
    r->reserved -= n;
    xw_store_relaxed(&r->idx, r->idx + n);
    /* The bytes written into the reserved space become visible before prod. */
    xw_store_release(&r->ctl->prod, r->idx);
    return 0;
}

int xw_ring_peek(struct xw_ring *r, struct iovec iov[2])
{
    long avail = xw_ring_readable(r);

    if (avail < 0)
        return (int)avail;
    segments(r, r->idx, (uint32_t)avail, iov);
    r->reserved = (uint32_t)avail;
    return (int)avail;
}

int xw_ring_release(struct xw_ring *r, uint32_t n)
{
    if (r->broken)
        return r->broken;
    if (n > r->reserved)
        return -EINVAL;
    r->reserved -= n;
    xw_store_relaxed(&r->idx, r->idx + n);
    /* Our reads of the released bytes complete before the producer may reuse
     * the space (release orders prior loads too). */
    xw_store_release(&r->ctl->cons, r->idx);
    return 0;
}

static void copy_to_iov(const struct iovec iov[2], const uint8_t *src, size_t n)
{
    size_t a = n < iov[0].iov_len ? n : iov[0].iov_len;

    memcpy(iov[0].iov_base, src, a);
    if (n > a)
        memcpy(iov[1].iov_base, src + a, n - a);
}

static void copy_from_iov(uint8_t *dst, const struct iovec iov[2], size_t n)
{
    size_t a = n < iov[0].iov_len ? n : iov[0].iov_len;

    memcpy(dst, iov[0].iov_base, a);
    if (n > a)
        memcpy(dst + a, iov[1].iov_base, n - a);
}

long xw_ring_write(struct xw_ring *r, const void *buf, size_t len)
{
    struct iovec iov[2];
    int room = xw_ring_reserve(r, iov);
    size_t n;

    if (room <= 0)
        return room;
    n = len < (size_t)room ? len : (size_t)room;
    copy_to_iov(iov, buf, n);
    xw_ring_commit(r, (uint32_t)n);
    return (long)n;
}

long xw_ring_read(struct xw_ring *r, void *buf, size_t len)
{
    struct iovec iov[2];
    int avail = xw_ring_peek(r, iov);
    size_t n;

    if (avail <= 0)
        return avail;
    n = len < (size_t)avail ? len : (size_t)avail;
    copy_from_iov(buf, iov, n);
    xw_ring_release(r, (uint32_t)n);
    return (long)n;
}

void xw_ring_set_eof(struct xw_ring *r)
{
    /* Everything committed (prod) is visible before eof. */
    xw_store_release(&r->ctl->eof, 1);
}

bool xw_ring_eof_sent(struct xw_ring *r)
{
    return xw_load_acquire(&r->ctl->eof) != 0;
}

bool xw_ring_at_eof(struct xw_ring *r)
{
    if (!xw_load_acquire(&r->ctl->eof))
        return false;
    /* eof was set after the final prod: one read of prod now decides. */
    return !xw_ring_poll_readable(r);
}

/* Other threads than the owner: the peer's published index against our
 * private one, which may be moving on the owner's thread (a relaxed read, a
 * hint checked by the owner's next call: an odd pair means "ready").  The
 * shared copy of our own index is never read here: the peer can write it. */
bool xw_ring_poll_readable(struct xw_ring *r)
{
    uint32_t prod = xw_load_acquire(&r->ctl->prod);

    return r->broken || prod != xw_load_relaxed(&r->idx);
}

bool xw_ring_poll_writable(struct xw_ring *r)
{
    uint32_t cons = xw_load_acquire(&r->ctl->cons);

    return r->broken || xw_load_relaxed(&r->idx) - cons != r->size;
}

void xw_ring_set_error(struct xw_ring *r, int err)
{
    xw_store_release(&r->ctl->error, (uint32_t)(err > 0 ? err : -err));
}

int xw_ring_peer_error(struct xw_ring *r)
{
    uint32_t e = xw_load_acquire(&r->ctl->error);

    if (!e)
        return 0;
    /* Only a small set of values is meaningful; anything else is a reset. */
    if (e == EPIPE || e == ECONNRESET)
        return -(int)e;
    return -ECONNRESET;
}

long xw_ring_arm_consumer(struct xw_ring *r)
{
    xw_store_release(&r->ctl->cons_wake, 1);
    xw_fence_full(); /* our flag is visible before we re-read prod */
    return xw_ring_poll_readable(r);
}

long xw_ring_arm_producer(struct xw_ring *r)
{
    xw_store_release(&r->ctl->prod_wake, 1);
    xw_fence_full(); /* our flag is visible before we re-read cons */
    return xw_ring_poll_writable(r);
}

bool xw_ring_producer_should_kick(struct xw_ring *r)
{
    xw_fence_full(); /* prod is visible before we read the consumer's flag */
    if (!xw_load_relaxed(&r->ctl->cons_wake))
        return false;
    return xw_exchange(&r->ctl->cons_wake, 0) != 0;
}

bool xw_ring_consumer_should_kick(struct xw_ring *r)
{
    xw_fence_full(); /* cons is visible before we read the producer's flag */
    if (!xw_load_relaxed(&r->ctl->prod_wake))
        return false;
    return xw_exchange(&r->ctl->prod_wake, 0) != 0;
}

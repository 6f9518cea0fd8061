/* Hostile peers in the Xen ring test: one side writes bad indices into the
 * shared pages; the other must report a broken channel with an error, not
 * crash, hang or hand out bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "barrier.h"
#include "ring.h"
#include "xwt_report.h"
#include "xwt_ring.h"

/* Give the victim one bad index, tell it to look, and report its verdict.
 * The order is forced through the store (not an event) so the victim sees the
 * bad index on its very next look, whatever its notification state. */
static void corrupt(struct xwt *t, const char *name, uint32_t *word, uint32_t value)
{
    uint32_t old = *(volatile uint32_t *)word;
    char key[64], val[16];
    int r;

    *(volatile uint32_t *)word = value;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    xwt_log("%s: index %u -> %u", name, old, value);
    xwt_put(t, name, "corrupted");
    snprintf(key, sizeof(key), "%s-verdict", name);
    r = xwt_get_wait(t, key, val, sizeof(val), WAIT_KEY_MS);
    xwt_check(r == 0 && strcmp(val, "broken") == 0, "%s: the victim says '%s'", name,
              r == 0 ? val : "?");
}

/* Victim side: after the peer corrupted our shared indices, the operation
 * must fail with an error quickly, return no bytes and leave the error sticky. */
static void expect_broken(struct xwt *t, const char *name, struct xw_channel *ch, bool as_receiver)
{
    static uint8_t buf[65536];
    char key[64], val[16];
    double t0;
    ssize_t n;

    if (xwt_get_wait(t, name, val, sizeof(val), WAIT_KEY_MS) < 0)
        return (void)xwt_check(false, "%s: the attacker never corrupted", name);
    t0 = xwt_now_s();
    n = as_receiver ? xw_channel_recv(ch, buf, sizeof(buf), 10000)
                    : xw_channel_send(ch, buf, sizeof(buf), 10000);
    xwt_check(n < 0 && n != -ETIMEDOUT && n != -EAGAIN,
              "%s: %s reports the broken ring: %zd (%s) after %.3f s", name,
              as_receiver ? "recv" : "send", n, n < 0 ? strerror((int)-n) : "bytes!",
              xwt_now_s() - t0);
    xwt_check(xw_channel_error(ch) < 0, "%s: error is sticky (%d)", name, xw_channel_error(ch));
    snprintf(key, sizeof(key), "%s-verdict", name);
    xwt_put(t, key, n < 0 ? "broken" : "accepted");
}

/* Case 1, hostile acceptor: the mapper maps the interface page a second time
 * and moves the producer index of the sharer's receive ring past its size. */
void xwt_hostile_acceptor(struct xwt *t)
{
    struct xw_channel *ch = NULL;
    struct xw_chan_offer o = { 0 };
    struct xw_intf *intf;
    void *addr = NULL;
    int r;

    r = t->sharer ? xwt_setup_create(t, "evil1", &ch) : xwt_setup_accept(t, "evil1", &ch, &o);
    if (r < 0)
        return;
    if (t->sharer) {
        expect_broken(t, "evil1-corrupt", ch, true);
    } else {
        r = xw_map(t->x, o.domid, 1, &o.intf_ref, 1, &addr);
        if (xwt_check(r == 0, "evil1: second mapping of the interface page (%d)", r)) {
            intf = addr;
            corrupt(t, "evil1-corrupt", &intf->in.prod,
                    xw_load_relaxed(&intf->in.cons) + (1u << o.ring_shift) + 4096);
        }
    }
    xwt_barrier(t, "evil1-done");
    if (addr)
        xw_unmap(t->x, addr, 1);
    xw_channel_close(ch);
}

/* Cases 2 and 3, hostile creator: the sharer builds the interface page by
 * hand (so it keeps the raw port and pages), the mapper accepts it for real. */
struct evil_pages {
    void *intf, *data;
    uint32_t ndata;
    int port;
};

static int evil_offer(struct xwt *t, const char *name, struct evil_pages *e,
                      struct xw_chan_offer *o)
{
    const uint32_t shift = 16;
    struct xw_intf *intf;
    uint32_t iref, refs[64];
    int r;

    e->ndata = xw_ring_data_pages(shift);
    r = xw_share(t->x, t->peer, 1, 1, &iref, &e->intf);
    if (r < 0)
        return r;
    r = xw_share(t->x, t->peer, e->ndata, 1, refs, &e->data);
    if (r < 0)
        return r;
    e->port = xw_evtchn_alloc_unbound(t->x, t->peer);
    if (e->port < 0)
        return e->port;
    intf = e->intf;
    intf->magic = XW_INTF_MAGIC;
    intf->version = XW_INTF_VERSION;
    intf->ring_shift = shift;
    intf->nrefs = e->ndata;
    intf->nonce = 0x0123456789abcdefull;
    intf->key = 0xfedcba9876543210ull;
    memcpy(intf->ref, refs, e->ndata * sizeof(refs[0]));
    *o = (struct xw_chan_offer){ .domid = t->x->domid, .intf_ref = iref,
                                 .port = (uint32_t)e->port, .ring_shift = shift,
                                 .key = intf->key };
    return xwt_publish_offer(t, name, o);
}

static void evil_release(struct xwt *t, struct evil_pages *e)
{
    if (e->port >= 0)
        xw_evtchn_unbind(t->x, (uint32_t)e->port);
    if (e->data)
        xw_unshare(t->x, e->data, e->ndata);
    if (e->intf)
        xw_unshare(t->x, e->intf, 1);
}

/* Case 3's attacker: while the victim sleeps in recv on an empty ring, storm
 * its event channel (each wake must find nothing and sleep again), then move
 * the producer index of its receive ring past the ring size and kick once. */
static void storm_then_corrupt(struct xwt *t, struct evil_pages *e, const char *name)
{
    struct xw_intf *intf = e->intf;
    char key[64], val[16];
    int i, bad = 0;

    snprintf(key, sizeof(key), "%s-waiting", name);
    if (xwt_get_wait(t, key, val, sizeof(val), WAIT_KEY_MS) < 0)
        return (void)xwt_check(false, "%s: the victim never started waiting", name);
    usleep(300000);
    for (i = 0; i < 20000; i++)
        bad += xw_evtchn_notify(t->x, (uint32_t)e->port) < 0;
    xwt_check(bad == 0, "%s: %d notifications sent (%d failed)", name, i, bad);
    usleep(300000);
    corrupt(t, name, &intf->out.prod, xw_load_relaxed(&intf->out.cons) + (1u << 16) + 1);
    xw_evtchn_notify(t->x, (uint32_t)e->port);
}

/* Case 3's victim: already blocked when the storm and the corruption come. */
static void expect_broken_blocked(struct xwt *t, const char *name, struct xw_channel *ch)
{
    static uint8_t buf[65536];
    char key[64];
    double t0 = xwt_now_s();
    ssize_t n;

    snprintf(key, sizeof(key), "%s-waiting", name);
    xwt_put(t, key, "1");
    n = xw_channel_recv(ch, buf, sizeof(buf), 30000);
    xwt_check(n < 0 && n != -ETIMEDOUT && n != -EAGAIN,
              "%s: blocked recv survives an event storm and reports the broken ring: %zd (%s) "
              "after %.3f s", name, n, n < 0 ? strerror((int)-n) : "bytes!", xwt_now_s() - t0);
    xwt_check(xw_channel_error(ch) < 0, "%s: error is sticky (%d)", name, xw_channel_error(ch));
    snprintf(key, sizeof(key), "%s-verdict", name);
    xwt_put(t, key, n < 0 && n != -ETIMEDOUT ? "broken" : "accepted");
}

/* Case 2 (blocked = false): the sharer moves the consumer index of the ring the
 * mapper produces into ahead of prod; the mapper's next send must fail.
 * Case 3 (blocked = true): see storm_then_corrupt. */
void xwt_hostile_creator(struct xwt *t, const char *name, bool blocked)
{
    struct evil_pages e = { .port = -1 };
    struct xw_channel *ch = NULL;
    struct xw_intf *intf;
    struct xw_chan_offer o = { 0 };
    char key[64], val[32], step[40];
    int r;

    snprintf(step, sizeof(step), "%s-corrupt", name); /* the attack's keys */

    snprintf(key, sizeof(key), "%s-nonce", name);
    if (t->sharer) {
        r = evil_offer(t, name, &e, &o);
        if (r < 0)
            xwt_put(t, name, "failed");
        if (xwt_check(r == 0, "%s: hand-made interface page offered (%d)", name, r)) {
            r = xwt_get_wait(t, key, val, sizeof(val), WAIT_KEY_MS);
            xwt_check(r == 0 && strtoull(val, NULL, 16) == 0x0123456789abcdefull,
                      "%s: acceptor read our nonce %s", name, r == 0 ? val : "?");
            intf = e.intf;
            if (blocked)
                storm_then_corrupt(t, &e, step);
            else
                corrupt(t, step, &intf->in.cons, xw_load_relaxed(&intf->in.prod) + 0x10000000u);
        }
    } else if (xwt_setup_accept(t, name, &ch, &o) == 0) {
        if (blocked)
            expect_broken_blocked(t, step, ch);
        else
            expect_broken(t, step, ch, false);
    }
    snprintf(key, sizeof(key), "%s-done", name);
    xwt_barrier(t, key);
    if (ch)
        xw_channel_close(ch);
    evil_release(t, &e);
}


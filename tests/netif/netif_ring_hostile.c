/* Hostile peer: corrupted interface header, indices and flags put the channel into a broken state (-EPROTO) — no crash, hang or out-of-bounds access (run under ASan too). */
#include <errno.h>
#include <string.h>

#include "channel.h"
#include "ring.h"
#include "testlib.h"
#include "xenif.h"

static struct xw_xenif *a, *b;
static struct xw_chan_params par = { .ring_bytes = 64 * 1024, .spin_us = 10 };

/* A creator on a, an acceptor on b; *intf = the creator's view of the page. */
static void pair(struct xw_channel **ca, struct xw_channel **cb, struct xw_intf **intf)
{
    struct xw_chan_offer off;
    uint64_t nonce;

    CHECK_EQ(xw_channel_create(a, b->domid, &par, ca, &off), 0);
    CHECK_EQ(xw_channel_accept(b, &off, &par, cb, &nonce), 0);
    CHECK_EQ(xw_channel_check_nonce(*ca, nonce), 0);
    CHECK_EQ(xw_channel_check_nonce(*ca, nonce + 1), -EACCES);
    /* Peek at the creator's page through a second mapping from b (b is the
     * grantee) — the "peer" that scribbles on shared memory. */
    CHECK_EQ(xw_map(b, a->domid, 1, &off.intf_ref, 1, (void **)intf), 0);
}

static void unpair(struct xw_channel *ca, struct xw_channel *cb, struct xw_intf *intf)
{
    xw_unmap(b, intf, 1);
    xw_channel_close(cb);
    xw_channel_close(ca);
}

typedef void (*corrupt_fn)(struct xw_intf *i);
static void bad_prod(struct xw_intf *i) { i->out.prod += 1u << 20; }      /* prod - cons > size */
static void bad_cons(struct xw_intf *i) { i->in.cons -= 1u << 20; }       /* cons ahead of prod */
static void neg_prod(struct xw_intf *i) { i->out.prod = i->out.cons - 1; } /* "negative" */
static void max_prod(struct xw_intf *i) { i->out.prod = 0xffffffffu; }
static void flags(struct xw_intf *i)
{
    i->in.cons_wake = i->in.prod_wake = i->out.eof = 0xdeadbeef;
    i->ring_shift = 31; /* geometry is never re-read */
    i->nrefs = 0xffffffff;
}

/* The acceptor b receives on "out" and sends on "in" (pvcalls roles). */
static void run(corrupt_fn f, int expect_broken)
{
    struct xw_channel *ca, *cb;
    struct xw_intf *intf;
    char buf[256] = "x";
    ssize_t r, s;

    pair(&ca, &cb, &intf);
    CHECK_EQ(xw_channel_send(ca, "hello", 5, 1000), 5);
    f(intf);
    r = xw_channel_recv(cb, buf, sizeof(buf), 200);
    s = xw_channel_send(cb, buf, sizeof(buf), 200);
    if (expect_broken) {
        CHECK(r == -EPROTO || s == -EPROTO);
        CHECK_EQ(xw_channel_error(cb), -EPROTO);
        /* Sticky: every later call fails fast, nothing touches the ring. */
        CHECK(xw_channel_recv(cb, buf, 1, 0) < 0);
        CHECK(xw_channel_send(cb, buf, 1, 0) < 0);
        /* The victim reset the connection: the creator sees it. */
        CHECK(xw_channel_recv(ca, buf, 1, 500) == -ECONNRESET);
    } else {
        CHECK(r == 5 || r == 0);
    }
    unpair(ca, cb, intf);
}

/* A bad interface page is refused at accept with -EPROTO. */
static void bad_header(void)
{
    struct xw_channel *ca, *cb;
    struct xw_chan_offer off;
    struct xw_intf *i;
    uint64_t nonce;
    int k;

    for (k = 0; k < 5; k++) {
        CHECK_EQ(xw_channel_create(a, b->domid, &par, &ca, &off), 0);
        CHECK_EQ(xw_map(b, a->domid, 1, &off.intf_ref, 1, (void **)&i), 0);
        if (k == 0) i->magic ^= 1;
        if (k == 1) i->version = 99;
        if (k == 2) i->ring_shift = 30;
        if (k == 3) i->nrefs = 5000;
        if (k == 4) i->flags = 0x80;
        CHECK_EQ(xw_channel_accept(b, &off, &par, &cb, &nonce), -EPROTO);
        xw_unmap(b, i, 1);
        xw_channel_close(ca);
    }
    /* A replayed offer (any key but the page's) is refused before the acceptor
     * binds the port or reads the nonce: the real offer still works after. */
    CHECK_EQ(xw_channel_create(a, b->domid, &par, &ca, &off), 0);
    for (k = 0; k < 64; k++) {
        struct xw_chan_offer forged = off;
        forged.key ^= 1ull << k;
        nonce = 0;
        CHECK_EQ(xw_channel_accept(b, &forged, &par, &cb, &nonce), -EKEYREJECTED);
        CHECK(nonce == 0);
    }
    CHECK_EQ(xw_channel_accept(b, &off, &par, &cb, &nonce), 0);
    CHECK_EQ(xw_channel_check_nonce(ca, nonce), 0);
    xw_channel_close(cb);
    xw_channel_close(ca);
    CHECK_EQ(xw_channel_create(a, b->domid, &par, &ca, &off), 0);
    off.ring_shift = 40;
    CHECK_EQ(xw_channel_accept(b, &off, &par, &cb, &nonce), -EPROTO);
    off.ring_shift = 16;
    off.intf_ref = 1000;
    CHECK(xw_channel_accept(b, &off, &par, &cb, &nonce) < 0);
    xw_channel_close(ca);
}

int main(void)
{
    const char *host = xw_sim_host();

    CHECK_EQ(xw_xenif_open_sim(host, -1, &a), 0);
    CHECK_EQ(xw_xenif_open_sim(host, -1, &b), 0);
    bad_header();
    run(bad_prod, 1);
    run(bad_cons, 1);
    run(neg_prod, 1);
    run(max_prod, 1);
    run(flags, 0); /* garbage flags/geometry cost at most spurious kicks */
    xw_xenif_close(a);
    xw_xenif_close(b);
    printf("hostile peer: ok\n");
    return 0;
}

/* The channel's resource bounds, without the stack (issue 11 item 10): a
 * share limit (what gntalloc's limit is on real Xen) refuses a ring before
 * sharing anything and frees its pages on close; the acceptor's per-peer cap
 * and its largest ring refuse an offer before mapping anything; out of fds or
 * grants, creating and mapping fail cleanly, and every one of these errors is
 * the handshake's reason "resources". */
#include "budget.h"
#include "channel.h"
#include "handshake.h"
#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#define RING (64u * 1024u) /* 33 pages with the interface page */

static struct xw_chan_params par = { .ring_bytes = RING, .spin_us = 0 };

static void share_limit(struct xw_xenif *a, struct xw_xenif *b)
{
    struct xw_channel *ch[4];
    struct xw_chan_offer off;

    xw_budget_set_share_limit(3 * 33);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(xw_channel_create(a, b->domid, &par, &ch[i], &off), 0);
    CHECK_EQ(xw_channel_create(a, b->domid, &par, &ch[3], &off), -ENOSPC);
    xw_channel_close(ch[1]);
    CHECK_EQ(xw_channel_create(a, b->domid, &par, &ch[1], &off), 0);
    for (int i = 0; i < 3; i++)
        xw_channel_close(ch[i]);
    /* A bigger ring than the limit allows, alone: refused, nothing kept. */
    struct xw_chan_params big = { .ring_bytes = 4u << 20, .spin_us = 0 };
    CHECK_EQ(xw_channel_create(a, b->domid, &big, &ch[0], &off), -ENOSPC);
    CHECK_EQ(xw_channel_create(a, b->domid, &par, &ch[0], &off), 0);
    xw_channel_close(ch[0]);
    xw_budget_set_share_limit(0);
}

static void peer_cap(struct xw_xenif *a, struct xw_xenif *b)
{
    struct xw_channel *cr[4], *ac[4];
    struct xw_chan_offer off[4];
    struct xw_chan_params acc = { .ring_bytes = RING, .spin_us = 0, .peer_rings = 2 };
    uint64_t nonce;

    for (int i = 0; i < 4; i++)
        CHECK_EQ(xw_channel_create(a, b->domid, &par, &cr[i], &off[i]), 0);
    CHECK_EQ(xw_channel_accept(b, &off[0], &acc, &ac[0], &nonce), 0);
    CHECK_EQ(xw_channel_accept(b, &off[1], &acc, &ac[1], &nonce), 0);
    CHECK_EQ(xw_budget_mapped(a->domid), 2);
    CHECK_EQ(xw_channel_accept(b, &off[2], &acc, &ac[2], &nonce), -ENOSPC);
    CHECK_EQ(xw_budget_mapped(a->domid), 2);
    xw_channel_close(ac[0]);
    CHECK_EQ(xw_budget_mapped(a->domid), 1);
    CHECK_EQ(xw_channel_accept(b, &off[2], &acc, &ac[2], &nonce), 0);
    CHECK_EQ(xw_channel_check_nonce(cr[2], nonce), 0);
    /* Another peer domain has its own count. */
    CHECK_EQ(xw_budget_mapped(b->domid), 0);
    xw_channel_close(ac[1]);
    xw_channel_close(ac[2]);
    CHECK_EQ(xw_budget_mapped(a->domid), 0);
    for (int i = 0; i < 4; i++)
        xw_channel_close(cr[i]);
}

static void largest_ring(struct xw_xenif *a, struct xw_xenif *b)
{
    struct xw_chan_params big = { .ring_bytes = 4u << 20, .spin_us = 0 };
    struct xw_chan_params acc = { .ring_bytes = RING, .spin_us = 0 };
    struct xw_chan_params any = { .ring_bytes = 0, .spin_us = 0 };
    struct xw_channel *cr, *ac;
    struct xw_chan_offer off;
    uint64_t nonce;

    CHECK_EQ(xw_channel_create(a, b->domid, &big, &cr, &off), 0);
    CHECK_EQ(xw_channel_accept(b, &off, &acc, &ac, &nonce), -EMSGSIZE);
    CHECK_EQ(xw_budget_mapped(a->domid), 0);
    CHECK_EQ(xw_channel_accept(b, &off, &any, &ac, &nonce), 0); /* 0: any size */
    CHECK_EQ(xw_channel_ring_bytes(ac), 4u << 20);
    xw_channel_close(ac);
    xw_channel_close(cr);
}

/* With every fd number taken: -EMFILE/-ENOMEM, nothing held, and it all
 * works again once fds are free. */
static void fds_exhausted(struct xw_xenif *a, struct xw_xenif *b)
{
    struct rlimit old, low;
    struct xw_channel *cr, *ac, *cr2;
    struct xw_chan_offer off, off2;
    int fill[256], n = 0, rc;
    uint64_t nonce;

    CHECK_EQ(xw_channel_create(a, b->domid, &par, &cr, &off), 0);
    CHECK_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 256;
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    while (n < 256 && (fill[n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        n++;
    CHECK_EQ(errno, EMFILE);
    rc = xw_channel_accept(b, &off, &par, &ac, &nonce);
    printf("out of fds: accept %d, ", rc);
    CHECK(rc < 0);
    CHECK_EQ(xw_hs_reason_of(rc, false), XW_REASON_RESOURCES);
    CHECK_EQ(xw_budget_mapped(a->domid), 0);
    rc = xw_channel_create(a, b->domid, &par, &cr2, &off2);
    printf("create %d\n", rc);
    CHECK(rc < 0);
    CHECK_EQ(xw_hs_reason_of(rc, true), XW_REASON_RESOURCES);
    while (n > 0)
        close(fill[--n]);
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
    CHECK_EQ(xw_channel_accept(b, &off, &par, &ac, &nonce), 0);
    CHECK_EQ(xw_channel_check_nonce(cr, nonce), 0);
    xw_channel_close(ac);
    xw_channel_close(cr);
}

/* The sim's grant table (what gntalloc's limit is on Xen) runs out after 31
 * rings of 4 MiB: -ENOSPC, the reason resources, and freed on close. */
static void grants_exhausted(struct xw_xenif *a, struct xw_xenif *b)
{
    struct xw_chan_params big = { .ring_bytes = 4u << 20, .spin_us = 0 };
    struct xw_channel *ch[64];
    struct xw_chan_offer off;
    int n = 0, rc;

    while (n < 64 && (rc = xw_channel_create(a, b->domid, &big, &ch[n], &off)) == 0)
        n++;
    printf("grants: %d rings of 4 MiB, then %d\n", n, rc);
    CHECK(n >= 16 && n < 64);
    CHECK_EQ(rc, -ENOSPC);
    CHECK_EQ(xw_hs_reason_of(rc, true), XW_REASON_RESOURCES);
    while (n > 0)
        xw_channel_close(ch[--n]);
    CHECK_EQ(xw_channel_create(a, b->domid, &big, &ch[0], &off), 0);
    xw_channel_close(ch[0]);
}

int main(void)
{
    const char *host = xw_sim_host();
    struct xw_xenif *a, *b;

    CHECK_EQ(xw_xenif_open_sim(host, -1, &a), 0);
    CHECK_EQ(xw_xenif_open_sim(host, -1, &b), 0);
    share_limit(a, b);
    peer_cap(a, b);
    largest_ring(a, b);
    fds_exhausted(a, b);
    grants_exhausted(a, b);
    xw_xenif_close(a);
    xw_xenif_close(b);
    printf("budget: PASS\n");
    return 0;
}

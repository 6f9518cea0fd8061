/* Sim grants and ports: only the grantee maps (third domain refused), read-only enforced, revoked/never-shared refs refused, exhaustion is -ENOSPC, domid conflicts refused. */
#include <errno.h>
#include <string.h>

#include "testlib.h"
#include "xenif.h"

int main(void)
{
    struct xw_xenif *a, *b, *c, *dup;
    const char *host = xw_sim_host();
    uint32_t refs[4], bad = 0;
    uint8_t *pa, *pb;
    void *m;
    int pa_port, pb_port, n, ports[XW_SIM_MAX_PORTS];

    CHECK_EQ(xw_xenif_open_sim(host, 7, &a), 0);
    CHECK_EQ(a->domid, 7);
    CHECK_EQ(xw_xenif_open_sim(host, 7, &dup), -EADDRINUSE);
    CHECK_EQ(xw_xenif_open_sim(host, -1, &b), 0);
    CHECK_EQ(xw_xenif_open_sim(host, -1, &c), 0);
    CHECK(b->domid != a->domid && c->domid != b->domid && c->domid != a->domid);
    CHECK(!strcmp(a->host_token, b->host_token));

    CHECK_EQ(xw_share(a, b->domid, 4, 1, refs, (void **)&pa), 0);
    memset(pa, 0x5a, 4 * XW_PAGE_SIZE);
    CHECK_EQ(xw_map(c, a->domid, 4, refs, 1, &m), -EPERM); /* third domain */
    CHECK_EQ(xw_map(c, a->domid, 1, refs, 0, &m), -EPERM);
    CHECK_EQ(xw_map(b, a->domid, 4, refs, 1, (void **)&pb), 0);
    CHECK_EQ(pb[3 * XW_PAGE_SIZE + 5], 0x5a);
    pb[0] = 1; /* same memory */
    CHECK_EQ(pa[0], 1);
    CHECK_EQ(xw_map(b, a->domid, 1, &bad, 1, &m), -EINVAL);
    bad = 60000;
    CHECK_EQ(xw_map(b, a->domid, 1, &bad, 1, &m), -ENOENT); /* never shared */
    CHECK_EQ(xw_unshare(a, pa, 4), 0);
    CHECK_EQ(xw_map(b, a->domid, 4, refs, 1, &m), -ENOENT); /* revoked */
    CHECK_EQ(pb[0], 1); /* an existing mapping stays valid until unmapped */
    CHECK_EQ(xw_unmap(b, pb, 4), 0);

    /* Read-only grants. */
    CHECK_EQ(xw_share(a, b->domid, 1, 0, refs, (void **)&pa), 0);
    CHECK_EQ(xw_map(b, a->domid, 1, refs, 1, &m), -EPERM);
    CHECK_EQ(xw_map(b, a->domid, 1, refs, 0, &m), 0);
    CHECK_EQ(xw_unmap(b, m, 1), 0);
    CHECK_EQ(xw_unshare(a, pa, 1), 0);
    CHECK_EQ(xw_unshare(a, pa, 1), -EINVAL);

    /* Event channels: only the named domain may bind; notify is delivered. */
    pa_port = xw_evtchn_alloc_unbound(a, b->domid);
    CHECK(pa_port > 0);
    CHECK_EQ(xw_evtchn_bind(c, a->domid, (uint32_t)pa_port), -EINVAL);
    pb_port = xw_evtchn_bind(b, a->domid, (uint32_t)pa_port);
    CHECK(pb_port > 0);
    CHECK_EQ(xw_evtchn_bind(b, a->domid, (uint32_t)pa_port), -EINVAL); /* bound already */
    CHECK_EQ(xw_evtchn_pending(b), -EAGAIN);
    CHECK_EQ(xw_evtchn_notify(a, (uint32_t)pa_port), 0);
    CHECK_EQ(xw_evtchn_notify(a, (uint32_t)pa_port), 0); /* coalesced */
    CHECK_EQ(xw_evtchn_pending(b), pb_port);
    CHECK_EQ(xw_evtchn_pending(b), -EAGAIN);
    /* Delivered, the port stays masked (as in Xen): a notify meanwhile is held
     * until the unmask, which raises it again. */
    CHECK_EQ(xw_evtchn_notify(a, (uint32_t)pa_port), 0);
    CHECK_EQ(xw_evtchn_pending(b), -EAGAIN);
    CHECK_EQ(xw_evtchn_unmask(b, (uint32_t)pb_port), 0);
    CHECK_EQ(xw_evtchn_pending(b), pb_port);
    CHECK_EQ(xw_evtchn_unmask(b, (uint32_t)pb_port), 0);
    CHECK_EQ(xw_evtchn_pending(b), -EAGAIN);
    CHECK_EQ(xw_evtchn_peer_alive(b, (uint32_t)pb_port), 1);
    CHECK_EQ(xw_evtchn_unbind(a, (uint32_t)pa_port), 0);
    CHECK_EQ(xw_evtchn_peer_alive(b, (uint32_t)pb_port), 0);
    CHECK_EQ(xw_evtchn_unbind(b, (uint32_t)pb_port), 0);
    CHECK_EQ(xw_evtchn_notify(b, (uint32_t)pb_port), -EINVAL);

    /* Port exhaustion: an error the caller can act on. */
    for (n = 0; n < XW_SIM_MAX_PORTS; n++) {
        ports[n] = xw_evtchn_alloc_unbound(a, b->domid);
        if (ports[n] < 0)
            break;
    }
    CHECK_EQ(ports[n], -ENOSPC);
    CHECK_EQ(n, XW_SIM_MAX_PORTS - 1);
    while (n--)
        CHECK_EQ(xw_evtchn_unbind(a, (uint32_t)ports[n]), 0);
    /* Grant exhaustion: -ENOSPC, then usable again after unshare. */
    {
        static uint32_t big[4096];
        void *g[64];
        int k = 0, err;

        while ((err = xw_share(a, b->domid, 4096, 1, big, &g[k])) == 0)
            k++;
        CHECK_EQ(err, -ENOSPC);
        CHECK(k >= XW_SIM_MAX_GREFS / 4096 - 1);
        while (k--)
            CHECK_EQ(xw_unshare(a, g[k], 4096), 0);
        CHECK_EQ(xw_share(a, b->domid, 4096, 1, big, &g[0]), 0);
        CHECK_EQ(xw_unshare(a, g[0], 4096), 0);
    }

    /* Key store. */
    {
        char buf[64];

        CHECK_EQ(a->ops->store_watch(b, "xway/test"), 0);
        CHECK_EQ(a->ops->store_write(a, "xway/test/k", "hello"), 0);
        CHECK_EQ(a->ops->store_read(c, "xway/test/k", buf, sizeof(buf)), 5);
        CHECK(!strcmp(buf, "hello"));
        CHECK_EQ(b->ops->store_read_watch(b, buf, sizeof(buf)), 11);
        CHECK(!strcmp(buf, "xway/test/k"));
        CHECK_EQ(a->ops->store_read(a, "nope", buf, sizeof(buf)), -ENOENT);
    }

    /* A closed domain is gone: binding to it is refused. */
    pa_port = xw_evtchn_alloc_unbound(c, b->domid);
    CHECK(pa_port > 0);
    n = (int)c->domid;
    xw_xenif_close(c);
    CHECK_EQ(xw_domain_alive(a, (uint32_t)n), 0);
    CHECK_EQ(xw_evtchn_bind(b, (uint32_t)n, (uint32_t)pa_port), -ESRCH);
    xw_xenif_close(a);
    xw_xenif_close(b);
    printf("access control: ok\n");
    return 0;
}

/* The ring connections' event routes (ring_routes.h).
 *
 * Event storms (Xen's XSA-391; Linux's "lateeoi" answer): a port, once
 * delivered, stays masked until we unmask it, and notifies to a masked port
 * cost us nothing.  An event whose route found nothing new is spurious; after
 * SPURIOUS_FREE of them in a row the port stays masked for 1, 2, 4 ... up to
 * DELAY_MAX_MS milliseconds before the next event is taken, and one event with
 * news unmasks it at once again.  So a peer that kicks in a tight loop costs at
 * most a few events per DELAY_MAX_MS; an honest peer notifies only after
 * publishing something, and its waiters re-check at least every slice anyway.
 */
#include "ring_routes.h"

#include <errno.h>
#include <string.h>

#include "xway_port.h"

#define SPURIOUS_FREE 8      /* spurious events in a row before a port waits */
#define DELAY_MAX_MS 100     /* a storming port's longest mask; its pending event
                                is delivered when it is unmasked */
#define BATCH 4096           /* events taken per dispatch */

struct route {
    bool (*fn)(void *arg);
    void *arg;
    unsigned spurious;  /* events in a row that brought nothing new */
    uint64_t unmask_at; /* ms: masked until then (in rt.delayed); 0: not */
};

static struct {
    struct xw_xenif *x;
    struct route *ports; /* local port -> what to call */
    unsigned max_ports;
    int *delayed;        /* ports kept masked, unmasked at their unmask_at */
    size_t ndelayed, cap;
    bool listing;        /* keep live: the routed ports */
    int *live;
    size_t nlive, livecap;
} rt;

static uint64_t now_ms(void)
{
    return xway_port_now_us() / 1000u;
}

struct xw_xenif *xw_rev_xenif(void)
{
    return rt.x;
}

/* Grow an int array to hold one more (its capacity doubled): 0 or -ENOMEM. */
static int grow(int **a, size_t *cap, size_t first)
{
    size_t n = *cap ? 2 * *cap : first;
    int *b = xway_port_malloc(n * sizeof(*b));

    if (!b)
        return -ENOMEM;
    if (*cap)
        memcpy(b, *a, *cap * sizeof(*b));
    xway_port_free(*a);
    *a = b;
    *cap = n;
    return 0;
}

/* Take port off the delayed list (it stays masked: the caller unmasks or
 * unbinds it). */
static void undelay(int port)
{
    for (size_t i = 0; i < rt.ndelayed; i++)
        if (rt.delayed[i] == port) {
            rt.delayed[i] = rt.delayed[--rt.ndelayed];
            break;
        }
    rt.ports[port].unmask_at = 0;
}

int xw_rev_attach(int port, bool (*fn)(void *arg), void *arg)
{
    if (!rt.ports || port < 0 || (unsigned)port >= rt.max_ports || rt.ports[port].fn)
        return -EINVAL;
    if (rt.ports[port].unmask_at) { /* a former owner's storm: forgotten */
        undelay(port);
        xw_evtchn_unmask(rt.x, (uint32_t)port);
    }
    if (rt.listing && rt.nlive == rt.livecap && grow(&rt.live, &rt.livecap, 16) < 0)
        return -ENOMEM;
    if (rt.listing)
        rt.live[rt.nlive++] = port;
    rt.ports[port] = (struct route){ fn, arg, 0, 0 };
    return 0;
}

void xw_rev_detach(int port, void *arg)
{
    if (rt.ports && port >= 0 && (unsigned)port < rt.max_ports && rt.ports[port].arg == arg) {
        rt.ports[port].fn = NULL;
        rt.ports[port].arg = NULL;
        for (size_t i = 0; i < rt.nlive; i++)
            if (rt.live[i] == port) {
                rt.live[i] = rt.live[--rt.nlive];
                break;
            }
    }
}

/* After port's event: unmask it now, or keep it masked for a while when it has
 * brought nothing new too often in a row (without memory for the list: now). */
static void finish(int port, bool news, uint64_t now)
{
    struct route *r = &rt.ports[port];
    unsigned extra, delay;

    r->spurious = news ? 0 : r->spurious + (r->spurious < 64);
    if (r->spurious <= SPURIOUS_FREE) {
        xw_evtchn_unmask(rt.x, (uint32_t)port);
        return;
    }
    if (!r->unmask_at && rt.ndelayed == rt.cap && grow(&rt.delayed, &rt.cap, 64) < 0) {
        xw_evtchn_unmask(rt.x, (uint32_t)port);
        return;
    }
    if (!r->unmask_at) /* (a port unbound and bound again may still be listed) */
        rt.delayed[rt.ndelayed++] = port;
    extra = r->spurious - SPURIOUS_FREE - 1;
    delay = extra < 7 ? 1u << extra : DELAY_MAX_MS;
    r->unmask_at = now + (delay < DELAY_MAX_MS ? delay : DELAY_MAX_MS);
}

/* Unmask the delayed ports that are due; the milliseconds until the next one,
 * or -1 when none waits. */
static int unmask_due(uint64_t now)
{
    uint64_t next = UINT64_MAX;

    for (size_t i = 0; i < rt.ndelayed;) {
        int port = rt.delayed[i];
        if (rt.ports[port].unmask_at <= now) {
            undelay(port);
            xw_evtchn_unmask(rt.x, (uint32_t)port);
            continue;
        }
        if (rt.ports[port].unmask_at < next)
            next = rt.ports[port].unmask_at;
        i++;
    }
    return next == UINT64_MAX ? -1 : (int)(next - now);
}

int xw_rev_routes_dispatch(void)
{
    uint64_t now = now_ms();
    int port, n = 0, timeout;

    if (!rt.x || !rt.ports)
        return -1;
    timeout = unmask_due(now);
    while (n++ < BATCH && (port = xw_evtchn_pending(rt.x)) >= 0) {
        struct route *r = (unsigned)port < rt.max_ports ? &rt.ports[port] : NULL;
        if (!r) {
            xw_evtchn_unmask(rt.x, (uint32_t)port);
            continue;
        }
        finish(port, r->fn ? r->fn(r->arg) : false, now);
        if (r->unmask_at && (timeout < 0 || r->unmask_at - now < (uint64_t)timeout))
            timeout = (int)(r->unmask_at - now);
    }
    return timeout;
}

void xw_rev_routes_run_all(void)
{
    for (size_t i = 0; i < rt.nlive; i++) {
        struct route *r = &rt.ports[rt.live[i]];
        if (r->fn)
            r->fn(r->arg);
    }
}

int xw_rev_routes_open(struct xw_xenif *x, unsigned max_ports, bool listing)
{
    rt.ports = xway_port_calloc(max_ports, sizeof(*rt.ports));
    if (!rt.ports)
        return -ENOMEM;
    rt.x = x;
    rt.max_ports = max_ports;
    rt.listing = listing;
    return 0;
}

void xw_rev_routes_close(void)
{
    xway_port_free(rt.ports);
    xway_port_free(rt.delayed);
    xway_port_free(rt.live);
    memset(&rt, 0, sizeof(rt));
}

void xw_rev_routes_rehandle(struct xw_xenif *x)
{
    rt.x = x;
    if (rt.ports)
        memset(rt.ports, 0, rt.max_ports * sizeof(*rt.ports));
    rt.ndelayed = rt.nlive = 0;
}

void xw_rev_routes_forget(void *kept[3])
{
    kept[0] = rt.ports;
    kept[1] = rt.delayed;
    kept[2] = rt.live;
    memset(&rt, 0, sizeof(rt));
}

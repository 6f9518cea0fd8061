/* lwIP's system functions for NO_SYS=1, its random numbers and its IPv6
 * default gateway, over the port interface (core). */
#include "lwip/ip6_addr.h"
#include "lwip/memp.h"
#include "lwip/netif.h"
#include "lwip/sys.h"
#include "lwip/timeouts.h"
#include "xw_lwip_hooks.h"
#include "xway_port.h"

static const ip6_addr_t *gw6;

void xw_lwip_set_gw6(const ip6_addr_t *gw)
{
    gw6 = gw;
}

const ip6_addr_t *xw_hook_nd6_gw(struct netif *netif, const ip6_addr_t *dest)
{
    (void)netif;
    (void)dest;
    return gw6;
}

u32_t sys_now(void)
{
    return (u32_t)(xway_port_now_us() / 1000u);
}

u32_t xw_lwip_rand(void)
{
    u32_t v = 0;

    /* (At boot, before the pool is ready: not secret, but not repeated.) */
    if (xway_port_random(&v, sizeof(v)) < 0)
        v = (u32_t)xway_port_now_us() ^ (u32_t)(uintptr_t)&v;
    return v;
}

void xw_lwip_forget_timeouts(void)
{
    struct sys_timeo **p = sys_timeouts_get_next_timeout();

    /* lwIP's own cyclic timers and the modules' (no argument) go on; the
     * others name an object of the parent's (a socket, a pending SYN). */
    while (*p) {
        struct sys_timeo *t = *p;
        if (t->h == lwip_cyclic_timer || !t->arg) {
            p = &t->next;
            continue;
        }
        *p = t->next;
        memp_free(MEMP_SYS_TIMEOUT, t);
    }
}

/* A link's addresses and routes from the configuration (XWAY_ADDR, XWAY_GW). */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "link.h"
#include "lwip/netif.h"
#include "xw_lwip_hooks.h"

static ip6_addr_t gw6; /* (lwIP's IPv6 route hook reads it: lwip_sys.c) */

static void to_lwip4(const struct in_addr *a, ip4_addr_t *out)
{
    ip4_addr_set_u32(out, a->s_addr);
}

static void prefix_to_mask(unsigned prefix, ip4_addr_t *mask)
{
    uint32_t m = prefix ? htonl(~0u << (32 - prefix)) : 0;
    ip4_addr_set_u32(mask, m);
}

static void to_lwip6(const struct in6_addr *a, ip6_addr_t *out)
{
    memcpy(out->addr, a->s6_addr, 16);
    ip6_addr_clear_zone(out);
}

int xw_link_configure(struct netif *nif, const struct xw_config *c)
{
    for (int i = 0; i < c->n_addrs; i++) {
        const struct xw_cidr *a = &c->addrs[i];
        if (a->family == AF_INET) {
            ip4_addr_t ip, mask, gw;
            to_lwip4(&a->addr.v4, &ip);
            prefix_to_mask(a->prefix, &mask);
            ip4_addr_set_zero(&gw);
            if (c->has_gw4)
                to_lwip4(&c->gw4, &gw);
            netif_set_addr(nif, &ip, &mask, &gw);
        } else {
            ip6_addr_t ip6;
            s8_t idx;
            to_lwip6(&a->addr.v6, &ip6);
            if (netif_add_ip6_address(nif, &ip6, &idx) != ERR_OK)
                return -ENOSPC;
            netif_ip6_addr_set_state(nif, idx, IP6_ADDR_PREFERRED);
        }
    }
    if (c->has_gw6)
        to_lwip6(&c->gw6, &gw6);
    xw_lwip_set_gw6(c->has_gw6 ? &gw6 : NULL);
    netif_set_default(nif);
    return 0;
}

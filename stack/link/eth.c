/* Ethernet plumbing shared by the hub and TAP links. */
#include "eth.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "lwip/pbuf.h"
#include "netif/ethernet.h"

#if defined(__SANITIZE_ADDRESS__)
#define XW_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XW_ASAN 1
#endif
#endif
#ifdef XW_ASAN
#include <sanitizer/asan_interface.h>
#endif

void xw_link_eth_random_mac(uint8_t mac[6])
{
    if (getrandom(mac, 6, 0) != 6) {
        uint32_t a = xw_lwip_rand(), b = xw_lwip_rand();
        memcpy(mac, &a, 4);
        memcpy(mac + 4, &b, 2);
    }
    mac[0] = (uint8_t)((mac[0] & 0xfc) | 0x02); /* unicast, locally administered */
}

unsigned xw_link_eth_mtu(unsigned mtu)
{
    return mtu > XW_LINK_MTU_MAX ? XW_LINK_MTU_MAX : mtu;
}

int xw_link_eth_add(struct xw_link *l, netif_init_fn init)
{
    struct netif *n = &l->netif;

    if (!netif_add_noaddr(n, l, init, ethernet_input))
        return -EINVAL;
    n->output = etharp_output;
    n->output_ip6 = ethip6_output;
    n->hwaddr_len = ETH_HWADDR_LEN;
    n->flags |= NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET |
                NETIF_FLAG_IGMP | NETIF_FLAG_MLD6;
    n->mtu6 = n->mtu;
    netif_create_ip6_linklocal_address(n, 1);
    netif_set_up(n);
    netif_set_link_up(n);
    return 0;
}

void xw_link_rx_reuse(void *p, size_t n)
{
#ifdef XW_ASAN
    ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
    (void)p;
    (void)n;
#endif
}

struct pbuf *xw_link_rx_alloc(const struct netif *netif)
{
    return pbuf_alloc(PBUF_RAW, (u16_t)(netif->mtu + XW_ETH_HLEN), PBUF_RAM);
}

/* Under AddressSanitizer, the bytes of q's buffer (allocated for alloc bytes,
 * which lwIP rounds up to 8) after the frame's len are made unreadable: a read
 * past a received frame is then reported, not silent.  (lwIP 2.1.3's TCP
 * option walker did that; lwIP never writes there.) */
static void poison_tail(struct pbuf *q, size_t len, size_t alloc)
{
#ifdef XW_ASAN
    size_t end = LWIP_MEM_ALIGN_SIZE(alloc);

    if (end > len)
        ASAN_POISON_MEMORY_REGION((char *)q->payload + len, end - len);
#endif
}

int xw_link_rx_deliver(struct netif *netif, struct pbuf *p, size_t len)
{
    return xw_link_rx_deliver_copybreak(netif, p, len, XW_LINK_RX_COPYBREAK);
}

int xw_link_rx_deliver_copybreak(struct netif *netif, struct pbuf *p, size_t len,
                                 size_t copybreak)
{
    struct pbuf *q = p;

    if (len < XW_ETH_HLEN || len > p->len)
        return 0;
    if (len <= copybreak) {
        q = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
        if (!q)
            return 0;
        memcpy(q->payload, p->payload, len);
        poison_tail(q, len, len);
    } else {
        poison_tail(q, len, p->len); /* p->len: the whole buffer (xw_link_rx_alloc) */
        pbuf_realloc(q, (u16_t)len);
    }
    if (netif->input(q, netif) != ERR_OK)
        pbuf_free(q);
    return q == p;
}

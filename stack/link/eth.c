/* Ethernet plumbing shared by the hub and TAP links. */
#include "eth.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "lwip/nd6.h"
#include "lwip/netif.h"
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

static struct netif *parents_netifs; /* (kept reachable: see eth.h) */

void xw_link_eth_forget(void)
{
    struct netif *n = netif_list, *next, *loop = NULL;

    for (; n; n = next) {
        next = n->next;
        if (n->name[0] == 'l' && n->name[1] == 'o') {
            loop = n;
            continue;
        }
        /* (their entries freed, nothing sent; the parent's queued packets
         * go with them) */
        etharp_cleanup_netif(n);
#if LWIP_IPV6
        nd6_cleanup_netif(n);
#endif
        n->next = parents_netifs;
        parents_netifs = n;
    }
    netif_list = loop;
    if (loop)
        loop->next = NULL;
    netif_default = NULL;
}

/* A receive buffer used again: readable again under AddressSanitizer (a
 * delivery poisons the bytes past its frame). */
static void rx_reuse(void *p, size_t n)
{
#ifdef XW_ASAN
    ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
    (void)p;
    (void)n;
#endif
}

/* Receive buffers of a whole 64 KiB frame (a hub's default MTU, a TAP with the
 * offloads) go to a pool when lwIP and the sockets let go of them, not back to
 * malloc, which would hand their pages back to the kernel and fault them in
 * again (a quarter of a receiver's time at full speed).  One pool for the
 * process: a buffer may outlive its link in a socket's queue, and be let go by
 * any thread.  It keeps at most 128 (8 MiB), as many as were in use at once:
 * 16 TCP-path connections over the hub did 2.95 GB/s with 128 kept, 2.6 with
 * 64, 2.3 with 32 and 2.1 with none (medians of 4). */
#define RXPOOL_MAX 128
struct rxbuf {
    struct pbuf_custom pc; /* first: lwIP's free function gets its pbuf */
    struct rxbuf *next;
    uint8_t data[XW_LINK_RX_POOLED];
};
static atomic_flag rxpool_lock = ATOMIC_FLAG_INIT; /* (no pthreads: the reference port) */
static struct rxbuf *rxpool;
static unsigned rxpool_n;

static void rxpool_take(void)
{
    while (atomic_flag_test_and_set_explicit(&rxpool_lock, memory_order_acquire))
        sched_yield(); /* (held for a few instructions: its holder was preempted) */
}

static void rxpool_give(void)
{
    atomic_flag_clear_explicit(&rxpool_lock, memory_order_release);
}

static void rxbuf_free(struct pbuf *p)
{
    struct rxbuf *b = (struct rxbuf *)(void *)p;

    rxpool_take();
    if (rxpool_n < RXPOOL_MAX) {
        b->next = rxpool;
        rxpool = b;
        rxpool_n++;
        b = NULL;
    }
    rxpool_give();
    free(b);
}

void xw_link_rx_pool_forget(void)
{
    rxpool = NULL; /* (the parent's: left as they are, untouched here) */
    rxpool_n = 0;
    atomic_flag_clear(&rxpool_lock);
}

struct pbuf *xw_link_rx_pooled(size_t len)
{
    struct rxbuf *b;

    if (len > XW_LINK_RX_POOLED)
        return NULL;
    rxpool_take();
    if ((b = rxpool) != NULL) {
        rxpool = b->next;
        rxpool_n--;
    }
    rxpool_give();
    if (!b && !(b = malloc(sizeof(*b))))
        return NULL;
    rx_reuse(b->data, sizeof(*b) - offsetof(struct rxbuf, data)); /* (and its padding) */
    b->pc.custom_free_function = rxbuf_free;
    return pbuf_alloced_custom(PBUF_RAW, (u16_t)len, PBUF_RAM, &b->pc, b->data,
                               XW_LINK_RX_POOLED);
}

struct pbuf *xw_link_rx_alloc(const struct netif *netif)
{
    size_t len = netif->mtu + XW_ETH_HLEN;

    if (len > XW_LINK_RX_POOL_FROM)
        return xw_link_rx_pooled(len);
    return pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
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

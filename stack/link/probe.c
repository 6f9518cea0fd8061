/* Duplicate address detection at start (probe.h).  While probing, the link's
 * frames go to probe_input instead of lwIP: an ARP packet whose sender is one
 * of our addresses, or a neighbour advertisement for one, names its owner; so
 * does another host's probe for one (ARP from 0.0.0.0, a solicitation from ::):
 * two stacks starting at once with one address do not both start. */
#include "probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lwip/etharp.h"
#include "lwip/ip6.h"
#include "lwip/ip6_addr.h"
#include "lwip/inet_chksum.h"
#include "lwip/prot/icmp6.h"
#include "lwip/pbuf.h"

enum {
    PROBES = 3,
    PROBE_GAP_MS = XW_PROBE_MS / (PROBES + 1),
    ETH_ARP = 0x0806,
    ETH_IP6 = 0x86dd,
    NA_LEN = 14 + 40 + 24, /* Ethernet, IPv6, NA up to its target */
};

/* The probe in progress (one at a time: at start, stack lock held). */
static struct {
    const struct xw_cidr *addrs;
    int n;
    int hit; /* index of the address somebody has, or -1 */
    uint8_t owner[6];
} pr;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void claimed(int i, const uint8_t *mac)
{
    pr.hit = i;
    memcpy(pr.owner, mac, 6);
}

static void check_frame(const uint8_t *f, size_t n, const uint8_t *self)
{
    static const uint8_t any[16];
    uint16_t type;

    if (n < 14 || !memcmp(f + 6, self, 6))
        return;
    type = (uint16_t)(f[12] << 8 | f[13]);
    for (int i = 0; i < pr.n && pr.hit < 0; i++) {
        const struct xw_cidr *a = &pr.addrs[i];
        if (type == ETH_ARP && n >= 42 && a->family == AF_INET &&
            (!memcmp(f + 28, &a->addr.v4, 4) || /* sender protocol address */
             (!memcmp(f + 28, any, 4) && !memcmp(f + 38, &a->addr.v4, 4))))
            claimed(i, f + 22);
        else if (type == ETH_IP6 && n >= NA_LEN && f[20] == IP6_NEXTH_ICMP6 &&
                 (f[54] == ICMP6_TYPE_NA || (f[54] == ICMP6_TYPE_NS && !memcmp(f + 22, any, 16))) &&
                 a->family == AF_INET6 && !memcmp(f + 62, a->addr.v6.s6_addr, 16))
            claimed(i, f + 6); /* the target of an NA, or of a solicitation from :: */
    }
}

static err_t probe_input(struct pbuf *p, struct netif *netif)
{
    uint8_t f[NA_LEN];
    u16_t n = pbuf_copy_partial(p, f, sizeof(f), 0);

    check_frame(f, n, netif->hwaddr);
    pbuf_free(p);
    return ERR_OK;
}

/* A neighbour solicitation for target from :: to its solicited-node group. */
static err_t send_ns(struct netif *nif, const struct in6_addr *target)
{
    struct pbuf *p = pbuf_alloc(PBUF_IP, 24, PBUF_RAM);
    ip6_addr_t dst;
    uint8_t *m;
    u32_t last;
    u16_t sum;
    err_t e;

    if (!p)
        return ERR_MEM;
    m = p->payload;
    memset(m, 0, 24);
    m[0] = ICMP6_TYPE_NS;
    memcpy(m + 8, target->s6_addr, 16);
    memcpy(&last, target->s6_addr + 12, 4);
    ip6_addr_set_solicitednode(&dst, last);
    ip6_addr_assign_zone(&dst, IP6_MULTICAST, nif);
    sum = ip6_chksum_pseudo(p, IP6_NEXTH_ICMP6, p->len, IP6_ADDR_ANY6, &dst);
    memcpy(m + 2, &sum, 2);
    e = ip6_output_if_src(p, IP6_ADDR_ANY6, &dst, 255, 0, IP6_NEXTH_ICMP6, nif);
    pbuf_free(p);
    return e;
}

static int send_probes(struct xw_link *l)
{
    for (int i = 0; i < pr.n; i++) {
        const struct xw_cidr *a = &pr.addrs[i];
        err_t e;
        if (a->family == AF_INET) {
            ip4_addr_t ip;
            ip4_addr_set_u32(&ip, a->addr.v4.s_addr);
            e = etharp_request(&l->netif, &ip); /* from 0.0.0.0: a probe */
        } else {
            e = send_ns(&l->netif, &a->addr.v6);
        }
        if (e != ERR_OK)
            return -ENOBUFS;
    }
    if (l->ops->flush)
        l->ops->flush(l);
    return 0;
}

int xw_link_probe(struct xw_link *l, const struct xw_cidr *addrs, int n, char *err,
                  size_t errlen)
{
    netif_input_fn saved = l->netif.input;
    uint64_t start = now_ms(), t;
    char name[INET6_ADDRSTRLEN] = "";
    int sent = 0, rc = 0;

    if (n == 0)
        return 0;
    pr.addrs = addrs;
    pr.n = n;
    pr.hit = -1;
    l->netif.input = probe_input;
    while (pr.hit < 0 && (t = now_ms() - start) < XW_PROBE_MS) {
        struct pollfd pfd = { .fd = l->fd, .events = POLLIN };
        uint64_t until = XW_PROBE_MS;
        if (sent < PROBES && t >= (uint64_t)sent * PROBE_GAP_MS) {
            rc = send_probes(l);
            if (rc < 0)
                break;
            sent++;
        }
        if (sent < PROBES)
            until = (uint64_t)sent * PROBE_GAP_MS;
        if (l->tx_pending && until > t + 1)
            until = t + 1;
        (void)poll(&pfd, 1, until > t ? (int)(until - t) : 0);
        /* Bounded by the probe's time: a peer that floods the link cannot
         * keep the start waiting. */
        while (pr.hit < 0 && now_ms() - start < XW_PROBE_MS && l->ops->input(l) > 0)
            ;
        if (l->ops->flush)
            l->ops->flush(l);
    }
    l->netif.input = saved;
    if (rc < 0) {
        snprintf(err, errlen, "XWAY_ADDR: cannot probe the link for its addresses");
        return rc;
    }
    if (pr.hit < 0)
        return 0;
    inet_ntop(addrs[pr.hit].family, &addrs[pr.hit].addr, name, sizeof(name));
    snprintf(err, errlen,
             "XWAY_ADDR: %s is already in use on the link (by %02x:%02x:%02x:%02x:%02x:%02x)",
             name, pr.owner[0], pr.owner[1], pr.owner[2], pr.owner[3], pr.owner[4],
             pr.owner[5]);
    return -EADDRINUSE;
}

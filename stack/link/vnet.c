/* The virtio-net header of the TAP link (vnet.h): checks and fills it. */
#include "vnet.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* Offsets and values of the headers read here (ETH_* from <linux/if_ether.h>). */
enum {
    ETH_TYPE_OFF = 12,
    IP4_HLEN_MIN = 20,
    IP6_HLEN = 40,
    PROTO_TCP = 6,
    PROTO_UDP = 17,
    PROTO_IP6_FRAG = 44,
    PROTO_ICMP6 = 58,
    TCP_HLEN_MIN = 20,
    TCP_CSUM_OFF = 16,
    TCP_FLAGS_OFF = 13,
    TCP_PSH = 0x08,
    TCP_ACK = 0x10,
    IP4_FRAG_MASK = 0x3fff, /* MF and the fragment offset */
};

/* The IP packet of a frame, as its headers describe it. */
struct ip_pkt {
    unsigned ver;            /* 4 or 6 */
    size_t l4_off;           /* where the transport header starts, in the frame */
    size_t l4_len;           /* transport header and payload, from the IP header */
    uint8_t proto;           /* IPv4 protocol, IPv6 next header */
    bool frag;               /* IPv4 fragment; IPv6 with extension headers */
    const uint8_t *src, *dst;
    size_t alen;             /* bytes in src and dst */
};

static unsigned be16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)be16(p) << 16 | be16(p + 2);
}

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Ones'-complement sum of n bytes (n even) added to s, folded. */
static uint16_t fold_sum(uint32_t s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += be16(p + i);
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

/* Parse the IP header of frame[0..len), hlen of whose bytes are at f: 0, or
 * -EINVAL if it is not IPv4 or IPv6 or its lengths do not fit the frame. */
static int parse_ip(const uint8_t *f, size_t hlen, size_t len, struct ip_pkt *ip)
{
    unsigned type;

    if (hlen < ETH_HLEN + 1 || hlen > len)
        return -EINVAL;
    type = be16(f + ETH_TYPE_OFF);
    ip->ver = f[ETH_HLEN] >> 4;
    if (type == ETH_P_IP && ip->ver == 4) {
        size_t ihl = (size_t)(f[ETH_HLEN] & 15) * 4, tot;

        if (ihl < IP4_HLEN_MIN || hlen < ETH_HLEN + ihl)
            return -EINVAL;
        tot = be16(f + ETH_HLEN + 2);
        if (tot < ihl || ETH_HLEN + tot > len)
            return -EINVAL;
        ip->l4_off = ETH_HLEN + ihl;
        ip->l4_len = tot - ihl;
        ip->proto = f[ETH_HLEN + 9];
        ip->frag = (be16(f + ETH_HLEN + 6) & IP4_FRAG_MASK) != 0;
        ip->src = f + ETH_HLEN + 12;
        ip->dst = f + ETH_HLEN + 16;
        ip->alen = 4;
        return 0;
    }
    if (type == ETH_P_IPV6 && ip->ver == 6) {
        if (hlen < ETH_HLEN + IP6_HLEN)
            return -EINVAL;
        ip->l4_off = ETH_HLEN + IP6_HLEN;
        ip->l4_len = be16(f + ETH_HLEN + 4);
        if (ip->l4_off + ip->l4_len > len) /* a jumbogram (0) is refused later */
            return -EINVAL;
        ip->proto = f[ETH_HLEN + 6];
        ip->frag = ip->proto != PROTO_TCP && ip->proto != PROTO_UDP &&
                   ip->proto != PROTO_ICMP6;
        ip->src = f + ETH_HLEN + 8;
        ip->dst = f + ETH_HLEN + 24;
        ip->alen = 16;
        return 0;
    }
    return -EINVAL;
}

enum xw_vnet_rx xw_vnet_rx_classify(const struct virtio_net_hdr *h, const uint8_t *frame,
                                    size_t hlen, size_t len)
{
    const unsigned sum_flags = VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID;
    unsigned gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
    struct ip_pkt ip;
    bool is_ip;

    if (len < ETH_HLEN || (h->flags & ~sum_flags))
        return XW_VNET_RX_BAD;
    if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
        (h->csum_start < ETH_HLEN || (size_t)h->csum_start + h->csum_offset + 2 > len))
        return XW_VNET_RX_BAD;
    is_ip = parse_ip(frame, hlen, len, &ip) == 0;
    if (h->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
        unsigned want_ver = gso == VIRTIO_NET_HDR_GSO_TCPV4 ? 4 :
                            gso == VIRTIO_NET_HDR_GSO_TCPV6 ? 6 : 0;

        if (!want_ver || !h->gso_size || !(h->flags & sum_flags) || !is_ip ||
            ip.ver != want_ver || ip.proto != PROTO_TCP || ip.frag ||
            ip.l4_len < TCP_HLEN_MIN)
            return XW_VNET_RX_BAD;
        return XW_VNET_RX_TRUSTED;
    }
    if (!(h->flags & sum_flags) || !is_ip || ip.frag)
        return XW_VNET_RX_VERIFY;
    return XW_VNET_RX_TRUSTED;
}

/* The pseudo-header's ones'-complement sum, folded, not complemented. */
static uint16_t pseudo_sum(const struct ip_pkt *ip)
{
    uint32_t s = ip->proto + (uint32_t)ip->l4_len;

    s = fold_sum(s, ip->src, ip->alen);
    return fold_sum(s, ip->dst, ip->alen);
}

/* The GSO fields for a TCP segment of payload bytes after hlen bytes of
 * headers (Ethernet, IP, TCP) that the kernel must cut at cut bytes. */
static void set_gso(struct virtio_net_hdr *h, unsigned ver, size_t hlen, size_t cut)
{
    h->gso_type = ver == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
    h->gso_size = (uint16_t)cut;
    h->hdr_len = (uint16_t)hlen;
}

/* The payload of a segment whose packet, after hlen bytes of headers (with
 * Ethernet's), fills the MTU; 0 without an MTU. */
static size_t seg_fits(size_t mtu, size_t hlen)
{
    return mtu && mtu + ETH_HLEN > hlen ? mtu + ETH_HLEN - hlen : 0;
}

enum xw_vnet_tx xw_vnet_tx_prepare(struct virtio_net_hdr *h, uint8_t *frame, size_t hlen,
                                   size_t len, size_t mtu)
{
    struct ip_pkt ip;
    uint16_t sum;
    size_t thl, cut;

    memset(h, 0, sizeof(*h));
    if (parse_ip(frame, hlen, len, &ip))
        return XW_VNET_TX_PLAIN;
    if (ip.ver == 6 && ip.proto == PROTO_IP6_FRAG)
        return hlen > ip.l4_off && frame[ip.l4_off] == PROTO_TCP ? XW_VNET_TX_TCP_FRAGMENT
                                                                : XW_VNET_TX_PLAIN;
    if (ip.proto != PROTO_TCP)
        return XW_VNET_TX_PLAIN;
    if (ip.frag)
        return XW_VNET_TX_TCP_FRAGMENT;
    if (ip.l4_len < TCP_HLEN_MIN || hlen < ip.l4_off + TCP_HLEN_MIN)
        return XW_VNET_TX_PLAIN;
    sum = pseudo_sum(&ip);
    put16(frame + ip.l4_off + TCP_CSUM_OFF, sum);
    h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h->csum_start = (uint16_t)ip.l4_off;
    h->csum_offset = TCP_CSUM_OFF;
    thl = (size_t)(frame[ip.l4_off + 12] >> 4) * 4;
    cut = seg_fits(mtu, ip.l4_off + thl);
    if (cut && thl >= TCP_HLEN_MIN && thl < ip.l4_len && hlen >= ip.l4_off + thl &&
        ip.l4_len - thl > cut)
        set_gso(h, ip.ver, ip.l4_off + thl, cut);
    return XW_VNET_TX_CSUM;
}

int xw_vnet_seg_parse(const uint8_t *frame, size_t hlen, size_t len, struct xw_vnet_seg *s)
{
    struct ip_pkt ip;
    const uint8_t *th;
    size_t thl;

    if (parse_ip(frame, hlen, len, &ip) || ip.proto != PROTO_TCP || ip.frag ||
        ip.l4_len < TCP_HLEN_MIN || hlen < ip.l4_off + TCP_HLEN_MIN)
        return -EINVAL;
    th = frame + ip.l4_off;
    thl = (size_t)(th[12] >> 4) * 4;
    if (thl < TCP_HLEN_MIN || thl >= ip.l4_len || hlen < ip.l4_off + thl ||
        ip.l4_off + ip.l4_len != len)
        return -EINVAL;
    s->flags = th[TCP_FLAGS_OFF];
    if ((s->flags & ~TCP_PSH) != TCP_ACK)
        return -EINVAL;
    s->l4_off = ip.l4_off;
    s->hlen = ip.l4_off + thl;
    s->payload = ip.l4_len - thl;
    s->seq = be32(th + 4);
    return 0;
}

void xw_vnet_gso_start(struct xw_vnet_gso *g, const uint8_t *frame,
                       const struct xw_vnet_seg *s, size_t mtu)
{
    g->seg_max = seg_fits(mtu, s->hlen);
    memcpy(g->hdr, frame, s->hlen);
    g->hlen = s->hlen;
    g->l4_off = s->l4_off;
    g->ver = frame[ETH_HLEN] >> 4;
    g->next_seq = s->seq + (uint32_t)s->payload;
    g->gso_size = g->last = g->payload = s->payload;
    g->segs = 1;
    g->flags = s->flags;
}

/* The headers at a and b are those of one connection's segments that may share
 * a GSO frame: equal but for the IP length, identification and checksum, the
 * TCP sequence number, flags and checksum. */
static int same_headers(const uint8_t *a, const uint8_t *b, unsigned ver, size_t l4_off,
                        size_t hlen)
{
    /* [from, to) ranges compared, offsets from the IP header (ip) or TCP header (tcp). */
    static const uint8_t ip4[][2] = { { 0, 2 }, { 6, 10 }, { 12, 60 } };
    static const uint8_t ip6[][2] = { { 0, 4 }, { 6, 40 } };
    static const uint8_t tcp[][2] = { { 0, 4 }, { 8, 13 }, { 14, 16 }, { 18, 60 } };
    const uint8_t (*r)[2] = ver == 4 ? ip4 : ip6;
    size_t nr = ver == 4 ? 3 : 2;

    if (memcmp(a, b, ETH_HLEN))
        return 0;
    for (size_t i = 0; i < nr; i++) {
        size_t from = ETH_HLEN + r[i][0], to = ETH_HLEN + r[i][1];

        to = to < l4_off ? to : l4_off;
        if (from < to && memcmp(a + from, b + from, to - from))
            return 0;
    }
    for (size_t i = 0; i < 4; i++) {
        size_t from = l4_off + tcp[i][0], to = l4_off + tcp[i][1];

        to = to < hlen ? to : hlen;
        if (from < to && memcmp(a + from, b + from, to - from))
            return 0;
    }
    return 1;
}

int xw_vnet_gso_add(struct xw_vnet_gso *g, const uint8_t *frame, const struct xw_vnet_seg *s)
{
    if (!g->hlen || g->segs >= XW_VNET_GSO_SEGS || (g->flags & TCP_PSH) ||
        g->last != g->gso_size || s->payload > g->gso_size || s->seq != g->next_seq ||
        s->hlen != g->hlen || s->l4_off != g->l4_off ||
        g->hlen + g->payload + s->payload > 0xFFFF ||
        !same_headers(g->hdr, frame, g->ver, g->l4_off, g->hlen))
        return 0;
    g->next_seq += (uint32_t)s->payload;
    g->last = s->payload;
    g->payload += s->payload;
    g->segs++;
    g->flags = s->flags;
    return 1;
}

void xw_vnet_gso_finish(struct xw_vnet_gso *g, struct virtio_net_hdr *h)
{
    uint8_t *ip = g->hdr + ETH_HLEN;
    size_t ip_len = g->hlen - ETH_HLEN + g->payload, cut;

    if (g->ver == 4) {
        put16(ip + 2, (unsigned)ip_len);
        put16(ip + 10, 0);
        put16(ip + 10, (uint16_t)~fold_sum(0, ip, g->l4_off - ETH_HLEN));
    } else {
        put16(ip + 4, (unsigned)(ip_len - IP6_HLEN));
    }
    g->hdr[g->l4_off + TCP_FLAGS_OFF] = g->flags;
    xw_vnet_tx_prepare(h, g->hdr, g->hlen, g->hlen + g->payload, 0);
    cut = g->seg_max && g->seg_max < g->gso_size ? g->seg_max : g->gso_size;
    if (g->segs > 1 || g->payload > cut)
        set_gso(h, g->ver, g->hlen, cut);
}

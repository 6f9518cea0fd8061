/* The TAP link: the stack as one Ethernet host behind an existing Linux TAP
 * device, so it exchanges packets with the kernel and real tools.
 *
 * One frame per read/write (the TAP interface has no batching); input reads a
 * bounded batch, output writes at once, but for TCP segments joined into a GSO
 * frame (below), which flush writes.  A full TAP queue (EAGAIN) drops the
 * frame: TCP retransmits.
 *
 * Offloads: the TAP is opened with a virtio-net header before every frame
 * (IFF_VNET_HDR) and the kernel's offloads on (TUNSETOFFLOAD: checksums, TSO),
 * unless XWAY_TAP_OFFLOAD=off or the kernel refuses; then frames are plain and
 * checksums are generated and checked here, as on a wire.
 *  - Receive: the kernel's TCP hands over segments of up to 64 KiB (GSO) in
 *    one frame; lwIP takes them whole (it accepts segments longer than its MSS,
 *    and a pbuf holds 65535 bytes).  Each frame's checksum flags (vnet.h) decide
 *    the netif's checksum checks for that frame alone: a transport checksum
 *    the kernel vouches for is not checked, every other one is (lwIP's own
 *    checks, switched per frame: the frame is processed within netif.input).
 *  - Send: lwIP leaves TCP checksums out on this netif; each TCP segment goes
 *    with NEEDS_CSUM and the pseudo-header sum, the kernel completes it.
 *    TSO: an established IPv4 connection whose peer takes the MTU's segments
 *    gets lwIP segments of up to TAP_TSO_SEG (xw_stack_tcp_seg; the netif's
 *    MTU is 65521 so that lwIP's IPv4 layer passes them), which go as GSO
 *    frames the kernel cuts at the MTU; other IPv4 packets longer than the
 *    MTU are fragmented for it as before (tap_output4).  IPv6 keeps the MTU.
 *    Consecutive segments of one connection, as lwIP's tcp_output sends them,
 *    are joined into one GSO frame of up to 64 KiB (vnet.h), written without
 *    copying (the pbufs are referenced until then) when a segment pushes,
 *    when one cannot join, or at flush, which the stack calls whenever it
 *    leaves lwIP.  Once lwIP fragments a TCP datagram (an IPv6 path MTU below
 *    the link's), whose checksum the kernel cannot complete across fragments,
 *    lwIP computes TCP checksums itself and nothing is joined or cut (no
 *    TSO: the netif's MTU is the device's again) for the rest of the link's
 *    life.
 *
 * Locking: all of it runs with the stack lock held (link.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/if_tun.h>

#include "link.h"
#include "eth.h"
#include "log.h"
#include "vnet.h"

#include "lwip/ip4_frag.h"
#include "lwip/etharp.h"
#include "lwip/pbuf.h"
#include "lwip/prot/ip.h"
#include "lwip/prot/tcp.h"

/* With offloads, a receive buffer is the largest pbuf, 65535 bytes: the kernel
 * hands a TAP frames shorter than its gso_max_size (64 KiB; a TAP's cannot be
 * raised), cutting longer ones itself.  TAP_RX_OVER catches a longer frame
 * (older kernels forward a GRO packet of 64 KiB of IP whole): it is dropped. */
#define TAP_RX_CAP 0xFFFF
#define TAP_RX_OVER 64
/* Frames up to this size are copied out of the 64 KiB receive buffer, so that
 * a segment waiting in a TCP queue pins at most 4 times its size. */
#define TAP_RX_COPYBREAK (TAP_RX_CAP / 4)
/* pbufs of a frame written straight from lwIP's buffers; longer chains are copied. */
#define TAP_TX_IOV 8
/* pbufs of the payload of a GSO frame being built. */
#define TAP_GSO_IOV 128
/* lwIP's TCP segments with the kernel's TSO: the largest lwIP makes (its TCP_MSS),
 * whose frame (headers and options included) stays within 65535 bytes. */
#define TAP_TSO_SEG TCP_MSS

struct tap_stats {
    unsigned long rx, rx_malformed, rx_bad_hdr, rx_gso, rx_csum;
    unsigned long tx, tx_csum, tx_gso, tx_tso, tx_dropped;
};

/* The GSO frame being built: its headers and counts in g, the segments' pbufs
 * (a reference each) in p[], what is written in iov[]: the virtio-net header,
 * g.hdr, then the payloads. */
struct tap_gso {
    struct xw_vnet_gso g;
    struct pbuf *p[XW_VNET_GSO_SEGS];
    struct iovec iov[2 + TAP_GSO_IOV];
    int niov;
};

/* Every member is protected by the stack lock. */
struct tap {
    struct xw_link link; /* first: the ops get a struct xw_link * */
    char ifname[IFNAMSIZ];
    unsigned mtu; /* the device's: what the wire takes (the netif's is larger with TSO) */
    bool vnet;    /* a virtio-net header before every frame, the kernel's offloads on */
    bool tx_csum; /* TCP checksums left to the kernel (vnet, no TCP fragment sent yet) */
    struct pbuf *rx; /* rx_cap bytes, read into directly; kept across calls */
    size_t rx_cap;
    uint8_t rx_over[TAP_RX_OVER]; /* a frame's bytes past rx_cap: it is too long */
    uint8_t *tx_buf; /* one frame, for long pbuf chains */
    struct tap_gso gso;
    struct tap_stats st;
};

/* The netif's checksum control for a received frame whose transport checksum
 * the kernel vouches for (trusted) or not, and between frames (not). */
static u16_t csum_ctrl(const struct tap *t, bool trusted)
{
    u16_t c = NETIF_CHECKSUM_ENABLE_ALL;

    if (t->tx_csum)
        c &= (u16_t)~NETIF_CHECKSUM_GEN_TCP;
    if (trusted)
        c &= (u16_t)~(NETIF_CHECKSUM_CHECK_TCP | NETIF_CHECKSUM_CHECK_UDP |
                      NETIF_CHECKSUM_CHECK_ICMP | NETIF_CHECKSUM_CHECK_ICMP6);
    return c;
}

/* Fill h for p: a TCP segment's checksum is left to the kernel (vnet.h).  The
 * field is written in place: lwIP zeroes it at every (re)transmission and does
 * not read it after linkoutput.  0, or -1 to drop p: a fragment of a TCP
 * datagram lwIP left without checksum (see the top of the file). */
static int tx_header(struct tap *t, struct virtio_net_hdr *h, struct pbuf *p)
{
    enum xw_vnet_tx r;

    if (!t->tx_csum) {
        memset(h, 0, sizeof(*h));
        return 0;
    }
    r = xw_vnet_tx_prepare(h, p->payload, p->len, p->tot_len, t->mtu);
    if (r != XW_VNET_TX_TCP_FRAGMENT)
        return 0;
    t->tx_csum = false;
    /* (and no more TSO: lwIP fragments what exceeds the MTU again) */
    t->link.netif.mtu = (u16_t)t->mtu;
    NETIF_SET_CHECKSUM_CTRL(&t->link.netif, csum_ctrl(t, false));
    xw_info("tap %s: lwIP fragments TCP (a path MTU below the link's): TCP checksums "
            "computed here from now on", t->ifname);
    return -1;
}

/* iov[] for the frame p: one entry per pbuf, or t->tx_buf for a long chain.
 * Returns the entries used. */
static int frame_iov(struct tap *t, struct pbuf *p, struct iovec *iov)
{
    int n = 0;

    if (pbuf_clen(p) > TAP_TX_IOV) {
        pbuf_copy_partial(p, t->tx_buf, p->tot_len, 0);
        iov[0] = (struct iovec){ .iov_base = t->tx_buf, .iov_len = p->tot_len };
        return 1;
    }
    for (struct pbuf *q = p; q; q = q->next)
        if (q->len)
            iov[n++] = (struct iovec){ .iov_base = q->payload, .iov_len = q->len };
    return n;
}

/* Write one frame of want bytes from iov[0..n): 0, or -1 when it was dropped. */
static int tx_write(struct tap *t, const struct iovec *iov, int n, size_t want)
{
    ssize_t got = writev(t->link.fd, iov, n);

    if (got != (ssize_t)want) {
        t->st.tx_dropped++;
        if (got < 0 && errno != EAGAIN)
            xw_debug("tap %s: write: %s", t->ifname, strerror(errno));
        return -1; /* dropped like on a wire; TCP recovers */
    }
    t->st.tx++;
    return 0;
}

/* Write the GSO frame being built, if any, and let its pbufs go. */
static void tap_flush(struct xw_link *l)
{
    struct tap *t = (struct tap *)l;
    struct tap_gso *q = &t->gso;
    struct virtio_net_hdr h;
    unsigned segs = q->g.segs;

    if (!q->g.hlen)
        return;
    xw_vnet_gso_finish(&q->g, &h);
    q->iov[0] = (struct iovec){ .iov_base = &h, .iov_len = sizeof(h) };
    q->iov[1] = (struct iovec){ .iov_base = q->g.hdr, .iov_len = q->g.hlen };
    if (!tx_write(t, q->iov, q->niov, sizeof(h) + q->g.hlen + q->g.payload)) {
        t->st.tx_csum++;
        t->st.tx_gso += h.gso_type != VIRTIO_NET_HDR_GSO_NONE;
        t->st.tx_tso += q->g.seg_max && q->g.gso_size > q->g.seg_max;
    }
    for (unsigned i = 0; i < segs; i++)
        pbuf_free(q->p[i]);
    q->g.hlen = 0;
}

/* Add segment p (s) to the GSO frame being built, referencing its payload's
 * pbufs; start one if none is.  1, or 0 if it cannot join (nothing changed). */
static int gso_add(struct tap *t, struct pbuf *p, const struct xw_vnet_seg *s)
{
    struct tap_gso *q = &t->gso;
    int room = (int)(sizeof(q->iov) / sizeof(q->iov[0])) - (q->g.hlen ? q->niov : 2);
    size_t skip = s->hlen;

    if (pbuf_clen(p) > room)
        return 0;
    if (!q->g.hlen) {
        xw_vnet_gso_start(&q->g, p->payload, s, t->mtu);
        q->niov = 2;
    } else if (!xw_vnet_gso_add(&q->g, p->payload, s)) {
        return 0;
    }
    pbuf_ref(p);
    q->p[q->g.segs - 1] = p;
    for (struct pbuf *b = p; b; b = b->next) {
        if (skip >= b->len) {
            skip -= b->len;
            continue;
        }
        q->iov[q->niov++] = (struct iovec){ .iov_base = (uint8_t *)b->payload + skip,
                                            .iov_len = b->len - skip };
        skip = 0;
    }
    return 1;
}

/* Take p into a GSO frame (see the top of the file): 1, or 0 to send it now,
 * after what is pending. */
static int gso_take(struct tap *t, struct pbuf *p)
{
    struct xw_vnet_seg s;

    if (xw_vnet_seg_parse(p->payload, p->len, p->tot_len, &s))
        return 0;
    if (!gso_add(t, p, &s)) {
        tap_flush(&t->link);
        /* A segment that pushes goes alone: a request, the end of a write. */
        if ((s.flags & TCP_PSH) || !gso_add(t, p, &s))
            return 0;
    }
    if (t->gso.g.flags & TCP_PSH)
        tap_flush(&t->link);
    return 1;
}

static err_t tap_linkoutput(struct netif *netif, struct pbuf *p)
{
    struct tap *t = netif->state;
    struct virtio_net_hdr h = {0};
    struct iovec iov[1 + TAP_TX_IOV];
    size_t want = p->tot_len;
    int n = 0;

    if (p->tot_len > netif->mtu + XW_ETH_HLEN)
        return ERR_ARG;
    if (t->tx_csum && gso_take(t, p))
        return ERR_OK;
    tap_flush(&t->link);
    if (t->vnet) {
        if (tx_header(t, &h, p)) {
            t->st.tx_dropped++;
            return ERR_OK;
        }
        iov[n++] = (struct iovec){ .iov_base = &h, .iov_len = sizeof(h) };
        want += sizeof(h);
    }
    n += frame_iov(t, p, iov + n);
    if (!tx_write(t, iov, n, want) && h.flags) {
        t->st.tx_csum++;
        t->st.tx_gso += h.gso_type != VIRTIO_NET_HDR_GSO_NONE;
        t->st.tx_tso += h.gso_type != VIRTIO_NET_HDR_GSO_NONE; /* (one segment) */
    }
    return ERR_OK;
}

/* Read one frame into t->rx, its virtio-net header into h: the frame's length
 * (0 for a short read; more than rx_cap when it did not fit), or -errno. */
static ssize_t rx_read(struct tap *t, struct virtio_net_hdr *h)
{
    struct iovec iov[3] = {
        { .iov_base = h, .iov_len = sizeof(*h) },
        { .iov_base = t->rx->payload, .iov_len = t->rx_cap },
        { .iov_base = t->rx_over, .iov_len = sizeof(t->rx_over) },
    };
    ssize_t n;

    if (!t->vnet) {
        n = read(t->link.fd, t->rx->payload, t->rx_cap);
        return n < 0 ? -errno : n;
    }
    n = readv(t->link.fd, iov, 3);
    if (n < 0)
        return -errno;
    return n < (ssize_t)sizeof(*h) ? 0 : n - (ssize_t)sizeof(*h);
}

/* A frame of len bytes and its virtio-net header h have been read. */
static void rx_vnet(struct tap *t, const struct virtio_net_hdr *h, size_t len)
{
    struct netif *netif = &t->link.netif;
    enum xw_vnet_rx v;

    if (len > t->rx_cap) {
        t->st.rx_malformed++;
        xw_warn_peer("tap %s: dropped a frame longer than %zu bytes", t->ifname, t->rx_cap);
        return;
    }
    v = xw_vnet_rx_classify(h, t->rx->payload, len, len);
    if (v == XW_VNET_RX_BAD) {
        t->st.rx_bad_hdr++;
        return;
    }
    t->st.rx++;
    t->st.rx_gso += h->gso_type != VIRTIO_NET_HDR_GSO_NONE;
    t->st.rx_csum += v == XW_VNET_RX_TRUSTED;
    NETIF_SET_CHECKSUM_CTRL(netif, csum_ctrl(t, v == XW_VNET_RX_TRUSTED));
    if (xw_link_rx_deliver_copybreak(netif, t->rx, len, TAP_RX_COPYBREAK))
        t->rx = NULL;
    NETIF_SET_CHECKSUM_CTRL(netif, csum_ctrl(t, false));
}

static int tap_input(struct xw_link *l)
{
    struct tap *t = (struct tap *)l;
    int got = 0;

    while (got < XW_LINK_RX_BATCH) {
        struct virtio_net_hdr h;
        ssize_t n;

        if (!t->rx && !(t->rx = t->vnet ? xw_link_rx_pooled(TAP_RX_CAP)
                                         : pbuf_alloc(PBUF_RAW, (u16_t)t->rx_cap, PBUF_RAM)))
            return got ? got : -ENOMEM;
        n = rx_read(t, &h);
        if (n < 0)
            return n == -EAGAIN || n == -EINTR ? got : (got ? got : (int)n);
        got++;
        if (n < XW_ETH_HLEN) {
            t->st.rx_malformed++;
            continue;
        }
        if (t->vnet) {
            rx_vnet(t, &h, (size_t)n);
            continue;
        }
        t->st.rx++;
        if (xw_link_rx_deliver(&l->netif, t->rx, (size_t)n))
            t->rx = NULL;
    }
    return got;
}

/* Close the fd.  The offloads outlive it: a reader without a virtio-net header
 * would get GSO frames, so the device is left without them. */
static void detach(struct tap *t)
{
    if (t->vnet)
        (void)ioctl(t->link.fd, TUNSETOFFLOAD, 0);
    close(t->link.fd);
}

static void tap_free(struct tap *t)
{
    for (unsigned i = 0; t->gso.g.hlen && i < t->gso.g.segs; i++)
        pbuf_free(t->gso.p[i]);
    if (t->rx)
        pbuf_free(t->rx);
    free(t->tx_buf);
    free(t);
}

static void tap_close(struct xw_link *l)
{
    struct tap *t = (struct tap *)l;

    tap_flush(l);
    netif_remove(&l->netif);
    detach(t);
    xw_info("tap %s closed: rx %lu (malformed %lu, bad vnet header %lu, gso %lu, checksum "
            "trusted %lu), tx %lu (checksum offloaded %lu, gso %lu), longer than the mtu "
            "(tso) %lu, dropped %lu",
            t->ifname, t->st.rx, t->st.rx_malformed, t->st.rx_bad_hdr, t->st.rx_gso,
            t->st.rx_csum, t->st.tx, t->st.tx_csum, t->st.tx_gso, t->st.tx_tso,
            t->st.tx_dropped);
    tap_free(t);
}

/* The IPv4 packet p: not TCP and longer than the MTU (the netif's is larger
 * with TSO): lwIP's fragmentation for the device's MTU, as without TSO. */
static bool oversized(const struct tap *t, const struct pbuf *p, unsigned proto_off)
{
    return p->tot_len > t->mtu && p->len > proto_off &&
           ((const uint8_t *)p->payload)[proto_off] != IP_PROTO_TCP;
}

static err_t tap_output4(struct netif *n, struct pbuf *p, const ip4_addr_t *dst)
{
    struct tap *t = n->state;
    u16_t mtu = n->mtu;
    err_t e;

    if (!oversized(t, p, 9)) /* (the IPv4 header's protocol) */
        return etharp_output(n, p, dst);
    n->mtu = (u16_t)t->mtu;
    e = ip4_frag(p, n, dst); /* (each fragment comes back here) */
    n->mtu = mtu;
    return e;
}

/* With TSO (checksums left to the kernel), lwIP's IPv4 segments may be up to
 * TAP_TSO_SEG: the kernel cuts them at what fits the MTU, which must then not
 * exceed the peer's MSS (else the peer's MSS stays).  IPv6 keeps the MTU's
 * segments (joined into GSO frames): lwIP's IPv6 layer fragments at the path
 * MTU it caches per destination, which cannot be told apart for TCP. */
static uint16_t tap_tcp_seg(struct xw_link *l, bool v6, uint16_t mss)
{
    struct tap *t = (struct tap *)l;

    if (v6 || !t->tx_csum || mss < t->mtu - IP_HLEN - TCP_HLEN)
        return mss;
    return TAP_TSO_SEG;
}

static const struct xw_link_ops tap_ops = {
    .input = tap_input,
    .flush = tap_flush,
    .close = tap_close,
    .tcp_seg = tap_tcp_seg,
};

static err_t tap_netif_init(struct netif *n)
{
    struct tap *t = n->state;

    n->name[0] = 't';
    n->name[1] = 'p';
    n->linkoutput = tap_linkoutput;
    /* With TSO lwIP's IPv4 layer passes TCP segments longer than the MTU (the
     * kernel cuts them); what else exceeds it is fragmented here (tap_output4). */
    n->mtu = (u16_t)(t->vnet ? XW_LINK_MTU_MAX : t->mtu);
    n->hwaddr_len = 6;
    xw_link_eth_random_mac(n->hwaddr);
    NETIF_SET_CHECKSUM_CTRL(n, csum_ctrl(t, false));
    return ERR_OK;
}

/* Attach to ifname; it must exist already (TUNSETIFF would otherwise create it).
 * vnet: with a virtio-net header before every frame. */
static int attach(struct tap *t, const char *ifname, bool vnet)
{
    struct ifreq ifr = {0};

    if (strlen(ifname) >= IFNAMSIZ)
        return -ENAMETOOLONG;
    if (!if_nametoindex(ifname))
        return -ENODEV;
    t->link.fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (t->link.fd < 0)
        return -errno;
    strcpy(ifr.ifr_name, ifname);
    strcpy(t->ifname, ifname);
    ifr.ifr_flags = (short)(IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0));
    if (ioctl(t->link.fd, TUNSETIFF, &ifr)) {
        int rc = -errno;
        close(t->link.fd);
        t->link.fd = -1;
        return rc;
    }
    return 0;
}

/* Turn the kernel's offloads on (attached with a virtio-net header): 0 or -errno. */
static int offloads_on(struct tap *t)
{
    int hdr_size = sizeof(struct virtio_net_hdr);

    if (ioctl(t->link.fd, TUNSETVNETHDRSZ, &hdr_size) ||
        ioctl(t->link.fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6))
        return -errno;
    return 0;
}

/* XWAY_TAP_OFFLOAD (a test knob): 1 on (the default), 0 off, or -EINVAL. */
static int offloads_wanted(void)
{
    const char *v = getenv("XWAY_TAP_OFFLOAD");

    if (!v || !*v || !strcmp(v, "on"))
        return 1;
    if (!strcmp(v, "off"))
        return 0;
    xw_err("XWAY_TAP_OFFLOAD=%s: must be on or off", v);
    return -EINVAL;
}

/* Attach to ifname with the kernel's offloads if wanted and the kernel agrees,
 * else plain.  0 or -errno. */
static int attach_offloaded(struct tap *t, const char *ifname, bool want)
{
    int rc, refused = 0;

    if (want) {
        refused = attach(t, ifname, true);
        if (!refused) {
            refused = offloads_on(t);
            if (!refused) {
                t->vnet = t->tx_csum = true;
                return 0;
            }
            close(t->link.fd);
        }
    }
    rc = attach(t, ifname, false);
    if (rc)
        return rc;
    if (refused)
        xw_warn("tap %s: the kernel refuses offloads (%s): plain frames, checksums in "
                "software", ifname, strerror(-refused));
    /* Offloads a previous owner turned on outlive it and would send us GSO frames. */
    (void)ioctl(t->link.fd, TUNSETOFFLOAD, 0);
    return 0;
}

int xw_link_tap_open(const char *ifname, unsigned mtu, struct xw_link **out)
{
    struct tap *t = calloc(1, sizeof(*t));
    int want = offloads_wanted();
    int rc;

    if (!t)
        return -ENOMEM;
    rc = want;
    if (want < 0)
        goto out_free;
    t->link.ops = &tap_ops;
    t->link.fd = -1;
    rc = attach_offloaded(t, ifname, want);
    if (rc)
        goto out_free;
    t->mtu = xw_link_eth_mtu(mtu);
    t->rx_cap = t->vnet ? TAP_RX_CAP : t->mtu + XW_ETH_HLEN;
    rc = -ENOMEM;
    t->tx_buf = malloc((t->vnet ? XW_LINK_MTU_MAX : t->mtu) + XW_ETH_HLEN);
    if (!t->tx_buf)
        goto out_close;
    rc = xw_link_eth_add(&t->link, tap_netif_init);
    if (rc)
        goto out_close;
    if (t->vnet) {
        t->link.netif.output = tap_output4;
        t->link.netif.mtu6 = (u16_t)t->mtu; /* (IPv6: no TSO, tap_tcp_seg) */
    }
    xw_info("tap %s: attached, mtu %u, offloads %s", ifname, t->mtu,
            t->vnet ? "on (TSO, checksums)" : "off");
    *out = &t->link;
    return 0;

out_close:
    detach(t);
out_free:
    tap_free(t);
    return rc;
}

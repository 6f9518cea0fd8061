/* The TAP link: the stack as one Ethernet host behind an existing Linux TAP
 * device, so it exchanges packets with the kernel and real tools.
 *
 * One frame per read/write (the TAP interface has no batching); input reads a
 * bounded batch, output writes at once (nothing to flush).  Checksums are
 * generated and checked: the kernel verifies ours, we verify its.  A full TAP
 * queue (EAGAIN) drops the frame: TCP retransmits.
 *
 * Locking: all of it runs with the stack lock held (link.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/if_tun.h>

#include "link.h"
#include "eth.h"
#include "log.h"

#include "lwip/pbuf.h"

struct tap_stats {
    unsigned long rx, rx_malformed, tx, tx_dropped;
};

/* Every member is protected by the stack lock. */
struct tap {
    struct xw_link link; /* first: the ops get a struct xw_link * */
    char ifname[IFNAMSIZ];
    unsigned mtu;
    struct pbuf *rx; /* MTU-sized, read into directly; kept across calls */
    uint8_t *tx_buf; /* one frame, for pbuf chains */
    struct tap_stats st;
};

static err_t tap_linkoutput(struct netif *netif, struct pbuf *p)
{
    struct tap *t = netif->state;
    const void *frame = p->payload;
    ssize_t n;

    if (p->tot_len > netif->mtu + XW_ETH_HLEN)
        return ERR_ARG;
    if (p->next) {
        pbuf_copy_partial(p, t->tx_buf, p->tot_len, 0);
        frame = t->tx_buf;
    }
    n = write(t->link.fd, frame, p->tot_len);
    if (n != (ssize_t)p->tot_len) {
        t->st.tx_dropped++;
        if (n < 0 && errno != EAGAIN)
            xw_debug("tap %s: write: %s", t->ifname, strerror(errno));
        return ERR_OK; /* dropped like on a wire; TCP recovers */
    }
    t->st.tx++;
    return ERR_OK;
}

static int tap_input(struct xw_link *l)
{
    struct tap *t = (struct tap *)l;
    int got = 0;

    while (got < XW_LINK_RX_BATCH) {
        ssize_t n;

        if (!t->rx && !(t->rx = xw_link_rx_alloc(&l->netif)))
            return got ? got : -ENOMEM;
        n = read(l->fd, t->rx->payload, t->rx->len);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? got : (got ? got : -errno);
        got++;
        if (n < XW_ETH_HLEN) {
            t->st.rx_malformed++;
            continue;
        }
        t->st.rx++;
        if (xw_link_rx_deliver(&l->netif, t->rx, (size_t)n))
            t->rx = NULL;
    }
    return got;
}

static void tap_free(struct tap *t)
{
    if (t->rx)
        pbuf_free(t->rx);
    free(t->tx_buf);
    free(t);
}

static void tap_close(struct xw_link *l)
{
    struct tap *t = (struct tap *)l;

    netif_remove(&l->netif);
    close(l->fd);
    xw_info("tap %s closed: rx %lu (malformed %lu), tx %lu, dropped %lu", t->ifname,
            t->st.rx, t->st.rx_malformed, t->st.tx, t->st.tx_dropped);
    tap_free(t);
}

static const struct xw_link_ops tap_ops = {
    .input = tap_input,
    .flush = NULL,
    .close = tap_close,
};

static err_t tap_netif_init(struct netif *n)
{
    struct tap *t = n->state;

    n->name[0] = 't';
    n->name[1] = 'p';
    n->linkoutput = tap_linkoutput;
    n->mtu = (u16_t)t->mtu;
    n->hwaddr_len = 6;
    xw_link_eth_random_mac(n->hwaddr);
    NETIF_SET_CHECKSUM_CTRL(n, NETIF_CHECKSUM_ENABLE_ALL);
    return ERR_OK;
}

/* Attach to ifname; it must exist already (TUNSETIFF would otherwise create it). */
static int attach(struct tap *t, const char *ifname)
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
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (ioctl(t->link.fd, TUNSETIFF, &ifr)) {
        int rc = -errno;
        close(t->link.fd);
        return rc;
    }
    return 0;
}

int xw_link_tap_open(const char *ifname, unsigned mtu, struct xw_link **out)
{
    struct tap *t = calloc(1, sizeof(*t));
    int rc;

    if (!t)
        return -ENOMEM;
    t->link.ops = &tap_ops;
    rc = -ENOMEM;
    t->tx_buf = malloc(xw_link_eth_mtu(mtu) + XW_ETH_HLEN);
    if (!t->tx_buf)
        goto out_free;
    rc = attach(t, ifname);
    if (rc)
        goto out_free;
    t->mtu = xw_link_eth_mtu(mtu);
    rc = xw_link_eth_add(&t->link, tap_netif_init);
    if (rc)
        goto out_close;
    xw_info("tap %s: attached, mtu %u", ifname, t->link.netif.mtu);
    *out = &t->link;
    return 0;

out_close:
    close(t->link.fd);
out_free:
    tap_free(t);
    return rc;
}

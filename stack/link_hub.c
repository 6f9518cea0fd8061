/* The hub link: an unprivileged virtual Ethernet segment between processes on one
 * machine, with no daemon.
 *
 * A hub is a directory.  Each endpoint binds an AF_UNIX datagram socket named by
 * its MAC ("<dir>/0242ac1100ff") in it.  A unicast frame is one datagram to the
 * destination MAC's socket; a broadcast or multicast frame is one datagram to
 * every other socket in the directory (a cached listing, refreshed every second
 * and when a broadcast arrives from an endpoint it does not know).  The kernel
 * keeps datagrams intact and in order, so the link needs no checksums.
 *
 * Flow control: Linux queues at most net.unix.max_dgram_qlen (often 10) datagrams
 * per receiving socket; beyond that a send fails with EAGAIN.  The stack thread
 * never blocks: frames to a full endpoint stay queued (in order, per endpoint)
 * and flush retries them; when the queue itself is full they are dropped and TCP
 * retransmits.  A send refused because nobody is bound to the name any more
 * (ECONNREFUSED) removes the dead endpoint's socket file.
 *
 * Locking: all of it runs with the stack lock held (link.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "link.h"
#include "link_eth.h"
#include "log.h"

#include "lwip/pbuf.h"

#define TX_FRAMES 64         /* frame copies waiting for flush */
#define TX_DGRAMS 256        /* datagrams waiting (a broadcast: one per endpoint) */
#define PEER_REFRESH_MS 1000 /* re-list the hub directory for broadcasts */
#define SOCKBUF_BYTES (8 * 1024 * 1024)

_Static_assert(XW_HUB_NAME_LEN == 12, "an endpoint is named by 6 bytes of MAC in hex");

struct hub_stats {
    unsigned long rx, rx_malformed, tx, tx_full, tx_dead, tx_error;
};

struct hub_peer {
    uint8_t mac[6];
};

/* One endpoint.  Every member is protected by the stack lock. */
struct hub {
    struct xw_link link; /* first: the ops get a struct xw_link * */
    struct sockaddr_un self;
    size_t dir_len; /* strlen of the directory, the prefix of self.sun_path */

    struct hub_peer *peers; /* other endpoints, for broadcasts */
    int n_peers, cap_peers;
    uint64_t listed_ms;
    bool peers_stale;

    struct pbuf *rx[XW_LINK_RX_BATCH]; /* MTU-sized, received into directly */
    struct mmsghdr rxm[XW_LINK_RX_BATCH];
    struct iovec rxv[XW_LINK_RX_BATCH];
    struct sockaddr_un rxname[XW_LINK_RX_BATCH];

    /* Queued output.  tx_ref[f] counts the datagrams using frame slot f. */
    uint8_t *tx_slab; /* TX_FRAMES slots of frame_max bytes */
    size_t frame_max;
    int tx_ref[TX_FRAMES];
    int n_tx;
    struct mmsghdr txm[TX_DGRAMS];
    struct iovec txv[TX_DGRAMS];
    struct sockaddr_un txname[TX_DGRAMS];
    int txslot[TX_DGRAMS];

    struct hub_stats st;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- names ---- */

static void name_for(const struct hub *h, const uint8_t mac[6], struct sockaddr_un *sa)
{
    static const char hex[] = "0123456789abcdef";
    char *p;

    memcpy(sa, &h->self, offsetof(struct sockaddr_un, sun_path) + h->dir_len + 1);
    p = sa->sun_path + h->dir_len + 1;
    for (int i = 0; i < 6; i++) {
        *p++ = hex[mac[i] >> 4];
        *p++ = hex[mac[i] & 15];
    }
    *p = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* An endpoint's name back to its MAC: 0, or -EINVAL for any other file name. */
static int mac_of_name(const char *name, uint8_t mac[6])
{
    if (strlen(name) != XW_HUB_NAME_LEN)
        return -EINVAL;
    for (int i = 0; i < 6; i++) {
        int hi = hexval(name[2 * i]), lo = hexval(name[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        mac[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static const char *basename_of(const struct sockaddr_un *sa)
{
    const char *slash = strrchr(sa->sun_path, '/');
    return slash ? slash + 1 : sa->sun_path;
}

/* ---- the endpoint listing, for broadcasts ---- */

static int add_peer(struct hub *h, const uint8_t mac[6])
{
    if (h->n_peers == h->cap_peers) {
        int cap = h->cap_peers ? 2 * h->cap_peers : 16;
        struct hub_peer *p = realloc(h->peers, (size_t)cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        h->peers = p;
        h->cap_peers = cap;
    }
    memcpy(h->peers[h->n_peers++].mac, mac, 6);
    return 0;
}

static int list_peers(struct hub *h)
{
    struct dirent *de;
    DIR *d;

    h->self.sun_path[h->dir_len] = '\0';
    d = opendir(h->self.sun_path);
    h->self.sun_path[h->dir_len] = '/';
    if (!d)
        return -errno;
    h->n_peers = 0;
    while ((de = readdir(d))) {
        uint8_t mac[6];
        if (mac_of_name(de->d_name, mac) || !memcmp(mac, h->link.netif.hwaddr, 6))
            continue;
        if (add_peer(h, mac))
            break;
    }
    closedir(d);
    h->listed_ms = now_ms();
    h->peers_stale = false;
    return 0;
}

static bool knows_peer(const struct hub *h, const uint8_t mac[6])
{
    for (int i = 0; i < h->n_peers; i++)
        if (!memcmp(h->peers[i].mac, mac, 6))
            return true;
    return false;
}

/* ---- output: queue in linkoutput, send in flush ---- */

static void release(struct hub *h, int i)
{
    h->tx_ref[h->txslot[i]]--;
}

/* A send to datagram i failed with err: note why; the datagram is dropped. */
static void send_failed(struct hub *h, int i, int err)
{
    struct stat sb;
    const char *path = h->txname[i].sun_path;

    if (err == ECONNREFUSED || err == ENOENT) {
        /* Nobody is bound to the name: the endpoint died without unlinking it. */
        if (err == ECONNREFUSED && !lstat(path, &sb) && S_ISSOCK(sb.st_mode) && !unlink(path))
            xw_info("hub: removed the dead endpoint %s", path);
        h->peers_stale = true;
        h->st.tx_dead++;
    } else {
        xw_debug("hub: send to %s: %s", path, strerror(err));
        h->st.tx_error++;
    }
}

static bool dest_is(const struct sockaddr_un *names, const int *blocked, int n_blocked,
                    int i)
{
    for (int b = 0; b < n_blocked; b++)
        if (!strcmp(names[blocked[b]].sun_path, names[i].sun_path))
            return true;
    return false;
}

/* Send what is queued.  A datagram to an endpoint that is full stays queued,
 * with every later one to that endpoint (their order must hold); those to other
 * endpoints go.  Kept datagrams move to the front of the queue. */
static void hub_flush(struct xw_link *l)
{
    struct hub *h = (struct hub *)l;
    int blocked[16], n_blocked = 0, keep = 0, i = 0;

    while (i < h->n_tx) {
        int end = i, rc;

        if (dest_is(h->txname, blocked, n_blocked, i)) {
            goto keep_it;
        }
        while (end < h->n_tx && !dest_is(h->txname, blocked, n_blocked, end))
            end++;
        rc = sendmmsg(l->fd, &h->txm[i], (unsigned)(end - i), MSG_DONTWAIT);
        if (rc > 0) {
            for (int k = i; k < i + rc; k++)
                release(h, k);
            h->st.tx += (unsigned long)rc;
            i += rc;
            continue;
        }
        if ((errno == EAGAIN || errno == ENOBUFS) && n_blocked < 16) {
            blocked[n_blocked++] = keep; /* its slot after the move below */
            goto keep_it;
        }
        if (errno == EAGAIN || errno == ENOBUFS)
            h->st.tx_full++;
        else
            send_failed(h, i, errno);
        release(h, i++);
        continue;
    keep_it:
        if (keep != i) {
            h->txm[keep] = h->txm[i];
            h->txv[keep] = h->txv[i];
            h->txname[keep] = h->txname[i];
            h->txslot[keep] = h->txslot[i];
            h->txm[keep].msg_hdr.msg_name = &h->txname[keep];
            h->txm[keep].msg_hdr.msg_iov = &h->txv[keep];
        }
        keep++;
        i++;
    }
    h->n_tx = keep;
    l->tx_pending = keep > 0;
}

static int free_slot(const struct hub *h)
{
    for (int f = 0; f < TX_FRAMES; f++)
        if (h->tx_ref[f] == 0)
            return f;
    return -1;
}

/* Drop everything still queued: the endpoints it waits for stay full. */
static void drop_queue(struct hub *h)
{
    for (int i = 0; i < h->n_tx; i++)
        release(h, i);
    h->st.tx_full += (unsigned long)h->n_tx;
    h->n_tx = 0;
    h->link.tx_pending = false;
}

/* A frame slot and room for n datagrams, making room if needed.  -1 if none. */
static int reserve(struct hub *h, int n)
{
    int f = free_slot(h);

    if (f >= 0 && h->n_tx + n <= TX_DGRAMS)
        return f;
    hub_flush(&h->link);
    f = free_slot(h);
    if (f >= 0 && h->n_tx + n <= TX_DGRAMS)
        return f;
    drop_queue(h);
    return n <= TX_DGRAMS ? free_slot(h) : -1;
}

static void queue_dgram(struct hub *h, int f, size_t len, const uint8_t mac[6])
{
    int i = h->n_tx++;

    name_for(h, mac, &h->txname[i]);
    h->txv[i] = (struct iovec){h->tx_slab + (size_t)f * h->frame_max, len};
    h->txm[i] = (struct mmsghdr){0};
    h->txm[i].msg_hdr.msg_name = &h->txname[i];
    h->txm[i].msg_hdr.msg_namelen = sizeof(h->txname[i]);
    h->txm[i].msg_hdr.msg_iov = &h->txv[i];
    h->txm[i].msg_hdr.msg_iovlen = 1;
    h->txslot[i] = f;
    h->tx_ref[f]++;
}

static err_t hub_linkoutput(struct netif *netif, struct pbuf *p)
{
    struct hub *h = netif->state;
    const uint8_t *dst;
    int f, n = 1;

    if (p->tot_len < XW_ETH_HLEN || p->tot_len > h->frame_max)
        return ERR_ARG;
    dst = p->payload; /* lwIP puts the whole Ethernet header in the first pbuf */
    if (dst[0] & 1) {
        if (h->peers_stale || now_ms() - h->listed_ms >= PEER_REFRESH_MS)
            list_peers(h);
        n = h->n_peers;
        if (n == 0)
            return ERR_OK;
    }
    f = reserve(h, n);
    if (f < 0) {
        h->st.tx_full++;
        return ERR_MEM;
    }
    pbuf_copy_partial(p, h->tx_slab + (size_t)f * h->frame_max, p->tot_len, 0);
    if (!(dst[0] & 1))
        queue_dgram(h, f, p->tot_len, dst);
    else
        for (int i = 0; i < n; i++)
            queue_dgram(h, f, p->tot_len, h->peers[i].mac);
    h->link.tx_pending = true;
    return ERR_OK;
}

/* ---- input ---- */

static int fill_rx(struct hub *h)
{
    for (int i = 0; i < XW_LINK_RX_BATCH; i++) {
        if (!h->rx[i] && !(h->rx[i] = xw_link_rx_alloc(&h->link.netif)))
            return i;
        h->rxv[i] = (struct iovec){h->rx[i]->payload, h->rx[i]->len};
        h->rxm[i] = (struct mmsghdr){0};
        h->rxm[i].msg_hdr.msg_name = &h->rxname[i];
        h->rxm[i].msg_hdr.msg_namelen = sizeof(h->rxname[i]);
        h->rxm[i].msg_hdr.msg_iov = &h->rxv[i];
        h->rxm[i].msg_hdr.msg_iovlen = 1;
    }
    return XW_LINK_RX_BATCH;
}

/* A broadcast from an endpoint not in the listing: a newcomer; re-list. */
static void note_sender(struct hub *h, int i)
{
    const uint8_t *frame = h->rx[i]->payload;
    uint8_t mac[6];

    if ((frame[0] & 1) && !mac_of_name(basename_of(&h->rxname[i]), mac) &&
        !knows_peer(h, mac))
        h->peers_stale = true;
}

static int hub_input(struct xw_link *l)
{
    struct hub *h = (struct hub *)l;
    int n = fill_rx(h), got;

    if (n == 0)
        return -ENOMEM;
    got = recvmmsg(l->fd, h->rxm, (unsigned)n, MSG_DONTWAIT, NULL);
    if (got < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    for (int i = 0; i < got; i++) {
        size_t len = h->rxm[i].msg_len;

        if ((h->rxm[i].msg_hdr.msg_flags & MSG_TRUNC) || len < XW_ETH_HLEN) {
            h->st.rx_malformed++;
            continue;
        }
        h->st.rx++;
        note_sender(h, i);
        if (xw_link_rx_deliver(&l->netif, h->rx[i], len))
            h->rx[i] = NULL;
    }
    return got;
}

/* ---- lifecycle ---- */

static void hub_free(struct hub *h)
{
    for (int i = 0; i < XW_LINK_RX_BATCH; i++)
        if (h->rx[i])
            pbuf_free(h->rx[i]);
    free(h->tx_slab);
    free(h->peers);
    free(h);
}

static void hub_close(struct xw_link *l)
{
    struct hub *h = (struct hub *)l;

    hub_flush(l);
    netif_remove(&l->netif);
    unlink(h->self.sun_path);
    close(l->fd);
    xw_info("hub: %s closed: rx %lu (malformed %lu), tx %lu, dropped full %lu dead %lu error %lu",
            h->self.sun_path, h->st.rx, h->st.rx_malformed, h->st.tx, h->st.tx_full,
            h->st.tx_dead, h->st.tx_error);
    hub_free(h);
}

static const struct xw_link_ops hub_ops = {
    .input = hub_input,
    .flush = hub_flush,
    .close = hub_close,
};

static err_t hub_netif_init(struct netif *n)
{
    struct hub *h = n->state;

    n->name[0] = 'h';
    n->name[1] = 'b';
    n->linkoutput = hub_linkoutput;
    n->mtu = (u16_t)(h->frame_max - XW_ETH_HLEN);
    n->hwaddr_len = 6;
    NETIF_SET_CHECKSUM_CTRL(n, NETIF_CHECKSUM_DISABLE_ALL);
    return ERR_OK;
}

static void set_bufs(int fd)
{
    int sz = SOCKBUF_BYTES;

    /* FORCE ignores net.core.[rw]mem_max but needs CAP_NET_ADMIN. */
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)))
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)))
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

/* Bind a fresh random MAC's name; retry on the (unlikely) taken name. */
static int bind_endpoint(struct hub *h)
{
    for (int tries = 0; tries < 8; tries++) {
        xw_link_eth_random_mac(h->link.netif.hwaddr);
        name_for(h, h->link.netif.hwaddr, &h->self);
        if (!bind(h->link.fd, (struct sockaddr *)&h->self, sizeof(h->self)))
            return 0;
        if (errno != EADDRINUSE)
            return -errno;
    }
    return -EADDRINUSE;
}

static int open_dir(struct hub *h, const char *path)
{
    struct stat sb;

    h->dir_len = strlen(path);
    if (h->dir_len == 0 || h->dir_len > XW_HUB_PATH_MAX)
        return -ENAMETOOLONG;
    if (mkdir(path, 0777) && errno != EEXIST)
        return -errno;
    if (stat(path, &sb))
        return -errno;
    if (!S_ISDIR(sb.st_mode))
        return -ENOTDIR;
    h->self.sun_family = AF_UNIX;
    memcpy(h->self.sun_path, path, h->dir_len);
    h->self.sun_path[h->dir_len] = '/';
    return 0;
}

int xw_link_hub_open(const char *path, unsigned mtu, struct xw_link **out)
{
    struct hub *h = calloc(1, sizeof(*h));
    int rc;

    if (!h)
        return -ENOMEM;
    h->frame_max = xw_link_eth_mtu(mtu) + XW_ETH_HLEN;
    h->link.ops = &hub_ops;
    rc = open_dir(h, path);
    if (rc)
        goto out_free;
    rc = -ENOMEM;
    h->tx_slab = malloc(TX_FRAMES * h->frame_max);
    if (!h->tx_slab)
        goto out_free;
    h->link.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (h->link.fd < 0) {
        rc = -errno;
        goto out_free;
    }
    set_bufs(h->link.fd);
    rc = bind_endpoint(h);
    if (rc)
        goto out_close;
    rc = xw_link_eth_add(&h->link, hub_netif_init);
    if (rc)
        goto out_unlink;
    h->peers_stale = true;
    xw_info("hub: joined as %s, mtu %u", h->self.sun_path, h->link.netif.mtu);
    *out = &h->link;
    return 0;

out_unlink:
    unlink(h->self.sun_path);
out_close:
    close(h->link.fd);
out_free:
    hub_free(h);
    return rc;
}

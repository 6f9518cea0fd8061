/* The hub link: unicast and broadcast delivery, dead endpoints cleaned, malformed
 * frames dropped, 65535-byte frames intact, a full receiver's frames kept in
 * order, and lwIP over it (ARP, IPv6 ND, TCP both families) between endpoints. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "link.h"
#include "eth.h"
#include "testlib.h"

#include "lwip/init.h"
#include "lwip/ip_addr.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

/* The lead's stack.c routes IPv6 off-link traffic through this lwIP hook; these
 * tests link only the link units, so provide the "no gateway" answer. */
__attribute__((weak)) const ip6_addr_t *xw_hook_nd6_gw(struct netif *netif,
                                                       const ip6_addr_t *dest)
{
    return NULL;
}

/* ---- frame capture: replaces netif->input of the endpoints under test ---- */

#define CAP_MAX 2100
struct capture {
    int n;
    size_t len[CAP_MAX];
    uint64_t hash[CAP_MAX];
    uint32_t seq[CAP_MAX]; /* bytes 14..17 of the frame */
};
static struct capture caps[4];

static err_t capture_input(struct pbuf *p, struct netif *netif)
{
    struct capture *c = &caps[netif->num % 4];
    uint8_t buf[0x10000];

    CHECK(c->n < CAP_MAX);
    pbuf_copy_partial(p, buf, p->tot_len, 0);
    c->len[c->n] = p->tot_len;
    c->hash[c->n] = xw_fnv(XW_FNV_INIT, buf, p->tot_len);
    memcpy(&c->seq[c->n], buf + 14, 4);
    c->n++;
    pbuf_free(p);
    return ERR_OK;
}

static struct pbuf *make_frame(const uint8_t *dst, const uint8_t *src, size_t len,
                               uint32_t seq, uint64_t *hash)
{
    struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
    uint8_t *b = p->payload;

    CHECK(p && len >= 18);
    xw_pattern(b, len, seq * 7919u, seq);
    memcpy(b, dst, 6);
    memcpy(b + 6, src, 6);
    b[12] = 0x88; /* local experimental ethertype: lwIP would ignore it */
    b[13] = 0xb5;
    memcpy(b + 14, &seq, 4);
    if (hash)
        *hash = xw_fnv(XW_FNV_INIT, b, len);
    return p;
}

static void send_frame(struct xw_link *from, const uint8_t *dst, size_t len, uint32_t seq,
                       uint64_t *hash)
{
    struct pbuf *p = make_frame(dst, from->netif.hwaddr, len, seq, hash);
    CHECK_EQ(from->netif.linkoutput(&from->netif, p), ERR_OK);
    pbuf_free(p);
}

static int drain(struct xw_link *l)
{
    int n, total = 0;
    while ((n = l->ops->input(l)) > 0)
        total += n;
    CHECK(n == 0);
    return total;
}

static struct xw_link *open_capturing(const char *dir, unsigned mtu)
{
    struct xw_link *l = NULL;
    CHECK_EQ(xw_link_hub_open(dir, mtu, &l), 0);
    CHECK(l && l->fd >= 0);
    l->netif.input = capture_input;
    caps[l->netif.num % 4].n = 0;
    return l;
}

/* Frames are sent at once: discard what joining the hub sent (IPv6 DAD, MLD). */
static void settle(struct xw_link **links, int n)
{
    for (int i = 0; i < n; i++) {
        drain(links[i]);
        caps[links[i]->netif.num % 4].n = 0;
    }
}

static char *endpoint_path(const char *dir, const uint8_t *mac, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%02x%02x%02x%02x%02x%02x", dir, mac[0], mac[1], mac[2], mac[3],
             mac[4], mac[5]);
    return buf;
}

/* A socket file whose process is gone: bound, then closed (the file stays). */
static void make_dead_endpoint(const char *dir, const uint8_t *mac)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

    endpoint_path(dir, mac, sa.sun_path, sizeof(sa.sun_path));
    CHECK(fd >= 0);
    CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void test_frames(const char *dir)
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t dead1[6] = {0x02, 0xde, 0xad, 0, 0, 1};
    static const uint8_t dead2[6] = {0x02, 0xde, 0xad, 0, 0, 2};
    struct xw_link *a, *b, *c;
    struct capture *ca, *cb, *cc;
    uint64_t h, h2;
    char path[128];

    a = open_capturing(dir, 1500); /* creates the hub directory */
    b = open_capturing(dir, 1500);
    c = open_capturing(dir, 1500);
    make_dead_endpoint(dir, dead1);
    settle((struct xw_link *[]){a, b, c}, 3);
    ca = &caps[a->netif.num % 4];
    cb = &caps[b->netif.num % 4];
    cc = &caps[c->netif.num % 4];
    CHECK(a->netif.hwaddr[0] & 2);
    CHECK(!(a->netif.hwaddr[0] & 1));
    CHECK(memcmp(a->netif.hwaddr, b->netif.hwaddr, 6));
    CHECK_EQ(a->netif.mtu, 1500);
    CHECK(a->netif.flags & NETIF_FLAG_MLD6);

    /* Unicast reaches exactly its destination, intact. */
    send_frame(a, b->netif.hwaddr, 1514, 1, &h);
    a->ops->flush(a);
    CHECK(!a->tx_pending);
    CHECK_EQ(drain(b), 1);
    CHECK_EQ(drain(c), 0);
    CHECK_EQ(drain(a), 0);
    CHECK_EQ(ca->n, 0);
    CHECK_EQ(cb->n, 1);
    CHECK_EQ(cb->len[0], 1514);
    CHECK_EQ(cb->hash[0], h);

    /* Broadcast reaches every other endpoint; the dead one's file is removed. */
    CHECK(exists(endpoint_path(dir, dead1, path, sizeof(path))));
    send_frame(a, bcast, 60, 2, &h);
    a->ops->flush(a);
    CHECK(!exists(path));
    CHECK_EQ(drain(b), 1);
    CHECK_EQ(drain(c), 1);
    CHECK_EQ(drain(a), 0);
    CHECK_EQ(cb->hash[1], h);
    CHECK_EQ(cc->n, 1);
    CHECK_EQ(cc->hash[0], h);

    /* Unicast to a dead endpoint: cleaned, dropped, and the next frames still go. */
    make_dead_endpoint(dir, dead2);
    send_frame(a, dead2, 100, 3, NULL);
    send_frame(a, c->netif.hwaddr, 100, 4, &h);
    a->ops->flush(a);
    CHECK(!exists(endpoint_path(dir, dead2, path, sizeof(path))));
    CHECK_EQ(drain(c), 1);
    CHECK_EQ(cc->hash[1], h);

    /* Malformed records (short, empty, oversize) are dropped; the connection
     * and the link keep working, and a connection closed by its peer is closed. */
    {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        static uint8_t big[4000];
        struct pbuf *ok = make_frame(b->netif.hwaddr, bcast, 80, 6, &h2);
        int fds = xw_count_fds(), fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);

        endpoint_path(dir, b->netif.hwaddr, sa.sun_path, sizeof(sa.sun_path));
        CHECK_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        CHECK_EQ(send(fd, "short", 5, 0), 5);
        CHECK_EQ(send(fd, "", 0, 0), 0);
        CHECK_EQ(send(fd, big, sizeof(big), 0), (long)sizeof(big));
        CHECK_EQ(send(fd, ok->payload, ok->len, 0), (long)ok->len);
        pbuf_free(ok);
        send_frame(a, b->netif.hwaddr, 64, 5, &h);
        a->ops->flush(a);
        CHECK_EQ(drain(b), 5);
        CHECK_EQ(cb->n, 4);
        CHECK((cb->hash[2] == h && cb->hash[3] == h2) || (cb->hash[2] == h2 && cb->hash[3] == h));
        close(fd);
        CHECK_EQ(drain(b), 0);
        CHECK_EQ(xw_count_fds(), fds); /* b closed its end too */
    }

    /* An endpoint that leaves: its connection is closed when it hangs up, and
     * frames to it afterwards are dropped without leaking anything. */
    {
        int fds = xw_count_fds();
        struct xw_link *d = open_capturing(dir, 1500);
        uint8_t dmac[6];

        memcpy(dmac, d->netif.hwaddr, 6);
        settle((struct xw_link *[]){a, b, c, d}, 4);
        send_frame(a, dmac, 100, 7, NULL);
        CHECK_EQ(drain(d), 1);
        d->ops->close(d);
        CHECK(poll(&(struct pollfd){.fd = a->fd, .events = POLLIN}, 1, 1000) == 1);
        settle((struct xw_link *[]){a, b, c}, 3);
        CHECK_EQ(xw_count_fds(), fds);
        send_frame(a, dmac, 100, 8, NULL);
        a->ops->flush(a);
        CHECK(!a->tx_pending);
        CHECK_EQ(xw_count_fds(), fds);
        send_frame(a, c->netif.hwaddr, 100, 9, &h);
        CHECK_EQ(drain(c), 1);
        CHECK_EQ(cc->hash[0], h);
    }

    c->ops->close(c);
    b->ops->close(b);
    a->ops->close(a);
}

static void test_large(const char *dir)
{
    struct xw_link *a = open_capturing(dir, 65535), *b = open_capturing(dir, 65535);
    struct capture *cb = &caps[b->netif.num % 4];
    uint64_t h1, h2;

    CHECK_EQ(a->netif.mtu, 65535 - 14);
    settle((struct xw_link *[]){a, b}, 2);
    send_frame(a, b->netif.hwaddr, 65535, 9, &h1);
    send_frame(a, b->netif.hwaddr, 40000, 10, &h2);
    a->ops->flush(a);
    CHECK_EQ(drain(b), 2);
    CHECK_EQ(cb->n, 2);
    CHECK_EQ(cb->len[0], 65535);
    CHECK_EQ(cb->hash[0], h1);
    CHECK_EQ(cb->len[1], 40000);
    CHECK_EQ(cb->hash[1], h2);
    b->ops->close(b);
    a->ops->close(a);
}

/* A receiver that stops reading loses nothing: the sender keeps what does not
 * fit in the socket, waits on its epoll fd for room (no timer), and sends the
 * rest in order. */
static void test_backpressure(const char *dir)
{
    enum { FRAMES = 2000, LEN = 16384 };
    static uint64_t hash[FRAMES];
    struct xw_link *a = open_capturing(dir, 16384), *b = open_capturing(dir, 16384);
    struct capture *cb = &caps[b->netif.num % 4];
    struct pollfd pa = {.fd = a->fd, .events = POLLIN};
    int got = 0, wakeups = 0;

    settle((struct xw_link *[]){a, b}, 2);
    for (int i = 0; i < FRAMES; i++)
        send_frame(a, b->netif.hwaddr, LEN, (uint32_t)i, &hash[i]);
    a->ops->flush(a);
    CHECK(!a->tx_pending);          /* nothing for a timer to do */
    CHECK_EQ(poll(&pa, 1, 0), 0);   /* b is full: a has nothing to do either */
    while (got < FRAMES) {
        int n = drain(b);
        CHECK(n > 0 || poll(&pa, 1, 1000) == 1); /* room in b wakes a */
        got += n;
        if (got < FRAMES) {
            CHECK_EQ(poll(&pa, 1, 1000), 1);
            wakeups++;
            CHECK_EQ(a->ops->input(a), 0);
        }
        CHECK(wakeups < FRAMES);
    }
    CHECK_EQ(got, FRAMES);
    CHECK(wakeups > 1); /* the socket alone could not hold them all */
    for (int i = 0; i < FRAMES; i++) {
        CHECK_EQ(cb->seq[i], (uint32_t)i);
        CHECK_EQ(cb->len[i], LEN);
        CHECK_EQ(cb->hash[i], hash[i]);
    }
    printf("hub_frames: %d frames of %d bytes to a stalled receiver, %d wakeups\n", FRAMES,
           LEN, wakeups);
    b->ops->close(b);
    a->ops->close(a);
}

/* Beyond its bound (4096 frames) a stalled receiver's FIFO drops the oldest
 * frames: what arrives is what the socket held, then the newest 4096, in order. */
static struct {
    uint32_t n, next, gaps, after_gap;
} seqs;

static err_t seq_input(struct pbuf *p, struct netif *netif)
{
    uint32_t seq;

    CHECK_EQ(pbuf_copy_partial(p, &seq, 4, 14), 4);
    CHECK(seq >= seqs.next);
    if (seq != seqs.next) {
        seqs.gaps++;
        seqs.after_gap = 0;
    }
    seqs.after_gap++;
    seqs.next = seq + 1;
    seqs.n++;
    pbuf_free(p);
    return ERR_OK;
}

static void test_fifo_bound(const char *dir)
{
    enum { FRAMES = 40000, FIFO_MAX = 4096 };
    struct xw_link *a = open_capturing(dir, 1500), *b = open_capturing(dir, 1500);
    struct pollfd pa = {.fd = a->fd, .events = POLLIN};

    settle((struct xw_link *[]){a, b}, 2);
    b->netif.input = seq_input;
    for (int i = 0; i < FRAMES; i++)
        send_frame(a, b->netif.hwaddr, 60, (uint32_t)i, NULL);
    for (int round = 0; round < 1000 && seqs.next < FRAMES; round++) {
        drain(b);
        if (poll(&pa, 1, 0) == 1)
            a->ops->input(a);
    }
    CHECK_EQ(seqs.next, FRAMES);
    CHECK_EQ(seqs.gaps, 1);
    CHECK_EQ(seqs.after_gap, FIFO_MAX);
    printf("hub_frames: %u of %d frames to a stalled receiver kept (bound %d)\n", seqs.n,
           FRAMES, FIFO_MAX);
    b->ops->close(b);
    a->ops->close(a);
}

/* ---- lwIP over the hub: TCP from endpoint P to endpoint Q ---- */

#define XFER_BYTES (2u * 1024 * 1024)
#define XFER_SEED 77

struct xfer {
    uint32_t received;
    uint64_t hash_rx;
    bool connected, closed_rx;
    struct tcp_pcb *client, *server;
};

static err_t srv_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct xfer *x = arg;
    uint8_t buf[4096];

    if (!p) {
        x->closed_rx = true;
        return ERR_OK;
    }
    for (u16_t off = 0; off < p->tot_len;) {
        u16_t n = pbuf_copy_partial(p, buf, sizeof(buf), off);
        CHECK_EQ(xw_pattern_check(buf, n, x->received, XFER_SEED), -1);
        x->hash_rx = xw_fnv(x->hash_rx, buf, n);
        x->received += n;
        off = (u16_t)(off + n);
    }
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    return ERR_OK;
}

static err_t srv_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    struct xfer *x = arg;
    CHECK_EQ(err, ERR_OK);
    x->server = pcb;
    tcp_arg(pcb, x);
    tcp_recv(pcb, srv_recv);
    return ERR_OK;
}

static err_t cli_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
    ((struct xfer *)arg)->connected = true;
    return ERR_OK;
}

static void cli_err(void *arg, err_t err)
{
    fprintf(stderr, "client connection error %d\n", err);
    exit(1);
}

static void run_lwip(struct xw_link **links, int n, int ms)
{
    struct pollfd pfd[4];
    for (int i = 0; i < n; i++)
        pfd[i] = (struct pollfd){.fd = links[i]->fd, .events = POLLIN};
    poll(pfd, (nfds_t)n, ms);
    for (int i = 0; i < n; i++)
        while (links[i]->ops->input(links[i]) > 0)
            ;
    sys_check_timeouts();
    for (int i = 0; i < n; i++)
        links[i]->ops->flush(links[i]);
}

static void tcp_transfer(struct xw_link *p, struct xw_link *q, const ip_addr_t *pa,
                         const ip_addr_t *qa)
{
    static uint8_t chunk[65536];
    struct xw_link *links[2] = {p, q};
    struct xfer x = {.hash_rx = XW_FNV_INIT};
    struct tcp_pcb *lst = tcp_new_ip_type(IP_GET_TYPE(qa)), *cli;
    uint32_t sent = 0;
    uint64_t t0 = xw_now_ns(), hash_tx = XW_FNV_INIT;

    tcp_bind_netif(lst, &q->netif);
    CHECK_EQ(tcp_bind(lst, qa, 5001), ERR_OK);
    lst = tcp_listen(lst);
    CHECK(lst);
    tcp_arg(lst, &x);
    tcp_accept(lst, srv_accept);

    cli = x.client = tcp_new_ip_type(IP_GET_TYPE(pa));
    tcp_bind_netif(cli, &p->netif);
    CHECK_EQ(tcp_bind(cli, pa, 0), ERR_OK);
    tcp_arg(cli, &x);
    tcp_err(cli, cli_err);
    CHECK_EQ(tcp_connect(cli, qa, 5001, cli_connected), ERR_OK);
    p->ops->flush(p);

    while (x.received < XFER_BYTES) {
        CHECK(xw_now_ns() - t0 < 20ull * 1000000000ull);
        while (x.connected && sent < XFER_BYTES && tcp_sndbuf(cli) > 0) {
            uint32_t n = tcp_sndbuf(cli);
            if (n > sizeof(chunk))
                n = sizeof(chunk);
            if (n > XFER_BYTES - sent)
                n = XFER_BYTES - sent;
            xw_pattern(chunk, n, sent, XFER_SEED);
            if (tcp_write(cli, chunk, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK)
                break;
            hash_tx = xw_fnv(hash_tx, chunk, n);
            sent += n;
        }
        if (x.connected)
            tcp_output(cli);
        run_lwip(links, 2, 1);
    }
    CHECK_EQ(x.received, XFER_BYTES);
    CHECK_EQ(x.hash_rx, hash_tx);
    printf("hub_frames: TCP %s %u bytes in %.1f ms\n", IP_IS_V6(qa) ? "IPv6" : "IPv4",
           XFER_BYTES, (double)(xw_now_ns() - t0) / 1e6);
    tcp_err(cli, NULL); /* removing the netif later aborts what is left */
    CHECK_EQ(tcp_close(cli), ERR_OK);
    for (int i = 0; i < 200 && !x.closed_rx; i++)
        run_lwip(links, 2, 1);
    CHECK(x.closed_rx);
    tcp_close(x.server);
    tcp_close(lst);
}

static void test_lwip(const char *dir)
{
    struct xw_link *p = NULL, *q = NULL;
    ip4_addr_t a4, b4, mask, gw;
    ip_addr_t pa, qa;
    s8_t idx;

    CHECK_EQ(xw_link_hub_open(dir, 16384, &p), 0);
    CHECK_EQ(xw_link_hub_open(dir, 16384, &q), 0);
    IP4_ADDR(&a4, 10, 66, 0, 1);
    IP4_ADDR(&b4, 10, 66, 0, 2);
    IP4_ADDR(&mask, 255, 255, 255, 0);
    ip4_addr_set_zero(&gw);
    netif_set_addr(&p->netif, &a4, &mask, &gw);
    netif_set_addr(&q->netif, &b4, &mask, &gw);
    ip_addr_copy_from_ip4(pa, a4);
    ip_addr_copy_from_ip4(qa, b4);
    tcp_transfer(p, q, &pa, &qa); /* needs ARP */

    CHECK(ipaddr_aton("fd66::1", &pa) && ipaddr_aton("fd66::2", &qa));
    CHECK_EQ(netif_add_ip6_address(&p->netif, ip_2_ip6(&pa), &idx), ERR_OK);
    netif_ip6_addr_set_state(&p->netif, idx, IP6_ADDR_PREFERRED);
    CHECK_EQ(netif_add_ip6_address(&q->netif, ip_2_ip6(&qa), &idx), ERR_OK);
    netif_ip6_addr_set_state(&q->netif, idx, IP6_ADDR_PREFERRED);
    tcp_transfer(p, q, &pa, &qa); /* needs ND: solicited-node multicast */

    q->ops->close(q);
    p->ops->close(p);
}

static int count_files(const char *dir)
{
    struct dirent *de;
    DIR *d = opendir(dir);
    int n = 0;

    CHECK(d);
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

int main(void)
{
    const char *base = xw_tmpdir("/tmp", "xw-hub-test.");
    char dir[128];

    lwip_init();
    snprintf(dir, sizeof(dir), "%s/hub1", base); /* created by the first endpoint */
    test_frames(dir);
    CHECK_EQ(count_files(dir), 0); /* closed endpoints leave nothing behind */
    test_large(dir);
    test_backpressure(dir);
    test_fifo_bound(dir);
    CHECK_EQ(count_files(dir), 0);
    test_lwip(dir);
    CHECK_EQ(count_files(dir), 0);
    printf("hub_frames: ok\n");
    return 0;
}

/* xway-refport: the core's reference port (issue 18; README "The core").
 *
 * One thread, no pthreads: the core (include/xway_core.h) driven from this
 * program's own poll loop, on the hub link (stack/link: the Linux library's,
 * which needs no thread) and the sim backend built single-threaded
 * (XW_SIM_THREADS=0).  It talks to the normal threaded stack:
 *
 *   xway-refport serve PORT COUNT     echo COUNT connections, one at a time,
 *                                     and print each one's path and bytes
 *   xway-refport serve-zc PORT COUNT  the same through the zero-copy calls:
 *                                     each view copied into a reservation
 *   xway-refport send HOST PORT BYTES send BYTES pseudo-random bytes, end the
 *                                     stream, check that the echo is the same
 *                                     (FNV-1a both ways) and print the path
 *
 * Configuration from the usual variables: XWAY_LINK=hub:DIR, XWAY_ADDR,
 * XWAY_BACKEND (sim or off), XWAY_HOST, XWAY_RING, XWAY_LOG.  Exit status 0
 * when every connection completed and verified. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "link.h"
#include "lwip/init.h"
#include "lwip/ip_addr.h"
#include "xenif.h"
#include "xway_core.h"

#define BUF 65536
#define TIMEOUT_MS 60000

static struct xw_link *link_;
static struct xw_xenif *backend;

static void flush_link(void *arg)
{
    (void)arg;
    if (link_->ops->flush)
        link_->ops->flush(link_);
}

static int die(const char *what, int err)
{
    fprintf(stderr, "xway-refport: %s: %s\n", what, strerror(err < 0 ? -err : err));
    exit(1);
}

/* Wait for the link's frames or the backend's events, up to the core's next
 * timer (and 1 ms while the link holds frames back), and feed them in. */
static void step(void)
{
    struct pollfd pfd[2] = { { .fd = link_->fd, .events = POLLIN }, { .fd = -1 } };
    int ms = xway_core_poll(), n = 1;

    if (backend) {
        pfd[1] = (struct pollfd){ .fd = backend->ops->evtchn_fd(backend), .events = POLLIN };
        n = 2;
    }
    if (link_->tx_pending && (ms < 0 || ms > 1))
        ms = 1;
    if (ms < 0 || ms > 100)
        ms = 100;
    if (poll(pfd, (nfds_t)n, ms) > 0 && pfd[0].revents)
        while (link_->ops->input(link_) > 0)
            ;
    flush_link(NULL);
}

static uint64_t now_ms(void)
{
    return xway_port_now_us() / 1000u;
}

/* FNV-1a, 64 bits, continued over each piece. */
static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
    while (n--)
        h = (h ^ *p++) * 0x100000001b3ull;
    return h;
}

#define FNV_START 0xcbf29ce484222325ull

/* Send what is left of buf (from *off up to have), hashing what went into
 * *h and counting it in *tx; -EAGAIN leaves it for the next round. */
static void send_some(int s, const unsigned char *buf, size_t have, size_t *off, uint64_t *tx,
                      uint64_t *h, const char *what)
{
    ssize_t n = xway_core_send(s, buf + *off, have - *off);

    if (n > 0) {
        *h = fnv(*h, buf + *off, (size_t)n);
        *tx += (uint64_t)n;
        *off += (size_t)n;
    } else if (n != -EAGAIN) {
        die(what, (int)n);
    }
}

static void report(int s, const char *role, uint64_t tx, uint64_t rx, uint64_t h_tx, uint64_t h_rx)
{
    struct xway_conn_info ci;

    if (xway_core_info(s, &ci) < 0)
        die("info", EBADF);
    printf("%s path=%s fallback=%s sent=%llu received=%llu fnv_sent=%016llx fnv_received=%016llx "
           "ring_tx=%llu ring_rx=%llu\n",
           role, ci.path, ci.fallback, (unsigned long long)tx, (unsigned long long)rx,
           (unsigned long long)h_tx, (unsigned long long)h_rx, (unsigned long long)ci.ring_tx,
           (unsigned long long)ci.ring_rx);
    fflush(stdout);
}

/* Echo one accepted connection until the peer's EOF, then close. */
static void echo_one(int c)
{
    static unsigned char buf[BUF];
    size_t have = 0, off = 0;
    uint64_t rx = 0, tx = 0, h_rx = FNV_START, h_tx = FNV_START, t0 = now_ms();
    bool eof = false;
    ssize_t n;

    while (!eof || off < have) {
        if (now_ms() - t0 > TIMEOUT_MS)
            die("echo: timed out", ETIMEDOUT);
        if (off == have && !eof) {
            n = xway_core_recv(c, buf, sizeof(buf));
            if (n > 0) {
                h_rx = fnv(h_rx, buf, (size_t)n);
                rx += (uint64_t)n;
                have = (size_t)n;
                off = 0;
            } else if (n == 0) {
                eof = true;
            } else if (n != -EAGAIN) {
                die("echo: recv", (int)n);
            }
        }
        if (off < have)
            send_some(c, buf, have, &off, &tx, &h_tx, "echo: send");
        if (!eof || off < have)
            step();
    }
    report(c, "served", tx, rx, h_tx, h_rx);
    xway_core_close(c);
}

/* Copy n bytes from the segments of in to those of out (each seg[0], then
 * seg[1]), hashing them. */
static uint64_t copy_segs(const struct iovec in[2], const struct iovec out[2], size_t n, uint64_t h)
{
    size_t i = 0, io = 0, o = 0, oo = 0;

    while (n) {
        size_t k = in[i].iov_len - io;
        if (out[o].iov_len - oo < k)
            k = out[o].iov_len - oo;
        if (n < k)
            k = n;
        memcpy((char *)out[o].iov_base + oo, (const char *)in[i].iov_base + io, k);
        h = fnv(h, (const unsigned char *)in[i].iov_base + io, k);
        n -= k;
        if ((io += k) == in[i].iov_len)
            i++, io = 0;
        if ((oo += k) == out[o].iov_len)
            o++, oo = 0;
    }
    return h;
}

/* Echo one accepted connection in place: what a view shows goes into a
 * reservation, and both close by the bytes copied. */
static void echo_one_zc(int c)
{
    struct iovec in[2], out[2];
    uint64_t moved = 0, h = FNV_START, t0 = now_ms();
    ssize_t nv, nr, n;

    for (;;) {
        if (now_ms() - t0 > TIMEOUT_MS)
            die("zero-copy echo: timed out", ETIMEDOUT);
        nv = xway_core_zc_view(c, in);
        if (nv == 0)
            break;
        if (nv == -EAGAIN) {
            step();
            continue;
        }
        if (nv < 0)
            die("zc_view", (int)nv);
        nr = xway_core_zc_reserve(c, (size_t)nv, out);
        if (nr == -EAGAIN) { /* the peer's ring is full: let it read */
            xway_core_zc_consume(c, 0);
            step();
            continue;
        }
        if (nr < 0)
            die("zc_reserve", (int)nr);
        n = nr < nv ? nr : nv;
        h = copy_segs(in, out, (size_t)n, h);
        if ((nr = xway_core_zc_commit(c, (size_t)n)) != n)
            die("zc_commit", nr < 0 ? (int)nr : EIO);
        if ((nr = xway_core_zc_consume(c, (size_t)n)) < 0)
            die("zc_consume", (int)nr);
        moved += (uint64_t)n;
    }
    report(c, "served-zc", moved, moved, h, h);
    xway_core_close(c);
}

static int serve(int port, int count, bool zc)
{
    int l = xway_core_socket(XWAY_CORE_INET), rc;

    if (l < 0)
        die("socket", l);
    if ((rc = xway_core_bind(l, IP4_ADDR_ANY, (uint16_t)port)) < 0)
        die("bind", rc);
    if ((rc = xway_core_listen(l, 8)) < 0)
        die("listen", rc);
    printf("listening on port %d\n", port);
    fflush(stdout);
    for (int i = 0; i < count;) {
        int c = xway_core_accept(l, NULL, NULL);
        if (c >= 0) {
            if (zc)
                echo_one_zc(c);
            else
                echo_one(c);
            i++;
        } else if (c == -EAGAIN) {
            step();
        } else {
            die("accept", c);
        }
    }
    xway_core_close(l);
    return 0;
}

/* The bytes sent: a xorshift stream from seed. */
static void fill(unsigned char *p, size_t n, uint64_t *x)
{
    for (size_t i = 0; i < n; i++) {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        p[i] = (unsigned char)*x;
    }
}

static int send_echoed(const char *host, int port, uint64_t bytes)
{
    static unsigned char out[BUF], in[BUF];
    ip_addr_t ip;
    uint64_t seed = xway_port_now_us() | 1, tx = 0, rx = 0, h_tx = FNV_START, h_rx = FNV_START;
    uint64_t t0 = now_ms();
    size_t have = 0, off = 0;
    bool shut = false, eof = false;
    int s, rc;

    if (!ipaddr_aton(host, &ip) || !IP_IS_V4(&ip))
        die("send: an IPv4 address", EINVAL);
    s = xway_core_socket(XWAY_CORE_INET);
    if (s < 0)
        die("socket", s);
    rc = xway_core_connect(s, &ip, (uint16_t)port);
    if (rc < 0 && rc != -EINPROGRESS)
        die("connect", rc);
    while (!(xway_core_events(s) & (XWAY_CORE_OUT | XWAY_CORE_ERR))) {
        if (now_ms() - t0 > TIMEOUT_MS)
            die("connect: timed out", ETIMEDOUT);
        step();
    }
    if ((rc = xway_core_error(s)) != 0)
        die("connect", rc);
    while (!eof) {
        ssize_t n;
        if (now_ms() - t0 > TIMEOUT_MS)
            die("send: timed out", ETIMEDOUT);
        if (off == have && tx < bytes) {
            have = bytes - tx < sizeof(out) ? (size_t)(bytes - tx) : sizeof(out);
            fill(out, have, &seed);
            off = 0;
        }
        if (off < have) {
            send_some(s, out, have, &off, &tx, &h_tx, "send");
        } else if (!shut) {
            if ((rc = xway_core_shutdown(s)) < 0)
                die("shutdown", rc);
            shut = true;
        }
        n = xway_core_recv(s, in, sizeof(in));
        if (n > 0) {
            h_rx = fnv(h_rx, in, (size_t)n);
            rx += (uint64_t)n;
            continue;
        }
        if (n == 0)
            eof = true;
        else if (n != -EAGAIN)
            die("recv", (int)n);
        else
            step();
    }
    report(s, "sent", tx, rx, h_tx, h_rx);
    xway_core_close(s);
    if (rx != tx || h_rx != h_tx) {
        fprintf(stderr, "xway-refport: the echo differs: %llu bytes sent, %llu back\n",
                (unsigned long long)tx, (unsigned long long)rx);
        return 1;
    }
    printf("verified\n");
    return 0;
}

/* lwIP, the hub link with the configured addresses, the sim backend, the core. */
static void start(void)
{
    struct xway_config pub;
    struct xw_config cfg;
    struct xway_core_config cc = { 0 };
    char err[512];
    int rc;

    xw_config_from_env(&pub);
    if (xw_config_parse(&pub, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "xway-refport: %s\n", err);
        exit(2);
    }
    if (cfg.link_kind != XW_LINK_HUB || !cfg.n_addrs) {
        fprintf(stderr, "xway-refport: needs XWAY_LINK=hub:DIR and XWAY_ADDR\n");
        exit(2);
    }
    xway_port_log_level = cfg.log_level;
    lwip_init();
    if ((rc = xw_link_hub_open(cfg.link_arg, cfg.mtu, &link_)) < 0)
        die("hub", rc);
    if (link_->ops->claim && (rc = link_->ops->claim(link_, cfg.addrs, cfg.n_addrs, err,
                                                    sizeof(err))) < 0) {
        fprintf(stderr, "xway-refport: %s\n", err);
        exit(1);
    }
    if ((rc = xw_link_configure(&link_->netif, &cfg)) < 0)
        die("addresses", rc);
    if (cfg.backend == XW_BACKEND_SIM || cfg.backend == XW_BACKEND_AUTO) {
        if (!cfg.host[0]) /* (the Linux library's default) */
            snprintf(cfg.host, sizeof(cfg.host), "/dev/shm/xway-host-%u", (unsigned)getuid());
        rc = xw_xenif_open_sim(cfg.host, cfg.domid, &backend);
        if (rc < 0 && cfg.backend == XW_BACKEND_SIM)
            die("sim backend", rc);
    } else if (cfg.backend == XW_BACKEND_XEN) {
        die("XWAY_BACKEND=xen: this port has the sim only", EINVAL);
    }
    cc.backend = backend;
    cc.ring_bytes = (uint32_t)cfg.ring;
    cc.flush = flush_link;
    if ((rc = xway_core_init(&cc)) < 0)
        die("core", rc);
}

/* What closed connections still send goes out first (at most 2 s). */
static void stop(void)
{
    uint64_t t0 = now_ms();

    while (xway_core_draining() && now_ms() - t0 < 2000)
        step();
    xway_core_fini();
    flush_link(NULL);
    link_->ops->close(link_);
    if (backend)
        backend->ops->close(backend);
}

int main(int argc, char **argv)
{
    int rc;

    if (argc == 4 && (!strcmp(argv[1], "serve") || !strcmp(argv[1], "serve-zc"))) {
        start();
        rc = serve(atoi(argv[2]), atoi(argv[3]), !strcmp(argv[1], "serve-zc"));
    } else if (argc == 5 && !strcmp(argv[1], "send")) {
        start();
        rc = send_echoed(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 0));
    } else {
        fprintf(stderr, "usage: xway-refport serve|serve-zc PORT COUNT | send HOST PORT BYTES\n");
        return 2;
    }
    stop();
    return rc;
}

/* xwperf client: opens all connections, then runs the test on each at once and
 * checks the server's counts and checksums against its own. */
#include "xwperf.h"
#include "proto.h"
#include "verify.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RECV_BUF (256u << 10)

struct rtts {
    uint32_t *ns;
    size_t n, cap;
};

/* One connection.  Written by its own thread(s) only; read after they joined. */
struct conn {
    const struct xwp_opts *o;
    int fd;
    uint32_t idx, seed;
    uint64_t budget;       /* payload to send; 0: until the deadline */
    uint64_t deadline_ns;
    uint64_t tx_bytes, rx_bytes;
    struct xway_conn_info ci; /* at the end of the test, if have_ci */
    bool have_ci;
    int64_t rx_bad;        /* first bad byte received, -1 */
    struct rtts rtt;
    struct xwp_result r;
    int err;               /* -errno of the first failure, 0 */
    const char *what;      /* where it failed */
    uint64_t end_ns;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void fail(struct conn *c, int err, const char *what)
{
    if (!c->err) {
        c->err = err ? err : -EPROTO;
        c->what = what;
    }
}

static bool send_more(const struct conn *c)
{
    if (c->budget)
        return c->tx_bytes < c->budget;
    return now_ns() < c->deadline_ns;
}

static size_t next_len(const struct conn *c)
{
    uint64_t len = c->o->msglen;
    if (c->budget && c->budget - c->tx_bytes < len)
        len = c->budget - c->tx_bytes;
    return (size_t)len;
}

static void send_payload(struct conn *c)
{
    const struct xwp_ops *ops = c->o->ops;
    uint64_t start = xwp_pattern_start(c->seed, c->idx, XWP_DIR_UP);
    while (send_more(c)) {
        size_t len = next_len(c);
        const unsigned char *p = xwp_pattern_at(start + c->tx_bytes);
        ssize_t n = ops->send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(c, -errno, "send");
        c->tx_bytes += (uint64_t)n;
    }
}

/* --zc: the pattern written straight into the reserved room (seg[0], then
 * seg[1] where the ring wraps), then committed: no buffer of ours in between. */
static void send_payload_zc(struct conn *c)
{
    const struct xwp_ops *ops = c->o->ops;
    uint64_t start = xwp_pattern_start(c->seed, c->idx, XWP_DIR_UP);
    struct xway_zc z;
    while (send_more(c)) {
        ssize_t n = ops->zc_reserve(c->fd, next_len(c), &z, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(c, -errno, "xway_zc_reserve");
        /* z.len <= msglen <= XWP_MAX_MSG: one contiguous run of the pattern */
        const unsigned char *p = xwp_pattern_at(start + c->tx_bytes);
        for (int i = 0; i < 2; i++) {
            if (z.seg[i].iov_len)
                memcpy(z.seg[i].iov_base, p, z.seg[i].iov_len);
            p += z.seg[i].iov_len;
        }
        n = ops->zc_commit(c->fd, z.len, MSG_NOSIGNAL);
        if (n < 0)
            return fail(c, -errno, "xway_zc_commit");
        c->tx_bytes += (uint64_t)n; /* a short commit: the rest is written again */
    }
}

static void rx_account(struct conn *c, const void *buf, size_t n, uint64_t start)
{
    long bad = xwp_pattern_check(buf, n, start + c->rx_bytes);
    if (bad >= 0 && c->rx_bad < 0)
        c->rx_bad = (int64_t)(c->rx_bytes + (uint64_t)bad);
    c->rx_bytes += n;
}

static void rtt_add(struct rtts *r, uint64_t ns)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 4096;
        uint32_t *p = realloc(r->ns, cap * sizeof(*p));
        if (!p)
            return;
        r->ns = p;
        r->cap = cap;
    }
    r->ns[r->n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

/* --bidir receive side: frames until the empty one. */
static void *recv_frames(void *arg)
{
    struct conn *c = arg;
    const struct xwp_ops *ops = c->o->ops;
    uint64_t start = xwp_pattern_start(c->seed, c->idx, XWP_DIR_DOWN);
    unsigned char *buf = malloc(RECV_BUF);
    if (!buf) {
        fail(c, -ENOMEM, "malloc");
        return NULL;
    }
    for (;;) {
        unsigned char h[XWP_FRAME_HDR];
        ssize_t n = xwp_recv_all(ops, c->fd, h, sizeof(h));
        if (n != (ssize_t)sizeof(h)) {
            fail(c, n < 0 ? (int)n : -EPROTO, "receiving a frame header");
            break;
        }
        uint32_t len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
        if (len == 0)
            break;
        if (len > XWP_MAX_MSG) {
            fail(c, -EPROTO, "frame length");
            break;
        }
        while (len > 0) {
            n = ops->recv(c->fd, buf, len < RECV_BUF ? len : RECV_BUF, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                fail(c, n < 0 ? -errno : -EPROTO, "receiving payload");
                goto out;
            }
            rx_account(c, buf, (size_t)n, start);
            len -= (uint32_t)n;
        }
    }
out:
    free(buf);
    return NULL;
}

/* --rr --depth N: N requests in flight; each echo's time from its own send. */
static void run_rr_pipelined(struct conn *c, unsigned char *buf)
{
    const struct xwp_ops *ops = c->o->ops;
    uint64_t start = xwp_pattern_start(c->seed, c->idx, XWP_DIR_UP);
    uint32_t depth = c->o->depth, head = 0, inflight = 0;
    size_t len = c->o->msglen;
    uint64_t *sent_at = calloc(depth, sizeof(*sent_at));
    ssize_t n;

    if (!sent_at)
        return fail(c, -ENOMEM, "malloc");
    for (;;) {
        while (inflight < depth && send_more(c)) {
            n = xwp_send_all(ops, c->fd, xwp_pattern_at(start + c->tx_bytes), len);
            if (n < 0) {
                fail(c, (int)n, "send");
                goto out;
            }
            sent_at[(head + inflight++) % depth] = now_ns();
            c->tx_bytes += len;
        }
        if (!inflight)
            break;
        n = xwp_recv_all(ops, c->fd, buf, len);
        if (n != (ssize_t)len) {
            fail(c, n < 0 ? (int)n : -EPROTO, "receiving the echo");
            break;
        }
        rtt_add(&c->rtt, now_ns() - sent_at[head]);
        head = (head + 1) % depth;
        inflight--;
        rx_account(c, buf, len, start);
    }
out:
    free(sent_at);
}

static void run_rr(struct conn *c)
{
    const struct xwp_ops *ops = c->o->ops;
    uint64_t start = xwp_pattern_start(c->seed, c->idx, XWP_DIR_UP);
    size_t len = c->o->msglen;
    unsigned char *buf = malloc(len);
    if (!buf)
        return fail(c, -ENOMEM, "malloc");
    if (c->o->depth > 1) {
        run_rr_pipelined(c, buf);
        free(buf);
        return;
    }
    while (send_more(c)) {
        const unsigned char *p = xwp_pattern_at(start + c->tx_bytes);
        uint64_t t0 = now_ns();
        ssize_t n = xwp_send_all(ops, c->fd, p, len);
        if (n < 0) {
            fail(c, (int)n, "send");
            break;
        }
        n = xwp_recv_all(ops, c->fd, buf, len);
        if (n != (ssize_t)len) {
            fail(c, n < 0 ? (int)n : -EPROTO, "receiving the echo");
            break;
        }
        rtt_add(&c->rtt, now_ns() - t0);
        c->tx_bytes += len;
        rx_account(c, buf, len, start); /* the echo of what was just sent */
    }
    free(buf);
}

static void recv_result(struct conn *c)
{
    unsigned char res[XWP_RESULT_LEN], extra;
    ssize_t n = xwp_recv_all(c->o->ops, c->fd, res, sizeof(res));
    if (n != (ssize_t)sizeof(res) || xwp_result_decode(res, &c->r) < 0)
        return fail(c, n < 0 ? (int)n : -EPROTO, "receiving the result");
    n = xwp_recv_all(c->o->ops, c->fd, &extra, 1);
    if (n != 0)
        fail(c, n < 0 ? (int)n : -EPROTO, "expecting EOF after the result");
}

/* The connection's path, while its fd is open (the xway stack only). */
static void get_info(struct conn *c)
{
    const struct xwp_ops *ops = c->o->ops;
    c->have_ci = ops->info && ops->info(c->fd, &c->ci) == 0;
}

static void *conn_thread(void *arg)
{
    struct conn *c = arg;
    const struct xwp_ops *ops = c->o->ops;
    pthread_t rx;
    bool have_rx = false;
    if (c->o->mode == XWP_BIDIR) {
        if (pthread_create(&rx, NULL, recv_frames, c) != 0)
            fail(c, -EAGAIN, "pthread_create");
        else
            have_rx = true;
    }
    if (c->o->mode == XWP_RR)
        run_rr(c);
    else if (!c->err && c->o->zc)
        send_payload_zc(c);
    else if (!c->err)
        send_payload(c);
    if (ops->shutdown(c->fd, SHUT_WR) < 0)
        fail(c, -errno, "shutdown");
    if (have_rx)
        pthread_join(rx, NULL);
    if (!c->err)
        recv_result(c);
    c->end_ns = now_ns();
    get_info(c);
    return NULL;
}

/* Resolve host:port to *ss.  0 or -1 (message printed). */
static int resolve(const struct xwp_opts *o, struct sockaddr_storage *ss, socklen_t *sl)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
    struct addrinfo *ai;
    char port[8];
    if (o->ops == &xwp_unix_ops) {
        if (xwp_unix_addr(o->host, ss, sl) == 0)
            return 0;
        fprintf(stderr, "xwperf: --unix %s: path too long\n", o->host);
        return -1;
    }
    snprintf(port, sizeof(port), "%u", o->port);
    if (o->ops != &xwp_kernel_ops)
        hints.ai_flags |= AI_NUMERICHOST;
    int e = getaddrinfo(o->host, port, &hints, &ai);
    if (e) {
        fprintf(stderr, "xwperf: %s: %s\n", o->host, gai_strerror(e));
        return -1;
    }
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *sl = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static int open_conn(struct conn *c, const struct sockaddr_storage *ss, socklen_t sl,
                     uint64_t test_id)
{
    const struct xwp_opts *o = c->o;
    const struct xwp_ops *ops = o->ops;
    c->fd = ops->socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -errno;
    if (o->mode == XWP_RR)
        xwp_setopt(ops, c->fd, IPPROTO_TCP, TCP_NODELAY, 1);
    if (ops->connect(c->fd, (const void *)ss, sl) < 0)
        return -errno;
    struct xwp_hello h = {
        .mode = (uint32_t)o->mode, .msglen = o->msglen, .seed = c->seed, .nconn = o->nconn,
        .conn_idx = c->idx, .test_id = test_id, .flags = o->zc ? XWP_F_ZC : 0,
        .down_bytes = o->mode == XWP_BIDIR ? c->budget : 0,
    };
    unsigned char buf[XWP_HELLO_LEN];
    xwp_hello_encode(&h, buf);
    ssize_t n = xwp_send_all(ops, c->fd, buf, sizeof(buf));
    return n < 0 ? (int)n : 0;
}

/* Compare the server's result with what this side sent and received: this side
 * checked every byte it received against the pattern (rx_bad), the server did
 * the same and vouches for it with its digests. */
static bool conn_verified(struct conn *c)
{
    uint64_t up = xwp_pattern_start(c->seed, c->idx, XWP_DIR_UP);
    uint64_t down = c->o->mode == XWP_RR ? up
                                         : xwp_pattern_start(c->seed, c->idx, XWP_DIR_DOWN);
    bool ok = !c->err && c->r.status == XWP_OK && c->r.rx_bytes == c->tx_bytes &&
              c->r.rx_csum == xwp_stream_digest(up, c->tx_bytes);
    if (c->o->mode == XWP_BIDIR || c->o->mode == XWP_RR)
        ok = ok && c->rx_bad < 0 && c->r.tx_bytes == c->rx_bytes &&
             c->r.tx_csum == xwp_stream_digest(down, c->rx_bytes);
    if (ok && c->o->zc && !(c->r.flags & XWP_F_ZC)) {
        fprintf(stderr, "xwperf: conn %u: --zc: the server did not check in place (it "
                "runs on the kernel's sockets?)\n", c->idx);
        return false;
    }
    if (!ok && !c->err)
        fprintf(stderr,
                "xwperf: conn %u: VERIFICATION FAILED: server status %u, bad byte at %lld; "
                "up %llu sent / %llu received; down %llu sent / %llu received, bad at %lld\n",
                c->idx, c->r.status, (long long)c->r.bad_off, (unsigned long long)c->tx_bytes,
                (unsigned long long)c->r.rx_bytes, (unsigned long long)c->r.tx_bytes,
                (unsigned long long)c->rx_bytes, (long long)c->rx_bad);
    return ok;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double pct_us(const uint32_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i] / 1000.0;
}

struct summary {
    uint64_t bytes, trips;
    double seconds;
    double p50, p99;
    bool have_rtt, verified;
    /* Paths (XWAY_INFO) of the connections, client side, both directions. */
    uint32_t n_ring, n_tcp, n_unknown;
    char fallback[sizeof(((struct xway_conn_info *)0)->fallback)]; /* of the first TCP
                                                                       connection; "" */
    uint32_t ring_bytes;
    uint64_t ring_payload, tcp_payload;
    bool zc; /* --zc, and every connection's server confirmed it */
};

static void path_add(struct summary *s, const struct conn *c)
{
    if (!c->have_ci) {
        s->n_unknown++;
        return;
    }
    if (!strcmp(c->ci.path, "ring")) {
        s->n_ring++;
    } else {
        s->n_tcp++;
        if (!s->fallback[0])
            snprintf(s->fallback, sizeof(s->fallback), "%s", c->ci.fallback);
    }
    if (c->ci.ring_bytes > s->ring_bytes)
        s->ring_bytes = c->ci.ring_bytes;
    s->ring_payload += c->ci.ring_tx + c->ci.ring_rx;
    s->tcp_payload += c->ci.tcp_tx + c->ci.tcp_rx;
}

/* "ring" or "tcp" when every connection took it, else "mixed"; "kernel". */
static const char *path_name(const struct xwp_opts *o, const struct summary *s)
{
    if (!o->ops->info)
        return o->ops->path;
    if (!s->n_unknown && !s->n_tcp && s->n_ring)
        return "ring";
    if (!s->n_unknown && !s->n_ring && s->n_tcp)
        return "tcp";
    return "mixed";
}

static void report(const struct xwp_opts *o, const struct summary *s)
{
    double gbps = s->seconds > 0 ? (double)s->bytes / s->seconds / 1e9 : 0;
    double cps = s->seconds > 0 ? o->nconn / s->seconds : 0;
    const char *path = path_name(o, s), *fallback = s->fallback[0] ? s->fallback : "none";
    if (o->json) {
        printf("{\"path\": \"%s\", \"mode\": \"%s\", \"bytes\": %llu, \"seconds\": %.6f, "
               "\"gbytes_per_s\": %.6f, ",
               path, xwp_mode_name(o->mode), (unsigned long long)s->bytes, s->seconds, gbps);
        printf("\"fallback\": \"%s\", ", fallback);
        if (o->ops->info)
            printf("\"ring_bytes\": %u, \"tcp_payload_bytes\": %llu, "
                   "\"ring_payload_bytes\": %llu, ",
                   s->ring_bytes, (unsigned long long)s->tcp_payload,
                   (unsigned long long)s->ring_payload);
        else
            printf("\"ring_bytes\": 0, \"tcp_payload_bytes\": null, "
                   "\"ring_payload_bytes\": null, ");
        if (o->mode == XWP_CONNECT)
            printf("\"connects_per_s\": %.1f, ", cps);
        if (s->have_rtt)
            printf("\"rtt_us_p50\": %.3f, \"rtt_us_p99\": %.3f, \"transactions\": %llu, "
                   "\"transactions_per_s\": %.1f, ",
                   s->p50, s->p99, (unsigned long long)s->trips,
                   s->seconds > 0 ? (double)s->trips / s->seconds : 0);
        else
            printf("\"rtt_us_p50\": null, \"rtt_us_p99\": null, ");
        if (o->mode == XWP_RR)
            printf("\"depth\": %u, ", o->depth ? o->depth : 1);
        printf("\"zc\": %s, ", s->zc ? "true" : "false");
        printf("\"connections\": %u, \"msglen\": %u, \"verified\": %s}\n", o->nconn, o->msglen,
               s->verified ? "true" : "false");
        return;
    }
    printf("xwperf: path %s, mode %s, %u connection%s, msglen %u\n", path,
           xwp_mode_name(o->mode), o->nconn, o->nconn == 1 ? "" : "s", o->msglen);
    if (o->ops->info)
        printf("  payload: %llu bytes on the ring (%u bytes per direction), %llu on TCP; "
               "fallback %s\n",
               (unsigned long long)s->ring_payload, s->ring_bytes,
               (unsigned long long)s->tcp_payload, fallback);
    if (o->mode == XWP_CONNECT)
        printf("  %u connections one after another: %.0f/s\n", o->nconn, cps);
    if (o->zc)
        printf("  zero-copy: %s\n", s->zc ? "sent from reservations, checked in place"
                                           : "NOT confirmed by the server");
    printf("  %llu bytes in %.3f s: %.3f GB/s (%.2f Gbit/s)\n", (unsigned long long)s->bytes,
           s->seconds, gbps, gbps * 8);
    if (s->have_rtt)
        printf("  %llu round trips: %.0f/s, rtt p50 %.1f us, p99 %.1f us\n",
               (unsigned long long)s->trips,
               s->seconds > 0 ? (double)s->trips / s->seconds : 0, s->p50, s->p99);
    printf("  %s\n", s->verified ? "verified: every byte matched, checksums agree"
                                 : "NOT VERIFIED");
}

static void summarize(const struct xwp_opts *o, struct conn *cs, uint64_t t0,
                      struct summary *s)
{
    size_t nrtt = 0, k = 0;
    uint64_t end = t0;
    s->verified = true;
    s->zc = o->zc;
    for (uint32_t i = 0; i < o->nconn; i++) {
        struct conn *c = &cs[i];
        if (c->err || !(c->r.flags & XWP_F_ZC))
            s->zc = false;
        if (c->err) {
            fprintf(stderr, "xwperf: conn %u: %s: %s\n", i, c->what, strerror(-c->err));
            s->verified = false;
        } else if (!conn_verified(c)) {
            s->verified = false;
        }
        s->bytes += c->tx_bytes + c->rx_bytes;
        path_add(s, c);
        nrtt += c->rtt.n;
        if (c->end_ns > end)
            end = c->end_ns;
    }
    s->seconds = (double)(end - t0) / 1e9;
    if (o->mode != XWP_RR)
        return;
    uint32_t *all = malloc((nrtt ? nrtt : 1) * sizeof(*all));
    if (!all)
        return;
    for (uint32_t i = 0; i < o->nconn; i++) {
        memcpy(all + k, cs[i].rtt.ns, cs[i].rtt.n * sizeof(*all));
        k += cs[i].rtt.n;
    }
    qsort(all, nrtt, sizeof(*all), cmp_u32);
    s->trips = nrtt;
    s->have_rtt = true;
    s->p50 = pct_us(all, nrtt, 0.50);
    s->p99 = pct_us(all, nrtt, 0.99);
    free(all);
}

static void *watchdog(void *arg)
{
    const struct xwp_opts *o = arg;
    struct timespec ts = { .tv_sec = (time_t)o->timeout,
                           .tv_nsec = (long)((o->timeout - (double)(time_t)o->timeout) * 1e9) };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    fprintf(stderr, "xwperf: timed out after %.0f s\n", o->timeout);
    fflush(stderr);
    _exit(3);
}

static void conn_init(struct conn *c, const struct xwp_opts *o, uint32_t idx, uint32_t seed)
{
    c->o = o;
    c->fd = -1;
    c->idx = idx;
    c->seed = seed;
    c->rx_bad = -1;
}

/* --connect-rate: nconn connections one after another, each one complete:
 * connect (with the stack's negotiation), hello, the server's result, EOF, close. */
static int run_connect_rate(const struct xwp_opts *o, const struct sockaddr_storage *ss,
                            socklen_t sl, uint64_t test_id, uint32_t seed)
{
    struct summary s = { .verified = true };
    uint64_t t0 = now_ns();
    for (uint32_t i = 0; i < o->nconn && s.verified; i++) {
        struct conn c = { 0 };
        conn_init(&c, o, i, seed);
        int e = open_conn(&c, ss, sl, test_id);
        if (e < 0)
            fail(&c, e, "connect");
        else if (o->ops->shutdown(c.fd, SHUT_WR) < 0)
            fail(&c, -errno, "shutdown");
        else
            recv_result(&c);
        if (c.fd >= 0)
            get_info(&c);
        path_add(&s, &c);
        if (c.err) {
            fprintf(stderr, "xwperf: conn %u: %s: %s\n", i, c.what, strerror(-c.err));
            s.verified = false;
        } else if (!conn_verified(&c)) {
            s.verified = false;
        }
        if (c.fd >= 0)
            o->ops->close(c.fd);
    }
    s.seconds = (double)(now_ns() - t0) / 1e9;
    report(o, &s);
    return s.verified ? 0 : 1;
}

int xwp_client_run(const struct xwp_opts *o)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    pthread_t wd;
    int rc = 2;
    if (resolve(o, &ss, &sl) < 0)
        return 2;
    if (pthread_create(&wd, NULL, watchdog, (void *)o) != 0)
        return 2;
    uint64_t test_id = now_ns() ^ ((uint64_t)getpid() << 40);
    uint32_t seed = (uint32_t)(test_id * 0x9e3779b97f4a7c15ULL >> 32);
    if (o->mode == XWP_CONNECT)
        return run_connect_rate(o, &ss, sl, test_id, seed);
    struct conn *cs = calloc(o->nconn, sizeof(*cs));
    pthread_t *th = calloc(o->nconn, sizeof(*th));
    if (!cs || !th)
        goto out;
    uint32_t opened = 0;
    for (; opened < o->nconn; opened++) {
        struct conn *c = &cs[opened];
        conn_init(c, o, opened, seed);
        c->budget = o->bytes / o->nconn + (opened < o->bytes % o->nconn ? 1 : 0);
        if (o->bytes && !c->budget)
            c->budget = 1;
        int e = open_conn(c, &ss, sl, test_id);
        if (e < 0) {
            fprintf(stderr, "xwperf: connect to %s port %u (connection %u): %s\n", o->host,
                    o->port, opened + 1, strerror(-e));
            if (c->fd >= 0)
                o->ops->close(c->fd);
            goto out_close;
        }
    }
    uint64_t t0 = now_ns();
    uint32_t started = 0;
    for (; started < o->nconn; started++) {
        cs[started].deadline_ns = t0 + (uint64_t)(o->seconds * 1e9);
        if (pthread_create(&th[started], NULL, conn_thread, &cs[started]) != 0) {
            fprintf(stderr, "xwperf: cannot start thread %u\n", started);
            break;
        }
    }
    for (uint32_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (started == o->nconn) {
        struct summary s = { 0 };
        summarize(o, cs, t0, &s);
        report(o, &s);
        rc = s.verified ? 0 : 1;
    }
out_close:
    for (uint32_t i = 0; i < opened; i++)
        o->ops->close(cs[i].fd);
    for (uint32_t i = 0; i < o->nconn; i++)
        free(cs[i].rtt.ns);
out:
    free(cs);
    free(th);
    return rc;
}

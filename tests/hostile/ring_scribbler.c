/* A co-resident peer's thread scribbles for 10 s on every field of its ring
 * connections' shared pages (indices, EOF, error, wake flags, geometry, refs,
 * nonce) while they carry traffic and while new ones are being accepted: the
 * victim's calls on those connections end in data, EOF, ECONNRESET, EPIPE or
 * their timeout (never hang, crash or another errno; ASan clean in make asan),
 * its transfers with an honest peer meanwhile arrive intact on the ring, and
 * a new connection from the scribbler's process takes the ring afterwards. */
#include "peer.h"
#include "ring_peer.h"
#include "ringtest.h"
#include "testlib.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define PORT 7520
#define IP "10.77.77.1"
#define SCRIBBLE_S 10
#define TIMEO_MS 1000

static const char *host;

static double since(uint64_t t0)
{
    return (double)(xw_now_ns() - t0) / 1e9;
}

static void set_timeo(int fd, int ms)
{
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    CHECK(xway_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
    CHECK(xway_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0);
}

/* ---- the victim ---- */

static _Atomic unsigned active, conns, rings, bytes, n_eof, n_reset, n_pipe, n_timeo;
static _Atomic double slowest;

static void outcome(uint64_t t0, ssize_t n, int e)
{
    double d = since(t0);
    double s = atomic_load(&slowest);
    while (d > s && !atomic_compare_exchange_weak(&slowest, &s, d))
        ;
    if (d > TIMEO_MS / 1000.0 + 1.0)
        fprintf(stderr, "victim: a call took %.3f s\n", d);
    CHECK(d <= TIMEO_MS / 1000.0 + 1.0);
    if (n >= 0)
        return;
    if (e != ECONNRESET && e != EPIPE && e != EAGAIN)
        fprintf(stderr, "victim: unexpected error %d (%s)\n", e, strerror(e));
    CHECK(e == ECONNRESET || e == EPIPE || e == EAGAIN);
}

/* A connection of the scribbler: echo with timeouts until it ends. */
static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    static __thread char buf[65536];
    struct xway_conn_info ci = xwt_info(fd);
    ssize_t n;
    int e = 0;

    atomic_fetch_add(&rings, !strcmp(ci.path, "ring"));
    set_timeo(fd, TIMEO_MS);
    for (;;) {
        uint64_t t0 = xw_now_ns();
        n = xway_recv(fd, buf, sizeof(buf), 0);
        e = errno;
        outcome(t0, n, e);
        if (n <= 0)
            break;
        atomic_fetch_add(&bytes, (unsigned)n);
        t0 = xw_now_ns();
        n = xway_send(fd, buf, (size_t)n, MSG_NOSIGNAL);
        e = errno;
        outcome(t0, n, e);
        if (n < 0)
            break;
    }
    atomic_fetch_add(n == 0 ? &n_eof : e == ECONNRESET ? &n_reset : e == EPIPE ? &n_pipe
                                                                              : &n_timeo, 1);
    xway_close(fd);
    atomic_fetch_sub(&active, 1);
    return NULL;
}

/* The honest peer's connections: echoed, every byte, on the ring. */
static void *serve_honest(void *arg)
{
    int l = (int)(intptr_t)arg, fd;
    while ((fd = xway_accept(l, NULL, NULL)) >= 0) {
        xwt_expect_path("victim (honest)", fd, "ring", "none");
        CHECK_EQ(xwt_echo(fd), 0);
    }
    return NULL;
}

static int victim(int ctl, void *arg)
{
    (void)arg;
    int l = xwt_listen(IP, PORT, 16), lh = xwt_listen(IP, PORT + 1, 4);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, serve_honest, (void *)(intptr_t)lh) == 0);
    CHECK(xway_set_nonblock(l, 1) == 0);
    xwt_ctl_send(ctl, 'R');
    for (bool last = false; !last;) {
        struct pollfd p[2] = { { .fd = l, .events = POLLIN }, { .fd = ctl, .events = POLLIN } };
        int fd;
        CHECK(xway_poll(p, 2, 100) >= 0);
        last = p[1].revents != 0; /* the scribbler is done: take what is queued */
        while ((fd = xway_accept(l, NULL, NULL)) >= 0) {
            pthread_t t;
            CHECK(xway_set_nonblock(fd, 0) == 0);
            atomic_fetch_add(&active, 1);
            atomic_fetch_add(&conns, 1);
            CHECK(pthread_create(&t, NULL, serve, (void *)(intptr_t)fd) == 0);
            pthread_detach(t);
        }
        CHECK(errno == EAGAIN || errno == ECONNABORTED);
    }
    CHECK_EQ(xwt_ctl_recv(ctl), 'X');
    uint64_t t0 = xw_now_ns();
    while (atomic_load(&active) && since(t0) < 5)
        usleep(10000);
    printf("victim: %u connections of the scribbler (%u on the ring), %u bytes echoed; ended "
           "by EOF %u, reset %u, EPIPE %u, timeout %u; slowest call %.3f s\n", conns, rings,
           bytes, n_eof, n_reset, n_pipe, n_timeo, slowest);
    CHECK_EQ(atomic_load(&active), 0);
    CHECK(atomic_load(&conns) > 0);
    CHECK(atomic_load(&rings) > 0); /* the scribbling reached rings, not only TCP */
    xwt_ctl_send(ctl, 'D');
    /* The scribbler's process, afterwards: a fresh connection is served. */
    CHECK(xway_set_nonblock(l, 0) == 0);
    int fd = xway_accept(l, NULL, NULL);
    CHECK(fd >= 0);
    xwt_expect_path("victim (after)", fd, "ring", "none");
    CHECK_EQ(xwt_echo(fd), 0);
    xway_close(l);
    xway_close(lh); /* ends serve_honest's accept */
    pthread_join(th, NULL);
    return 0;
}

/* ---- the honest peer: verified transfers, one connection each ---- */

static int honest(int ctl, void *arg)
{
    (void)arg;
    unsigned n = 0;
    struct pollfd p = { .fd = ctl, .events = POLLIN };
    while (poll(&p, 1, 0) == 0) {
        int fd = xwt_connect(IP, PORT + 1);
        xwt_expect_path("honest", fd, "ring", "none");
        xwt_exchange(fd, 4u << 20, 100 + n++);
        xway_close(fd);
    }
    CHECK_EQ(xwt_ctl_recv(ctl), 'X');
    printf("honest: %u verified transfers of 4 MiB on the ring\n", n);
    CHECK(n >= 3);
    return 0;
}

/* ---- the scribbler ---- */

static _Atomic bool stop, quiet;
static unsigned long flips;

static uint64_t rnd(void)
{
    static __thread uint64_t x = 88172645463325252ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

static uint32_t garbage(uint32_t old)
{
    switch (rnd() % 6) {
    case 0: return old + 1;
    case 1: return old - 1;
    case 2: return old + (uint32_t)(rnd() % 70000);
    case 3: return old ^ (1u << (rnd() % 32));
    case 4: return 0;
    default: return (uint32_t)rnd();
    }
}

/* Wild: any field, any value.  Subtle: the victim's own indices moved on by a
 * few bytes, its wake flags toggled, while the scribbler's process sends
 * nothing (so that nothing else breaks the ring first). */
enum phase { HEADER, RINGS, SUBTLE };

static void flip(struct xw_intf *i, enum phase ph)
{
    struct xw_ring_ctl *c = rnd() & 1 ? &i->in : &i->out;
    uint32_t *f, v;
    if (ph == HEADER) {
        uint32_t *h[] = { &i->magic, &i->version, &i->ring_shift, &i->nrefs, &i->flags,
                          (uint32_t *)&i->nonce, &i->ref[rnd() % 130] };
        f = h[rnd() % 7];
    } else if (ph == RINGS) {
        uint32_t *h[] = { &c->prod, &c->eof, &c->prod_wake, &c->cons, &c->cons_wake,
                          &c->error };
        f = h[rnd() % 6];
    } else { /* the acceptor's (the victim's) own indices, its wake flags */
        uint32_t *h[] = { &i->out.cons, &i->in.prod, &i->out.cons_wake, &i->in.prod_wake };
        f = h[rnd() % 4];
    }
    v = *f;
    if (ph != SUBTLE)
        v = garbage(v);
    else if (f == &i->out.cons || f == &i->in.prod)
        v += 1 + (uint32_t)(rnd() % 8);
    else
        v = !v;
    atomic_store_explicit((_Atomic uint32_t *)f, v, memory_order_relaxed);
    flips++;
}

/* 10 s: 3 s wild (20 ms on the headers, then 40 ms on the rings, and again),
 * 4 s subtle (one flip per page per millisecond), 3 s wild. */
static void *scribbler(void *arg)
{
    unsigned dom = *(unsigned *)arg;
    struct xw_intf *pages[64];
    uint64_t t0 = xw_now_ns();
    while (!atomic_load(&stop)) {
        int n = ring_peer_intfs(host, dom, pages, 64);
        double t = since(t0);
        enum phase ph = t >= 3 && t < 7 ? SUBTLE
                        : ((xw_now_ns() - t0) / 20000000u) % 3 == 0 ? HEADER : RINGS;
        atomic_store(&quiet, ph == SUBTLE);
        /* Headers: looked for anew every 0.5 ms, to catch the pages of
         * connections being accepted (the victim reads them once, at accept). */
        uint64_t t1 = xw_now_ns(), len = ph == HEADER ? 500000u : 20000000u;
        for (unsigned k = 0; n && xw_now_ns() - t1 < len; k++) {
            flip(pages[rnd() % (unsigned)n], ph);
            if (ph == SUBTLE && k % (unsigned)n == 0)
                usleep(1000);
            else if ((k & 255) == 0)
                sched_yield();
        }
        if (!n)
            usleep(1000);
        for (int j = 0; j < n; j++)
            ring_peer_unmap(pages[j]);
    }
    return NULL;
}

/* The scribbler's own traffic: connections that come and go, each sending a
 * little and reading what comes back; whatever its own stack makes of the
 * scribbling is fine, as long as it survives. */
static void traffic(void)
{
    static char buf[65536];
    int fds[4] = { -1, -1, -1, -1 };
    unsigned n = 0;
    uint64_t t0 = xw_now_ns();
    while (since(t0) < SCRIBBLE_S) {
        int k = (int)(n++ % 4);
        if (fds[k] >= 0)
            xway_close(fds[k]);
        fds[k] = xwt_connect(IP, PORT);
        set_timeo(fds[k], 100);
        for (int j = 0; j < 4; j++) {
            int fd = fds[(k + j) % 4];
            if (fd < 0)
                continue;
            xw_pattern(buf, 4096 * (1u + (n % 16)), n, 7);
            if (!atomic_load(&quiet))
                (void)!xway_send(fd, buf, 4096 * (1u + (n % 16)), MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)!xway_recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        }
        usleep(20000);
    }
    for (int k = 0; k < 4; k++)
        if (fds[k] >= 0)
            xway_close(fds[k]);
    printf("scribbler: %u connections\n", n);
}

int main(void)
{
    const char *hub = xwt_setup(100);
    host = xw_sim_host();
    CHECK(setenv("XWAY_BACKEND", "sim", 1) == 0 && setenv("XWAY_HOST", host, 1) == 0);
    struct xwt_peer v = xwt_spawn(hub, IP "/24", victim, NULL);
    CHECK_EQ(xwt_ctl_recv(v.ctl), 'R');
    struct xwt_peer h = xwt_spawn(hub, "10.77.77.3/24", honest, NULL);
    xwt_start(hub, "10.77.77.2/24");
    unsigned dom = ring_peer_domid();

    pthread_t t;
    CHECK(pthread_create(&t, NULL, scribbler, &dom) == 0);
    traffic();
    atomic_store(&stop, true);
    pthread_join(t, NULL);
    printf("scribbler: %lu fields scribbled on\n", flips);
    CHECK(flips > 1000);

    xwt_ctl_send(h.ctl, 'X');
    xwt_join(&h);
    xwt_ctl_send(v.ctl, 'X');
    CHECK_EQ(xwt_ctl_recv(v.ctl), 'D');
    int fd = xwt_connect(IP, PORT);
    xwt_expect_path("scribbler (after)", fd, "ring", "none");
    xwt_exchange(fd, 1u << 20, 9);
    xway_close(fd);
    xwt_join(&v);
    printf("PASS\n");
    return 0;
}

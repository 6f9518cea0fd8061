/* A co-resident peer writes the shared copy of our own ring index (rx.cons,
 * tx.prod) while we wait on the ring: a blocking recv/send ends within its
 * SO_RCVTIMEO/SO_SNDTIMEO (today the owner's check after a sleep slice finds
 * the forgery first and resets the connection: ECONNRESET, reported once); a
 * recv blocked without a timeout ends too (by that reset, or at close() from
 * another thread at the latest); and poll loops (xway_poll, the kernel's poll
 * on the socket's fd) do not spin on the broken ring. */
#include "peer.h"
#include "ring_peer.h"
#include "ringtest.h"
#include "testlib.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define PORT 7500
#define IP "10.77.75.1"

static const char *host;
static char buf[65536];

static double since(uint64_t t0)
{
    return (double)(xw_now_ns() - t0) / 1e9;
}

static void set_timeo(int fd, int opt, int ms)
{
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    CHECK(xway_setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv)) == 0);
}

static int accept_ring(int l)
{
    int fd = xway_accept(l, NULL, NULL);
    CHECK(fd >= 0);
    xwt_expect_path("victim", fd, "ring", "none");
    return fd;
}

/* A blocking call with a timeout whose index the peer forges meanwhile: it
 * returns within the timeout (or earlier with the reset), and the connection
 * is reset by the next call at the latest. */
static void timed_call(int ctl, int fd, bool sending)
{
    ssize_t n;
    int e, resets = 0;
    uint64_t t0;

    set_timeo(fd, sending ? SO_SNDTIMEO : SO_RCVTIMEO, 300);
    xwt_ctl_send(ctl, 'B');
    t0 = xw_now_ns();
    n = sending ? xway_send(fd, buf, sizeof(buf), MSG_NOSIGNAL) : xway_recv(fd, buf, 1, 0);
    e = errno;
    printf("victim: blocking %s with the peer forging our index: %zd (%s) after %.3f s\n",
           sending ? "send" : "recv", n, n < 0 ? strerror(e) : "-", since(t0));
    CHECK(n < 0 && (e == EAGAIN || e == ECONNRESET));
    CHECK(since(t0) < 2.0);
    resets += e == ECONNRESET;
    n = sending ? xway_send(fd, buf, 1, MSG_NOSIGNAL) : xway_recv(fd, buf, 1, 0);
    e = errno;
    printf("victim: then %s: %zd (%s)\n", sending ? "send" : "recv", n,
           n < 0 ? strerror(e) : "-");
    resets += n < 0 && e == ECONNRESET;
    CHECK(resets == 1);
    CHECK(since(t0) < 2.5);
}

struct blocked {
    int fd;
    ssize_t n;
    int err;
    _Atomic bool done;
};

static void *blocked_recv(void *arg)
{
    struct blocked *b = arg;
    b->n = xway_recv(b->fd, buf, 1, 0);
    b->err = errno;
    atomic_store(&b->done, true);
    return NULL;
}

/* A recv blocked without a timeout ends: by the reset, or at the latest when
 * another thread closes the socket. */
static void closed_under(int ctl, int fd)
{
    struct blocked b = { .fd = fd };
    pthread_t t;
    uint64_t t0;

    CHECK(pthread_create(&t, NULL, blocked_recv, &b) == 0);
    usleep(100000);
    xwt_ctl_send(ctl, 'B');
    CHECK_EQ(xwt_ctl_recv(ctl), 'F');
    usleep(200000);
    t0 = xw_now_ns();
    CHECK(xway_close(fd) == 0);
    while (!atomic_load(&b.done) && since(t0) < 3.0)
        usleep(1000);
    printf("victim: recv blocked forever, index forged, closed: %s after %.3f s: %zd (%s)\n",
           atomic_load(&b.done) ? "returned" : "STILL BLOCKED", since(t0), b.n,
           strerror(b.err));
    CHECK(atomic_load(&b.done));
    CHECK(b.n < 0 && (b.err == EBADF || b.err == ECONNRESET));
    pthread_join(t, NULL);
}

/* Readiness after the forgery: a poll loop wakes only for real events. */
static void poll_loops(int ctl, int fd)
{
    unsigned wakes[2] = { 0, 0 };

    xwt_ctl_send(ctl, 'B');
    CHECK_EQ(xwt_ctl_recv(ctl), 'F');
    for (int k = 0; k < 2; k++) {
        uint64_t t0 = xw_now_ns();
        while (since(t0) < 0.5) {
            struct pollfd p = { .fd = fd, .events = POLLIN };
            int r = k == 0 ? xway_poll(&p, 1, 50) : poll(&p, 1, 50);
            CHECK(r >= 0);
            if (r == 0)
                continue;
            ssize_t n = xway_recv(fd, buf, 1, MSG_DONTWAIT);
            if (n < 0 && errno == ECONNRESET)
                break;
            CHECK(n < 0 && errno == EAGAIN);
            wakes[k]++;
        }
    }
    printf("victim: 0.5 s of xway_poll: %u empty wakes; of poll(2): %u\n", wakes[0], wakes[1]);
    CHECK(wakes[0] <= 5 && wakes[1] <= 5);
}

static int victim(int ctl, void *arg)
{
    (void)arg;
    int l = xwt_listen(IP, PORT, 8), fd;
    xwt_ctl_send(ctl, 'R');

    fd = accept_ring(l);
    timed_call(ctl, fd, false);
    xwt_ctl_send(ctl, 'D');
    xway_close(fd);

    fd = accept_ring(l);
    while (xway_send(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
        ; /* the peer never reads: a full ring */
    CHECK(errno == EAGAIN);
    timed_call(ctl, fd, true);
    xwt_ctl_send(ctl, 'D');
    xway_close(fd);

    fd = accept_ring(l);
    closed_under(ctl, fd);
    xwt_ctl_send(ctl, 'D');

    fd = accept_ring(l);
    poll_loops(ctl, fd);
    xwt_ctl_send(ctl, 'D');
    xway_close(fd);
    xway_close(l);
    return 0;
}

/* The acceptor (the victim) consumes "out" and produces "in". */
static void forge(unsigned dom, bool cons)
{
    struct xw_intf *i = ring_peer_intf(host, dom);
    CHECK(i != NULL);
    if (cons)
        atomic_fetch_add((_Atomic uint32_t *)&i->out.cons, 7);
    else
        atomic_fetch_add((_Atomic uint32_t *)&i->in.prod, 5);
    ring_peer_unmap(i);
}

static void hostile_case(const struct xwt_peer *v, unsigned dom, bool cons, bool ack,
                         bool reset_seen)
{
    int fd = xwt_connect(IP, PORT);
    xwt_expect_path("hostile", fd, "ring", "none");
    CHECK_EQ(xwt_ctl_recv(v->ctl), 'B');
    usleep(100000); /* the victim is blocked in its call by now */
    forge(dom, cons);
    if (ack)
        xwt_ctl_send(v->ctl, 'F');
    CHECK_EQ(xwt_ctl_recv(v->ctl), 'D');
    if (reset_seen) { /* the victim reset the connection: we hear of it */
        set_timeo(fd, SO_RCVTIMEO, 2000);
        CHECK(xway_recv(fd, buf, 1, 0) < 0 && errno == ECONNRESET);
    }
    xway_close(fd);
}

int main(void)
{
    const char *hub = xwt_setup(60);
    host = xw_sim_host();
    CHECK(setenv("XWAY_BACKEND", "sim", 1) == 0 && setenv("XWAY_HOST", host, 1) == 0);
    struct xwt_peer v = xwt_spawn(hub, IP "/24", victim, NULL);
    CHECK_EQ(xwt_ctl_recv(v.ctl), 'R');
    xwt_start(hub, "10.77.75.2/24");
    unsigned dom = ring_peer_domid();
    hostile_case(&v, dom, true, false, true);   /* recv + SO_RCVTIMEO, rx.cons forged */
    hostile_case(&v, dom, false, false, true);  /* send + SO_SNDTIMEO, tx.prod forged */
    hostile_case(&v, dom, true, true, false);   /* recv forever, close from a thread */
    hostile_case(&v, dom, true, true, false);   /* poll loops */
    xwt_join(&v);
    printf("PASS\n");
    return 0;
}

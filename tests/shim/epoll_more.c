/* epoll's finer semantics on connections, as Linux gives them on kernel TCP
 * sockets (xs_epoll_more xway|kernel PEER_ADDR PORT, against xs_peer):
 * edge-triggered (an edge per arrival, EPOLLOUT once, a writer's EPOLLOUT
 * edge after EAGAIN), epoll_pwait2, a thread pool on one set (EPOLLONESHOT,
 * MOD), EPOLLRDHUP, EPOLLHUP
 * and EPOLLERR, one connection in two sets, an epoll set inside another and
 * in poll(), a waiter in another thread, EPOLLEXCLUSIVE, a timeout that
 * comes no earlier than asked while the set changes. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer.h"

/* The events of the registrations (tag: data.u32) that epoll set ep reports
 * within ms (several waits; the union per tag, up to 8 tags), stopping
 * early once tag want has all of want_ev.  The number of tags seen. */
static int collect(int ep, int ms, uint32_t ev_of[8], uint32_t want, uint32_t want_ev)
{
    struct epoll_event evs[8];
    struct timespec t0;
    int seen = 0;

    memset(ev_of, 0, 8 * sizeof(ev_of[0]));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        long left = ms - st_ms_since(&t0);
        int n = epoll_wait(ep, evs, 8, left > 0 ? (int)left : 0);
        CHECK(n >= 0, "epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            uint32_t t = evs[i].data.u32 % 8;
            seen += !ev_of[t];
            ev_of[t] |= evs[i].events;
        }
        if (left <= 0 || (want_ev && (ev_of[want % 8] & want_ev) == want_ev))
            return seen;
    }
}

static void add(int ep, int op, int fd, uint32_t events, uint32_t tag)
{
    struct epoll_event ev = { .events = events, .data.u32 = tag };
    CHECK(epoll_ctl(ep, op, fd, &ev) == 0, "epoll_ctl %d, tag %u: %s", op, tag, strerror(errno));
}

/* Nothing reported by ep for ms. */
#define QUIET(ep, ms, what)                                                              \
    do {                                                                                 \
        uint32_t q_[8];                                                                  \
        int n_ = collect((ep), (ms), q_, 0, 0);                                          \
        CHECK(n_ == 0, "%s: %d registrations reported (tag 0: %#x, 1: %#x)", (what), n_, \
              q_[0], q_[1]);                                                             \
    } while (0)

#define HUPS (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)

static void edge_triggered(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC), c = st_conn(PEER_ECHO, 400, 0, 0, 0);
    int w = st_conn(PEER_ECHO, 401, 0, 0, 0);
    uint32_t ev[8];

    add(ep, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLET, 0);
    QUIET(ep, 100, "ET, nothing sent");
    st_send_pat(c, 400, 0, 100);
    collect(ep, 5000, ev, 0, EPOLLIN);
    CHECK(ev[0] == EPOLLIN, "ET: first arrival: events %#x", ev[0]);
    /* Unread, but no new edge. */
    QUIET(ep, 300, "ET, data unread, nothing new");
    /* A new arrival is a new edge, though the first bytes are unread. */
    st_send_pat(c, 400, 100, 50);
    collect(ep, 5000, ev, 0, EPOLLIN);
    CHECK(ev[0] == EPOLLIN, "ET: second arrival: events %#x", ev[0]);
    st_read_pat(c, 400, 0, 150);
    QUIET(ep, 200, "ET, all read");
    /* EPOLLOUT, edge-triggered: once when added (writable), not again. */
    add(ep, EPOLL_CTL_ADD, w, EPOLLOUT | EPOLLET, 1);
    collect(ep, 2000, ev, 1, EPOLLOUT);
    CHECK(ev[1] == EPOLLOUT, "ET EPOLLOUT: events %#x", ev[1]);
    QUIET(ep, 200, "ET EPOLLOUT reported once");
    /* MOD re-arms an edge: reported again at once (still writable). */
    add(ep, EPOLL_CTL_MOD, w, EPOLLOUT | EPOLLET, 1);
    collect(ep, 2000, ev, 1, EPOLLOUT);
    CHECK(ev[1] == EPOLLOUT, "ET EPOLLOUT after MOD: events %#x", ev[1]);
    close(ep);
    close(c);
    close(w);
}

/* An edge-triggered writer: writes until EAGAIN, then waits for the
 * EPOLLOUT edge that the peer's reading gives (the stream checked whole). */
static void writer_edge(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC), s = st_conn(PEER_SINK, 407, 0, 0, 300);
    uint32_t ev[8];
    uint64_t off = 0, h = FNV_INIT, left = 8u << 20;
    struct peer_sum sum;
    char buf[16384];
    int edges = 0;

    CHECK(fcntl(s, F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
    add(ep, EPOLL_CTL_ADD, s, EPOLLOUT | EPOLLET, 0);
    collect(ep, 2000, ev, 0, EPOLLOUT);
    CHECK(ev[0] == EPOLLOUT, "ET writer: first EPOLLOUT: events %#x", ev[0]);
    while (left) {
        size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
        ssize_t w;
        st_fill(407, off, buf, n);
        w = send(s, buf, n, MSG_NOSIGNAL);
        if (w > 0) {
            h = fnv(h, buf, (size_t)w);
            off += (uint64_t)w;
            left -= (uint64_t)w;
            continue;
        }
        CHECK(w < 0 && errno == EAGAIN, "ET writer: send: %zd %s", w, strerror(errno));
        if (st_fails)
            break;
        /* Full: the next EPOLLOUT edge comes when the peer has read. */
        collect(ep, 5000, ev, 0, EPOLLOUT);
        CHECK(ev[0] & EPOLLOUT, "ET writer: no EPOLLOUT edge after EAGAIN at %llu bytes",
              (unsigned long long)off);
        if (!(ev[0] & EPOLLOUT))
            break;
        edges++;
    }
    CHECK(edges > 0, "ET writer: the sink never made us wait");
    CHECK(fcntl(s, F_SETFL, 0) == 0, "blocking");
    CHECK(shutdown(s, SHUT_WR) == 0, "shutdown: %s", strerror(errno));
    CHECK(recv(s, &sum, sizeof(sum), MSG_WAITALL) == (ssize_t)sizeof(sum), "the sink's sum");
    CHECK(sum.bytes == off && sum.fnv == h, "ET writer: the sink got %llu bytes (sent %llu)%s",
          (unsigned long long)sum.bytes, (unsigned long long)off,
          sum.fnv == h ? "" : ", checksum differs");
    close(ep);
    close(s);
}

/* A thread pool on one set (EPOLLONESHOT, re-armed by MOD), connections added
 * while the threads sleep: every echo is served, none waits for a timeout. */
#define POOL_THREADS 3
#define POOL_CONNS 4
#define POOL_ROUNDS 25
#define POOL_MSG 64
static struct {
    int ep, fd[POOL_CONNS], stop[2];
    uint64_t off[POOL_CONNS];
    _Atomic int served;
} pool;

static void *pool_thread(void *arg)
{
    struct epoll_event e;

    (void)arg;
    for (;;) { /* (no timeout: a lost wake-up fails the round) */
        int n = epoll_wait(pool.ep, &e, 1, -1), i;
        if (n != 1)
            continue;
        if (e.data.u32 == 99) /* the stop pipe, level-triggered: every thread */
            return NULL;
        i = (int)e.data.u32;
        st_read_pat(pool.fd[i], 409 + (uint32_t)i, pool.off[i], POOL_MSG);
        pool.off[i] += POOL_MSG;
        pool.served++;
        e.events = EPOLLIN | EPOLLONESHOT;
        CHECK(epoll_ctl(pool.ep, EPOLL_CTL_MOD, pool.fd[i], &e) == 0, "pool MOD: %s",
              strerror(errno));
    }
    return NULL;
}

static void thread_pool(void)
{
    pthread_t t[POOL_THREADS];
    pool.ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(pipe(pool.stop) == 0, "pipe");
    add(pool.ep, EPOLL_CTL_ADD, pool.stop[0], EPOLLIN, 99);
    for (int k = 0; k < POOL_THREADS; k++)
        CHECK(pthread_create(&t[k], NULL, pool_thread, NULL) == 0, "pthread_create");
    usleep(50000); /* (they sleep in the empty set) */
    for (int i = 0; i < POOL_CONNS; i++) {
        pool.fd[i] = st_conn(PEER_ECHO, 409 + (uint32_t)i, 0, 0, 0);
        add(pool.ep, EPOLL_CTL_ADD, pool.fd[i], EPOLLIN | EPOLLONESHOT, (uint32_t)i);
    }
    for (int r = 0; r < POOL_ROUNDS && !st_fails; r++) {
        struct timespec tr;
        for (int i = 0; i < POOL_CONNS; i++)
            st_send_pat(pool.fd[i], 409 + (uint32_t)i, (uint64_t)r * POOL_MSG, POOL_MSG);
        clock_gettime(CLOCK_MONOTONIC, &tr);
        while (pool.served < (r + 1) * POOL_CONNS && st_ms_since(&tr) < 5000)
            usleep(100);
        CHECK(pool.served == (r + 1) * POOL_CONNS, "thread pool: round %d: %d of %d served",
              r, pool.served, (r + 1) * POOL_CONNS);
    }
    CHECK(write(pool.stop[1], "!", 1) == 1, "stop");
    for (int k = 0; k < POOL_THREADS; k++)
        pthread_join(t[k], NULL);
    st_ring(pool.fd[0], "thread pool");
    for (int i = 0; i < POOL_CONNS; i++)
        close(pool.fd[i]);
    close(pool.stop[0]);
    close(pool.stop[1]);
    close(pool.ep);
}

/* epoll_pwait2: a timeout in nanoseconds. */
static void pwait2(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC), c = st_conn(PEER_ECHO, 408, 0, 0, 0);
    struct timespec ts = { 0, 80 * 1000000 }, t0;
    struct epoll_event e;
    int n;

    add(ep, EPOLL_CTL_ADD, c, EPOLLIN, 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    n = epoll_pwait2(ep, &e, 1, &ts, NULL);
    CHECK(n == 0 && st_ms_since(&t0) >= 79, "epoll_pwait2, idle: %d after %ld ms", n,
          st_ms_since(&t0));
    st_send_pat(c, 408, 0, 10);
    ts.tv_sec = 5;
    n = epoll_pwait2(ep, &e, 1, &ts, NULL);
    CHECK(n == 1 && e.events == EPOLLIN, "epoll_pwait2, data: %d, events %#x", n, e.events);
    ts = (struct timespec){ 0, -1 };
    EXPECT_ERR(epoll_pwait2(ep, &e, 1, &ts, NULL), EINVAL);
    st_read_pat(c, 408, 0, 10);
    st_ring(c, "epoll_pwait2");
    close(ep);
    close(c);
}

static void hangups(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC), g = st_conn(PEER_GEN, 402, 1000, 0, 0);
    int r = st_conn(PEER_RESET, 403, 0, 0, 0);
    uint32_t ev[8];
    char buf[64];

    /* The peer sends 1000 bytes and closes: EPOLLIN | EPOLLRDHUP, level. */
    add(ep, EPOLL_CTL_ADD, g, EPOLLIN | EPOLLRDHUP, 0);
    collect(ep, 5000, ev, 0, EPOLLIN | EPOLLRDHUP);
    CHECK((ev[0] & HUPS) == (EPOLLIN | EPOLLRDHUP), "peer's FIN: events %#x", ev[0]);
    st_read_pat(g, 402, 0, 1000);
    collect(ep, 2000, ev, 0, EPOLLIN | EPOLLRDHUP);
    CHECK((ev[0] & HUPS) == (EPOLLIN | EPOLLRDHUP), "peer's FIN, all read: events %#x", ev[0]);
    /* Our side shut down too: EPOLLHUP. */
    CHECK(shutdown(g, SHUT_WR) == 0, "shutdown: %s", strerror(errno));
    collect(ep, 5000, ev, 0, EPOLLHUP);
    CHECK((ev[0] & HUPS) == (EPOLLIN | EPOLLRDHUP | EPOLLHUP), "both shut: events %#x", ev[0]);
    CHECK(read(g, buf, sizeof(buf)) == 0, "read at EOF");
    add(ep, EPOLL_CTL_DEL, g, 0, 0);

    /* The peer resets: EPOLLERR and EPOLLHUP, then recv's ECONNRESET. */
    add(ep, EPOLL_CTL_ADD, r, EPOLLIN | EPOLLRDHUP, 1);
    QUIET(ep, 100, "before the reset");
    st_write_all(r, "x", 1);
    collect(ep, 5000, ev, 1, EPOLLERR | EPOLLHUP);
    CHECK((ev[1] & (EPOLLERR | EPOLLHUP)) == (EPOLLERR | EPOLLHUP), "reset: events %#x", ev[1]);
    EXPECT_ERR(recv(r, buf, sizeof(buf), 0), ECONNRESET);
    close(ep);
    close(g);
    close(r);
}

static void *waiter(void *arg)
{
    int *ep = arg;
    struct epoll_event ev;

    ep[1] = epoll_wait(ep[0], &ev, 1, 10000);
    ep[2] = ep[1] == 1 ? (int)ev.events : 0;
    return NULL;
}

static void sets(void)
{
    int a = epoll_create1(EPOLL_CLOEXEC), b = epoll_create1(EPOLL_CLOEXEC);
    int outer = epoll_create1(EPOLL_CLOEXEC), x = epoll_create1(EPOLL_CLOEXEC);
    int c = st_conn(PEER_ECHO, 404, 0, 0, 0), d = st_conn(PEER_ECHO, 405, 0, 0, 0);
    int e = st_conn(PEER_ECHO, 406, 0, 0, 0);
    int th[3] = { epoll_create1(EPOLL_CLOEXEC), -1, 0 };
    struct pollfd p;
    pthread_t t;
    uint32_t ev[8];

    /* One connection in two sets: both report it. */
    add(a, EPOLL_CTL_ADD, c, EPOLLIN, 0);
    add(b, EPOLL_CTL_ADD, c, EPOLLIN, 0);
    st_send_pat(c, 404, 0, 10);
    collect(a, 5000, ev, 0, EPOLLIN);
    CHECK(ev[0] == EPOLLIN, "first set: events %#x", ev[0]);
    collect(b, 5000, ev, 0, EPOLLIN);
    CHECK(ev[0] == EPOLLIN, "second set: events %#x", ev[0]);
    st_read_pat(c, 404, 0, 10);
    QUIET(a, 200, "first set, all read");
    QUIET(b, 100, "second set, all read");

    /* A set inside another set, and in poll(). */
    add(outer, EPOLL_CTL_ADD, a, EPOLLIN, 3);
    QUIET(outer, 100, "outer set, nothing in the inner one");
    p = (struct pollfd){ .fd = a, .events = POLLIN };
    CHECK(poll(&p, 1, 0) == 0, "poll on the idle inner set: %#x", p.revents);
    st_send_pat(c, 404, 10, 20);
    collect(outer, 5000, ev, 3, EPOLLIN);
    CHECK(ev[3] == EPOLLIN, "outer set: events %#x", ev[3]);
    CHECK(poll(&p, 1, 5000) == 1 && p.revents == POLLIN, "poll on the inner set: %#x",
          p.revents);
    collect(a, 5000, ev, 0, EPOLLIN);
    CHECK(ev[0] == EPOLLIN, "inner set: events %#x", ev[0]);
    st_read_pat(c, 404, 10, 20);
    QUIET(outer, 200, "outer set, all read");

    /* A waiter in another thread wakes when data comes. */
    add(th[0], EPOLL_CTL_ADD, d, EPOLLIN, 0);
    CHECK(pthread_create(&t, NULL, waiter, th) == 0, "pthread_create");
    usleep(100000);
    st_send_pat(d, 405, 0, 5);
    pthread_join(t, NULL);
    CHECK(th[1] == 1 && th[2] == EPOLLIN, "the other thread's wait: %d, events %#x", th[1],
          th[2]);
    st_read_pat(d, 405, 0, 5);

    /* EPOLLEXCLUSIVE: accepted on ADD, reported, refused by MOD. */
    add(x, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLEXCLUSIVE, 0);
    st_send_pat(e, 406, 0, 7);
    collect(x, 5000, ev, 0, EPOLLIN);
    CHECK(ev[0] == EPOLLIN, "EPOLLEXCLUSIVE: events %#x", ev[0]);
    {
        struct epoll_event mev = { .events = EPOLLIN | EPOLLEXCLUSIVE };
        EXPECT_ERR(epoll_ctl(x, EPOLL_CTL_MOD, e, &mev), EINVAL);
    }
    st_read_pat(e, 406, 0, 7);
    st_ring(c, "one connection in two sets"); /* (tcp mode: on the TCP path) */
    st_ring(e, "EPOLLEXCLUSIVE");
    close(a);
    close(b);
    close(outer);
    close(x);
    close(th[0]);
    close(c);
    close(d);
    close(e);
}

static void *timed_wait(void *arg)
{
    int *ep = arg;
    struct epoll_event ev;
    struct timespec t0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    ep[1] = epoll_wait(ep[0], &ev, 1, 800);
    ep[2] = (int)st_ms_since(&t0);
    return NULL;
}

/* epoll_wait returns 0 only when its timeout has passed: a set whose only
 * member is a kernel fd, while another thread adds a connection and removes
 * it again (the shim's own wake-ups; ab took an early 0 for its timeout). */
static void timeout_not_early(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC), c = st_conn(PEER_ECHO, 407, 0, 0, 0), pfd[2];
    int th[3] = { ep, -1, 0 };
    pthread_t t;

    CHECK(pipe(pfd) == 0, "pipe");
    add(ep, EPOLL_CTL_ADD, c, EPOLLIN, 1); /* (the set has been a ring set) */
    add(ep, EPOLL_CTL_DEL, c, 0, 1);
    add(ep, EPOLL_CTL_ADD, pfd[0], EPOLLIN, 0);
    CHECK(pthread_create(&t, NULL, timed_wait, th) == 0, "pthread_create");
    for (int i = 0; i < 20; i++) {
        usleep(10000);
        add(ep, EPOLL_CTL_ADD, c, EPOLLIN, 1);
        add(ep, EPOLL_CTL_DEL, c, 0, 1);
    }
    pthread_join(t, NULL);
    CHECK(th[1] == 0 && th[2] >= 790, "epoll_wait(800 ms): %d after %d ms", th[1], th[2]);
    st_send_pat(c, 407, 0, 5);
    st_read_pat(c, 407, 0, 5);
    st_ring(c, "a connection added and removed");
    close(pfd[0]);
    close(pfd[1]);
    close(ep);
    close(c);
}

int main(int argc, char **argv)
{
    st_init(argc, argv, 60);
    edge_triggered();
    writer_edge();
    pwait2();
    thread_pool();
    hangups();
    sets();
    timeout_not_early();
    return st_done("epoll_more");
}

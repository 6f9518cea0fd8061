/* epoll over kernel fds and connections in one set: level-triggered,
 * EPOLLONESHOT re-armed by EPOLL_CTL_MOD, EPOLL_CTL_DEL, epoll_ctl's errno
 * (xs_epoll_modes xway|kernel PEER_ADDR PORT, against xs_peer). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer.h"

enum { T_C0, T_C1, T_C2, T_PIPE, T_KERN, T_ALIAS, T_MAX };
static const char *const names[T_MAX] = { "c0", "c1", "c2", "pipe", "kernel tcp", "c2 alias" };
static int ep;

static void add(int op, int fd, uint32_t events, int tag)
{
    struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)tag };
    CHECK(epoll_ctl(ep, op, fd, &ev) == 0, "epoll_ctl %d of %s: %s", op, names[tag], strerror(errno));
}

/* Wait up to ms (collecting over several epoll_waits) until the tags ready are
 * want; the tags seen, their events in ev_of. */
static unsigned collect(unsigned want, int ms, uint32_t ev_of[T_MAX])
{
    struct epoll_event evs[16];
    struct timespec t0;
    unsigned seen = 0;

    memset(ev_of, 0, T_MAX * sizeof(ev_of[0]));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        long left = ms - st_ms_since(&t0);
        int n = epoll_wait(ep, evs, 16, left > 0 ? (int)left : 0);
        CHECK(n >= 0, "epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            unsigned t = (unsigned)evs[i].data.u64;
            if (t < T_MAX) {
                seen |= 1u << t;
                ev_of[t] |= evs[i].events;
            }
        }
        if (left <= 0 || (want && seen == want))
            return seen;
    }
}

static const char *tags(unsigned m, char *buf)
{
    buf[0] = '\0';
    for (int t = 0; t < T_MAX; t++)
        if (m & (1u << t))
            sprintf(buf + strlen(buf), "%s%s", buf[0] ? "," : "", names[t]);
    return buf;
}

#define READY(want, ms)                                                                   \
    do {                                                                                  \
        char a_[128], b_[128];                                                            \
        unsigned s_ = collect((want), (ms), ev_of);                                       \
        CHECK(s_ == (want), "ready {%s}, want {%s}", tags(s_, a_), tags((want), b_));     \
    } while (0)
#define BIT(t) (1u << (t))

/* A connected kernel TCP pair on 127.0.0.1 (under the shim, loopback makes
 * kernel sockets). */
static void kernel_pair(int *a, int *b)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof(sa);
    int l = socket(AF_INET, SOCK_STREAM, 0);

    if (l < 0 || bind(l, (void *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0 ||
        getsockname(l, (void *)&sa, &sl) < 0)
        st_die("loopback listener");
    *a = socket(AF_INET, SOCK_STREAM, 0);
    if (*a < 0 || connect(*a, (void *)&sa, sizeof(sa)) < 0 || (*b = accept(l, NULL, NULL)) < 0)
        st_die("loopback connection");
    close(l);
}

int main(int argc, char **argv)
{
    int c0, c1, c2, alias, p[2], k1, k2, x, dead;
    uint32_t ev_of[T_MAX];
    sigset_t none;

    st_init(argc, argv, 50);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0 || pipe(p) < 0)
        st_die("epoll_create1/pipe");
    kernel_pair(&k1, &k2);
    c0 = st_conn(PEER_ECHO, 200, 0, 0, 0);
    c1 = st_conn(PEER_ECHO, 201, 0, 0, 0);
    c2 = st_conn(PEER_ECHO, 202, 0, 0, 0);
    alias = dup(c2);
    sigemptyset(&none);

    /* Level-triggered: reported on every wait until all is read. */
    add(EPOLL_CTL_ADD, c0, EPOLLIN, T_C0);
    READY(0, 100);
    st_send_pat(c0, 200, 0, 100);
    READY(BIT(T_C0), 5000);
    CHECK(ev_of[T_C0] == EPOLLIN, "c0 events %#x", ev_of[T_C0]);
    st_read_pat(c0, 200, 0, 10);
    READY(BIT(T_C0), 5000);
    READY(BIT(T_C0), 5000);
    st_read_pat(c0, 200, 10, 90);
    READY(0, 200);

    /* EPOLLOUT, level-triggered: every wait, alone while nothing is readable. */
    add(EPOLL_CTL_MOD, c0, EPOLLIN | EPOLLOUT, T_C0);
    READY(BIT(T_C0), 1000);
    CHECK(ev_of[T_C0] == EPOLLOUT, "c0 events %#x, want EPOLLOUT", ev_of[T_C0]);
    READY(BIT(T_C0), 1000);
    add(EPOLL_CTL_MOD, c0, EPOLLIN, T_C0);
    READY(0, 100);

    /* EPOLLONESHOT: one event, then silent (data or not) until MOD re-arms. */
    add(EPOLL_CTL_ADD, c1, EPOLLIN | EPOLLONESHOT, T_C1);
    st_send_pat(c1, 201, 0, 50);
    READY(BIT(T_C1), 5000);
    READY(0, 300);
    st_send_pat(c1, 201, 50, 50);
    READY(0, 300);
    add(EPOLL_CTL_MOD, c1, EPOLLIN | EPOLLONESHOT, T_C1);
    {
        struct epoll_event ev;
        int n = epoll_pwait(ep, &ev, 1, 5000, &none);
        CHECK(n == 1 && ev.data.u64 == T_C1 && ev.events == EPOLLIN,
              "epoll_pwait after re-arming: %d, tag %llu, events %#x", n,
              (unsigned long long)ev.data.u64, ev.events);
    }
    READY(0, 200);
    st_read_pat(c1, 201, 0, 100);
    add(EPOLL_CTL_MOD, c1, EPOLLIN | EPOLLONESHOT, T_C1);
    READY(0, 200);
    st_send_pat(c1, 201, 100, 10);
    READY(BIT(T_C1), 5000);
    st_read_pat(c1, 201, 100, 10);

    /* A mixed set: pipe, kernel TCP, a connection and its alias. */
    add(EPOLL_CTL_ADD, p[0], EPOLLIN, T_PIPE);
    add(EPOLL_CTL_ADD, k2, EPOLLIN, T_KERN);
    add(EPOLL_CTL_ADD, c2, EPOLLIN, T_C2);
    add(EPOLL_CTL_ADD, alias, EPOLLIN, T_ALIAS);
    READY(0, 200);
    CHECK(write(p[1], "!", 1) == 1, "pipe write");
    READY(BIT(T_PIPE), 5000);
    st_send_pat(k1, 300, 0, 20);
    st_send_pat(c2, 202, 0, 30);
    READY(BIT(T_PIPE) | BIT(T_KERN) | BIT(T_C2) | BIT(T_ALIAS), 5000);
    for (int t = 0; t < T_MAX; t++)
        CHECK(!ev_of[t] || ev_of[t] == EPOLLIN, "%s events %#x", names[t], ev_of[t]);
    {
        char ch;
        CHECK(read(p[0], &ch, 1) == 1, "pipe read");
    }
    READY(BIT(T_KERN) | BIT(T_C2) | BIT(T_ALIAS), 1000);
    st_read_pat(k2, 300, 0, 20);
    READY(BIT(T_C2) | BIT(T_ALIAS), 1000);
    st_read_pat(alias, 202, 0, 30);
    READY(0, 200);

    /* EPOLL_CTL_DEL: c2 is no longer reported, its alias still is. */
    add(EPOLL_CTL_DEL, c2, 0, T_C2);
    st_send_pat(c2, 202, 30, 40);
    READY(BIT(T_ALIAS), 5000);
    READY(BIT(T_ALIAS), 300);
    st_read_pat(c2, 202, 30, 40);
    READY(0, 200);

    /* epoll_ctl's errors are the kernel's. */
    {
        struct epoll_event ev = { .events = EPOLLIN };
        EXPECT_ERR(epoll_ctl(ep, EPOLL_CTL_DEL, c2, &ev), ENOENT);
        EXPECT_ERR(epoll_ctl(ep, EPOLL_CTL_MOD, c2, &ev), ENOENT);
        EXPECT_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, c0, &ev), EEXIST);
        EXPECT_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev), EINVAL);
        EXPECT_ERR(epoll_ctl(c0, EPOLL_CTL_ADD, c2, &ev), EINVAL);
        dead = dup(p[0]);
        close(dead);
        EXPECT_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, dead, &ev), EBADF);
        EXPECT_ERR(epoll_ctl(ep, EPOLL_CTL_DEL, dead, &ev), EBADF);
    }

    /* Closing a registered number whose file lives on in a dup keeps the
     * registration (epoll(7)): the alias's tag fires for data on c2. */
    x = alias;
    close(alias);
    st_send_pat(c2, 202, 70, 5);
    READY(BIT(T_ALIAS), 5000);
    st_read_pat(c2, 202, 70, 5);
    READY(0, 200);
    /* ... and closing the last number removes it. */
    add(EPOLL_CTL_ADD, c2, EPOLLIN, T_C2);
    close(k2);
    CHECK(write(p[1], "!", 1) == 1, "pipe write");
    st_send_pat(k1, 300, 20, 5); /* to a closed peer: no event anywhere */
    READY(BIT(T_PIPE), 300);

    /* EOF: EPOLLIN, and read gives 0. */
    {
        char ch;
        CHECK(read(p[0], &ch, 1) == 1, "pipe read");
    }
    OK(shutdown(c0, SHUT_WR));
    READY(BIT(T_C0), 5000);
    CHECK(ev_of[T_C0] & EPOLLIN, "c0 at EOF: events %#x", ev_of[T_C0]);
    CHECK(read(c0, &x, 1) == 0, "read at EOF");
    /* Both directions over (our SHUT_WR, the peer's EOF): EPOLLHUP, and
     * EPOLLRDHUP when asked for, as the kernel shows them. */
    add(EPOLL_CTL_MOD, c0, EPOLLIN | EPOLLRDHUP, T_C0);
    {
        unsigned want = EPOLLIN | EPOLLRDHUP | EPOLLHUP;
        for (int i = 0; i < 50 && (ev_of[T_C0] & want) != want; i++)
            collect(BIT(T_C0), 100, ev_of);
        CHECK((ev_of[T_C0] & want) == want, "c0 at EOF after SHUT_WR: events %#x, want %#x",
              ev_of[T_C0], want);
    }

    st_ring(c1, "c1");
    st_ring(c2, "c2");
    close(c0);
    close(c1);
    close(c2);
    close(k1);
    close(ep);
    return st_done("epoll_modes");
}

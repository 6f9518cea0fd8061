/* Blocking calls of many threads at once: one of them polls the link (or, on
 * the ring, the event fd) itself while it waits, and wakes the others for what
 * it reads; it is woken for what other threads do to its socket.
 *   - 8 threads each block in recv on a connection of their own; the server
 *     answers them in a shuffled order, 3 rounds: every thread gets its bytes
 *     (FNV-1a hashed at both ends), whichever thread polled;
 *   - a thread blocked in recv is woken by another thread's shutdown(SHUT_RD)
 *     (recv returns 0) and by SO_RCVTIMEO (EAGAIN after the timeout);
 *   - a thread blocked in recv is woken by another thread's close (EBADF), and
 *     the stack goes on serving the other connections afterwards.
 * Argument "ring": co-resident peers with XWAY_SPIN_US=0 (every wait sleeps). */
#include "peer.h"
#include "ringtest.h"
#include "testlib.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xway.h>

#define SRV "10.77.12.1"
#define PORT 7012
#define NT 8
#define ROUNDS 3
#define MSG 3000

static bool ring;

static void fill(char *buf, int conn, int round)
{
    for (int i = 0; i < MSG; i++)
        buf[i] = (char)(conn * 31 + round * 7 + i * 13);
}

static int server(int ctl, void *arg)
{
    int lfd = xwt_listen(SRV, PORT, 16), c[NT], order[NT];
    char buf[MSG];

    (void)arg;
    xwt_ctl_send(ctl, 'R');
    for (int i = 0; i < NT; i++) {
        uint8_t id;
        c[i] = xway_accept(lfd, NULL, NULL);
        CHECK(c[i] >= 0);
        CHECK_EQ(xway_recv(c[i], &id, 1, MSG_WAITALL), 1); /* which client thread */
        CHECK(id < NT);
        order[id] = c[i];
    }
    memcpy(c, order, sizeof(c));
    for (int r = 0; r < ROUNDS; r++) {
        int perm[NT];
        for (int i = 0; i < NT; i++)
            perm[i] = i;
        for (int i = NT - 1; i > 0; i--) { /* a different order each round */
            int j = rand() % (i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        CHECK_EQ(xwt_ctl_recv(ctl), 'G'); /* every client thread is in recv */
        for (int i = 0; i < NT; i++) {
            usleep(2000);
            fill(buf, perm[i], r);
            CHECK_EQ(xway_send(c[perm[i]], buf, MSG, 0), MSG);
        }
        for (int i = 0; i < NT; i++) { /* each thread's hash of what it got */
            uint64_t want = xw_fnv(0, buf, 0), got;
            fill(buf, i, r);
            want = xw_fnv(want, buf, MSG);
            CHECK_EQ(xway_recv(c[i], &got, sizeof(got), MSG_WAITALL), (ssize_t)sizeof(got));
            CHECK(got == want);
        }
    }
    /* The blocked-recv cases: connections the client ends itself. */
    for (int i = 0; i < 3; i++) {
        int fd = xway_accept(lfd, NULL, NULL);
        CHECK(fd >= 0);
        CHECK_EQ(xwt_ctl_recv(ctl), 'N');
        xway_close(fd);
    }
    for (int i = 0; i < NT; i++)
        xway_close(c[i]);
    xway_close(lfd);
    return 0;
}

struct worker {
    int fd, id;
    _Atomic int ready;
};

static void *receiver(void *arg)
{
    struct worker *w = arg;
    char buf[MSG];

    for (int r = 0; r < ROUNDS; r++) {
        uint64_t h = xw_fnv(0, buf, 0);
        w->ready = r + 1;
        CHECK_EQ(xway_recv(w->fd, buf, MSG, MSG_WAITALL), MSG);
        h = xw_fnv(h, buf, MSG);
        CHECK_EQ(xway_send(w->fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
    }
    return NULL;
}

struct blocked {
    int fd;
    ssize_t rc;
    int err;
    uint64_t ns;    /* in recv */
    uint64_t after; /* from end(fd) to recv's return */
};

static void *block_recv(void *arg)
{
    struct blocked *b = arg;
    char c;
    uint64_t t0 = xw_now_ns();

    b->rc = xway_recv(b->fd, &c, 1, 0);
    b->err = errno;
    b->after = xw_now_ns();
    b->ns = b->after - t0;
    return NULL;
}

/* A thread blocked in recv on a fresh connection, ended by end(fd) from here
 * after 300 ms (or by nothing: its SO_RCVTIMEO). */
static struct blocked blocked_case(int p_ctl, void (*end)(int fd), int timeo_ms)
{
    struct blocked b = { .fd = xwt_connect(SRV, PORT) };
    pthread_t t;

    if (ring)
        xwt_expect_path("client", b.fd, "ring", "none");
    if (timeo_ms) {
        struct timeval tv = { 0, timeo_ms * 1000 };
        CHECK_EQ(xway_setsockopt(b.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    }
    CHECK_EQ(pthread_create(&t, NULL, block_recv, &b), 0);
    usleep(300000);
    uint64_t t_end = xw_now_ns();
    if (end)
        end(b.fd);
    CHECK_EQ(pthread_join(t, NULL), 0);
    b.after -= t_end;
    xwt_ctl_send(p_ctl, 'N');
    return b;
}

/* Woken at once: a sleeper nobody woke would sleep on (the TCP path) or
 * until its next liveness probe (the ring: 400 ms here). */
static void expect_woken(const char *what, struct blocked b, ssize_t rc, int err)
{
    printf("%s: recv returned %zd (%s), %.1f ms after\n", what, b.rc,
           b.rc < 0 ? strerror(b.err) : "end of stream", b.after / 1e6);
    CHECK_EQ(b.rc, rc);
    if (rc < 0)
        CHECK_EQ(b.err, err);
    CHECK(b.ns > 250000000ull && b.after < 60000000ull);
}

static void end_shutdown(int fd) { CHECK_EQ(xway_shutdown(fd, SHUT_RD), 0); }
static void end_close(int fd) { CHECK_EQ(xway_close(fd), 0); }

int main(int argc, char **argv)
{
    const char *hub = xwt_setup(100);
    struct worker w[NT];
    pthread_t t[NT];
    struct blocked b;

    ring = argc > 1 && !strcmp(argv[1], "ring");
    if (ring)
        CHECK(setenv("XWAY_BACKEND", "sim", 1) == 0 && setenv("XWAY_HOST", xw_sim_host(), 1) == 0 &&
              setenv("XWAY_SPIN_US", "0", 1) == 0);
    struct xwt_peer p = xwt_spawn(hub, SRV "/24", server, NULL);
    xwt_start(hub, "10.77.12.2/24");
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'R');

    for (int i = 0; i < NT; i++) {
        uint8_t id = (uint8_t)i;
        w[i] = (struct worker){ .fd = xwt_connect(SRV, PORT), .id = i };
        xwt_expect_path("client", w[i].fd, ring ? "ring" : "tcp", ring ? "none" : "backend-off");
        CHECK_EQ(xway_send(w[i].fd, &id, 1, 0), 1);
        CHECK_EQ(pthread_create(&t[i], NULL, receiver, &w[i]), 0);
    }
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < NT; i++)
            while (w[i].ready < r + 1)
                usleep(1000);
        usleep(20000); /* (into recv) */
        xwt_ctl_send(p.ctl, 'G');
    }
    for (int i = 0; i < NT; i++)
        CHECK_EQ(pthread_join(t[i], NULL), 0);
    printf("%d threads x %d rounds: every recv got its bytes\n", NT, ROUNDS);

    b = blocked_case(p.ctl, end_shutdown, 0);
    expect_woken("shutdown", b, 0, 0);
    xway_close(b.fd);
    b = blocked_case(p.ctl, NULL, 500);
    printf("SO_RCVTIMEO 500 ms: recv returned %zd (%s) after %.1f ms\n", b.rc, strerror(b.err), b.ns / 1e6);
    CHECK_EQ(b.rc, -1);
    CHECK_EQ(b.err, EAGAIN);
    CHECK(b.ns > 450000000ull && b.ns < 2000000000ull);
    xway_close(b.fd);
    b = blocked_case(p.ctl, end_close, 0);
    expect_woken("close", b, -1, EBADF);
    printf("blocked recv: woken by shutdown (0), SO_RCVTIMEO (EAGAIN), close (EBADF)\n");

    xwt_join(&p);
    xway_fini();
    printf("ok\n");
    return 0;
}

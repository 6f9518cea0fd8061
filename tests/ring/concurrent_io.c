/* Several threads on one ring connection at once, as POSIX allows on a stream
 * socket: two threads send 32 MiB each (bytes 'A' and 'B') while the peer
 * counts what arrives, then two threads receive 64 MiB the peer sends while
 * each counts the byte values it got.  Chunks of concurrent calls may
 * interleave (as on Linux), but every byte arrives exactly once: the counts
 * must match exactly (before the ring's per-direction ownership, bytes were
 * lost or overwritten without any error). */
#include "peer.h"
#include "ringtest.h"
#include "testlib.h"

#include <pthread.h>
#include <string.h>

#define PORT 7310
#define IP "10.77.64.1"
#define EACH (32u << 20)
#define DOWN (64u << 20)
#define CHUNK 32768

static int server(int ctl, void *arg)
{
    static unsigned char buf[65536];
    uint64_t count[256] = { 0 }, total = 0;
    int l = xwt_listen(IP, PORT, 4), fd;
    ssize_t n;

    (void)arg;
    xwt_ctl_send(ctl, 'R');
    CHECK((fd = xway_accept(l, NULL, NULL)) >= 0);
    xwt_expect_path("server", fd, "ring", "none");
    while ((n = xway_recv(fd, buf, sizeof(buf), 0)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            count[buf[i]]++;
        total += (uint64_t)n;
    }
    CHECK_EQ(n, 0);
    printf("server: %llu bytes: 'A' %llu, 'B' %llu\n", (unsigned long long)total,
           (unsigned long long)count['A'], (unsigned long long)count['B']);
    CHECK_EQ(count['A'], EACH);
    CHECK_EQ(count['B'], EACH);
    CHECK_EQ(total, 2ull * EACH);
    for (uint64_t off = 0; off < DOWN; off += sizeof(buf)) { /* byte i is i % 251 */
        for (size_t i = 0; i < sizeof(buf); i++)
            buf[i] = (unsigned char)((off + i) % 251);
        for (size_t done = 0; done < sizeof(buf); done += (size_t)n)
            CHECK((n = xway_send(fd, buf + done, sizeof(buf) - done, MSG_NOSIGNAL)) > 0);
    }
    CHECK(xway_shutdown(fd, SHUT_WR) == 0);
    CHECK_EQ(xwt_ctl_recv(ctl), 'd');
    xway_close(fd);
    xway_close(l);
    return 0;
}

struct worker {
    pthread_t t;
    int fd;
    unsigned char byte; /* sender: the byte it sends */
    uint64_t count[251], total;
};

static void *sender(void *arg)
{
    struct worker *w = arg;
    static __thread unsigned char buf[CHUNK];
    memset(buf, w->byte, sizeof(buf));
    for (size_t done = 0; done < EACH;) {
        ssize_t n = xway_send(w->fd, buf, EACH - done < CHUNK ? EACH - done : CHUNK, MSG_NOSIGNAL);
        CHECK(n > 0);
        done += (size_t)n;
    }
    return NULL;
}

static void *receiver(void *arg)
{
    struct worker *w = arg;
    static __thread unsigned char buf[CHUNK];
    ssize_t n;
    while ((n = xway_recv(w->fd, buf, sizeof(buf), 0)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            CHECK(buf[i] < 251);
            w->count[buf[i]]++;
        }
        w->total += (uint64_t)n;
    }
    CHECK_EQ(n, 0);
    return NULL;
}

int main(void)
{
    const char *hub = xwt_setup(100);
    const char *host = xw_sim_host();
    struct worker w[2] = { { .byte = 'A' }, { .byte = 'B' } };
    uint64_t want[251] = { 0 };
    int fd;

    CHECK(setenv("XWAY_BACKEND", "sim", 1) == 0 && setenv("XWAY_HOST", host, 1) == 0);
    struct xwt_peer s = xwt_spawn(hub, IP "/24", server, NULL);
    CHECK_EQ(xwt_ctl_recv(s.ctl), 'R');
    xwt_start(hub, "10.77.64.2/24");
    fd = xwt_connect(IP, PORT);
    xwt_expect_path("client", fd, "ring", "none");
    for (int i = 0; i < 2; i++) {
        w[i].fd = fd;
        CHECK(pthread_create(&w[i].t, NULL, sender, &w[i]) == 0);
    }
    for (int i = 0; i < 2; i++)
        CHECK(pthread_join(w[i].t, NULL) == 0);
    CHECK(xway_shutdown(fd, SHUT_WR) == 0);
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&w[i].t, NULL, receiver, &w[i]) == 0);
    for (int i = 0; i < 2; i++)
        CHECK(pthread_join(w[i].t, NULL) == 0);
    for (uint64_t i = 0; i < DOWN; i++)
        want[i % 251]++;
    printf("client: receivers got %llu and %llu bytes\n", (unsigned long long)w[0].total,
           (unsigned long long)w[1].total);
    CHECK_EQ(w[0].total + w[1].total, DOWN);
    for (int v = 0; v < 251; v++)
        CHECK_EQ(w[0].count[v] + w[1].count[v], want[v]);
    xwt_ctl_send(s.ctl, 'd');
    xway_close(fd);
    xwt_join(&s);
    xway_fini();
    printf("PASS\n");
    return 0;
}

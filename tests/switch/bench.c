/* switch_bench XWAYCTL [SECONDS]: what the switches cost a stream (`make
 * bench`; not a test).  A sender streams 64 KiB messages to a receiver on the
 * same sim host; at a third of the time the parent moves the receiver away
 * with `xwayctl sim-move` (ring -> TCP), at two thirds back (TCP -> ring).
 * The receiver checks every byte and samples, every millisecond from a second
 * thread, the bytes it has and the bytes each path delivered (XWAY_INFO).
 * One JSON line:
 *   ring_gbps       throughput before the first move (the ring)
 *   tcp_gbps        from the first TCP byte to the second move (TCP)
 *   back_gbps       from the first ring byte after the second move to the end
 *   first_tcp_ms    from the first move's start to the first byte TCP delivered
 *   first_ring_ms   from the second move's start to the first byte the new
 *                   ring delivered
 *   stall_ms        the longest time around the first move with no byte
 *   switch_ms       how long xwayctl sim-move took (the first move itself) */
#include "peer.h"
#include "ringtest.h"
#include "testlib.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PORT 7520
#define IP_R "10.77.83.1"
#define MSG 65536
#define MAX_SAMPLES 100000

static double seconds = 4.0;

struct sample {
    uint64_t ns, bytes, tcp, ring;
};

static _Atomic uint64_t got;
static _Atomic bool done;
static int rfd;

static void *sampler(void *arg)
{
    struct sample *s = arg;
    size_t n = 0;

    while (!atomic_load(&done) && n < MAX_SAMPLES) {
        struct xway_conn_info ci;
        socklen_t len = sizeof(ci);
        uint64_t b = atomic_load(&got);
        bool ok = xway_getsockopt(rfd, XWAY_SOL, XWAY_INFO, &ci, &len) == 0;
        s[n].tcp = ok ? ci.tcp_rx : 0;
        s[n].ring = ok ? ci.ring_rx : 0;
        s[n].ns = xw_now_ns();
        s[n++].bytes = b;
        usleep(1000);
    }
    s[n < MAX_SAMPLES ? n : MAX_SAMPLES - 1].ns = 0;
    return NULL;
}

static int receiver(int ctl, void *arg)
{
    static char buf[MSG];
    static struct sample s[MAX_SAMPLES];
    int l = xwt_listen(IP_R, PORT, 1);
    uint64_t off = 0;
    pthread_t t;

    xwt_ctl_send(ctl, 'L');
    rfd = xway_accept(l, NULL, NULL);
    CHECK(rfd >= 0);
    xwt_expect_path("receiver", rfd, "ring", "none");
    CHECK(pthread_create(&t, NULL, sampler, s) == 0);
    for (;;) {
        ssize_t n = xway_recv(rfd, buf, sizeof(buf), 0);
        CHECK(n >= 0);
        if (n == 0)
            break;
        CHECK_EQ(xw_pattern_check(buf, (size_t)n, off, 7), -1);
        off += (uint64_t)n;
        atomic_store_explicit(&got, off, memory_order_relaxed);
    }
    atomic_store(&done, true);
    CHECK(pthread_join(t, NULL) == 0);
    xwt_expect_path("receiver", rfd, "ring", "none");
    uint64_t t_move = xwt_ctl_recv64(ctl), move_ns = xwt_ctl_recv64(ctl);
    uint64_t t_back = xwt_ctl_recv64(ctl);
    /* Before: from the first sample to the move; after: from the first TCP
     * byte to the last arrival. */
    size_t n = 0, first_tcp = 0, i;
    while (n < MAX_SAMPLES && s[n].ns)
        n++;
    CHECK(n > 10);
    size_t before = 0;
    for (i = 0; i < n && s[i].ns < t_move; i++)
        before = i;
    for (i = 0; i < n && !s[i].tcp; i++)
        ;
    first_tcp = i;
    CHECK(first_tcp < n);
    size_t back = first_tcp, first_ring;
    while (back < n && s[back].ns < t_back)
        back++;
    for (first_ring = back; first_ring + 1 < n && s[first_ring].ring == s[back].ring; first_ring++)
        ;
    CHECK(first_ring + 1 < n);
    size_t last = n - 1;
    while (last > first_ring && s[last - 1].bytes == s[last].bytes)
        last--;
    uint64_t stall = 0;
    for (i = before; i + 1 < n && i < first_tcp + 1000; i++) {
        size_t j = i;
        while (j + 1 < n && s[j + 1].bytes == s[i].bytes)
            j++;
        if (s[j].ns - s[i].ns > stall && j > i)
            stall = s[j].ns - s[i].ns;
        i = j;
    }
    double ring = (double)(s[before].bytes - s[0].bytes) / (double)(s[before].ns - s[0].ns);
    double tcp = back > first_tcp ? (double)(s[back].bytes - s[first_tcp].bytes) /
                                        (double)(s[back].ns - s[first_tcp].ns)
                                  : 0;
    double again = last > first_ring ? (double)(s[last].bytes - s[first_ring].bytes) /
                                           (double)(s[last].ns - s[first_ring].ns)
                                     : 0;
    printf("{\"ring_gbps\": %.3f, \"tcp_gbps\": %.3f, \"back_gbps\": %.3f, "
           "\"first_tcp_ms\": %.2f, \"first_ring_ms\": %.2f, \"stall_ms\": %.2f, "
           "\"switch_ms\": %.2f, \"bytes\": %llu, \"verified\": true}\n",
           ring, tcp, again, (double)(s[first_tcp].ns - t_move) / 1e6,
           (double)(s[first_ring].ns - t_back) / 1e6, (double)stall / 1e6,
           (double)move_ns / 1e6, (unsigned long long)off);
    fflush(stdout);
    xway_close(rfd);
    xway_close(l);
    return 0;
}

static int sender(int ctl, void *arg)
{
    static char buf[MSG];
    int fd = xwt_connect(IP_R, PORT);
    uint64_t off = 0, end = xw_now_ns() + (uint64_t)(seconds * 1e9);

    while (xw_now_ns() < end) {
        xw_pattern(buf, sizeof(buf), off, 7);
        ssize_t n = xway_send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
        CHECK(n == MSG);
        off += MSG;
    }
    CHECK(xway_shutdown(fd, SHUT_WR) == 0);
    char c;
    CHECK(xway_recv(fd, &c, 1, 0) == 0);
    xway_close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    char dir[] = "/dev/shm/xwt-ctl-XXXXXX", cmd[4096];

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: switch_bench XWAYCTL [SECONDS]\n");
        return 2;
    }
    if (argc == 3)
        seconds = atof(argv[2]);
    const char *hub = xwt_setup((unsigned)(seconds * 3 + 30));
    const char *host = xw_sim_host(), *host2 = xw_sim_host();
    CHECK(mkdtemp(dir) != NULL);
    CHECK(setenv("XWAY_CTL_DIR", dir, 1) == 0);
    CHECK(setenv("XWAY_BACKEND", "sim", 1) == 0 && setenv("XWAY_HOST", host, 1) == 0);
    CHECK(setenv("XWAY_LOG", "warn", 1) == 0);
    struct xwt_peer r = xwt_spawn(hub, IP_R "/24", receiver, NULL);
    CHECK_EQ(xwt_ctl_recv(r.ctl), 'L');
    struct xwt_peer s = xwt_spawn(hub, "10.77.83.2/24", sender, NULL);
    usleep((useconds_t)(seconds / 3 * 1e6));
    snprintf(cmd, sizeof(cmd), "%s sim-move --pid %d --host %s >/dev/null", argv[1], (int)r.pid,
             host2);
    uint64_t t0 = xw_now_ns();
    CHECK_EQ(system(cmd), 0);
    uint64_t t1 = xw_now_ns();
    usleep((useconds_t)(seconds / 3 * 1e6));
    snprintf(cmd, sizeof(cmd), "%s sim-move --pid %d --host %s >/dev/null", argv[1], (int)r.pid,
             host);
    uint64_t t2 = xw_now_ns();
    CHECK_EQ(system(cmd), 0);
    xwt_ctl_send64(r.ctl, t0);
    xwt_ctl_send64(r.ctl, t1 - t0);
    xwt_ctl_send64(r.ctl, t2);
    xwt_join(&s);
    xwt_join(&r);
    rmdir(dir);
    return 0;
}

/* Resource caps of the acceptor (issue 11 item 10).  One acceptor A (XWAY_RING
 * 64K: the largest ring it maps) and a co-resident connector whose OFFERs ask
 * for the largest ring there is (XWAY_RING 4M):
 *   1. 10,000 sequential connections: each TCP with reason resources on both
 *      sides (A never maps a ring bigger than its own), A's fds and memory flat;
 *   2. 1,000 concurrent ones (all open at once, 4 threads connecting): the
 *      same, and A's fds back to where they were once they are closed;
 * then a connector asking for 64K rings:
 *   3. 1,000 concurrent: the first XW_CHAN_PEER_RINGS take the ring, the later
 *      ones TCP with reason resources; A's mappings bounded by the cap; once
 *      they are closed, the next connection takes the ring again.
 * Every connection carries a checksummed message both ways. */
#include "peer.h"
#include "ringtest.h"
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"

#define SRV "10.77.92.1"
#define PORT 7500
#define N_SEQ 10000
#define N_CONC 1000
#define MSG 1024
#define THREADS 4

/* Under AddressSanitizer freed memory waits in a quarantine (256 MiB by
 * default): keep it small so that RSS measures what the stack holds. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "quarantine_size_mb=4";
}

struct usage {
    int fds;
    long vm_kb, rss_kb;
};

static struct usage usage_now(void)
{
    struct usage u = { 0 };
    char line[256];
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    while (readdir(d))
        u.fds++;
    closedir(d);
    FILE *f = fopen("/proc/self/status", "r");
    CHECK(f != NULL);
    while (fgets(line, sizeof(line), f)) {
        sscanf(line, "VmSize: %ld kB", &u.vm_kb);
        sscanf(line, "VmRSS: %ld kB", &u.rss_kb);
    }
    fclose(f);
    return u;
}

static void show(const char *what, struct usage u)
{
    printf("acceptor %s: %d fds, VmSize %ld MiB, VmRSS %ld MiB\n", what, u.fds,
           u.vm_kb >> 10, u.rss_kb >> 10);
}

/* A checksummed message each way: the connector's pattern (seed), echoed.
 * Sent on every connection before any echo is read: the acceptor's order of
 * connections is not ours. */
static void ping_send(int fd, uint32_t seed)
{
    char b[MSG];
    xw_pattern(b, sizeof(b), 0, seed);
    CHECK_EQ(xway_send(fd, b, sizeof(b), MSG_NOSIGNAL), MSG);
}

static void ping_check(int fd, uint32_t seed)
{
    char b[MSG];
    CHECK_EQ(xway_recv(fd, b, sizeof(b), MSG_WAITALL), MSG);
    CHECK_EQ(xw_pattern_check(b, sizeof(b), 0, seed), -1);
}

static void ping(int fd, uint32_t seed)
{
    ping_send(fd, seed);
    ping_check(fd, seed);
}

static void echo_one(int fd)
{
    char b[MSG];
    CHECK_EQ(xway_recv(fd, b, sizeof(b), MSG_WAITALL), MSG);
    CHECK_EQ(xway_send(fd, b, sizeof(b), MSG_NOSIGNAL), MSG);
}

static bool on_ring(int fd)
{
    struct xway_conn_info ci = xwt_info(fd);
    return !strcmp(ci.path, "ring");
}

/* Quietly (thousands of them): 0, or 1 with xwt_path_is's message. */
static int is_tcp_resources(const char *who, int fd)
{
    struct xway_conn_info ci = xwt_info(fd);
    if (!strcmp(ci.path, "tcp") && ci.fallback_code == XWAY_REASON_RESOURCES)
        return 0;
    return xwt_path_is(who, fd, "tcp", "resources") | 1;
}

/* ---- acceptor ------------------------------------------------------------------ */

static int accept_many(int l, int *fds, int n, int *rings)
{
    int bad = 0;
    *rings = 0;
    for (int i = 0; i < n; i++) {
        fds[i] = xway_accept(l, NULL, NULL);
        CHECK(fds[i] >= 0);
        if (on_ring(fds[i]))
            (*rings)++;
        else
            bad |= is_tcp_resources("acceptor", fds[i]);
    }
    for (int i = 0; i < n; i++)
        echo_one(fds[i]);
    return bad;
}

static void close_all(int *fds, int n)
{
    char c;
    for (int i = 0; i < n; i++) {
        CHECK_EQ(xway_recv(fds[i], &c, 1, 0), 0); /* the connector closes first */
        xway_close(fds[i]);
    }
}

static int acceptor(int ctl, void *arg)
{
    static int fds[N_CONC];
    int l = xwt_listen(SRV, PORT, 128), bad = 0, rings;
    (void)arg;
    xwt_ctl_send(ctl, 'R');

    /* 1: sequential, largest ring asked */
    struct usage u0 = usage_now(), u1 = u0;
    show("at start", u0);
    for (int i = 0; i < N_SEQ; i++) {
        int fd = xway_accept(l, NULL, NULL);
        CHECK(fd >= 0);
        if (is_tcp_resources("acceptor", fd)) {
            fprintf(stderr, "FAIL: sequential connection %d\n", i);
            bad = 1;
            i = N_SEQ; /* drain no more: the connector stops too */
        }
        echo_one(fd);
        xway_close(fd);
        if (i == 99)
            u1 = usage_now();
    }
    struct usage u2 = usage_now();
    show("after 100 sequential", u1);
    show("after 10000 sequential", u2);
    if (u2.fds > u1.fds + 2 || u2.vm_kb > u1.vm_kb + (64 << 10) || u2.rss_kb > u1.rss_kb + (32 << 10)) {
        fprintf(stderr, "FAIL: acceptor grew over 9,900 sequential connections\n");
        bad = 1;
    }
    xwt_ctl_send(ctl, 'S');

    /* 2: concurrent, largest ring asked */
    bad |= accept_many(l, fds, N_CONC, &rings);
    struct usage u3 = usage_now();
    show("with 1000 open (4M asked)", u3);
    if (rings) {
        fprintf(stderr, "FAIL: %d connections mapped a ring bigger than XWAY_RING\n", rings);
        bad = 1;
    }
    if (u3.vm_kb > u2.vm_kb + (64 << 10)) {
        fprintf(stderr, "FAIL: acceptor mapped %ld MiB for refused rings\n",
                (u3.vm_kb - u2.vm_kb) >> 10);
        bad = 1;
    }
    close_all(fds, N_CONC);
    struct usage u4 = usage_now();
    show("after closing them", u4);
    if (u4.fds > u2.fds + 2) {
        fprintf(stderr, "FAIL: %d fds left after the connections closed\n", u4.fds - u2.fds);
        bad = 1;
    }
    xwt_ctl_send(ctl, 'C');

    /* 3: concurrent, 64K rings: the per-peer cap */
    bad |= accept_many(l, fds, N_CONC, &rings);
    struct usage u5 = usage_now();
    show("with 1000 open (64K asked)", u5);
    printf("acceptor: %d of %d on the ring (cap %d)\n", rings, N_CONC, XW_CHAN_PEER_RINGS);
    if (rings != XW_CHAN_PEER_RINGS) {
        fprintf(stderr, "FAIL: %d ring connections, want the cap %d\n", rings, XW_CHAN_PEER_RINGS);
        bad = 1;
    }
    if (u5.vm_kb > u4.vm_kb + (long)XW_CHAN_PEER_RINGS * 128 + (64 << 10)) {
        fprintf(stderr, "FAIL: acceptor's mappings exceed the cap\n");
        bad = 1;
    }
    close_all(fds, N_CONC);
    xwt_ctl_send(ctl, 'D'); /* every ring released: the next one may come */
    int fd = xway_accept(l, NULL, NULL);
    CHECK(fd >= 0);
    bad |= xwt_path_is("acceptor (after the cap's rings closed)", fd, "ring", "none");
    echo_one(fd);
    close_all(&fd, 1);
    show("at the end", usage_now());
    xway_close(l);
    return bad;
}

/* ---- connectors -------------------------------------------------------------------- */

struct batch {
    int *fds;
    int from, to;
};

static void *connect_batch(void *arg)
{
    struct batch *b = arg;
    for (int i = b->from; i < b->to; i++)
        b->fds[i] = xwt_connect(SRV, PORT);
    return NULL;
}

/* N_CONC connections open at once (THREADS connecting in parallel), a message
 * each; returns how many took the ring; the others must be TCP/resources. */
static int open_many(int *fds, int *bad)
{
    pthread_t t[THREADS];
    struct batch b[THREADS];
    int rings = 0;
    for (int k = 0; k < THREADS; k++) {
        b[k] = (struct batch){ fds, k * N_CONC / THREADS, (k + 1) * N_CONC / THREADS };
        CHECK(pthread_create(&t[k], NULL, connect_batch, &b[k]) == 0);
    }
    for (int k = 0; k < THREADS; k++)
        pthread_join(t[k], NULL);
    for (int i = 0; i < N_CONC; i++) {
        if (on_ring(fds[i]))
            rings++;
        else
            *bad |= is_tcp_resources("connector", fds[i]);
    }
    for (int i = 0; i < N_CONC; i++)
        ping_send(fds[i], 0xc0000000u + (uint32_t)i);
    for (int i = 0; i < N_CONC; i++)
        ping_check(fds[i], 0xc0000000u + (uint32_t)i);
    for (int i = 0; i < N_CONC; i++)
        xway_close(fds[i]);
    return rings;
}

static int big_connector(int ctl, void *arg)
{
    static int fds[N_CONC];
    int bad = 0;
    (void)arg;
    uint64_t t0 = xw_now_ns();
    for (int i = 0; i < N_SEQ && !bad; i++) {
        int fd = xwt_connect(SRV, PORT);
        bad |= is_tcp_resources("connector", fd);
        ping(fd, (uint32_t)i);
        xway_close(fd);
    }
    printf("connector: %d sequential connections in %.1f s\n", N_SEQ,
           (double)(xw_now_ns() - t0) / 1e9);
    struct pollfd pfd = { .fd = ctl, .events = POLLIN };
    CHECK(poll(&pfd, 1, 200000) == 1);
    CHECK_EQ(xwt_ctl_recv(ctl), 'S');
    t0 = xw_now_ns();
    int rings = open_many(fds, &bad);
    printf("connector: %d concurrent connections (4M asked) in %.1f s, %d on the ring\n",
           N_CONC, (double)(xw_now_ns() - t0) / 1e9, rings);
    return bad || rings;
}

static int small_connector(int ctl, void *arg)
{
    static int fds[N_CONC];
    int bad = 0;
    (void)arg;
    uint64_t t0 = xw_now_ns();
    int rings = open_many(fds, &bad);
    printf("connector: %d concurrent connections (64K asked) in %.1f s, %d on the ring\n",
           N_CONC, (double)(xw_now_ns() - t0) / 1e9, rings);
    CHECK_EQ(xwt_ctl_recv(ctl), 'G'); /* the acceptor closed them too */
    int fd = xwt_connect(SRV, PORT);
    bad |= xwt_path_is("connector (after the cap's rings closed)", fd, "ring", "none");
    ping(fd, 0x5a5a5a5au);
    xway_close(fd);
    return bad || rings != XW_CHAN_PEER_RINGS;
}

int main(void)
{
    const char *hub = xwt_setup(300);
    char host[96];
    snprintf(host, sizeof(host), "XWAY_HOST=%s", xw_sim_host());
    const char *a_env[] = { "XWAY_BACKEND=sim", host, "XWAY_RING=65536", NULL };
    const char *big_env[] = { "XWAY_BACKEND=sim", host, "XWAY_RING=4194304", NULL };

    struct xwt_peer a = xwt_spawn_env(hub, SRV "/24", a_env, acceptor, NULL);
    CHECK_EQ(xwt_ctl_recv(a.ctl), 'R');
    struct xwt_peer c = xwt_spawn_env(hub, "10.77.92.2/24", big_env, big_connector, NULL);
    struct pollfd pfd = { .fd = a.ctl, .events = POLLIN };
    CHECK(poll(&pfd, 1, 200000) == 1); /* the sequential phase */
    CHECK_EQ(xwt_ctl_recv(a.ctl), 'S');
    xwt_ctl_send(c.ctl, 'S');
    int st = xwt_join_status(&c);
    CHECK_EQ(xwt_ctl_recv(a.ctl), 'C');
    struct xwt_peer c2 = xwt_spawn_env(hub, "10.77.92.3/24", a_env, small_connector, NULL);
    CHECK_EQ(xwt_ctl_recv(a.ctl), 'D');
    xwt_ctl_send(c2.ctl, 'G');
    st |= xwt_join_status(&c2) | xwt_join_status(&a);
    printf(st ? "FAIL\n" : "PASS\n");
    return st ? 1 : 0;
}

/* ringbench: ring channel (sim backend, two processes) vs kernel TCP loopback,
 * AF_UNIX stream and memcpy, measured in one run and printed as ratios; 1-byte
 * ping-pong RTT; idle CPU of a blocked channel.
 * Usage: ringbench [MiB per throughput run (default 2048)] */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "xenif.h"

#define MSG (64 * 1024)
#define DIE(...) do { fprintf(stderr, __VA_ARGS__); exit(1); } while (0)

static uint64_t total;
static char host[64];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- ring ---- */

struct ring_side {
    struct xw_xenif *x;
    struct xw_channel *ch;
};

/* Fork; the child accepts, the parent creates.  fn runs on both sides. */
static double ring_run(uint32_t ring, int spin, double (*fn)(struct xw_channel *, int server))
{
    struct xw_chan_params par = { .ring_bytes = ring, .spin_us = spin };
    struct xw_chan_offer off;
    struct ring_side s;
    int p1[2], p2[2];
    uint64_t nonce;
    uint32_t peer;
    double r;
    pid_t pid;

    if (pipe(p1) || pipe(p2))
        DIE("pipe\n");
    pid = fork();
    if (pid == 0) {
        if (xw_xenif_open_sim(host, -1, &s.x))
            DIE("open\n");
        if (write(p2[1], &s.x->domid, 4) != 4 || read(p1[0], &off, sizeof(off)) != sizeof(off))
            DIE("pipe\n");
        if (xw_channel_accept(s.x, &off, &par, &s.ch, &nonce))
            DIE("accept\n");
        fn(s.ch, 1);
        xw_channel_close(s.ch);
        xw_xenif_close(s.x);
        _exit(0);
    }
    if (xw_xenif_open_sim(host, -1, &s.x) || read(p2[0], &peer, 4) != 4)
        DIE("open\n");
    if (xw_channel_create(s.x, peer, &par, &s.ch, &off))
        DIE("create\n");
    if (write(p1[1], &off, sizeof(off)) != sizeof(off))
        DIE("pipe\n");
    r = fn(s.ch, 0);
    waitpid(pid, NULL, 0);
    xw_channel_close(s.ch);
    xw_xenif_close(s.x);
    close(p1[0]); close(p1[1]); close(p2[0]); close(p2[1]);
    return r;
}

static double ring_stream(struct xw_channel *ch, int server)
{
    static char buf[MSG];
    uint64_t n = 0;
    ssize_t r;
    double t0;

    if (server) { /* sender */
        memset(buf, 1, sizeof(buf));
        for (n = 0; n < total; n += MSG)
            if (xw_channel_send(ch, buf, MSG, -1) != MSG)
                DIE("ring send\n");
        xw_channel_shutdown_write(ch);
        return 0;
    }
    t0 = now();
    while ((r = xw_channel_recv(ch, buf, sizeof(buf), -1)) > 0)
        n += (uint64_t)r;
    if (n != total)
        DIE("ring short read %llu\n", (unsigned long long)n);
    return total / (now() - t0) / 1e9;
}

#define PINGS 200000
static double rtts[PINGS];

static double ring_pingpong(struct xw_channel *ch, int server)
{
    char b = 0;
    int i;

    for (i = 0; i < PINGS; i++) {
        double t0 = now();
        if (!server && xw_channel_send(ch, &b, 1, -1) != 1)
            DIE("ping\n");
        if (xw_channel_recv(ch, &b, 1, -1) != 1)
            DIE("pong\n");
        if (server && xw_channel_send(ch, &b, 1, -1) != 1)
            DIE("pong send\n");
        rtts[i] = now() - t0;
    }
    qsort(rtts, PINGS, sizeof(double), cmp_d);
    return rtts[PINGS / 2];
}

static double ring_idle(struct xw_channel *ch, int server)
{
    struct rusage ru;
    char b;

    if (!server) { /* stay quiet for 2 s, then let the peer go */
        sleep(2);
        xw_channel_send(ch, "x", 1, -1);
        return 0;
    }
    xw_channel_recv(ch, &b, 1, -1);
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr, "idle: blocked receiver used %.1f ms CPU in 2 s\n",
            (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3);
    return 0;
}

/* ---- kernel sockets ---- */

static void sock_pair(int tcp, int *a, int *b)
{
    int sv[2], one = 1, l;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sa);

    if (!tcp) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
            DIE("socketpair\n");
        *a = sv[0];
        *b = sv[1];
        return;
    }
    l = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1) ||
        getsockname(l, (struct sockaddr *)&sa, &len))
        DIE("listen\n");
    *a = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(*a, (struct sockaddr *)&sa, sizeof(sa)))
        DIE("connect\n");
    *b = accept(l, NULL, NULL);
    close(l);
    setsockopt(*a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(*b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static double sock_stream(int tcp)
{
    static char buf[MSG];
    uint64_t n = 0;
    ssize_t r;
    double t0;
    int a, b;
    pid_t pid;

    sock_pair(tcp, &a, &b);
    pid = fork();
    if (pid == 0) {
        close(b);
        for (n = 0; n < total;) {
            r = write(a, buf, MSG);
            if (r <= 0)
                _exit(1);
            n += (uint64_t)r;
        }
        _exit(0);
    }
    close(a);
    t0 = now();
    while (n < total && (r = read(b, buf, sizeof(buf))) > 0)
        n += (uint64_t)r;
    t0 = total / (now() - t0) / 1e9;
    waitpid(pid, NULL, 0);
    close(b);
    return t0;
}

static double sock_pingpong(int tcp, int iters)
{
    char c = 0;
    int a, b, i;
    pid_t pid;

    sock_pair(tcp, &a, &b);
    pid = fork();
    if (pid == 0) {
        for (i = 0; i < iters; i++)
            if (read(b, &c, 1) != 1 || write(b, &c, 1) != 1)
                _exit(1);
        _exit(0);
    }
    for (i = 0; i < iters; i++) {
        double t0 = now();
        if (write(a, &c, 1) != 1 || read(a, &c, 1) != 1)
            DIE("tcp ping\n");
        rtts[i] = now() - t0;
    }
    waitpid(pid, NULL, 0);
    close(a);
    close(b);
    qsort(rtts, (size_t)iters, sizeof(double), cmp_d);
    return rtts[iters / 2];
}

static double memcpy_bw(void)
{
    size_t sz = 1 << 20;
    char *s = malloc(sz), *d = malloc(sz);
    uint64_t n;
    double t0;

    memset(s, 1, sz);
    memset(d, 2, sz);
    t0 = now();
    for (n = 0; n < total; n += sz) {
        memcpy(d, s, sz);
        __asm__ __volatile__("" ::"r"(d) : "memory");
    }
    t0 = total / (now() - t0) / 1e9;
    free(s);
    free(d);
    return t0;
}

int main(int argc, char **argv)
{
    static const uint32_t rings[] = { 64 << 10, 256 << 10, 1 << 20, 4 << 20 };
    double ring_bw = 0, tcp, ux, mc, r, p99;
    unsigned i;

    total = (argc > 1 ? strtoull(argv[1], NULL, 0) : 2048) << 20;
    snprintf(host, sizeof(host), "/dev/shm/ringbench-XXXXXX");
    if (!mkdtemp(host))
        DIE("mkdtemp\n");
    printf("64 KiB messages, %llu MiB per run, 2 processes\n", (unsigned long long)(total >> 20));
    for (i = 0; i < sizeof(rings) / sizeof(rings[0]); i++) {
        r = ring_run(rings[i], -1, ring_stream);
        printf("ring %5u KiB/dir: %6.2f GB/s%s\n", rings[i] >> 10, r,
               rings[i] == XW_CHAN_DEFAULT_RING ? "  (default)" : "");
        if (rings[i] == XW_CHAN_DEFAULT_RING)
            ring_bw = r;
    }
    tcp = sock_stream(1);
    ux = sock_stream(0);
    mc = memcpy_bw();
    printf("kernel TCP loopback: %6.2f GB/s   ring/TCP    = %5.1fx (target >= 8)\n", tcp, ring_bw / tcp);
    printf("AF_UNIX stream:      %6.2f GB/s   ring/AF_UNIX = %5.1fx (target >= 4)\n", ux, ring_bw / ux);
    printf("memcpy 1 MiB:        %6.2f GB/s   ring/memcpy = %5.2fx (target >= 0.5)\n", mc, ring_bw / mc);

    r = ring_run(XW_CHAN_DEFAULT_RING, -1, ring_pingpong);
    p99 = rtts[PINGS * 99 / 100];
    printf("ping-pong ring (spin %u us): median %.2f us  p99 %.2f us (target median <= 1)\n",
           XW_CHAN_DEFAULT_SPIN_US, r * 1e6, p99 * 1e6);
    r = ring_run(XW_CHAN_DEFAULT_RING, 0, ring_pingpong);
    printf("ping-pong ring (no spin, block every time): median %.2f us  p99 %.2f us\n", r * 1e6,
           rtts[PINGS * 99 / 100] * 1e6);
    r = sock_pingpong(1, 20000);
    printf("ping-pong TCP loopback: median %.2f us  p99 %.2f us\n", r * 1e6, rtts[20000 * 99 / 100] * 1e6);
    fflush(stdout);
    ring_run(XW_CHAN_DEFAULT_RING, -1, ring_idle);
    {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", host);
        if (system(cmd))
            fprintf(stderr, "cleanup failed\n");
    }
    return 0;
}

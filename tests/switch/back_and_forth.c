/* The switch both ways: a checksummed stream in each direction at once
 * between two processes, while the parent moves one of them back and forth
 * between two sim hosts (`xwayctl sim-move`, argv[1]) 20 times at random
 * moments: away from its peer the connection goes on over TCP, back beside it
 * on the ring again.  After each move the parent waits for the path it
 * expects (xwayctl conns --json).  The streams run until the moves are done
 * and at least 1 GiB went each way (argv[2]: MiB); then each side ends its
 * stream, and the receiver must have every byte its peer sent, in order, no
 * call may have failed, and XWAY_INFO counts the 20 switches. */
#include "peer.h"
#include "ringtest.h"
#include "testlib.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PORT 7530
#define IP_A "10.77.84.1"
#define IP_B "10.77.84.2"
#define MOVES 20

/* argv[3] "nogrants": the connector (B) has no grants for the way back
 * (XWAY_FAULT=upgrade-grants): moved away and back once, the connection goes
 * to TCP and stays there (NOOFFER), the stream intact. */
static bool nogrants;
static int total_moves = MOVES;

static const char *xwayctl;
static uint64_t min_bytes = 1024ull << 20;
static volatile bool stop;

struct xfer {
    int fd;
    bool sending;
    uint32_t seed;
    int err;
    uint64_t done;
};

static void *pump(void *arg)
{
    struct xfer *x = arg;
    static __thread char buf[192 * 1024];
    uint64_t off = 0, r = x->seed;

    /* The sender until told to stop (and past min_bytes); the receiver until EOF. */
    while (!x->sending || !stop || off < min_bytes) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        size_t len = 1 + (size_t)((r >> 33) % sizeof(buf));
        ssize_t n;
        if (x->sending) {
            xw_pattern(buf, len, off, x->seed);
            n = xway_send(x->fd, buf, len, MSG_NOSIGNAL);
        } else {
            n = xway_recv(x->fd, buf, len, 0);
            if (n == 0)
                break; /* the peer's end */
            if (n > 0 && xw_pattern_check(buf, (size_t)n, off, x->seed) != -1) {
                fprintf(stderr, "byte %llu differs\n", (unsigned long long)off);
                x->err = EILSEQ;
                return NULL;
            }
        }
        if (n <= 0) {
            x->err = n < 0 ? errno : EPROTO;
            return NULL;
        }
        off += (uint64_t)n;
    }
    x->done = off;
    if (x->sending && xway_shutdown(x->fd, SHUT_WR) < 0)
        x->err = errno;
    return NULL;
}

static void transfer(int ctl, int fd, bool a)
{
    struct xfer tx = { .fd = fd, .sending = true, .seed = a ? 1 : 2 };
    struct xfer rx = { .fd = fd, .sending = false, .seed = a ? 2 : 1 };
    pthread_t t1, t2;

    xwt_expect_path(a ? "A" : "B", fd, "ring", "none");
    CHECK(pthread_create(&t1, NULL, pump, &tx) == 0);
    CHECK(pthread_create(&t2, NULL, pump, &rx) == 0);
    xwt_ctl_send(ctl, 'G');
    CHECK_EQ(xwt_ctl_recv(ctl), 'S');
    stop = true;
    CHECK(pthread_join(t1, NULL) == 0);
    CHECK(pthread_join(t2, NULL) == 0);
    if (tx.err || rx.err)
        fprintf(stderr, "%s: send %s, recv %s\n", a ? "A" : "B", strerror(tx.err),
                strerror(rx.err));
    CHECK_EQ(tx.err, 0);
    CHECK_EQ(rx.err, 0);
    struct xway_conn_info ci = xwt_info_show(a ? "A" : "B", fd);
    xwt_ctl_send64(ctl, ci.switches);
    xwt_ctl_send64(ctl, tx.done);
    xwt_ctl_send64(ctl, rx.done);
    CHECK_EQ(xwt_ctl_recv(ctl), 'Q');
    xway_close(fd);
}

static int side_a(int ctl, void *arg)
{
    int l = xwt_listen(IP_A, PORT, 1);
    xwt_ctl_send(ctl, 'L');
    int fd = xway_accept(l, NULL, NULL);
    CHECK(fd >= 0);
    transfer(ctl, fd, true);
    xway_close(l);
    return 0;
}

static int side_b(int ctl, void *arg)
{
    CHECK_EQ(xwt_ctl_recv(ctl), 'C');
    transfer(ctl, xwt_connect(IP_A, PORT), false);
    return 0;
}

/* The path of the moving side's connection now ("ring", "tcp"; "" if none). */
static void path_now(pid_t pid, char *out, size_t len)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s conns -p %d --json", xwayctl, (int)pid);
    FILE *f = popen(cmd, "r");
    char buf[8192];
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        pclose(f);
    buf[n] = 0;
    out[0] = 0;
    /* the established connection's "path" (the listener's is null) */
    for (char *p = buf; (p = strstr(p, "\"state\": \"established\"")); p++) {
        char *q = strstr(p, "\"path\": \"");
        if (q && sscanf(q + 9, "%7[a-z]", out) == 1)
            return;
    }
}

int main(int argc, char **argv)
{
    char dir[] = "/dev/shm/xwt-ctl-XXXXXX", cmd[4096], path[8];

    CHECK(argc >= 2 && argc <= 4);
    xwayctl = argv[1];
    if (argc >= 3)
        min_bytes = strtoull(argv[2], NULL, 10) << 20;
    if (argc == 4) {
        CHECK(strcmp(argv[3], "nogrants") == 0);
        nogrants = true;
        total_moves = 2;
    }
    const char *hub = xwt_setup(400);
    const char *host[2] = { xw_sim_host(), xw_sim_host() };
    CHECK(mkdtemp(dir) != NULL);
    CHECK(setenv("XWAY_CTL_DIR", dir, 1) == 0);
    CHECK(setenv("XWAY_BACKEND", "sim", 1) == 0 && setenv("XWAY_HOST", host[0], 1) == 0);
    srand((unsigned)getpid());

    struct xwt_peer a = xwt_spawn(hub, IP_A "/24", side_a, NULL);
    CHECK_EQ(xwt_ctl_recv(a.ctl), 'L');
    static const char *const fault[] = { "XWAY_FAULT=upgrade-grants", NULL };
    struct xwt_peer b = xwt_spawn_env(hub, IP_B "/24", nogrants ? fault : NULL, side_b, NULL);
    xwt_ctl_send(b.ctl, 'C');
    CHECK_EQ(xwt_ctl_recv(a.ctl), 'G');
    CHECK_EQ(xwt_ctl_recv(b.ctl), 'G');
    int moves = 0;
    for (int i = 0; i < total_moves; i++) {
        usleep(20000 + (useconds_t)(rand() % 150000));
        const char *to = host[(i + 1) % 2], *want = (i + 1) % 2 || nogrants ? "tcp" : "ring";
        snprintf(cmd, sizeof(cmd), "%s sim-move --pid %d --host %s >/dev/null", xwayctl,
                 (int)a.pid, to);
        CHECK_EQ(system(cmd), 0);
        moves++;
        for (int k = 0; k < 300; k++) {
            path_now(a.pid, path, sizeof(path));
            if (!strcmp(path, want) && !(nogrants && i == 1 && k < 50))
                break; /* (no grants: it must still be TCP after 0.5 s) */
            usleep(10000);
        }
        printf("move %d: A on host %d, path %s (want %s)\n", i + 1, (i + 1) % 2, path, want);
        CHECK(strcmp(path, want) == 0);
    }
    xwt_ctl_send(a.ctl, 'S');
    xwt_ctl_send(b.ctl, 'S');
    uint64_t sa = xwt_ctl_recv64(a.ctl), sb = xwt_ctl_recv64(b.ctl);
    uint64_t a_tx = xwt_ctl_recv64(a.ctl), a_rx = xwt_ctl_recv64(a.ctl);
    uint64_t b_tx = xwt_ctl_recv64(b.ctl), b_rx = xwt_ctl_recv64(b.ctl);
    printf("A sent %llu, B received %llu; B sent %llu, A received %llu\n",
           (unsigned long long)a_tx, (unsigned long long)b_rx, (unsigned long long)b_tx,
           (unsigned long long)a_rx);
    CHECK(a_tx == b_rx && b_tx == a_rx && a_tx >= min_bytes && b_tx >= min_bytes);
    xwt_ctl_send(a.ctl, 'Q');
    xwt_ctl_send(b.ctl, 'Q');
    xwt_join(&a);
    xwt_join(&b);
    printf("%d moves, switches: A %llu, B %llu\n", moves, (unsigned long long)sa,
           (unsigned long long)sb);
    CHECK_EQ(sa, (uint64_t)(nogrants ? 1 : MOVES));
    CHECK_EQ(sb, (uint64_t)(nogrants ? 1 : MOVES));
    rmdir(dir);
    printf("PASS\n");
    return 0;
}

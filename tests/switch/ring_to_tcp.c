/* The switch ring -> TCP on the sim backend: two processes on one sim host
 * exchange a checksummed stream both ways at once on a ring connection; in the
 * middle the parent moves one of them to another sim host with
 * `xwayctl sim-move` (argv[1]).  Both sides must receive every byte in order,
 * no call may fail, and afterwards the connection is on TCP with one switch,
 * the mover's reason "moved" and the other's "peer-moved".
 *
 * Cases (each a fresh pair): the connector moves; the acceptor moves (its
 * mapping of the connector's pages is gone: it copies nothing out, the
 * connector keeps and sends again what the acceptor had not read); the
 * receiving side does not read while the move happens (full rings both ways,
 * senders blocked in send); a side that shut its sending direction (half
 * close) before the move; small random writes against large reads; both sides
 * sending and receiving with the zero-copy calls, each holding a reservation
 * and a view open while the move begins (the switch waits for them), or only
 * the one that does not move; an acceptor that moves with its own open (they
 * are in the peer's pages, which the move takes): the connection is reset. */
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

#include "xway_zc.h"

#define PORT 7500
#define IP_A "10.77.80.1"
#define IP_B "10.77.80.2"

static const char *xwayctl, *host2;

struct plan {
    const char *name;
    bool move_acceptor; /* else the connector moves */
    uint64_t bytes;     /* each way */
    bool stall;         /* both stop reading around the move */
    bool half_close;    /* the connector shuts its side early: it sends bytes/8 */
    size_t max_write;
    int zc;             /* who uses xway_zc_* (1 the connector, 2 the acceptor), holding
                           its 2nd reservation and 1st view open ZC_HOLD_MS at the move */
    bool reset;         /* the connection is reset (not switched): ECONNRESET both sides */
};

#define ZC_HOLD_MS 300

struct xfer {
    int fd;
    uint64_t n;
    uint32_t seed;
    size_t max_write;
    int err;            /* errno of a failed call, 0 */
    volatile bool *stall;
    bool zc;
    bool whole; /* blocking sends must move all they were given */
};

/* The zero-copy sender: the second reservation is held open ZC_HOLD_MS (the
 * parent moves a side meanwhile, while the peer holds a view of the first). */
static void *sender_zc(void *arg)
{
    struct xfer *x = arg;
    uint64_t off = 0, r = x->seed;
    int held = 0;

    while (off < x->n) {
        struct xway_zc z;
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        size_t want = 1 + (size_t)((r >> 33) % x->max_write);
        if (want > x->n - off)
            want = (size_t)(x->n - off);
        ssize_t n = xway_zc_reserve(x->fd, want, &z, 0);
        if (n <= 0) {
            x->err = n < 0 ? errno : EPIPE;
            return NULL;
        }
        xw_pattern(z.seg[0].iov_base, z.seg[0].iov_len, off, x->seed);
        xw_pattern(z.seg[1].iov_base, z.seg[1].iov_len, off + z.seg[0].iov_len, x->seed);
        if (++held == 2)
            usleep(ZC_HOLD_MS * 1000);
        if (xway_zc_commit(x->fd, (size_t)n, MSG_NOSIGNAL) != n) {
            x->err = errno;
            return NULL;
        }
        off += (uint64_t)n;
    }
    if (xway_shutdown(x->fd, SHUT_WR) < 0)
        x->err = errno;
    return NULL;
}

static void *sender(void *arg)
{
    struct xfer *x = arg;
    static __thread char buf[256 * 1024];
    uint64_t off = 0, r = x->seed;

    while (off < x->n) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        size_t len = 1 + (size_t)((r >> 33) % x->max_write);
        if (len > x->n - off)
            len = (size_t)(x->n - off);
        xw_pattern(buf, len, off, x->seed);
        ssize_t n = xway_send(x->fd, buf, len, MSG_NOSIGNAL);
        if (n <= 0) {
            x->err = n < 0 ? errno : EPIPE;
            return NULL;
        }
        if ((size_t)n != len && x->whole) { /* blocking: all of it, switch or not */
            fprintf(stderr, "a blocking send of %zu returned %zd\n", len, n);
            x->err = EMSGSIZE;
            return NULL;
        }
        off += (uint64_t)n;
    }
    if (xway_shutdown(x->fd, SHUT_WR) < 0)
        x->err = errno;
    return NULL;
}

/* Receive n bytes of the peer's pattern, then its EOF. */
static void *receiver(void *arg)
{
    struct xfer *x = arg;
    static __thread char buf[300 * 1024];
    uint64_t off = 0;

    bool held = false;

    for (;;) {
        while (*x->stall)
            usleep(1000);
        if (x->zc) { /* in place; the first view held open ZC_HOLD_MS */
            struct xway_zc z;
            ssize_t n = xway_zc_recv(x->fd, &z, 0);
            if (n < 0) {
                x->err = errno;
                return NULL;
            }
            if (n == 0)
                break;
            for (int i = 0; i < 2; i++) {
                long bad = xw_pattern_check(z.seg[i].iov_base, z.seg[i].iov_len, off, x->seed);
                if (bad != -1) {
                    fprintf(stderr, "byte %llu+%ld differs (zc)\n", (unsigned long long)off, bad);
                    x->err = EILSEQ;
                    return NULL;
                }
                off += z.seg[i].iov_len;
            }
            if (!held) {
                held = true;
                usleep(ZC_HOLD_MS * 1000);
            }
            if (xway_zc_recv_done(x->fd, (size_t)n) < 0) {
                x->err = errno;
                return NULL;
            }
            continue;
        }
        ssize_t n = xway_recv(x->fd, buf, sizeof(buf), 0);
        if (n < 0) {
            x->err = errno;
            return NULL;
        }
        if (n == 0)
            break;
        if (xw_pattern_check(buf, (size_t)n, off, x->seed) != -1) {
            fprintf(stderr, "byte %llu+%ld differs\n", (unsigned long long)off,
                    xw_pattern_check(buf, (size_t)n, off, x->seed));
            x->err = EILSEQ;
            return NULL;
        }
        off += (uint64_t)n;
    }
    if (off != x->n) {
        fprintf(stderr, "EOF after %llu of %llu bytes\n", (unsigned long long)off,
                (unsigned long long)x->n);
        x->err = EPROTO;
    }
    return NULL;
}

static volatile bool stalled;

/* One side: the transfer both ways on fd, stalls on the parent's word, then
 * its report: path, reason, switches. */
static void transfer(int ctl, int fd, const struct plan *p, bool connector)
{
    bool zc = p->zc & (connector ? 1 : 2);
    struct xfer tx = { .fd = fd, .n = p->bytes, .seed = connector ? 11 : 22,
                       .max_write = p->max_write, .stall = &stalled, .zc = zc,
                       .whole = !p->reset };
    struct xfer rx = { .fd = fd, .n = p->bytes, .seed = connector ? 22 : 11,
                       .stall = &stalled, .zc = zc };
    pthread_t ts, tr;

    if (p->half_close)
        (connector ? &tx : &rx)->n = p->bytes / 8;
    xwt_expect_path(connector ? "connector" : "acceptor", fd, "ring", "none");
    stalled = p->stall;
    CHECK(pthread_create(&ts, NULL, zc ? sender_zc : sender, &tx) == 0);
    CHECK(pthread_create(&tr, NULL, receiver, &rx) == 0);
    xwt_ctl_send(ctl, 'G'); /* going */
    CHECK_EQ(xwt_ctl_recv(ctl), 'M'); /* the move is done */
    stalled = false;
    CHECK(pthread_join(ts, NULL) == 0);
    CHECK(pthread_join(tr, NULL) == 0);
    if (tx.err || rx.err)
        fprintf(stderr, "%s: send: %s, recv: %s\n", connector ? "connector" : "acceptor",
                strerror(tx.err), strerror(rx.err));
    if (p->reset) {
        /* What arrived before was checked (no byte wrong); then, as on
         * Linux, the reset is reported once and the connection is gone
         * after it (EPIPE, or EOF: EPROTO here, a stream cut short). */
        CHECK(tx.err == ECONNRESET || tx.err == EPIPE);
        CHECK(rx.err == ECONNRESET || rx.err == EPIPE || rx.err == EPROTO);
        printf("%s: reset, as it should\n", connector ? "connector" : "acceptor");
        CHECK(xway_close(fd) == 0);
        return;
    }
    CHECK_EQ(tx.err, 0);
    CHECK_EQ(rx.err, 0);
    struct xway_conn_info ci = xwt_info_show(connector ? "connector" : "acceptor", fd);
    CHECK(strcmp(ci.path, "tcp") == 0);
    CHECK_EQ(ci.switches, 1);
    bool mover = connector != p->move_acceptor;
    CHECK(strcmp(ci.fallback, mover ? "moved" : "peer-moved") == 0);
    struct xway_stats st;
    CHECK(xway_stats(&st) == 0);
    CHECK_EQ(st.fallback[mover ? XWAY_REASON_MOVED : XWAY_REASON_PEER_MOVED], 1);
    CHECK(xway_close(fd) == 0);
}

static int acceptor(int ctl, void *arg)
{
    int l = xwt_listen(IP_A, PORT, 4);
    xwt_ctl_send(ctl, 'L');
    int fd = xway_accept(l, NULL, NULL);
    CHECK(fd >= 0);
    transfer(ctl, fd, arg, false);
    xway_close(l);
    return 0;
}

static int connector(int ctl, void *arg)
{
    CHECK_EQ(xwt_ctl_recv(ctl), 'C');
    transfer(ctl, xwt_connect(IP_A, PORT), arg, true);
    return 0;
}

static void move(pid_t pid)
{
    char cmd[4096];

    snprintf(cmd, sizeof(cmd), "%s sim-move --pid %d --host %s", xwayctl, (int)pid, host2);
    CHECK_EQ(system(cmd), 0);
}

static void run(const char *hub, const struct plan *p)
{
    printf("--- %s\n", p->name);
    fflush(stdout);
    struct xwt_peer a = xwt_spawn(hub, IP_A "/24", acceptor, (void *)p);
    CHECK_EQ(xwt_ctl_recv(a.ctl), 'L');
    struct xwt_peer c = xwt_spawn(hub, IP_B "/24", connector, (void *)p);
    xwt_ctl_send(c.ctl, 'C');
    CHECK_EQ(xwt_ctl_recv(a.ctl), 'G');
    CHECK_EQ(xwt_ctl_recv(c.ctl), 'G');
    /* (zc: while both sides hold their first reservation and view) */
    usleep(p->stall ? 300000 : p->zc ? 100000 : 20000 + (useconds_t)(rand() % 100000));
    move(p->move_acceptor ? a.pid : c.pid);
    xwt_ctl_send(a.ctl, 'M');
    xwt_ctl_send(c.ctl, 'M');
    xwt_join(&a);
    xwt_join(&c);
}

int main(int argc, char **argv)
{
    static const struct plan plans[] = {
        { "connector moves mid-transfer", false, 64u << 20, false, false, 65536, 0, false },
        { "acceptor moves mid-transfer", true, 64u << 20, false, false, 65536, 0, false },
        { "acceptor moves, full rings, senders blocked", true, 8u << 20, true, false, 65536, 0, false },
        { "connector moves, full rings, senders blocked", false, 8u << 20, true, false, 65536, 0, false },
        { "connector moves after its half close", false, 16u << 20, false, true, 65536, 0, false },
        { "acceptor moves, small writes", true, 24u << 20, false, false, 700, 0, false },
        { "connector moves, zero-copy views and reservations open", false, 32u << 20, false,
          false, 65536, 3, false },
        { "acceptor moves, the connector's zero-copy views and reservations open", true,
          32u << 20, false, false, 65536, 1, false },
        /* (an acceptor's view or reservation is in the peer's pages, which
         * its move takes: the connection cannot go on) */
        { "acceptor moves with its zero-copy view and reservation open: reset", true, 32u << 20,
          false, false, 65536, 2, true },
    };
    char dir[] = "/dev/shm/xwt-ctl-XXXXXX";

    CHECK(argc == 2);
    xwayctl = argv[1];
    const char *hub = xwt_setup(240);
    const char *host = xw_sim_host();
    host2 = xw_sim_host();
    CHECK(mkdtemp(dir) != NULL);
    CHECK(setenv("XWAY_CTL_DIR", dir, 1) == 0);
    CHECK(setenv("XWAY_BACKEND", "sim", 1) == 0 && setenv("XWAY_HOST", host, 1) == 0);
    srand((unsigned)getpid());
    for (size_t i = 0; i < sizeof(plans) / sizeof(plans[0]); i++)
        run(hub, &plans[i]);
    rmdir(dir);
    printf("PASS\n");
    return 0;
}

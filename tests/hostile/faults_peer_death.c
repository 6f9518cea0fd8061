/* A peer process killed with -9 inside a live domain (the sim with Xen's liveness, XWAY_SIM_LIVENESS=domain): the survivor's blocked recv and send end with an error within 5 s, whichever side (creator or acceptor) died, also when the dead process had forked a child that lives on; a peer that closes and exits ends the stream cleanly instead. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "testlib.h"
#include "xenif.h"

#define LIMIT_MS 5000

enum end { KILLED, KILLED_FORKED, CLOSED };

static struct xw_chan_params par = { .ring_bytes = 64 * 1024, .spin_us = 0 };
static const char *host;
static struct xw_xenif *me;

/* The peer's side, in a child: tell its domain id, set the channel up
 * (creating it, or accepting the parent's offer), send "hello", then wait to
 * be killed (KILLED_FORKED: after forking a child of its own that outlives it,
 * its pid sent first) or close. */
static void peer_main(bool creator, enum end how, int rd, int wr)
{
    struct xw_chan_offer off;
    struct xw_channel *ch;
    struct xw_xenif *x;
    uint64_t nonce;
    char c;

    if (xw_xenif_open_sim(host, -1, &x) || write(wr, &x->domid, 4) != 4)
        _exit(2);
    if (creator) {
        if (xw_channel_create(x, me->domid, &par, &ch, &off) ||
            write(wr, &off, sizeof(off)) != sizeof(off))
            _exit(3);
    } else if (read(rd, &off, sizeof(off)) != sizeof(off) ||
               xw_channel_accept(x, &off, &par, &ch, &nonce)) {
        _exit(4);
    }
    if (xw_channel_send(ch, "hello", 5, 1000) != 5)
        _exit(5);
    if (how == KILLED_FORKED) {
        pid_t g = fork(); /* not xw_fork: it must outlive us */

        if (g == 0) {
            alarm(30);
            for (;;)
                pause();
        }
        if (g < 0 || write(wr, &g, sizeof(g)) != sizeof(g))
            _exit(7);
    }
    if (write(wr, "r", 1) != 1)
        _exit(5);
    if (how != CLOSED)
        for (;;)
            pause();
    if (read(rd, &c, 1) != 1 || xw_channel_send(ch, "bye", 3, 1000) != 3)
        _exit(6);
    xw_channel_close(ch);
    xw_xenif_close(x);
    _exit(0);
}

struct killer {
    pid_t pid;
    _Atomic uint64_t at_ns;
};

/* Kill the peer once the survivor is surely asleep in its blocking call. */
static void *killer_main(void *arg)
{
    struct killer *k = arg;

    usleep(350 * 1000); /* mid-slice (XW_CHAN_SLICE_MS) */
    atomic_store(&k->at_ns, xw_now_ns());
    CHECK_EQ(kill(k->pid, SIGKILL), 0);
    return NULL;
}

/* Our end of the channel with the peer child (reading rd, writing wr). */
static struct xw_channel *setup(bool peer_creates, int rd, int wr)
{
    struct xw_chan_offer off;
    struct xw_channel *ch;
    uint32_t peer;
    uint64_t nonce;

    CHECK_EQ(read(rd, &peer, 4), 4);
    if (peer_creates) {
        CHECK_EQ(read(rd, &off, sizeof(off)), sizeof(off));
        CHECK_EQ(xw_channel_accept(me, &off, &par, &ch, &nonce), 0);
    } else {
        CHECK_EQ(xw_channel_create(me, peer, &par, &ch, &off), 0);
        CHECK_EQ(write(wr, &off, sizeof(off)), sizeof(off));
    }
    return ch;
}

/* Fill our direction of the ring, nonblocking. */
static void fill(struct xw_channel *ch)
{
    static char junk[16384];
    ssize_t n;

    while ((n = xw_channel_send(ch, junk, sizeof(junk), 0)) > 0)
        ;
    CHECK_EQ(n, -EAGAIN);
}

static void kill_case(bool peer_creates, bool survivor_sends, bool forked)
{
    struct xw_channel *ch;
    struct killer k = { 0 };
    int to_peer[2], to_me[2];
    pid_t grandchild = 0;
    pthread_t th;
    uint64_t dt;
    char buf[16];
    ssize_t r;

    CHECK_EQ(pipe(to_peer), 0);
    CHECK_EQ(pipe(to_me), 0);
    k.pid = xw_fork();
    if (k.pid == 0)
        peer_main(peer_creates, forked ? KILLED_FORKED : KILLED, to_peer[0], to_me[1]);
    ch = setup(peer_creates, to_me[0], to_peer[1]);
    if (forked)
        CHECK_EQ(read(to_me[0], &grandchild, sizeof(grandchild)), sizeof(grandchild));
    CHECK_EQ(read(to_me[0], buf, 1), 1);
    CHECK_EQ(xw_channel_recv(ch, buf, sizeof(buf), 1000), 5);
    CHECK(!memcmp(buf, "hello", 5));
    if (survivor_sends)
        fill(ch);

    CHECK_EQ(pthread_create(&th, NULL, killer_main, &k), 0);
    if (survivor_sends)
        r = xw_channel_send(ch, buf, sizeof(buf), 2 * LIMIT_MS);
    else
        r = xw_channel_recv(ch, buf, sizeof(buf), 2 * LIMIT_MS);
    dt = (xw_now_ns() - atomic_load(&k.at_ns)) / 1000000u;
    CHECK_EQ(pthread_join(th, NULL), 0);
    printf("%s died%s, survivor blocked in %s: %zd after %llu ms\n",
           peer_creates ? "creator" : "acceptor", forked ? " (its child lives on)" : "",
           survivor_sends ? "send" : "recv", r, (unsigned long long)dt);
    if (grandchild > 0)
        kill(grandchild, SIGKILL); /* reaped by init: it is not ours */
    CHECK(r == -ECONNRESET || r == -EPIPE);
    CHECK(dt <= LIMIT_MS);
    CHECK(xw_channel_send(ch, "x", 1, 0) < 0);
    xw_wait(k.pid);
    xw_channel_close(ch);
    close(to_peer[0]), close(to_peer[1]), close(to_me[0]), close(to_me[1]);
}

/* A peer that closes and exits: the last bytes, then EOF, then EPIPE. */
static void close_case(bool peer_creates)
{
    struct xw_channel *ch;
    int to_peer[2], to_me[2];
    char buf[16];
    pid_t pid;

    CHECK_EQ(pipe(to_peer), 0);
    CHECK_EQ(pipe(to_me), 0);
    pid = xw_fork();
    if (pid == 0)
        peer_main(peer_creates, CLOSED, to_peer[0], to_me[1]);
    ch = setup(peer_creates, to_me[0], to_peer[1]);
    CHECK_EQ(read(to_me[0], buf, 1), 1);
    CHECK_EQ(xw_channel_recv(ch, buf, sizeof(buf), 1000), 5);
    CHECK_EQ(write(to_peer[1], "c", 1), 1);
    xw_wait_ok(pid, "closing peer");
    CHECK_EQ(xw_channel_recv(ch, buf, sizeof(buf), 1000), 3);
    CHECK(!memcmp(buf, "bye", 3));
    CHECK_EQ(xw_channel_recv(ch, buf, sizeof(buf), 1000), 0);
    CHECK_EQ(xw_channel_send(ch, "x", 1, 1000), -EPIPE);
    xw_channel_close(ch);
    close(to_peer[0]), close(to_peer[1]), close(to_me[0]), close(to_me[1]);
}

int main(void)
{
    xw_watchdog(60);
    setenv("XWAY_SIM_LIVENESS", "domain", 1);
    host = xw_sim_host();
    CHECK_EQ(xw_xenif_open_sim(host, -1, &me), 0);
    CHECK_EQ(xw_evtchn_peer_alive(me, 1), -EINVAL);
    for (int pc = 0; pc < 2; pc++) {
        for (int ss = 0; ss < 2; ss++)
            kill_case(pc, ss, false);
        kill_case(pc, false, true);
        close_case(pc);
    }
    xw_xenif_close(me);
    printf("PASS\n");
    return 0;
}

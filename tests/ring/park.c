/* Parked channels (stack/path/ring_park.c): a ring connection closed cleanly
 * leaves its channel to the next connection between the same two processes.
 *   reuse:   10 connections one after another: the first shares and maps a
 *            ring, the 9 after it take the parked one on both sides (the
 *            stacks' reused counters), each on the ring, 256 KiB each way
 *            verified (more than the ring holds: the zeroed indices wrap).
 *   unknown: the acceptor closed its parked channels: the connector's offer
 *            of one is answered RING_UNKNOWN and a new ring is offered on the
 *            same connection, which takes it; the one after reuses again.
 *   reset:   a connection closed with a reset is not parked.
 *   dead:    the acceptor's process exits and another listens at its address:
 *            the parked channel's dead acceptor is seen, a new ring is offered.
 *   ghost:   the parked channel's pages are the connector's and the acceptor
 *            closed its end: a connection on it sees none of the last one's
 *            bytes (the first recv returns this connection's first byte).
 *   taken:   of those reuses, every one is taken at the SYN exchange (the
 *            acceptor's SYN-ACK proposes its parked channel, the connector
 *            answers TAKE: no OFFER, no ACCEPT) on both sides.
 *   refused: the connector closed its parked channels: the acceptor's
 *            proposal is answered with an offer of a new ring, which serves;
 *            the refused channel is not proposed again (for a while), and the
 *            next connection takes the new one at the SYN exchange.
 *   forged:  an offer that names the acceptor's parked channel with a key that
 *            is not the page's takes nothing and costs the channel nothing,
 *            nor does a TAKE of a proposal with a key the creator did not
 *            write: the next connection still takes it.
 *   limit:   where the backend limits grants (Xen), parked channels hold at
 *            most a quarter of them: with a limit of 400 pages a 256 KiB ring
 *            (129 pages) is not parked.
 *   late:    a notification that brings nothing new (the previous
 *            connection's last, late) wakes no set waiting on the connection
 *            now on the channel (a set nested in another showed readable).
 *   (and a server forked while this process's stack runs holds none of its
 *   links, connections and timeouts in lwIP)
 *   fini:    the stack's stop closes the parked channels (before its backend's
 *            handle goes). */
#include "peer.h"
#include "ringtest.h"
#include "testlib.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "budget.h"
#include "lwip/netif.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/timeouts.h"
#include "negotiate.h"
#include "ring_park.h"
#include "ring_routes.h"
#include "socket.h"
#include "stack.h"
#include "waiter.h"

#define IP "10.77.67.1"
#define CLIENT_IP "10.77.67.2"
#define PORT 7300
#define BYTES (256u << 10)

static int ctl;
/* Server: what names the last accepted connection's channel. */
static struct xw_chan_offer last_id;
static uint32_t last_domid; /* its peer's domain */
/* Client: the server's taken counter after the last connection. */
static uint64_t srv_taken;

/* A counter of the stack's, read under its lock. */
static uint64_t counter(uint64_t (*get)(void))
{
    uint64_t n;

    xw_stack_lock();
    n = get();
    xw_stack_unlock();
    return n;
}

static uint64_t reused(void)
{
    return counter(xw_neg_reused);
}

static uint64_t taken(void)
{
    return counter(xw_neg_taken);
}

static int marker; /* the argument of a timeout the client sets before the fork */

static void marker_fired(void *arg)
{
    (void)arg;
}

/* A server forked while the client's stack runs: lwIP's links, connections
 * and timeouts in it are its own only (the parent's, left in lwIP's lists,
 * were sent through: an ARP refresh connected to the hub as the parent, into
 * the parent's epoll set, which the child shares — the parent then crashed). */
static void own_lwip_only(void)
{
    int links = 0, foreign = 0, parents_timeouts = 0;
    ip_addr_t me;

    CHECK(ipaddr_aton(IP, &me));
    xw_stack_lock();
    for (struct netif *n = netif_list; n; n = n->next)
        links += !(n->name[0] == 'l' && n->name[1] == 'o');
    for (struct tcp_pcb *p = tcp_active_pcbs; p; p = p->next)
        foreign += !ip_addr_cmp(&p->local_ip, &me);
    for (struct tcp_pcb *p = tcp_tw_pcbs; p; p = p->next)
        foreign += !ip_addr_cmp(&p->local_ip, &me);
    for (struct sys_timeo *t = *sys_timeouts_get_next_timeout(); t; t = t->next)
        parents_timeouts += t->arg == &marker;
    xw_stack_unlock();
    CHECK_EQ(links, 1);
    CHECK_EQ(foreign, 0);
    CHECK_EQ(parents_timeouts, 0);
}

/* Commands: 'a' accept one, echo it (the result of the echo ignored for
 * 'r', the peer resets it; 'l' notifies the channel's peer 100 ms after the
 * accept, with nothing new in the rings), close, answer 'c' + our reused
 * counter; 'f' close the parked channels; 'k' offer our parked channel with a
 * made-up key; 'q' quit. */
static int server(int c, void *arg)
{
    int l = xwt_listen(IP, PORT, 4);

    (void)arg;
    own_lwip_only();
    xwt_ctl_send(c, 'R');
    for (;;) {
        unsigned char cmd = xwt_ctl_recv(c);
        if (cmd == 'q')
            break;
        if (cmd == 'f') {
            xw_stack_lock();
            xw_park_flush();
            xw_stack_unlock();
            xwt_ctl_send(c, 'f');
            continue;
        }
        if (cmd == 'k') { /* an offer of our parked channel with a made-up key */
            struct xw_chan_offer forged = last_id;
            struct xw_channel *ch = NULL;
            uint64_t nonce = 0;
            forged.key = 0x5eed5eed5eed5eedull;
            xw_stack_lock();
            int rc = xw_park_accept(&forged, &ch, &nonce);
            xw_stack_unlock();
            CHECK_EQ(rc, -ENOENT);
            CHECK(ch == NULL && nonce == 0);
            /* a TAKE of our proposal with a key its creator did not write */
            ip_addr_t cli;
            uint64_t key = 0;
            CHECK(ipaddr_aton(CLIENT_IP, &cli));
            xw_stack_lock();
            CHECK_EQ(xw_park_propose(last_id.domid ^ 1, &cli, &key), -ENOENT); /* not its domain */
            CHECK_EQ(xw_park_propose(last_domid, &cli, &key), 0);
            CHECK_EQ(xw_park_propose(last_domid, &cli, &key), -ENOENT); /* held */
            rc = xw_park_retaken(key, 0x5eed5eed5eed5eedull, &ch);
            xw_stack_unlock();
            CHECK_EQ(rc, -EKEYREJECTED);
            CHECK(ch == NULL);
            xwt_ctl_send(c, 'k');
            continue;
        }
        int fd = xway_accept(l, NULL, NULL);
        CHECK(fd >= 0);
        xwt_expect_path("server", fd, "ring", "none");
        xw_stack_lock();
        struct xw_sock *s = xw_sock_lookup(fd);
        CHECK(s && s->ring.ch);
        xw_channel_identity(s->ring.ch, &last_id);
        last_domid = xw_channel_peer_domid(s->ring.ch);
        xw_stack_unlock();
        if (cmd == 'l') { /* once the client watches: a notification, nothing moved */
            usleep(100000);
            xw_stack_lock();
            CHECK_EQ(xw_evtchn_notify(xw_rev_xenif(), (uint32_t)xw_channel_port(s->ring.ch)), 0);
            xw_stack_unlock();
        }
        int rc = xwt_echo(fd); /* (closes fd) */
        if (cmd == 'a')
            CHECK_EQ(rc, 0);
        xwt_ctl_send(c, 'c');
        xwt_ctl_send64(c, reused());
        xwt_ctl_send64(c, taken());
    }
    xway_close(l);
    return 0;
}

/* One connection: ring, BYTES each way verified, closed (reset: SO_LINGER 0
 * after the exchange).  Returns the server's reused counter after its close. */
static uint64_t one(unsigned char cmd, uint32_t seed)
{
    xwt_ctl_send(ctl, cmd);
    int fd = xwt_connect(IP, PORT);
    xwt_expect_path("client", fd, "ring", "none");
    xwt_exchange(fd, BYTES, seed);
    if (cmd == 'r') {
        struct linger lg = { 1, 0 };
        CHECK(xway_setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
    }
    xway_close(fd);
    CHECK_EQ(xwt_ctl_recv(ctl), 'c');
    uint64_t n = xwt_ctl_recv64(ctl);
    srv_taken = xwt_ctl_recv64(ctl);
    return n;
}

/* A command to the server (answered in kind), then one connection: both
 * sides' reused counters read want after it. */
static void after_cmd(unsigned char cmd, const char *tag, uint32_t seed, uint64_t want)
{
    xwt_ctl_send(ctl, cmd);
    CHECK_EQ(xwt_ctl_recv(ctl), cmd);
    uint64_t srv = one('a', seed);
    printf("%s: client reused %llu, server %llu\n", tag, (unsigned long long)reused(),
           (unsigned long long)srv);
    CHECK_EQ(reused(), want);
    CHECK_EQ(srv, want);
}

static struct xwt_peer start_server(const char *hub)
{
    struct xwt_peer s = xwt_spawn(hub, IP "/24", server, NULL);

    ctl = s.ctl;
    CHECK_EQ(xwt_ctl_recv(ctl), 'R');
    return s;
}

int main(void)
{
    const char *hub = xwt_setup(100);
    const char *host = xw_sim_host();
    uint64_t srv;

    CHECK(setenv("XWAY_BACKEND", "sim", 1) == 0 && setenv("XWAY_HOST", host, 1) == 0);
    struct xwt_peer s = start_server(hub);
    xwt_start(hub, CLIENT_IP "/24");

    /* reuse */
    for (uint32_t i = 0; i < 10; i++)
        srv = one('a', i + 1);
    printf("reuse: client reused %llu, server %llu of 10\n", (unsigned long long)reused(),
           (unsigned long long)srv);
    CHECK_EQ(reused(), 9);
    CHECK_EQ(srv, 9);
    /* taken */
    printf("taken: client %llu, server %llu of 9\n", (unsigned long long)taken(),
           (unsigned long long)srv_taken);
    CHECK_EQ(taken(), 9);
    CHECK_EQ(srv_taken, 9);

    /* refused: the client's parked channel is gone; the server's proposal of
     * its own is answered with a new ring */
    xw_stack_lock();
    xw_park_flush();
    xw_stack_unlock();
    srv = one('a', 50);
    CHECK_EQ(reused(), 9);
    CHECK_EQ(srv, 9);
    srv = one('a', 51);
    printf("refused: client reused %llu taken %llu, server %llu taken %llu\n",
           (unsigned long long)reused(), (unsigned long long)taken(),
           (unsigned long long)srv, (unsigned long long)srv_taken);
    CHECK_EQ(reused(), 10);
    CHECK_EQ(srv, 10);
    CHECK_EQ(taken(), 10);
    CHECK_EQ(srv_taken, 10);
    srv = 10;

    /* unknown */
    after_cmd('f', "unknown", 100, 10);
    srv = one('a', 101);
    CHECK_EQ(reused(), 11);
    CHECK_EQ(srv, 11);

    /* reset: this one reuses, is not parked; the next takes a new ring */
    srv = one('r', 102);
    CHECK_EQ(reused(), 12);
    srv = one('a', 103);
    printf("reset: client reused %llu, server %llu\n", (unsigned long long)reused(),
           (unsigned long long)srv);
    CHECK_EQ(reused(), 12);
    CHECK_EQ(srv, 12);

    /* dead (the new server is forked from this process: its counters start
     * as a copy of ours, 12) */
    xwt_ctl_send(ctl, 'q');
    xwt_join(&s);
    xw_stack_lock(); /* (a timeout for an object of ours: not the child's) */
    sys_timeout(600000, marker_fired, &marker);
    xw_stack_unlock();
    s = start_server(hub);
    xw_stack_lock();
    sys_untimeout(marker_fired, &marker);
    xw_stack_unlock();
    srv = one('a', 104);
    printf("dead: client reused %llu, new server %llu (from 12)\n",
           (unsigned long long)reused(), (unsigned long long)srv);
    CHECK_EQ(reused(), 12);
    CHECK_EQ(srv, 12);

    /* ghost: the parked channel held the last connection's bytes */
    xwt_ctl_send(ctl, 'a');
    int fd = xwt_connect(IP, PORT);
    xwt_expect_path("client", fd, "ring", "none");
    CHECK_EQ(reused(), 13);
    {
        unsigned char b[4] = { 0 };
        CHECK_EQ(xway_send(fd, "\x5a", 1, 0), 1);
        CHECK_EQ(xway_recv(fd, b, sizeof(b), 0), 1);
        CHECK_EQ(b[0], 0x5a);
        CHECK(xway_shutdown(fd, SHUT_WR) == 0);
        CHECK_EQ(xway_recv(fd, b, sizeof(b), 0), 0);
    }
    xway_close(fd);
    CHECK_EQ(xwt_ctl_recv(ctl), 'c');
    CHECK_EQ(xwt_ctl_recv64(ctl), 13);
    xwt_ctl_recv64(ctl);

    /* forged */
    uint64_t taken0 = taken();
    after_cmd('k', "forged", 108, 14);
    CHECK_EQ(taken(), taken0 + 1); /* (taken at the SYN exchange, the forged TAKE before it notwithstanding) */

    /* limit: the one parked before is taken, then none is kept */
    xw_budget_set_share_limit(400);
    one('a', 105);
    CHECK_EQ(reused(), 15);
    one('a', 106);
    one('a', 107);
    printf("limit: client reused %llu\n", (unsigned long long)reused());
    CHECK_EQ(reused(), 15);
    xw_budget_set_share_limit(0);
    one('a', 109); /* (parked at its close) */

    /* late: the client's set armed on the reused connection stays asleep */
    xwt_ctl_send(ctl, 'l');
    fd = xwt_connect(IP, PORT);
    xwt_expect_path("client", fd, "ring", "none");
    CHECK_EQ(reused(), 16);
    /* The server's ACK of our TAKE (it comes after our connect returned) is
     * in before we watch: its signal is not the one looked for. */
    for (int i = 0; i < 100; i++) {
        xw_stack_lock();
        struct xw_sock *cs = xw_sock_lookup(fd);
        bool acked = cs && cs->tcp.pcb && !cs->tcp.pcb->unacked && !cs->tcp.pcb->unsent;
        xw_stack_unlock();
        if (acked)
            break;
        usleep(5000);
    }
    {
        struct xw_waiter *w = xw_waiter_new();
        CHECK(w != NULL);
        CHECK_EQ(xw_watch(fd, 0, w, true), 0);
        xw_waiter_arm(w);
        usleep(400000); /* (the server notifies 100 ms after its accept) */
        printf("late: %u signals\n", atomic_load(&w->signals));
        CHECK_EQ(atomic_load(&w->signals), 0);
        xwt_exchange(fd, BYTES, 110);
        CHECK_EQ(xw_watch(fd, 0, w, false), 0);
        xw_waiter_put(w);
    }
    xway_close(fd);
    CHECK_EQ(xwt_ctl_recv(ctl), 'c');
    CHECK_EQ(xwt_ctl_recv64(ctl), 16);
    xwt_ctl_recv64(ctl);

    xwt_ctl_send(ctl, 'q');
    xwt_join(&s);
    /* The stack's stop closes the parked channels, before its backend's
     * handle goes: none is left for a later start to find. */
    xway_fini();
    CHECK_EQ(xw_park_evict(true, -1) + xw_park_evict(false, -1), 0);
    printf("PASS\n");
    return 0;
}

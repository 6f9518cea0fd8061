/* Co-residency spoofing by replay (issue 11 item 3).  A co-resident pair: the
 * connector C (XWAY_FAULT=offer-late: its ring is shared with the acceptor A's
 * domain, its OFFER not yet sent).  An attacker X on another sim host, its
 * stack raw (XWAY_FAULT=raw), guesses C's offer (sim refs and ports are
 * sequential: the lowest ones of C's domain) and replays it to A first.  A must
 * decline it with the reason offer-key, never sending C's nonce; X falls back
 * to TCP with its bytes echoed intact; and the real pair still takes the ring. */
#include "peer.h"
#include "proto_raw.h"
#include "ringtest.h"
#include "testlib.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#define PORT 7400
#define SRV "10.77.91.1"
#define BYTES (1u << 20)

struct guess {
    uint32_t domid, ref, port;
};

static const char *host_h; /* the pair's sim host */

/* A: two connections, in whichever order their handshakes end. */
static int acceptor(int ctl, void *arg)
{
    int l = xwt_listen(SRV, PORT, 4), bad = 0, rings = 0;
    (void)arg;
    xwt_ctl_send(ctl, 'R');
    for (int i = 0; i < 2; i++) {
        int fd = xway_accept(l, NULL, NULL);
        CHECK(fd >= 0);
        struct xway_conn_info ci = xwt_info(fd);
        if (!strcmp(ci.path, "ring"))
            rings++;
        else
            bad |= xwt_path_is("acceptor (attacker's connection)", fd, "tcp", "offer-key");
        CHECK_EQ(xwt_echo(fd), 0);
    }
    if (rings != 1) {
        fprintf(stderr, "FAIL: acceptor: %d ring connections, want the real pair's one\n", rings);
        bad = 1;
    }
    xway_close(l);
    return bad;
}

/* C: the real connector. */
static int connector(int ctl, void *arg)
{
    struct xway_stats st;
    (void)arg;
    CHECK(xway_stats(&st) == 0);
    uint32_t dom = (uint32_t)st.domid;
    CHECK(write(ctl, &dom, sizeof(dom)) == sizeof(dom));
    int fd = xwt_connect(SRV, PORT);
    int bad = xwt_path_is("real connector", fd, "ring", "none");
    xwt_exchange(fd, BYTES, 0xc0c0u);
    xway_close(fd);
    return bad;
}

/* X: the attacker on another sim host. */
static int attacker(int ctl, void *arg)
{
    struct guess g;
    struct xw_ctrl m = { .type = XW_CTRL_OFFER, .ring_shift = 18 }, r;
    int bad = 0;
    (void)arg;
    xwt_ctl_send(ctl, 'R');
    CHECK(read(ctl, &g, sizeof(g)) == sizeof(g));
    int fd = xwt_connect(SRV, PORT);
    m.domid = g.domid;
    m.intf_ref = g.ref;
    m.port = g.port;
    m.key = 0; /* the one field a replay cannot guess */
    xwt_raw_send_msg(fd, &m, 0);
    xwt_raw_recv_msg(fd, &r);
    printf("attacker: replayed offer (dom %u ref %u port %u): got %s, reason %s\n", g.domid,
           g.ref, g.port, r.type == XW_CTRL_ACCEPT ? "ACCEPT" : r.type == XW_CTRL_DECLINE ? "DECLINE" : "?",
           xw_reason_name(r.reason));
    if (r.type == XW_CTRL_ACCEPT) {
        fprintf(stderr, "FAIL: the acceptor mapped a replayed offer and sent its nonce %#llx\n",
                (unsigned long long)r.nonce);
        bad = 1;
    } else if (r.type != XW_CTRL_DECLINE || r.reason != xwt_reason_code("offer-key")) {
        fprintf(stderr, "FAIL: attacker: expected DECLINE(offer-key)\n");
        bad = 1;
    }
    struct xw_ctrl ab = { .type = XW_CTRL_ABORT, .reason = XW_REASON_PEER_DECLINED };
    xwt_raw_send_msg(fd, &ab, 0); /* then plain TCP */
    xwt_exchange(fd, BYTES, 0xbadu);
    xway_close(fd);
    return bad;
}

/* The lowest grant ref in use and the lowest unbound port of domain dom in the
 * sim host: what a guess of a fresh domain's first offer would be. */
static bool read_guess(uint32_t dom, struct guess *g)
{
    char p[200];
    uint32_t e[4];
    uint64_t w;
    g->domid = dom;
    g->ref = g->port = 0;
    snprintf(p, sizeof(p), "%.150s/dom%u.gnt", host_h, dom);
    FILE *f = fopen(p, "rb");
    for (uint32_t i = 0; f && !g->ref && i < 65536 && fread(e, sizeof(e), 1, f) == 1; i++)
        if (e[0] & 1)
            g->ref = i;
    if (f)
        fclose(f);
    snprintf(p, sizeof(p), "%.150s/dom%u.evt", host_h, dom);
    f = fopen(p, "rb");
    if (f && fseek(f, 8 + 4096 / 8, SEEK_SET) == 0)
        for (uint32_t i = 0; !g->port && i < 4096 && fread(&w, sizeof(w), 1, f) == 1; i++)
            if (w >> 56 == 1) /* unbound, offered to a domain */
                g->port = i;
    if (f)
        fclose(f);
    return g->ref && g->port;
}

int main(void)
{
    const char *hub = xwt_setup(120);
    char h[96], h2[96];
    host_h = xw_sim_host();
    snprintf(h, sizeof(h), "XWAY_HOST=%s", host_h);
    snprintf(h2, sizeof(h2), "XWAY_HOST=%s", xw_sim_host());
    const char *a_env[] = { "XWAY_BACKEND=sim", h, NULL };
    const char *c_env[] = { "XWAY_BACKEND=sim", h, "XWAY_FAULT=offer-late", NULL };
    const char *x_env[] = { "XWAY_BACKEND=sim", h2, "XWAY_FAULT=raw", NULL };

    struct xwt_peer a = xwt_spawn_env(hub, SRV "/24", a_env, acceptor, NULL);
    CHECK_EQ(xwt_ctl_recv(a.ctl), 'R');
    struct xwt_peer x = xwt_spawn_env(hub, "10.77.91.3/24", x_env, attacker, NULL);
    CHECK_EQ(xwt_ctl_recv(x.ctl), 'R');
    struct xwt_peer c = xwt_spawn_env(hub, "10.77.91.2/24", c_env, connector, NULL);
    uint32_t dom;
    CHECK(read(c.ctl, &dom, sizeof(dom)) == sizeof(dom));
    /* C's ring exists from its SYN-ACK on; its OFFER follows XW_OFFER_LATE_MS later. */
    struct guess g;
    uint64_t t0 = xw_now_ns();
    while (!read_guess(dom, &g)) {
        CHECK(xwt_ms_since(t0) < 10000);
        usleep(1000);
    }
    printf("guess: dom %u ref %u port %u\n", g.domid, g.ref, g.port);
    CHECK(write(x.ctl, &g, sizeof(g)) == sizeof(g));
    int st = xwt_join_status(&x) | xwt_join_status(&c) | xwt_join_status(&a);
    printf(st ? "FAIL\n" : "PASS\n");
    return st ? 1 : 0;
}

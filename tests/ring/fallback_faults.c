/* Every injected handshake failure (XWAY_FAULT, on the side that performs that
 * step) and a backend switched off on either side: the connection ends on TCP
 * with exactly the matching reason on both sides (XWAY_INFO), the stack's
 * per-reason counter says so, and 4 MiB echoed both ways arrive intact.  The
 * same pair without a fault takes the ring (the control). */
#include "peer.h"
#include "ringtest.h"
#include "testlib.h"

#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#define PORT 7100
#define BYTES (4u << 20)

struct side {
    const char *env[4];
    const char *path, *reason; /* expected */
};

struct fcase {
    const char *name;
    struct side cli, srv;
};

/* After the one connection: its outcome is the only thing the counters saw. */
static void expect_stats(const char *who, const struct side *sd)
{
    struct xway_stats st;
    CHECK(xway_stats(&st) == 0);
    bool ring = !strcmp(sd->path, "ring");
    printf("%s: stats ring %llu tcp %llu\n", who, (unsigned long long)st.ring_conns,
           (unsigned long long)st.tcp_conns);
    CHECK_EQ(st.ring_conns, ring ? 1 : 0);
    CHECK_EQ(st.tcp_conns, ring ? 0 : 1);
    for (int i = 0; i < XWAY_REASONS; i++)
        CHECK_EQ(st.fallback[i], !ring && i == xwt_reason_code(sd->reason) ? 1 : 0);
}

static int server(int ctl, void *arg)
{
    const struct fcase *c = arg;
    int l = xwt_listen("10.77.50.1", PORT, 4);
    xwt_ctl_send(ctl, 'R');
    int fd = xway_accept(l, NULL, NULL);
    CHECK(fd >= 0);
    int bad = xwt_path_is("server", fd, c->srv.path, c->srv.reason);
    CHECK_EQ(xwt_echo(fd), 0);
    expect_stats("server", &c->srv);
    xway_close(l);
    return bad;
}

static int client(int ctl, void *arg)
{
    const struct fcase *c = arg;
    (void)ctl;
    uint64_t t0 = xw_now_ns();
    int fd = xwt_connect("10.77.50.1", PORT);
    printf("client: connected in %.1f ms\n", (double)(xw_now_ns() - t0) / 1e6);
    int bad = xwt_path_is("client", fd, c->cli.path, c->cli.reason);
    xwt_exchange(fd, BYTES, 0xfa017u);
    struct xway_stats st;
    CHECK(xway_stats(&st) == 0);
    const char *host = getenv("XWAY_HOST");
    if (st.domid >= 0 && !strcmp(c->cli.path, "tcp") && xwt_sim_leftovers(host, st.domid)) {
        fprintf(stderr, "FAIL: client: a TCP connection holds grants/ports in the sim host\n");
        bad = 1;
    }
    struct xway_conn_info ci = xwt_info(fd);
    if (!strcmp(c->cli.path, "tcp")) /* the payload went through lwIP */
        CHECK(ci.tcp_tx == BYTES && ci.tcp_rx == BYTES && ci.ring_tx == 0 && ci.ring_rx == 0);
    else
        CHECK(ci.ring_tx == BYTES && ci.ring_rx == BYTES && ci.tcp_tx == 0 && ci.tcp_rx == 0);
    xway_close(fd);
    expect_stats("client", &c->cli);
    if (st.domid >= 0) { /* released on close */
        int left = 0;
        for (int i = 0; i < 40 && (left = xwt_sim_leftovers(host, st.domid)) > 0; i++)
            usleep(50000);
        if (left) {
            fprintf(stderr, "FAIL: client: %d grants/ports left after close\n", left);
            bad = 1;
        }
    }
    return bad;
}

#define SIM "XWAY_BACKEND=sim"
#define TCP(r) "tcp", r

int main(void)
{
    const char *hub = xwt_setup(200);
    char host[96];
    snprintf(host, sizeof(host), "XWAY_HOST=%s", xw_sim_host());
    /* the side that performs the failing step records the fault's own reason;
     * the other side learns that the peer declined */
    /* the side that fails a step declines with the step's reason, so both sides
     * record it; a side without the option cannot say why */
#define FAULT(f, cli_env, srv_env) \
    { f, { { SIM, host, cli_env }, TCP(f) }, { { SIM, host, srv_env }, TCP(f) } }
    struct fcase cases[] = {
        { "no fault (control)", { { SIM, host }, "ring", "none" }, { { SIM, host }, "ring", "none" } },
        FAULT("grant-share", "XWAY_FAULT=grant-share", NULL),
        FAULT("resources", "XWAY_FAULT=resources", NULL),
        FAULT("grant-map", NULL, "XWAY_FAULT=grant-map"),
        FAULT("evtchn", NULL, "XWAY_FAULT=evtchn"),
        FAULT("timeout", NULL, "XWAY_FAULT=timeout"),
        FAULT("malformed", NULL, "XWAY_FAULT=malformed"),
        FAULT("version", NULL, "XWAY_FAULT=version"),
        FAULT("nonce", NULL, "XWAY_FAULT=nonce"),
        { "backend off (client)", { { "XWAY_BACKEND=off", host }, TCP("backend-off") },
          { { SIM, host }, TCP("peer-no-option") } },
        { "backend off (server)", { { SIM, host }, TCP("peer-no-option") },
          { { "XWAY_BACKEND=off", host }, TCP("backend-off") } },
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fcase *c = &cases[i];
        printf("== %s\n", c->name);
        struct xwt_peer s = xwt_spawn_env(hub, "10.77.50.1/24", c->srv.env, server, c);
        CHECK_EQ(xwt_ctl_recv(s.ctl), 'R');
        struct xwt_peer k = xwt_spawn_env(hub, "10.77.50.2/24", c->cli.env, client, c);
        int st = xwt_join_status(&k) | xwt_join_status(&s);
        if (st) {
            printf("FAIL: %s\n", c->name);
            failed++;
        }
    }
    printf(failed ? "FAIL: %d case(s)\n" : "PASS\n", failed);
    return failed ? 1 : 0;
}

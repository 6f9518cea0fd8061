/* A remote host opens 1,000 connections whose SYN carries the xway option and
 * then says nothing: each acceptor's handshake times out and resets its
 * connection, and the stack's socket table and fds come back to where they were. */
#include "peer.h"
#include "remote_conns.h"
#include "testlib.h"

#include <sys/resource.h>
#include <xway.h>

#define SRV "10.77.12.1"
#define RAW "10.77.12.2"
#define PORT 7120
#define WAVE 200 /* within the listen backlog (255) */
#define WAVES 5

static int server(int ctl, void *arg)
{
    xwt_ctl_send(ctl, 'R');
    CHECK_EQ(xwt_ctl_recv(ctl), 'S'); /* the raw host is on the link */
    int lfd = xwt_listen(SRV, PORT, 255);
    int socks = rconn_sockets(), fds = xw_count_fds();
    xwt_ctl_send(ctl, 'L');
    CHECK_EQ(xwt_ctl_recv(ctl), 'D');
    rconn_settled(socks, fds);
    CHECK(xway_close(lfd) == 0);
    return 0;
}

int main(void)
{
    const char *hub = xwt_setup(100);
    char host[300];
    snprintf(host, sizeof(host), "XWAY_HOST=%s", xw_sim_host());
    const char *env[] = { "XWAY_BACKEND=sim", host, NULL };
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0); /* room to see a leak, not EMFILE */
    rl.rlim_cur = rl.rlim_max;
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    struct xwt_peer p = xwt_spawn_env(hub, SRV "/24", env, server, NULL);
    static struct rconn c[WAVE];
    struct rawp r;
    uint64_t t0;

    CHECK_EQ(xwt_ctl_recv(p.ctl), 'R');
    rawp_open(&r, hub, RAW, SRV);
    xwt_ctl_send(p.ctl, 'S');
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'L');
    t0 = xw_now_ns();
    for (int w = 0; w < WAVES; w++) {
        rconn_open(&r, c, WAVE, (uint16_t)(20000 + w * WAVE), PORT, true);
        for (int i = 0; i < WAVE; i++)
            CHECK(c[i].opt); /* the acceptor waits for an OFFER that never comes */
        int resets = rconn_wait_reset(&r, c, WAVE, PORT, 15000);
        printf("wave %d: %d connections reset by the handshake timeout, %.1f s\n", w, resets,
               (double)(xw_now_ns() - t0) / 1e9);
        CHECK_EQ(resets, WAVE);
    }
    xwt_ctl_send(p.ctl, 'D');
    xwt_join(&p);
    rawp_close(&r);
    printf("ok\n");
    return 0;
}

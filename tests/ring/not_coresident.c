/* Three processes: a server and a client on one sim host, a third process on
 * another sim host.  The co-resident client takes the ring, the other stays TCP
 * with reason "not-co-resident" (both ends); bytes intact on both; each stack's
 * xway_stats counts exactly what happened (1 ring, 1 not-co-resident). */
#include "peer.h"
#include "ringtest.h"
#include "testlib.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PORT 7200
#define BYTES (8u << 20)

static void expect_stats(const char *who, unsigned ring, unsigned tcp, unsigned notco)
{
    struct xway_stats st;
    CHECK(xway_stats(&st) == 0);
    printf("%s: stats: backend %s dom %d, ring %llu, tcp %llu, not-co-resident %llu\n", who,
           st.backend, st.domid, (unsigned long long)st.ring_conns,
           (unsigned long long)st.tcp_conns,
           (unsigned long long)st.fallback[XWAY_REASON_NOT_CORESIDENT]);
    CHECK(!strcmp(st.backend, "sim") && st.domid > 0);
    CHECK_EQ(st.ring_conns, ring);
    CHECK_EQ(st.tcp_conns, tcp);
    for (int i = 0; i < XWAY_REASONS; i++)
        CHECK_EQ(st.fallback[i], i == XWAY_REASON_NOT_CORESIDENT ? notco : 0);
    CHECK(!strcmp(xway_reason_name(XWAY_REASON_NOT_CORESIDENT), "not-co-resident"));
}

static int server(int ctl, void *arg)
{
    (void)arg;
    int l = xwt_listen("10.77.62.1", PORT, 4);
    expect_stats("server", 0, 0, 0);
    xwt_ctl_send(ctl, 'R');
    int fd = xway_accept(l, NULL, NULL); /* the co-resident client */
    CHECK(fd >= 0);
    xwt_expect_path("server (same host)", fd, "ring", "none");
    CHECK_EQ(xwt_echo(fd), 0);
    expect_stats("server", 1, 0, 0);
    xwt_ctl_send(ctl, 'N'); /* only now may the other host connect */
    fd = xway_accept(l, NULL, NULL); /* the one on the other host */
    CHECK(fd >= 0);
    xwt_expect_path("server (other host)", fd, "tcp", "not-co-resident");
    CHECK_EQ(xwt_echo(fd), 0);
    expect_stats("server", 1, 1, 1);
    xway_close(l);
    return 0;
}

static int client(int ctl, void *arg)
{
    const char *want = arg;
    bool ring = !strcmp(want, "ring");
    (void)ctl;
    int fd = xwt_connect("10.77.62.1", PORT);
    xwt_expect_path(ring ? "client (same host)" : "client (other host)", fd, want,
                    ring ? "none" : "not-co-resident");
    xwt_exchange(fd, BYTES, ring ? 11 : 12);
    struct xway_conn_info ci = xwt_info(fd);
    CHECK_EQ(ring ? ci.ring_tx : ci.tcp_tx, BYTES);
    CHECK_EQ(ring ? ci.ring_rx : ci.tcp_rx, BYTES);
    CHECK_EQ(ring ? ci.tcp_tx + ci.tcp_rx : ci.ring_tx + ci.ring_rx, 0);
    xway_close(fd);
    expect_stats(ring ? "client (same host)" : "client (other host)", ring, !ring, !ring);
    return 0;
}

int main(void)
{
    const char *hub = xwt_setup(100);
    char a[96], b[96];
    snprintf(a, sizeof(a), "XWAY_HOST=%s", xw_sim_host());
    snprintf(b, sizeof(b), "XWAY_HOST=%s", xw_sim_host());
    const char *env_a[] = { "XWAY_BACKEND=sim", a, NULL };
    const char *env_b[] = { "XWAY_BACKEND=sim", b, NULL };
    struct xwt_peer s = xwt_spawn_env(hub, "10.77.62.1/24", env_a, server, NULL);
    CHECK_EQ(xwt_ctl_recv(s.ctl), 'R');
    struct xwt_peer c1 = xwt_spawn_env(hub, "10.77.62.2/24", env_a, client, "ring");
    xwt_join(&c1);
    CHECK_EQ(xwt_ctl_recv(s.ctl), 'N');
    struct xwt_peer c2 = xwt_spawn_env(hub, "10.77.62.3/24", env_b, client, "tcp");
    xwt_join(&c2);
    xwt_join(&s);
    printf("PASS\n");
    return 0;
}

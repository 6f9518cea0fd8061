/* The accept queue stays bounded whatever a remote host does: connections reset
 * while queued leave it (B of them, then B more that finish their handshake
 * late must all fit, each accepted once), and listen() again with a larger
 * backlog grows it.  The stack's sockets and fds come back to where they were. */
#include "peer.h"
#include "remote_conns.h"
#include "testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/time.h>
#include <xway.h>

#define SRV "10.77.11.1"
#define RAW "10.77.11.2"
#define PORT 7110
#define PORT2 7111
#define B 4
#define BIG 8

static void payload(char *buf, size_t cap, unsigned port)
{
    snprintf(buf, cap, "payload of connection %u", port);
}

/* Accept everything queued on lfd (nonblocking): exactly n connections, from
 * ports lo..lo+n-1, each once, each carrying its payload; then close them. */
static void accept_all(int lfd, int n, unsigned lo)
{
    int fds[64], k = 0;
    bool seen[64] = { false };

    for (;;) {
        struct sockaddr_in a;
        socklen_t al = sizeof(a);
        int fd = xway_accept(lfd, (struct sockaddr *)&a, &al);
        if (fd < 0) {
            CHECK_EQ(errno, EAGAIN);
            break;
        }
        CHECK(k < 64);
        fds[k++] = fd;
        unsigned port = ntohs(a.sin_port);
        printf("accepted fd %d from port %u\n", fd, port);
        CHECK(port >= lo && port < lo + (unsigned)n);
        CHECK(!seen[port - lo]);
        seen[port - lo] = true;
        char want[64], got[64] = { 0 };
        struct timeval tv = { 5, 0 };
        payload(want, sizeof(want), port);
        CHECK(xway_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
        CHECK(xway_set_nonblock(fd, 0) == 0);
        CHECK_EQ(xway_recv(fd, got, strlen(want), MSG_WAITALL), (long)strlen(want));
        CHECK(!memcmp(got, want, strlen(want)));
    }
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < k; j++)
            CHECK(fds[i] != fds[j]);
    CHECK_EQ(k, n);
    for (int i = 0; i < k; i++)
        CHECK(xway_close(fds[i]) == 0);
}

static int server(int ctl, void *arg)
{
    xwt_ctl_send(ctl, 'R');
    CHECK_EQ(xwt_ctl_recv(ctl), 'S'); /* the raw host is on the link */
    int socks = rconn_sockets(), fds = xw_count_fds();
    int lfd = xwt_listen(SRV, PORT, B);

    CHECK(xway_set_nonblock(lfd, 1) == 0);
    xwt_ctl_send(ctl, 'L');
    CHECK_EQ(xwt_ctl_recv(ctl), 'A');
    accept_all(lfd, B, 41000);
    CHECK(xway_close(lfd) == 0);
    rconn_settled(socks, fds);

    lfd = xwt_listen(SRV, PORT2, 2);
    CHECK(xway_listen(lfd, BIG) == 0); /* grows the queue */
    CHECK(xway_set_nonblock(lfd, 1) == 0);
    xwt_ctl_send(ctl, 'B');
    CHECK_EQ(xwt_ctl_recv(ctl), 'C');
    accept_all(lfd, BIG, 42000);
    CHECK(xway_close(lfd) == 0);
    rconn_settled(socks, fds);
    return 0;
}

static void send_payloads(struct rawp *r, struct rconn *c, int n, uint16_t dport)
{
    for (int i = 0; i < n; i++) {
        char buf[64];
        payload(buf, sizeof(buf), c[i].sport);
        rconn_send(r, &c[i], dport, buf, strlen(buf));
    }
}

int main(void)
{
    const char *hub = xwt_setup(60);
    char host[300];
    snprintf(host, sizeof(host), "XWAY_HOST=%s", xw_sim_host());
    const char *env[] = { "XWAY_BACKEND=sim", host, NULL };
    struct xwt_peer p = xwt_spawn_env(hub, SRV "/24", env, server, NULL);
    struct rconn dead[B], live[B], big[BIG];
    struct rawp r;

    CHECK_EQ(xwt_ctl_recv(p.ctl), 'R');
    rawp_open(&r, hub, RAW, SRV);
    xwt_ctl_send(p.ctl, 'S');
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'L');

    /* B connections negotiate (NOOFFER), are queued, and are reset. */
    rconn_open(&r, dead, B, 40000, PORT, true);
    for (int i = 0; i < B; i++) {
        CHECK(dead[i].opt); /* the listener answered: its acceptor waits for the OFFER */
        rconn_nooffer(&r, &dead[i], PORT);
        rconn_reset(&r, &dead[i], PORT);
    }
    /* B more: all established before any finishes its handshake. */
    rconn_open(&r, live, B, 41000, PORT, true);
    for (int i = 0; i < B; i++)
        rconn_nooffer(&r, &live[i], PORT);
    send_payloads(&r, live, B, PORT);
    printf("acknowledged: %d of %d\n", rconn_wait_acked(&r, live, B, PORT, 5000), B);
    xwt_ctl_send(p.ctl, 'A');

    /* listen(2) then listen(BIG): BIG connections, most finishing late. */
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'B');
    rconn_open(&r, big, BIG - 2, 42000, PORT2, true);
    rconn_open(&r, big + BIG - 2, 2, 42000 + BIG - 2, PORT2, false);
    for (int i = 0; i < BIG - 2; i++)
        rconn_nooffer(&r, &big[i], PORT2);
    send_payloads(&r, big, BIG, PORT2);
    printf("acknowledged: %d of %d\n", rconn_wait_acked(&r, big, BIG, PORT2, 5000), BIG);
    xwt_ctl_send(p.ctl, 'C');

    xwt_join(&p);
    rawp_close(&r);
    printf("ok\n");
    return 0;
}

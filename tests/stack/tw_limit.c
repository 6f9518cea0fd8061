/* A server that closes first keeps at most XW_TIMEWAIT_MAX connections in
 * TIME-WAIT (timewait.h): after 600 connections, each carrying 1 KiB that the
 * client checks, the server's stack holds some in TIME-WAIT and no more than
 * the limit, and a new connection is served at once. */
#include "peer.h"
#include "ringtest.h"
#include "testlib.h"

#include <string.h>
#include <unistd.h>
#include <xway.h>

#include "lwip/priv/tcp_priv.h"
#include "stack.h"
#include "timewait.h"

#define SRV "10.77.11.1"
#define N 600
#define LEN 1024

static void pattern(char *buf, int i)
{
    for (int k = 0; k < LEN; k++)
        buf[k] = (char)(i * 31 + k * 7);
}

static int tw_count(void)
{
    int n = 0;

    xw_stack_lock();
    for (struct tcp_pcb *p = tcp_tw_pcbs; p; p = p->next)
        n++;
    xw_stack_unlock();
    return n;
}

static int server(int ctl, void *arg)
{
    int ls = xwt_listen(SRV, 7012, 64), tw;
    char buf[LEN];

    (void)arg;
    xwt_ctl_send(ctl, 'R');
    for (int i = 0; i <= N; i++) {
        int c = xway_accept(ls, NULL, NULL);
        CHECK(c >= 0);
        pattern(buf, i);
        CHECK_EQ(xway_send(c, buf, LEN, MSG_NOSIGNAL), LEN);
        CHECK_EQ(xway_close(c), 0); /* first: this side keeps TIME-WAIT */
        if (i == N - 1) {
            usleep(4 * XW_TIMEWAIT_TRIM_MS * 1000);
            tw = tw_count();
            printf("after %d connections: %d in TIME-WAIT (at most %d)\n", N, tw, XW_TIMEWAIT_MAX);
            CHECK(tw > 0 && tw <= XW_TIMEWAIT_MAX);
            xwt_ctl_send(ctl, 'T');
        }
    }
    CHECK_EQ(xwt_ctl_recv(ctl), 'D');
    CHECK_EQ(xway_close(ls), 0);
    return 0;
}

int main(void)
{
    const char *hub = xwt_setup(100);
    struct xwt_peer p = xwt_spawn(hub, SRV "/24", server, NULL);
    char want[LEN], got[LEN];

    xwt_start(hub, "10.77.11.2/24");
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'R');
    for (int i = 0; i <= N; i++) {
        uint64_t t0 = xw_now_ns();
        int fd = xwt_connect(SRV, 7012);
        if (i == N)
            CHECK_EQ(xwt_ctl_recv(p.ctl), 'T');
        CHECK_EQ(xway_recv(fd, got, LEN, MSG_WAITALL), LEN);
        pattern(want, i);
        CHECK(!memcmp(got, want, LEN));
        CHECK_EQ(xway_close(fd), 0);
        if (i == N)
            CHECK(xw_now_ns() - t0 < 1000000000ull); /* not after a retransmission */
    }
    xwt_ctl_send(p.ctl, 'D');
    xwt_join(&p);
    xway_fini();
    printf("PASS\n");
    return 0;
}

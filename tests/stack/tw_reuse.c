/* A new connection from the 4-tuple of one the server still holds in TIME-WAIT
 * (the server closed first): the SYN must open a new connection, as on Linux,
 * not be answered with an ACK the client rejects until it times out.  The
 * client binds the same local port every time to force the collision. */
#include "peer.h"
#include "ringtest.h"
#include "testlib.h"
#include <stdlib.h>

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xway.h>

#define SRV "10.77.11.1"
#define ROUNDS 5

static int server(int ctl, void *arg)
{
    int ls = xwt_listen(SRV, 7011, 8);

    (void)arg;
    xwt_ctl_send(ctl, 'R');
    for (int i = 0; i < ROUNDS; i++) {
        int c = xway_accept(ls, NULL, NULL);
        CHECK(c >= 0);
        CHECK_EQ(xway_send(c, "bye", 3, MSG_NOSIGNAL), 3);
        CHECK_EQ(xway_close(c), 0); /* first: this side keeps TIME-WAIT */
    }
    CHECK_EQ(xwt_ctl_recv(ctl), 'Q');
    /* SO_REUSEADDR: listen again on the port while its connections wait. */
    CHECK_EQ(xway_close(ls), 0);
    ls = xwt_listen(SRV, 7011, 8);
    xwt_ctl_send(ctl, 'L');
    int c = xway_accept(ls, NULL, NULL);
    CHECK(c >= 0);
    CHECK_EQ(xway_send(c, "bye", 3, MSG_NOSIGNAL), 3);
    CHECK_EQ(xway_close(c), 0);
    CHECK_EQ(xway_close(ls), 0);
    /* Stay until the client has read it: a stack that stops resets the
     * connections it still holds (README: limits). */
    CHECK_EQ(xwt_ctl_recv(ctl), 'D');
    return 0;
}

int main(int argc, char **argv)
{
    const char *hub = xwt_setup(100);
    if (argc > 1 && !strcmp(argv[1], "ring")) /* co-resident: the ring path */
        CHECK(setenv("XWAY_BACKEND", "sim", 1) == 0 && setenv("XWAY_HOST", xw_sim_host(), 1) == 0);
    struct xwt_peer p = xwt_spawn(hub, SRV "/24", server, NULL);
    xwt_start(hub, "10.77.11.2/24");
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'R');
    struct sockaddr_storage srv, me;
    socklen_t sl = xwt_addr(SRV, 7011, &srv), ml = xwt_addr("10.77.11.2", 40111, &me);

    for (int i = 0; i < ROUNDS; i++) {
        uint64_t t0 = 0;
        char buf[8];
        int fd, cr, tries = 0;
        /* Our previous connection's last ACK may still be on its way (its pcb
         * in LAST-ACK holds the 4-tuple): retry briefly, as on Linux. */
        do {
            int one = 1;
            if (tries)
                usleep(5000);
            fd = xway_socket(AF_INET, SOCK_STREAM, 0);
            CHECK(fd >= 0);
            CHECK_EQ(xway_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
            t0 = xw_now_ns();
            cr = xway_bind(fd, (void *)&me, ml);
            if (cr == 0)
                cr = xway_connect(fd, (void *)&srv, sl);
            if (cr < 0 && errno == EADDRINUSE)
                xway_close(fd);
        } while (cr < 0 && errno == EADDRINUSE && tries++ < 200);
        if (cr < 0)
            printf("round %d: connect: %s after %.1f ms\n", i, strerror(errno), (xw_now_ns() - t0) / 1e6);
        CHECK_EQ(cr, 0);
        CHECK_EQ(xway_recv(fd, buf, sizeof(buf), MSG_WAITALL), 3);
        /* Let the server's FIN (sent at its close) arrive before ours: on the
         * ring its EOF can overtake it, and then this side would wait instead. */
        usleep(50000);
        CHECK_EQ(xway_close(fd), 0);
        double ms = (xw_now_ns() - t0) / 1e6;
        printf("round %d: connected and closed in %.1f ms\n", i, ms);
        CHECK(ms < 1000); /* not after a SYN retransmission */
        /* The server's FIN came first, so it holds the 4-tuple in TIME-WAIT. */
    }
    xwt_ctl_send(p.ctl, 'Q');
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'L');
    int fd = xwt_connect(SRV, 7011);
    char buf[3];
    CHECK_EQ(xway_recv(fd, buf, sizeof(buf), MSG_WAITALL), 3);
    CHECK_EQ(xway_close(fd), 0);
    xwt_ctl_send(p.ctl, 'D');
    xwt_join(&p);
    xway_fini();
    printf("PASS\n");
    return 0;
}

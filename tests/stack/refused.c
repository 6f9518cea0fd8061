/* Connecting to a port nobody listens on: ECONNREFUSED, blocking and nonblocking. */
#include "peer.h"
#include "testlib.h"

#include <errno.h>
#include <xway.h>

#define SRV "10.77.4.1"

static int idle_peer(int ctl, void *arg)
{
    xwt_ctl_send(ctl, 'R');
    return xwt_ctl_recv(ctl) == 'Q' ? 0 : 1;
}

int main(void)
{
    const char *hub = xwt_setup(60);
    struct xwt_peer p = xwt_spawn(hub, SRV "/24", idle_peer, NULL);
    xwt_start(hub, "10.77.4.2/24");
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'R');
    struct sockaddr_storage ss;
    socklen_t sl = xwt_addr(SRV, 7004, &ss);

    int fd = xway_socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    CHECK_EQ(xway_connect(fd, (void *)&ss, sl), -1);
    CHECK_EQ(errno, ECONNREFUSED);
    CHECK(xway_close(fd) == 0);

    fd = xway_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK(fd >= 0);
    CHECK_EQ(xway_connect(fd, (void *)&ss, sl), -1);
    CHECK_EQ(errno, EINPROGRESS);
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    CHECK_EQ(xway_poll(&pfd, 1, 10000), 1);
    CHECK(pfd.revents & (POLLOUT | POLLERR | POLLHUP));
    int err = 0;
    socklen_t len = sizeof(err);
    CHECK(xway_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0);
    CHECK_EQ(err, ECONNREFUSED);
    len = sizeof(err);
    CHECK(xway_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0);
    CHECK_EQ(err, 0); /* reading SO_ERROR clears it */
    CHECK(xway_close(fd) == 0);

    xwt_ctl_send(p.ctl, 'Q');
    xwt_join(&p);
    xway_fini();
    printf("ok\n");
    return 0;
}

/* Nonblocking connect: EINPROGRESS, then writable via xway_poll and via epoll on
 * the socket's kernel fd, SO_ERROR 0, and the connection carries verified bytes. */
#include "peer.h"
#include "testlib.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <xway.h>

#define SRV "10.77.3.1"
#define PORT 7003

static int server(int ctl, void *arg)
{
    int lfd = xwt_listen(SRV, PORT, 8);
    xwt_ctl_send(ctl, 'R');
    for (int i = 0; i < 2; i++) {
        int fd = xway_accept(lfd, NULL, NULL);
        CHECK(fd >= 0);
        CHECK_EQ(xwt_echo(fd), 0);
    }
    xway_close(lfd);
    return 0;
}

static int connect_nb(void)
{
    struct sockaddr_storage ss;
    socklen_t sl = xwt_addr(SRV, PORT, &ss);
    int fd = xway_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK(fd >= 0);
    int r = xway_connect(fd, (void *)&ss, sl);
    CHECK_EQ(r, -1);
    CHECK_EQ(errno, EINPROGRESS);
    return fd;
}

static void check_connected(int fd)
{
    int err = -1;
    socklen_t len = sizeof(err);
    CHECK(xway_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0);
    CHECK_EQ(err, 0);
    struct sockaddr_storage peer;
    socklen_t pl = sizeof(peer);
    CHECK(xway_getpeername(fd, (void *)&peer, &pl) == 0);
}

int main(void)
{
    const char *hub = xwt_setup(60);
    struct xwt_peer p = xwt_spawn(hub, SRV "/24", server, NULL);
    xwt_start(hub, "10.77.3.2/24");
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'R');

    /* 1: xway_poll */
    int fd = connect_nb();
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    CHECK_EQ(xway_poll(&pfd, 1, 10000), 1);
    CHECK(pfd.revents & POLLOUT);
    CHECK(!(pfd.revents & (POLLERR | POLLHUP)));
    check_connected(fd);
    CHECK(xway_set_nonblock(fd, 0) == 0);
    xwt_exchange(fd, 1 << 20, 11);
    CHECK(xway_close(fd) == 0);

    /* 2: epoll on the kernel fd, writable then readable */
    fd = connect_nb();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0);
    struct epoll_event ev = { .events = EPOLLOUT, .data.fd = fd }, got;
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
    CHECK_EQ(epoll_wait(ep, &got, 1, 10000), 1);
    CHECK_EQ(got.data.fd, fd);
    CHECK(got.events & EPOLLOUT);
    CHECK(!(got.events & EPOLLERR));
    check_connected(fd);
    char c = 'x';
    CHECK_EQ(xway_send(fd, &c, 1, 0), 1);
    ev.events = EPOLLIN;
    CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) == 0);
    CHECK_EQ(epoll_wait(ep, &got, 1, 10000), 1);
    CHECK(got.events & EPOLLIN);
    char r = 0;
    CHECK_EQ(xway_recv(fd, &r, 1, MSG_DONTWAIT), 1);
    CHECK_EQ(r, 'x');
    CHECK(xway_set_nonblock(fd, 0) == 0);
    xwt_exchange(fd, 1 << 20, 12);
    close(ep);
    CHECK(xway_close(fd) == 0);

    xwt_join(&p);
    xway_fini();
    printf("ok\n");
    return 0;
}

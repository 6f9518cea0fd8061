/* Peer close: recv returns 0.  Peer reset (SO_LINGER {1,0}): ECONNRESET, then
 * send gives EPIPE, with SIGPIPE only when MSG_NOSIGNAL is not given. */
#include "peer.h"
#include "testlib.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <xway.h>

#define SRV "10.77.5.1"
#define PORT 7005

static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int sig)
{
    (void)sig;
    sigpipes++;
}

static int server(int ctl, void *arg)
{
    int lfd = xwt_listen(SRV, PORT, 8);
    xwt_ctl_send(ctl, 'R');
    /* 1: send a greeting, close gracefully */
    int fd = xway_accept(lfd, NULL, NULL);
    CHECK(fd >= 0);
    CHECK_EQ(xway_send(fd, "hello", 5, 0), 5);
    CHECK(xway_close(fd) == 0);
    /* 2: wait for one byte, then reset */
    fd = xway_accept(lfd, NULL, NULL);
    CHECK(fd >= 0);
    char c;
    CHECK_EQ(xway_recv(fd, &c, 1, MSG_WAITALL), 1);
    struct linger lg = { 1, 0 };
    CHECK(xway_setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
    CHECK(xway_close(fd) == 0);
    CHECK_EQ(xwt_ctl_recv(ctl), 'Q'); /* stay up until the parent has seen it all */
    xway_close(lfd);
    return 0;
}

static int connect_to(void)
{
    struct sockaddr_storage ss;
    socklen_t sl = xwt_addr(SRV, PORT, &ss);
    int fd = xway_socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    CHECK(xway_connect(fd, (void *)&ss, sl) == 0);
    return fd;
}

int main(void)
{
    const char *hub = xwt_setup(60);
    struct xwt_peer p = xwt_spawn(hub, SRV "/24", server, NULL);
    signal(SIGPIPE, on_sigpipe);
    xwt_start(hub, "10.77.5.2/24");
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'R');

    int fd = connect_to();
    char buf[16] = { 0 };
    CHECK_EQ(xway_recv(fd, buf, 5, MSG_WAITALL), 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK_EQ(xway_recv(fd, buf, sizeof(buf), 0), 0);
    CHECK_EQ(xway_recv(fd, buf, sizeof(buf), 0), 0); /* EOF stays EOF */
    CHECK(xway_close(fd) == 0);

    fd = connect_to();
    CHECK_EQ(xway_send(fd, "x", 1, 0), 1);
    CHECK_EQ(xway_recv(fd, buf, sizeof(buf), 0), -1);
    CHECK_EQ(errno, ECONNRESET);
    CHECK_EQ(xway_send(fd, "y", 1, MSG_NOSIGNAL), -1);
    CHECK_EQ(errno, EPIPE);
    CHECK_EQ(sigpipes, 0);
    CHECK_EQ(xway_send(fd, "z", 1, 0), -1);
    CHECK_EQ(errno, EPIPE);
    CHECK_EQ(sigpipes, 1);
    CHECK(xway_close(fd) == 0);

    xwt_ctl_send(p.ctl, 'Q');
    xwt_join(&p);
    xway_fini();
    printf("ok\n");
    return 0;
}

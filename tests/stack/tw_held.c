/* A connection that ended both ways while the application still holds its
 * socket (the server sent FIN first with shutdown(SHUT_WR), the client's FIN
 * followed): the server's pcb waits in TIME-WAIT, and lwIP frees it there
 * without a word, on a SYN for its 4-tuple (timewait.c) and at the TIME-WAIT
 * trim (XW_TIMEWAIT_MAX newer ones).  The socket must let go of it: recv says
 * EOF, send EPIPE, getpeername ENOTCONN (as on Linux once TIME-WAIT began),
 * close 0.  Before the fix the socket kept the freed pcb and its close freed
 * it again (a double free: the server process aborted).  Every payload checked. */
#include "peer.h"
#include "testlib.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <xway.h>

#include "timewait.h"

#define SRV "10.77.12.1"
#define PORT 7013
#define CLI_PORT 40113
#define MORE (XW_TIMEWAIT_MAX + 20)

/* The server's half of one connection: "bye" then FIN, and the peer's FIN. */
static int serve_first_fin(int ls)
{
    int c = xway_accept(ls, NULL, NULL);
    char b;

    CHECK(c >= 0);
    CHECK_EQ(xway_send(c, "bye", 3, MSG_NOSIGNAL), 3);
    CHECK_EQ(xway_shutdown(c, SHUT_WR), 0);
    CHECK_EQ(xway_recv(c, &b, 1, 0), 0); /* the client's FIN: TIME-WAIT here */
    return c;
}

/* What a socket whose pcb lwIP freed in TIME-WAIT answers. */
static void check_ended(int c, const char *what)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char b;
    int err = -1;
    socklen_t el = sizeof(err);

    CHECK_EQ(xway_recv(c, &b, 1, 0), 0);
    CHECK_EQ(xway_send(c, "x", 1, MSG_NOSIGNAL), -1);
    CHECK_EQ(errno, EPIPE);
    CHECK_EQ(xway_getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &el), 0);
    CHECK_EQ(err, 0);
    CHECK_EQ(xway_getpeername(c, (struct sockaddr *)&ss, &sl), -1);
    CHECK_EQ(errno, ENOTCONN);
    CHECK_EQ(xway_close(c), 0);
    printf("%s: held socket ended cleanly\n", what);
}

static int server(int ctl, void *arg)
{
    int ls = xwt_listen(SRV, PORT, 64), held, c;

    (void)arg;
    xwt_ctl_send(ctl, 'R');
    /* 1. A SYN for the 4-tuple of the held connection frees its pcb. */
    held = serve_first_fin(ls);
    xwt_ctl_send(ctl, 'H');
    c = xway_accept(ls, NULL, NULL); /* the same 4-tuple, again */
    CHECK(c >= 0);
    CHECK_EQ(xway_send(c, "bye", 3, MSG_NOSIGNAL), 3);
    CHECK_EQ(xway_close(c), 0);
    CHECK_EQ(xwt_ctl_recv(ctl), 'N');
    check_ended(held, "SYN for its 4-tuple");
    /* 2. The trim frees it once XW_TIMEWAIT_MAX newer ones wait. */
    held = serve_first_fin(ls);
    xwt_ctl_send(ctl, 'H');
    for (int i = 0; i < MORE; i++) {
        c = xway_accept(ls, NULL, NULL);
        CHECK(c >= 0);
        CHECK_EQ(xway_send(c, "bye", 3, MSG_NOSIGNAL), 3);
        CHECK_EQ(xway_close(c), 0); /* first: this side keeps TIME-WAIT */
    }
    CHECK_EQ(xwt_ctl_recv(ctl), 'N');
    usleep(4 * XW_TIMEWAIT_TRIM_MS * 1000);
    check_ended(held, "TIME-WAIT trim");
    CHECK_EQ(xway_close(ls), 0);
    xwt_ctl_send(ctl, 'D');
    return 0;
}

/* Connect (from CLI_PORT if bind_port), read "bye" and EOF, close. */
static void client_once(bool bind_port)
{
    struct sockaddr_storage srv, me;
    socklen_t sl = xwt_addr(SRV, PORT, &srv), ml = xwt_addr("10.77.12.2", CLI_PORT, &me);
    char buf[8];
    int fd, one = 1, tries = 0, rc;

    /* Our previous connection's last ACK may still be on its way (its pcb in
     * LAST-ACK holds the 4-tuple): retry briefly, as tw_reuse does. */
    do {
        if (tries)
            usleep(5000);
        fd = xway_socket(AF_INET, SOCK_STREAM, 0);
        CHECK(fd >= 0);
        CHECK_EQ(xway_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
        rc = bind_port ? xway_bind(fd, (void *)&me, ml) : 0;
        if (rc == 0)
            rc = xway_connect(fd, (void *)&srv, sl);
        if (rc < 0 && errno == EADDRINUSE)
            xway_close(fd);
    } while (rc < 0 && errno == EADDRINUSE && tries++ < 200);
    if (rc < 0)
        printf("connect%s: %s\n", bind_port ? " from the same port" : "", strerror(errno));
    CHECK_EQ(rc, 0);
    CHECK_EQ(xway_recv(fd, buf, sizeof(buf), MSG_WAITALL), 3);
    CHECK(!memcmp(buf, "bye", 3));
    CHECK_EQ(xway_close(fd), 0);
}

int main(void)
{
    const char *hub = xwt_setup(100);
    struct xwt_peer p = xwt_spawn(hub, SRV "/24", server, NULL);

    xwt_start(hub, "10.77.12.2/24");
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'R');
    client_once(true);
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'H');
    client_once(true); /* its SYN meets the held connection's TIME-WAIT */
    xwt_ctl_send(p.ctl, 'N');
    client_once(false);
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'H');
    for (int i = 0; i < MORE; i++)
        client_once(false);
    xwt_ctl_send(p.ctl, 'N');
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'D');
    xwt_join(&p);
    xway_fini();
    printf("PASS\n");
    return 0;
}

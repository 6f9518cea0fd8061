/* Listen backlog: with more connects than the backlog, the excess are not ready
 * to accept at once; once the server accepts, they all complete and carry bytes. */
#include "peer.h"
#include "testlib.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <xway.h>

#define SRV "10.77.7.1"
#define PORT 7007
#define BACKLOG 2
#define NCONN 6

static void *echo_thread(void *arg)
{
    return xwt_echo(*(int *)arg) == 0 ? NULL : arg;
}

static int server(int ctl, void *arg)
{
    int lfd = xwt_listen(SRV, PORT, BACKLOG);
    xwt_ctl_send(ctl, 'R');
    CHECK_EQ(xwt_ctl_recv(ctl), 'G'); /* the client's connects have had time */
    CHECK(xway_set_nonblock(lfd, 1) == 0);
    int fds[NCONN], n = 0;
    while (n < NCONN) {
        int fd = xway_accept(lfd, NULL, NULL);
        if (fd < 0) {
            CHECK_EQ(errno, EAGAIN);
            break;
        }
        fds[n++] = fd;
    }
    xwt_ctl_send(ctl, (unsigned char)n);
    CHECK(xway_set_nonblock(lfd, 0) == 0);
    while (n < NCONN) {
        fds[n] = xway_accept(lfd, NULL, NULL);
        CHECK(fds[n] >= 0);
        n++;
    }
    pthread_t t[NCONN]; /* the client's order of connections is not ours */
    for (int i = 0; i < NCONN; i++) {
        CHECK(xway_set_nonblock(fds[i], 0) == 0);
        CHECK(pthread_create(&t[i], NULL, echo_thread, &fds[i]) == 0);
    }
    for (int i = 0; i < NCONN; i++) {
        void *rc;
        CHECK(pthread_join(t[i], &rc) == 0);
        CHECK(rc == NULL);
    }
    xway_close(lfd);
    return 0;
}

int main(void)
{
    const char *hub = xwt_setup(60);
    struct xwt_peer p = xwt_spawn(hub, SRV "/24", server, NULL);
    xwt_start(hub, "10.77.7.2/24");
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'R');
    struct sockaddr_storage ss;
    socklen_t sl = xwt_addr(SRV, PORT, &ss);
    int fds[NCONN];
    for (int i = 0; i < NCONN; i++) {
        fds[i] = xway_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        CHECK(fds[i] >= 0);
        CHECK_EQ(xway_connect(fds[i], (void *)&ss, sl), -1);
        CHECK_EQ(errno, EINPROGRESS);
    }
    struct timespec ts = { 1, 500000000 };
    nanosleep(&ts, NULL);
    xwt_ctl_send(p.ctl, 'G');
    int ready = xwt_ctl_recv(p.ctl);
    printf("accepted at once: %d of %d (backlog %d)\n", ready, NCONN, BACKLOG);
    CHECK(ready >= 1);
    CHECK(ready <= BACKLOG + 1); /* Linux queues backlog + 1 */

    for (int i = 0; i < NCONN; i++) {
        struct pollfd pfd = { .fd = fds[i], .events = POLLOUT };
        CHECK_EQ(xway_poll(&pfd, 1, 40000), 1);
        int err = -1;
        socklen_t len = sizeof(err);
        CHECK(xway_getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &len) == 0);
        CHECK_EQ(err, 0);
        CHECK(xway_set_nonblock(fds[i], 0) == 0);
    }
    printf("all %d connected\n", NCONN);
    for (int i = 0; i < NCONN; i++) {
        printf("exchange on connection %d\n", i);
        xwt_exchange(fds[i], 64 << 10, (uint32_t)i);
        CHECK(xway_close(fds[i]) == 0);
    }
    xwt_join(&p);
    xway_fini();
    printf("ok\n");
    return 0;
}

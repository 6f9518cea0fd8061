/* SO_REUSEPORT: several listeners on one address and port share its
 * connections in turn; a listener without the option cannot join; getsockname
 * of every one names the port; when the first (whose pcb serves the group)
 * closes, the others go on. */
#include "peer.h"
#include "testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <xway.h>

#define SRV "10.77.7.1"
#define PORT 7017
#define NL 3

static void *echo_thread(void *arg)
{
    xwt_echo((int)(intptr_t)arg);
    return NULL;
}

static int listener(int reuseport)
{
    struct sockaddr_storage ss;
    socklen_t sl = xwt_addr(SRV, PORT, &ss);
    int fd = xway_socket(AF_INET, SOCK_STREAM, 0), one = 1;

    CHECK(fd >= 0);
    CHECK(xway_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0);
    if (reuseport)
        CHECK(xway_setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == 0);
    if (xway_bind(fd, (void *)&ss, sl) < 0 || xway_listen(fd, 16) < 0) {
        int e = errno;
        xway_close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Accept want connections from l[from..NL): how many each got, as one byte each. */
static void accept_round(int ctl, int *l, int from, int want)
{
    int got[NL] = { 0 }, total = 0;

    while (total < want) {
        for (int i = from; i < NL; i++) {
            int c = xway_accept(l[i], NULL, NULL);
            pthread_t t;
            if (c < 0) {
                CHECK_EQ(errno, EAGAIN);
                continue;
            }
            got[i]++;
            total++;
            CHECK(pthread_create(&t, NULL, echo_thread, (void *)(intptr_t)c) == 0);
            pthread_detach(t);
        }
    }
    for (int i = 0; i < NL; i++)
        xwt_ctl_send(ctl, (unsigned char)got[i]);
}

static int server(int ctl, void *arg)
{
    int l[NL], v = 0;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss), vl = sizeof(v);

    (void)arg;
    for (int i = 0; i < NL; i++) {
        l[i] = listener(1);
        CHECK(l[i] >= 0);
        CHECK(xway_set_nonblock(l[i], 1) == 0);
        sl = sizeof(ss);
        CHECK(xway_getsockname(l[i], (void *)&ss, &sl) == 0);
        CHECK_EQ(ntohs(((struct sockaddr_in *)&ss)->sin_port), PORT);
    }
    CHECK(xway_getsockopt(l[1], SOL_SOCKET, SO_REUSEPORT, &v, &vl) == 0 && v == 1);
    /* Without SO_REUSEPORT: not one of the group. */
    CHECK_EQ(listener(0), -1);
    CHECK_EQ(errno, EADDRINUSE);
    xwt_ctl_send(ctl, 'R');
    accept_round(ctl, l, 0, 6);
    CHECK_EQ(xwt_ctl_recv(ctl), 'C');
    xway_close(l[0]); /* the first: the others go on */
    xwt_ctl_send(ctl, 'R');
    accept_round(ctl, l, 1, 4);
    CHECK_EQ(xwt_ctl_recv(ctl), 'E');
    xway_close(l[1]);
    xway_close(l[2]);
    return 0;
}

static void round_trip(int ctl, int n, const int *want)
{
    struct sockaddr_storage ss;
    socklen_t sl = xwt_addr(SRV, PORT, &ss);
    int fds[8];

    for (int i = 0; i < n; i++) {
        fds[i] = xway_socket(AF_INET, SOCK_STREAM, 0);
        CHECK(fds[i] >= 0);
        CHECK(xway_connect(fds[i], (void *)&ss, sl) == 0);
    }
    for (int i = 0; i < NL; i++) {
        int got = xwt_ctl_recv(ctl);
        printf("listener %d: %d of %d connections\n", i, got, n);
        CHECK_EQ(got, want[i]);
    }
    for (int i = 0; i < n; i++) {
        xwt_exchange(fds[i], 256 * 1024, (uint32_t)(i + 1));
        xway_close(fds[i]);
    }
}

int main(void)
{
    const char *hub = xwt_setup(60);
    struct xwt_peer p = xwt_spawn(hub, SRV "/24", server, NULL);
    static const int first[NL] = { 2, 2, 2 }, after[NL] = { 0, 2, 2 };

    xwt_start(hub, "10.77.7.2/24");
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'R');
    round_trip(p.ctl, 6, first);
    xwt_ctl_send(p.ctl, 'C');
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'R');
    round_trip(p.ctl, 4, after);
    xwt_ctl_send(p.ctl, 'E');
    xwt_join(&p);
    xway_fini();
    printf("ok\n");
    return 0;
}

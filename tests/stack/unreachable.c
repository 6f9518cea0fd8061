/* An unreachable gateway or destination: the connection concerned gets the
 * errno Linux gives (EINPROGRESS on a SO_SNDTIMEO expiry, ENETUNREACH without a
 * route), the stack keeps running and other connections work. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
#include "xway.h"

static int connect4(const char *ip, int port, int flags)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int fd = xway_socket(AF_INET, SOCK_STREAM | flags, 0);

    CHECK(fd >= 0);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return xway_connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 ? fd : -fd;
}

int main(void)
{
    const char *hub = xw_tmpdir("/tmp", "xwt-unreach-");
    char link[64];
    struct timeval tv = { 1, 0 };
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(80) };
    int fd, l, c, s;
    uint64_t t0;

    xw_watchdog(60);
    snprintf(link, sizeof(link), "hub:%s", hub);
    setenv("XWAY_LINK", link, 1);
    setenv("XWAY_ADDR", "10.77.9.1/24,fd00:77:9::1/64", 1);
    setenv("XWAY_GW", "10.77.9.254", 1); /* nobody answers ARP for it */
    setenv("XWAY_BACKEND", "off", 1);
    CHECK_EQ(xway_init(NULL), 0);

    /* via the dead gateway: a blocking connect gives up at SO_SNDTIMEO */
    fd = xway_socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(xway_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
    {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(80) };
        inet_pton(AF_INET, "10.99.0.1", &a.sin_addr);
        t0 = xw_now_ns();
        CHECK_EQ(xway_connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
        CHECK_EQ(errno, EINPROGRESS);
        CHECK(xw_now_ns() - t0 >= 900000000ull);
    }
    /* nonblocking: never writable while the gateway stays silent */
    c = connect4("10.99.0.2", 80, SOCK_NONBLOCK);
    CHECK(c < 0 && errno == EINPROGRESS);
    struct pollfd p = { .fd = -c, .events = POLLOUT };
    CHECK_EQ(xway_poll(&p, 1, 500), 0);

    /* no IPv6 gateway: no route at all */
    s = xway_socket(AF_INET6, SOCK_STREAM, 0);
    inet_pton(AF_INET6, "fd99::1", &a6.sin6_addr);
    CHECK_EQ(xway_connect(s, (struct sockaddr *)&a6, sizeof(a6)), -1);
    CHECK_EQ(errno, ENETUNREACH);

    /* the stack still works: a connection to our own address */
    {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(7300) };
        char buf[4];
        inet_pton(AF_INET, "10.77.9.1", &a.sin_addr);
        l = xway_socket(AF_INET, SOCK_STREAM, 0);
        CHECK_EQ(xway_bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
        CHECK_EQ(xway_listen(l, 1), 0);
        c = connect4("10.77.9.1", 7300, 0);
        CHECK(c > 0);
        int a2 = xway_accept(l, NULL, NULL);
        CHECK(a2 >= 0);
        CHECK_EQ(xway_send(c, "ok!", 3, 0), 3);
        CHECK_EQ(xway_recv(a2, buf, 3, MSG_WAITALL), 3);
        CHECK(memcmp(buf, "ok!", 3) == 0);
    }
    xway_fini();
    printf("unreachable: PASS\n");
    return 0;
}

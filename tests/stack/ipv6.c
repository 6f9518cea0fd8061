/* IPv6 on the hub: fd00::/64 addresses, neighbour discovery, a verified exchange,
 * and the right names from getsockname/getpeername. */
#include "peer.h"
#include "testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <xway.h>

#define SRV "fd00::1"
#define CLI "fd00::2"
#define PORT 7006

static int server(int ctl, void *arg)
{
    int lfd = xwt_listen(SRV, PORT, 8);
    xwt_ctl_send(ctl, 'R');
    struct sockaddr_in6 peer;
    socklen_t pl = sizeof(peer);
    int fd = xway_accept(lfd, (void *)&peer, &pl);
    CHECK(fd >= 0);
    CHECK_EQ(peer.sin6_family, AF_INET6);
    char a[INET6_ADDRSTRLEN];
    CHECK(inet_ntop(AF_INET6, &peer.sin6_addr, a, sizeof(a)) != NULL);
    CHECK(strcmp(a, CLI) == 0);
    CHECK_EQ(xwt_echo(fd), 0);
    xway_close(lfd);
    return 0;
}

static void check_name(const struct sockaddr_in6 *s, const char *want, int port)
{
    char a[INET6_ADDRSTRLEN];
    CHECK_EQ(s->sin6_family, AF_INET6);
    CHECK(inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a)) != NULL);
    if (strcmp(a, want) != 0)
        fprintf(stderr, "address %s, expected %s\n", a, want);
    CHECK(strcmp(a, want) == 0);
    if (port)
        CHECK_EQ(ntohs(s->sin6_port), port);
}

int main(void)
{
    const char *hub = xwt_setup(60);
    struct xwt_peer p = xwt_spawn(hub, SRV "/64", server, NULL);
    xwt_start(hub, CLI "/64");
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'R');
    struct sockaddr_storage ss;
    socklen_t sl = xwt_addr(SRV, PORT, &ss);
    int fd = xway_socket(AF_INET6, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    CHECK(xway_connect(fd, (void *)&ss, sl) == 0);
    struct sockaddr_in6 name;
    socklen_t nl = sizeof(name);
    CHECK(xway_getpeername(fd, (void *)&name, &nl) == 0);
    check_name(&name, SRV, PORT);
    nl = sizeof(name);
    CHECK(xway_getsockname(fd, (void *)&name, &nl) == 0);
    check_name(&name, CLI, 0);
    xwt_exchange(fd, 8 << 20, 6);
    CHECK(xway_close(fd) == 0);
    xwt_join(&p);
    xway_fini();
    printf("ok\n");
    return 0;
}

/* The TAP link: inside a network namespace of its own, the kernel pings the stack
 * over a TAP device (ARP + ICMP echo, IPv6 ND + ICMPv6 echo), replies verified;
 * echoes of 3000 bytes come back whole, in frames that fit the device's MTU
 * (the netif's is larger: TCP segments are cut by the kernel, TSO), seen on a
 * packet socket. */
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <errno.h>
#include <netinet/icmp6.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "eth.h"
#include "link.h"
#include "testlib.h"

#include "lwip/init.h"
#include "lwip/ip_addr.h"
#include "lwip/timeouts.h"

#define TAP "xwtap0"
#define BIG 3000

/* See hub_frames.c: the lead's stack.c defines the real one. */
__attribute__((weak)) const ip6_addr_t *xw_hook_nd6_gw(struct netif *netif,
                                                       const ip6_addr_t *dest)
{
    return NULL;
}

static void sh(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
        exit(1);
    }
}

static uint16_t inet_csum(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        s += (uint32_t)p[len - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static void drive(struct xw_link *l, int fd_extra, int ms)
{
    struct pollfd pfd[2] = {{.fd = l->fd, .events = POLLIN}, {.fd = fd_extra, .events = POLLIN}};
    poll(pfd, 2, ms);
    while (l->ops->input(l) > 0)
        ;
    sys_check_timeouts();
    if (l->ops->flush)
        l->ops->flush(l);
}

/* Send one echo request (id, seq) with a payload; wait for the matching reply
 * while driving lwIP.  The reply's payload must be ours and, for IPv4, its
 * ICMP checksum (computed by lwIP) valid. */
static void ping_once(struct xw_link *l, int v6, uint16_t seq, size_t len)
{
    static uint8_t pkt[BIG + 8], buf[BIG + 256];
    size_t plen = len + 8;
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_NONBLOCK,
                    v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
    struct sockaddr_in to4 = {.sin_family = AF_INET};
    struct sockaddr_in6 to6 = {.sin6_family = AF_INET6};
    uint64_t t0 = xw_now_ns();

    CHECK(fd >= 0);
    memset(pkt, 0, plen);
    pkt[0] = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
    pkt[4] = 0x77; /* id */
    pkt[5] = 0x01;
    pkt[6] = (uint8_t)(seq >> 8);
    pkt[7] = (uint8_t)seq;
    xw_pattern(pkt + 8, len, seq, 5);
    if (!v6) {
        uint16_t c = inet_csum(pkt, plen);
        pkt[2] = (uint8_t)(c >> 8);
        pkt[3] = (uint8_t)c;
    }
    inet_pton(AF_INET, "10.77.0.2", &to4.sin_addr);
    inet_pton(AF_INET6, "fd77::2", &to6.sin6_addr);
    CHECK_EQ(sendto(fd, pkt, plen, 0,
                    v6 ? (struct sockaddr *)&to6 : (struct sockaddr *)&to4,
                    v6 ? sizeof(to6) : sizeof(to4)),
             (long)plen);
    for (;;) {
        ssize_t n;
        const uint8_t *icmp = buf;

        CHECK(xw_now_ns() - t0 < 5ull * 1000000000ull);
        drive(l, fd, 10);
        n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0) {
            CHECK(errno == EAGAIN);
            continue;
        }
        if (!v6) { /* IPv4 raw sockets include the IP header */
            size_t hl = (size_t)(buf[0] & 15) * 4;
            icmp = buf + hl;
            n -= (ssize_t)hl;
        }
        if (n != (ssize_t)plen || icmp[0] != (v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY))
            continue; /* our own request, ND, ... */
        CHECK(!memcmp(icmp + 4, pkt + 4, plen - 4));
        if (!v6)
            CHECK_EQ(inet_csum(icmp, (size_t)n), 0);
        break;
    }
    printf("tap_frames: %s echo %u of %zu bytes answered in %.2f ms\n", v6 ? "ICMPv6" : "ICMP",
           seq, plen, (double)(xw_now_ns() - t0) / 1e6);
    close(fd);
}

/* The frames the stack wrote since pk was opened (the packet socket sees both
 * directions: ours have its MAC as source): none longer than the MTU, and
 * fragments among them.  Returns the number of fragments. */
static int frames_fit(struct xw_link *l, int pk, int v6)
{
    uint8_t f[BIG + 256];
    ssize_t n;
    int frags = 0;

    while ((n = recv(pk, f, sizeof(f), MSG_DONTWAIT)) > 0) {
        if (memcmp(f + 6, l->netif.hwaddr, 6))
            continue;
        CHECK(n <= 1500 + 14);
        if (!v6 && f[12] == 0x08 && f[13] == 0x00)
            frags += (f[14 + 6] & 0x20) || f[14 + 7] || (f[14 + 6] & 0x1f);
        if (v6 && f[12] == 0x86 && f[13] == 0xdd)
            frags += f[14 + 6] == 44; /* a fragment header */
    }
    return frags;
}

int main(void)
{
    struct xw_link *l = NULL;
    ip4_addr_t a, mask, gw;
    ip6_addr_t a6;
    s8_t idx;

    /* Everything below happens in a network namespace of this process only. */
    CHECK_EQ(unshare(CLONE_NEWNET), 0);
    sh("ip link set lo up");
    sh("ip tuntap add dev " TAP " mode tap");
    sh("ip link set " TAP " up");
    sh("ip addr add 10.77.0.1/24 dev " TAP);
    sh("ip addr add fd77::1/64 dev " TAP " nodad");

    lwip_init();
    CHECK_EQ(xw_link_tap_open("nosuchtap9", 1500, &l), -ENODEV);
    CHECK_EQ(xw_link_tap_open(TAP, 1500, &l), 0);
    CHECK_EQ(l->netif.mtu, XW_LINK_MTU_MAX); /* with the offloads: TSO */
    IP4_ADDR(&a, 10, 77, 0, 2);
    IP4_ADDR(&mask, 255, 255, 255, 0);
    ip4_addr_set_zero(&gw);
    netif_set_addr(&l->netif, &a, &mask, &gw);
    CHECK(ip6addr_aton("fd77::2", &a6));
    CHECK_EQ(netif_add_ip6_address(&l->netif, &a6, &idx), ERR_OK);
    netif_ip6_addr_set_state(&l->netif, idx, IP6_ADDR_PREFERRED);

    for (uint16_t seq = 1; seq <= 3; seq++)
        ping_once(l, 0, seq, 64);
    for (uint16_t seq = 1; seq <= 3; seq++)
        ping_once(l, 1, seq, 64);
    for (int v6 = 0; v6 <= 1; v6++) {
        int pk = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
        struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                                   .sll_ifindex = (int)if_nametoindex(TAP) };

        CHECK(pk >= 0);
        CHECK_EQ(bind(pk, (struct sockaddr *)&sll, sizeof(sll)), 0);
        ping_once(l, v6, 9, BIG);
        CHECK(frames_fit(l, pk, v6) >= 3); /* 3 of the reply (and none too long) */
        close(pk);
    }

    l->ops->close(l);
    printf("tap_frames: ok\n");
    return 0;
}

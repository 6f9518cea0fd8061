/* TCP option areas that end in a kind byte (no room for its length): lwIP 2.1.3's
 * own option walker would read past them, past the frame's buffer for a SYN
 * reassembled from IP fragments.  Such segments are dropped before lwIP parses
 * them, whatever the state: a SYN to a listener (whole, in two fragments, in
 * three with data), an ACK and a data segment on an established connection, a
 * SYN-ACK to a connecting socket, a SYN in two IPv6 fragments.  The listener and the connections go on
 * working.  Run under ASan, where the link makes the bytes after a received
 * frame unreadable. */
#include "peer.h"
#include "remote_conns.h"
#include "testlib.h"

#include <errno.h>
#include <string.h>
#include <sys/time.h>
#include <xway.h>

#define SRV "10.77.14.1"
#define RAW "10.77.14.2"
#define PORT 7140
#define RAW_PORT 9000
#define SRV6 "fd00:14::1"
#define RAW6 "fd00:14::2"
#define PORT6 7141

static const char good[] = "GOOD data", hello[] = "hello from the raw host";

static void timeouts(int fd)
{
    struct timeval tv = { 10, 0 };
    CHECK(xway_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
    CHECK(xway_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0);
}

static void recv_exactly(int fd, const char *want)
{
    char got[64] = { 0 };
    size_t n = strlen(want);
    CHECK_EQ(xway_recv(fd, got, n, MSG_WAITALL), (long)n);
    CHECK(!memcmp(got, want, n));
}

static int server(int ctl, void *arg)
{
    struct sockaddr_storage ss;
    socklen_t sl = xwt_addr(RAW, RAW_PORT, &ss);

    xwt_ctl_send(ctl, 'R');
    CHECK_EQ(xwt_ctl_recv(ctl), 'S');
    int lfd = xwt_listen(SRV, PORT, 8), lfd6 = xwt_listen(SRV6, PORT6, 8);
    timeouts(lfd);
    xwt_ctl_send(ctl, 'L');
    int fd = xway_accept(lfd, NULL, NULL); /* the one good SYN */
    CHECK(fd >= 0);
    timeouts(fd);
    recv_exactly(fd, good); /* not what came with bad options */

    CHECK_EQ(xwt_ctl_recv(ctl), 'C');
    int c = xway_socket(AF_INET, SOCK_STREAM, 0);
    CHECK(c >= 0);
    timeouts(c);
    CHECK(xway_connect(c, (struct sockaddr *)&ss, sl) == 0);
    recv_exactly(c, hello); /* on the connection the good SYN-ACK opened */
    CHECK_EQ(xwt_ctl_recv(ctl), 'D');
    CHECK(xway_close(lfd6) == 0);
    CHECK(xway_close(c) == 0);
    CHECK(xway_close(fd) == 0);
    CHECK(xway_close(lfd) == 0);
    return 0;
}

/* No SYN-ACK for sport within 500 ms. */
static void no_answer(struct rawp *r, uint16_t sport, const char *what)
{
    struct rawseg s;
    uint64_t end = xw_now_ns() + 500000000u;

    while (xw_now_ns() < end)
        if (rawp_recv_tcp(r, &s, 100) && s.dport == sport) {
            fprintf(stderr, "%s: answered (flags 0x%x)\n", what, s.flags);
            CHECK(!"a malformed option area was accepted");
        }
    printf("%s: dropped\n", what);
}

int main(void)
{
    /* MSS, then NOPs and a last kind byte with no length after it. */
    static const uint8_t end_kind[12] = { 2, 4, 0x05, 0xb4, 1, 1, 1, 1, 1, 1, 1, 253 };
    static const uint8_t end_mss[12] = { 2, 4, 0x05, 0xb4, 1, 1, 1, 1, 1, 1, 1, 2 };
    static const uint8_t short4[4] = { 1, 1, 1, 253 };
    const char *hub = xwt_setup(60);
    char host[300];
    snprintf(host, sizeof(host), "XWAY_HOST=%s", xw_sim_host());
    const char *env[] = { "XWAY_BACKEND=sim", host, NULL };
    struct xwt_peer p = xwt_spawn_env(hub, SRV "/24," SRV6 "/64", env, server, NULL);
    struct rawp r;
    struct rconn c;
    struct rawseg s;
    uint8_t seg[128];
    size_t n;

    CHECK_EQ(xwt_ctl_recv(p.ctl), 'R');
    rawp_open(&r, hub, RAW, SRV);
    xwt_ctl_send(p.ctl, 'S');
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'L');

    /* SYNs to the listener. */
    n = rawp_tcp(&r, seg, 30001, PORT, 1, 0, RAW_SYN, end_kind, 12, NULL, 0);
    rawp_send_ip(&r, 6, seg, n, NULL);
    no_answer(&r, 30001, "SYN, options end in a kind byte");
    n = rawp_tcp(&r, seg, 30002, PORT, 1, 0, RAW_SYN, end_mss, 12, NULL, 0);
    rawp_send_ip(&r, 6, seg, n, (const size_t[]){ 24, 0 });
    no_answer(&r, 30002, "SYN in 2 fragments, options end in MSS's kind");
    n = rawp_tcp(&r, seg, 30003, PORT, 1, 0, RAW_SYN, end_kind, 12, "SYN data", 8);
    rawp_send_ip(&r, 6, seg, n, (const size_t[]){ 24, 32, 0 });
    no_answer(&r, 30003, "SYN in 3 fragments (options alone in the 2nd)");

    /* An established connection: a bare ACK and data with such options, then
     * good data at the same sequence number. */
    rconn_open(&r, &c, 1, 30004, PORT, false);
    n = rawp_tcp(&r, seg, c.sport, PORT, c.snd, c.rcv, RAW_ACK, short4, 4, NULL, 0);
    rawp_send_ip(&r, 6, seg, n, NULL);
    n = rawp_tcp(&r, seg, c.sport, PORT, c.snd, c.rcv, RAW_PSH | RAW_ACK, short4, 4, "BAD data", 9);
    rawp_send_ip(&r, 6, seg, n, NULL);
    rconn_send(&r, &c, PORT, good, strlen(good));
    CHECK_EQ(rconn_wait_acked(&r, &c, 1, PORT, 5000), 1);

    /* The stack connects to us: a SYN-ACK with such options (ISN 5000), then a
     * good one (ISN 90000) and data after it. */
    xwt_ctl_send(p.ctl, 'C');
    do
        CHECK(rawp_recv_tcp(&r, &s, 10000));
    while (s.dport != RAW_PORT || s.flags != RAW_SYN);
    n = rawp_tcp(&r, seg, RAW_PORT, s.sport, 5000, s.seq + 1, RAW_SYN | RAW_ACK, short4, 4,
                 NULL, 0);
    rawp_send_ip(&r, 6, seg, n, NULL);
    rawp_send_tcp(&r, RAW_PORT, s.sport, 90000, s.seq + 1, RAW_SYN | RAW_ACK, NULL, 0, NULL, 0);
    rawp_send_tcp(&r, RAW_PORT, s.sport, 90001, s.seq + 1, RAW_PSH | RAW_ACK, NULL, 0, hello,
                  strlen(hello));

    /* IPv6: the SYN in two fragments; then a good SYN is answered. */
    rawp_ip6(&r, RAW6, SRV6);
    n = rawp_tcp(&r, seg, 30005, PORT6, 1, 0, RAW_SYN, end_kind, 12, NULL, 0);
    rawp_send_ip(&r, 6, seg, n, (const size_t[]){ 24, 0 });
    no_answer(&r, 30005, "IPv6 SYN in 2 fragments, options end in a kind byte");
    rconn_open(&r, &c, 1, 30006, PORT6, false);
    xwt_ctl_send(p.ctl, 'D');

    xwt_join(&p);
    rawp_close(&r);
    printf("ok\n");
    return 0;
}

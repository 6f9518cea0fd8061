/* Connections of a raw remote host to a listening stack (remote_conns.h). */
#include "remote_conns.h"
#include "testlib.h"

#include <unistd.h>

#include "ctrlmsg.h"
#include "socket.h"
#include "stack.h"
#include "tcpopt.h"

void rconn_open(struct rawp *r, struct rconn *c, int n, uint16_t sport0, uint16_t dport, bool xway)
{
    uint8_t opt[20];
    int got = 0;

    rawp_xway_opt(opt);
    for (int i = 0; i < n; i++) {
        c[i] = (struct rconn){ .sport = (uint16_t)(sport0 + i), .snd = 1000u * (uint32_t)i };
        rawp_send_tcp(r, c[i].sport, dport, c[i].snd, 0, RAW_SYN, xway ? opt : NULL,
                      xway ? sizeof(opt) : 0, NULL, 0);
        c[i].snd++;
    }
    while (got < n) {
        struct rawseg s;
        struct xw_synopt o;
        CHECK(rawp_recv_tcp(r, &s, 10000));
        if (s.sport != dport || s.flags != (RAW_SYN | RAW_ACK))
            continue;
        for (int i = 0; i < n; i++) {
            if (c[i].sport != s.dport || c[i].rcv)
                continue;
            CHECK_EQ(s.ack, c[i].snd);
            c[i].rcv = s.seq + 1;
            c[i].opt = xw_tcpopt_parse(s.opt, s.optlen, NULL, 0, &o) == 1 &&
                       (o.flags & XW_OPT_F_REPLY);
            got++;
        }
    }
    for (int i = 0; i < n; i++)
        rawp_send_tcp(r, c[i].sport, dport, c[i].snd, c[i].rcv, RAW_ACK, NULL, 0, NULL, 0);
}

void rconn_send(struct rawp *r, struct rconn *c, uint16_t dport, const void *data, size_t len)
{
    rawp_send_tcp(r, c->sport, dport, c->snd, c->rcv, RAW_PSH | RAW_ACK, NULL, 0, data, len);
    c->snd += (uint32_t)len;
}

void rconn_reset(struct rawp *r, struct rconn *c, uint16_t dport)
{
    rawp_send_tcp(r, c->sport, dport, c->snd, 0, RAW_RST, NULL, 0, NULL, 0);
}

void rconn_nooffer(struct rawp *r, struct rconn *c, uint16_t dport)
{
    struct xw_ctrl m = { .type = XW_CTRL_NOOFFER, .reason = XW_REASON_RESOURCES };
    uint8_t buf[XW_CTRL_MAX];
    int n = xw_ctrl_write(buf, sizeof(buf), &m);

    CHECK(n > 0);
    rconn_send(r, c, dport, buf, (size_t)n);
}

static int nsock;

static void count(struct xw_sock *s)
{
    nsock++;
}

int rconn_sockets(void)
{
    xw_stack_lock();
    nsock = 0;
    xw_sock_foreach(count);
    xw_stack_unlock();
    return nsock;
}

/* Wait for each of c[0..n) to be acknowledged (ack true) or reset. */
static int wait_for(struct rawp *r, struct rconn *c, int n, uint16_t dport, int ms, bool ack)
{
    uint64_t end = xw_now_ns() + (uint64_t)ms * 1000000u;
    bool done[256] = { false };
    int acked = 0, resets = 0, settled = 0;

    CHECK(n <= 256);
    while (settled < n && xw_now_ns() < end) {
        struct rawseg s;
        if (!rawp_recv_tcp(r, &s, (int)((end - xw_now_ns()) / 1000000u) + 1))
            break;
        for (int i = 0; i < n; i++) {
            if (done[i] || s.sport != dport || s.dport != c[i].sport)
                continue;
            if (s.flags & RAW_RST) {
                done[i] = true;
                settled++;
                resets++;
            } else if (ack && (s.flags & RAW_ACK) && s.ack == c[i].snd) {
                done[i] = true;
                settled++;
                acked++;
            }
        }
    }
    return ack ? acked : resets;
}

int rconn_wait_acked(struct rawp *r, struct rconn *c, int n, uint16_t dport, int ms)
{
    return wait_for(r, c, n, dport, ms, true);
}

int rconn_wait_reset(struct rawp *r, struct rconn *c, int n, uint16_t dport, int ms)
{
    return wait_for(r, c, n, dport, ms, false);
}

void rconn_settled(int socks, int fds)
{
    uint64_t end = xw_now_ns() + 3000000000ull;

    while ((rconn_sockets() != socks || xw_count_fds() != fds) && xw_now_ns() < end)
        usleep(10000);
    printf("sockets %d (baseline %d), fds %d (baseline %d)\n", rconn_sockets(), socks,
           xw_count_fds(), fds);
    if (xw_count_fds() != fds)
        xw_print_fds();
    CHECK_EQ(rconn_sockets(), socks);
    CHECK_EQ(xw_count_fds(), fds);
}

/* Hostile handshake peers: the control stream written and read by hand. */
#include "proto_raw.h"
#include "testlib.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>
#include <xway.h>

void xwt_raw_send(int fd, const void *buf, size_t n, unsigned gap_ms)
{
    const uint8_t *p = buf;
    int one = 1;

    if (gap_ms)
        CHECK(xway_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0);
    for (size_t off = 0; off < n;) {
        ssize_t m = xway_send(fd, p + off, gap_ms ? 1 : n - off, MSG_NOSIGNAL);
        CHECK(m > 0);
        off += (size_t)m;
        if (gap_ms && off < n)
            usleep(gap_ms * 1000u);
    }
}

void xwt_raw_send_msg(int fd, const struct xw_ctrl *m, unsigned gap_ms)
{
    uint8_t b[XW_CTRL_MAX];
    int n = xw_ctrl_write(b, sizeof(b), m);

    CHECK(n > 0);
    xwt_raw_send(fd, b, (size_t)n, gap_ms);
}

static void recv_exact(int fd, uint8_t *b, size_t n)
{
    for (size_t off = 0; off < n;) {
        ssize_t m = xway_recv(fd, b + off, n - off, 0);
        if (m <= 0)
            fprintf(stderr, "raw peer: recv: %s\n", m ? strerror(errno) : "EOF");
        CHECK(m > 0);
        off += (size_t)m;
    }
}

void xwt_raw_recv_msg(int fd, struct xw_ctrl *m)
{
    uint8_t b[XW_CTRL_MAX];
    size_t len;

    recv_exact(fd, b, XW_CTRL_HDR);
    len = (size_t)b[4] << 8 | b[5];
    CHECK(len >= XW_CTRL_HDR && len <= XW_CTRL_MAX);
    recv_exact(fd, b + XW_CTRL_HDR, len - XW_CTRL_HDR);
    CHECK_EQ(xw_ctrl_parse(b, len, m), (long long)len);
}

size_t xwt_raw_header(uint8_t *buf, unsigned version, unsigned type, unsigned length,
                      size_t len)
{
    CHECK(len >= XW_CTRL_HDR && len <= 64);
    memset(buf, 0, len);
    buf[0] = XW_CTRL_MAGIC >> 8;
    buf[1] = XW_CTRL_MAGIC & 0xff;
    buf[2] = (uint8_t)version;
    buf[3] = (uint8_t)type;
    buf[4] = (uint8_t)(length >> 8);
    buf[5] = (uint8_t)length;
    return len;
}

double xwt_ms_since(uint64_t t0)
{
    return (double)(xw_now_ns() - t0) / 1e6;
}

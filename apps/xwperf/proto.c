/* Encoding of xwperf's hello and result (big-endian, fixed layout). */
#include "proto.h"
#include "verify.h"

#include <errno.h>

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (24 - 8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

void xwp_hello_encode(const struct xwp_hello *h, unsigned char out[XWP_HELLO_LEN])
{
    put32(out, XWP_MAGIC_HELLO);
    put32(out + 4, h->mode | h->flags << 16);
    put32(out + 8, h->msglen);
    put32(out + 12, h->seed);
    put32(out + 16, h->nconn);
    put32(out + 20, h->conn_idx);
    put64(out + 24, h->test_id);
    put64(out + 32, h->down_bytes);
}

int xwp_hello_decode(const unsigned char in[XWP_HELLO_LEN], struct xwp_hello *h)
{
    if (get32(in) != XWP_MAGIC_HELLO)
        return -EPROTO;
    h->mode = get32(in + 4) & 0xffff;
    h->flags = get32(in + 4) >> 16;
    h->msglen = get32(in + 8);
    h->seed = get32(in + 12);
    h->nconn = get32(in + 16);
    h->conn_idx = get32(in + 20);
    h->test_id = get64(in + 24);
    h->down_bytes = get64(in + 32);
    if (h->mode < XWP_BULK || h->mode > XWP_CONNECT || h->msglen == 0 ||
        h->msglen > XWP_MAX_MSG || h->nconn == 0 || h->conn_idx >= h->nconn ||
        (h->flags & ~(uint32_t)XWP_FLAGS_KNOWN) || ((h->flags & XWP_F_ZC) && h->mode != XWP_BULK))
        return -EPROTO;
    return 0;
}

void xwp_result_encode(const struct xwp_result *r, unsigned char out[XWP_RESULT_LEN])
{
    put32(out, XWP_MAGIC_RESULT);
    put32(out + 4, r->status | r->flags << 16);
    put64(out + 8, r->rx_bytes);
    put64(out + 16, r->rx_csum);
    put64(out + 24, r->tx_bytes);
    put64(out + 32, r->tx_csum);
    put64(out + 40, (uint64_t)r->bad_off);
}

int xwp_result_decode(const unsigned char in[XWP_RESULT_LEN], struct xwp_result *r)
{
    if (get32(in) != XWP_MAGIC_RESULT)
        return -EPROTO;
    r->status = get32(in + 4) & 0xffff;
    r->flags = get32(in + 4) >> 16;
    r->rx_bytes = get64(in + 8);
    r->rx_csum = get64(in + 16);
    r->tx_bytes = get64(in + 24);
    r->tx_csum = get64(in + 32);
    r->bad_off = (int64_t)get64(in + 40);
    return 0;
}

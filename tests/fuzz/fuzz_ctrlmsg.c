/* libFuzzer target: the control-message parser, fed as the handshake would
 * (a byte stream, one message at a time).  Checks: results in the documented
 * set, every prefix gives 0 or the same answer, parse(write(m)) == m. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctrlmsg.h"

static int same(const struct xw_ctrl *a, const struct xw_ctrl *b)
{
    return a->type == b->type && a->reason == b->reason && a->domid == b->domid &&
           a->intf_ref == b->intf_ref && a->port == b->port &&
           a->ring_shift == b->ring_shift && a->flags == b->flags && a->nonce == b->nonce &&
           a->key == b->key && a->rx_idx == b->rx_idx && a->host == b->host;
}

/* Parse from an exact-size heap copy of buf[0..len). */
static int parse_exact(const uint8_t *buf, size_t len, struct xw_ctrl *out)
{
    uint8_t *c = malloc(len ? len : 1);
    if (!c)
        abort();
    memcpy(c, buf, len);
    int r = xw_ctrl_parse(len ? c : NULL, len, out);
    free(c);
    return r;
}

static void check_one(const uint8_t *buf, size_t len, int r, const struct xw_ctrl *m)
{
    if (r != 0 && r != -EBADMSG && r != -EPROTONOSUPPORT && r != -ENOMSG && r != 12 && r != 16 &&
        r != 24 && r != 32)
        abort();
    size_t upto = len < XW_CTRL_MAX ? len : XW_CTRL_MAX;
    for (size_t k = 0; k < upto; k++) {
        struct xw_ctrl p;
        int rk = parse_exact(buf, k, &p);
        if (rk != 0 && rk != r)
            abort();
        if (r > 0 && (k < (size_t)r) != (rk == 0))
            abort();
    }
    if (r <= 0)
        return;
    uint8_t e[XW_CTRL_MAX];
    struct xw_ctrl again;
    if (xw_ctrl_write(e, sizeof(e), m) != r || xw_ctrl_write(e, (size_t)r - 1, m) != -ENOSPC)
        abort();
    if (memcmp(e, buf, 6) != 0)
        abort();
    if (parse_exact(e, (size_t)r, &again) != r || !same(m, &again))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off <= size) {
        struct xw_ctrl m;
        int r = parse_exact(data + off, size - off, &m);
        check_one(data + off, size - off, r, &m);
        if (r <= 0)
            break;
        off += (size_t)r;
    }
    return 0;
}

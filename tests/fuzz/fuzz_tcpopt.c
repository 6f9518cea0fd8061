/* libFuzzer target: the SYN option parser.  Input: [split byte][option area].
 * The area is cut at a data-chosen point into two exact-size heap pieces (as
 * lwIP's opt1/opt2), so ASan flags any read past either piece; the result must
 * not depend on the split, and a found option must re-encode to itself. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcpopt.h"

static int parse_split(const uint8_t *a, size_t n, size_t split, struct xw_synopt *o)
{
    /* Exact sizes: ASan reports even a read of a malloc(0) block. */
    uint8_t *p1 = malloc(split), *p2 = n - split ? malloc(n - split) : NULL;
    if ((!p1 && split) || (n - split && !p2))
        abort();
    memcpy(p1, a, split);
    if (p2)
        memcpy(p2, a + split, n - split);
    int r = xw_tcpopt_parse(p1, split, p2, n - split, o);
    free(p1);
    free(p2);
    return r;
}

static int same(const struct xw_synopt *a, const struct xw_synopt *b)
{
    return a->version == b->version && a->flags == b->flags && a->domid == b->domid &&
           a->host == b->host && a->key == b->key;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *area = data + 1;
    size_t n = size - 1;
    size_t split = data[0] % (n + 1);

    struct xw_synopt whole = { 0 }, cut = { 0 };
    int r = parse_split(area, n, n, &whole);
    int rc = parse_split(area, n, split, &cut);
    if (r != 1 && r != 0 && r != -EBADMSG && r != -EPROTONOSUPPORT)
        abort();
    if (rc != r || (r == 1 && !same(&whole, &cut)) ||
        (r == -EPROTONOSUPPORT && whole.version != cut.version))
        abort();
    if (r == 1) {
        if (whole.version != XW_OPT_VERSION)
            abort();
        uint8_t opt[XW_OPT_LEN_PARKED];
        struct xw_synopt again;
        size_t len = xw_tcpopt_write(opt, &whole);
        if (xw_tcpopt_parse(opt, len, NULL, 0, &again) != 1 || !same(&whole, &again))
            abort();
    }
    if (r == -EPROTONOSUPPORT && whole.version == XW_OPT_VERSION)
        abort();
    return 0;
}

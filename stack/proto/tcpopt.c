/* The xway SYN option: encode, find and validate (no I/O). */
#include "tcpopt.h"

#include <errno.h>
#include <stdbool.h>

enum { OPT_EOL = 0, OPT_NOP = 1 };

/* The option area as one byte sequence over its (up to) two pieces. */
struct area {
    const uint8_t *p1, *p2;
    size_t n1, len;
};

static uint8_t at(const struct area *a, size_t i)
{
    return i < a->n1 ? a->p1[i] : a->p2[i - a->n1];
}

static uint64_t get_be(const struct area *a, size_t i, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned k = 0; k < bytes; k++)
        v = (v << 8) | at(a, i + k);
    return v;
}

static void put_be(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned k = bytes; k-- > 0; v >>= 8)
        p[k] = (uint8_t)v;
}

size_t xw_tcpopt_len(uint8_t flags)
{
    return flags & XW_OPT_F_PARKED ? XW_OPT_LEN_PARKED : XW_OPT_LEN;
}

size_t xw_tcpopt_write(uint8_t *out, const struct xw_synopt *o)
{
    size_t len = xw_tcpopt_len(o->flags);

    out[0] = XW_OPT_KIND;
    out[1] = (uint8_t)len;
    put_be(out + 2, XW_OPT_EXID, 2);
    out[4] = o->version;
    out[5] = o->flags;
    out[6] = 0;
    out[7] = 0;
    put_be(out + 8, o->domid, 4);
    put_be(out + 12, o->host, 8);
    if (len == XW_OPT_LEN_PARKED)
        put_be(out + 20, o->key, 8);
    return len;
}

/* Option at offset i (kind 253, len bytes, bounds already checked) is ours:
 * 1 filled, -EBADMSG wrong length, -EPROTONOSUPPORT wrong version. */
static int read_ours(const struct area *a, size_t i, size_t len, struct xw_synopt *out)
{
    if (len != XW_OPT_LEN && len != XW_OPT_LEN_PARKED)
        return -EBADMSG;
    out->version = at(a, i + 4);
    if (out->version != XW_OPT_VERSION)
        return -EPROTONOSUPPORT;
    out->flags = at(a, i + 5);
    if (len != xw_tcpopt_len(out->flags))
        return -EBADMSG;
    out->domid = (uint32_t)get_be(a, i + 8, 4);
    out->host = get_be(a, i + 12, 8);
    out->key = len == XW_OPT_LEN_PARKED ? get_be(a, i + 20, 8) : 0;
    return 1;
}

/* The option at offset i of a: 1 (*kind, *len set; NOP has length 1), 0 at
 * the end of the list (EOL or the area's end), -EBADMSG when its length byte
 * is missing, below 2 or reaches past the area. */
static int next_option(const struct area *a, size_t i, uint8_t *kind, size_t *len)
{
    if (i >= a->len || (*kind = at(a, i)) == OPT_EOL)
        return 0;
    if (*kind == OPT_NOP) {
        *len = 1;
        return 1;
    }
    if (a->len - i < 2)
        return -EBADMSG;
    *len = at(a, i + 1);
    return *len < 2 || *len > a->len - i ? -EBADMSG : 1;
}

bool xw_tcpopt_valid(const uint8_t *p1, size_t n1, const uint8_t *p2, size_t n2)
{
    struct area a = { p1, p2, n1, n1 + n2 };
    uint8_t kind;
    size_t i = 0, len;
    int rc;

    if ((!p1 && n1) || (!p2 && n2) || n2 > SIZE_MAX - n1)
        return false;
    while ((rc = next_option(&a, i, &kind, &len)) == 1)
        i += len;
    return rc == 0;
}

int xw_tcpopt_parse(const uint8_t *p1, size_t n1, const uint8_t *p2, size_t n2,
                    struct xw_synopt *out)
{
    if ((!p1 && n1) || (!p2 && n2) || n2 > SIZE_MAX - n1 || !out)
        return -EINVAL;
    struct area a = { p1, p2, n1, n1 + n2 };
    struct xw_synopt found = { 0 };
    int ret = 0, rc;
    uint8_t kind;
    size_t i = 0, len;

    /* Walk the whole list even after ours: a malformed list is rejected as a whole. */
    while ((rc = next_option(&a, i, &kind, &len)) == 1) {
        if (ret == 0 && kind == XW_OPT_KIND && len >= 4 && get_be(&a, i + 2, 2) == XW_OPT_EXID) {
            ret = read_ours(&a, i, len, &found);
            if (ret == -EBADMSG)
                return ret;
        }
        i += len;
    }
    if (rc < 0)
        return rc;
    if (ret == 1)
        *out = found;
    else if (ret == -EPROTONOSUPPORT)
        out->version = found.version;
    return ret;
}

void xw_tcpopt_mark_write(uint8_t out[XW_MARK_LEN], bool set, uint32_t seq)
{
    out[0] = XW_OPT_KIND;
    out[1] = XW_MARK_LEN;
    put_be(out + 2, XW_MARK_EXID, 2);
    out[4] = set ? XW_MARK_F_SET : 0;
    out[5] = out[6] = out[7] = 0;
    put_be(out + 8, set ? seq : 0, 4);
}

int xw_tcpopt_mark_parse(const uint8_t *p1, size_t n1, const uint8_t *p2, size_t n2,
                         uint32_t *seq)
{
    if ((!p1 && n1) || (!p2 && n2) || n2 > SIZE_MAX - n1 || !seq)
        return -EINVAL;
    struct area a = { p1, p2, n1, n1 + n2 };
    uint8_t kind;
    size_t i = 0, len;

    while (next_option(&a, i, &kind, &len) == 1) {
        if (kind == XW_OPT_KIND && len >= 4 && get_be(&a, i + 2, 2) == XW_MARK_EXID) {
            if (len != XW_MARK_LEN)
                return -EBADMSG;
            if (!(at(&a, i + 4) & XW_MARK_F_SET))
                return 0;
            *seq = (uint32_t)get_be(&a, i + 8, 4);
            return 1;
        }
        i += len;
    }
    return 0;
}

uint64_t xw_host_hash(const char *token)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    if (!token || !*token)
        return 0;
    for (const unsigned char *c = (const unsigned char *)token; *c; c++)
        h = (h ^ *c) * 0x100000001b3ULL;
    return h ? h : 1;
}

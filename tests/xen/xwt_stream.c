/* Pattern and checksum of the Xen transfer tests (see xwt_stream.h). */
#include "xwt_stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

int xwt_pattern_init(struct xwt_pattern *p, uint32_t seed)
{
    p->buf = malloc(XWT_PERIOD + XWT_MAX_CHUNK);
    if (!p->buf)
        return -ENOMEM;
    xw_pattern(p->buf, XWT_PERIOD, 0, seed);
    memcpy(p->buf + XWT_PERIOD, p->buf, XWT_MAX_CHUNK);
    return 0;
}

void xwt_pattern_free(struct xwt_pattern *p)
{
    free(p->buf);
    p->buf = NULL;
}

void xwt_sum_init(struct xwt_sum *s)
{
    *s = (struct xwt_sum){ .h = XW_FNV_INIT };
}

/* FNV-1a over 64-bit little-endian words: 8x fewer steps than per byte. */
static inline void mix(struct xwt_sum *s, uint64_t w)
{
    s->h = (s->h ^ w) * 0x100000001b3ULL;
}

void xwt_sum_add(struct xwt_sum *s, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint64_t w;

    while (len && s->ncarry) {
        s->carry |= (uint64_t)*p++ << (8 * s->ncarry);
        len--;
        if (++s->ncarry == 8) {
            mix(s, s->carry);
            s->carry = 0;
            s->ncarry = 0;
        }
    }
    for (; len >= 8; p += 8, len -= 8) {
        memcpy(&w, p, 8);
        mix(s, w);
    }
    for (; len; len--)
        s->carry |= (uint64_t)*p++ << (8 * s->ncarry++);
}

uint64_t xwt_sum_final(const struct xwt_sum *s)
{
    struct xwt_sum t = *s;

    mix(&t, t.carry ^ ((uint64_t)t.ncarry << 56));
    return t.h;
}

/* The byte streams of the Xen transfer tests: a periodic pattern that the
 * sender sends straight from memory and the receiver compares with memcmp
 * (per-byte generators are too slow under QEMU TCG for 256 MiB), and a
 * streaming 64-bit checksum both sides compute over what they sent/received.
 * The period is deliberately not a power of two, so a chunk delivered at the
 * wrong place of the ring does not compare equal. */
#ifndef XWT_STREAM_H
#define XWT_STREAM_H

#include <stddef.h>
#include <stdint.h>

#define XWT_PERIOD ((1u << 20) + 4093u)
#define XWT_MAX_CHUNK (256u * 1024u)

/* A pattern of XWT_PERIOD bytes, repeated so that any chunk of up to
 * XWT_MAX_CHUNK bytes starting at (offset % XWT_PERIOD) is contiguous. */
struct xwt_pattern {
    uint8_t *buf;
};

int xwt_pattern_init(struct xwt_pattern *p, uint32_t seed);
void xwt_pattern_free(struct xwt_pattern *p);
/* The pattern bytes at stream offset off (len <= XWT_MAX_CHUNK). */
static inline const uint8_t *xwt_pattern_at(const struct xwt_pattern *p, uint64_t off)
{
    return p->buf + off % XWT_PERIOD;
}

/* Streaming checksum: the result does not depend on how the stream was cut. */
struct xwt_sum {
    uint64_t h;
    uint64_t carry; /* bytes of an unfinished 8-byte word */
    unsigned ncarry;
};

void xwt_sum_init(struct xwt_sum *s);
void xwt_sum_add(struct xwt_sum *s, const void *buf, size_t len);
uint64_t xwt_sum_final(const struct xwt_sum *s);

#endif

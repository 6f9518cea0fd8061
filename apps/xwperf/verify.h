/* Stream verification: a deterministic byte pattern and a position-dependent
 * checksum, both cheap enough not to hide the transport's cost. */
#ifndef XWP_VERIFY_H
#define XWP_VERIFY_H

#include <stddef.h>
#include <stdint.h>

/* The pattern repeats every XWP_PERIOD bytes (a prime, so it never lines up with
 * message sizes); a stream starts at a per-connection, per-direction position. */
#define XWP_PERIOD 1048573u
#define XWP_MAX_MSG (4u << 20)

/* Build the shared table (idempotent, thread-safe).  0 or -ENOMEM. */
int xwp_pattern_init(void);
/* Pattern bytes of position pos onwards; at least XWP_MAX_MSG contiguous bytes. */
const unsigned char *xwp_pattern_at(uint64_t pos);
/* Starting position for stream (seed, conn, dir). */
uint64_t xwp_pattern_start(uint32_t seed, uint32_t conn, uint32_t dir);
/* Offset of the first byte of buf that differs from the pattern at pos, or -1. */
long xwp_pattern_check(const void *buf, size_t len, uint64_t pos);

/* Adler-style checksum over the stream's 64-bit words (native order, aligned to
 * the stream offset, so chunking does not change it). */
struct xwp_csum {
    uint64_t a, b, len;
    unsigned char part[8];
    unsigned npart;
};

void xwp_csum_init(struct xwp_csum *c);
void xwp_csum_update(struct xwp_csum *c, const void *buf, size_t len);
uint64_t xwp_csum_final(const struct xwp_csum *c);

#endif

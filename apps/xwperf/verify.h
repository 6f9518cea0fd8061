/* Stream verification: a deterministic byte pattern that the receiver compares
 * every byte against, and an O(1) stream digest for the result message; cheap
 * enough not to hide the transport's cost. */
#ifndef XWP_VERIFY_H
#define XWP_VERIFY_H

#include <stddef.h>
#include <stdint.h>

/* The pattern repeats every XWP_PERIOD bytes (a prime, so it never lines up with
 * message, ring or buffer sizes: data lost, repeated or reordered by any such
 * amount is caught); a stream starts at a per-connection, per-direction
 * position.  Just under 64 KiB, so that the bytes a receiver compares against
 * stay in its L2 cache: checking every byte then costs about as much as one
 * more copy, and a fast transport is not measured as slow as its checker. */
#define XWP_PERIOD 65521u
#define XWP_MAX_MSG (4u << 20)

/* Build the shared table (idempotent, thread-safe).  0 or -ENOMEM. */
int xwp_pattern_init(void);
/* Pattern bytes of position pos onwards; at least XWP_MAX_MSG contiguous bytes. */
const unsigned char *xwp_pattern_at(uint64_t pos);
/* Starting position for stream (seed, conn, dir). */
uint64_t xwp_pattern_start(uint32_t seed, uint32_t conn, uint32_t dir);
/* Offset of the first byte of buf that differs from the pattern at pos, or -1. */
long xwp_pattern_check(const void *buf, size_t len, uint64_t pos);

/* The digest a side reports for a stream: a function of where the stream starts
 * in the pattern and how long it is, computed without touching the data.  The
 * receiver vouches for every byte with xwp_pattern_check (each byte compared
 * with the pattern), so a checksum over the data would only repeat that
 * comparison at the cost of a second pass over every byte; the digest carries
 * "len bytes from start, all matched" across the wire so that each side can
 * check the other's claim (a receiver that saw a bad byte reports
 * xwp_stream_digest_bad). */
uint64_t xwp_stream_digest(uint64_t start, uint64_t len);
uint64_t xwp_stream_digest_bad(uint64_t start, uint64_t len);

#endif

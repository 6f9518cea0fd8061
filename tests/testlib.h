/* Small helpers shared by the C tests: checks that abort with a message, a
 * checksum for transfer verification, a deterministic byte pattern. */
#ifndef XW_TESTLIB_H
#define XW_TESTLIB_H

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

#define CHECK_EQ(a, b)                                                              \
    do {                                                                            \
        long long a_ = (long long)(a), b_ = (long long)(b);                         \
        if (a_ != b_) {                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld vs %lld)\n",       \
                    __FILE__, __LINE__, #a, #b, a_, b_);                            \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

/* FNV-1a 64, incremental: h = xw_fnv(h, buf, len), start with XW_FNV_INIT. */
#define XW_FNV_INIT 0xcbf29ce484222325ULL
uint64_t xw_fnv(uint64_t h, const void *buf, size_t len);

/* Fill buf with the pattern byte at stream offset off..off+len (seeded). */
void xw_pattern(void *buf, size_t len, uint64_t off, uint32_t seed);
/* Index of the first byte not matching the pattern, or -1 when all match. */
long xw_pattern_check(const void *buf, size_t len, uint64_t off, uint32_t seed);

/* Monotonic time in nanoseconds. */
uint64_t xw_now_ns(void);

#endif

/* Helpers shared by the C tests. */
#include "testlib.h"

#include <time.h>

uint64_t xw_fnv(uint64_t h, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static unsigned char pattern_byte(uint64_t off, uint32_t seed)
{
    uint64_t x = (off >> 3) * 0x9e3779b97f4a7c15ULL + seed;
    x ^= x >> 29;
    return (unsigned char)(x >> (8 * (off & 7)));
}

void xw_pattern(void *buf, size_t len, uint64_t off, uint32_t seed)
{
    unsigned char *p = buf;
    for (size_t i = 0; i < len; i++)
        p[i] = pattern_byte(off + i, seed);
}

long xw_pattern_check(const void *buf, size_t len, uint64_t off, uint32_t seed)
{
    const unsigned char *p = buf;
    for (size_t i = 0; i < len; i++)
        if (p[i] != pattern_byte(off + i, seed))
            return (long)i;
    return -1;
}

uint64_t xw_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

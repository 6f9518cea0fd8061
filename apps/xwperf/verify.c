/* Pattern table and stream digest. */
#include "verify.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *table; /* XWP_PERIOD + XWP_MAX_MSG bytes, written once */
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void table_build(void)
{
    size_t n = (size_t)XWP_PERIOD + XWP_MAX_MSG;
    unsigned char *t = malloc(n);
    if (!t)
        return;
    for (size_t i = 0; i < XWP_PERIOD; i += 8) {
        uint64_t w = mix64(i + 0x9e3779b97f4a7c15ULL);
        memcpy(t + i, &w, i + 8 <= XWP_PERIOD ? 8 : XWP_PERIOD - i);
    }
    for (size_t i = XWP_PERIOD; i < n; i++) /* the tail repeats the head */
        t[i] = t[i - XWP_PERIOD];
    table = t;
}

int xwp_pattern_init(void)
{
    pthread_once(&table_once, table_build);
    return table ? 0 : -ENOMEM;
}

const unsigned char *xwp_pattern_at(uint64_t pos)
{
    return table + pos % XWP_PERIOD;
}

uint64_t xwp_pattern_start(uint32_t seed, uint32_t conn, uint32_t dir)
{
    return mix64(((uint64_t)seed << 32) ^ ((uint64_t)conn << 1) ^ dir) % XWP_PERIOD;
}

/* Compared a period at a time against the table's head, so that the expected
 * bytes stay in the L1/L2 cache however long the stream: the receiver's memory
 * traffic is its own buffer, not a second stream of pattern bytes. */
long xwp_pattern_check(const void *buf, size_t len, uint64_t pos)
{
    const unsigned char *p = buf;
    size_t done = 0;
    while (done < len) {
        size_t off = (size_t)((pos + done) % XWP_PERIOD);
        size_t n = XWP_PERIOD - off;
        if (n > len - done)
            n = len - done;
        const unsigned char *want = table + off;
        if (memcmp(p + done, want, n) != 0) {
            for (size_t i = 0; i < n; i++)
                if (p[done + i] != want[i])
                    return (long)(done + i);
        }
        done += n;
    }
    return -1;
}

uint64_t xwp_stream_digest(uint64_t start, uint64_t len)
{
    return mix64(mix64(start ^ 0x5857504450415454ULL) ^ len);
}

uint64_t xwp_stream_digest_bad(uint64_t start, uint64_t len)
{
    return ~xwp_stream_digest(start, len);
}

/* The lwIP port functions for NO_SYS=1: a millisecond clock and random numbers. */
#include <stdint.h>
#include <time.h>
#include <sys/random.h>

#include "lwip/sys.h"

u32_t sys_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (u32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

/* Initial sequence numbers and ports come from here: unpredictable, not a PRNG. */
uint32_t xw_lwip_rand(void)
{
    uint32_t v = 0;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
        v = (uint32_t)(time(NULL) ^ (uintptr_t)&v);
    return v;
}

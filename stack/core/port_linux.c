/* The Linux port of the core (include/xway_port.h), and lwIP's clock. */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
#include <sys/random.h>

#include "lwip/sys.h"
#include "xway_port.h"

uint32_t xway_port_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

uint32_t xway_port_random32(void)
{
    uint32_t v = 0;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
        v = (uint32_t)(time(NULL) ^ (uintptr_t)&v);
    return v;
}

void *xway_port_malloc(size_t size) { return malloc(size); }
void *xway_port_calloc(size_t count, size_t size) { return calloc(count, size); }
void xway_port_free(void *p) { free(p); }

_Noreturn void xway_port_fatal(const char *what, const char *file, int line)
{
    fprintf(stderr, "xway: lwIP assertion \"%s\" failed at %s:%d\n", what, file, line);
    abort();
}

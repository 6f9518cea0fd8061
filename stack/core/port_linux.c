/* The Linux port of the core (include/xway_port.h): its clock, randomness,
 * memory and fatal errors (its diagnostics: log.c; its lock: port_lock.c).
 * The reference port (apps/refport) uses these too. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "xway_port.h"

uint64_t xway_port_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int xway_port_random(void *buf, size_t len)
{
    ssize_t n = getrandom(buf, len, 0);
    return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

void *xway_port_malloc(size_t size) { return malloc(size); }
void *xway_port_calloc(size_t count, size_t size) { return calloc(count, size); }
void xway_port_free(void *p) { free(p); }

const char *xway_port_strerror(int err) { return strerror(err); }

_Noreturn void xway_port_fatal(const char *what, const char *file, int line)
{
    fprintf(stderr, "xway: assertion \"%s\" failed at %s:%d\n", what, file, line);
    abort();
}

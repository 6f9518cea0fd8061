/* The reference port's implementation of include/xway_port.h: a Linux
 * process with one thread (no locks, no pthreads), its diagnostics on stderr
 * ("xway-refport[pid] level: ..."), filtered by XWAY_LOG. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "xway_port.h"

int xway_port_log_level = 1;

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

/* One thread: nothing to exclude. */
void xway_port_lock(void) {}
void xway_port_unlock(void) {}

static void vlog(int level, const char *fmt, va_list ap)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };
    char line[512];
    int n = snprintf(line, sizeof(line), "xway-refport[%d] %s: ", (int)getpid(), names[level & 3]);

    n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    (void)!write(STDERR_FILENO, line, (size_t)n);
}

void xway_port_log(int level, const char *fmt, ...)
{
    va_list ap;

    if (level > xway_port_log_level)
        return;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

/* A peer's lines, written as the others: this port does not rate-limit them
 * (xway_port.h lets a port do so; one facing hostile peers should). */
void xway_port_log_peer(int level, const char *fmt, ...)
{
    va_list ap;

    if (level > xway_port_log_level)
        return;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

const char *xway_port_strerror(int err) { return strerror(err); }

_Noreturn void xway_port_fatal(const char *what, const char *file, int line)
{
    fprintf(stderr, "xway-refport: assertion \"%s\" failed at %s:%d\n", what, file, line);
    abort();
}

/* Diagnostics, the Linux port's (xway_port_log: log.h names it xw_log): one
 * line per call, written with a single write(2) so that lines of concurrent
 * threads and processes do not interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int xw_log_level = XWAY_LOG_WARN;

static void vlog(int level, unsigned long suppressed, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char line[512];
    int n;

    n = snprintf(line, sizeof(line), "xway[%d] %s: ", (int)getpid(), names[level & 3]);
    if (suppressed)
        n += snprintf(line + n, sizeof(line) - (size_t)n, "(%lu such lines suppressed) ",
                      suppressed);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    (void)!write(STDERR_FILENO, line, (size_t)n);
}

void xw_log(int level, const char *fmt, ...)
{
    va_list ap;

    if (level > xw_log_level)
        return;
    va_start(ap, fmt);
    vlog(level, 0, fmt, ap);
    va_end(ap);
}

void xw_log_peer(int level, const char *fmt, ...)
{
    static _Atomic long window;           /* the 10 s window of the count */
    static _Atomic unsigned long used, suppressed;
    struct timespec now;
    va_list ap;
    long w;

    if (level > xw_log_level)
        return;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    w = (long)(now.tv_sec / 10);
    if (atomic_exchange(&window, w) != w)
        atomic_store(&used, 0);
    if (atomic_fetch_add(&used, 1) >= XW_LOG_BURST) {
        atomic_fetch_add(&suppressed, 1);
        return;
    }
    va_start(ap, fmt);
    vlog(level, atomic_exchange(&suppressed, 0), fmt, ap);
    va_end(ap);
}

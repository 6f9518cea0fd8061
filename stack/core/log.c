/* Diagnostics: one line per call, written with a single write(2) so that lines of
 * concurrent threads and processes do not interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

int xw_log_level = XWAY_LOG_WARN;

void xw_log(int level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char line[512];
    va_list ap;
    int n;

    if (level > xw_log_level)
        return;
    n = snprintf(line, sizeof(line), "xway[%d] %s: ", (int)getpid(), names[level & 3]);
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    (void)!write(STDERR_FILENO, line, (size_t)n);
}

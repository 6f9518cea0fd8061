/* Result lines of the guest test programs (see xwt_report.h). */
#include "xwt_report.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static const char *prog_name = "?", *role_name = "?";
static int failures, passes;
static double t0;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

void xwt_begin(const char *prog, const char *role)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* one write per line: no interleaving */
    prog_name = prog;
    role_name = role;
    t0 = now();
    xwt_log("start");
}

static void vline(const char *tag, const char *fmt, va_list ap)
{
    char msg[512];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    printf("XWT: %s: [%s %s %7.2f] %s\n", tag, prog_name, role_name, now() - t0, msg);
}

bool xwt_check(bool ok, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vline(ok ? "PASS" : "FAIL", fmt, ap);
    va_end(ap);
    if (ok)
        passes++;
    else
        failures++;
    return ok;
}

void xwt_log(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vline("info", fmt, ap);
    va_end(ap);
}

int xwt_end(void)
{
    if (failures == 0 && passes > 0) {
        printf("XWT: ALL PASS prog=%s role=%s checks=%d\n", prog_name, role_name, passes);
        return 0;
    }
    printf("XWT: DONE prog=%s role=%s passes=%d failures=%d\n", prog_name, role_name, passes,
           failures);
    return 1;
}

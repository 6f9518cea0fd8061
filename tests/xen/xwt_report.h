/* Result lines of the guest test programs: the serial log is the only output
 * channel out of the emulated machine, and run-qemu.sh passes a test only on
 * "XWT: ALL PASS prog=P role=R" lines and no "XWT: FAIL" line. */
#ifndef XWT_REPORT_H
#define XWT_REPORT_H

#include <stdbool.h>

/* Name this program and role in every line; start the elapsed-time clock. */
void xwt_begin(const char *prog, const char *role);
/* One PASS or FAIL line; returns ok so callers can bail out on failure. */
bool xwt_check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An informational line with the elapsed time. */
void xwt_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The final line (ALL PASS only when no check failed); returns the exit code. */
int xwt_end(void);

#endif

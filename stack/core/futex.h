/* Futex words: a thread sleeps while a 32-bit word keeps the value it saw, and
 * whoever changes the word wakes it.  Process-private. */
#ifndef XW_FUTEX_H
#define XW_FUTEX_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static inline void xw_futex_wake(_Atomic unsigned *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Sleep while *word == seen, at most timeout_ms (-1: forever).  0 (woken, the
 * word differs, or a signal) or -ETIMEDOUT. */
static inline int xw_futex_wait(_Atomic unsigned *word, unsigned seen, int timeout_ms)
{
    struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };

    if (syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, seen, timeout_ms < 0 ? NULL : &ts,
                NULL, 0) < 0)
        return errno == ETIMEDOUT ? -ETIMEDOUT : 0;
    return 0;
}

/* Sleep while *word == seen, until deadline_us (CLOCK_MONOTONIC, µs; 0: no
 * deadline).  0 (woken, the word differs, or a signal) or -ETIMEDOUT. */
static inline int xw_futex_wait_until(_Atomic unsigned *word, unsigned seen, uint64_t deadline_us)
{
    struct timespec ts = { .tv_sec = (time_t)(deadline_us / 1000000u),
                           .tv_nsec = (long)(deadline_us % 1000000u) * 1000L };

    if (syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, seen, deadline_us ? &ts : NULL,
                NULL, FUTEX_BITSET_MATCH_ANY) < 0)
        return errno == ETIMEDOUT ? -ETIMEDOUT : 0;
    return 0;
}

#endif

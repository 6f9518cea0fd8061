/* The process's spin budget (spin.h). */
#include "spin.h"

#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

/* Spinning pays only while a core is free for the peer: at most half the
 * CPUs' worth (of those the process may run on, at its first spin) of this
 * process's threads spin at once, and none on one CPU (where the peer runs
 * only once the spinner stops); the others sleep at once instead of taking
 * the cores from the threads they wait for. */
static _Atomic int spinners;

bool xw_spin_enter(void)
{
    static int max;

    if (!max) {
        cpu_set_t cpus;
        long n = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus)
                                                                : sysconf(_SC_NPROCESSORS_ONLN);
        max = n > 1 ? (int)(n / 2) : -1;
    }
    if (max < 0)
        return false;
    if (atomic_fetch_add(&spinners, 1) < max)
        return true;
    atomic_fetch_sub(&spinners, 1);
    return false;
}

void xw_spin_leave(void)
{
    atomic_fetch_sub(&spinners, 1);
}

unsigned xw_spin_next(unsigned cur, bool hit, unsigned max)
{
    if (!cur || cur > max)
        cur = max;
    if (hit)
        return cur * 2 < max ? cur * 2 : max;
    if (cur - cur / 4 > XW_SPIN_MIN_US)
        return cur - cur / 4;
    return XW_SPIN_MIN_US < max ? XW_SPIN_MIN_US : max;
}

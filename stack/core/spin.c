/* The process's spin budget (spin.h). */
#include "spin.h"

#include <stdatomic.h>
#include <unistd.h>

/* Spinning pays only while a core is free for the peer: at most half the CPUs'
 * worth of this process's threads spin at once, and none on a machine with
 * one CPU (the peer runs only once the spinner stops); the others sleep at
 * once instead of taking the cores from the threads they wait for.  (Not the
 * thread's affinity: a client pinned to one CPU, as memcaslap pins its
 * threads, still has a peer running on another; measured: 0.4x without the
 * spin.) */
static _Atomic int spinners;

bool xw_spin_enter(void)
{
    static int max;

    if (!max) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
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

unsigned xw_spin_slept(unsigned cur, uint64_t waited_ns, unsigned max)
{
    return waited_ns <= (uint64_t)max * 1000u ? xw_spin_next(cur, true, max) : cur;
}

/* Busy-waiting pays only while a core is free for the peer being waited for.
 * Every spinning waiter of the process (the ring path's blocking calls,
 * xway_poll's busy-poll) asks here first. */
#ifndef XW_SPIN_H
#define XW_SPIN_H

#include <stdbool.h>
#include <stdint.h>

/* A thread may spin now (xw_spin_leave after) or should sleep at once: the
 * process spins on at most half the CPUs. */
bool xw_spin_enter(void);
void xw_spin_leave(void);

/* Adaptive spinning (ring_path.c, polling.c): how long a waiter spins next
 * time, microseconds, after a spin of cur that saw what it waited for (hit:
 * doubles, up to max) or not (shrinks by a quarter, down to 4 us).  Spinning
 * pays only while the peer runs; when it does not (more runnable threads than
 * cores), a long spin only keeps the core from it.  cur 0: max. */
unsigned xw_spin_next(unsigned cur, bool hit, unsigned max);
/* After a spin that missed and a sleep: the spin next time.  A wait that
 * ended within max (spin and sleep together) would have been caught by a
 * longer spin: it grows as after a hit (doubles).  Else cur.  (Without it
 * both sides of a request/response can settle on short spins that always
 * miss, each waking the other from a sleep: a stable slow mode, seen at 32k
 * against 1.16M requests/s.  Growing to max at once instead made crowded
 * machines slower: two fork tests with 7 processes on 2 CPUs under
 * AddressSanitizer ran past their timeouts.) */
unsigned xw_spin_slept(unsigned cur, uint64_t waited_ns, unsigned max);
#define XW_SPIN_MIN_US 4u

#endif

/* Busy-waiting pays only while a core is free for the peer being waited for.
 * Every spinning waiter (the ring path's blocking calls, xway_poll's
 * busy-poll, the shim's epoll) asks here first. */
#ifndef XW_SPIN_H
#define XW_SPIN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* A thread may spin now (then xw_spin_leave), or should sleep at once: this
 * process has as many threads spinning as its share of the machine's free
 * cores allows (spin.c: the cores other work leaves free, shared among the
 * user's spinning processes; at most half the CPUs), or the machine has one
 * CPU. */
bool xw_spin_enter(void);
void xw_spin_leave(void);
/* Observers (tests, tools): how many threads of this process may spin at
 * once now, and the machine's free cores as the last sample saw them. */
int xw_spin_limit(void);
int xw_spin_free_cores(void);

/* Spin: look(arg) until it returns non-zero (returned; > 0 is a hit), for
 * the adaptive *budget (microseconds, at most max; 0: max) or until the
 * deadline (CLOCK_MONOTONIC ns); 0 when the spin ended empty or was refused
 * (xw_spin_enter).  *budget becomes the next spin's (xw_spin_next). */
int xw_spin(_Atomic unsigned *budget, unsigned max, uint64_t deadline, int (*look)(void *),
            void *arg);

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

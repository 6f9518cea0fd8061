/* Busy-waiting pays only while a core is free for the peer being waited for.
 * Every spinning waiter of the process (the ring path's blocking calls,
 * xway_poll's busy-poll) asks here first. */
#ifndef XW_SPIN_H
#define XW_SPIN_H

#include <stdbool.h>

/* A thread may spin now (xw_spin_leave after) or should sleep at once: the
 * process spins on at most half the CPUs. */
bool xw_spin_enter(void);
void xw_spin_leave(void);

#endif

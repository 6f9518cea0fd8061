/* What the connection logic (the core's stack/path and the socket layer's
 * core, socket.h) asks of the stack that runs it: the stack lock, the end of
 * a call, routes and two settings.  The Linux library's stack (stack.c, with
 * its thread) implements it.  Freestanding C. */
#ifndef XW_HOST_H
#define XW_HOST_H

#include <stdint.h>

/* The stack lock (stack.h: the locking model).  leave: deliver looped-back
 * packets, flush batched frames, wake whatever runs lwIP's timers if the next
 * one moved earlier, release the lock. */
void xw_stack_lock(void);
void xw_stack_unlock(void);
void xw_stack_leave(void);

/* 0 if dst is on a link or behind a configured gateway, else -ENETUNREACH. */
struct ip_addr;
int xw_stack_route_check(const struct ip_addr *dst);

/* The running configuration's ring bytes per direction (XWAY_RING) and spin
 * before a ring wait sleeps, microseconds (XWAY_SPIN_US): fixed while the
 * stack runs (the lock-free ring path reads them too). */
uint32_t xw_stack_ring_bytes(void);
unsigned xw_stack_spin_us(void);

#endif

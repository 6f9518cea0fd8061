/* What the connection logic (the core's stack/path and the socket layer's
 * core, socket.h) asks of the stack that runs it: the stack lock, the end of
 * a call, routes, the ring size and the TCP segments a link takes.  The Linux
 * library's stack (stack.c, with its thread) implements it, and the core's
 * threadless loop.  Freestanding C. */
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

/* The running configuration's ring bytes per direction (XWAY_RING): fixed
 * while the stack runs. */
uint32_t xw_stack_ring_bytes(void);
/* The TCP segments lwIP may send for the established pcb: its MSS, or more
 * where the link cuts them into segments of the MSS itself (a TAP with the
 * kernel's TSO). */
struct tcp_pcb;
uint16_t xw_stack_tcp_seg(const struct tcp_pcb *pcb);

#endif

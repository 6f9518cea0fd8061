/* A SYN for a 4-tuple in TIME-WAIT (timewait.c). */
#ifndef XW_TIMEWAIT_H
#define XW_TIMEWAIT_H

#include <stdbool.h>

struct tcp_pcb;
struct tcp_hdr;
struct pbuf;

/* From the TCP input hook (lock held).  True when pcb, in TIME-WAIT, was dropped
 * and the SYN in p queued to open a new connection: lwIP must not process p. */
bool xw_timewait_syn(struct tcp_pcb *pcb, const struct tcp_hdr *hdr, struct pbuf *p);

/* At most XW_TIMEWAIT_MAX connections wait in TIME-WAIT; the oldest beyond go
 * (as Linux's tcp_max_tw_buckets drops them).  lwIP looks a new connection's
 * SYN up in its TIME-WAIT list, one by one, and keeps each there for 2 MSL
 * (2 minutes): a server that closes first ran up to its pcb limit (4096) and
 * spent ~0.5 ms per new connection walking them (nginx without keep-alive:
 * 2100 -> 900 requests/s after 10000 connections).  Called when a connection
 * is closed (lock held): the trim runs every XW_TIMEWAIT_TRIM_MS while any
 * connection is in TIME-WAIT. */
#define XW_TIMEWAIT_MAX 64
#define XW_TIMEWAIT_TRIM_MS 50
#define XW_TIMEWAIT_TRIM_FAST_MS 10 /* (after a trim that dropped some) */
void xw_timewait_watch(void);

#endif

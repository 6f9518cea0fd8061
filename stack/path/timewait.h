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

#endif

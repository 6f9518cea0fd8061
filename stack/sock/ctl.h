/* The stack's state for tools: a control socket per running stack, answered
 * by the stack thread (ctl.c; the tool is apps/xwayctl). */
#ifndef XW_CTL_H
#define XW_CTL_H

/* At start (lock held): make the socket.  0 or -errno (the stack runs
 * without: tools do not see it). */
int xw_ctl_start(void);
/* The listening fd for the stack loop's poll, or -1. */
int xw_ctl_fd(void);
/* The loop saw it readable (lock held; dropped while answering). */
void xw_ctl_serve(void);
/* At stop: close and remove it.  In a forked child: close our copy only. */
void xw_ctl_stop(void);
void xw_ctl_forget(void);

#endif

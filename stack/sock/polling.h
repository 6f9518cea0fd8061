/* Waiting on xway sockets and ordinary fds together (xway_poll, and the
 * shim's poll/select/epoll).  No lock held for any of these. */
#ifndef XW_POLLING_H
#define XW_POLLING_H

#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Set the xway sockets' revents among fds from their state, lowering (and
 * arming) a socket's stale "ready" on its fd: before a kernel sleep on the
 * raw fds (epoll).  Ready count. */
int xw_poll_settle(struct pollfd *fds, nfds_t nfds);
/* Busy-poll the sockets among fds (their events; the first 64) whose path can
 * be polled without the lock, for up to XWAY_SPIN_US; true as soon as one is
 * ready.  Adaptive (spin.h): budget is the spin's state (an epoll set's; NULL:
 * the calling thread's). */
bool xw_poll_spin(const struct pollfd *fds, nfds_t nfds, _Atomic unsigned *budget);
#define XW_POLL_SPIN_MAX 64

/* The user-space look at socket fd (path.h: look), after arming arm
 * (XW_CHAN_* mask, 0: none), if it is still the socket *tok (its id; 0: any, then
 * set): 0 and *mask, marks
 * set; -EAGAIN: not yet known (a connection not yet connected may be on the
 * ring later); -ENOTSOCK: not (or no longer) such a socket.  No lock, no
 * syscall. */
int xw_poll_look(int fd, uint64_t *tok, int arm, uint32_t *mask, uint32_t marks[2]);

#endif

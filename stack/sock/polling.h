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

/* The user-space look at socket fd (path.h: look), after arming arm
 * (XW_CHAN_* mask, 0: none), if it is still the socket *tok (its id; 0: any, then
 * set): 0 and *mask, marks
 * set; -EAGAIN: not yet known (a connection not yet connected may be on the
 * ring later); -ENOTSOCK: not (or no longer) such a socket.  No lock, no
 * syscall. */
int xw_poll_look(int fd, uint64_t *tok, int arm, uint32_t *mask, uint32_t marks[2]);

/* Make the calling thread's waiter now, as its first xway_poll would: a
 * service thread's fds are then all open once it has started.  0 or -ENOMEM. */
int xw_poll_thread_init(void);

#endif

/* The ring path of a connection: payload through the shared-memory channel,
 * without the stack lock and without lwIP.  The caller holds a reference on
 * the socket (socket.h) but not the stack lock, except where noted. */
#ifndef XW_RING_PATH_H
#define XW_RING_PATH_H

#include <poll.h>
#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "socket.h"

ssize_t xw_rpath_send(struct xw_sock *s, const struct iovec *iov, int iovcnt, size_t total,
                     int flags);
ssize_t xw_rpath_recv(struct xw_sock *s, const struct iovec *iov, int iovcnt, size_t want,
                     int flags);

/* Lock held: wake the socket's ring sleepers and refresh its pollable fd. */
void xw_rpath_kick_local(struct xw_sock *s);
/* Recompute the pollable fd of a ring socket (any context). */
void xw_rpath_refresh(struct xw_sock *s);
/* Lock held: end our sending direction (EOF to the peer). */
void xw_rpath_shutdown_wr(struct xw_sock *s);
/* Lock held: reset the ring (the peer sees ECONNRESET). */
void xw_rpath_reset(struct xw_sock *s);
/* Lock held, last reference gone: unmap and unbind. */
void xw_rpath_release(struct xw_sock *s);

/* The socket's readable/writable state now, without arming or touching its fd. */
void xw_rpath_state(struct xw_sock *s, bool *rd, bool *wr);
/* Set the xway sockets' revents among fds from their state, lowering (and
 * arming) a ring socket's stale "ready" on its fd: before a kernel sleep on the
 * raw fds (epoll).  Ready count (poll.c).  No lock held. */
int xw_poll_settle(struct pollfd *fds, nfds_t nfds);
/* For the shim: raw fds are waited on only through xway_poll (which settles
 * them first) or with XWAY_POLLED, so EAGAIN leaves a socket's fd alone. */
void xw_rpath_lazy_ready(void);
/* A thread may spin now (xw_spin_leave after) or should sleep at once: the
 * process spins on at most half the CPUs. */
bool xw_spin_enter(void);
void xw_spin_leave(void);
/* Busy-poll the ring sockets among fds (their events) for up to XWAY_SPIN_US;
 * true as soon as one is ready (poll.c).  No lock held. */
bool xw_poll_spin(const struct pollfd *fds, nfds_t nfds);

#endif

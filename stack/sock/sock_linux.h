/* The Linux socket: the core's socket (socket.h) and what the Linux library
 * adds to it, its kernel parts: the futex word its blocking callers sleep on
 * and the readiness fd (readyfd.h) that the application's number is.
 * The table (table.c) allocates every socket as one of these; the core never
 * sees past struct xw_sock. */
#ifndef XW_SOCK_LINUX_H
#define XW_SOCK_LINUX_H

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <sys/types.h>

#include "readyfd.h"
#include "sock_linux.h"
#include "socket.h"

struct xw_sock_linux {
    struct xw_sock s;   /* first: a struct xw_sock * is one of these */
    /* Bumped at every change of state (data, space, connection, error);
     * blocking callers sleep on it (xw_sock_wait), woken when the stack lock
     * is released.  Sockets are never freed (table.c), so a late wake-up of
     * a recycled socket's word is only a spurious one. */
    _Atomic unsigned wseq;
    unsigned sleepers; /* (lock held; one of them may poll the link) */
    struct xw_ready ready;
    /* A listener's number as a file (owner.c: which listener a process
     * channel's ACCEPT names), looked up once; 0: not yet. */
    dev_t a_dev;
    ino_t a_ino;
};

_Static_assert(XW_AF_INET == AF_INET && XW_AF_INET6 == AF_INET6, "address families");
_Static_assert(XW_MSG_PEEK == MSG_PEEK && XW_MSG_DONTWAIT == MSG_DONTWAIT &&
               XW_MSG_WAITALL == MSG_WAITALL && XW_MSG_NOSIGNAL == MSG_NOSIGNAL,
               "message flags");
_Static_assert(XW_EPOLLIN == EPOLLIN && XW_EPOLLOUT == EPOLLOUT && XW_EPOLLERR == EPOLLERR &&
               XW_EPOLLHUP == EPOLLHUP && XW_EPOLLRDNORM == EPOLLRDNORM &&
               XW_EPOLLWRNORM == EPOLLWRNORM && XW_EPOLLRDHUP == EPOLLRDHUP, "epoll events");

static inline struct xw_sock_linux *xw_lx(const struct xw_sock *s)
{
    return (struct xw_sock_linux *)(uintptr_t)s;
}

/* Wake s's sleepers (lock held; they wake once it is released). */
void xw_sock_wake(struct xw_sock *s);
/* Sleep until s changes or the deadline (µs on CLOCK_MONOTONIC, 0: none)
 * passes, releasing the stack lock meanwhile (held on entry and return).
 * 0 or ETIMEDOUT; may return early (the caller re-checks). */
int xw_sock_sleep(struct xw_sock *s, uint64_t deadline_us);
/* getsockname (peer false) / getpeername of s (lock held): 0 or -errno. */
int xw_sock_name_locked(struct xw_sock *s, bool peer, struct sockaddr *addr, socklen_t *len);

#endif

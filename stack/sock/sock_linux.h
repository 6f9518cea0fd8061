/* The Linux socket: the core's socket (socket.h) and what the Linux library
 * adds to it, its kernel parts: the condition variable its blocking callers
 * sleep on and the readiness fd (readyfd.h) that the application's number is.
 * The table (table.c) allocates every socket as one of these; the core never
 * sees past struct xw_sock. */
#ifndef XW_SOCK_LINUX_H
#define XW_SOCK_LINUX_H

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "readyfd.h"
#include "sock_linux.h"
#include "socket.h"

struct xw_sock_linux {
    struct xw_sock s;   /* first: a struct xw_sock * is one of these */
    pthread_cond_t cond; /* state changed: data, space, connection, error */
    struct xw_ready ready;
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

/* getsockname (peer false) / getpeername of s (lock held): 0 or -errno. */
int xw_sock_name_locked(struct xw_sock *s, bool peer, struct sockaddr *addr, socklen_t *len);

#endif

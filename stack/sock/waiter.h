/* User-space waiters: how a thread waiting on ring sockets in user space
 * (the shim's epoll sets, xway_poll) sleeps in the kernel without one kernel
 * object per socket.
 *
 * A waiter is an eventfd and an "armed" flag.  A waiter about to sleep arms
 * itself, arms the channels of the ring sockets it watches (their peer's next
 * move then kicks the event channel), looks at them once more, and sleeps in
 * the kernel on its eventfd (beside whatever kernel fds it also waits for).
 * The ring path's event for a socket signals every armed waiter watching it:
 * one eventfd write per sleep, none while the waiter is busy or spinning.
 */
#ifndef XW_WAITER_H
#define XW_WAITER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct xw_waiter {
    int efd;                   /* eventfd, nonblocking, close-on-exec */
    _Atomic int armed;         /* about to sleep: signal efd on an event */
    _Atomic unsigned signals;  /* efd writes so far */
    _Atomic int refs;
};

struct xw_sock;

/* A new waiter (one reference), or NULL with errno set. */
struct xw_waiter *xw_waiter_new(void);
void xw_waiter_get(struct xw_waiter *w);
void xw_waiter_put(struct xw_waiter *w);
/* Before the last look and the sleep. */
void xw_waiter_arm(struct xw_waiter *w);
/* Not sleeping after all (or woken): true if nobody signalled meanwhile. */
bool xw_waiter_disarm(struct xw_waiter *w);
/* Wake it if it is armed (the ring path's events). */
void xw_waiter_signal(struct xw_waiter *w);
/* Write its eventfd whether armed or not. */
void xw_waiter_kick(struct xw_waiter *w);
/* Empty its eventfd (level-triggered sleeps). */
void xw_waiter_drain(struct xw_waiter *w);

/* Socket fd's watchers (lock-free; the socket's own spinlock): add (on) or
 * remove w, counted (two adds need two removes), if fd is the socket with
 * that id (0: whichever).  0; -ENOTSOCK: fd is not that socket, or not one
 * whose readiness can be looked at in user space (then nothing is added);
 * -ENOMEM. */
int xw_watch(int fd, uint64_t id, struct xw_waiter *w, bool on);
/* The ring path: signal s's armed watchers. */
void xw_watchers_signal(struct xw_sock *s);
/* The socket is reclaimed: drop its watchers. */
void xw_watchers_drop(struct xw_sock *s);

#endif

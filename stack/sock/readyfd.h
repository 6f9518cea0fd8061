/* A socket's pollable kernel fd.
 *
 * An AF_UNIX stream socketpair: the application holds end A (its number is the
 * xway socket number), the stack drives readiness through both ends.  POLLIN on A
 * is "one token byte written from B is unread"; POLLOUT on A is "A's tiny send
 * buffer is not full" — the stack fills it from A to say "not writable" and drains
 * it at B to say "writable".  So poll/epoll/select on A see exactly the socket's
 * readable/writable state, edges included.  Syscalls happen only on transitions.
 */
#ifndef XW_READYFD_H
#define XW_READYFD_H

#include <pthread.h>
#include <stdbool.h>

/* lock serialises xw_ready_set between the stack lock's holders and the ring
 * path, which updates readiness without the stack lock. */
struct xw_ready {
    int a, b;
    bool rd, wr; /* state as last published */
    bool off;    /* the pair carries the connection's bytes now (handoff.c) */
    bool rdhup;  /* B shut for writing: A reads EOF (POLLRDHUP), stays readable */
    bool hup;    /* B shut both ways: A shows POLLHUP too */
    bool err;    /* B closed with unread bytes: A shows POLLERR too (b is -1) */
    bool small;  /* A's send buffer made small (at its first fill) */
    pthread_mutex_t lock;
};

/* Create with readable=false and writable as given (an established
 * connection's socket: writable, without filling A's buffer only to drain it
 * at the first readiness).  0 or -errno. */
int xw_ready_open(struct xw_ready *r, bool cloexec, bool writable);
void xw_ready_close(struct xw_ready *r);
void xw_ready_set(struct xw_ready *r, bool readable, bool writable);
/* The same with r->lock held by the caller, who computed the state under it
 * (so that a stale computation can never overwrite a newer one). */
void xw_ready_set_locked(struct xw_ready *r, bool readable, bool writable);
/* The connection's end as the kernel shows it on A, one way only (lock held):
 * the peer's FIN (POLLRDHUP; readable for good, also while bytes are left,
 * as on a kernel TCP socket), both directions over (POLLHUP; writable for
 * good), and a reset or error (POLLERR too: the socket is dead). */
void xw_ready_ends_locked(struct xw_ready *r, bool rdhup, bool hup, bool err);
/* Stop signalling and empty both directions: the pair may carry data (lock held). */
void xw_ready_stop_locked(struct xw_ready *r);
/* Already readable, and new data came: wake edge-triggered pollers again, as
 * a kernel socket does on every arrival (r->lock held). */
void xw_ready_pulse_locked(struct xw_ready *r);

#endif

/* poll, ppoll, select and pselect over sets with xway sockets: the set goes to
 * xway_poll, which lets the stack lower a ring socket's stale readiness and
 * busy-polls ring sockets before sleeping.  An alias is polled as its socket, a
 * dual listener's kernel twin too (dual_listen.c). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "shim.h"
#include "xway.h"

/* Is any fd of the set the shim's? */
static bool any_ours(const struct pollfd *fds, nfds_t n)
{
    for (nfds_t i = 0; i < n; i++) {
        int k = xs_kind_of(fds[i].fd);
        if (k == XS_SOCK || k == XS_ALIAS || k == XS_HIDDEN || k == XS_ORPHAN ||
            k == XS_SHARED || (k == XS_NONE && xs_epoll_has_ring(fds[i].fd)))
            return true;
    }
    return false;
}

/* poll over a set with xway sockets: aliases polled as their socket, a dual
 * listener's kernel twin polled too, unusable numbers reported POLLNVAL.
 * Each number is looked up once: tw[i] is the slot of its twin, -1 for none,
 * -2 for an unusable number. */
static int xpoll(struct pollfd *fds, nfds_t n, int timeout)
{
    struct pollfd sp[128], *p = sp;
    int stw[64], *tw = stw, ready = 0, rc;
    nfds_t extra = 0;

    if (n > 64 && (!(p = malloc(2 * n * sizeof(*p))) || !(tw = malloc(n * sizeof(*tw))))) {
        free(p);
        errno = ENOMEM;
        return -1;
    }
    for (nfds_t i = 0; i < n; i++) {
        int key = fds[i].fd < 0 ? XS_R_KERNEL : xs_route(fds[i].fd), t;
        p[i] = fds[i];
        p[i].revents = 0;
        tw[i] = key == XS_R_BAD ? -2 : -1;
        if (key == XS_R_BAD)
            p[i].fd = -1;
        else if (key >= 0)
            p[i].fd = key;
        if (key == XS_R_KERNEL && fds[i].fd >= 0)
            xs_epoll_prime(fds[i].fd); /* (an epoll set with ring members) */
        if (key != XS_R_BAD && fds[i].fd >= 0 && (t = xs_twin_of(fds[i].fd)) >= 0) {
            tw[i] = (int)(n + extra);
            p[n + extra++] = (struct pollfd){ .fd = t, .events = POLLIN };
        }
    }
    rc = XS_STACK_CALL(xway_poll(p, n + extra, timeout));
    for (nfds_t i = 0; rc >= 0 && i < n; i++) {
        fds[i].revents = tw[i] == -2 ? POLLNVAL : p[i].revents;
        if (tw[i] >= 0 && (p[tw[i]].revents & POLLIN))
            fds[i].revents |= (short)(fds[i].events & (POLLIN | POLLRDNORM));
        ready += fds[i].revents != 0;
    }
    if (p != sp) {
        int e = errno;
        free(p);
        free(tw);
        errno = e;
    }
    return rc >= 0 ? ready : rc;
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    if (xs_in_stack || !any_ours(fds, n))
        return xs_real.poll(fds, n, timeout);
    return xpoll(fds, n, timeout);
}

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
    if (fdslen / sizeof(*fds) < n)
        return xs_real.__poll_chk(fds, n, timeout, fdslen);
    return poll(fds, n, timeout);
}

static int ts_to_ms(const struct timespec *ts)
{
    long long ms;
    if (!ts)
        return -1;
    ms = (long long)ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* ppoll and pselect set the mask and wait atomically; the shim sets it, then
 * waits.  A signal with a handler that the mask unblocks and that is already
 * pending (what the mask is for) runs when the mask is set: the call then fails
 * with EINTR at once, as the kernel's does.  One arriving between the mask and
 * the wait still runs without ending the wait. */
static bool caught_pending(const sigset_t *mask)
{
    sigset_t pend;
    struct sigaction sa;

    if (!mask || sigpending(&pend) < 0)
        return false;
    for (int s = 1; s < NSIG; s++)
        if (sigismember(&pend, s) == 1 && sigismember(mask, s) == 0 &&
            sigaction(s, NULL, &sa) == 0 &&
            ((sa.sa_flags & SA_SIGINFO) || (sa.sa_handler != SIG_IGN && sa.sa_handler != SIG_DFL)))
            return true;
    return false;
}

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
    sigset_t old;
    int rc, e;
    bool intr;

    if (xs_in_stack || !any_ours(fds, n))
        return xs_real.ppoll(fds, n, ts, mask);
    intr = caught_pending(mask); /* not atomic with the wait: see caught_pending */
    if (mask)
        pthread_sigmask(SIG_SETMASK, mask, &old);
    rc = intr ? -1 : xpoll(fds, n, ts_to_ms(ts));
    e = intr ? EINTR : errno;
    if (mask)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return rc;
}

int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
                const sigset_t *mask, size_t fdslen)
{
    if (fdslen / sizeof(*fds) < n)
        return xs_real.__ppoll_chk(fds, n, ts, mask, fdslen);
    return ppoll(fds, n, ts, mask);
}

static bool sets_have_ours(int nfds, fd_set *r, fd_set *w, fd_set *x)
{
    for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
        if ((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (x && FD_ISSET(fd, x))) {
            int k = xs_kind_of(fd);
            if (k == XS_SOCK || k == XS_ALIAS || k == XS_HIDDEN || k == XS_ORPHAN ||
                k == XS_SHARED || (k == XS_NONE && xs_epoll_has_ring(fd)))
                return true;
        }
    return false;
}

/* select as poll (FD_SETSIZE fds at most). */
static int xselect(int nfds, fd_set *r, fd_set *w, fd_set *x, int timeout)
{
    struct pollfd p[FD_SETSIZE];
    nfds_t n = 0;
    int rc, count = 0;

    if (nfds > FD_SETSIZE)
        nfds = FD_SETSIZE;
    for (int fd = 0; fd < nfds; fd++) {
        short ev = (short)(((r && FD_ISSET(fd, r)) ? POLLIN : 0) |
                           ((w && FD_ISSET(fd, w)) ? POLLOUT : 0) |
                           ((x && FD_ISSET(fd, x)) ? POLLPRI : 0));
        if (ev)
            p[n++] = (struct pollfd){ .fd = fd, .events = ev };
    }
    rc = xpoll(p, n, timeout);
    if (rc < 0)
        return rc;
    for (nfds_t i = 0; i < n; i++)
        if (p[i].revents & POLLNVAL) {
            errno = EBADF;
            return -1;
        }
    if (r) FD_ZERO(r);
    if (w) FD_ZERO(w);
    if (x) FD_ZERO(x);
    for (nfds_t i = 0; i < n; i++) {
        short re = p[i].revents, ev = p[i].events;
        if ((ev & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR))) {
            FD_SET(p[i].fd, r);
            count++;
        }
        if ((ev & POLLOUT) && (re & (POLLOUT | POLLERR))) {
            FD_SET(p[i].fd, w);
            count++;
        }
        if ((ev & POLLPRI) && (re & POLLPRI)) {
            FD_SET(p[i].fd, x);
            count++;
        }
    }
    return count;
}

int select(int nfds, fd_set *r, fd_set *w, fd_set *x, struct timeval *tv)
{
    long long ms, left;
    struct timespec t0, t1;
    int rc;

    if (xs_in_stack || !sets_have_ours(nfds, r, w, x))
        return xs_real.select(nfds, r, w, x, tv);
    ms = tv ? (long long)tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000 : -1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = xselect(nfds, r, w, x, ms > INT32_MAX ? INT32_MAX : (int)ms);
    if (tv) {
        /* Linux writes back the time not slept (0 after a timeout). */
        clock_gettime(CLOCK_MONOTONIC, &t1);
        left = (long long)tv->tv_sec * 1000000 + tv->tv_usec -
               ((long long)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
        if (left < 0 || rc == 0)
            left = 0;
        tv->tv_sec = (time_t)(left / 1000000);
        tv->tv_usec = (suseconds_t)(left % 1000000);
    }
    return rc;
}

int pselect(int nfds, fd_set *r, fd_set *w, fd_set *x, const struct timespec *ts,
            const sigset_t *mask)
{
    sigset_t old;
    int rc, e;
    bool intr;

    if (xs_in_stack || !sets_have_ours(nfds, r, w, x))
        return xs_real.pselect(nfds, r, w, x, ts, mask);
    intr = caught_pending(mask);
    if (mask)
        pthread_sigmask(SIG_SETMASK, mask, &old);
    rc = intr ? -1 : xselect(nfds, r, w, x, ts_to_ms(ts));
    e = intr ? EINTR : errno;
    if (mask)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return rc;
}

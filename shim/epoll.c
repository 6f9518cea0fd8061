/* epoll: xway sockets are kernel fds (the stack's readiness sockets), so the
 * kernel's epoll watches them as any fd.  The shim keeps, per epoll fd, the
 * xway sockets registered in it (struct xs_epset), so that epoll_wait first lets
 * the stack lower their stale readiness and busy-polls their rings. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "polling.h"
#include "shim.h"
#include "xway.h"

/* The xway members of an epoll set (shared listeners too); fds[].fd are the
 * application's numbers, evs[] their registrations.  Protected by lock; the
 * set itself lives as long as its epoll fd (created on the first xway member,
 * freed by close). */
struct xs_epset {
    pthread_mutex_t lock;
    _Atomic unsigned spin_us; /* its waits' adaptive spin (spin.h) */
    int n, cap;
    struct pollfd *fds;
    struct epoll_event *evs;
};

void xs_epset_free(struct xs_epset *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->lock);
    free(s->fds);
    free(s->evs);
    free(s);
}

/* member_only: change fd's registration only if it is a member already. */
static void epset_update(int epfd, int op, int fd, const struct epoll_event *ev, bool member_only)
{
    uint32_t events = ev ? ev->events : 0;
    struct xs_fd *e = member_only ? xs_fd_peek(epfd) : xs_fd_get(epfd);
    struct xs_epset *s;
    int i;

    if (!e)
        return;
    s = atomic_load(&e->ep);
    if (!s) {
        struct xs_epset *fresh = NULL;
        if (op == EPOLL_CTL_DEL || member_only || !(fresh = calloc(1, sizeof(*fresh))))
            return;
        pthread_mutex_init(&fresh->lock, NULL);
        if (!atomic_compare_exchange_strong(&e->ep, &s, fresh)) {
            pthread_mutex_destroy(&fresh->lock);
            free(fresh);
        } else {
            s = fresh;
        }
    }
    pthread_mutex_lock(&s->lock);
    for (i = 0; i < s->n; i++)
        if (s->fds[i].fd == fd)
            break;
    if (op == EPOLL_CTL_DEL) {
        if (i < s->n) {
            s->n--;
            s->fds[i] = s->fds[s->n];
            s->evs[i] = s->evs[s->n];
        }
    } else if (i < s->n || !member_only) {
        if (i == s->n) {
            if (s->n == s->cap) {
                int cap = s->cap ? 2 * s->cap : 16;
                struct pollfd *nf = realloc(s->fds, (size_t)cap * sizeof(*nf));
                struct epoll_event *ne = nf ? realloc(s->evs, (size_t)cap * sizeof(*ne)) : NULL;
                if (nf)
                    s->fds = nf;
                if (!ne) {
                    pthread_mutex_unlock(&s->lock);
                    return;
                }
                s->evs = ne;
                s->cap = cap;
            }
            s->n++;
        }
        s->evs[i] = *ev;
        s->fds[i] = (struct pollfd){
            .fd = fd,
            .events = (short)(((events & EPOLLIN) ? POLLIN : 0) | ((events & EPOLLOUT) ? POLLOUT : 0)),
        };
    }
    pthread_mutex_unlock(&s->lock);
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    int rc = xs_real.epoll_ctl(epfd, op, fd, ev), key, twin;

    if (rc < 0 || xs_in_stack)
        return rc;
    if (xs_kind_of(fd) == XS_SHARED) {
        twin = xs_twin_of(fd); /* remembered for xs_epoll_swap */
    } else {
        key = xs_route(fd);
        if (key < 0 && xs_claimable(fd)) {
            /* A connection this child may claim becomes, on its number, a
             * socket of its own (claim.c): its registrations move then. */
            epset_update(epfd, op, fd, ev, false);
            return rc;
        }
        if (key < 0 && xs_in_child && xs_kind_of(fd) == XS_NONE) {
            /* A forked child's kernel TCP socket may become, on its number,
             * a connection or a listener of the owner's stack (outgoing.c,
             * shared.c): its registrations are kept to move them then. */
            epset_update(epfd, op, fd, ev, op != EPOLL_CTL_ADD || !xs_kernel_tcp(fd));
            return rc;
        }
        if (key < 0)
            return rc;
        if (op != EPOLL_CTL_DEL) { /* the kernel's epoll watches it: keep it exact */
            int one = 1;
            xway_setsockopt(key, XWAY_SOL, XWAY_POLLED, &one, sizeof(one));
        }
        twin = atomic_load(&xs_key_entry(key)->twin);
    }
    epset_update(epfd, op, fd, ev, false);
    /* A dual listener: its kernel twin wakes the same registration. */
    if (twin >= 0) {
        struct epoll_event tev = { 0 };
        if (ev) {
            tev = *ev;
            tev.events &= ~(uint32_t)EPOLLOUT;
        }
        xs_real.epoll_ctl(epfd, op, twin, op == EPOLL_CTL_DEL ? NULL : &tev);
    }
    return rc;
}

/* xs_epoll_swap: the registrations of number fd in every epoll set. */
static int swap_fd, swap_twin, swap_n;
static bool swap_member;

static void unregister(int epfd, struct xs_fd *e)
{
    struct xs_epset *s = atomic_load(&e->ep);

    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n; i++)
        if (s->fds[i].fd == swap_fd) {
            xs_real.epoll_ctl(epfd, EPOLL_CTL_DEL, swap_twin, NULL);
            /* Registered still, to register again; or a member left behind
             * by a file closed since (the kernel dropped it): to forget. */
            s->fds[i].events =
                xs_real.epoll_ctl(epfd, EPOLL_CTL_DEL, swap_fd, NULL) == 0 ? -1 : -2;
        }
    pthread_mutex_unlock(&s->lock);
}

static void reregister(int epfd, struct xs_fd *e)
{
    struct xs_epset *s = atomic_load(&e->ep);

    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n; i++)
        if (s->fds[i].fd == swap_fd && s->fds[i].events < 0) {
            if (s->fds[i].events == -1)
                xs_real.epoll_ctl(epfd, EPOLL_CTL_ADD, swap_fd, &s->evs[i]);
            if (s->fds[i].events == -1 && swap_member) {
                uint32_t ev = s->evs[i].events;
                s->fds[i].events = (short)(((ev & EPOLLIN) ? POLLIN : 0) |
                                           ((ev & EPOLLOUT) ? POLLOUT : 0));
                swap_n++;
                continue;
            }
            s->n--; /* a kernel fd now: no longer the shim's member */
            s->fds[i] = s->fds[s->n];
            s->evs[i] = s->evs[s->n];
            i--;
        }
    pthread_mutex_unlock(&s->lock);
}

int xs_epoll_swap(int fd, int twin, bool member, int *n)
{
    int fl = xs_real.fcntl(fd, F_GETFD), r;

    swap_fd = fd;
    swap_twin = twin;
    swap_member = member;
    swap_n = 0;
    xs_fd_foreach(unregister);
    r = xs_real.dup3(twin, fd, fl > 0 && (fl & FD_CLOEXEC) ? O_CLOEXEC : 0);
    xs_fd_foreach(reregister);
    if (n)
        *n = swap_n;
    return r;
}

/* Let the stack lower the stale readiness of the set's xway sockets, so that
 * the kernel's epoll reports (and edge-triggers on) their exact state. */
static void epset_refresh(int epfd)
{
    struct xs_fd *e = xs_fd_peek(epfd);
    struct xs_epset *s = e ? atomic_load(&e->ep) : NULL;
    struct pollfd small[64], *p = small;
    int n;

    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    n = s->n;
    if (n > 64 && !(p = malloc((size_t)n * sizeof(*p)))) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    for (int i = 0; i < n; i++) {
        int key = xs_route(s->fds[i].fd);
        p[i] = s->fds[i];
        p[i].fd = key >= 0 ? key : -1;
    }
    pthread_mutex_unlock(&s->lock);
    if (n)
        XS_STACK_CALL(xw_poll_settle(p, (nfds_t)n));
    if (p != small)
        free(p);
}

/* Nothing ready and the caller would sleep: busy-poll the set's ring sockets
 * first, as xway_poll does for poll/select.  True if one became ready. */
static bool epset_spin(int epfd)
{
    struct xs_fd *e = xs_fd_peek(epfd);
    struct xs_epset *s = e ? atomic_load(&e->ep) : NULL;
    struct pollfd p[XW_POLL_SPIN_MAX];
    int n = 0;

    if (!s)
        return false;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n && n < XW_POLL_SPIN_MAX; i++) {
        int key = xs_route(s->fds[i].fd);
        if (key >= 0)
            p[n++] = (struct pollfd){ .fd = key, .events = s->fds[i].events };
    }
    pthread_mutex_unlock(&s->lock);
    return n && XS_STACK_CALL(xw_poll_spin(p, (nfds_t)n, &s->spin_us));
}

static int xepoll_wait(int epfd, struct epoll_event *ev, int max, int timeout,
                       const sigset_t *mask)
{
    int r;

    if (xs_in_stack)
        return xs_real.epoll_pwait(epfd, ev, max, timeout, mask);
    epset_refresh(epfd);
    if (timeout != 0) {
        if ((r = xs_real.epoll_pwait(epfd, ev, max, 0, mask)) != 0)
            return r;
        if (epset_spin(epfd)) {
            epset_refresh(epfd);
            if ((r = xs_real.epoll_pwait(epfd, ev, max, 0, mask)) != 0)
                return r;
        }
    }
    return xs_real.epoll_pwait(epfd, ev, max, timeout, mask);
}

int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
    return xepoll_wait(epfd, ev, max, timeout, NULL);
}

int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout,
                const sigset_t *mask)
{
    return xepoll_wait(epfd, ev, max, timeout, mask);
}

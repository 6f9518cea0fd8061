/* xway_poll: poll(2) over xway sockets and ordinary fds.  The kernel does the
 * waiting (every xway socket's number is its readiness fd, readyfd.h); xway
 * sockets' revents are then taken from the socket state, which adds what the
 * readiness fd cannot say (POLLHUP, POLLERR, POLLRDHUP). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <poll.h>
#include <time.h>

#include "barrier.h"
#include "channel.h"
#include "polling.h"
#include "ring_events.h"
#include "spin.h"
#include "socket.h"
#include "stack.h"
#include "waiter.h"
#include "xway.h"

/* The socket's revents.  settle: for a caller about to sleep in the kernel — a
 * stale "ready" on the socket's fd is lowered (and armed), so that the kernel
 * poll sleeps until the peer moves.  Otherwise a pure look (no syscall). */
static short sock_revents(struct xw_sock *s, short events, bool settle)
{
    short r = 0;
    bool rd, wr;

    xw_path_of(s)->readiness(s, settle, &rd, &wr);
    if (rd)
        r |= POLLIN | POLLRDNORM;
    if (wr)
        r |= POLLOUT | POLLWRNORM;
    if (s->err)
        r |= POLLERR;
    if (s->state == XW_SS_DEAD || (s->rd_eof && s->shut_wr))
        r |= POLLHUP;
    if (s->rd_eof)
        r |= POLLRDHUP;
    return r & (events | POLLERR | POLLHUP | POLLNVAL);
}

/* Replace the kernel's view of xway sockets with theirs.  Returns the ready
 * count; *nkernel (if not NULL): how many fds are not xway sockets. */
static int refine(struct pollfd *fds, nfds_t nfds, bool settle, nfds_t *nkernel)
{
    int ready = 0;
    nfds_t k = 0;

    xw_stack_lock();
    for (nfds_t i = 0; i < nfds; i++) {
        struct xw_sock *s = xw_sock_lookup(fds[i].fd);
        if (s)
            fds[i].revents = sock_revents(s, fds[i].events, settle);
        else if (fds[i].fd >= 0)
            k++;
        if (fds[i].revents)
            ready++;
    }
    xw_stack_unlock();
    if (nkernel)
        *nkernel = k;
    return ready;
}

/* What is ready now, without sleeping: the kernel is asked only when some fds
 * are not xway sockets (a busy ring socket then costs no syscall at all). */
static int ready_now(struct pollfd *fds, nfds_t nfds)
{
    nfds_t k;
    int ready;

    for (nfds_t i = 0; i < nfds; i++)
        fds[i].revents = 0;
    ready = refine(fds, nfds, false, &k);
    if (!k)
        return ready;
    if (poll(fds, nfds, 0) < 0)
        return -1;
    return refine(fds, nfds, false, NULL);
}

int xw_poll_settle(struct pollfd *fds, nfds_t nfds)
{
    return refine(fds, nfds, true, NULL);
}

/* Busy-poll the sockets among fds (their events; the first XW_POLL_SPIN_MAX)
 * whose path can be polled without the lock, for up to XWAY_SPIN_US; true as
 * soon as one is ready.  Adaptive (spin.h), per thread. */
#define XW_POLL_SPIN_MAX 64
static __thread _Atomic unsigned thread_spin_us;

struct spin_set {
    int n;
    struct { struct xw_sock *s; const struct xw_path_ops *ops; int ev; } w[XW_POLL_SPIN_MAX];
};

static int spin_look(void *arg)
{
    struct spin_set *set = arg;

    for (int j = 0; j < set->n; j++)
        if (set->w[j].ops->poll_fast(set->w[j].s, set->w[j].ev) != 0)
            return 1;
    return 0;
}

static bool poll_spin(const struct pollfd *fds, nfds_t nfds)
{
    struct spin_set set;
    bool hit = false, serving;
    unsigned max;

    set.n = 0;
    for (nfds_t i = 0; i < nfds && set.n < XW_POLL_SPIN_MAX; i++) {
        int ev = (fds[i].events & (POLLIN | POLLRDNORM) ? XW_CHAN_READABLE : 0) |
                 (fds[i].events & (POLLOUT | POLLWRNORM) ? XW_CHAN_WRITABLE : 0);
        struct xw_sock *s = ev ? xw_sock_get_fast(fds[i].fd) : NULL;
        if (!s)
            continue;
        set.w[set.n].ops = xw_path_of(s);
        if (!set.w[set.n].ops->poll_fast) {
            xw_sock_put_fast(s);
            continue;
        }
        set.w[set.n].s = s;
        set.w[set.n++].ev = ev;
    }
    if (set.n) {
        xw_stack_lock();
        serving = xw_stack_running() || xw_stack_satellite();
        max = serving ? (unsigned)xw_stack_config()->spin_us : 0;
        xw_stack_unlock();
        hit = xw_spin(&thread_spin_us, max, UINT64_MAX, spin_look, &set) > 0;
    }
    for (int j = 0; j < set.n; j++)
        xw_sock_put_fast(set.w[j].s);
    return hit;
}

int xw_poll_look(int fd, uint64_t *tok, int arm, uint32_t *mask, uint32_t marks[2])
{
    struct xw_sock *s = xw_sock_get_fast(fd);
    const struct xw_path_ops *ops;
    int rc = 0;

    if (!s)
        return -ENOTSOCK;
    ops = xw_path_of(s);
    if (*tok && *tok != s->id)
        rc = -ENOTSOCK;
    else if (!ops->look)
        rc = s->state == XW_SS_NEW || s->state == XW_SS_CONNECTING ? -EAGAIN : -ENOTSOCK;
    else {
        *tok = s->id;
        *mask = ops->look(s, arm, marks);
    }
    xw_sock_put_fast(s);
    return rc;
}

/* The waiter of a thread's poll/select/xway_poll sleeps (waiter.h): made at
 * its first sleep on a ring socket, dropped at its exit; a forked child makes
 * its own (the eventfd is shared with the parent's). */
static pthread_key_t waiter_key;
static pthread_once_t waiter_once = PTHREAD_ONCE_INIT;
static __thread struct xw_waiter *thread_waiter;
/* A forked child's threads have the parent's waiters: the generation of the
 * process (bumped in a child at fork) says whose a thread's waiter is,
 * without a getpid on every poll. */
static _Atomic unsigned waiter_gen;
static __thread unsigned thread_waiter_gen;

static void waiter_gone(void *w)
{
    xw_waiter_put(w);
}

static void waiter_forked(void)
{
    atomic_fetch_add(&waiter_gen, 1);
}

static void waiter_key_init(void)
{
    pthread_key_create(&waiter_key, waiter_gone);
    pthread_atfork(NULL, NULL, waiter_forked);
}

static struct xw_waiter *my_waiter(void)
{
    unsigned gen = atomic_load_explicit(&waiter_gen, memory_order_relaxed);

    if (thread_waiter && thread_waiter_gen != gen) {
        close(thread_waiter->efd); /* the parent's: not ours to free */
        thread_waiter = NULL;
    }
    if (!thread_waiter) {
        pthread_once(&waiter_once, waiter_key_init);
        if (!(thread_waiter = xw_waiter_new()))
            return NULL;
        thread_waiter_gen = gen;
        pthread_setspecific(waiter_key, thread_waiter);
    }
    return thread_waiter;
}

int xw_poll_thread_init(void)
{
    return my_waiter() ? 0 : -ENOMEM;
}

/* One kernel sleep of xway_poll: the ring sockets among fds are watched by
 * the thread's waiter instead of being polled by their fds, so that their
 * peers notify only this sleep.  The poll's result, the kernel fds' revents in
 * fds (the xway sockets' are refined after). */
static _Atomic int poll_sleepers;
#define RING_SLICE_MS 100

/* xway_poll's kernel sleep on the fd of an xway socket begins: the ring keeps
 * the fd exact meanwhile (socket.h fd_sleepers).  The socket's identity, 0 if
 * fd is no xway socket. */
static uint64_t fd_sleep_begin(int fd)
{
    struct xw_sock *s = xw_sock_get_fast(fd);
    uint64_t id;

    if (!s)
        return 0;
    id = s->id;
    atomic_fetch_add(&s->fd_sleepers, 1);
    xw_sock_put_fast(s);
    return id;
}

static void fd_sleep_end(int fd, uint64_t id)
{
    struct xw_sock *s = xw_sock_get_fast(fd);

    if (!s)
        return;
    if (s->id == id)
        atomic_fetch_sub(&s->fd_sleepers, 1);
    xw_sock_put_fast(s);
}

static int sleep_once(struct pollfd *fds, nfds_t nfds, int timeout)
{
    bool solo;
    struct pollfd small[66], *k = small;
    /* rs: the ring members' indices from the front, the fd sleepers' from
     * the back (their identities in ft) */
    int ring[64], *rs = ring, nr = 0, nf = 0, rc, e;
    uint64_t ftok[64], *ft = ftok, tok;
    struct xw_waiter *w = my_waiter();
    uint32_t m, mk[2];

    if (!w || (nfds >= 64 && (!(k = malloc((nfds + 2) * sizeof(*k))) ||
                               !(rs = malloc(nfds * sizeof(*rs))) ||
                               !(ft = malloc(nfds * sizeof(*ft)))))) {
        /* (No waiter: out of fds or memory.)  A ring socket's fd does not
         * follow the ring under the shim: sleep in slices of 10 ms, after
         * which the caller looks again. */
        if (k != small) {
            free(k);
            if (rs != ring)
                free(rs);
        }
        refine(fds, nfds, true, NULL);
        return poll(fds, nfds, timeout < 0 || timeout > 10 ? 10 : timeout);
    }
    xw_waiter_arm(w);
    for (nfds_t i = 0; i < nfds; i++) {
        int arm = (fds[i].events & (POLLIN | POLLRDNORM) ? XW_CHAN_READABLE : 0) |
                  (fds[i].events & (POLLOUT | POLLWRNORM) ? XW_CHAN_WRITABLE : 0);
        k[i] = fds[i];
        k[i].revents = 0;
        tok = 0;
        if (fds[i].fd >= 0 && xw_poll_look(fds[i].fd, &tok, arm, &m, mk) == 0 &&
            xw_watch(fds[i].fd, tok, w, true) == 0) {
            rs[nr++] = (int)i;
            k[i].fd = -1;
            if (m & ((uint32_t)fds[i].events | POLLERR | POLLHUP))
                timeout = 0; /* ready already: look, do not sleep */
        } else if (fds[i].fd >= 0 && (ft[nf] = fd_sleep_begin(fds[i].fd)) != 0) {
            /* Watched by its fd: kept exact from here (before the settle
             * below) even if the socket goes onto the ring meanwhile. */
            rs[nfds - 1 - nf++] = (int)i;
        }
    }
    k[nfds] = (struct pollfd){ .fd = w->efd, .events = POLLIN };
    /* The stack's event fd too, for a thread that sleeps alone: a sleep it
     * ends takes the events itself, a thread switch earlier than through the
     * dispatcher (ring_events.h).  (Not with other sleepers: they would all
     * wake for each event, and contend for the stack to take it.) */
    solo = atomic_fetch_add(&poll_sleepers, 1) == 0;
    k[nfds + 1] = (struct pollfd){ .fd = nr && solo ? xw_rev_wait_fd() : -1, .events = POLLIN };
    if (refine(k, nfds, true, NULL)) /* the others' fds made exact */
        timeout = 0;
    /* Ring members are looked at again at least every RING_SLICE_MS, as a
     * blocking ring call's sleep is cut into slices: a wake-up that goes
     * missing costs a slice, not the connection.  (One did: a socket that
     * went from TCP onto the ring while its reader slept on its fd, which
     * the ring left stale; now fd_sleepers.) */
    if (nr && (timeout < 0 || timeout > RING_SLICE_MS))
        timeout = RING_SLICE_MS;
    rc = poll(k, nfds + 2, timeout);
    e = errno;
    atomic_fetch_sub(&poll_sleepers, 1);
    if (!xw_waiter_disarm(w) || (rc > 0 && k[nfds].revents))
        xw_waiter_drain(w);
    if (rc > 0 && (k[nfds + 1].revents & POLLIN))
        xw_rev_dispatch_now();
    for (int j = 0; j < nr; j++)
        xw_watch(fds[rs[j]].fd, 0, w, false);
    for (int j = 0; j < nf; j++)
        fd_sleep_end(fds[rs[nfds - 1 - j]].fd, ft[j]);
    for (nfds_t i = 0; i < nfds; i++)
        fds[i].revents = k[i].revents;
    if (k != small) {
        free(k);
        free(rs);
        free(ft);
    }
    errno = e;
    return rc;
}

int xway_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms) XW_EXPORT;
int xway_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
    struct timespec t0, now;
    int rc, ready, left = timeout_ms;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Before the kernel sleeps: what is ready now, then a short busy-poll of
     * the ring sockets (their peer's next move is usually microseconds away,
     * and a wake-up through the event channel costs context switches). */
    if ((ready = ready_now(fds, nfds)) != 0)
        return ready;
    if (timeout_ms == 0) /* nothing: leave no stale "ready" on the fds */
        return refine(fds, nfds, true, NULL);
    if (poll_spin(fds, nfds) && (ready = ready_now(fds, nfds)) != 0)
        return ready;
    for (;;) {
        rc = sleep_once(fds, nfds, left);
        if (rc < 0)
            return rc;
        ready = refine(fds, nfds, true, NULL);
        if (ready || left == 0)
            return ready;
        /* The kernel saw a transition our state has already moved past: wait
         * again for the rest of the timeout. */
        if (timeout_ms > 0) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            left = timeout_ms - (int)((now.tv_sec - t0.tv_sec) * 1000 +
                                      (now.tv_nsec - t0.tv_nsec) / 1000000);
            if (left <= 0)
                return refine(fds, nfds, true, NULL);
        }
    }
}

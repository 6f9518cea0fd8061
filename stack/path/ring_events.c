/* The fast path's backend handle and its event dispatcher (Linux).
 *
 * All ring connections of the process share one netif-xway handle (one domain),
 * whose event channels arrive on a single fd.  A dedicated thread waits on it
 * and dispatches the pending ports to their routes (ring_routes.h, the core's:
 * the ring path wakes the socket's sleepers and refreshes its pollable fd).
 * The data path itself never comes here while both sides are busy: it spins,
 * and only a side that goes to sleep asks to be woken.
 *
 * Locking: the routes and what they point to are protected by the stack
 * lock, which the dispatcher takes once per batch of events.
 */
#include "ring_events.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "ring_park.h"
#include "ring_routes.h"
#include "stack.h"
#include "thread.h"

#define MAX_PORTS (1u << 17) /* Xen's FIFO event-channel ABI limit */

static struct {
    struct xw_xenif *x;  /* (the routes' too) */
    bool routes;         /* open */
    pthread_t thread;
    int stop_fd;
    _Atomic bool stop;
    /* The dispatcher waits on ep: the event fd (unless a ring sleeper polls
     * it itself: xw_rev_poll_events, woken through lend_fd) and stop_fd. */
    int ep, lend_fd;
    _Atomic(_Atomic unsigned *) lent; /* the word of the sleeper it is lent to */
    _Atomic bool kicked;
    /* Satellite (xw_rev_satellite): the fd the owner signals when one of our
     * ports fired. */
    bool sat;
    int fwd_fd;
} ev = { .stop_fd = -1, .fwd_fd = -1, .ep = -1, .lend_fd = -1 };

enum { EP_EVT, EP_STOP };

/* This thread polls the event fd (lent to it). */
static __thread bool lending_here;

static int dispatch(void)
{
    int timeout;

    xw_stack_lock();
    timeout = xw_rev_routes_dispatch();
    xw_stack_unlock();
    return timeout;
}

/* Only while this process's dispatcher runs: a process whose stack went on
 * in a keeper (xw_rev_pause) still holds the event fd, which is the keeper's
 * now; events it took would never reach the keeper's routes. */
static bool dispatching(void)
{
    return ev.x && !ev.sat && ev.routes && !ev.stop && ev.thread;
}

int xw_rev_wait_fd(void)
{
    return dispatching() ? xw_evtchn_fd(ev.x) : -1;
}

void xw_rev_dispatch_now(void)
{
    xw_stack_lock();
    if (dispatching())
        (void)xw_rev_routes_dispatch(); /* (delays: the dispatcher woke too, it recomputes) */
    xw_stack_unlock();
}

static int ep_set(int op, int fd, uint32_t what)
{
    struct epoll_event e = { .events = EPOLLIN, .data.u32 = what };

    return epoll_ctl(ev.ep, op, fd, &e);
}

static void *loop(void *arg)
{
    struct epoll_event e[2];
    int timeout = -1, n;
    uint64_t v;

    (void)arg;
    while (!ev.stop) {
        bool look = false;

        n = epoll_wait(ev.ep, e, 2, timeout);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            if (e[i].data.u32 == EP_STOP && !ev.stop) /* a lender's: re-plan */
                (void)!read(ev.stop_fd, &v, sizeof(v));
            look = !ev.stop;
        }
        if (n == 0 || look)
            timeout = dispatch();
    }
    return NULL;
}

/* Lend the event fd to a ring sleeper of s, which waits for *word to change
 * for up to ms: it polls the fd itself meanwhile and dispatches what comes,
 * so that an event for it wakes one thread, not the dispatcher and then this
 * one.  One thread at a time.  0 (the word changed, woken, a signal),
 * -ETIMEDOUT, or 1: not lent (sleep otherwise). */
int xw_rev_poll_events(_Atomic unsigned *word, unsigned seen, int ms)
{
    _Atomic unsigned *none = NULL;
    bool replan = false;
    uint64_t end = xw_mono_ns() + (uint64_t)ms * 1000000u, v;
    int fd, rc = 0, cancel;

    if (!dispatching() || ev.lend_fd < 0 || !atomic_compare_exchange_strong(&ev.lent, &none, word))
        return 1;
    fd = xw_evtchn_fd(ev.x);
    if (!dispatching() || epoll_ctl(ev.ep, EPOLL_CTL_DEL, fd, NULL) < 0) {
        atomic_store(&ev.lent, NULL);
        return 1;
    }
    lending_here = true;
    /* (not a cancellation point, as the futex sleep it replaces) */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
    while (atomic_load(word) == seen) {
        struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
                               { .fd = ev.lend_fd, .events = POLLIN } };
        uint64_t now = xw_mono_ns();
        int n;

        if (now >= end) {
            rc = -ETIMEDOUT;
            break;
        }
        n = poll(p, 2, (int)((end - now + 999999) / 1000000u));
        if (n > 0 && p[1].revents) {
            (void)!read(ev.lend_fd, &v, sizeof(v));
            atomic_store(&ev.kicked, false);
        }
        if (n > 0 && p[0].revents) {
            xw_stack_lock();
            if (dispatching() && xw_rev_routes_dispatch() >= 0)
                replan = true; /* (a masked port: the dispatcher's timer) */
            xw_stack_unlock();
        }
        if (n < 0 || (n > 0 && p[1].revents) || !dispatching())
            break; /* woken (or a signal): the caller looks */
    }
    pthread_setcancelstate(cancel, NULL);
    lending_here = false;
    if (ev.ep >= 0)
        ep_set(EPOLL_CTL_ADD, fd, EP_EVT);
    atomic_store(&ev.lent, NULL);
    if (replan)
        (void)!write(ev.stop_fd, &(uint64_t){ 1 }, sizeof(uint64_t));
    return rc;
}

bool xw_rev_lent_to(const _Atomic unsigned *word)
{
    return atomic_load(&ev.lent) == word;
}

void xw_rev_kick_lender(void)
{
    if (!lending_here && !atomic_exchange(&ev.kicked, true))
        (void)!write(ev.lend_fd, &(uint64_t){ 1 }, sizeof(uint64_t));
}

/* The event fd back from a sleeper polling it (stopping). */
static void take_back(void)
{
    while (atomic_load(&ev.lent)) {
        if (!atomic_exchange(&ev.kicked, true))
            (void)!write(ev.lend_fd, &(uint64_t){ 1 }, sizeof(uint64_t));
        usleep(100);
    }
}

/* Satellite: every signal of the owner may be for any of our ports (it does
 * not say which); each route re-checks its ring, and the owner's dispatcher
 * has already kept storms out. */
static void *loop_sat(void *arg)
{
    struct pollfd pfd[2] = {
        { .fd = ev.fwd_fd, .events = POLLIN },
        { .fd = ev.stop_fd, .events = POLLIN },
    };
    uint64_t v;

    (void)arg;
    while (!ev.stop) {
        if (poll(pfd, 2, -1) < 0 && errno != EINTR)
            break;
        if (!(pfd[0].revents & POLLIN))
            continue;
        (void)!read(ev.fwd_fd, &v, sizeof(v));
        xw_stack_lock();
        xw_rev_routes_run_all();
        xw_stack_unlock();
    }
    return NULL;
}

/* Handles of domains that moved away, kept while channels may still map
 * through them (closed with the stack). */
static struct xw_xenif *retired[64];
static unsigned nretired;

static void *volatile parents[4];

/* The route table, the stop fd, and the dispatcher thread running fn; on
 * failure the caller undoes it with xw_rev_stop. */
static int run(void *(*fn)(void *))
{
    if (xw_rev_routes_open(ev.x, MAX_PORTS, ev.sat) < 0)
        return -ENOMEM;
    ev.routes = true;
    ev.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ev.stop_fd < 0)
        return -ENOMEM;
    if (!ev.sat) {
        ev.lend_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        ev.ep = epoll_create1(EPOLL_CLOEXEC);
        if (ev.lend_fd < 0 || ev.ep < 0 || ep_set(EPOLL_CTL_ADD, ev.stop_fd, EP_STOP) < 0 ||
            ep_set(EPOLL_CTL_ADD, xw_evtchn_fd(ev.x), EP_EVT) < 0)
            return -ENOMEM;
    }
    ev.stop = false;
    return xw_thread_start(&ev.thread, false, "xway-events", fn, NULL);
}

int xw_rev_satellite(int fwd_fd)
{
    struct xw_xenif *x = parents[0];
    int rc;

    /* The sim's handle is files: the parent's copy maps as well.  Xen's
     * gntdev maps only for the process that opened it: a handle of our own. */
    if (!x || (x->kind != XW_XENIF_SIM &&
               (x->kind != XW_XENIF_XEN || xw_xenif_xen_child(x, &x) < 0)))
        return -ENODEV;
    ev.x = x;
    ev.sat = true;
    ev.fwd_fd = fwd_fd;
    rc = run(loop_sat);
    if (rc < 0)
        xw_rev_stop(); /* (keeps the handle: a satellite's is its parent's) */
    return rc;
}

int xw_rev_start(const struct xw_config *c, char *err, size_t errlen)
{
    static const char *const names[] = { "auto", "xen", "sim", "off" };
    int rc;

    if (c->backend == XW_BACKEND_OFF)
        return 0;
    rc = xw_xenif_open((enum xw_xenif_kind)c->backend, c->host, c->domid, &ev.x);
    if (rc < 0) {
        /* The fast path is optional: connections stay TCP ("backend-off"),
         * unless the user asked for a backend by name. */
        if (c->backend != XW_BACKEND_AUTO) {
            snprintf(err, errlen, "XWAY_BACKEND=%s: %s", names[c->backend], strerror(-rc));
            return rc;
        }
        xw_info("no shared-memory backend (%s): connections use TCP", strerror(-rc));
        ev.x = NULL;
        return 0;
    }
    rc = run(loop);
    if (rc == 0) {
        xw_info("shared-memory backend %s: domain %u", ev.x->ops->name, ev.x->domid);
        return 0;
    }
    snprintf(err, errlen, "ring event thread: %s", strerror(-rc));
    xw_rev_stop();
    return rc;
}

void xw_rev_stop(void)
{
    uint64_t one = 1;

    if (ev.stop_fd >= 0 && ev.thread) {
        ev.stop = true;
        (void)!write(ev.stop_fd, &one, sizeof(one));
        take_back();
        pthread_join(ev.thread, NULL);
    }
    ev.thread = 0;
    if (ev.stop_fd >= 0)
        close(ev.stop_fd);
    if (ev.lend_fd >= 0)
        close(ev.lend_fd);
    if (ev.ep >= 0)
        close(ev.ep);
    ev.stop_fd = ev.lend_fd = ev.ep = -1;
    if (ev.routes)
        xw_rev_routes_close();
    ev.routes = false;
    /* A satellite's is its parent's copy (on Xen, with a grant handle of its
     * own), kept: channels may still be mapped through it. */
    if (ev.x && !ev.sat)
        xw_xenif_close(ev.x);
    while (nretired)
        xw_xenif_close(retired[--nretired]);
    ev.x = NULL;
    ev.sat = false;
    ev.fwd_fd = -1;
}

int xw_rev_move(const char *host)
{
    struct xw_xenif *nx = NULL, *old;
    int rc;

    if (!ev.x || ev.sat)
        return -ENODEV;
    if (ev.x->kind != XW_XENIF_SIM || nretired == sizeof(retired) / sizeof(retired[0]))
        return -EOPNOTSUPP;
    rc = xw_xenif_open(XW_XENIF_SIM, host, -1, &nx);
    if (rc < 0)
        return rc;
    xw_rev_pause();
    xw_stack_lock();
    old = ev.x;
    rc = xw_xenif_retire(old);
    if (rc < 0) {
        xw_stack_unlock();
        xw_xenif_close(nx);
        xw_rev_resume();
        return rc;
    }
    retired[nretired++] = old;
    ev.x = nx;
    if (ev.ep >= 0) {
        epoll_ctl(ev.ep, EPOLL_CTL_DEL, xw_evtchn_fd(old), NULL);
        ep_set(EPOLL_CTL_ADD, xw_evtchn_fd(nx), EP_EVT);
    }
    /* (every ring socket left the ring first: no route names an old port) */
    xw_rev_routes_rehandle(nx);
    xw_stack_unlock();
    return xw_rev_resume();
}

void xw_rev_pause(void)
{
    uint64_t v;

    if (ev.stop_fd < 0 || !ev.thread)
        return;
    ev.stop = true;
    (void)!write(ev.stop_fd, &(uint64_t){ 1 }, sizeof(uint64_t));
    take_back();
    pthread_join(ev.thread, NULL);
    ev.thread = 0;
    (void)!read(ev.stop_fd, &v, sizeof(v));
    ev.stop = false;
}

int xw_rev_resume(void)
{
    if (ev.stop_fd < 0 || ev.thread)
        return 0;
    return xw_thread_start(&ev.thread, false, "xway-events", loop, NULL);
}

/* A forked child's copy of the parent's state: kept reachable for leak
 * checkers; the handle is used again only by a satellite (xw_rev_satellite),
 * to map and notify (a satellite's child: the handle is still the one its
 * parent borrowed). */
void xw_rev_forget(void)
{
    void *kept[3];

    nretired = 0; /* (the parent's: reachable in retired[]) */
    if (ev.x && !ev.sat)
        parents[0] = ev.x;
    xw_rev_routes_forget(kept);
    xw_park_forget();
    parents[1] = kept[0];
    parents[2] = kept[1];
    parents[3] = kept[2];
    ev.x = NULL;
    ev.routes = false;
    ev.sat = false;
    ev.fwd_fd = -1;
    ev.thread = 0;
    ev.stop_fd = ev.lend_fd = ev.ep = -1; /* (the parent's) */
    ev.lent = NULL;
    ev.kicked = false;
    lending_here = false;
}

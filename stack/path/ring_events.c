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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
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
    /* Satellite (xw_rev_satellite): the fd the owner signals when one of our
     * ports fired. */
    bool sat;
    int fwd_fd;
} ev = { .stop_fd = -1, .fwd_fd = -1 };

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

static void *loop(void *arg)
{
    struct pollfd pfd[2] = {
        { .fd = xw_evtchn_fd(ev.x), .events = POLLIN },
        { .fd = ev.stop_fd, .events = POLLIN },
    };
    int timeout = -1, n;

    while (!ev.stop) {
        n = poll(pfd, 2, timeout);
        if (n < 0 && errno != EINTR)
            break;
        if (n == 0 || pfd[0].revents)
            timeout = dispatch();
    }
    return NULL;
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
        pthread_join(ev.thread, NULL);
    }
    ev.thread = 0;
    if (ev.stop_fd >= 0)
        close(ev.stop_fd);
    ev.stop_fd = -1;
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
    parents[1] = kept[0];
    parents[2] = kept[1];
    parents[3] = kept[2];
    ev.x = NULL;
    ev.routes = false;
    ev.sat = false;
    ev.fwd_fd = -1;
    ev.thread = 0;
    ev.stop_fd = -1;
}

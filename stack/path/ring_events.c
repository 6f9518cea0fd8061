/* The fast path's backend handle and its event dispatcher.
 *
 * All ring connections of the process share one netif-xway handle (one domain),
 * whose event channels arrive on a single fd.  A dedicated thread waits on it,
 * takes each pending port and calls what the port's owner attached (the ring
 * path: wake the socket's sleepers and refresh its pollable fd).
 * The data path itself never comes here while both sides are busy: it spins,
 * and only a side that goes to sleep asks to be woken.
 *
 * Event storms (Xen's XSA-391; Linux's "lateeoi" answer): a port, once
 * delivered, stays masked until we unmask it, and notifies to a masked port
 * cost us nothing.  An event whose route found nothing new is spurious; after
 * SPURIOUS_FREE of them in a row the port stays masked for 1, 2, 4 ... up to
 * DELAY_MAX_MS milliseconds before the next event is taken, and one event with
 * news unmasks it at once again.  So a peer that kicks in a tight loop costs at
 * most a few events per DELAY_MAX_MS; an honest peer notifies only after
 * publishing something, and its waiters re-check at least every slice anyway.
 *
 * Locking: the port table and what its entries point to are protected by the
 * stack lock, which the dispatcher takes once per batch of events.
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
#include "stack.h"
#include "thread.h"

#define MAX_PORTS (1u << 17) /* Xen's FIFO event-channel ABI limit */
#define SPURIOUS_FREE 8      /* spurious events in a row before a port waits */
#define DELAY_MAX_MS 100     /* a storming port's longest mask; its pending event
                                is delivered when it is unmasked */

struct route {
    bool (*fn)(void *arg);
    void *arg;
    unsigned spurious; /* events in a row that brought nothing new */
    uint64_t unmask_at; /* ms: masked until then (in ev.delayed); 0: not */
};

static struct {
    struct xw_xenif *x;
    struct route *ports; /* local port -> what to call */
    int *delayed;        /* ports kept masked, unmasked at their unmask_at */
    size_t ndelayed, cap;
    pthread_t thread;
    int stop_fd;
    _Atomic bool stop;
    /* Satellite (xw_rev_satellite): the attached ports, and the fd the owner
     * signals when one of them fired. */
    bool sat;
    int fwd_fd;
    int *live;
    size_t nlive, livecap;
} ev = { .stop_fd = -1, .fwd_fd = -1 };

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct xw_xenif *xw_rev_xenif(void)
{
    return ev.x;
}

/* Take port off the delayed list (it stays masked: the caller unmasks or
 * unbinds it). */
static void undelay(int port)
{
    for (size_t i = 0; i < ev.ndelayed; i++)
        if (ev.delayed[i] == port) {
            ev.delayed[i] = ev.delayed[--ev.ndelayed];
            break;
        }
    ev.ports[port].unmask_at = 0;
}

int xw_rev_attach(int port, bool (*fn)(void *arg), void *arg)
{
    if (port < 0 || (unsigned)port >= MAX_PORTS || ev.ports[port].fn)
        return -EINVAL;
    if (ev.ports[port].unmask_at) { /* a former owner's storm: forgotten */
        undelay(port);
        xw_evtchn_unmask(ev.x, (uint32_t)port);
    }
    if (ev.sat && ev.nlive == ev.livecap) {
        size_t cap = ev.livecap ? 2 * ev.livecap : 16;
        int *l = realloc(ev.live, cap * sizeof(*l));
        if (!l)
            return -ENOMEM;
        ev.live = l;
        ev.livecap = cap;
    }
    if (ev.sat)
        ev.live[ev.nlive++] = port;
    ev.ports[port] = (struct route){ fn, arg, 0, 0 };
    return 0;
}

void xw_rev_detach(int port, void *arg)
{
    if (ev.ports && port >= 0 && (unsigned)port < MAX_PORTS && ev.ports[port].arg == arg) {
        ev.ports[port].fn = NULL;
        ev.ports[port].arg = NULL;
        for (size_t i = 0; i < ev.nlive; i++)
            if (ev.live[i] == port) {
                ev.live[i] = ev.live[--ev.nlive];
                break;
            }
    }
}

/* After port's event: unmask it now, or keep it masked for a while when it has
 * brought nothing new too often in a row (without memory for the list: now). */
static void finish(int port, bool news, uint64_t now)
{
    struct route *r = &ev.ports[port];
    unsigned extra, delay;

    r->spurious = news ? 0 : r->spurious + (r->spurious < 64);
    if (r->spurious <= SPURIOUS_FREE) {
        xw_evtchn_unmask(ev.x, (uint32_t)port);
        return;
    }
    if (!r->unmask_at && ev.ndelayed == ev.cap) {
        size_t cap = ev.cap ? 2 * ev.cap : 64;
        int *d = realloc(ev.delayed, cap * sizeof(*d));
        if (!d) {
            xw_evtchn_unmask(ev.x, (uint32_t)port);
            return;
        }
        ev.delayed = d;
        ev.cap = cap;
    }
    if (!r->unmask_at) /* (a port unbound and bound again may still be listed) */
        ev.delayed[ev.ndelayed++] = port;
    extra = r->spurious - SPURIOUS_FREE - 1;
    delay = extra < 7 ? 1u << extra : DELAY_MAX_MS;
    r->unmask_at = now + (delay < DELAY_MAX_MS ? delay : DELAY_MAX_MS);
}

/* Unmask the delayed ports that are due; the milliseconds until the next one
 * (poll's timeout), or -1 when none waits. */
static int unmask_due(uint64_t now)
{
    uint64_t next = UINT64_MAX;

    for (size_t i = 0; i < ev.ndelayed;) {
        int port = ev.delayed[i];
        if (ev.ports[port].unmask_at <= now) {
            undelay(port);
            xw_evtchn_unmask(ev.x, (uint32_t)port);
            continue;
        }
        if (ev.ports[port].unmask_at < next)
            next = ev.ports[port].unmask_at;
        i++;
    }
    return next == UINT64_MAX ? -1 : (int)(next - now);
}

/* Take every pending port (bounded per round, so an event storm cannot starve
 * the others), call its route, then unmask it or keep it masked a while.
 * Returns poll's next timeout. */
static int dispatch_locked(void);

static int dispatch(void)
{
    int timeout;

    xw_stack_lock();
    timeout = dispatch_locked();
    xw_stack_unlock();
    return timeout;
}

static int dispatch_locked(void)
{
    uint64_t now = now_ms();
    int port, n = 0, timeout;

    timeout = unmask_due(now);
    while (n++ < 4096 && (port = xw_evtchn_pending(ev.x)) >= 0) {
        struct route *r = (unsigned)port < MAX_PORTS ? &ev.ports[port] : NULL;
        if (!r) {
            xw_evtchn_unmask(ev.x, (uint32_t)port);
            continue;
        }
        finish(port, r->fn ? r->fn(r->arg) : false, now);
        if (r->unmask_at && (timeout < 0 || r->unmask_at - now < (uint64_t)timeout))
            timeout = (int)(r->unmask_at - now);
    }
    return timeout;
}

/* Only while this process's dispatcher runs: a process whose stack went on
 * in a keeper (xw_rev_pause) still holds the event fd, which is the keeper's
 * now; events it took would never reach the keeper's routes. */
static bool dispatching(void)
{
    return ev.x && !ev.sat && ev.ports && !ev.stop && ev.thread;
}

int xw_rev_wait_fd(void)
{
    return dispatching() ? xw_evtchn_fd(ev.x) : -1;
}

void xw_rev_dispatch_now(void)
{
    xw_stack_lock();
    if (dispatching())
        (void)dispatch_locked(); /* (delays: the dispatcher woke too, it recomputes) */
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
        for (size_t i = 0; i < ev.nlive; i++) {
            struct route *r = &ev.ports[ev.live[i]];
            if (r->fn)
                r->fn(r->arg);
        }
        xw_stack_unlock();
    }
    return NULL;
}

/* Handles of domains that moved away, kept while channels may still map
 * through them (closed with the stack). */
static struct xw_xenif *retired[64];
static unsigned nretired;

static void *volatile parents[5];

/* The route table, the stop fd, and the dispatcher thread running fn; on
 * failure the caller undoes it with xw_rev_stop. */
static int run(void *(*fn)(void *))
{
    ev.ports = calloc(MAX_PORTS, sizeof(*ev.ports));
    ev.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!ev.ports || ev.stop_fd < 0)
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
    free(ev.ports);
    ev.ports = NULL;
    free(ev.delayed);
    ev.delayed = NULL;
    ev.ndelayed = ev.cap = 0;
    free(ev.live);
    ev.live = NULL;
    ev.nlive = ev.livecap = 0;
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
    memset(ev.ports, 0, MAX_PORTS * sizeof(*ev.ports));
    ev.ndelayed = 0;
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
    nretired = 0; /* (the parent's: reachable in retired[]) */
    if (ev.x && !ev.sat) {
        parents[0] = ev.x;
        parents[1] = ev.ports;
        parents[2] = ev.delayed;
    } else if (ev.sat) {
        parents[3] = ev.ports;
        parents[4] = ev.live;
    }
    ev.x = NULL;
    ev.ports = NULL;
    ev.delayed = NULL;
    ev.ndelayed = ev.cap = 0;
    ev.live = NULL;
    ev.nlive = ev.livecap = 0;
    ev.sat = false;
    ev.fwd_fd = -1;
    ev.thread = 0;
    ev.stop_fd = -1;
}

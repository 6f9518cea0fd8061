/* The fast path's backend handle and its event dispatcher.
 *
 * All ring connections of the process share one netif-xway handle (one domain),
 * whose event channels arrive on a single fd.  A dedicated thread waits on it,
 * takes each pending port and calls what the port's owner attached (the ring
 * path: wake the socket's sleepers and refresh its pollable fd).
 * The data path itself never comes here while both sides are busy: it spins,
 * and only a side that goes to sleep asks to be woken.
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
#include <unistd.h>

#include "log.h"
#include "stack.h"

#define MAX_PORTS (1u << 17) /* Xen's FIFO event-channel ABI limit */

struct route {
    void (*fn)(void *arg);
    void *arg;
};

static struct {
    struct xw_xenif *x;
    struct route *ports; /* local port -> what to call */
    pthread_t thread;
    int stop_fd;
    _Atomic bool stop;
} ev = { .stop_fd = -1 };

struct xw_xenif *xw_rev_xenif(void)
{
    return ev.x;
}

int xw_rev_attach(int port, void (*fn)(void *arg), void *arg)
{
    if (port < 0 || (unsigned)port >= MAX_PORTS || ev.ports[port].fn)
        return -EINVAL;
    ev.ports[port] = (struct route){ fn, arg };
    return 0;
}

void xw_rev_detach(int port, void *arg)
{
    if (ev.ports && port >= 0 && (unsigned)port < MAX_PORTS && ev.ports[port].arg == arg)
        ev.ports[port] = (struct route){ NULL, NULL };
}

/* Take every pending port (bounded per round, so an event storm cannot starve
 * the others) and call its route. */
static void dispatch(void)
{
    int port, n = 0;

    xw_stack_lock();
    while (n++ < 4096 && (port = xw_evtchn_pending(ev.x)) >= 0) {
        xw_evtchn_unmask(ev.x, (uint32_t)port);
        if ((unsigned)port < MAX_PORTS && ev.ports[port].fn)
            ev.ports[port].fn(ev.ports[port].arg);
    }
    xw_stack_unlock();
}

static void *loop(void *arg)
{
    struct pollfd pfd[2] = {
        { .fd = xw_evtchn_fd(ev.x), .events = POLLIN },
        { .fd = ev.stop_fd, .events = POLLIN },
    };

    while (!ev.stop) {
        if (poll(pfd, 2, -1) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents)
            dispatch();
    }
    return NULL;
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
    ev.ports = calloc(MAX_PORTS, sizeof(*ev.ports));
    ev.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!ev.ports || ev.stop_fd < 0) {
        rc = -ENOMEM;
        goto out;
    }
    ev.stop = false;
    rc = -pthread_create(&ev.thread, NULL, loop, NULL);
    if (rc < 0)
        goto out;
    xw_info("shared-memory backend %s: domain %u", ev.x->ops->name, ev.x->domid);
    return 0;
out:
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
    if (ev.x)
        xw_xenif_close(ev.x);
    ev.x = NULL;
}

void xw_rev_forget(void)
{
    ev.x = NULL;
    ev.ports = NULL;
    ev.thread = 0;
    ev.stop_fd = -1;
}

/* The core's threadless host (include/xway_core.h): what the connection
 * logic asks of the stack that runs it (host.h, socket.h, ring_path.h), for
 * one thread that drives lwIP, the handshake and the rings from its own loop.
 * Part of the core; the Linux library is the other host (its threads, the
 * readiness fds, the shim) and does not link this file.
 *
 * Sockets are always nonblocking here, so nothing ever waits: a call that
 * cannot go on returns -EAGAIN, and the environment's loop waits for frames
 * and events instead.  Readiness is computed when asked (xway_core_events),
 * so publishing it is nothing. */
#include <errno.h>
#include <string.h>

#include "host.h"
#include "log.h"
#include "lwip/ip.h"
#include "lwip/netif.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "negotiate.h"
#include "path.h"
#include "ring_path.h"
#include "ring_routes.h"
#include "socket.h"
#include "switch.h"
#include "tcp_path.h"
#include "waiter.h"
#include "xway_core.h"

#define DEFAULT_PORTS 4096
#define DEFAULT_SOCKETS 64

static struct {
    bool running;
    struct xway_core_config cfg;
    struct xw_sock **table; /* handle -> socket */
    unsigned cap;
    uint64_t last_id;
} lp;

/* ---- host.h -------------------------------------------------------------------- */

void xw_stack_lock(void) {}
void xw_stack_unlock(void) {}

/* Deliver what lwIP looped back to ourselves (a connection to our own
 * address), and let the link send what it batched. */
void xw_stack_leave(void)
{
    netif_poll_all();
    if (lp.cfg.flush)
        lp.cfg.flush(lp.cfg.flush_arg);
}

uint32_t xw_stack_ring_bytes(void)
{
    return lp.cfg.ring_bytes;
}

uint16_t xw_stack_tcp_seg(const struct tcp_pcb *pcb)
{
    return pcb->mss; /* (the environment's link gets segments of the MSS) */
}

int xw_stack_route_check(const ip_addr_t *dst)
{
    if (ip_addr_isloopback(dst))
        return 0;
    if (IP_IS_V4(dst))
        return ip4_route(ip_2_ip4(dst)) ? 0 : -ENETUNREACH;
    return ip6_route(NULL, ip_2_ip6(dst)) ? 0 : -ENETUNREACH;
}

/* ---- socket.h: the table, readiness, waits ------------------------------------- */

int xw_sock_new(int domain, bool nonblock, bool cloexec, bool connected, struct xw_sock **out)
{
    struct xw_sock *s;
    unsigned h;

    (void)nonblock;
    (void)cloexec;
    (void)connected;
    for (h = 0; h < lp.cap && lp.table[h]; h++)
        ;
    if (h == lp.cap)
        return -EMFILE;
    s = xway_port_calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    xw_sock_init(s, (int)h, ++lp.last_id, domain, true);
    lp.table[h] = s;
    *out = s;
    return 0;
}

void xw_sock_put(struct xw_sock *s)
{
    if (--s->refs > 0)
        return;
    xw_path_release(s);
    xway_port_free(s->acceptq);
    xway_port_free(s);
}

void xw_sock_free(struct xw_sock *s)
{
    if (s->fd >= 0 && (unsigned)s->fd < lp.cap && lp.table[s->fd] == s)
        lp.table[s->fd] = NULL;
    s->closing = true;
    xw_tcp_forget(s);
    xw_path_of(s)->wake(s);
    xw_sock_put(s);
}

void xw_sock_foreach(void (*fn)(struct xw_sock *s))
{
    for (unsigned h = 0; h < lp.cap; h++)
        if (lp.table[h])
            fn(lp.table[h]);
}

void xw_sock_changed(struct xw_sock *s)
{
    xw_path_of(s)->changed(s);
}

int xw_sock_wait(struct xw_sock *s, uint64_t deadline_us)
{
    (void)s;
    (void)deadline_us;
    return -ETIMEDOUT; /* (never reached: every socket is nonblocking) */
}

uint64_t xw_deadline(uint64_t timeo_us)
{
    (void)timeo_us;
    return 0;
}

void xw_sock_ready_begin(struct xw_sock *s) { (void)s; }
void xw_sock_ready_end(struct xw_sock *s) { (void)s; }
void xw_sock_ready_set(struct xw_sock *s, bool rd, bool wr) { (void)s, (void)rd, (void)wr; }
void xw_sock_ready_pulse(struct xw_sock *s) { (void)s; }
void xw_sock_ready_ends(struct xw_sock *s, bool rdhup, bool hup, bool err)
{
    (void)s, (void)rdhup, (void)hup, (void)err;
}

void xw_sock_ready_shown(struct xw_sock *s, bool *rd, bool *wr)
{
    xw_path_of(s)->readiness(s, false, rd, wr);
}

/* ---- ring_path.h, waiter.h: nothing sleeps, nobody else steps on a ring ------ */

int xw_rpath_wait(struct xw_sock *s, int events, uint64_t deadline_us)
{
    (void)s;
    (void)events;
    (void)deadline_us;
    return -ETIMEDOUT; /* (never reached: every socket is nonblocking) */
}

void xw_rpath_leave_wait(struct xw_sock *s) { (void)s; }
void xw_rpath_wake(struct xw_sock *s) { atomic_fetch_add(&s->ring.seq, 1); }
void xw_rpath_yield(void) {}
void xw_watchers_signal(struct xw_sock *s) { (void)s; }

/* ---- the loop -------------------------------------------------------------------- */

int xway_core_init(const struct xway_core_config *cfg)
{
    struct xway_core_config c = cfg ? *cfg : (struct xway_core_config){ 0 };
    int rc;

    if (lp.running)
        return -EALREADY;
    if (!c.ring_bytes)
        c.ring_bytes = XW_CHAN_DEFAULT_RING;
    if (c.ring_bytes < XW_CHAN_MIN_RING || c.ring_bytes > XW_CHAN_MAX_RING ||
        (c.ring_bytes & (c.ring_bytes - 1)))
        return -EINVAL;
    if (!c.max_ports)
        c.max_ports = DEFAULT_PORTS;
    if (!c.max_sockets)
        c.max_sockets = DEFAULT_SOCKETS;
    lp.table = xway_port_calloc(c.max_sockets, sizeof(*lp.table));
    if (!lp.table)
        return -ENOMEM;
    if (c.backend && (rc = xw_rev_routes_open(c.backend, c.max_ports, false)) < 0) {
        xway_port_free(lp.table);
        lp.table = NULL;
        return rc;
    }
    lp.cfg = c;
    lp.cap = c.max_sockets;
    xw_neg_start(XW_FAULT_NONE);
    lp.running = true;
    xw_info("core started: %s backend, %u sockets, rings of %u bytes",
            c.backend ? c.backend->ops->name : "no", c.max_sockets, c.ring_bytes);
    return 0;
}

static void reset_one(struct xw_sock *s)
{
    xw_tcp_release(s, true);
    xw_sock_free(s);
}

void xway_core_fini(void)
{
    if (!lp.running)
        return;
    xw_sock_foreach(reset_one);
    xw_stack_leave();
    if (lp.cfg.backend)
        xw_rev_routes_close();
    xway_port_free(lp.table);
    memset(&lp, 0, sizeof(lp));
}

int xway_core_draining(void)
{
    return lp.running && xw_tcp_output_pending();
}

int xway_core_poll(void)
{
    int ev, tm;
    u32_t sleep;

    if (!lp.running)
        return -1;
    ev = xw_rev_routes_dispatch();
    sys_check_timeouts();
    xw_stack_leave();
    sleep = sys_timeouts_sleeptime();
    tm = sleep == SYS_TIMEOUTS_SLEEPTIME_INFINITE ? -1 : (int)sleep;
    if (ev >= 0 && (tm < 0 || ev < tm))
        tm = ev;
    return tm;
}

/* ---- sockets ------------------------------------------------------------------- */

static struct xw_sock *sock_of(int h)
{
    return lp.running && h >= 0 && (unsigned)h < lp.cap ? lp.table[h] : NULL;
}

static int family_ok(const struct xw_sock *s, const ip_addr_t *ip)
{
    return (s->domain == XW_AF_INET) == IP_IS_V4(ip) ? 0 : -EAFNOSUPPORT;
}

int xway_core_socket(int family)
{
    struct xw_sock *s;
    int rc;

    if (!lp.running)
        return -ENETDOWN;
    if (family != XW_AF_INET && family != XW_AF_INET6)
        return -EAFNOSUPPORT;
    rc = xw_sock_new(family, true, false, false, &s);
    return rc < 0 ? rc : s->fd;
}

int xway_core_bind(int h, const ip_addr_t *ip, uint16_t port)
{
    struct xw_sock *s = sock_of(h);
    int rc;

    if (!s)
        return -EBADF;
    rc = family_ok(s, ip);
    return rc < 0 ? rc : xw_tcp_bind(s, ip, port);
}

int xway_core_listen(int h, int backlog)
{
    struct xw_sock *s = sock_of(h);
    int rc;

    if (!s)
        return -EBADF;
    rc = xw_tcp_listen(s, backlog);
    xw_stack_leave();
    return rc;
}

int xway_core_accept(int h, ip_addr_t *ip, uint16_t *port)
{
    struct xw_sock *l = sock_of(h), *c;

    if (!l)
        return -EBADF;
    if (l->state != XW_SS_LISTEN)
        return -EINVAL;
    c = xw_tcp_accept_next(l);
    xw_stack_leave();
    if (!c)
        return -EAGAIN;
    if (ip && c->tcp.pcb)
        ip_addr_copy(*ip, c->tcp.pcb->remote_ip);
    else if (ip)
        ip_addr_set_zero(ip);
    if (port)
        *port = c->tcp.pcb ? c->tcp.pcb->remote_port : 0;
    return c->fd;
}

int xway_core_connect(int h, const ip_addr_t *ip, uint16_t port)
{
    struct xw_sock *s = sock_of(h);
    int rc;

    if (!s)
        return -EBADF;
    rc = family_ok(s, ip);
    if (rc == 0 && ip_addr_isany(ip))
        rc = -ECONNREFUSED;
    if (rc == 0)
        rc = xw_tcp_connect(s, ip, port);
    xw_stack_leave();
    return rc < 0 ? rc : -EINPROGRESS;
}

/* One call on the connection's path; a call that found the path changed
 * under it (path.h: the switch) is made again on the new one. */
static ssize_t io(int h, bool sending, void *buf, size_t len)
{
    struct xw_sock *s = sock_of(h);
    struct iovec iov = { buf, len };
    const struct xw_path_ops *ops;
    ssize_t rc;

    if (!s)
        return -EBADF;
    if (xw_zc_busy(s, sending))
        return -EBUSY;
    do {
        ops = xw_path_of(s);
        s->sw.ring_calls++;
        rc = sending ? ops->send(s, &iov, 1, len, XW_MSG_DONTWAIT)
                     : ops->recv(s, &iov, 1, len, XW_MSG_DONTWAIT);
        s->sw.ring_calls--;
        xw_switch_ring_idle(s);
    } while (rc == -EAGAIN && !s->closing && xw_path_of(s) != ops);
    xw_stack_leave();
    return rc;
}

ssize_t xway_core_send(int h, const void *buf, size_t len)
{
    return io(h, true, (void *)(uintptr_t)buf, len);
}

ssize_t xway_core_recv(int h, void *buf, size_t len)
{
    return io(h, false, buf, len);
}

/* Open a view or a reservation; the switch rule as io()'s. */
static ssize_t zc_open(int h, bool sending, size_t want, struct iovec seg[2])
{
    struct xw_sock *s = sock_of(h);
    const struct xw_path_ops *ops;
    ssize_t rc;

    if (!s)
        return -EBADF;
    if (sending && !want)
        return -EINVAL;
    do {
        ops = xw_path_of(s);
        rc = xw_sock_zc_open(s, sending, want, seg, true);
    } while (rc == -EAGAIN && !s->closing && xw_path_of(s) != ops);
    xw_stack_leave();
    return rc;
}

static ssize_t zc_close(int h, bool sending, size_t n)
{
    struct xw_sock *s = sock_of(h);
    ssize_t rc;

    if (!s)
        return -EBADF;
    rc = xw_sock_zc_close(s, sending, n, XW_MSG_DONTWAIT | XW_MSG_NOSIGNAL);
    xw_stack_leave();
    return rc;
}

ssize_t xway_core_zc_view(int h, struct iovec seg[2])
{
    return zc_open(h, false, 0, seg);
}

int xway_core_zc_consume(int h, size_t n)
{
    return (int)zc_close(h, false, n);
}

ssize_t xway_core_zc_reserve(int h, size_t want, struct iovec seg[2])
{
    return zc_open(h, true, want, seg);
}

ssize_t xway_core_zc_commit(int h, size_t n)
{
    return zc_close(h, true, n);
}

int xway_core_shutdown(int h)
{
    struct xw_sock *s = sock_of(h);
    int rc;

    if (!s)
        return -EBADF;
    rc = xw_tcp_shutdown(s, false, true);
    xw_stack_leave();
    return rc;
}

int xway_core_close(int h)
{
    struct xw_sock *s = sock_of(h);
    bool reset;

    if (!s)
        return -EBADF;
    s->closing = true;
    reset = xw_sock_close_begin(s);
    xw_tcp_release(s, reset);
    xw_sock_free(s);
    xw_stack_leave();
    return 0;
}

int xway_core_events(int h)
{
    struct xw_sock *s = sock_of(h);
    bool rd, wr;

    if (!s)
        return -EBADF;
    xw_path_of(s)->readiness(s, false, &rd, &wr);
    return (rd ? XWAY_CORE_IN : 0) | (wr ? XWAY_CORE_OUT : 0) |
           (atomic_load(&s->err) ? XWAY_CORE_ERR : 0);
}

int xway_core_error(int h)
{
    struct xw_sock *s = sock_of(h);
    int e;

    if (!s)
        return -EBADF;
    e = atomic_exchange(&s->err, 0);
    xw_sock_changed(s);
    return e;
}

int xway_core_info(int h, struct xway_conn_info *ci)
{
    struct xw_sock *s = sock_of(h);

    if (!s)
        return -EBADF;
    xw_path_info(s, ci);
    return 0;
}

void xway_core_stats(struct xway_stats *st)
{
    xw_neg_stats(st);
}

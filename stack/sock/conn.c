/* The socket layer's connection logic that every host shares (part of the
 * core): a new socket's defaults, a zero-copy view's and reservation's state,
 * closing a socket, closing every socket. */
#include <errno.h>
#include <stddef.h>

#include "lwip/tcp.h"
#include "log.h"
#include "path.h"
#include "socket.h"
#include "switch.h"
#include "tcp_path.h"

void xw_sock_init(struct xw_sock *s, int fd, uint64_t id, int domain, bool nonblock)
{
    s->fd = fd;
    s->id = id;
    s->domain = domain;
    s->nonblock = nonblock;
    s->refs = 1;
    s->rcvbuf = TCP_WND;
    s->sndbuf = TCP_SND_BUF;
    s->keepidle = 7200; /* (Linux's defaults) */
    s->keepintvl = 75;
    s->keepcnt = 9;
    atomic_store(&s->ops, &xw_tcp_ops); /* every connection starts as TCP */
}

static bool zc_take(struct xw_zc_dir *d, int from, int to)
{
    return atomic_compare_exchange_strong(&d->state, &from, to);
}

ssize_t xw_sock_zc_open(struct xw_sock *s, bool sending, size_t want, struct iovec seg[2],
                        bool nonblock)
{
    struct xw_zc_dir *d = sending ? &s->zc_tx : &s->zc_rx;
    const struct xw_path_ops *ops = xw_path_of(s);
    ssize_t n;

    if (s->state == XW_SS_LISTEN)
        return -ENOTCONN;
    if (!zc_take(d, XW_ZC_NONE, XW_ZC_OPENING))
        return -EALREADY;
    n = sending ? ops->zc_reserve(s, want, seg, nonblock) : ops->zc_view(s, seg, nonblock);
    if (n <= 0) {
        atomic_store(&d->state, XW_ZC_NONE);
        return n;
    }
    d->ops = ops;
    d->len = (size_t)n;
    atomic_store(&d->state, XW_ZC_OPEN);
    return n;
}

ssize_t xw_sock_zc_close(struct xw_sock *s, bool sending, size_t n, int flags)
{
    struct xw_zc_dir *d = sending ? &s->zc_tx : &s->zc_rx;
    ssize_t rc = 0;

    if (!zc_take(d, XW_ZC_OPEN, XW_ZC_CLOSING))
        return -EINVAL;
    if (n > d->len) {
        atomic_store(&d->state, XW_ZC_OPEN);
        return -EINVAL;
    }
    if (sending)
        rc = d->ops->zc_commit(s, n, flags);
    else
        d->ops->zc_consume(s, n);
    atomic_store(&d->state, XW_ZC_NONE);
    return rc;
}

bool xw_sock_close_begin(struct xw_sock *s)
{
    const struct xw_path_ops *ops = xw_path_of(s);
    bool reset;

    /* Connections queued on a listener and never accepted are reset. */
    while (s->state == XW_SS_LISTEN && s->aq_len) {
        struct xw_sock *c = xw_tcp_accept_next(s);
        xw_tcp_release(c, true);
        xw_sock_free(c);
    }
    if (s->state == XW_SS_LISTEN)
        xw_sock_close_children(s);
    reset = (s->linger_on && s->linger_s == 0) || s->tcp.rx_len > 0;
    if (!reset && xw_switch_unfinished(s)) {
        /* (our bytes the ring held are not all with TCP: a FIN would cut them) */
        xw_warn("fd %d: closed in the middle of a switch to TCP: connection reset", s->fd);
        reset = true;
    }
    if (reset && ops->reset)
        ops->reset(s);
    else if (!reset && ops->shutdown_wr)
        ops->shutdown_wr(s); /* the peer reads EOF after our last byte */
    return reset;
}

static struct xw_sock *closing_listener; /* (lock held) */

static void close_child(struct xw_sock *s)
{
    if (s->listener != closing_listener)
        return;
    s->listener = NULL;
    xw_tcp_release(s, true);
    xw_sock_free(s);
}

void xw_sock_close_children(struct xw_sock *l)
{
    closing_listener = l;
    xw_sock_foreach(close_child);
    closing_listener = NULL;
}

static void close_one(struct xw_sock *s)
{
    xw_tcp_release(s, false);
    xw_sock_free(s);
}

void xw_sock_close_all(void)
{
    xw_sock_foreach(close_one);
}

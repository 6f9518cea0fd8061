/* xwperf server, event-loop mode (-s --epoll): one thread, one epoll set, every
 * connection a state machine (hello, payload, result), the way event-driven
 * servers are written.  Serves --rr (an echo that verifies every byte, so
 * pipelined requests work), bulk (also --zc: checked in place, in nonblocking
 * xway_zc_recv views) and --connect-rate tests; --bidir is refused (status
 * "bad protocol").  On the xway stack the connections' fds are the
 * kernel's epoll's with XWAY_POLLED (include/xway.h); under xway-run, with
 * --kernel, the shim's epoll serves them. */
#include "xwperf.h"
#include "proto.h"
#include "verify.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define CHUNK (64u << 10)
#define OUT_MAX (256u << 10) /* echo backlog: reading stops above it */

enum { S_HELLO, S_PAYLOAD, S_RESULT };

struct evc {
    int fd;
    int state;
    struct xwp_hello h;
    struct xwp_result r;
    unsigned char hello[XWP_HELLO_LEN];
    size_t hello_got;
    uint64_t start;         /* the client's pattern offset */
    unsigned char *out;     /* S_PAYLOAD: echo backlog; S_RESULT: the result */
    size_t out_off, out_len, out_cap;
    uint32_t events;        /* registered */
};

struct evs {
    const struct xwp_opts *o;
    int ep;
    bool have_test;
    uint64_t test_id;
    uint32_t test_nconn, test_done;
    int rc;
    unsigned char buf[CHUNK];
};

static void watch(struct evs *v, struct evc *c, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };

    if (events != c->events && epoll_ctl(v->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->events = events;
}

static void finish(struct evs *v, struct evc *c, int rc)
{
    struct linger lg = { 1, 5 }; /* the result is delivered before a -1 server exits */

    if (rc == 2)
        fprintf(stderr, "xwperf: conn %u/%u: %s test failed\n", c->h.conn_idx + 1, c->h.nconn,
                xwp_mode_name((int)c->h.mode));
    if (c->state != S_HELLO) {
        if (!v->have_test) {
            v->have_test = true;
            v->test_id = c->h.test_id;
            v->test_nconn = c->h.nconn;
        }
        if (c->h.test_id == v->test_id) {
            v->test_done++;
            if (rc && !v->rc)
                v->rc = rc;
        }
    }
    epoll_ctl(v->ep, EPOLL_CTL_DEL, c->fd, NULL);
    v->o->ops->setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    v->o->ops->close(c->fd);
    free(c->out);
    free(c);
}

/* Queue n bytes for sending (what was sent moves out of the way first). */
static bool queue(struct evc *c, const void *p, size_t n)
{
    if (c->out_off) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : CHUNK;
        unsigned char *nb;
        while (cap < c->out_len + n)
            cap *= 2;
        if (!(nb = realloc(c->out, cap)))
            return false;
        c->out = nb;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return true;
}

/* Send what is queued without waiting: 0, or -errno. */
static int flush(struct evs *v, struct evc *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = v->o->ops->send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                                    MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno == EINTR ? 0 : -errno;
        c->out_off += (size_t)n;
    }
    return 0;
}

static void start_result(struct evc *c)
{
    uint64_t up = xwp_pattern_start(c->h.seed, c->h.conn_idx, XWP_DIR_UP);
    unsigned char res[XWP_RESULT_LEN];
    bool bad = c->r.bad_off >= 0;

    c->r.status = bad ? XWP_BAD_DATA : c->r.status;
    c->r.rx_csum = bad ? xwp_stream_digest_bad(up, c->r.rx_bytes) : xwp_stream_digest(up, c->r.rx_bytes);
    c->r.tx_csum = bad ? xwp_stream_digest_bad(up, c->r.tx_bytes) : xwp_stream_digest(up, c->r.tx_bytes);
    xwp_result_encode(&c->r, res);
    c->state = S_RESULT;
    queue(c, res, sizeof(res));
}

/* Payload bytes arrived: verify, echo (--rr). */
static bool payload(struct evc *c, const unsigned char *p, size_t n)
{
    long bad = xwp_pattern_check(p, n, c->start + c->r.rx_bytes);

    if (bad >= 0 && c->r.bad_off < 0)
        c->r.bad_off = (int64_t)(c->r.rx_bytes + (uint64_t)bad);
    c->r.rx_bytes += n;
    if (c->h.mode != XWP_RR)
        return true;
    c->r.tx_bytes += n;
    return queue(c, p, n);
}

/* --zc: what is readable now, checked where it lies and consumed, CHUNK bytes
 * a view at most (the sender refills behind the checker, as behind a recv of
 * that size).  0 (wait for more), 1 at the client's EOF, or -errno. */
static int payload_zc(struct evs *v, struct evc *c)
{
    const struct xwp_ops *ops = v->o->ops;
    struct xway_zc z;

    for (;;) {
        ssize_t n = ops->zc_recv(c->fd, &z, MSG_DONTWAIT);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
        if (n == 0)
            return 1;
        size_t len = z.len < CHUNK ? z.len : CHUNK;
        size_t len0 = len < z.seg[0].iov_len ? len : z.seg[0].iov_len;
        payload(c, z.seg[0].iov_base, len0); /* bulk: no echo to queue */
        payload(c, z.seg[1].iov_base, len - len0);
        if (ops->zc_recv_done(c->fd, len) < 0)
            return -errno;
    }
}

static bool hello_in(const struct xwp_ops *ops, struct evc *c, const unsigned char *p, size_t n,
                     size_t *used)
{
    size_t k = XWP_HELLO_LEN - c->hello_got;

    if (k > n)
        k = n;
    memcpy(c->hello + c->hello_got, p, k);
    c->hello_got += k;
    *used = k;
    if (c->hello_got < XWP_HELLO_LEN)
        return true;
    if (xwp_hello_decode(c->hello, &c->h) < 0)
        return false;
    c->start = xwp_pattern_start(c->h.seed, c->h.conn_idx, XWP_DIR_UP);
    c->state = S_PAYLOAD;
    if ((c->h.flags & XWP_F_ZC) && ops->zc_recv) /* else copied, and the result says so */
        c->r.flags |= XWP_F_ZC;
    if (c->h.mode == XWP_BIDIR) {
        c->r.status = XWP_BAD_PROTO;
        start_result(c);
    } else if (c->h.mode == XWP_CONNECT) {
        start_result(c);
    }
    return true;
}

/* Events on connection c: false when it is over (freed). */
static bool serve(struct evs *v, struct evc *c, uint32_t events)
{
    const struct xwp_ops *ops = v->o->ops;

    while ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && c->state != S_RESULT &&
           c->out_len - c->out_off < OUT_MAX) {
        if (c->state == S_PAYLOAD && (c->r.flags & XWP_F_ZC)) {
            int r = payload_zc(v, c);
            if (r < 0) {
                finish(v, c, 2);
                return false;
            }
            if (r > 0)
                start_result(c);
            break;
        }
        /* The hello alone first: a --zc payload is read in place after it. */
        size_t want = c->state == S_HELLO ? XWP_HELLO_LEN - c->hello_got : sizeof(v->buf);
        ssize_t n = ops->recv(c->fd, v->buf, want, MSG_DONTWAIT);
        size_t used = 0;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            break;
        if (n < 0) {
            finish(v, c, 2);
            return false;
        }
        if (n == 0) { /* the client's EOF: the result */
            if (c->state == S_HELLO) {
                finish(v, c, 2);
                return false;
            }
            start_result(c);
            break;
        }
        if (c->state == S_HELLO && !hello_in(ops, c, v->buf, (size_t)n, &used)) {
            fprintf(stderr, "xwperf: bad hello\n");
            finish(v, c, 2);
            return false;
        }
        if (c->state == S_PAYLOAD && (size_t)n > used &&
            !payload(c, v->buf + used, (size_t)n - used)) {
            finish(v, c, 2);
            return false;
        }
        if (c->state == S_PAYLOAD && c->h.mode == XWP_RR && flush(v, c) < 0) {
            finish(v, c, 2);
            return false;
        }
    }
    if (flush(v, c) < 0) {
        finish(v, c, 2);
        return false;
    }
    if (c->state == S_RESULT && c->out_off == c->out_len) {
        finish(v, c, c->r.status == XWP_OK ? 0 : c->r.status == XWP_BAD_DATA ? 1 : 2);
        return false;
    }
    /* Reading pauses while the echo backlog is full or the result is going. */
    watch(v, c, (c->out_off < c->out_len ? EPOLLOUT : 0) |
                    (c->state != S_RESULT && c->out_len - c->out_off < OUT_MAX ? EPOLLIN : 0));
    return true;
}

/* One connection of listener lfd (it is readable: level-triggered, the
 * next one is reported again). */
static void accept_one(struct evs *v, int lfd)
{
    const struct xwp_ops *ops = v->o->ops;
    int fd = ops->accept(lfd, NULL, NULL), one = 1;
    struct epoll_event ev;
    struct evc *c;

    if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
            fprintf(stderr, "xwperf: accept: %s\n", strerror(errno));
        return;
    }
    if (!(c = calloc(1, sizeof(*c)))) {
        ops->close(fd);
        return;
    }
    c->fd = fd;
    c->r.bad_off = -1;
    c->events = EPOLLIN;
    ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = c };
    xwp_setopt(ops, fd, IPPROTO_TCP, TCP_NODELAY, 1);
    /* The xway stack's fd follows the socket exactly for a kernel epoll. */
    if (ops->info)
        ops->setsockopt(fd, XWAY_SOL, XWAY_POLLED, &one, sizeof(one));
    if (epoll_ctl(v->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        fprintf(stderr, "xwperf: epoll_ctl: %s\n", strerror(errno));
        ops->close(fd);
        free(c);
    }
}

int xwp_evloop_run(const struct xwp_opts *o, const int *lfd, int nl)
{
    struct evs *v = calloc(1, sizeof(*v));
    struct epoll_event evs[64];
    int rc, one = 1;

    if (!v || (v->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        fprintf(stderr, "xwperf: epoll_create1: %s\n", strerror(errno));
        free(v);
        return 2;
    }
    v->o = o;
    for (int i = 0; i < nl; i++) {
        /* Listeners: a NULL-tagged registration each (data.u64: index + 1). */
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)i + 1 };
        if (o->ops->info)
            o->ops->setsockopt(lfd[i], XWAY_SOL, XWAY_POLLED, &one, sizeof(one));
        if (epoll_ctl(v->ep, EPOLL_CTL_ADD, lfd[i], &ev) < 0) {
            fprintf(stderr, "xwperf: epoll_ctl: %s\n", strerror(errno));
            close(v->ep);
            free(v);
            return 2;
        }
    }
    while (!(o->once && v->have_test && v->test_done >= v->test_nconn)) {
        int n = epoll_wait(v->ep, evs, 64, 200);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "xwperf: epoll_wait: %s\n", strerror(errno));
            v->rc = 2;
            break;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 >= 1 && evs[i].data.u64 <= (uint64_t)nl)
                accept_one(v, lfd[evs[i].data.u64 - 1]);
            else
                serve(v, evs[i].data.ptr, evs[i].events);
        }
    }
    rc = v->rc;
    close(v->ep);
    free(v);
    return rc;
}

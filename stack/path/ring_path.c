/* The ring path (part of the core): send copies the caller's bytes straight
 * into the mapped ring, recv copies them straight out.  No stack lock, no
 * lwIP, no syscall while both sides are busy.  A call that must wait asks its
 * host (ring_path.h: the Linux library's ring_wait.c spins, then sleeps on the
 * socket's futex word, which this path's event route bumps). */
#include "ring_path.h"

#include <errno.h>
#include <string.h>

#include "barrier.h"
#include "channel.h"
#include "host.h"
#include "log.h"
#include "ring_beat.h"
#include "ring_park.h"
#include "ring_routes.h"
#include "socket.h"
#include "switch.h"
#include "waiter.h"
#include "xway_port.h"
#include "xway_types.h"

/* A call's deadline, the port's clock (UINT64_MAX: none). */
static uint64_t deadline_us(uint64_t timeo_us)
{
    return timeo_us ? xway_port_now_us() + timeo_us : UINT64_MAX;
}

static bool left(const struct xw_sock *s)
{
    return atomic_load_explicit(&s->ring.left, memory_order_acquire);
}

/* A reason to stop waiting that is not the ring's: close, a TCP reset, or a
 * pump's pause or the switch to TCP (the call ends as at a timeout: what it
 * moved, or EAGAIN and the socket layer goes on on the new path). */
int xw_rpath_interrupted(const struct xw_sock *s)
{
    if (s->closing)
        return -EBADF;
    if (atomic_load_explicit(&s->halt, memory_order_relaxed) || left(s))
        return -ETIMEDOUT;
    if (atomic_load_explicit(&s->err, memory_order_relaxed))
        return XW_CHAN_ERROR;
    return 0;
}

/* Lazy readiness (the shim): every wait on a raw fd goes through xway_poll,
 * which settles the fds before it sleeps, or is on an XWAY_POLLED socket; so an
 * EAGAIN need not arm and lower the fd at once (two to four syscalls a time). */
static bool lazy_ready;

void xw_rpath_lazy_ready(void)
{
    lazy_ready = true;
}

/* Whether the socket's fd follows the ring: the kernel may be waiting on it. */
static bool fd_exact(struct xw_sock *s)
{
    return !lazy_ready || s->polled || atomic_load(&s->fd_sleepers);
}

/* A direction's ownership (struct xw_ring_state): one atomic exchange to take
 * it, a plain release store to give it back; a thread that finds it taken
 * waits for another thread's step (a copy), never for a sleep. */
static void dir_take(_Atomic bool *busy)
{
    for (int i = 0; atomic_exchange_explicit(busy, true, memory_order_acquire); i++) {
        while (atomic_load_explicit(busy, memory_order_relaxed))
            if (++i % 256 == 0)
                xw_rpath_yield();
            else
                xw_cpu_relax();
    }
}

static void dir_give(_Atomic bool *busy)
{
    atomic_store_explicit(busy, false, memory_order_release);
}

/* The owner's check of the directions in events (xw_channel_check), made as
 * their owner: another thread's step may be moving the same indices. */
int xw_rpath_check_owned(struct xw_sock *s, int events)
{
    int r;

    if (events & XW_CHAN_READABLE)
        dir_take(&s->ring.rx_busy);
    if (events & XW_CHAN_WRITABLE)
        dir_take(&s->ring.tx_busy);
    r = xw_channel_check(s->ring.ch, events);
    if (events & XW_CHAN_WRITABLE)
        dir_give(&s->ring.tx_busy);
    if (events & XW_CHAN_READABLE)
        dir_give(&s->ring.rx_busy);
    return r;
}

/* The channel's -errno as the socket's.  As with TCP on Linux, a reset is
 * reported once; after that the connection is just gone (EPIPE / EOF).  A
 * call that moved bytes first (moved) returns its count: the error is the
 * next call's, looked at here but not taken. */
static int sock_error(struct xw_sock *s, long err, bool sending, bool moved)
{
    int e;

    /* A peer that vanished may have moved: the switch goes on over TCP, and
     * this call with it (EAGAIN: the socket layer calls the TCP path). */
    if (!left(s) && xw_channel_vanished(s->ring.ch)) {
        xw_stack_lock();
        xw_switch_leave(s, XW_REASON_PEER_MOVED, false);
        xw_stack_leave(); /* (its timer: the stack thread plans it) */
        xw_rpath_leave_wait(s);
    }
    if (left(s))
        return -EAGAIN;
    e = atomic_load_explicit(&s->err, memory_order_relaxed);

    if (moved ? atomic_load(&s->ring.err_seen) : atomic_exchange(&s->ring.err_seen, true))
        return sending ? -EPIPE : 0;
    if (e)
        return -e;
    if (err == -EPROTO) {
        if (!moved) /* (said once: by the call that takes it) */
            xw_warn_peer("fd %d: the ring peer broke the ring protocol: connection reset", s->fd);
        return -ECONNRESET;
    }
    return (int)err;
}

/* The pollable fd of a ring socket may say "ready" when it no longer is (a
 * poller then gets EAGAIN, as after any spurious wakeup) but never "not
 * ready" when it is: it is lowered only here, when a call is about to return
 * EAGAIN or the dispatcher reports an event, and whatever is lowered is armed
 * first so that the peer's next move raises it again.  While data flows and
 * nobody waits, the ring path makes no syscall for it at all. */
static bool pre_left(struct xw_sock *s)
{
    return s->ring.pre && atomic_load_explicit(&s->ring.pre_off, memory_order_relaxed) <
                              s->ring.pre_len;
}

bool xw_rpath_pre_left(struct xw_sock *s)
{
    return pre_left(s);
}

void xw_rpath_set_pre(struct xw_sock *s, char *buf, size_t len)
{
    xway_port_free(s->ring.pre);
    s->ring.pre = len ? buf : NULL;
    s->ring.pre_len = len;
    atomic_store(&s->ring.pre_off, 0);
    if (!len)
        xway_port_free(buf);
}

static void refresh(struct xw_sock *s, bool arrival)
{
    const int both = XW_CHAN_READABLE | XW_CHAN_WRITABLE;
    int r, arm;
    bool rd, wr, gone, shown_rd, shown_wr;
    uint32_t mark;

    xw_sock_ready_begin(s);
    /* Whatever is not ready now is armed, so that the peer's next move wakes
     * the dispatcher and this fd follows the ring without anyone sleeping in
     * our calls.  A polled socket also keeps "readable" armed: every arrival
     * is an edge, as on a kernel socket. */
    r = xw_channel_poll(s->ring.ch, both);
    arm = both & ~r;
    if (s->polled)
        arm |= XW_CHAN_READABLE;
    /* Not accepted yet: nobody can wait on the fd, and the peer's first bytes
     * would wake the dispatcher for nothing; the accept refreshes it. */
    if (s->queued || s->listener)
        arm = 0;
    if (arm)
        r |= xw_channel_arm(s->ring.ch, arm);
    gone = s->closing || atomic_load_explicit(&s->err, memory_order_relaxed);
    rd = (r & (XW_CHAN_READABLE | XW_CHAN_ERROR)) || gone || s->shut_rd || pre_left(s);
    wr = (r & (XW_CHAN_WRITABLE | XW_CHAN_ERROR)) || gone || s->shut_wr;
    /* An edge per arrival: the fd's raise, or a pulse while it is up (an
     * event for the other direction, the peer consuming, is no arrival). */
    mark = xw_channel_rx_mark(s->ring.ch);
    xw_sock_ready_shown(s, &shown_rd, &shown_wr);
    if (arrival && rd && shown_rd && s->polled && mark != s->ring.rx_mark) {
        xw_sock_ready_pulse(s);
        s->ring.rx_mark = mark;
    }
    if (rd && !shown_rd)
        s->ring.rx_mark = mark;
    xw_sock_ready_set(s, rd, wr);
    if (xw_channel_peer_shut(s->ring.ch) || atomic_load_explicit(&s->err, memory_order_relaxed))
        xw_sock_ready_ends(s, true, s->shut_wr || s->err, s->err);
    xw_sock_ready_end(s);
}

static void ring_readiness(struct xw_sock *s, bool settle, bool *rd, bool *wr)
{
    int r;
    bool gone;

    /* Lower (and arm) a stale "ready" on the fd, unless only the shim's
     * waiters wait for this socket, which look at the ring (waiter.h). */
    if (settle && fd_exact(s)) {
        refresh(s, false);
        xw_sock_ready_shown(s, rd, wr);
        return;
    }
    r = xw_channel_poll(s->ring.ch, XW_CHAN_READABLE | XW_CHAN_WRITABLE);
    gone = s->closing || atomic_load_explicit(&s->err, memory_order_relaxed);
    *rd = (r & (XW_CHAN_READABLE | XW_CHAN_ERROR)) || gone || s->shut_rd || pre_left(s);
    *wr = (r & (XW_CHAN_WRITABLE | XW_CHAN_ERROR)) || gone || s->shut_wr;
}

/* An event for the socket: the peer moved (the dispatcher), or the connection
 * changed (TCP EOF or reset, close, shutdown): every arrival is an edge. */
static void ring_changed(struct xw_sock *s)
{
    xw_rpath_wake(s);
    xw_watchers_signal(s);
    refresh(s, true);
}

/* The peer moved.  The fd follows only where the kernel waits on it (an
 * XWAY_POLLED socket, or the library, whose users may poll the number): the
 * shim's waiters look at the ring itself (waiter.h), and a refresh here would
 * arm the channel again and again (an event-channel kick per message). */
static bool on_event(void *arg)
{
    struct xw_sock *s = arg;
    bool news = xw_channel_progress(s->ring.ch);

    xw_rpath_wake(s);
    /* (no news, no waking of sets: one nested in another would show
     * readable with nothing ready in it) */
    if (news)
        xw_watchers_signal(s);
    if (fd_exact(s))
        refresh(s, true);
    return news;
}

int xw_rpath_start(struct xw_sock *s)
{
    int rc = xw_rev_attach(xw_channel_port(s->ring.ch), on_event, s);

    if (rc < 0)
        return rc;
    xw_path_set(s, &xw_ring_ops);
    xw_rbeat_add(s);
    return 0;
}

void xw_rpath_peer_gone(struct xw_sock *s)
{
    xw_channel_reset(s->ring.ch);
    ring_changed(s);
}

/* Take a direction for the switch, unless a zero-copy call holds it (or may:
 * it is being opened), which can keep it for as long as its application
 * wants: then false, and the call's end retries (zc_closed). */
static bool take_for_switch(_Atomic bool *busy, const struct xw_zc_dir *zc)
{
    for (unsigned i = 0; atomic_exchange_explicit(busy, true, memory_order_acquire); i++) {
        if (atomic_load(&zc->state) != XW_ZC_NONE)
            return false;
        if (i % 256 == 255)
            xw_rpath_yield();
        else
            xw_cpu_relax();
    }
    return true;
}

bool xw_rpath_stop(struct xw_sock *s)
{
    if (!take_for_switch(&s->ring.rx_busy, &s->zc_rx))
        return false;
    if (!take_for_switch(&s->ring.tx_busy, &s->zc_tx)) {
        dir_give(&s->ring.rx_busy);
        return false;
    }
    atomic_store(&s->ring.left, true);
    xw_rbeat_remove(s);
    xw_rev_detach(xw_channel_port(s->ring.ch), s);
    return true;
}

void xw_rpath_stopped(struct xw_sock *s)
{
    dir_give(&s->ring.tx_busy);
    dir_give(&s->ring.rx_busy);
    xw_rpath_wake(s);
    xw_watchers_signal(s);
}

void xw_rpath_drop(struct xw_sock *s)
{
    xway_port_free(s->ring.pre);
    s->ring.pre = NULL;
    s->ring.pre_len = 0;
    xw_channel_close_quiet(s->ring.ch);
    s->ring.ch = NULL;
}

int xw_rpath_forward(struct xw_sock *s, bool (*fn)(void *arg), void *arg)
{
    int port = xw_channel_port(s->ring.ch);

    xw_rev_detach(port, fn ? (void *)s : arg);
    return fn ? xw_rev_attach(port, fn, arg) : xw_rev_attach(port, on_event, s);
}

/* A send step that moved nothing (n: -EAGAIN, the ring is full, or the
 * channel's -errno): the call's error, or 0 once the ring has room again.
 * moved: the call moved bytes before (sock_error). */
static int send_stalled(struct xw_sock *s, ssize_t n, bool nonblock, uint64_t deadline,
                        bool moved)
{
    int r;

    if (n != -EAGAIN)
        return sock_error(s, n, true, moved);
    if (nonblock)
        return -EAGAIN;
    r = xw_rpath_wait(s, XW_CHAN_WRITABLE, deadline);
    if (r < 0)
        return r == -ETIMEDOUT ? -EAGAIN : r;
    if (r & XW_CHAN_ERROR)
        return sock_error(s, xw_channel_error(s->ring.ch) ? xw_channel_error(s->ring.ch)
                                                         : -ECONNRESET, true, moved);
    return 0;
}

static ssize_t ring_send_body(struct xw_sock *s, const struct iovec *iov, int iovcnt,
                              size_t total, int flags)
{
    bool nonblock = s->nonblock || (flags & XW_MSG_DONTWAIT);
    uint64_t deadline = deadline_us(s->sndtimeo_us);
    size_t done = 0, off = 0;
    int i = 0, err = 0, retries = 0;

again:
    while (done < total && !err) {
        ssize_t n;
        if (s->shut_wr) {
            err = -EPIPE;
            break;
        }
        if (off == iov[i].iov_len) {
            i++;
            off = 0;
            continue;
        }
        dir_take(&s->ring.tx_busy);
        if (left(s)) {
            dir_give(&s->ring.tx_busy);
            err = -EAGAIN;
            break;
        }
        n = xw_channel_send(s->ring.ch, (const char *)iov[i].iov_base + off, iov[i].iov_len - off,
                            0);
        dir_give(&s->ring.tx_busy);
        if (n > 0) {
            done += (size_t)n;
            off += (size_t)n;
            continue;
        }
        err = send_stalled(s, n == 0 ? -EAGAIN : n, nonblock, deadline,
                           done || (flags & XW_MSG_CONT));
    }
    if (err == -EAGAIN || done < total)
        atomic_fetch_add_explicit(&s->ring.tx_stalls, 1, memory_order_relaxed);
    if ((err == -EAGAIN || done < total) && fd_exact(s) && !left(s)) {
        refresh(s, false); /* the caller will wait: arm, publish "not writable" */
        /* The consumer made room meanwhile: then the fd stayed writable, and an
         * edge-triggered poller told EAGAIN would wait for an edge that never
         * comes.  Use the room instead. */
        if (err == -EAGAIN && !done && retries++ < 8 &&
            (xw_channel_poll(s->ring.ch, XW_CHAN_WRITABLE) & XW_CHAN_WRITABLE)) {
            err = 0;
            goto again;
        }
    }
    atomic_fetch_add_explicit(&s->ring.tx_bytes, done, memory_order_relaxed);
    return done ? (ssize_t)done : err;
}

/* sendfile: the source (a file, on Linux) read straight into the ring's
 * free space, at most max bytes in all. */
struct fill_some {
    xw_fill_fn fill;
    void *arg;
    size_t max;
    int err; /* the source's errno */
};

static ssize_t fill_some(void *arg, const struct iovec *iov, int cnt)
{
    struct fill_some *f = arg;
    struct iovec v[2];
    size_t left = f->max;
    ssize_t n;
    int k;

    for (k = 0; k < cnt && k < 2 && left; k++) {
        v[k].iov_base = iov[k].iov_base;
        v[k].iov_len = iov[k].iov_len < left ? iov[k].iov_len : left;
        left -= v[k].iov_len;
    }
    n = f->fill(f->arg, v, k);
    if (n < 0) {
        f->err = (int)-n;
        return -1;
    }
    return n;
}

static ssize_t ring_sendfile_body(struct xw_sock *s, xw_fill_fn fill, void *arg, size_t count)
{
    bool nonblock = s->nonblock;
    uint64_t deadline = deadline_us(s->sndtimeo_us);
    size_t done = 0;
    int err = 0;

    while (done < count && !err) {
        struct fill_some f = { .fill = fill, .arg = arg, .max = count - done };
        ssize_t n;

        if (s->shut_wr) {
            err = -EPIPE;
            break;
        }
        dir_take(&s->ring.tx_busy);
        if (left(s)) {
            dir_give(&s->ring.tx_busy);
            err = -EAGAIN;
            break;
        }
        n = xw_channel_send_fill(s->ring.ch, fill_some, &f);
        dir_give(&s->ring.tx_busy);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n == 0) /* the end of the file */
            break;
        err = f.err ? -f.err : send_stalled(s, n, nonblock, deadline, done);
    }
    if (err == -EAGAIN)
        atomic_fetch_add_explicit(&s->ring.tx_stalls, 1, memory_order_relaxed);
    if (err == -EAGAIN && fd_exact(s) && !left(s))
        refresh(s, false); /* the caller will wait: arm, publish "not writable" */
    atomic_fetch_add_explicit(&s->ring.tx_bytes, done, memory_order_relaxed);
    return done ? (ssize_t)done : err;
}

/* XW_MSG_PEEK: copy what is in the ring without consuming it.  Bytes, or 0 when
 * nothing is there now. */
static size_t peek_copy(struct xw_sock *s, const struct iovec *iov, int iovcnt, size_t want)
{
    struct iovec seg[2];
    size_t got = 0, io = 0;
    int i = 0, k = 0;
    int n = xw_channel_peek(s->ring.ch, seg);

    if (n <= 0)
        return 0;
    size_t so = 0;
    while (got < want && i < iovcnt && k < 2 && seg[k].iov_len) {
        size_t c = iov[i].iov_len - io;
        if (c > seg[k].iov_len - so)
            c = seg[k].iov_len - so;
        if (c > want - got)
            c = want - got;
        memcpy((char *)iov[i].iov_base + io, (char *)seg[k].iov_base + so, c);
        got += c;
        io += c;
        so += c;
        if (io == iov[i].iov_len) {
            i++;
            io = 0;
        }
        if (so == seg[k].iov_len) {
            k++;
            so = 0;
        }
    }
    return got;
}

/* The bytes left of the socket's prefix into iov from byte skip, up to want
 * (rx_busy held); peek leaves them there.  Bytes copied (> 0). */
static ssize_t pre_copy(struct xw_sock *s, const struct iovec *iov, int iovcnt, size_t skip,
                        size_t want, bool peek)
{
    size_t off = atomic_load_explicit(&s->ring.pre_off, memory_order_relaxed), got = 0;
    int i = 0;

    while (i < iovcnt && skip >= iov[i].iov_len)
        skip -= iov[i++].iov_len;
    for (; i < iovcnt && got < want && off + got < s->ring.pre_len; i++, skip = 0) {
        size_t c = iov[i].iov_len - skip;
        if (c > want - got)
            c = want - got;
        if (c > s->ring.pre_len - off - got)
            c = s->ring.pre_len - off - got;
        memcpy((char *)iov[i].iov_base + skip, s->ring.pre + off + got, c);
        got += c;
    }
    if (!peek)
        atomic_store_explicit(&s->ring.pre_off, off + got, memory_order_relaxed);
    return (ssize_t)got;
}

/* One nonblocking pass over iov from byte `skip`: bytes, 0 at EOF, -errno. */
static ssize_t recv_once(struct xw_sock *s, const struct iovec *iov, int iovcnt, size_t skip,
                         size_t want, bool peek)
{
    size_t got = 0, io = skip;
    int i = 0;

    if (pre_left(s)) /* (a short read: the ring's bytes come with the next) */
        return pre_copy(s, iov, iovcnt, skip, want, peek);
    if (peek) {
        got = peek_copy(s, iov, iovcnt, want);
        if (got)
            return (ssize_t)got;
        if (!(xw_channel_poll(s->ring.ch, XW_CHAN_READABLE) & (XW_CHAN_READABLE | XW_CHAN_ERROR)))
            return -EAGAIN;
        got = peek_copy(s, iov, iovcnt, want);
        if (got)
            return (ssize_t)got;
        return xw_channel_error(s->ring.ch) ? xw_channel_error(s->ring.ch) : 0;
    }
    while (i < iovcnt && io >= iov[i].iov_len)
        io -= iov[i++].iov_len;
    while (got < want && i < iovcnt) {
        size_t len = iov[i].iov_len - io;
        ssize_t n;
        if (len > want - got)
            len = want - got;
        n = xw_channel_recv(s->ring.ch, (char *)iov[i].iov_base + io, len, 0);
        if (n <= 0)
            return got ? (ssize_t)got : n;
        got += (size_t)n;
        io += (size_t)n;
        if (io == iov[i].iov_len) {
            i++;
            io = 0;
        }
    }
    return (ssize_t)got;
}

static ssize_t ring_recv_body(struct xw_sock *s, const struct iovec *iov, int iovcnt,
                              size_t want, int flags)
{
    bool peek = flags & XW_MSG_PEEK, nonblock = s->nonblock || (flags & XW_MSG_DONTWAIT);
    bool waitall = (flags & XW_MSG_WAITALL) && !peek && !nonblock;
    uint64_t deadline = deadline_us(s->rcvtimeo_us);
    size_t got = 0;
    ssize_t n, ret;

    if (!want)
        return 0;
    for (;;) {
        if (s->shut_rd) {
            ret = (ssize_t)got;
            break;
        }
        dir_take(&s->ring.rx_busy);
        n = left(s) ? -EAGAIN : recv_once(s, iov, iovcnt, got, want - got, peek);
        dir_give(&s->ring.rx_busy);
        if (n == -EAGAIN && left(s)) {
            ret = got ? (ssize_t)got : -EAGAIN;
            break;
        }
        if (n > 0) {
            got += (size_t)n;
            if (got == want || !waitall) {
                ret = (ssize_t)got;
                break;
            }
            continue;
        }
        if (n == 0 || (got && n != -EAGAIN)) { /* EOF, or an error after some bytes */
            ret = (ssize_t)got;
            break;
        }
        if (n != -EAGAIN) {
            ret = sock_error(s, n, false, flags & XW_MSG_CONT);
            break;
        }
        if (nonblock) {
            ret = -EAGAIN;
            break;
        }
        int r = xw_rpath_wait(s, XW_CHAN_READABLE, deadline);
        if (r < 0) {
            ret = r == -ETIMEDOUT ? -EAGAIN : r;
            break;
        }
        if ((r & XW_CHAN_ERROR) && !(r & XW_CHAN_READABLE) && atomic_load_explicit(&s->err, memory_order_relaxed)) {
            /* (MSG_WAITALL's bytes so far are the call's; the reset the next's) */
            ret = got ? (ssize_t)got : sock_error(s, -ECONNRESET, false, flags & XW_MSG_CONT);
            break;
        }
    }
    if (!peek)
        atomic_fetch_add_explicit(&s->ring.rx_bytes, got, memory_order_relaxed);
    if ((s->polled || (ret == -EAGAIN && fd_exact(s))) && !left(s))
        refresh(s, false); /* the caller will wait: arm, publish "not readable" */
    return ret;
}

/* ---- zero copy (path.h) ---------------------------------------------------- */

/* A zero-copy call gave its direction back (a view consumed, a reservation
 * committed, or a call that opened none): a switch that waited for it goes on. */
static void zc_closed(struct xw_sock *s)
{
    if (s->sw.state != XW_SW_PENDING)
        return;
    xw_stack_lock();
    xw_switch_retry(s);
    xw_stack_leave();
}

static ssize_t ring_zc_view_body(struct xw_sock *s, struct iovec seg[2], bool nonblock)
{
    uint64_t deadline = deadline_us(s->rcvtimeo_us);
    int n, r;

    for (;;) {
        if (s->shut_rd)
            return 0;
        dir_take(&s->ring.rx_busy);
        if (left(s)) {
            dir_give(&s->ring.rx_busy);
            return -EAGAIN;
        }
        if (pre_left(s)) { /* a claimed connection's bytes come first */
            size_t off = atomic_load_explicit(&s->ring.pre_off, memory_order_relaxed);
            seg[0] = (struct iovec){ s->ring.pre + off, s->ring.pre_len - off };
            seg[1] = (struct iovec){ NULL, 0 };
            return (ssize_t)seg[0].iov_len; /* rx_busy held until consume */
        }
        n = xw_channel_view(s->ring.ch, seg);
        if (n > 0)
            return n; /* rx_busy held until consume */
        dir_give(&s->ring.rx_busy);
        zc_closed(s);
        if (n == 0)
            return 0;
        if (n != -EAGAIN)
            return sock_error(s, n, false, false);
        if (nonblock) {
            if (fd_exact(s))
                refresh(s, false);
            return -EAGAIN;
        }
        r = xw_rpath_wait(s, XW_CHAN_READABLE, deadline);
        if (r < 0)
            return r == -ETIMEDOUT ? -EAGAIN : r;
        if ((r & XW_CHAN_ERROR) && !(r & XW_CHAN_READABLE) &&
            atomic_load_explicit(&s->err, memory_order_relaxed))
            return sock_error(s, -ECONNRESET, false, false);
    }
}

static void ring_zc_consume(struct xw_sock *s, size_t n)
{
    if (pre_left(s))
        atomic_store_explicit(&s->ring.pre_off,
                              atomic_load_explicit(&s->ring.pre_off, memory_order_relaxed) + n,
                              memory_order_relaxed);
    else
        xw_channel_consume(s->ring.ch, (uint32_t)n); /* (a failure is the next call's) */
    dir_give(&s->ring.rx_busy);
    atomic_fetch_add_explicit(&s->ring.rx_bytes, n, memory_order_relaxed);
    if (s->polled)
        refresh(s, false);
    zc_closed(s);
}

static ssize_t ring_zc_reserve_body(struct xw_sock *s, size_t want, struct iovec seg[2],
                                    bool nonblock)
{
    uint64_t deadline = deadline_us(s->sndtimeo_us);
    int n, err;

    for (;;) {
        if (s->shut_wr)
            return -EPIPE;
        dir_take(&s->ring.tx_busy);
        if (left(s)) {
            dir_give(&s->ring.tx_busy);
            return -EAGAIN;
        }
        n = xw_channel_reserve(s->ring.ch, seg);
        if (n > 0) { /* tx_busy held until commit */
            if (seg[0].iov_len >= want) {
                seg[0].iov_len = want;
                seg[1].iov_len = 0;
            } else if (seg[1].iov_len > want - seg[0].iov_len) {
                seg[1].iov_len = want - seg[0].iov_len;
            }
            return (ssize_t)(seg[0].iov_len + seg[1].iov_len);
        }
        dir_give(&s->ring.tx_busy);
        zc_closed(s);
        err = send_stalled(s, n, nonblock, deadline, false);
        if (err == -EAGAIN) {
            atomic_fetch_add_explicit(&s->ring.tx_stalls, 1, memory_order_relaxed);
            if (fd_exact(s))
                refresh(s, false);
        }
        if (err)
            return err;
    }
}

static ssize_t ring_zc_commit(struct xw_sock *s, size_t n, int flags)
{
    int err = xw_channel_commit(s->ring.ch, (uint32_t)n);

    (void)flags;
    dir_give(&s->ring.tx_busy);
    if (err) {
        zc_closed(s);
        err = sock_error(s, err, true, false);
        return err == -EAGAIN ? -ECONNRESET : err;
    }
    atomic_fetch_add_explicit(&s->ring.tx_bytes, n, memory_order_relaxed);
    zc_closed(s);
    return (ssize_t)n;
}

static void ring_shutdown_wr(struct xw_sock *s)
{
    if (s->ring.ch)
        xw_channel_shutdown_write(s->ring.ch);
}

static void ring_reset(struct xw_sock *s)
{
    if (s->ring.ch)
        xw_channel_reset(s->ring.ch);
}

static int ring_poll_fast(struct xw_sock *s, int events)
{
    int r = xw_channel_poll(s->ring.ch, events);

    return (events & XW_CHAN_READABLE) && pre_left(s) ? r | XW_CHAN_READABLE : r;
}

static uint32_t ring_look(struct xw_sock *s, int arm, uint32_t marks[2])
{
    int r = arm ? xw_channel_arm(s->ring.ch, arm) : 0;

    r |= xw_channel_poll(s->ring.ch, XW_CHAN_READABLE | XW_CHAN_WRITABLE);
    bool err = atomic_load_explicit(&s->err, memory_order_relaxed) || (r & XW_CHAN_ERROR);
    bool gone = err || atomic_load_explicit(&s->closing, memory_order_relaxed);
    bool shut = xw_channel_peer_shut(s->ring.ch), shut_wr = s->shut_wr;
    uint32_t m = 0;

    marks[0] = xw_channel_rx_mark(s->ring.ch);
    marks[1] = atomic_load_explicit(&s->ring.tx_stalls, memory_order_relaxed);
    if ((r & XW_CHAN_READABLE) || gone || shut || s->shut_rd || pre_left(s))
        m |= XW_EPOLLIN | XW_EPOLLRDNORM;
    if ((r & XW_CHAN_WRITABLE) || gone || shut_wr)
        m |= XW_EPOLLOUT | XW_EPOLLWRNORM;
    if (shut || err)
        m |= XW_EPOLLRDHUP;
    if (err)
        m |= XW_EPOLLERR | XW_EPOLLHUP;
    else if ((shut && shut_wr) || s->state == XW_SS_DEAD)
        m |= XW_EPOLLHUP;
    return m;
}

static void ring_release(struct xw_sock *s)
{
    xway_port_free(s->ring.pre);
    s->ring.pre = NULL;
    if (!s->ring.ch)
        return;
    if (left(s)) { /* (stopped already; the stream went on over TCP) */
        xw_rpath_drop(s);
        return;
    }
    xw_rbeat_remove(s);
    xw_rev_detach(xw_channel_port(s->ring.ch), s);
    /* A clean end keeps the channel for the next connection between the
     * same two processes; not one another process served (handoff.h). */
    if (s->for_other || s->sat ||
        !xw_park_keep(s->ring.ch, &s->ring_peer_ip, s->ring_peer_port))
        xw_channel_close(s->ring.ch);
    s->ring.ch = NULL;
}

static void ring_info(const struct xw_sock *s, struct xway_conn_info *ci)
{
    memcpy(ci->path, "ring", sizeof("ring"));
    memcpy(ci->fallback, "none", sizeof("none"));
    ci->fallback_code = 0;
    ci->ring_bytes = xw_channel_ring_bytes(s->ring.ch);
}

/* A call that stopped because the connection left the ring returns what it
 * moved, or EAGAIN (path.h: the caller then calls the new path for the
 * rest).  The leave sets the ring's flag and the new path in one section
 * under the stack lock, after copying out what the ring holds: the call waits
 * for that section's end, so that a caller without the lock (api.c
 * path_fast, zc.c) finds the new path set, not a short count or EAGAIN for a
 * blocking call. */
static ssize_t left_settled(struct xw_sock *s, ssize_t rc)
{
    if (left(s)) {
        xw_stack_lock();
        xw_stack_unlock();
    }
    return rc;
}

static ssize_t ring_send(struct xw_sock *s, const struct iovec *iov, int iovcnt, size_t total,
                         int flags)
{
    return left_settled(s, ring_send_body(s, iov, iovcnt, total, flags));
}

static ssize_t ring_sendfile(struct xw_sock *s, xw_fill_fn fill, void *arg, size_t count)
{
    return left_settled(s, ring_sendfile_body(s, fill, arg, count));
}

static ssize_t ring_recv(struct xw_sock *s, const struct iovec *iov, int iovcnt, size_t want,
                         int flags)
{
    return left_settled(s, ring_recv_body(s, iov, iovcnt, want, flags));
}

static ssize_t ring_zc_view(struct xw_sock *s, struct iovec seg[2], bool nonblock)
{
    return left_settled(s, ring_zc_view_body(s, seg, nonblock));
}

static ssize_t ring_zc_reserve(struct xw_sock *s, size_t want, struct iovec seg[2], bool nonblock)
{
    return left_settled(s, ring_zc_reserve_body(s, want, seg, nonblock));
}

const struct xw_path_ops xw_ring_ops = {
    .name = "ring",
    .unlocked_io = true,
    .linger = false, /* what we wrote is in the peer's memory already */
    .send = ring_send,
    .recv = ring_recv,
    .sendfile = ring_sendfile,
    .shutdown_wr = ring_shutdown_wr,
    .reset = ring_reset,
    .readiness = ring_readiness,
    .changed = ring_changed,
    .wake = xw_rpath_wake,
    .poll_fast = ring_poll_fast,
    .look = ring_look,
    .zc_view = ring_zc_view,
    .zc_consume = ring_zc_consume,
    .zc_reserve = ring_zc_reserve,
    .zc_commit = ring_zc_commit,
    .release = ring_release,
    .info = ring_info,
};

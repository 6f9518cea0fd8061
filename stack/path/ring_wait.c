/* The ring path's waits in the Linux library (ring_path.h: what the ring
 * path asks of its host): a waiting call spins for XWAY_SPIN_US (adaptive,
 * spin.h), then arms its notification, re-checks, and sleeps on the socket's
 * futex word, which the ring path's event route bumps (xw_rpath_wake).
 * Sleeps are cut into slices so that a dead peer is noticed within one. */
#include <errno.h>
#include <sched.h>

#include "channel.h"
#include "futex.h"
#include "log.h"
#include "ring_events.h"
#include "ring_path.h"
#include "ring_routes.h"
#include "socket.h"
#include "spin.h"
#include "stack.h"
#include "switch.h"

/* The spinning part of a wait: ready mask, an interruption, or 0 when the
 * spin is over.  Adaptive, per socket (spin.h: xw_spin_next).  Measured
 * (pre-fork, 2 workers, 16 clients, 2 vCPUs): a fixed 50 us gave 0.5x-1.7x
 * the kernel from run to run, 10 us 2.4x-3x; a single connection's round
 * trips need the longer spin (10 us: 0.25x-0.5x of 50 us). */

struct spin_arg {
    struct xw_sock *s;
    int events;
    unsigned i;
};

/* Shut for reading (another thread's shutdown): a reader's wait is over, its
 * call returns what it has (0: EOF), as on a kernel socket. */
static int shut_look(const struct xw_sock *s, int events)
{
    return (events & XW_CHAN_READABLE) && s->shut_rd ? XW_CHAN_READABLE : 0;
}

static int spin_look(void *arg)
{
    struct spin_arg *a = arg;
    int r = xw_channel_poll(a->s->ring.ch, a->events) | shut_look(a->s, a->events);

    if (!r && (++a->i & 63) == 0)
        r = xw_rpath_interrupted(a->s);
    return r;
}

static int spin_wait(struct xw_sock *s, int events, uint64_t deadline)
{
    struct spin_arg a = { s, events, 0 };

    atomic_fetch_add_explicit(&s->ring.spins, 1, memory_order_relaxed);
    return xw_spin(&s->ring.spin_us, xw_stack_spin_us(), deadline, spin_look,
                   &a);
}

/* The sleeping part: arm, re-check, sleep on the socket's futex word.  The
 * sleep is cut into slices, at whose ends the peer's liveness is probed (the
 * sim has no kernel to tell a dead process's peers): 100 ms, doubling while
 * nothing happens, up to SLICE_MAX_MS, so that an idle waiter wakes less than
 * once a second and a dead peer is noticed within SLICE_MAX_MS. */
#define SLICE_MAX_MS 1600

/* The process's ring sleepers now.  The event fd is lent to one that sleeps
 * alone (xw_rev_poll_events); with several, the dispatcher wakes each (a
 * lender would wake for all their events, and the fd would go back and forth
 * between them and the dispatcher). */
static _Atomic int sleeping;

static int sleep_wait(struct xw_sock *s, int events, uint64_t deadline)
{
    uint64_t t;
    int r, slice = XW_CHAN_SLICE_MS;

    for (;;) {
        unsigned seen = atomic_load(&s->ring.seq);
        int ms, w;

        r = xw_channel_arm(s->ring.ch, events);
        if (r)
            return r;
        if ((r = xw_rpath_interrupted(s)) != 0 || (r = shut_look(s, events)) != 0)
            return r;
        t = xw_mono_ns();
        if (t >= deadline)
            return -ETIMEDOUT;
        ms = deadline - t > (uint64_t)slice * 1000000u ? slice
                                                      : (int)((deadline - t) / 1000000u) + 1;
        w = atomic_load_explicit(&sleeping, memory_order_relaxed) == 1
                ? xw_rev_poll_events(&s->ring.seq, seen, ms)
                : 1;
        if (w > 0)
            w = xw_futex_wait(&s->ring.seq, seen, ms);
        if (w != -ETIMEDOUT)
            slice = XW_CHAN_SLICE_MS;
        else if (slice < SLICE_MAX_MS)
            slice *= 2;
        if (w == -ETIMEDOUT &&
            xw_evtchn_peer_alive(xw_rev_xenif(), (uint32_t)xw_channel_port(s->ring.ch)) == 0 &&
            !(xw_channel_poll(s->ring.ch, events) & events)) {
            /* Gone without a word (a closing peer sets EOF or EPIPE first, and
             * what it wrote before is still ours to read): moved away, or
             * dead.  The switch tells which. */
            xw_info("fd %d: ring peer is gone", s->fd);
            xw_stack_lock();
            xw_switch_leave(s, XW_REASON_PEER_MOVED, false);
            xw_stack_leave(); /* (its timer: the stack thread plans it) */
        }
        /* We own the direction we wait on: a peer that wrote our index while
         * we slept has broken the ring, whether or not it woke us. */
        if ((r = xw_rpath_check_owned(s, events)) != 0)
            return r;
    }
}

int xw_rpath_wait(struct xw_sock *s, int events, uint64_t deadline_us)
{
    /* (xway_port_now_us and xw_mono_ns are both CLOCK_MONOTONIC) */
    uint64_t deadline = deadline_us == UINT64_MAX ? UINT64_MAX : deadline_us * 1000u, t0;
    int r;

    /* Callers loop on this wait until their call can proceed.  A peer can make
     * the ring look ready without letting the call proceed (it scribbles on
     * the indices); the loop still ends here, at close or the timeout. */
    if ((r = xw_rpath_interrupted(s)) != 0)
        return r;
    t0 = xw_mono_ns();
    if (deadline != UINT64_MAX && t0 >= deadline)
        return -ETIMEDOUT;
    r = spin_wait(s, events, deadline);
    if (r)
        return r;
    /* Counted before the first look at seq: a waker that sees no sleeper
     * bumped seq before that look, so the sleep below returns at once. */
    atomic_fetch_add(&s->ring.sleepers, 1);
    atomic_fetch_add_explicit(&s->ring.sleeps, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sleeping, 1, memory_order_relaxed);
    r = sleep_wait(s, events, deadline);
    atomic_fetch_sub_explicit(&sleeping, 1, memory_order_relaxed);
    atomic_fetch_sub(&s->ring.sleepers, 1);
    if (r > 0)
        atomic_store_explicit(&s->ring.spin_us,
                              xw_spin_slept(atomic_load_explicit(&s->ring.spin_us,
                                                                 memory_order_relaxed),
                                            xw_mono_ns() - t0,
                                            xw_stack_spin_us()),
                              memory_order_relaxed);
    return r;
}

void xw_rpath_leave_wait(struct xw_sock *s)
{
    atomic_fetch_add(&s->ring.sleepers, 1);
    for (;;) {
        unsigned seen = atomic_load(&s->ring.seq);
        if (xw_rpath_interrupted(s) || s->sw.state != XW_SW_PENDING)
            break;
        xw_futex_wait(&s->ring.seq, seen, XW_CHAN_SLICE_MS);
    }
    atomic_fetch_sub(&s->ring.sleepers, 1);
}

void xw_rpath_wake(struct xw_sock *s)
{
    bool lender;
    int sleepers;

    atomic_fetch_add(&s->ring.seq, 1);
    sleepers = atomic_load(&s->ring.sleepers);
    if (!sleepers)
        return;
    lender = xw_rev_lent_to(&s->ring.seq);
    if (sleepers > (lender ? 1 : 0))
        xw_futex_wake(&s->ring.seq);
    if (lender)
        xw_rev_kick_lender(); /* (not when it is this thread: it looks itself) */
}

void xw_rpath_yield(void)
{
    sched_yield();
}

/* Handing a connection to its kernel fd (handoff.h). */
#include "handoff.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "keeper.h"
#include "log.h"
#include "sock_linux.h"
#include "socket.h"
#include "stack.h"
#include "tcp_path.h"
#include "thread.h"
#include "xway.h"

#define PUMP_BUF XW_HANDOFF_TAIL_MAX
#define PIPE_BUF_BYTES (256 * 1024) /* each direction of the pair */
/* A pump's whole state is in this struct (copied by fork), never on a thread's
 * stack: its threads may stop at any wait (xw_handoff_pause_locked halts the
 * socket's waits: struct xw_sock.halt) and new ones, in a keeper, go on where
 * they stopped.  An idle pump sleeps until something happens. */
struct pump {
    struct pump *next;
    struct xw_sock *s; /* held by one reference of the pump's own */
    int fd;            /* the number, for logs */
    dev_t a_dev;       /* the number's file (end A), so that a keeper can */
    ino_t a_ino;       /* let go of its copy */
    int b;             /* the stack's end of the pair (nonblocking) */
    int done_fd;       /* eventfd: the receiving direction has finished */
    int ctl_fd;        /* eventfd: wakes its threads to stop (halting) */
    _Atomic bool halting; /* its threads stop at their next wait (a claim) */
    int active;        /* its threads running (lock) */
    _Atomic int threads; /* directions not finished: the last one frees the pump */
    /* Who else may hold the number (a claim needs the one process that does,
     * a child this process forked once, handoff.h): */
    bool held;         /* this process holds the number (lock) */
    int forks;         /* forks of this process while it held the number */
    bool no_claim;     /* passed or duplicated: anyone may hold it */
    bool in_fin, out_fin; /* that direction has finished (lock) */
    bool in_eof;       /* in_fin at the peer's FIN (not an error) */
    bool closed;       /* the connection has been closed (lock) */
    bool out_eof;      /* the holders' EOF was passed on: waiting for them to let go */
    bool started;      /* its threads were started once (lock) */
    uint32_t skip;     /* bytes still to drop from B (a connecting client's filler) */
    uint64_t in_bytes, out_bytes;
    size_t in_off, in_len;   /* connection -> B: taken from the connection, not yet in B */
    size_t out_off, out_len; /* B -> connection: read from B, not yet sent */
    char in_buf[PUMP_BUF], out_buf[PUMP_BUF];
};

static struct pump *pumps; /* every pump of this process (lock) */
static pthread_cond_t pumps_gone = PTHREAD_COND_INITIALIZER;
static int running;          /* pump threads running (lock) */
static _Atomic bool pausing; /* the pump threads stop at their next slice */
static int pause_fd = -1;    /* eventfd, readable while pausing (lock to create) */

bool xw_handed(int fd)
{
    bool h;

    xw_stack_lock();
    h = xw_sock_is_handed(fd);
    xw_stack_unlock();
    return h;
}

int xw_handed_close(int fd)
{
    bool h;

    xw_stack_lock();
    h = xw_sock_is_handed(fd);
    xw_sock_unmark(fd);
    xw_stack_unlock();
    if (!h) {
        errno = EBADF;
        return -1;
    }
    xw_handoff_release(fd, false);
    return close(fd);
}

/* Lock held.  The connection is over for this process: close it (reset when
 * unread data is left, as close(2) does), which wakes the other thread. */
static void pump_close(struct pump *p)
{
    if (p->closed)
        return;
    p->closed = true;
    xw_sock_close_locked(p->s);
}

static bool stopping(const struct pump *p)
{
    return atomic_load(&pausing) || atomic_load(&p->halting);
}

/* A pump thread returns (paused or finished). */
static void *thread_done(struct pump *p)
{
    xw_stack_lock();
    p->active--;
    running--;
    pthread_cond_broadcast(&pumps_gone);
    xw_stack_unlock();
    return NULL;
}

/* Lock held: the pump is over; unlink and free it. */
static void pump_free(struct pump *p)
{
    struct pump **pp;

    pump_close(p);
    xw_sock_put(p->s);
    for (pp = &pumps; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    xw_debug("fd %d: handed-off connection finished: %llu bytes in, %llu out", p->fd,
             (unsigned long long)p->in_bytes, (unsigned long long)p->out_bytes);
    close(p->b);
    close(p->done_fd);
    close(p->ctl_fd);
    free(p);
}

/* One direction has finished (lock held); the last one frees the pump. */
static void dir_finished(struct pump *p, bool *fin)
{
    *fin = true;
    if (atomic_fetch_sub(&p->threads, 1) == 1)
        pump_free(p);
}

static void *pump_exit(struct pump *p, bool *fin)
{
    xw_stack_lock();
    p->active--;
    dir_finished(p, fin);
    running--;
    pthread_cond_broadcast(&pumps_gone);
    xw_stack_leave();
    return NULL;
}

/* Wait until fd has one of events (with extra >= 0: or extra is readable).
 * false: a pause or a claim began. */
static bool wait_fd(struct pump *p, int fd, short events, int extra)
{
    struct pollfd pf[4] = { { .fd = fd, .events = events },
                            { .fd = pause_fd, .events = POLLIN },
                            { .fd = p->ctl_fd, .events = POLLIN },
                            { .fd = extra, .events = POLLIN } };

    while (!stopping(p)) {
        int r = poll(pf, extra >= 0 ? 4 : 3, -1);
        if (r < 0 && errno == EINTR)
            continue;
        return !(r > 0 && (pf[1].revents || pf[2].revents)) && !stopping(p);
    }
    return false;
}

/* The connection -> B. */
static void *pump_in(void *arg)
{
    struct pump *p = arg;
    ssize_t rc = 1;

    for (;;) {
        if (p->in_off < p->in_len) {
            ssize_t w = send(p->b, p->in_buf + p->in_off, p->in_len - p->in_off,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w >= 0) {
                p->in_off += (size_t)w;
            } else if (errno == EAGAIN) {
                if (!wait_fd(p, p->b, POLLOUT, -1))
                    return thread_done(p);
            } else if (errno != EINTR) {
                /* Nobody holds the number any more. */
                xw_debug("fd %d: handed-off connection: nobody holds it (%s)", p->fd,
                         strerror(errno));
                xw_stack_lock();
                pump_close(p);
                xw_stack_leave();
                rc = -EPIPE;
                break;
            }
            continue;
        }
        if (stopping(p))
            return thread_done(p);
        struct iovec v = { p->in_buf, PUMP_BUF };
        xw_stack_lock();
        rc = p->closed ? -EBADF : xw_sock_recv_locked(p->s, &v, 1, PUMP_BUF, 0);
        xw_stack_leave();
        if (rc == -EAGAIN)
            continue; /* halted: a pause */
        if (rc <= 0)
            break;
        p->in_bytes += (uint64_t)rc;
        p->in_off = 0;
        p->in_len = (size_t)rc;
    }
    if (rc < 0)
        xw_debug("fd %d: handed-off connection: receive: %s", p->fd, strerror((int)-rc));
    if (rc == 0) {
        shutdown(p->b, SHUT_WR); /* the peer's FIN: EOF after the last byte */
        p->in_eof = true;
    }
    else if (rc != -EPIPE && rc != -EBADF)
        shutdown(p->b, SHUT_RDWR); /* reset or error: EOF, and writes fail */
    (void)!write(p->done_fd, &(uint64_t){ 1 }, sizeof(uint64_t));
    return pump_exit(p, &p->in_fin);
}

/* B -> the connection; then wait for the holders of the number to let go. */
static void *pump_out(void *arg)
{
    struct pump *p = arg;

    while (!p->out_eof) {
        ssize_t n;
        if (p->out_off < p->out_len) {
            struct iovec v = { p->out_buf + p->out_off, p->out_len - p->out_off };
            if (stopping(p))
                return thread_done(p);
            xw_stack_lock();
            n = p->closed ? -EBADF : xw_sock_send_locked(p->s, &v, 1, v.iov_len, MSG_NOSIGNAL);
            xw_stack_leave();
            if (n > 0) {
                p->out_off += (size_t)n;
            } else if (n != -EAGAIN) {
                xw_debug("fd %d: handed-off connection: send: %s", p->fd, strerror((int)-n));
                p->out_off = p->out_len = 0;
                shutdown(p->b, SHUT_RD); /* the connection is gone: writers get EPIPE */
            }
            continue;
        }
        n = read(p->b, p->out_buf, p->skip && p->skip < PUMP_BUF ? p->skip : PUMP_BUF);
        if (n > 0 && p->skip) {
            p->skip -= (uint32_t)n;
        } else if (n > 0) {
            p->out_bytes += (uint64_t)n;
            p->out_off = 0;
            p->out_len = (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            if (!wait_fd(p, p->b, POLLIN, -1))
                return thread_done(p);
        } else if (n == 0 || errno != EINTR) {
            /* EOF from the holders: pass the FIN on. */
            xw_stack_lock();
            if (!p->closed)
                xw_tcp_shutdown(p->s, false, true);
            p->out_eof = true;
            xw_stack_leave();
        }
    }
    /* Every holder closed (hang-up), or the other direction is over too. */
    if (!wait_fd(p, p->b, 0, p->done_fd))
        return thread_done(p);
    xw_stack_lock();
    pump_close(p);
    xw_stack_leave();
    return pump_exit(p, &p->out_fin);
}

/* Lock held: run the pump's unfinished directions (p may be freed). */
static void pump_start(struct pump *p)
{
    void *(*fn[2])(void *) = { pump_in, pump_out };
    bool *fin[2] = { &p->in_fin, &p->out_fin };
    pthread_t t;
    int rc, n = atomic_load(&p->threads);

    p->started = true;
    for (int i = 0; i < 2 && n > 0; i++) {
        if (*fin[i])
            continue;
        running++;
        p->active++;
        if ((rc = xw_thread_start(&t, true, "xway-pump", fn[i], p)) == 0)
            continue;
        running--;
        p->active--;
        /* Without this direction the connection cannot go on: end it (the
         * other direction, if it runs, sees that and finishes). */
        xw_warn("fd %d: no thread for a handed-off connection (%s): closing it", p->fd,
                strerror(-rc));
        pump_close(p);
        shutdown(p->b, SHUT_RDWR);
        (void)!write(p->done_fd, &(uint64_t){ 1 }, sizeof(uint64_t));
        n = atomic_load(&p->threads) - 1;
        dir_finished(p, fin[i]);
    }
}

/* The pair showed the peer's FIN (readyfd.h: B shut for writing), which a
 * stream still to carry bytes cannot: the number becomes a fresh pair's end
 * (lock held).  0 or -errno. */
static int fresh_pair(struct xw_ready *r)
{
    int sv[2], fl = fcntl(r->a, F_GETFD);

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    if (dup3(sv[0], r->a, fl > 0 && (fl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return -e;
    }
    close(sv[0]);
    close(r->b);
    r->b = sv[1];
    r->rdhup = r->hup = false;
    return 0;
}

/* b < 0: the socket's own pair; else another stream end to pump through. */
static int handoff(struct xw_sock *s, bool start, int b, uint32_t skip)
{
    int big = PIPE_BUF_BYTES, fl, rc;
    struct stat st;
    struct pump *p;

    /* Only what the application holds: not a connection still negotiating or
     * waiting in an accept queue. */
    if ((s->state != XW_SS_CONNECTED && !(s->state == XW_SS_DEAD && s->was_connected)) ||
        s->queued || s->listener || s->doomed || xw_lx(s)->ready.b < 0 /* (reset: readyfd.h) */)
        return -ENOTCONN;
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    if (pause_fd < 0)
        pause_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    p->done_fd = eventfd(0, EFD_CLOEXEC);
    p->ctl_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->done_fd < 0 || p->ctl_fd < 0 || pause_fd < 0) {
        rc = -errno;
        if (p->done_fd >= 0)
            close(p->done_fd);
        if (p->ctl_fd >= 0)
            close(p->ctl_fd);
        free(p);
        return rc;
    }
    pthread_mutex_lock(&xw_lx(s)->ready.lock);
    xw_ready_stop_locked(&xw_lx(s)->ready);
    rc = xw_lx(s)->ready.rdhup ? fresh_pair(&xw_lx(s)->ready) : 0;
    pthread_mutex_unlock(&xw_lx(s)->ready.lock);
    if (rc < 0) {
        close(p->done_fd);
        close(p->ctl_fd);
        free(p);
        return rc;
    }
    /* A is the application's alone now, with its O_NONBLOCK; B does not
     * block (the pump waits in poll, to notice a pause). */
    fl = fcntl(xw_lx(s)->ready.a, F_GETFL);
    fcntl(xw_lx(s)->ready.a, F_SETFL, s->nonblock ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
    fcntl(xw_lx(s)->ready.b, F_SETFL, fcntl(xw_lx(s)->ready.b, F_GETFL) | O_NONBLOCK);
    fcntl(xw_lx(s)->ready.b, F_SETFD, FD_CLOEXEC); /* (the stack's alone: its close ends the stream) */
    setsockopt(xw_lx(s)->ready.a, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    setsockopt(xw_lx(s)->ready.b, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    if (fstat(xw_lx(s)->ready.a, &st) == 0) {
        p->a_dev = st.st_dev;
        p->a_ino = st.st_ino;
    }
    p->s = s;
    p->fd = s->fd;
    p->b = xw_lx(s)->ready.b;
    p->skip = skip;
    p->held = b < 0;
    if (b >= 0) {
        /* The number is nobody's: the stream's other end is the client's. */
        fcntl(b, F_SETFL, fcntl(b, F_GETFL) | O_NONBLOCK);
        setsockopt(b, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
        close(xw_lx(s)->ready.b);
        p->b = b;
        p->a_dev = 0;
        p->a_ino = 0;
    }
    xw_lx(s)->ready.a = xw_lx(s)->ready.b = -1;
    xw_sock_mark_handed(s);
    if (b >= 0) {
        xw_sock_unmark(s->fd);
        close(s->fd);
    }
    s->nonblock = false;
    s->rcvtimeo_us = s->sndtimeo_us = 0; /* until a pause halts them */
    s->refs++;
    atomic_store(&p->threads, 2);
    p->next = pumps;
    pumps = p;
    xw_info("fd %d: handed to its kernel fd (%s path): pumped by this process",
            s->fd, xw_path_of(s)->name);
    if (start)
        pump_start(p);
    return 0;
}

int xw_handoff_locked(struct xw_sock *s, bool start)
{
    return handoff(s, start, -1, 0);
}

int xw_handoff_to_locked(struct xw_sock *s, int b, uint32_t skip)
{
    return handoff(s, true, b, skip);
}

int xway_handoff(int fd) XW_EXPORT;
int xway_handoff(int fd)
{
    struct xw_sock *s = xw_api_enter(fd);

    if (!s)
        return -1;
    return (int)xw_api_leave(xw_handoff_locked(s, true));
}

static void handoff_cb(struct xw_sock *s)
{
    int rc;

    if (s->for_other) /* (the process channel's: another process's) */
        return;
    if (s->state == XW_SS_LISTEN) {
        s->shared = true; /* the child holds it too (keeper.h) */
        return;
    }
    rc = xw_handoff_locked(s, false);

    if (rc < 0 && rc != -ENOTCONN)
        xw_warn("fd %d: not handed off before fork: %s", s->fd, strerror(-rc));
}

void xw_handoff_note_fork_locked(void)
{
    for (struct pump *p = pumps; p; p = p->next)
        if (p->held)
            p->forks++;
}

void xw_handoff_note_spawn(void)
{
    xw_stack_lock();
    xw_handoff_note_fork_locked();
    xw_stack_unlock();
}

void xw_handoff_prepare(void)
{
    if (xw_keeper_forking())
        return;
    xw_stack_lock();
    if (xw_stack_running())
        xw_sock_foreach(handoff_cb);
    xw_handoff_note_fork_locked();
}

void xw_handoff_parent(void)
{
    if (xw_keeper_forking())
        return;
    for (struct pump *p = pumps, *next; p; p = next) {
        next = p->next;
        if (!p->started)
            pump_start(p);
    }
    xw_stack_unlock();
}

void xw_handoff_child(void)
{
    /* The pumps are the parent's; their fds are not the child's business. */
    for (struct pump *p = pumps; p; p = p->next) {
        close(p->b);
        close(p->done_fd);
        close(p->ctl_fd);
    }
    pumps = NULL;
    running = 0;
    if (pause_fd >= 0)
        close(pause_fd);
    pause_fd = -1;
    pthread_cond_init(&pumps_gone, NULL);
}

int xw_handoff_count_locked(void)
{
    int n = 0;

    for (struct pump *p = pumps; p; p = p->next)
        n++;
    return n;
}

void xw_handoff_pause_locked(void)
{
    if (!pumps)
        return;
    atomic_store(&pausing, true);
    (void)!write(pause_fd, &(uint64_t){ 1 }, sizeof(uint64_t));
    for (struct pump *p = pumps; p; p = p->next) {
        atomic_store(&p->s->halt, true);
        xw_path_of(p->s)->wake(p->s);
        xw_sock_wake(p->s);
    }
    xw_stack_wake_now();
    while (running > 0)
        pthread_cond_wait(&pumps_gone, &xw_stack_mutex);
}

void xw_handoff_resume_locked(bool after_fork)
{
    struct stat st;
    uint64_t v;

    if (after_fork) {
        pthread_cond_init(&pumps_gone, NULL);
        /* The keeper inherited the numbers too: held by it, a number would
         * never hang up when the processes that use it close it. */
        for (struct pump *p = pumps; p; p = p->next)
            if (fstat(p->fd, &st) == 0 && st.st_dev == p->a_dev && st.st_ino == p->a_ino)
                close(p->fd);
    }
    if (!atomic_load(&pausing))
        return;
    (void)!read(pause_fd, &v, sizeof(v));
    atomic_store(&pausing, false);
    for (struct pump *p = pumps; p; p = p->next)
        atomic_store(&p->s->halt, false);
    for (struct pump *p = pumps, *next; p; p = next) {
        next = p->next;
        pump_start(p);
    }
}

static void wait_pumps(int seconds)
{
    struct timespec dl;

    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += seconds;
    xw_stack_wake_now();
    while (pumps && pthread_cond_timedwait(&pumps_gone, &xw_stack_mutex, &dl) == 0)
        ;
}

void xw_handoff_stop_all(void)
{
    xw_stack_lock();
    /* As the kernel does for the sockets of an exiting process: what was
     * written is delivered — the pumps whose holders are gone finish on their
     * own; those still held by another process end now. */
    wait_pumps(2);
    for (struct pump *p = pumps; p; p = p->next) {
        pump_close(p);
        shutdown(p->b, SHUT_RDWR);
    }
    wait_pumps(1);
    xw_stack_unlock();
}

/* ---- claims (handoff.h) ------------------------------------------------------- */

/* The pump whose number fd is (this process's copy of it, the same file). */
static struct pump *pump_of_number(int fd)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return NULL;
    for (struct pump *p = pumps; p; p = p->next)
        if (p->a_ino && p->fd == fd && p->a_dev == st.st_dev && p->a_ino == st.st_ino)
            return p;
    return NULL;
}

void xw_handoff_release(int fd, bool copied)
{
    struct pump *p;

    xw_stack_lock();
    if ((p = pump_of_number(fd)) && p->held) {
        if (copied) {
            p->no_claim = true;
        } else {
            p->held = false;
            xw_sock_unmark(fd);
        }
    }
    xw_stack_unlock();
}

/* Stop p's threads (lock held, released while waiting); they keep their
 * state, as in a pause. */
static void halt(struct pump *p)
{
    atomic_store(&p->halting, true);
    atomic_store(&p->s->halt, true);
    (void)!write(p->ctl_fd, &(uint64_t){ 1 }, sizeof(uint64_t));
    xw_path_of(p->s)->wake(p->s);
    xw_sock_wake(p->s);
    xw_stack_wake_now();
    while (p->active > 0)
        pthread_cond_wait(&pumps_gone, &xw_stack_mutex);
    atomic_store(&p->s->halt, false);
}

/* The claim failed: p goes on where it stopped (rc returned). */
static int unhalt(struct pump *p, int rc)
{
    uint64_t v;

    (void)!read(p->ctl_fd, &v, sizeof(v));
    atomic_store(&p->halting, false);
    if (atomic_fetch_sub(&p->threads, 1) == 1) { /* (our hold was the last) */
        pump_free(p);
        return rc;
    }
    pump_start(p);
    return rc;
}

/* Move what p holds for the connection on: its bytes and what the process
 * wrote into the stream, into the connection, waiting up to CLAIM_WAIT_MS for
 * room (lock held, released while waiting).  0, -EAGAIN (no room), -errno. */
#define CLAIM_WAIT_MS 20
static int flush_out(struct pump *p)
{
    uint64_t deadline = xw_mono_ns() + CLAIM_WAIT_MS * 1000000ull;

    for (;;) {
        ssize_t n;
        if (p->out_off < p->out_len) {
            struct iovec v = { p->out_buf + p->out_off, p->out_len - p->out_off };
            n = xw_sock_send_locked(p->s, &v, 1, v.iov_len, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n == -EAGAIN && xw_mono_ns() < deadline && !p->s->err) {
                xw_stack_flush(); /* what lwIP queued goes out while we sleep */
                xw_stack_unlock();
                nanosleep(&(struct timespec){ 0, 50000 }, NULL);
                xw_stack_lock();
                continue;
            }
            if (n < 0)
                return (int)n;
            p->out_off += (size_t)n;
            continue;
        }
        n = read(p->b, p->out_buf, PUMP_BUF);
        if (n > 0) {
            p->out_bytes += (uint64_t)n;
            p->out_off = 0;
            p->out_len = (size_t)n;
            continue;
        }
        if (n == 0) /* the process shut its side down: the pump passes that on */
            return -EPIPE;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        return 0;
    }
}

/* p's bytes for the process, as many as the stream takes now: the number of
 * those left (the claimer gets them after the stream's). */
static size_t flush_in(struct pump *p)
{
    while (p->in_off < p->in_len) {
        ssize_t w = send(p->b, p->in_buf + p->in_off, p->in_len - p->in_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p->in_off += (size_t)w;
    }
    return p->in_len - p->in_off;
}

int xw_handoff_claim_locked(dev_t dev, ino_t ino, struct xw_sock **out, void *tail,
                            size_t *taillen)
{
    struct xw_chan_desc desc;
    struct pump *p = NULL;
    int rc;

    for (struct pump *q = pumps; q && !p; q = q->next)
        if (q->a_ino && q->a_dev == dev && q->a_ino == ino)
            p = q;
    if (!p)
        return -ENOENT;
    if (p->held)
        return -EBUSY;
    /* (a connection whose channel this stack created cannot be lent: its
     * pages are granted to the peer, not to our domain) */
    if (p->forks != 1 || p->no_claim || p->closed || (p->in_fin && !p->in_eof) || p->out_fin ||
        p->out_eof || p->skip || atomic_load(&pausing) || atomic_load(&p->halting) ||
        xw_path_of(p->s) != &xw_ring_ops || !p->s->ring.ch || p->s->err ||
        xw_channel_describe(p->s->ring.ch, &desc) < 0) {
        xw_debug("fd %d: not claimable (forks %d, no_claim %d, closed %d, in %d/%d, out %d/%d)",
                 p->fd, p->forks, p->no_claim, p->closed, p->in_fin, p->in_eof, p->out_fin,
                 p->out_eof);
        return -EPERM;
    }
    atomic_fetch_add(&p->threads, 1); /* held: a direction ending now cannot free it */
    halt(p);
    if (p->closed || (p->in_fin && !p->in_eof) || p->out_fin || p->out_eof || p->s->err) {
        xw_debug("fd %d: not claimable once stopped", p->fd);
        return unhalt(p, -EPERM);
    }
    if ((rc = flush_out(p)) < 0)
        return unhalt(p, rc == -EAGAIN ? -EAGAIN : -EPERM);
    *taillen = flush_in(p);
    memcpy(tail, p->in_buf + p->in_off, *taillen);
    /* The pump is over; the connection is not: the caller has the pump's
     * reference to it.  Closing B ends the stream after what it holds. */
    for (struct pump **pp = &pumps; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    xw_info("fd %d: handed-off connection claimed by the process that holds it "
            "(%llu bytes in, %llu out through the pump)", p->fd,
            (unsigned long long)p->in_bytes, (unsigned long long)p->out_bytes);
    *out = p->s;
    close(p->b);
    close(p->done_fd);
    close(p->ctl_fd);
    free(p);
    return 0;
}

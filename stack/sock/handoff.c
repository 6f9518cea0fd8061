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
#include <time.h>
#include <unistd.h>

#include "keeper.h"
#include "log.h"
#include "socket.h"
#include "stack.h"
#include "tcp_path.h"
#include "thread.h"
#include "xway.h"

#define PUMP_BUF (64 * 1024)
#define PIPE_BUF_BYTES (256 * 1024) /* each direction of the pair */

struct pump {
    struct pump *next;
    struct xw_sock *s; /* held by one reference of the pump's own */
    int fd;            /* the number, for logs */
    int b;             /* the stack's end of the pair */
    int done_fd;       /* eventfd: the receiving direction has finished */
    _Atomic int threads;
    bool closed;       /* the connection has been closed (lock) */
    uint64_t in_bytes, out_bytes;
    bool started;
};

static struct pump *pumps; /* every pump of this process (lock) */
static pthread_cond_t pumps_gone = PTHREAD_COND_INITIALIZER;

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

/* One thread leaves; the last one frees the pump. */
static void pump_exit(struct pump *p)
{
    struct pump **pp;

    if (atomic_fetch_sub(&p->threads, 1) != 1)
        return;
    xw_stack_lock();
    pump_close(p);
    xw_sock_put(p->s);
    for (pp = &pumps; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    pthread_cond_broadcast(&pumps_gone);
    xw_stack_leave();
    xw_debug("fd %d: handed-off connection finished: %llu bytes in, %llu out", p->fd,
             (unsigned long long)p->in_bytes, (unsigned long long)p->out_bytes);
    close(p->b);
    close(p->done_fd);
    free(p);
}

static int send_all(int fd, const char *buf, size_t n)
{
    while (n) {
        ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The connection -> B. */
static void *pump_in(void *arg)
{
    struct pump *p = arg;
    char *buf = malloc(PUMP_BUF);
    ssize_t rc = buf ? 1 : -ENOMEM;

    while (rc > 0) {
        struct iovec v = { buf, PUMP_BUF };
        xw_stack_lock();
        rc = p->closed ? -EBADF : xw_sock_recv_locked(p->s, &v, 1, PUMP_BUF, 0);
        xw_stack_leave();
        if (rc > 0)
            p->in_bytes += (uint64_t)rc;
        if (rc > 0 && send_all(p->b, buf, (size_t)rc) < 0) {
            /* Nobody holds the number any more. */
            xw_debug("fd %d: handed-off connection: nobody holds it (%s)", p->fd,
                     strerror(errno));
            xw_stack_lock();
            pump_close(p);
            xw_stack_leave();
            rc = -EPIPE;
        }
    }
    if (rc < 0)
        xw_debug("fd %d: handed-off connection: receive: %s", p->fd, strerror((int)-rc));
    if (rc == 0)
        shutdown(p->b, SHUT_WR); /* the peer's FIN: EOF after the last byte */
    else if (rc != -EPIPE && rc != -EBADF)
        shutdown(p->b, SHUT_RDWR); /* reset or error: EOF, and writes fail */
    free(buf);
    (void)!write(p->done_fd, &(uint64_t){ 1 }, sizeof(uint64_t));
    pump_exit(p);
    return NULL;
}

/* B -> the connection; then wait for the holders of the number to let go. */
static void *pump_out(void *arg)
{
    struct pump *p = arg;
    char *buf = malloc(PUMP_BUF);
    ssize_t n;
    struct pollfd pf[2] = { { .fd = p->b }, { .fd = p->done_fd, .events = POLLIN } };

    while (buf && (n = read(p->b, buf, PUMP_BUF)) != 0) {
        ssize_t rc = 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        p->out_bytes += (uint64_t)n;
        xw_stack_lock();
        for (ssize_t off = 0; off < n && rc >= 0; off += rc) {
            struct iovec v = { buf + off, (size_t)(n - off) };
            rc = p->closed ? -EBADF : xw_sock_send_locked(p->s, &v, 1, v.iov_len, MSG_NOSIGNAL);
        }
        xw_stack_leave();
        if (rc < 0) {
            xw_debug("fd %d: handed-off connection: send: %s", p->fd, strerror((int)-rc));
            shutdown(p->b, SHUT_RD); /* the connection is gone: writers get EPIPE */
        }
    }
    free(buf);
    /* EOF from the holders: pass the FIN on. */
    xw_stack_lock();
    if (!p->closed)
        xw_tcp_shutdown(p->s, false, true);
    xw_stack_leave();
    /* Every holder closed (hang-up), or the other direction is over too. */
    while (poll(pf, 2, -1) < 0 && errno == EINTR)
        ;
    xw_stack_lock();
    pump_close(p);
    xw_stack_leave();
    pump_exit(p);
    return NULL;
}

static void pump_start(struct pump *p)
{
    pthread_t t;
    int rc;

    p->started = true;
    atomic_store(&p->threads, 2);
    if ((rc = xw_thread_start(&t, true, pump_in, p)) < 0) {
        xw_warn("fd %d: no thread for a handed-off connection (%s): closing it", p->fd,
                strerror(-rc));
        atomic_store(&p->threads, 1);
        shutdown(p->b, SHUT_RDWR);
        (void)!write(p->done_fd, &(uint64_t){ 1 }, sizeof(uint64_t));
    }
    if ((rc = xw_thread_start(&t, true, pump_out, p)) < 0) {
        xw_warn("fd %d: no thread for a handed-off connection (%s): closing it", p->fd,
                strerror(-rc));
        xw_stack_lock();
        pump_close(p);
        xw_stack_unlock();
        pump_exit(p);
    }
}

int xw_handoff_locked(struct xw_sock *s, bool start)
{
    int big = PIPE_BUF_BYTES, fl;
    struct pump *p;

    /* Only what the application holds: not a connection still negotiating or
     * waiting in an accept queue. */
    if ((s->state != XW_SS_CONNECTED && !(s->state == XW_SS_DEAD && s->was_connected)) ||
        s->queued || s->listener || s->doomed)
        return -ENOTCONN;
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->done_fd = eventfd(0, EFD_CLOEXEC);
    if (p->done_fd < 0) {
        free(p);
        return -errno;
    }
    pthread_mutex_lock(&s->ready.lock);
    xw_ready_stop_locked(&s->ready);
    pthread_mutex_unlock(&s->ready.lock);
    /* A is the application's alone now, with its O_NONBLOCK; B blocks. */
    fl = fcntl(s->ready.a, F_GETFL);
    fcntl(s->ready.a, F_SETFL, s->nonblock ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
    fcntl(s->ready.b, F_SETFL, fcntl(s->ready.b, F_GETFL) & ~O_NONBLOCK);
    setsockopt(s->ready.a, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    setsockopt(s->ready.b, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    p->s = s;
    p->fd = s->fd;
    p->b = s->ready.b;
    s->ready.a = s->ready.b = -1;
    xw_sock_mark_handed(s);
    s->nonblock = false;
    s->rcvtimeo = s->sndtimeo = (struct timeval){ 0 };
    s->refs++;
    p->next = pumps;
    pumps = p;
    xw_info("fd %d: handed to its kernel fd (%s path): pumped by this process",
            s->fd, xw_path_of(s)->name);
    if (start)
        pump_start(p);
    return 0;
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

    if (s->state == XW_SS_LISTEN) {
        s->shared = true; /* the child holds it too (keeper.h) */
        return;
    }
    rc = xw_handoff_locked(s, false);

    if (rc < 0 && rc != -ENOTCONN)
        xw_warn("fd %d: not handed off before fork: %s", s->fd, strerror(-rc));
}

void xw_handoff_prepare(void)
{
    if (xw_keeper_forking())
        return;
    xw_stack_lock();
    if (xw_stack_running())
        xw_sock_foreach(handoff_cb);
}

void xw_handoff_parent(void)
{
    if (xw_keeper_forking())
        return;
    for (struct pump *p = pumps; p; p = p->next)
        if (!p->started)
            pump_start(p);
    xw_stack_unlock();
}

void xw_handoff_child(void)
{
    /* The pumps are the parent's; their fds are not the child's business. */
    for (struct pump *p = pumps; p; p = p->next) {
        close(p->b);
        close(p->done_fd);
    }
    pumps = NULL;
    pthread_cond_init(&pumps_gone, NULL);
}

static void wait_pumps(int seconds)
{
    struct timespec dl;

    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += seconds;
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

/* The pollable kernel fd of a socket (see readyfd.h). */
#include "readyfd.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

int xw_ready_open(struct xw_ready *r, bool cloexec, bool writable)
{
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | (cloexec ? SOCK_CLOEXEC : 0), 0,
                   sv) < 0)
        return -errno;
    /* B is never handed to the application nor inherited by its children. */
    if (!cloexec)
        fcntl(sv[1], F_SETFD, FD_CLOEXEC);
    r->a = sv[0];
    r->b = sv[1];
    r->rd = false;
    r->wr = true; /* (as made: A's buffer empty) */
    r->off = r->rdhup = r->hup = r->err = r->small = false;
    pthread_mutex_init(&r->lock, NULL);
    xw_ready_set(r, false, writable);
    return 0;
}

void xw_ready_close(struct xw_ready *r)
{
    if (r->b >= 0)
        close(r->b);
    if (r->a >= 0)
        close(r->a);
    r->a = r->b = -1;
    pthread_mutex_destroy(&r->lock);
}

/* A stream read takes everything queued up to its size, and a nonblocking
 * write what fits: a short count says empty (drain) or full (fill), with no
 * second call to see EAGAIN.  (A full A holds ~4.5 KiB: the minimum send
 * buffer.) */
#define CHUNK 16384

static void drain(int fd)
{
    char buf[CHUNK];
    while (read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf))
        ;
}

static void fill(struct xw_ready *r)
{
    static const char junk[CHUNK];
    int small = 1; /* the kernel rounds up to its minimum */

    /* (A's buffer made small at its first fill: most sockets never need it) */
    if (!r->small) {
        setsockopt(r->a, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
        r->small = true;
    }
    while (write(r->a, junk, sizeof(junk)) == (ssize_t)sizeof(junk))
        ;
}

void xw_ready_set(struct xw_ready *r, bool readable, bool writable)
{
    pthread_mutex_lock(&r->lock);
    xw_ready_set_locked(r, readable, writable);
    pthread_mutex_unlock(&r->lock);
}

void xw_ready_stop_locked(struct xw_ready *r)
{
    r->off = true;
    drain(r->a);
    drain(r->b);
}

void xw_ready_pulse_locked(struct xw_ready *r)
{
    if (r->rd && !r->off && !r->rdhup)
        (void)!send(r->b, "r", 1, MSG_NOSIGNAL); /* more queued on A: a new EPOLLIN edge */
}

void xw_ready_ends_locked(struct xw_ready *r, bool rdhup, bool hup, bool err)
{
    if (r->off || r->err)
        return;
    if (err) {
        /* Closing B with a byte unread in it gives A the error (ECONNRESET)
         * besides both ends. */
        xw_ready_set_locked(r, true, true);
        (void)!send(r->a, "e", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        close(r->b);
        r->b = -1;
        r->err = r->hup = r->rdhup = true;
    } else if (hup && !r->hup) {
        xw_ready_set_locked(r, true, true);
        shutdown(r->b, SHUT_RDWR);
        r->hup = r->rdhup = true;
    } else if (rdhup && !r->rdhup) {
        xw_ready_set_locked(r, true, r->wr);
        shutdown(r->b, SHUT_WR);
        r->rdhup = true;
    }
}

void xw_ready_set_locked(struct xw_ready *r, bool readable, bool writable)
{
    if (r->off)
        return;
    if (r->rdhup) /* A reads EOF for good */
        readable = true;
    if (r->hup)
        writable = true;
    if (readable != r->rd) {
        if (readable)
            (void)!send(r->b, "r", 1, MSG_NOSIGNAL);
        else
            drain(r->a);
        r->rd = readable;
    }
    if (writable != r->wr) {
        if (writable)
            drain(r->b);
        else
            fill(r);
        r->wr = writable;
    }
}

/* The zero-copy API (include/xway_zc.h): each socket's open view and
 * reservation, and the calls that open and close them through the
 * connection's path (path.h: zc_view/zc_consume, zc_reserve/zc_commit).
 *
 * A path that runs without the stack lock (the ring) is called under a
 * lock-free reference, as send and recv are; the TCP path under the lock.
 * A direction's state (socket.h: struct xw_zc_dir; conn.c moves it) goes
 * NONE -> OPENING while the call waits, OPEN once the path described the
 * bytes, CLOSING while they are consumed or sent, NONE again: a second open
 * finds it taken (EALREADY), a close finds it not OPEN (EINVAL), the
 * direction's other data calls find it not NONE (EBUSY, api.c).  The path
 * that made the view or reservation is the one that closes it.
 */
#include "socket.h"

#include "path.h"
#include "stack.h"
#include "xway_zc.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "xway.h"

struct zc_ref {
    struct xw_sock *s;
    bool locked; /* under the stack lock (else a lock-free reference) */
};

/* The socket of fd, held the way its path runs.  false: errno set. */
static bool zc_get(int fd, struct zc_ref *r)
{
    r->s = xw_sock_get_fast(fd);
    if (r->s && xw_path_of(r->s)->unlocked_io) {
        r->locked = false;
        return true;
    }
    if (r->s)
        xw_sock_put_fast(r->s);
    r->locked = true;
    r->s = xw_api_enter(fd);
    return r->s != NULL;
}

/* Let go of it with a result: negative values become -1 + errno. */
static ssize_t zc_put(struct zc_ref *r, ssize_t rc)
{
    if (r->locked) {
        xw_stack_leave();
    } else {
        xw_sock_put_fast(r->s);
    }
    if (rc < 0) {
        errno = (int)-rc;
        return -1;
    }
    return rc;
}

/* Open one, again on the new path if the connection switched meanwhile. */
static ssize_t zc_open_fd(int fd, bool sending, size_t want, struct xway_zc *z, int flags)
{
    for (;;) {
        struct zc_ref r;
        const struct xw_path_ops *ops;
        ssize_t n;

        if (!zc_get(fd, &r))
            return -1;
        ops = xw_path_of(r.s);
        n = xw_sock_zc_open(r.s, sending, want, z->seg,
                            r.s->nonblock || (flags & MSG_DONTWAIT));
        if (n > 0)
            z->len = (size_t)n;
        if (n != -EAGAIN || xw_path_of(r.s) == ops || r.s->closing)
            return zc_put(&r, n);
        zc_put(&r, 0);
    }
}

ssize_t xway_zc_recv(int fd, struct xway_zc *z, int flags) XW_EXPORT;
ssize_t xway_zc_recv(int fd, struct xway_zc *z, int flags)
{
    if (!z || (flags & ~MSG_DONTWAIT)) {
        errno = EINVAL;
        return -1;
    }
    return zc_open_fd(fd, false, 0, z, flags);
}

int xway_zc_recv_done(int fd, size_t n) XW_EXPORT;
int xway_zc_recv_done(int fd, size_t n)
{
    struct zc_ref r;

    if (!zc_get(fd, &r))
        return -1;
    return (int)zc_put(&r, xw_sock_zc_close(r.s, false, n, 0));
}

ssize_t xway_zc_reserve(int fd, size_t want, struct xway_zc *z, int flags) XW_EXPORT;
ssize_t xway_zc_reserve(int fd, size_t want, struct xway_zc *z, int flags)
{
    if (!z || !want || (flags & ~MSG_DONTWAIT)) {
        errno = EINVAL;
        return -1;
    }
    return zc_open_fd(fd, true, want, z, flags);
}

ssize_t xway_zc_commit(int fd, size_t n, int flags) XW_EXPORT;
ssize_t xway_zc_commit(int fd, size_t n, int flags)
{
    struct zc_ref r;
    ssize_t rc;

    if (flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL)) {
        errno = EINVAL;
        return -1;
    }
    if (!zc_get(fd, &r))
        return -1;
    rc = xw_sock_zc_close(r.s, true, n, flags | MSG_NOSIGNAL);
    if (rc == -EPIPE && !(flags & MSG_NOSIGNAL))
        raise(SIGPIPE);
    return zc_put(&r, rc);
}

/* Listeners shared over fork (pre-fork servers).
 *
 * A listener is its owner's: the process whose stack listens (stack/sock/
 * owner.h).  A forked child keeps the listener's number (XS_SHARED): a kernel
 * fd, the same file as the owner's, readable while the owner's accept queue
 * holds a connection, and the listener's kernel twin (dual_listen.c).  The
 * child's accept asks the owner for the next connection over the process
 * channel and gets it as a kernel fd carrying its bytes (handed off: the
 * owner's pump moves them), so any number of children accept on one listener,
 * blocking or not, in poll/select/epoll (EPOLLEXCLUSIVE included: it is the
 * kernel's, on the same file) or under an accept mutex, and the parent need not
 * accept anything itself. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "owner.h"
#include "satellite.h"
#include "shim.h"

/* This process's connection to the owner: one call at a time.  A forked child
 * starts without it (xs_shared_after_fork). */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int cfd = -1;
static bool hello; /* cfd said HELLO: ring connections come as satellites' */

void xs_shared_after_fork(void)
{
    pthread_mutex_init(&mu, NULL);
    if (cfd >= 0)
        xs_real.close(cfd);
    cfd = -1;
    hello = false;
}

/* Can this process serve ring connections itself now (satellite.h)?  It
 * says so once per connection to the owner (HELLO).  Asked at each accept: a
 * worker that gave up root or chrooted since cannot map any more. */
static bool can_adopt(const struct xw_owner_ref *o)
{
    int ev = XS_STACK_CALL(xw_sat_fwd_fd());

    if (ev >= 0 && !hello)
        hello = XS_STACK_CALL(xw_owner_hello(cfd, o, ev)) == 0;
    return ev >= 0 && hello;
}

/* One ACCEPT call (connecting first, once again if the connection broke).
 * *sat: the connection came as a satellite's, r its number already. */
static int call_accept(int fd, int flags, struct xw_owner_conn *ci, bool *sat)
{
    const struct xw_owner_ref *o = XS_STACK_CALL(xw_owner_parent());
    struct xw_chan_desc desc;
    int r = -ECONNRESET;
    bool direct;

    if (!o)
        return -ECONNRESET;
    pthread_mutex_lock(&mu);
    for (int tries = 0; tries < 2; tries++) {
        if (cfd < 0 && (cfd = XS_STACK_CALL(xw_owner_connect(o))) < 0) {
            r = cfd == -ENOENT || cfd == -ECONNREFUSED ? -ECONNRESET : cfd;
            cfd = -1;
            break;
        }
        direct = can_adopt(o);
        r = XS_STACK_CALL(xw_owner_accept(cfd, o, fd, flags, ci, direct ? &desc : NULL, sat));
        if (r >= 0 || r == -EAGAIN || r == -EINVAL)
            break;
        xs_real.close(cfd);
        cfd = -1;
        hello = false;
    }
    pthread_mutex_unlock(&mu);
    if (r >= 0 && *sat) {
        r = XS_STACK_CALL(xw_sat_adopt(&desc, ci, r, flags));
        if (r < 0) /* (the owner resets the connection) */
            xs_warn("fd %d: a ring connection from the owner could not be mapped here (%s): "
                    "reset", fd, strerror(-r));
        else
            xs_fd_set_sock(r, ci->self.ss_family, flags & SOCK_NONBLOCK, true);
    }
    return r;
}

int xs_shared_claim(int fd, int flags)
{
    const struct xw_owner_ref *o = XS_STACK_CALL(xw_owner_parent());
    int r;

    if (!o)
        return -ECONNRESET;
    pthread_mutex_lock(&mu);
    if (cfd < 0 && (cfd = XS_STACK_CALL(xw_owner_connect(o))) < 0) {
        r = cfd;
        cfd = -1;
    } else if (!can_adopt(o)) {
        r = -EPERM; /* this process cannot map the channel */
    } else if ((r = XS_STACK_CALL(xw_sat_claim(cfd, o, fd, flags))) < 0 && r != -EAGAIN &&
               r != -EBUSY && r != -EPERM && r != -ENOENT) {
        xs_real.close(cfd); /* (an answer may still come on it) */
        cfd = -1;
        hello = false;
    }
    pthread_mutex_unlock(&mu);
    return r;
}

void xs_shared_copy_locked(int from, int to)
{
    struct xs_fd *e = xs_fd_peek(from), *ne = xs_fd_get(to);

    if (!e || !ne || atomic_load(&e->kind) != XS_SHARED)
        return;
    xs_fd_clear(ne);
    ne->domain = e->domain;
    ne->addr = e->addr;
    ne->addrlen = e->addrlen;
    atomic_store(&ne->nonblock, atomic_load(&e->nonblock));
    /* A listener the owner made for us lives while a copy of our connection
     * to it does: each number holds one. */
    if (atomic_load(&e->pend) > 0) {
        int c = xs_real.fcntl(atomic_load(&e->pend) - 1, F_DUPFD_CLOEXEC, 0);
        atomic_store(&ne->pend, c >= 0 ? c + 1 : 0);
    }
    atomic_store(&ne->kind, XS_SHARED); /* no twin of its own: kernel clients come through from's */
}

/* The new number r is a connection handed off by the owner. */
static void install(int r, int domain, const struct xw_owner_conn *ci)
{
    struct xs_fd *ne = xs_fd_get(r);

    if (!ne)
        return;
    xs_lock();
    xs_fd_clear(ne);
    ne->domain = domain;
    ne->addr = ci->self;
    ne->addrlen = ci->selflen;
    ne->peer = ci->peer;
    ne->peerlen = ci->peerlen;
    atomic_store(&ne->kind, XS_HANDED);
    xs_unlock();
}

static void give_name(const struct xw_owner_conn *ci, struct sockaddr *addr, socklen_t *len)
{
    if (!addr || !len)
        return;
    memcpy(addr, &ci->peer, *len < ci->peerlen ? *len : ci->peerlen);
    *len = ci->peerlen;
}

/* The owner is gone (killed, with no keeper): the number becomes its kernel
 * twin, a plain kernel listener, in its epoll registrations too (its pair's
 * end hung up for good: left there, it would wake its pollers for ever).
 * 0, or -1 when there is no twin (the listener is dead). */
static int owner_lost(int fd, struct xs_fd *e, int err)
{
    int twin, rc = -1;
    struct xs_fd *te;

    xs_lock();
    twin = atomic_load(&e->twin);
    if (atomic_load(&e->kind) == XS_SHARED && twin >= 0 && xs_epoll_swap(fd, twin, false, NULL) == fd) {
        if ((te = xs_fd_peek(twin)))
            xs_fd_clear(te);
        xs_real.close(twin);
        xs_real.fcntl(fd, F_SETFL, atomic_load(&e->nonblock) ? O_NONBLOCK : 0);
        xs_fd_clear(e);
        rc = 0;
    }
    xs_unlock();
    xs_warn("fd %d: the listener's owner cannot be reached (%s): %s", fd, strerror(-err),
            rc == 0 ? "it is a kernel listener now" : "no connection can come");
    return rc;
}

int xs_shared_accept(int fd, struct xs_fd *e, struct sockaddr *addr, socklen_t *len, int flags)
{
    for (;;) {
        struct xw_owner_conn ci;
        int twin = atomic_load(&e->twin), r;
        bool sat = false;

        r = call_accept(fd, flags, &ci, &sat);
        if (r >= 0) {
            if (!sat)
                install(r, e->domain, &ci);
            give_name(&ci, addr, len);
            xs_info("fd %d: accepted fd %d from the owner's listener (%s path, %s)", fd, r,
                    ci.path, sat ? "served in this process" : "pumped by the owner");
            return r;
        }
        if (sat) { /* adopting failed: that connection is lost (reset) */
            errno = r == -EMFILE || r == -ENFILE || r == -ENOMEM ? -r : ECONNABORTED;
            return -1;
        }
        if (r != -EAGAIN && r != -ECONNRESET && r != -EINVAL) {
            errno = -r; /* the owner is slow (ETIMEDOUT) or out of resources */
            return -1;
        }
        if (r != -EAGAIN) { /* gone, or the listener is no longer its */
            if (owner_lost(fd, e, r) < 0) {
                errno = ECONNABORTED;
                return -1;
            }
            return xs_real.accept4(fd, addr, len, flags);
        }
        if (twin >= 0) {
            r = xs_real.accept4(twin, addr, len, flags);
            if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
                return r;
        }
        if (atomic_load(&e->nonblock)) {
            errno = EAGAIN;
            return -1;
        }
        struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = twin, .events = POLLIN } };
        if (xs_real.poll(p, twin >= 0 ? 2 : 1, -1) < 0)
            return -1;
    }
}

int xs_shared_listen(int fd, struct xs_fd *e, int backlog)
{
    const struct xw_owner_ref *o = XS_STACK_CALL(xw_owner_parent());
    int ra = 0, rp = 0, c, l, twin = -1, fl;
    socklen_t sl = sizeof(int);
    struct xs_fd *te;

    /* The kernel side first: it is the twin (kernel clients). */
    if (xs_real.listen(fd, backlog) < 0)
        return -1;
    e->child_ino = 0;
    if (!o)
        return 0;
    xs_real.getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &ra, &sl);
    sl = sizeof(int);
    xs_real.getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &rp, &sl);
    c = XS_STACK_CALL(xw_owner_connect(o));
    l = c < 0 ? c
              : XS_STACK_CALL(xw_owner_listen(c, o, (struct sockaddr *)&e->addr, e->addrlen,
                                              backlog, (ra ? XW_OWNER_REUSEADDR : 0) |
                                                           (rp ? XW_OWNER_REUSEPORT : 0)));
    fl = xs_real.fcntl(fd, F_GETFL);
    xs_lock();
    if (l >= 0 && (twin = xs_real.fcntl(fd, F_DUPFD_CLOEXEC, 0)) >= 0 && (te = xs_fd_get(twin)) &&
        xs_epoll_swap(fd, l, false, NULL) == fd) {
        struct sockaddr_storage addr = e->addr;
        socklen_t addrlen = e->addrlen;
        int domain = e->domain;
        xs_real.fcntl(twin, F_SETFL, O_NONBLOCK);
        xs_fd_clear(te);
        atomic_store(&te->key, fd);
        atomic_store(&te->kind, XS_TWIN);
        xs_fd_clear(e);
        e->domain = domain;
        e->addr = addr;
        e->addrlen = addrlen;
        atomic_store(&e->nonblock, (fl & O_NONBLOCK) != 0);
        atomic_store(&e->twin, twin);
        atomic_store(&e->pend, c + 1);
        atomic_store(&e->kind, XS_SHARED);
        xs_unlock();
        xs_real.close(l);
        xs_info("fd %d: listening through the owner's stack (and in the kernel, fd %d)", fd, twin);
        return 0;
    }
    xs_unlock();
    if (twin >= 0)
        xs_real.close(twin);
    if (l >= 0)
        xs_real.close(l);
    if (c >= 0)
        xs_real.close(c);
    if (l == -EADDRINUSE) { /* the stack's port is taken (not an SO_REUSEPORT group) */
        errno = EADDRINUSE;
        return -1;
    }
    xs_warn("fd %d: listening in the kernel only (the owner's stack: %s)", fd,
            strerror(l < 0 ? -l : errno));
    return 0;
}

/* Connections a forked child makes, through its owner.
 *
 * A forked child has no stack (fork.c): its sockets are the kernel's, and the
 * kernel cannot reach the stack's link — a worker of a proxy connecting to an
 * upstream on the xway network would get ENETUNREACH.  So connect() in a child
 * on a TCP socket to a destination that the stack reaches asks the owner
 * (stack/sock/owner.h: CONNECT): the owner's stack connects (the ring when the
 * destination is co-resident) and hands the connection to a stream pair whose
 * other end becomes the child's number (XS_HANDED, as an accepted connection;
 * the owner's pump moves its bytes).
 *
 * Blocking connect waits for the answer (up to SO_SNDTIMEO, then EINPROGRESS
 * as Linux).  Nonblocking connect returns EINPROGRESS at once with the stream
 * already on the number, filled from our end until it would block, so the
 * number polls writable (POLLOUT, an EPOLLOUT edge) only when the owner, the
 * connection made, drops the filler; if the connect fails, the stream ends
 * (POLLHUP) and SO_ERROR gives the connect's error (it waits for the answer
 * when it has not come yet); connect() again gives EALREADY, EISCONN or that
 * error.  Options set on the socket before connect, and a bind, are not
 * carried to the owner's socket. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "owner.h"
#include "shim.h"

/* Write filler into our end a until it would block: its count. */
static uint32_t fill(int a)
{
    static const char zero[8192];
    uint32_t n = 0;
    ssize_t w;

    while (n < (1u << 24) && (w = xs_real.send(a, zero, sizeof(zero), MSG_DONTWAIT)) > 0)
        n += (uint32_t)w;
    return n;
}

/* Number fd is the connection: its entry, with the names if known. */
static void install(int fd, const struct sockaddr *to, socklen_t tolen,
                    const struct xw_owner_conn *ci, int pend)
{
    struct xs_fd *e = xs_fd_get(fd);

    if (!e)
        return;
    xs_fd_clear(e);
    e->domain = to->sa_family;
    memcpy(&e->peer, to, tolen);
    e->peerlen = tolen;
    if (ci) {
        e->addr = ci->self;
        e->addrlen = ci->selflen;
        e->peer = ci->peer;
        e->peerlen = ci->peerlen;
    }
    atomic_store(&e->pend, pend + 1);
    atomic_store(&e->kind, XS_HANDED);
}

int xs_outgoing_connect(int fd, const struct sockaddr *to, socklen_t tolen)
{
    const struct xw_owner_ref *o = XS_STACK_CALL(xw_owner_parent());
    int fl = xs_real.fcntl(fd, F_GETFL), sv[2], c, r;
    struct timeval tmo = { 0 };
    socklen_t tl = sizeof(tmo);
    struct xw_owner_conn ci;
    uint32_t filler = 0;
    bool pending = false;

    if (!o || fl < 0)
        return 1;
    xs_real.getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, &tl);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    if (fl & O_NONBLOCK) {
        xs_real.fcntl(sv[0], F_SETFL, O_NONBLOCK);
        filler = fill(sv[0]);
    }
    c = XS_STACK_CALL(xw_owner_connect(o));
    r = c < 0 ? c : XS_STACK_CALL(xw_owner_connect_send(c, o, to, tolen, sv[1], filler));
    xs_real.close(sv[1]);
    if (r == 0 && !(fl & O_NONBLOCK)) {
        long long ms = tmo.tv_sec || tmo.tv_usec ? tmo.tv_sec * 1000LL + tmo.tv_usec / 1000 : -1;
        r = XS_STACK_CALL(xw_owner_connect_result(c, ms > INT_MAX ? -1 : (int)ms, &ci));
        pending = r == -ETIMEDOUT; /* SO_SNDTIMEO: EINPROGRESS, as Linux */
    } else if (r == 0) {
        pending = true;
    }
    if (r < 0 && !pending) {
        if (c >= 0)
            xs_real.close(c);
        xs_real.close(sv[0]);
        /* The owner is gone: the network is, for this process. */
        errno = r == -ECONNRESET || (c < 0 && (r == -ENOENT || r == -ECONNREFUSED)) ? ENETUNREACH : -r;
        return -1;
    }
    xs_lock();
    /* The stream on the number, in the epoll sets the socket was in (nginx
     * registers it before it connects). */
    r = xs_epoll_swap(fd, sv[0], false, NULL);
    if (r >= 0)
        install(fd, to, tolen, pending ? NULL : &ci, pending ? c : -1);
    xs_unlock();
    xs_real.close(sv[0]);
    if (r < 0 || !pending)
        xs_real.close(c);
    if (r < 0)
        return -1;
    if (pending) {
        errno = EINPROGRESS;
        return -1;
    }
    xs_info("fd %d: connected through the owner's stack (%s path, pumped by the owner)", fd,
            ci.path);
    return 0;
}

int xs_outgoing_result(int fd, struct xs_fd *e, bool wait)
{
    struct xw_owner_conn ci;
    int c = atomic_load(&e->pend) - 1, r;

    if (c < 0)
        return 0;
    r = XS_STACK_CALL(xw_owner_connect_result(c, wait ? -1 : 0, &ci));
    if (r == -ETIMEDOUT)
        return r;
    xs_lock();
    if (atomic_load(&e->pend) == c + 1) {
        atomic_store(&e->pend, 0);
        xs_real.close(c);
        if (r == 0) {
            e->addr = ci.self;
            e->addrlen = ci.selflen;
            e->peer = ci.peer;
            e->peerlen = ci.peerlen;
            xs_info("fd %d: connected through the owner's stack (%s path, pumped by the owner)",
                    fd, ci.path);
        }
    }
    xs_unlock();
    return r == -ECONNRESET ? -ENETUNREACH : r;
}

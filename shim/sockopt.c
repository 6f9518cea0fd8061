/* What an xway socket says about itself: socket options (checked by a kernel
 * socket, recorded for replay when the socket moves to the kernel, route.c) and
 * its names (getsockname/getpeername, also for connections handed off at fork). */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shim.h"
#include "xway.h"

/* One kernel TCP socket per family (never connected) answers "what would libc
 * say" for options: bad pointers, lengths, unknown names get the kernel's errno. */
static int scratch(int domain)
{
    static _Atomic int s4 = -1, s6 = -1;
    _Atomic int *p = domain == AF_INET6 ? &s6 : &s4;
    int s = atomic_load(p);

    if (s >= 0)
        return s;
    xs_lock();
    s = atomic_load(p);
    if (s < 0) {
        struct xs_fd *e;
        s = xs_real.socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s >= 0 && (e = xs_fd_get(s))) {
            xs_fd_clear(e);
            atomic_store(&e->kind, XS_INTERNAL);
        }
        atomic_store(p, s);
    }
    xs_unlock();
    return s;
}

static void record_opt(struct xs_fd *e, int level, int name, const void *val, socklen_t len)
{
    int i;

    if (len > sizeof(e->opts[0].val))
        return;
    xs_lock();
    for (i = 0; i < e->nopts; i++)
        if (e->opts[i].level == level && e->opts[i].name == name)
            break;
    if (i < XS_MAX_OPTS) {
        e->opts[i].level = level;
        e->opts[i].name = name;
        memcpy(e->opts[i].val, val, len);
        e->opts[i].len = len;
        if (i == e->nopts)
            e->nopts++;
    }
    xs_unlock();
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    int key = xs_route(fd), rc;
    struct xs_fd *e;

    if (key == XS_R_KERNEL && level == IPPROTO_TCP && xs_kind_of(fd) == XS_HANDED) {
        /* The TCP connection is the pump's: check the value, accept it. */
        e = xs_fd_peek(fd);
        return xs_real.setsockopt(scratch(e->domain), level, name, val, len);
    }
    if (key == XS_R_KERNEL)
        return xs_real.setsockopt(fd, level, name, val, len);
    if (key == XS_R_BAD)
        return xs_bad();
    e = xs_key_entry(key);
    if (level != XWAY_SOL) {
        if (xs_real.setsockopt(scratch(e->domain), level, name, val, len) < 0)
            return -1; /* the kernel's errno: EFAULT, EINVAL, ENOPROTOOPT ... */
        record_opt(e, level, name, val, len);
    }
    rc = XS_STACK_CALL(xway_setsockopt(key, level, name, val, len));
    if (rc < 0 && errno == ENOPROTOOPT && level != XWAY_SOL) {
        xs_debug("fd %d: option %d/%d accepted, no effect in xway", key, level, name);
        return 0;
    }
    return rc;
}

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    int key = xs_route(fd), rc;
    socklen_t keep;
    struct xs_fd *e;

    if (key == XS_R_KERNEL && level == IPPROTO_TCP && xs_kind_of(fd) == XS_HANDED) {
        e = xs_fd_peek(fd);
        return xs_real.getsockopt(scratch(e->domain), level, name, val, len);
    }
    if (key == XS_R_KERNEL && level == SOL_SOCKET && name == SO_ERROR &&
        xs_kind_of(fd) == XS_HANDED && atomic_load(&xs_fd_peek(fd)->pend) > 0 &&
        (rc = xs_real.getsockopt(fd, level, name, val, len)) == 0 && len &&
        *len >= sizeof(int)) {
        /* A connect in progress through the owner (outgoing.c): its end. */
        rc = xs_outgoing_result(fd, xs_fd_peek(fd), true);
        *(int *)val = -rc;
        return 0;
    }
    if (key == XS_R_KERNEL)
        return xs_real.getsockopt(fd, level, name, val, len);
    if (key == XS_R_BAD)
        return xs_bad();
    e = xs_key_entry(key);
    if (level == XWAY_SOL)
        return XS_STACK_CALL(xway_getsockopt(key, level, name, val, len));
    /* The kernel checks the pointers and lengths (EFAULT/EINVAL, no crash) and
     * gives the value of an option the stack does not know. */
    /* Read *len through the kernel: a bad pointer is EFAULT, not a crash. */
    {
        struct iovec local = { &keep, sizeof(keep) }, remote = { len, sizeof(keep) };
        if (!len || process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != sizeof(keep)) {
            errno = EFAULT;
            return -1;
        }
    }
    {
        socklen_t kernel_len = keep;
        if (xs_real.getsockopt(scratch(e->domain), level, name, val, &kernel_len) < 0)
            return -1;
        rc = XS_STACK_CALL(xway_getsockopt(key, level, name, val, len));
        if (rc < 0 && errno == ENOPROTOOPT) {
            *len = kernel_len;
            return 0;
        }
    }
    return rc;
}

/* getsockname/getpeername of a handed-off connection: the names it had. */
static bool handed_name(int fd, struct sockaddr *a, socklen_t *l, bool peer, int *rc)
{
    struct xs_fd *e = xs_fd_peek(fd);
    socklen_t have;

    if (xs_in_stack || !e ||
        (atomic_load(&e->kind) != XS_HANDED && (peer || atomic_load(&e->kind) != XS_SHARED)))
        return false;
    have = peer ? e->peerlen : e->addrlen;
    if (!l || !a) {
        errno = EFAULT;
        *rc = -1;
        return true;
    }
    memcpy(a, peer ? (void *)&e->peer : (void *)&e->addr, *l < have ? *l : have);
    *l = have;
    *rc = 0;
    return true;
}

int getsockname(int fd, struct sockaddr *a, socklen_t *l)
{
    int rc;

    if (handed_name(fd, a, l, false, &rc))
        return rc;
    XS_FWD(fd, xs_real.getsockname(fd, a, l), xway_getsockname(key, a, l));
}

int getpeername(int fd, struct sockaddr *a, socklen_t *l)
{
    int rc;

    if (handed_name(fd, a, l, true, &rc))
        return rc;
    XS_FWD(fd, xs_real.getpeername(fd, a, l), xway_getpeername(key, a, l));
}

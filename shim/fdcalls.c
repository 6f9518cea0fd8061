/* The calls on numbers: fcntl, ioctl, close and dup/dup2/dup3.
 *
 * dup/dup2/dup3/F_DUPFD: the new number is an alias (XS_ALIAS) of the same xway
 * socket; the connection is closed when its last number is.  The stack's fd
 * must stay nonblocking: O_NONBLOCK/FIONBIO change the socket's flag only. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shim.h"
#include "xway.h"

/* ---- fcntl / ioctl ------------------------------------------------------------ */

static int set_nonblock(int key, bool on)
{
    struct xs_fd *e = xs_key_entry(key);

    atomic_store(&e->nonblock, on);
    if (atomic_load(&e->dual))
        return 0; /* the xway side stays nonblocking; accept4 blocks itself */
    return XS_STACK_CALL(xway_set_nonblock(key, on));
}

static void make_alias(int n, int key)
{
    struct xs_fd *e = xs_fd_get(n), *ke = xs_key_entry(key);

    if (!e)
        return;
    xs_lock();
    xs_fd_clear(e);
    atomic_store(&e->key, key);
    atomic_fetch_add(&ke->refs, 1);
    atomic_store(&e->kind, XS_ALIAS);
    xs_unlock();
}

static int xfcntl(int fd, int cmd, void *arg, int (*realf)(int, int, ...))
{
    int key = xs_route(fd), r;

    if (key == XS_R_KERNEL)
        return realf(fd, cmd, arg);
    if (key == XS_R_BAD)
        return xs_bad();
    switch (cmd) {
    case F_GETFL:
        r = realf(fd, F_GETFL);
        if (r >= 0)
            r = (r & ~O_NONBLOCK) | (atomic_load(&xs_key_entry(key)->nonblock) ? O_NONBLOCK : 0);
        return r;
    case F_SETFL:
        /* The stack's fd must stay nonblocking: only the socket's flag changes. */
        return set_nonblock(key, ((long)arg & O_NONBLOCK) != 0);
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
        r = realf(fd, cmd, arg);
        if (r >= 0)
            make_alias(r, key);
        return r;
    default:
        return realf(fd, cmd, arg);
    }
}

int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    void *arg;

    va_start(ap, cmd);
    arg = va_arg(ap, void *);
    va_end(ap);
    return xfcntl(fd, cmd, arg, xs_real.fcntl);
}

int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    void *arg;

    va_start(ap, cmd);
    arg = va_arg(ap, void *);
    va_end(ap);
    /* Before glibc 2.28 there is no fcntl64, and fcntl takes the same arguments. */
    return xfcntl(fd, cmd, arg, xs_real.fcntl64 ? xs_real.fcntl64 : xs_real.fcntl);
}

/* Read or write the application's int at p through the kernel, so that a bad
 * pointer is EFAULT (as the kernel's ioctl gives), not a crash.  0 or -1. */
static int user_int(void *p, int *v, bool write)
{
    struct iovec local = { v, sizeof(*v) }, remote = { p, sizeof(*v) };
    ssize_t n = write ? process_vm_writev(getpid(), &local, 1, &remote, 1, 0)
                      : process_vm_readv(getpid(), &local, 1, &remote, 1, 0);

    if (!p || n != (ssize_t)sizeof(*v)) {
        errno = EFAULT;
        return -1;
    }
    return 0;
}

/* FIONREAD: the bytes readable now.  The stack keeps no count: peek into a
 * buffer grown until the peek leaves part of it empty. */
static int readable_bytes(int key)
{
    char small[65536], *buf = small, *big = NULL;
    size_t size = sizeof(small);
    ssize_t n;

    for (;;) {
        char *nb;
        n = XS_STACK_CALL(xway_recv(key, buf, size, MSG_PEEK | MSG_DONTWAIT));
        if (n < (ssize_t)size || size >= (256u << 20) || !(nb = realloc(big, size * 4)))
            break;
        buf = big = nb;
        size *= 4;
    }
    free(big);
    return n > 0 ? (int)n : 0;
}

int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    void *arg;
    int key = xs_route(fd);

    va_start(ap, req);
    arg = va_arg(ap, void *);
    va_end(ap);
    if (key == XS_R_KERNEL)
        return xs_real.ioctl(fd, req, arg);
    if (key == XS_R_BAD)
        return xs_bad();
    if (req == FIONBIO) {
        int on;
        if (user_int(arg, &on, false) < 0)
            return -1;
        return set_nonblock(key, on != 0);
    }
    if (req == FIONREAD) {
        int n = readable_bytes(key);
        return user_int(arg, &n, true);
    }
    return xs_real.ioctl(fd, req, arg);
}

/* ---- close / dup ------------------------------------------------------------- */

int close(int fd)
{
    struct xs_fd *e, *ke;
    struct xs_epset *ep;
    int key;

    if (xs_in_stack || !(e = xs_fd_peek(fd)))
        return xs_real.close(fd);
    xs_lock();
    switch (atomic_load(&e->kind)) {
    case XS_SOCK:
        if (atomic_load(&e->refs) > 1) {
            atomic_fetch_sub(&e->refs, 1);
            atomic_store(&e->kind, XS_HIDDEN);
            xs_unlock();
            return 0;
        }
        xs_twin_drop(e);
        xs_fd_clear(e);
        xs_unlock();
        if (XS_STACK_CALL(xway_close(fd)) < 0 && errno == EBADF)
            return xs_real.close(fd); /* the stack had let go already */
        return 0;
    case XS_ALIAS:
        key = atomic_load(&e->key);
        xs_fd_clear(e);
        xs_real.close(fd);
        ke = xs_fd_peek(key);
        if (ke && atomic_fetch_sub(&ke->refs, 1) == 1 && atomic_load(&ke->kind) == XS_HIDDEN) {
            xs_twin_drop(ke);
            xs_fd_clear(ke);
            xs_unlock();
            XS_STACK_CALL(xway_close(key));
            return 0;
        }
        xs_unlock();
        return 0;
    case XS_HIDDEN:
        xs_unlock();
        return xs_bad();
    case XS_ORPHAN:
        xs_twin_drop(e);
        xs_fd_clear(e);
        xs_unlock();
        return xs_real.close(fd);
    case XS_TWIN:
        /* The application closed our kernel twin (closefrom loop, say). */
        ke = xs_fd_peek(atomic_load(&e->key));
        if (ke && atomic_load(&ke->twin) == fd) {
            atomic_store(&ke->twin, -1);
            atomic_store(&ke->dual, false);
            XS_STACK_CALL(xway_set_nonblock(atomic_load(&e->key), atomic_load(&ke->nonblock)));
        }
        xs_fd_clear(e);
        xs_unlock();
        return xs_real.close(fd);
    default:
        ep = atomic_exchange(&e->ep, NULL);
        xs_fd_clear(e);
        xs_unlock();
        xs_epset_free(ep);
        return xs_real.close(fd);
    }
}

/* Make number nw free for a dup onto it.  0, or -1 with errno. */
static int free_target(int nw)
{
    struct xs_fd *e = xs_fd_peek(nw);
    int k = e ? atomic_load(&e->kind) : XS_NONE;

    if (k == XS_NONE)
        return 0;
    if (k == XS_SOCK && atomic_load(&e->refs) > 1) {
        errno = EBUSY; /* its number is the stack's while aliases live */
        return -1;
    }
    if (k == XS_HIDDEN) {
        errno = EBUSY;
        return -1;
    }
    if (k == XS_SOCK || k == XS_ALIAS)
        return close(nw) < 0 ? -1 : 0;
    xs_lock();
    if (k == XS_TWIN || k == XS_INTERNAL) {
        xs_unlock();
        close(nw);
        return 0;
    }
    xs_fd_clear(e);
    xs_unlock();
    return 0;
}

int dup(int fd)
{
    int key = xs_route(fd), r;

    if (key == XS_R_KERNEL)
        return xs_real.dup(fd);
    if (key == XS_R_BAD)
        return xs_bad();
    r = xs_real.dup(fd);
    if (r >= 0)
        make_alias(r, key);
    return r;
}

static int xdup3(int old, int nw, int flags, bool is_dup2)
{
    int key = xs_route(old), r;

    if (xs_in_stack)
        return is_dup2 ? xs_real.dup2(old, nw) : xs_real.dup3(old, nw, flags);
    if (key == XS_R_BAD)
        return xs_bad();
    if (old == nw) {
        if (!is_dup2) {
            errno = EINVAL;
            return -1;
        }
        return xs_real.dup2(old, nw);
    }
    if (xs_real.fcntl(old, F_GETFD) < 0)
        return -1; /* EBADF, before anything happens to nw */
    if (free_target(nw) < 0)
        return -1;
    r = is_dup2 ? xs_real.dup2(old, nw) : xs_real.dup3(old, nw, flags);
    if (r >= 0 && key >= 0)
        make_alias(r, key);
    return r;
}

int dup2(int old, int nw)
{
    return xdup3(old, nw, 0, true);
}

int dup3(int old, int nw, int flags)
{
    return xdup3(old, nw, flags, false);
}

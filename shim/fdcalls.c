/* The calls on numbers: fcntl, ioctl, close and dup/dup2/dup3.
 *
 * dup/dup2/dup3/F_DUPFD: the new number is an alias (XS_ALIAS) of the same xway
 * socket; the connection is closed when its last number is.  dup2/dup3 replace
 * their target in one step, as the kernel does, whatever it is (an xway
 * socket's own number included: the socket then moves to a hidden number of
 * its own).  The stack's fd must stay nonblocking: O_NONBLOCK/FIONBIO change
 * the socket's flag only. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
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

/* Number n (a kernel dup) becomes an alias of xway socket key (xs_lock held). */
static void alias_locked(int n, int key)
{
    struct xs_fd *e = xs_fd_get(n), *ke = xs_key_entry(key);

    if (!e)
        return;
    xs_fd_clear(e);
    atomic_store(&e->key, key);
    atomic_fetch_add(&ke->refs, 1);
    atomic_store(&e->kind, XS_ALIAS);
}

static void make_alias(int n, int key)
{
    xs_lock();
    alias_locked(n, key);
    xs_unlock();
}

/* A shared listener (shared.c): its flag is the child's; the number's file
 * stays nonblocking as the owner keeps it. */
static int shared_fcntl(int fd, int cmd, void *arg, int (*realf)(int, int, ...))
{
    struct xs_fd *e = xs_fd_peek(fd);
    int r;

    if (cmd == F_SETFL) {
        atomic_store(&e->nonblock, ((long)arg & O_NONBLOCK) != 0);
        return 0;
    }
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) {
        xs_lock();
        if ((r = realf(fd, cmd, arg)) >= 0)
            xs_shared_copy_locked(fd, r);
        xs_unlock();
        return r;
    }
    r = realf(fd, cmd, arg);
    if (cmd == F_GETFL && r >= 0)
        r = (r & ~O_NONBLOCK) | (atomic_load(&e->nonblock) ? O_NONBLOCK : 0);
    return r;
}

static int xfcntl(int fd, int cmd, void *arg, int (*realf)(int, int, ...))
{
    int key = xs_route(fd), r;

    if (key == XS_R_KERNEL && xs_kind_of(fd) == XS_SHARED)
        return shared_fcntl(fd, cmd, arg, realf);
    if (key == XS_R_KERNEL) {
        if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
            xs_handed_copied(fd);
        return realf(fd, cmd, arg);
    }
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
    if (key == XS_R_KERNEL && req == FIONBIO && xs_kind_of(fd) == XS_SHARED) {
        int on;
        if (user_int(arg, &on, false) < 0)
            return -1;
        atomic_store(&xs_fd_peek(fd)->nonblock, on != 0);
        return 0;
    }
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

/* The application closed or replaced the kernel twin fd of a dual listener
 * (a closefrom loop, say): the listener goes on in xway only (xs_lock held). */
static void twin_lost(int fd, struct xs_fd *e)
{
    int key = atomic_load(&e->key);
    struct xs_fd *ke = xs_fd_peek(key);

    if (ke && atomic_load(&ke->twin) == fd) {
        atomic_store(&ke->twin, -1);
        atomic_store(&ke->dual, false);
        XS_STACK_CALL(xway_set_nonblock(key, atomic_load(&ke->nonblock)));
    }
}

/* Alias entry e no longer holds its socket: the socket's number, when the
 * application had closed it and this was its last alias, to be closed in the
 * stack by the caller (after xs_unlock), else -1.  xs_lock held. */
static int alias_dropped(struct xs_fd *e)
{
    int key = atomic_load(&e->key);
    struct xs_fd *ke = xs_fd_peek(key);

    xs_fd_clear(e);
    if (ke && atomic_fetch_sub(&ke->refs, 1) == 1 && atomic_load(&ke->kind) == XS_HIDDEN) {
        xs_twin_drop(ke);
        xs_fd_clear(ke);
        return key;
    }
    return -1;
}

/* syscall(3) itself: libuv (node) closes its fds with syscall(SYS_close, fd),
 * which left each xway socket open behind its closed number (node served 500
 * connections and held 500 sockets more).  That call is the shim's close();
 * every other goes to libc as it came, with six long arguments (what the
 * x86-64 and AArch64 calling conventions pass; extra ones are ignored). */
long syscall(long n, ...)
{
    va_list ap;
    long a[6];

    va_start(ap, n);
    xs_va_longs(ap, a);
    va_end(ap);
    if (n == SYS_close && !xs_in_stack)
        return close((int)a[0]);
    if (n == SYS_close_range && !xs_in_stack)
        return close_range((unsigned)a[0], (unsigned)a[1], (int)a[2]);
    return xs_real.syscall(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* close_range(2), closefrom(3): the shim's numbers in the range are closed
 * as close() closes them (their sockets, duplicates, twins); then the kernel
 * closes the rest, around the numbers the shim keeps open for a socket the
 * application closed while duplicates live (XS_HIDDEN: the socket's own fd,
 * closed at its last duplicate).  CLOSE_RANGE_CLOEXEC only marks numbers:
 * the kernel's alone. */
int close_range(unsigned first, unsigned last, int flags)
{
    unsigned from = first;
    int fd;

    if (!xs_real.close_range) {
        errno = ENOSYS;
        return -1;
    }
    if (xs_in_stack || (flags & CLOSE_RANGE_CLOEXEC) || first > last)
        return xs_real.close_range(first, last, flags);
    for (fd = xs_fd_next(first, last); fd >= 0;
         fd = (unsigned)fd < last ? xs_fd_next((unsigned)fd + 1, last) : -1) {
        struct xs_fd *e = xs_fd_peek(fd);
        if (e && atomic_load(&e->kind) == XS_HIDDEN) {
            if ((unsigned)fd > from && xs_real.close_range(from, (unsigned)fd - 1, flags) < 0)
                return -1;
            from = (unsigned)fd + 1;
            continue;
        }
        close(fd);
    }
    if (from > last) /* (the last number is one kept open) */
        return 0;
    return xs_real.close_range(from, last, flags);
}

void closefrom(int lowfd)
{
    if (lowfd < 0)
        lowfd = 0;
    if (close_range((unsigned)lowfd, ~0u, 0) < 0 && xs_real.closefrom)
        xs_real.closefrom(lowfd);
}

int close(int fd)
{
    struct xs_fd *e;
    struct xs_epset *ep;
    int key;

    if (xs_in_stack || !(e = xs_fd_peek(fd)))
        return xs_real.close(fd);
    xs_lock();
    switch (atomic_load(&e->kind)) {
    case XS_SOCK:
        if (atomic_load(&e->refs) > 1) {
            atomic_fetch_sub(&e->refs, 1);
            /* The socket lives on (gen unchanged: a call of another thread
             * goes on with it, as on Linux); the number cannot be reused
             * before the socket is gone or moved (dup2), which changes gen. */
            atomic_store(&e->kind, XS_HIDDEN);
            xs_unlock();
            return 0;
        }
        xs_twin_drop(e);
        xs_fd_clear(e);
        xs_unlock();
        /* The stack frees the number before it returns (a call of another
         * thread still inside ends with EBADF). */
        return XS_STACK_CALL(xway_close(fd));
    case XS_ALIAS:
        xs_real.close(fd);
        key = alias_dropped(e);
        xs_unlock();
        if (key >= 0)
            XS_STACK_CALL(xway_close(key));
        return 0;
    case XS_HIDDEN:
        xs_unlock();
        return xs_bad();
    case XS_ORPHAN:
    case XS_SHARED:
        xs_twin_drop(e);
        xs_fd_clear(e);
        xs_unlock();
        return xs_real.close(fd);
    case XS_TWIN:
        twin_lost(fd, e);
        xs_fd_clear(e);
        xs_unlock();
        return xs_real.close(fd);
    default:
        xs_handed_gone(fd);
        ep = atomic_exchange(&e->ep, NULL);
        xs_fd_clear(e);
        xs_unlock();
        xs_epset_free(ep);
        return xs_real.close(fd);
    }
}

int dup(int fd)
{
    int key = xs_route(fd), r;

    if (key == XS_R_KERNEL && xs_kind_of(fd) == XS_SHARED) {
        xs_lock();
        if ((r = xs_real.dup(fd)) >= 0)
            xs_shared_copy_locked(fd, r);
        xs_unlock();
        return r;
    }
    if (key == XS_R_KERNEL) {
        xs_handed_copied(fd);
        return xs_real.dup(fd);
    }
    if (key == XS_R_BAD)
        return xs_bad();
    r = xs_real.dup(fd);
    if (r >= 0)
        make_alias(r, key);
    return r;
}

/* dup3 onto xway socket nw that has no other number: the stack's close of nw
 * becomes dup3(old, nw, flags) (real.c), so that nw is never free for a
 * concurrent socket() to take.  xs_lock held. */
static int onto_socket(int old, int nw, int flags, struct xs_fd *e)
{
    int t = xs_real.fcntl(old, F_DUPFD_CLOEXEC, 0), r = nw;

    if (t < 0)
        return -1;
    xs_twin_drop(e);
    atomic_store(&e->handoff_flags, flags);
    atomic_store(&e->handoff, t);
    XS_STACK_CALL(xway_close(nw));
    if (atomic_exchange(&e->handoff, -1) >= 0) {
        /* The stack did not close nw: it is no longer its number. */
        r = xs_real.dup3(old, nw, flags);
        xs_real.close(t);
    }
    xs_fd_clear(e);
    return r;
}

/* dup3 onto nw, the number of an xway socket that has other numbers (aliases,
 * or nw is hidden: closed by the application while they live): the socket
 * moves to a number of its own, hidden, so that nw can be replaced while the
 * connection lives on in its aliases.  xs_lock held. */
static int onto_shared(int old, int nw, int flags, struct xs_fd *e)
{
    int t = xs_real.fcntl(nw, F_DUPFD_CLOEXEC, 0), refs = atomic_load(&e->refs), r;
    struct xs_fd *te = t >= 0 ? xs_fd_get(t) : NULL;

    if (!te || XS_STACK_CALL(xw_sock_renumber(nw, t)) < 0) {
        int err = t < 0 ? errno : te ? errno : EMFILE;
        if (t >= 0)
            xs_real.close(t);
        errno = err;
        return -1;
    }
    xs_fd_clear(te);
    te->domain = e->domain;
    te->bound = e->bound;
    te->addr = e->addr;
    te->addrlen = e->addrlen;
    te->nopts = e->nopts;
    memcpy(te->opts, e->opts, sizeof(te->opts));
    atomic_store(&te->nonblock, atomic_load(&e->nonblock));
    atomic_store(&te->dual, atomic_load(&e->dual));
    atomic_store(&te->used, atomic_load(&e->used));
    atomic_store(&te->twin, atomic_exchange(&e->twin, -1));
    atomic_store(&te->refs, atomic_load(&e->kind) == XS_SOCK ? refs - 1 : refs);
    atomic_store(&te->kind, XS_HIDDEN);
    xs_fd_rekey(nw, t);
    xs_fd_clear(e);
    r = xs_real.dup3(old, nw, flags);
    if (r < 0)
        xs_real.close(nw); /* the connection is t's; nw was to be replaced anyway */
    xs_debug("fd %d: replaced; its connection goes on as hidden fd %d", nw, t);
    return r;
}

/* Replace number nw by a duplicate of old, in one step as dup3(2) does: no
 * concurrent socket()/open() can take nw in between, and what nw was is let
 * go of (an xway socket closed with its last number).  xs_lock held; key: an
 * xway socket whose number the caller must close in the stack, or -1. */
static int replace_locked(int old, int nw, int flags, int *key)
{
    struct xs_fd *e = xs_fd_peek(nw);
    struct xs_epset *ep = NULL;
    int k = e ? atomic_load(&e->kind) : XS_NONE, r;

    *key = -1;
    if (k == XS_SOCK && atomic_load(&e->refs) == 1)
        return onto_socket(old, nw, flags, e);
    if (k == XS_SOCK || k == XS_HIDDEN)
        return onto_shared(old, nw, flags, e);
    if (k == XS_HANDED)
        xs_handed_gone(nw);
    r = xs_real.dup3(old, nw, flags);
    if (r < 0 || k == XS_NONE)
        return r;
    if (k == XS_ALIAS) {
        *key = alias_dropped(e);
        return r;
    }
    if (k == XS_TWIN)
        twin_lost(nw, e);
    if (k == XS_ORPHAN || k == XS_SHARED)
        xs_twin_drop(e);
    ep = atomic_exchange(&e->ep, NULL);
    xs_fd_clear(e);
    xs_epset_free(ep);
    return r;
}

static int xdup3(int old, int nw, int flags, bool is_dup2)
{
    int key = xs_route(old), r, gone;

    if (!xs_in_stack && key == XS_R_KERNEL && old != nw)
        xs_handed_copied(old);
    if (xs_in_stack ||
        (key == XS_R_KERNEL && xs_kind_of(nw) == XS_NONE && xs_kind_of(old) != XS_SHARED))
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
    if (flags & ~O_CLOEXEC) {
        errno = EINVAL;
        return -1;
    }
    if (xs_real.fcntl(old, F_GETFD) < 0)
        return -1; /* EBADF, before anything happens to nw */
    if (nw < 0 || !xs_fd_get(nw)) {
        errno = EBADF;
        return -1;
    }
    xs_lock();
    r = replace_locked(old, nw, flags, &gone);
    key = xs_route(old); /* again: nw may have been old's socket's number */
    if (r >= 0 && key >= 0)
        alias_locked(r, key);
    else if (r >= 0)
        xs_shared_copy_locked(old, r);
    xs_unlock();
    if (gone >= 0)
        XS_STACK_CALL(xway_close(gone));
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

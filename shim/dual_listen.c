/* Dual listeners: listen() listens in xway and, on the same port, in the kernel
 * (the wildcard when the socket was bound to it, else loopback), so that kernel
 * clients still connect; accept returns whichever side is ready, and
 * poll/select/epoll watch both (poll.c, epoll.c).  The kernel listener is the
 * listener's "twin" (XS_TWIN in the fd table).  While it exists the xway side is
 * kept nonblocking and accept4 blocks by itself. */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <string.h>
#include <sys/stat.h>

#include "shim.h"
#include "xway.h"

/* The kernel twin of listener fd (the xway socket key): same port. */
static void make_twin(int key, struct xs_fd *e, int backlog)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int k, one = 1, port, rp = 0;
    socklen_t rl = sizeof(rp);
    unsigned char a[16];
    int fam;
    struct xs_fd *te;

    if (XS_STACK_CALL(xway_getsockname(key, (struct sockaddr *)&ss, &sl)) < 0)
        return;
    fam = xs_addr_of((struct sockaddr *)&ss, sl, a, &port);
    if (fam < 0)
        return;
    k = xs_real.socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (k < 0)
        return;
    xs_real.setsockopt(k, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* An SO_REUSEPORT group's twins are one in the kernel too. */
    if (XS_STACK_CALL(xway_getsockopt(key, SOL_SOCKET, SO_REUSEPORT, &rp, &rl)) == 0 && rp)
        xs_real.setsockopt(k, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (void *)&ss;
        if (!xs_is_wild(fam, a)) {
            in6->sin6_addr = in6addr_loopback;
        } else {
            int v6only = 0;
            for (int i = 0; i < e->nopts; i++)
                if (e->opts[i].level == IPPROTO_IPV6 && e->opts[i].name == IPV6_V6ONLY)
                    memcpy(&v6only, e->opts[i].val, sizeof(int));
            xs_real.setsockopt(k, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
        }
    } else if (!xs_is_wild(fam, a)) {
        ((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    te = xs_fd_get(k);
    if (!te || xs_real.bind(k, (struct sockaddr *)&ss, sl) < 0 || xs_real.listen(k, backlog) < 0) {
        xs_info("fd %d: listening in xway only (kernel port %d: %s)", key, port, strerror(errno));
        xs_real.close(k);
        return;
    }
    xs_lock();
    xs_fd_clear(te);
    atomic_store(&te->key, key);
    atomic_store(&te->kind, XS_TWIN);
    atomic_store(&e->twin, k);
    atomic_store(&e->dual, true);
    xs_unlock();
    XS_STACK_CALL(xway_set_nonblock(key, 1));
    xs_info("fd %d: listening on port %d in xway and in the kernel (fd %d, %s)", key, port, k,
            xs_is_wild(fam, a) ? "wildcard" : "loopback");
}

void xs_twin_drop(struct xs_fd *e)
{
    int t = atomic_exchange(&e->twin, -1);
    if (t >= 0) {
        struct xs_fd *te = xs_fd_peek(t);
        if (te)
            xs_fd_clear(te);
        xs_real.close(t);
    }
}

int listen(int fd, int backlog)
{
    int key = xs_route(fd), rc;
    struct xs_fd *e;
    struct stat st;

    if (key == XS_R_KERNEL && xs_in_child && !xs_in_stack && (e = xs_fd_peek(fd)) &&
        atomic_load(&e->kind) == XS_NONE && e->child_ino && fstat(fd, &st) == 0 &&
        st.st_ino == e->child_ino)
        return xs_shared_listen(fd, e, backlog);
    if (key == XS_R_KERNEL)
        return xs_real.listen(fd, backlog);
    if (key == XS_R_BAD)
        return xs_bad();
    e = xs_key_entry(key);
    rc = XS_STACK_CALL(xway_listen(key, backlog));
    if (rc < 0)
        return rc;
    atomic_store(&e->used, true);
    atomic_store(&e->listening, true);
    /* Its name, for getsockname in a child that shares it (shared.c). */
    xs_lock();
    e->addrlen = sizeof(e->addr);
    if (XS_STACK_CALL(xway_getsockname(key, (struct sockaddr *)&e->addr, &e->addrlen)) < 0)
        e->addrlen = 0;
    xs_unlock();
    if (atomic_load(&e->twin) >= 0)
        xs_real.listen(atomic_load(&e->twin), backlog);
    else
        make_twin(key, e, backlog);
    return 0;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    int key, r, twin;
    unsigned gen;
    struct xs_fd *e;

    if (xs_in_stack)
        return xs_real.accept4(fd, addr, len, flags);
    e = xs_fd_peek(fd);
    if (e && atomic_load(&e->kind) == XS_SHARED)
        return xs_shared_accept(fd, e, addr, len, flags);
    gen = xs_gen(fd);
    key = xs_route(fd);
    if (key == XS_R_KERNEL)
        return xs_real.accept4(fd, addr, len, flags);
    if (key == XS_R_BAD)
        return xs_bad();
    for (;;) {
        socklen_t keep = len ? *len : 0;
        /* Closed meanwhile: EBADF, whatever took the number.  Still fd
         * (hidden, if the application closed it while it has duplicates, as
         * Linux goes on with it), or its duplicate's socket, which may have
         * moved to another number (dup2 onto that number, fdcalls.c). */
        if (xs_gen(fd) != gen)
            return xs_bad();
        key = xs_follow(fd, key);
        e = xs_key_entry(key);
        twin = atomic_load(&e->twin);
        r = XS_STACK_CALL(xway_accept4(key, addr, len, flags));
        if (r >= 0) {
            xs_fd_set_sock(r, e->domain, (flags & SOCK_NONBLOCK) != 0, true);
            xs_debug("fd %d: accepted xway connection fd %d", key, r);
            return r;
        }
        if (twin < 0 || !atomic_load(&e->dual) || (errno != EAGAIN && errno != EWOULDBLOCK))
            return r;
        if (len)
            *len = keep;
        r = xs_real.accept4(twin, addr, len, flags);
        if (r >= 0) {
            xs_info("fd %d: accepted kernel connection fd %d", key, r);
            return r;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return r;
        if (atomic_load(&e->nonblock)) {
            errno = EAGAIN;
            return -1;
        }
        struct pollfd p[2] = { { .fd = key, .events = POLLIN }, { .fd = twin, .events = POLLIN } };
        if (XS_STACK_CALL(xway_poll(p, 2, -1)) < 0)
            return -1;
    }
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    return accept4(fd, addr, len, 0);
}

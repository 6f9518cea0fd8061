/* libxwayshim: the interposed socket calls (LD_PRELOAD, started by xway-run).
 *
 * Routing.  socket(AF_INET/AF_INET6, SOCK_STREAM) makes an xway socket when the
 * stack has a link (XWAY_LINK); everything else (UDP, AF_UNIX, no link, a
 * forked child) is libc's.  An xway socket that is then bound to an address
 * that is not the stack's (127.0.0.1, say) or connected to a destination that is
 * not reachable through the link (outside XWAY_ADDR's prefixes, with no XWAY_GW
 * for that family, or loopback) becomes a kernel socket on the same number
 * (dup3 onto it, options, nonblocking and a wildcard bind replayed).  listen()
 * listens in xway and, on the same port, in the kernel (the wildcard when the
 * socket was bound to it, else loopback), so that kernel clients still connect;
 * accept returns whichever side is ready and poll/select/epoll watch both.
 *
 * Every xway socket is a kernel fd (the stack's readiness socket), so numbers
 * never collide and epoll works on them as on any fd; epoll_wait and poll first
 * let the stack lower a ring socket's stale readiness (xway_poll).
 *
 * dup/dup2/dup3/F_DUPFD: the new number is an alias of the same xway socket;
 * the connection is closed when its last number is.
 * fork: the stack belongs to the parent (stack/core/stack.c).  Just before fork,
 * every xway connection is handed to its kernel fd (xway_handoff in xway.h):
 * its number becomes an AF_UNIX stream carrying the connection's bytes, pumped
 * by the parent's stack, so the parent and the child both read, write, poll,
 * shutdown and close it through libc (getsockname/getpeername still give the
 * connection's addresses, TCP options are accepted).  The connection is closed
 * when the last process holding the number closes it; it ends if the parent
 * exits first.  In the child, inherited xway listeners and unconnected xway
 * sockets are unusable (EBADF) except close and accept on a dual listener,
 * which accepts the kernel side; the child's new sockets are kernel sockets.
 * exec: close-on-exec is the kernel's; a connection handed off at fork
 * survives exec (e.g. a forked child exec'ing a program on its socket).  An
 * xway connection of a process that execs without forking dies with its
 * stack.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shim.h"
#include "xway.h"


/* A call into the stack on behalf of the application, under the recursion guard. */
#define XCALL(expr)                          \
    ({                                       \
        xs_in_stack++;                       \
        __typeof__(expr) r_ = (expr);        \
        int e_ = errno;                      \
        xs_in_stack--;                       \
        errno = e_;                          \
        r_;                                  \
    })

/* ---- configuration ---------------------------------------------------------- */

#define MAX_NETS 16
static struct {
    bool link;      /* XWAY_LINK set: TCP sockets start as xway sockets */
    int n;
    struct { int family; unsigned prefix; unsigned char a[16]; } net[MAX_NETS];
    bool gw4, gw6;
} cfg;
static pthread_once_t cfg_once = PTHREAD_ONCE_INIT;
static _Atomic bool in_child; /* a forked child: new sockets are the kernel's */

static void parse_cfg(void)
{
    const char *link = getenv("XWAY_LINK"), *addr = getenv("XWAY_ADDR"), *gw = getenv("XWAY_GW");
    char buf[1024], *save = NULL;

    xs_real_init();
    xw_rpath_lazy_ready();
    cfg.link = link && *link;
    if (addr && strlen(addr) < sizeof(buf)) {
        strcpy(buf, addr);
        for (char *t = strtok_r(buf, ",", &save); t && cfg.n < MAX_NETS;
             t = strtok_r(NULL, ",", &save)) {
            char *slash = strchr(t, '/');
            unsigned pfx;
            int fam = strchr(t, ':') ? AF_INET6 : AF_INET;
            if (slash)
                *slash = '\0';
            pfx = slash ? (unsigned)strtoul(slash + 1, NULL, 10) : (fam == AF_INET ? 32 : 128);
            if (inet_pton(fam, t, cfg.net[cfg.n].a) == 1) {
                cfg.net[cfg.n].family = fam;
                cfg.net[cfg.n].prefix = pfx;
                cfg.n++;
            }
        }
    }
    if (gw) {
        cfg.gw4 = strchr(gw, '.') != NULL;
        cfg.gw6 = strchr(gw, ':') != NULL;
    }
}

static void config(void)
{
    pthread_once(&cfg_once, parse_cfg);
}

static bool prefix_match(const unsigned char *a, const unsigned char *b, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, full))
        return false;
    return !rest || ((a[full] ^ b[full]) & (0xff << (8 - rest))) == 0;
}

/* Normalise a sockaddr to (family, 16 bytes); v4-mapped IPv6 counts as IPv4. */
static int addr_of(const struct sockaddr *sa, socklen_t len, unsigned char out[16], int *port)
{
    if (!sa)
        return -1;
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const void *)sa;
        memcpy(out, &in->sin_addr, 4);
        *port = ntohs(in->sin_port);
        return AF_INET;
    }
    if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        *port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            memcpy(out, &in6->sin6_addr.s6_addr[12], 4);
            return AF_INET;
        }
        memcpy(out, &in6->sin6_addr, 16);
        return AF_INET6;
    }
    return -1;
}

static bool is_wild(int fam, const unsigned char *a)
{
    static const unsigned char zero[16];
    return !memcmp(a, zero, fam == AF_INET ? 4 : 16);
}

static bool is_loop(int fam, const unsigned char *a)
{
    static const unsigned char lo6[16] = { [15] = 1 };
    return fam == AF_INET ? a[0] == 127 : !memcmp(a, lo6, 16);
}

/* Is destination a reachable through the xway link?  why: the reason if not. */
static bool reachable(int fam, const unsigned char *a, const char **why)
{
    if (is_loop(fam, a) || is_wild(fam, a)) {
        *why = "loopback destination";
        return false;
    }
    for (int i = 0; i < cfg.n; i++)
        if (cfg.net[i].family == fam &&
            prefix_match(a, cfg.net[i].a, cfg.net[i].prefix))
            return true;
    if ((fam == AF_INET && cfg.gw4) || (fam == AF_INET6 && cfg.gw6))
        return true;
    *why = "outside XWAY_ADDR's prefixes";
    return false;
}

static bool is_local(int fam, const unsigned char *a)
{
    for (int i = 0; i < cfg.n; i++)
        if (cfg.net[i].family == fam && !memcmp(a, cfg.net[i].a, fam == AF_INET ? 4 : 16))
            return true;
    return false;
}

/* ---- routing helpers ------------------------------------------------------- */

#define R_KERNEL (-1)
#define R_BAD (-2)

/* The xway socket behind number fd, R_KERNEL, or R_BAD (unusable: EBADF). */
static inline int route(int fd)
{
    struct xs_fd *e;

    if (xs_in_stack)
        return R_KERNEL;
    e = xs_fd_peek(fd);
    if (!e)
        return R_KERNEL;
    switch (atomic_load_explicit(&e->kind, memory_order_acquire)) {
    case XS_SOCK:
        return fd;
    case XS_ALIAS:
        return atomic_load(&e->key);
    case XS_HIDDEN:
    case XS_ORPHAN:
        return R_BAD;
    default:
        return R_KERNEL;
    }
}

static int bad(void)
{
    errno = EBADF;
    return -1;
}

/* An xway call failed with EBADF: if the stack no longer has the socket (it was
 * closed behind the shim's back, e.g. by xway_fini at exit), forget it and let
 * libc handle the number.  True when the caller should retry with libc. */
static bool stale(int fd, int key)
{
    struct xs_fd *e;

    if (errno != EBADF || XCALL(xway_is_socket(key)))
        return false;
    e = xs_fd_peek(fd);
    xs_lock();
    if (e && atomic_load(&e->kind) != XS_NONE)
        xs_fd_clear(e);
    xs_unlock();
    errno = EBADF;
    return true;
}

/* Forward a call: libc for kernel fds, the stack for xway sockets. */
#define FWD(fd, real_call, xway_call)                         \
    do {                                                      \
        int key = route(fd);                                  \
        if (key == R_KERNEL)                                  \
            return real_call;                                 \
        if (key == R_BAD)                                     \
            return bad();                                     \
        __typeof__(real_call) r = XCALL(xway_call);           \
        if (r < 0 && stale(fd, key))                          \
            return real_call;                                 \
        return r;                                             \
    } while (0)

static struct xs_fd *key_entry(int key)
{
    return xs_fd_peek(key);
}

static void register_sock(int fd, int domain, bool nonblock, bool used)
{
    struct xs_fd *e = xs_fd_get(fd);

    if (!e)
        return;
    xs_lock();
    xs_fd_clear(e);
    e->domain = domain;
    atomic_store(&e->refs, 1);
    atomic_store(&e->nonblock, nonblock);
    atomic_store(&e->used, used);
    atomic_store_explicit(&e->kind, XS_SOCK, memory_order_release);
    xs_unlock();
}

/* ---- socket ------------------------------------------------------------------ */

int socket(int domain, int type, int protocol)
{
    static _Atomic bool warned;
    int fd, base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);

    config();
    if (xs_in_stack || !cfg.link || in_child || (domain != AF_INET && domain != AF_INET6) ||
        base != SOCK_STREAM || (protocol != 0 && protocol != IPPROTO_TCP))
        return xs_real.socket(domain, type, protocol);
    fd = XCALL(xway_socket(domain, type, protocol));
    if (fd < 0) {
        if (!atomic_exchange(&warned, true))
            xs_warn("xway socket failed (%s): using kernel sockets", strerror(errno));
        return xs_real.socket(domain, type, protocol);
    }
    if (!xs_fd_get(fd)) {
        XCALL(xway_close(fd));
        return xs_real.socket(domain, type, protocol);
    }
    register_sock(fd, domain, (type & SOCK_NONBLOCK) != 0, false);
    xs_debug("fd %d: xway socket", fd);
    return fd;
}

/* Replace the unconnected xway socket fd by a kernel socket on the same number.
 * 0, or -1 with errno. */
static int to_kernel(int fd, const char *why)
{
    struct xs_fd *e = xs_fd_peek(fd);
    int k, rc;

    xs_lock();
    if (!e || atomic_load(&e->kind) != XS_SOCK || atomic_load(&e->refs) != 1) {
        xs_unlock();
        errno = EBUSY; /* dup'ed before its first connect: stays xway */
        return -1;
    }
    k = xs_real.socket(e->domain, SOCK_STREAM | SOCK_CLOEXEC |
                       (atomic_load(&e->nonblock) ? SOCK_NONBLOCK : 0), 0);
    if (k < 0) {
        xs_unlock();
        return -1;
    }
    for (int i = 0; i < e->nopts; i++)
        xs_real.setsockopt(k, e->opts[i].level, e->opts[i].name, e->opts[i].val, e->opts[i].len);
    if (e->bound && xs_real.bind(k, (struct sockaddr *)&e->addr, e->addrlen) < 0) {
        int err = errno;
        xs_real.close(k);
        xs_unlock();
        errno = err;
        return -1;
    }
    atomic_store(&e->handoff, k);
    xs_fd_clear(e);
    rc = XCALL(xway_close(fd));
    if (atomic_exchange(&e->handoff, -1) >= 0) {
        /* The stack did not close the number: nothing was replaced. */
        xs_real.close(k);
        xs_unlock();
        xs_warn("fd %d: could not hand over to a kernel socket (xway_close: %d)", fd, rc);
        errno = EBADF;
        return -1;
    }
    xs_unlock();
    xs_info("fd %d: kernel path (%s)", fd, why);
    return 0;
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    int key = route(fd), fam, port, rc;
    unsigned char a[16];
    struct xs_fd *e;

    if (key == R_KERNEL)
        return xs_real.bind(fd, addr, len);
    if (key == R_BAD)
        return bad();
    config();
    e = key_entry(key);
    fam = addr_of(addr, len, a, &port);
    if (fam > 0 && key == fd && !atomic_load(&e->used) && !is_wild(fam, a) && !is_local(fam, a)) {
        if (to_kernel(fd, "bound to an address that is not the stack's") == 0)
            return xs_real.bind(fd, addr, len);
    }
    rc = XCALL(xway_bind(key, addr, len));
    if (rc == 0 && fam > 0 && len <= sizeof(e->addr)) {
        xs_lock();
        memcpy(&e->addr, addr, len);
        e->addrlen = len;
        e->bound = is_wild(fam, a); /* only a wildcard bind can be replayed in the kernel */
        xs_unlock();
    }
    return rc;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    int key = route(fd), fam, port;
    unsigned char a[16];
    const char *why = NULL;
    struct xs_fd *e;

    if (key == R_KERNEL)
        return xs_real.connect(fd, addr, len);
    if (key == R_BAD)
        return bad();
    config();
    e = key_entry(key);
    fam = addr_of(addr, len, a, &port);
    if (fam > 0 && key == fd && !atomic_load(&e->used) && !reachable(fam, a, &why)) {
        if (to_kernel(fd, why) == 0)
            return xs_real.connect(fd, addr, len);
    }
    atomic_store(&e->used, true);
    if (fam > 0 && xs_log_level >= 2) {
        char s[INET6_ADDRSTRLEN] = "?";
        inet_ntop(fam, a, s, sizeof(s));
        xs_info("fd %d: connect to %s port %d through xway", fd, s, port);
    }
    return XCALL(xway_connect(key, addr, len));
}

/* The kernel twin of listener fd (the xway socket key): same port. */
static void make_twin(int key, struct xs_fd *e, int backlog)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int k, one = 1, port;
    unsigned char a[16];
    int fam;
    struct xs_fd *te;

    if (XCALL(xway_getsockname(key, (struct sockaddr *)&ss, &sl)) < 0)
        return;
    fam = addr_of((struct sockaddr *)&ss, sl, a, &port);
    if (fam < 0)
        return;
    k = xs_real.socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (k < 0)
        return;
    xs_real.setsockopt(k, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (void *)&ss;
        if (!is_wild(fam, a)) {
            in6->sin6_addr = in6addr_loopback;
        } else {
            int v6only = 0;
            for (int i = 0; i < e->nopts; i++)
                if (e->opts[i].level == IPPROTO_IPV6 && e->opts[i].name == IPV6_V6ONLY)
                    memcpy(&v6only, e->opts[i].val, sizeof(int));
            xs_real.setsockopt(k, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
        }
    } else if (!is_wild(fam, a)) {
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
    XCALL(xway_set_nonblock(key, 1));
    xs_info("fd %d: listening on port %d in xway and in the kernel (fd %d, %s)", key, port, k,
            is_wild(fam, a) ? "wildcard" : "loopback");
}

int listen(int fd, int backlog)
{
    int key = route(fd), rc;
    struct xs_fd *e;

    if (key == R_KERNEL)
        return xs_real.listen(fd, backlog);
    if (key == R_BAD)
        return bad();
    e = key_entry(key);
    rc = XCALL(xway_listen(key, backlog));
    if (rc < 0)
        return rc;
    atomic_store(&e->used, true);
    if (atomic_load(&e->twin) >= 0)
        xs_real.listen(atomic_load(&e->twin), backlog);
    else
        make_twin(key, e, backlog);
    return 0;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    int key, r, twin;
    struct xs_fd *e;

    if (xs_in_stack)
        return xs_real.accept4(fd, addr, len, flags);
    e = xs_fd_peek(fd);
    if (e && atomic_load(&e->kind) == XS_ORPHAN && (twin = atomic_load(&e->twin)) >= 0) {
        /* Forked child: the kernel side of the parent's dual listener. */
        for (;;) {
            struct pollfd p = { .fd = twin, .events = POLLIN };
            r = xs_real.accept4(twin, addr, len, flags);
            if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK) || atomic_load(&e->nonblock))
                return r;
            if (xs_real.poll(&p, 1, -1) < 0)
                return -1;
        }
    }
    key = route(fd);
    if (key == R_KERNEL)
        return xs_real.accept4(fd, addr, len, flags);
    if (key == R_BAD)
        return bad();
    e = key_entry(key);
    for (;;) {
        socklen_t keep = len ? *len : 0;
        twin = atomic_load(&e->twin);
        r = XCALL(xway_accept4(key, addr, len, flags));
        if (r >= 0) {
            register_sock(r, e->domain, (flags & SOCK_NONBLOCK) != 0, true);
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
        if (XCALL(xway_poll(p, 2, -1)) < 0)
            return -1;
    }
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    return accept4(fd, addr, len, 0);
}

/* ---- data -------------------------------------------------------------------- */

ssize_t read(int fd, void *buf, size_t n)
{
    FWD(fd, xs_real.read(fd, buf, n), xway_read(key, buf, n));
}

ssize_t write(int fd, const void *buf, size_t n)
{
    FWD(fd, xs_real.write(fd, buf, n), xway_write(key, buf, n));
}

ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    FWD(fd, xs_real.readv(fd, iov, cnt), xway_readv(key, iov, cnt));
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    FWD(fd, xs_real.writev(fd, iov, cnt), xway_writev(key, iov, cnt));
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    FWD(fd, xs_real.recv(fd, buf, n, flags), xway_recv(key, buf, n, flags));
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    FWD(fd, xs_real.send(fd, buf, n, flags), xway_send(key, buf, n, flags));
}

ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
    FWD(fd, xs_real.recvmsg(fd, m, flags), xway_recvmsg(key, m, flags));
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
    FWD(fd, xs_real.sendmsg(fd, m, flags), xway_sendmsg(key, m, flags));
}

/* TCP: the source address is not reported (Linux sets *alen to 0). */
static ssize_t xrecvfrom(int key, void *buf, size_t n, int flags, socklen_t *alen)
{
    ssize_t r = xway_recv(key, buf, n, flags);
    if (r >= 0 && alen)
        *alen = 0;
    return r;
}

ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *a, socklen_t *alen)
{
    FWD(fd, xs_real.recvfrom(fd, buf, n, flags, a, alen), xrecvfrom(key, buf, n, flags, alen));
}

/* A connected stream socket ignores the destination, as Linux does. */
ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *a,
                      socklen_t alen)
{
    FWD(fd, xs_real.sendto(fd, buf, n, flags, a, alen), xway_send(key, buf, n, flags));
}

int shutdown(int fd, int how)
{
    FWD(fd, xs_real.shutdown(fd, how), xway_shutdown(key, how));
}

/* getsockname/getpeername of a handed-off connection: the names it had. */
static bool handed_name(int fd, struct sockaddr *a, socklen_t *l, bool peer, int *rc)
{
    struct xs_fd *e = xs_fd_peek(fd);
    socklen_t have;

    if (xs_in_stack || !e || atomic_load(&e->kind) != XS_HANDED)
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
    FWD(fd, xs_real.getsockname(fd, a, l), xway_getsockname(key, a, l));
}

int getpeername(int fd, struct sockaddr *a, socklen_t *l)
{
    int rc;

    if (handed_name(fd, a, l, true, &rc))
        return rc;
    FWD(fd, xs_real.getpeername(fd, a, l), xway_getpeername(key, a, l));
}

/* sendfile to an xway socket: read + send, the file offset kept exact. */
static ssize_t xsendfile(int key, int in, off_t *off, size_t count)
{
    static __thread char *buf;
    enum { BUF = 256 * 1024 };
    size_t done = 0;

    if (!buf && !(buf = malloc(BUF))) {
        errno = ENOMEM;
        return -1;
    }
    while (done < count) {
        size_t want = count - done < BUF ? count - done : BUF;
        ssize_t n = off ? pread(in, buf, want, *off) : xs_real.read(in, buf, want);
        ssize_t s;
        if (n <= 0)
            return done ? (ssize_t)done : n;
        s = XCALL(xway_send(key, buf, (size_t)n, 0));
        if (s < 0) {
            if (!off)
                lseek(in, -n, SEEK_CUR);
            return done ? (ssize_t)done : -1;
        }
        if (off)
            *off += s;
        else if (s < n)
            lseek(in, s - n, SEEK_CUR);
        done += (size_t)s;
        if (s < n)
            break;
    }
    return (ssize_t)done;
}

ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
    int key = route(out);

    if (key == R_KERNEL)
        return xs_real.sendfile(out, in, off, count);
    if (key == R_BAD)
        return bad();
    return xsendfile(key, in, off, count);
}

ssize_t sendfile64(int out, int in, off_t *off, size_t count)
{
    return sendfile(out, in, off, count);
}

/* ---- the glibc _FORTIFY_SOURCE variants ------------------------------------- */

ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    if (n > buflen || route(fd) == R_KERNEL)
        return xs_real.__read_chk(fd, buf, n, buflen);
    return read(fd, buf, n);
}

ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
    if (n > buflen || route(fd) == R_KERNEL)
        return xs_real.__recv_chk(fd, buf, n, buflen, flags);
    return recv(fd, buf, n, flags);
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
                              struct sockaddr *a, socklen_t *alen)
{
    if (n > buflen || route(fd) == R_KERNEL)
        return xs_real.__recvfrom_chk(fd, buf, n, buflen, flags, a, alen);
    return recvfrom(fd, buf, n, flags, a, alen);
}

/* ---- options -------------------------------------------------------------------- */

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
    int key = route(fd), rc;
    struct xs_fd *e;

    if (key == R_KERNEL && level == IPPROTO_TCP && xs_kind_of(fd) == XS_HANDED) {
        /* The TCP connection is the pump's: check the value, accept it. */
        e = xs_fd_peek(fd);
        return xs_real.setsockopt(scratch(e->domain), level, name, val, len);
    }
    if (key == R_KERNEL)
        return xs_real.setsockopt(fd, level, name, val, len);
    if (key == R_BAD)
        return bad();
    e = key_entry(key);
    if (level != XWAY_SOL) {
        if (xs_real.setsockopt(scratch(e->domain), level, name, val, len) < 0)
            return -1; /* the kernel's errno: EFAULT, EINVAL, ENOPROTOOPT ... */
        record_opt(e, level, name, val, len);
    }
    rc = XCALL(xway_setsockopt(key, level, name, val, len));
    if (rc < 0 && errno == ENOPROTOOPT && level != XWAY_SOL) {
        xs_debug("fd %d: option %d/%d accepted, no effect in xway", key, level, name);
        return 0;
    }
    return rc;
}

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    int key = route(fd), rc;
    socklen_t keep;
    struct xs_fd *e;

    if (key == R_KERNEL && level == IPPROTO_TCP && xs_kind_of(fd) == XS_HANDED) {
        e = xs_fd_peek(fd);
        return xs_real.getsockopt(scratch(e->domain), level, name, val, len);
    }
    if (key == R_KERNEL)
        return xs_real.getsockopt(fd, level, name, val, len);
    if (key == R_BAD)
        return bad();
    e = key_entry(key);
    if (level == XWAY_SOL)
        return XCALL(xway_getsockopt(key, level, name, val, len));
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
        rc = XCALL(xway_getsockopt(key, level, name, val, len));
        if (rc < 0 && errno == ENOPROTOOPT) {
            *len = kernel_len;
            return 0;
        }
    }
    return rc;
}

/* ---- fcntl / ioctl ------------------------------------------------------------ */

static int set_nonblock(int key, bool on)
{
    struct xs_fd *e = key_entry(key);

    atomic_store(&e->nonblock, on);
    if (atomic_load(&e->dual))
        return 0; /* the xway side stays nonblocking; accept4 blocks itself */
    return XCALL(xway_set_nonblock(key, on));
}

static void make_alias(int n, int key)
{
    struct xs_fd *e = xs_fd_get(n), *ke = key_entry(key);

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
    int key = route(fd), r;

    if (key == R_KERNEL)
        return realf(fd, cmd, arg);
    if (key == R_BAD)
        return bad();
    switch (cmd) {
    case F_GETFL:
        r = realf(fd, F_GETFL);
        if (r >= 0)
            r = (r & ~O_NONBLOCK) | (atomic_load(&key_entry(key)->nonblock) ? O_NONBLOCK : 0);
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
        n = XCALL(xway_recv(key, buf, size, MSG_PEEK | MSG_DONTWAIT));
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
    int key = route(fd);

    va_start(ap, req);
    arg = va_arg(ap, void *);
    va_end(ap);
    if (key == R_KERNEL)
        return xs_real.ioctl(fd, req, arg);
    if (key == R_BAD)
        return bad();
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

struct xs_epset {
    pthread_mutex_t lock;
    int n, cap;
    struct pollfd *fds;
};

static void drop_twin(struct xs_fd *e)
{
    int t = atomic_exchange(&e->twin, -1);
    if (t >= 0) {
        struct xs_fd *te = xs_fd_peek(t);
        if (te)
            xs_fd_clear(te);
        xs_real.close(t);
    }
}

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
        drop_twin(e);
        xs_fd_clear(e);
        xs_unlock();
        if (XCALL(xway_close(fd)) < 0 && errno == EBADF)
            return xs_real.close(fd); /* the stack had let go already */
        return 0;
    case XS_ALIAS:
        key = atomic_load(&e->key);
        xs_fd_clear(e);
        xs_real.close(fd);
        ke = xs_fd_peek(key);
        if (ke && atomic_fetch_sub(&ke->refs, 1) == 1 && atomic_load(&ke->kind) == XS_HIDDEN) {
            drop_twin(ke);
            xs_fd_clear(ke);
            xs_unlock();
            XCALL(xway_close(key));
            return 0;
        }
        xs_unlock();
        return 0;
    case XS_HIDDEN:
        xs_unlock();
        return bad();
    case XS_ORPHAN:
        drop_twin(e);
        xs_fd_clear(e);
        xs_unlock();
        return xs_real.close(fd);
    case XS_TWIN:
        /* The application closed our kernel twin (closefrom loop, say). */
        ke = xs_fd_peek(atomic_load(&e->key));
        if (ke && atomic_load(&ke->twin) == fd) {
            atomic_store(&ke->twin, -1);
            atomic_store(&ke->dual, false);
            XCALL(xway_set_nonblock(atomic_load(&e->key), atomic_load(&ke->nonblock)));
        }
        xs_fd_clear(e);
        xs_unlock();
        return xs_real.close(fd);
    default:
        ep = atomic_exchange(&e->ep, NULL);
        xs_fd_clear(e);
        xs_unlock();
        if (ep) {
            pthread_mutex_destroy(&ep->lock);
            free(ep->fds);
            free(ep);
        }
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
    int key = route(fd), r;

    if (key == R_KERNEL)
        return xs_real.dup(fd);
    if (key == R_BAD)
        return bad();
    r = xs_real.dup(fd);
    if (r >= 0)
        make_alias(r, key);
    return r;
}

static int xdup3(int old, int nw, int flags, bool is_dup2)
{
    int key = route(old), r;

    if (xs_in_stack)
        return is_dup2 ? xs_real.dup2(old, nw) : xs_real.dup3(old, nw, flags);
    if (key == R_BAD)
        return bad();
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

/* ---- poll / select ----------------------------------------------------------- */

/* Is any fd of the set the shim's? */
static bool any_ours(const struct pollfd *fds, nfds_t n)
{
    for (nfds_t i = 0; i < n; i++) {
        int k = xs_kind_of(fds[i].fd);
        if (k == XS_SOCK || k == XS_ALIAS || k == XS_HIDDEN || k == XS_ORPHAN)
            return true;
    }
    return false;
}

/* poll over a set with xway sockets: aliases polled as their socket, a dual
 * listener's kernel twin polled too, unusable numbers reported POLLNVAL. */
static int xpoll(struct pollfd *fds, nfds_t n, int timeout)
{
    struct pollfd small[64], *p = small;
    nfds_t total = n, extra = 0;
    int ready = 0, rc;

    for (nfds_t i = 0; i < n; i++) {
        int key = route(fds[i].fd);
        if (key >= 0 && atomic_load(&key_entry(key)->twin) >= 0)
            total++;
    }
    if (total > 64 && !(p = malloc(total * sizeof(*p)))) {
        errno = ENOMEM;
        return -1;
    }
    for (nfds_t i = 0; i < n; i++) {
        int key = fds[i].fd < 0 ? R_KERNEL : route(fds[i].fd), t;
        p[i] = fds[i];
        p[i].revents = 0;
        if (key == R_BAD)
            p[i].fd = -1;
        else if (key >= 0) {
            p[i].fd = key;
            if ((t = atomic_load(&key_entry(key)->twin)) >= 0 && n + extra < total)
                p[n + extra++] = (struct pollfd){ .fd = t, .events = POLLIN };
        }
    }
    rc = XCALL(xway_poll(p, n + extra, timeout));
    if (rc >= 0) {
        nfds_t x = 0;
        for (nfds_t i = 0; i < n; i++) {
            int key = fds[i].fd < 0 ? R_KERNEL : route(fds[i].fd);
            fds[i].revents = p[i].revents;
            if (key == R_BAD)
                fds[i].revents = POLLNVAL;
            else if (key >= 0 && atomic_load(&key_entry(key)->twin) >= 0 && x < extra) {
                if (p[n + x].revents & POLLIN)
                    fds[i].revents |= (short)(fds[i].events & (POLLIN | POLLRDNORM));
                x++;
            }
            if (fds[i].revents)
                ready++;
        }
        rc = ready;
    }
    if (p != small) {
        int e = errno;
        free(p);
        errno = e;
    }
    return rc;
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    if (xs_in_stack || !any_ours(fds, n))
        return xs_real.poll(fds, n, timeout);
    return xpoll(fds, n, timeout);
}

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
    if (fdslen / sizeof(*fds) < n)
        return xs_real.__poll_chk(fds, n, timeout, fdslen);
    return poll(fds, n, timeout);
}

static int ts_to_ms(const struct timespec *ts)
{
    long long ms;
    if (!ts)
        return -1;
    ms = (long long)ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* ppoll and pselect set the mask and wait atomically; the shim sets it, then
 * waits.  A signal with a handler that the mask unblocks and that is already
 * pending (what the mask is for) runs when the mask is set: the call then fails
 * with EINTR at once, as the kernel's does.  One arriving between the mask and
 * the wait still runs without ending the wait. */
static bool caught_pending(const sigset_t *mask)
{
    sigset_t pend;
    struct sigaction sa;

    if (!mask || sigpending(&pend) < 0)
        return false;
    for (int s = 1; s < NSIG; s++)
        if (sigismember(&pend, s) == 1 && sigismember(mask, s) == 0 &&
            sigaction(s, NULL, &sa) == 0 &&
            ((sa.sa_flags & SA_SIGINFO) || (sa.sa_handler != SIG_IGN && sa.sa_handler != SIG_DFL)))
            return true;
    return false;
}

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
    sigset_t old;
    int rc, e;
    bool intr;

    if (xs_in_stack || !any_ours(fds, n))
        return xs_real.ppoll(fds, n, ts, mask);
    intr = caught_pending(mask); /* not atomic with the wait: see caught_pending */
    if (mask)
        pthread_sigmask(SIG_SETMASK, mask, &old);
    rc = intr ? -1 : xpoll(fds, n, ts_to_ms(ts));
    e = intr ? EINTR : errno;
    if (mask)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return rc;
}

int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
                       const sigset_t *mask, size_t fdslen)
{
    if (fdslen / sizeof(*fds) < n)
        return xs_real.__ppoll_chk(fds, n, ts, mask, fdslen);
    return ppoll(fds, n, ts, mask);
}

static bool sets_have_ours(int nfds, fd_set *r, fd_set *w, fd_set *x)
{
    for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
        if ((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (x && FD_ISSET(fd, x))) {
            int k = xs_kind_of(fd);
            if (k == XS_SOCK || k == XS_ALIAS || k == XS_HIDDEN || k == XS_ORPHAN)
                return true;
        }
    return false;
}

/* select as poll (FD_SETSIZE fds at most). */
static int xselect(int nfds, fd_set *r, fd_set *w, fd_set *x, int timeout)
{
    struct pollfd p[FD_SETSIZE];
    nfds_t n = 0;
    int rc, count = 0;

    if (nfds > FD_SETSIZE)
        nfds = FD_SETSIZE;
    for (int fd = 0; fd < nfds; fd++) {
        short ev = (short)(((r && FD_ISSET(fd, r)) ? POLLIN : 0) |
                           ((w && FD_ISSET(fd, w)) ? POLLOUT : 0) |
                           ((x && FD_ISSET(fd, x)) ? POLLPRI : 0));
        if (ev)
            p[n++] = (struct pollfd){ .fd = fd, .events = ev };
    }
    rc = xpoll(p, n, timeout);
    if (rc < 0)
        return rc;
    for (nfds_t i = 0; i < n; i++)
        if (p[i].revents & POLLNVAL) {
            errno = EBADF;
            return -1;
        }
    if (r) FD_ZERO(r);
    if (w) FD_ZERO(w);
    if (x) FD_ZERO(x);
    for (nfds_t i = 0; i < n; i++) {
        short re = p[i].revents, ev = p[i].events;
        if ((ev & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR))) {
            FD_SET(p[i].fd, r);
            count++;
        }
        if ((ev & POLLOUT) && (re & (POLLOUT | POLLERR))) {
            FD_SET(p[i].fd, w);
            count++;
        }
        if ((ev & POLLPRI) && (re & POLLPRI)) {
            FD_SET(p[i].fd, x);
            count++;
        }
    }
    return count;
}

int select(int nfds, fd_set *r, fd_set *w, fd_set *x, struct timeval *tv)
{
    long long ms, left;
    struct timespec t0, t1;
    int rc;

    if (xs_in_stack || !sets_have_ours(nfds, r, w, x))
        return xs_real.select(nfds, r, w, x, tv);
    ms = tv ? (long long)tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000 : -1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = xselect(nfds, r, w, x, ms > INT32_MAX ? INT32_MAX : (int)ms);
    if (tv) {
        /* Linux writes back the time not slept (0 after a timeout). */
        clock_gettime(CLOCK_MONOTONIC, &t1);
        left = (long long)tv->tv_sec * 1000000 + tv->tv_usec -
               ((long long)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
        if (left < 0 || rc == 0)
            left = 0;
        tv->tv_sec = (time_t)(left / 1000000);
        tv->tv_usec = (suseconds_t)(left % 1000000);
    }
    return rc;
}

int pselect(int nfds, fd_set *r, fd_set *w, fd_set *x, const struct timespec *ts,
                   const sigset_t *mask)
{
    sigset_t old;
    int rc, e;
    bool intr;

    if (xs_in_stack || !sets_have_ours(nfds, r, w, x))
        return xs_real.pselect(nfds, r, w, x, ts, mask);
    intr = caught_pending(mask);
    if (mask)
        pthread_sigmask(SIG_SETMASK, mask, &old);
    rc = intr ? -1 : xselect(nfds, r, w, x, ts_to_ms(ts));
    e = intr ? EINTR : errno;
    if (mask)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return rc;
}

/* ---- epoll ------------------------------------------------------------------------ */

static void epset_update(int epfd, int op, int fd, uint32_t events)
{
    struct xs_fd *e = xs_fd_get(epfd);
    struct xs_epset *s;
    int i;

    if (!e)
        return;
    s = atomic_load(&e->ep);
    if (!s) {
        struct xs_epset *fresh = NULL;
        if (op == EPOLL_CTL_DEL || !(fresh = calloc(1, sizeof(*fresh))))
            return;
        pthread_mutex_init(&fresh->lock, NULL);
        if (!atomic_compare_exchange_strong(&e->ep, &s, fresh)) {
            pthread_mutex_destroy(&fresh->lock);
            free(fresh);
        } else {
            s = fresh;
        }
    }
    pthread_mutex_lock(&s->lock);
    for (i = 0; i < s->n; i++)
        if (s->fds[i].fd == fd)
            break;
    if (op == EPOLL_CTL_DEL) {
        if (i < s->n)
            s->fds[i] = s->fds[--s->n];
    } else {
        if (i == s->n) {
            if (s->n == s->cap) {
                int cap = s->cap ? 2 * s->cap : 16;
                struct pollfd *nf = realloc(s->fds, (size_t)cap * sizeof(*nf));
                if (!nf) {
                    pthread_mutex_unlock(&s->lock);
                    return;
                }
                s->fds = nf;
                s->cap = cap;
            }
            s->n++;
        }
        s->fds[i] = (struct pollfd){
            .fd = fd,
            .events = (short)(((events & EPOLLIN) ? POLLIN : 0) | ((events & EPOLLOUT) ? POLLOUT : 0)),
        };
    }
    pthread_mutex_unlock(&s->lock);
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    int rc = xs_real.epoll_ctl(epfd, op, fd, ev), key, twin;

    if (rc < 0 || xs_in_stack)
        return rc;
    key = route(fd);
    if (key < 0)
        return rc;
    if (op != EPOLL_CTL_DEL) { /* the kernel's epoll watches it: keep it exact */
        int one = 1;
        xway_setsockopt(key, XWAY_SOL, XWAY_POLLED, &one, sizeof(one));
    }
    epset_update(epfd, op, fd, ev ? ev->events : 0);
    /* A dual listener: its kernel twin wakes the same registration. */
    if ((twin = atomic_load(&key_entry(key)->twin)) >= 0) {
        struct epoll_event tev = { 0 };
        if (ev) {
            tev = *ev;
            tev.events &= ~(uint32_t)EPOLLOUT;
        }
        xs_real.epoll_ctl(epfd, op, twin, op == EPOLL_CTL_DEL ? NULL : &tev);
    }
    return rc;
}

/* Let the stack lower the stale readiness of the set's xway sockets, so that
 * the kernel's epoll reports (and edge-triggers on) their exact state. */
static void epset_refresh(int epfd)
{
    struct xs_fd *e = xs_fd_peek(epfd);
    struct xs_epset *s = e ? atomic_load(&e->ep) : NULL;
    struct pollfd small[64], *p = small;
    int n;

    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    n = s->n;
    if (n > 64 && !(p = malloc((size_t)n * sizeof(*p)))) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    for (int i = 0; i < n; i++) {
        int key = route(s->fds[i].fd);
        p[i] = s->fds[i];
        p[i].fd = key >= 0 ? key : -1;
    }
    pthread_mutex_unlock(&s->lock);
    if (n)
        XCALL(xw_poll_settle(p, (nfds_t)n));
    if (p != small)
        free(p);
}

/* Nothing ready and the caller would sleep: busy-poll the set's ring sockets
 * first, as xway_poll does for poll/select.  True if one became ready. */
static bool epset_spin(int epfd)
{
    struct xs_fd *e = xs_fd_peek(epfd);
    struct xs_epset *s = e ? atomic_load(&e->ep) : NULL;
    struct pollfd p[16];
    int n = 0;

    if (!s)
        return false;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n && n < 16; i++) {
        int key = route(s->fds[i].fd);
        if (key >= 0)
            p[n++] = (struct pollfd){ .fd = key, .events = s->fds[i].events };
    }
    pthread_mutex_unlock(&s->lock);
    return n && XCALL(xw_poll_spin(p, (nfds_t)n));
}

static int xepoll_wait(int epfd, struct epoll_event *ev, int max, int timeout,
                       const sigset_t *mask)
{
    int r;

    if (xs_in_stack)
        return xs_real.epoll_pwait(epfd, ev, max, timeout, mask);
    epset_refresh(epfd);
    if (timeout != 0) {
        if ((r = xs_real.epoll_pwait(epfd, ev, max, 0, mask)) != 0)
            return r;
        if (epset_spin(epfd)) {
            epset_refresh(epfd);
            if ((r = xs_real.epoll_pwait(epfd, ev, max, 0, mask)) != 0)
                return r;
        }
    }
    return xs_real.epoll_pwait(epfd, ev, max, timeout, mask);
}

int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
    return xepoll_wait(epfd, ev, max, timeout, NULL);
}

int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout,
                       const sigset_t *mask)
{
    return xepoll_wait(epfd, ev, max, timeout, mask);
}

/* ---- fork ---------------------------------------------------------------------- */

static void orphan(int fd, struct xs_fd *e)
{
    int k = atomic_load(&e->kind);
    if (k == XS_SOCK || k == XS_ALIAS || k == XS_HIDDEN) {
        if (k != XS_SOCK)
            atomic_store(&e->twin, -1);
        atomic_store(&e->kind, XS_ORPHAN);
    }
}

/* Before fork: hand every connection to its kernel fd (xway_handoff), keeping
 * its names, so that parent and child both use it through libc. */
static void handoff_key(int fd, struct xs_fd *e)
{
    struct sockaddr_storage self, peer;
    socklen_t sl = sizeof(self), pl = sizeof(peer);
    int k = atomic_load(&e->kind);

    if ((k != XS_SOCK && k != XS_HIDDEN) || XCALL(xway_getpeername(fd, (void *)&peer, &pl)) < 0 ||
        XCALL(xway_getsockname(fd, (void *)&self, &sl)) < 0 || XCALL(xway_handoff(fd)) < 0)
        return;
    e->addr = self;
    e->addrlen = sl;
    e->peer = peer;
    e->peerlen = pl;
    e->handed = true;
    xs_debug("fd %d: handed to its kernel fd for fork", fd);
}

static void handoff_alias(int fd, struct xs_fd *e)
{
    struct xs_fd *ke;

    if (atomic_load(&e->kind) != XS_ALIAS || !(ke = xs_fd_peek(atomic_load(&e->key))) ||
        !ke->handed)
        return;
    atomic_store(&e->key, -1);
    e->domain = ke->domain;
    e->addr = ke->addr;
    e->addrlen = ke->addrlen;
    e->peer = ke->peer;
    e->peerlen = ke->peerlen;
    atomic_store(&e->kind, XS_HANDED);
}

static void handoff_done(int fd, struct xs_fd *e)
{
    if (!e->handed)
        return;
    e->handed = false;
    atomic_store(&e->refs, 0);
    if (atomic_load(&e->kind) == XS_HIDDEN) {
        /* The application had closed this number: only its aliases hold on. */
        XCALL(xway_close(fd));
        xs_fd_clear(e);
        return;
    }
    atomic_store(&e->kind, XS_HANDED);
}

pid_t fork(void)
{
    pid_t pid;

    xs_lock();
    if (!in_child) {
        xs_fd_foreach(handoff_key);
        xs_fd_foreach(handoff_alias);
        xs_fd_foreach(handoff_done);
    }
    pid = xs_real.fork();
    if (pid == 0) {
        /* The stack's own atfork handler has already forgotten its sockets. */
        atomic_store(&in_child, true);
        xs_fd_foreach(orphan);
    }
    xs_unlock();
    return pid;
}

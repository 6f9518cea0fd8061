/* Routing: which sockets go to the xway stack, and which numbers the stack's.
 *
 * socket(AF_INET/AF_INET6, SOCK_STREAM) makes an xway socket when the stack has
 * a link (XWAY_LINK); everything else (UDP, AF_UNIX, no link, a forked child)
 * is libc's.  An xway socket that is then bound to an address that is not the
 * stack's (127.0.0.1, say) or connected to a destination that is not reachable
 * through the link (outside XWAY_ADDR's prefixes, with no XWAY_GW for that
 * family, or loopback) becomes a kernel socket on the same number (dup3 onto
 * it, options, nonblocking and a wildcard bind replayed).  Later calls on a
 * number are routed by its entry in the fd table (xs_route, shim.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "owner.h"
#include "shim.h"
#include "xway.h"

/* ---- configuration ---------------------------------------------------------- */

/* The stack's own reading of XWAY_* (stack/core/config.c): the same parser, the
 * same prefixes and gateways decide what the stack can reach. */
static struct {
    bool link;      /* XWAY_LINK set: TCP sockets start as xway sockets */
    bool valid;     /* the configuration parses (else the stack will not start) */
    struct xw_config c;
} cfg;
static pthread_once_t cfg_once = PTHREAD_ONCE_INIT;

static void parse_cfg(void)
{
    struct xway_config pub;
    const char *link = getenv("XWAY_LINK");

    xs_real_init();
    xw_rpath_lazy_ready();
    cfg.link = link && *link;
    xw_config_from_env(&pub);
    cfg.valid = xw_config_parse(&pub, &cfg.c, NULL, 0) == 0;
}

static void config(void)
{
    pthread_once(&cfg_once, parse_cfg);
}

int xs_addr_of(const struct sockaddr *sa, socklen_t len, unsigned char out[16], int *port)
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

bool xs_is_wild(int fam, const unsigned char *a)
{
    static const unsigned char zero[16];
    return !memcmp(a, zero, fam == AF_INET ? 4 : 16);
}

/* Is destination a reachable through the xway link?  why: the reason if not. */
static bool reachable(int fam, const unsigned char *a, const char **why)
{
    *why = cfg.valid ? xw_config_unreachable(&cfg.c, fam, a) : "XWAY_* configuration invalid";
    return *why == NULL;
}

static bool is_local(int fam, const unsigned char *a)
{
    return cfg.valid && xw_config_is_local(&cfg.c, fam, a);
}
/* ---- sockets ---------------------------------------------------------------- */

int socket(int domain, int type, int protocol)
{
    static _Atomic bool warned;
    int fd, base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);

    config();
    if (xs_in_stack || !cfg.link || xs_in_child || (domain != AF_INET && domain != AF_INET6) ||
        base != SOCK_STREAM || (protocol != 0 && protocol != IPPROTO_TCP))
        return xs_real.socket(domain, type, protocol);
    fd = XS_STACK_CALL(xway_socket(domain, type, protocol));
    if (fd < 0) {
        if (!atomic_exchange(&warned, true))
            xs_warn("xway socket failed (%s): using kernel sockets", strerror(errno));
        return xs_real.socket(domain, type, protocol);
    }
    if (!xs_fd_get(fd)) {
        XS_STACK_CALL(xway_close(fd));
        return xs_real.socket(domain, type, protocol);
    }
    xs_fd_set_sock(fd, domain, (type & SOCK_NONBLOCK) != 0, false);
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
    rc = xs_real.fcntl(fd, F_GETFD);
    atomic_store(&e->handoff_flags, rc >= 0 && (rc & FD_CLOEXEC) ? O_CLOEXEC : 0);
    atomic_store(&e->handoff, k);
    xs_fd_clear(e);
    rc = XS_STACK_CALL(xway_close(fd));
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

bool xs_kernel_tcp(int fd)
{
    int type = 0, proto = 0;
    socklen_t tl = sizeof(type), pl = sizeof(proto);

    return xs_real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM &&
           xs_real.getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &pl) == 0 &&
           proto == IPPROTO_TCP;
}

/* bind in a forked child to an address of the stack's (or the wildcard): the
 * kernel socket binds loopback (or the wildcard) on that port, to be the twin
 * of the listener the owner's stack makes at listen (shared.c).  0 / -1 with
 * errno, or 1 for the kernel's bind. */
static int child_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct sockaddr_storage k;
    socklen_t kl = sizeof(k);
    unsigned char a[16];
    int fam, port;
    struct xs_fd *e;
    struct stat st;

    config();
    fam = xs_addr_of(addr, len, a, &port);
    if (!cfg.link || fam < 0 || len > sizeof(k) || xs_kind_of(fd) != XS_NONE ||
        (!xs_is_wild(fam, a) && !is_local(fam, a)) || !XS_STACK_CALL(xw_owner_parent()) ||
        !xs_kernel_tcp(fd) || fstat(fd, &st) < 0 || !(e = xs_fd_get(fd)))
        return 1;
    memcpy(&k, addr, len);
    if (!xs_is_wild(fam, a) && fam == AF_INET)
        ((struct sockaddr_in *)&k)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (!xs_is_wild(fam, a))
        ((struct sockaddr_in6 *)&k)->sin6_addr = in6addr_loopback;
    if (xs_real.bind(fd, (struct sockaddr *)&k, len) < 0)
        return -1;
    xs_lock();
    memcpy(&e->addr, addr, len);
    e->addrlen = len;
    /* Port 0: the kernel's choice, for the stack's listener too. */
    if (port == 0 && xs_real.getsockname(fd, (struct sockaddr *)&k, &kl) == 0)
        ((struct sockaddr_in *)&e->addr)->sin_port = ((struct sockaddr_in *)&k)->sin_port;
    e->domain = fam;
    e->child_ino = (unsigned long)st.st_ino;
    xs_unlock();
    return 0;
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    int key = xs_route(fd), fam, port, rc;
    unsigned char a[16];
    struct xs_fd *e;

    if (key == XS_R_KERNEL && xs_in_child && !xs_in_stack) {
        int r = child_bind(fd, addr, len);
        if (r <= 0)
            return r;
    }
    if (key == XS_R_KERNEL)
        return xs_real.bind(fd, addr, len);
    if (key == XS_R_BAD)
        return xs_bad();
    config();
    e = xs_key_entry(key);
    fam = xs_addr_of(addr, len, a, &port);
    if (fam > 0 && key == fd && !atomic_load(&e->used) && !xs_is_wild(fam, a) &&
        !is_local(fam, a)) {
        if (to_kernel(fd, "bound to an address that is not the stack's") == 0)
            return xs_real.bind(fd, addr, len);
    }
    rc = XS_STACK_CALL(xway_bind(key, addr, len));
    if (rc == 0 && fam > 0 && len <= sizeof(e->addr)) {
        xs_lock();
        memcpy(&e->addr, addr, len);
        e->addrlen = len;
        e->bound = xs_is_wild(fam, a); /* only a wildcard bind can be replayed in the kernel */
        xs_unlock();
    }
    return rc;
}

/* connect in a forked child (outgoing.c): 0 / -1 with errno, or 1 for the
 * kernel's connect. */
static int child_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct xs_fd *e = xs_fd_peek(fd);
    int fam, port, r;
    unsigned char a[16];
    const char *why;

    if (e && atomic_load(&e->kind) == XS_HANDED) {
        /* connect again on a connection (in progress): Linux's answers. */
        r = xs_outgoing_result(fd, e, false);
        errno = r == -ETIMEDOUT ? EALREADY : r == 0 ? EISCONN : -r;
        return -1;
    }
    config();
    fam = xs_addr_of(addr, len, a, &port);
    if (!cfg.link || fam < 0 || (e && atomic_load(&e->kind) != XS_NONE) ||
        !reachable(fam, a, &why) || !xs_kernel_tcp(fd))
        return 1;
    return xs_outgoing_connect(fd, addr, len);
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    int key = xs_route(fd), fam, port;
    unsigned char a[16];
    const char *why = NULL;
    struct xs_fd *e;

    if (key == XS_R_KERNEL && xs_in_child && !xs_in_stack) {
        int r = child_connect(fd, addr, len);
        if (r <= 0)
            return r;
    }
    if (key == XS_R_KERNEL)
        return xs_real.connect(fd, addr, len);
    if (key == XS_R_BAD)
        return xs_bad();
    config();
    e = xs_key_entry(key);
    fam = xs_addr_of(addr, len, a, &port);
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
    return XS_STACK_CALL(xway_connect(key, addr, len));
}

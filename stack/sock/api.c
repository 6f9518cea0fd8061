/* The public socket API: argument checks, address conversion, errno.  Each call
 * takes the stack lock (stack.h) and leaves through xw_stack_leave. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#undef TCP_MSS /* glibc's 512; lwIP's (lwipopts.h) is meant below */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lwip/tcp.h"
#include "handoff.h"
#include "keeper.h"
#include "log.h"
#include "negotiate.h"
#include "satellite.h"
#include "sock_linux.h"
#include "socket.h"
#include "stack.h"
#include "switch.h"
#include "tcp_path.h"
#include "xway.h"

struct xw_sock *xw_api_enter(int fd)
{
    struct xw_sock *s;
    int rc = xw_stack_enter();

    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    s = xw_sock_lookup(fd);
    if (!s) {
        xw_stack_leave();
        errno = EBADF;
    }
    return s;
}

long xw_api_leave(long rc)
{
    xw_stack_leave();
    if (rc < 0) {
        errno = (int)-rc;
        return -1;
    }
    return rc;
}

/* ---- addresses --------------------------------------------------------------- */

static int from_sockaddr(const struct xw_sock *s, const struct sockaddr *sa, socklen_t len,
                         ip_addr_t *ip, u16_t *port)
{
    if (!sa)
        return -EFAULT;
    if (sa->sa_family == AF_INET && s->domain == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        if (len < sizeof(*in))
            return -EINVAL;
        ip_addr_set_ip4_u32(ip, in->sin_addr.s_addr);
        *port = ntohs(in->sin_port);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && s->domain == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        if (len < sizeof(*in6))
            return -EINVAL;
        *port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            uint32_t v4;
            memcpy(&v4, &in6->sin6_addr.s6_addr[12], 4);
            ip_addr_set_ip4_u32(ip, v4);
        } else if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) {
            ip_addr_set_any(1, ip);
            IP_SET_TYPE(ip, IPADDR_TYPE_ANY);
        } else {
            IP_SET_TYPE(ip, IPADDR_TYPE_V6);
            memcpy(ip_2_ip6(ip)->addr, in6->sin6_addr.s6_addr, 16);
            ip6_addr_clear_zone(ip_2_ip6(ip));
        }
        return 0;
    }
    return s->domain == AF_INET ? -EAFNOSUPPORT : -EINVAL;
}

static int to_sockaddr(const struct xw_sock *s, const ip_addr_t *ip, u16_t port,
                       struct sockaddr *sa, socklen_t *len)
{
    union {
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } u;
    socklen_t n;

    if (!sa || !len)
        return -EFAULT;
    memset(&u, 0, sizeof(u));
    if (s->domain == AF_INET) {
        u.in.sin_family = AF_INET;
        u.in.sin_port = htons(port);
        u.in.sin_addr.s_addr = ip && IP_IS_V4(ip) ? ip4_addr_get_u32(ip_2_ip4(ip)) : 0;
        n = sizeof(u.in);
    } else {
        u.in6.sin6_family = AF_INET6;
        u.in6.sin6_port = htons(port);
        if (ip && IP_IS_V4_VAL(*ip) && !ip_addr_isany(ip)) {
            uint32_t v4 = ip4_addr_get_u32(ip_2_ip4(ip));
            u.in6.sin6_addr.s6_addr[10] = u.in6.sin6_addr.s6_addr[11] = 0xff;
            memcpy(&u.in6.sin6_addr.s6_addr[12], &v4, 4);
        } else if (ip && IP_IS_V6_VAL(*ip)) {
            memcpy(u.in6.sin6_addr.s6_addr, ip_2_ip6(ip)->addr, 16);
        }
        n = sizeof(u.in6);
    }
    memcpy(sa, &u, *len < n ? *len : n);
    *len = n;
    return 0;
}

/* ---- lifecycle --------------------------------------------------------------- */

int xway_socket(int domain, int type, int protocol) XW_EXPORT;
int xway_socket(int domain, int type, int protocol)
{
    struct xw_sock *s;
    int rc;

    if (domain != AF_INET && domain != AF_INET6) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    if ((type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_STREAM ||
        (protocol != 0 && protocol != IPPROTO_TCP)) {
        errno = (type & 0xf) != SOCK_STREAM ? ESOCKTNOSUPPORT : EPROTONOSUPPORT;
        return -1;
    }
    rc = xw_stack_enter();
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    rc = xw_sock_new(domain, type & SOCK_NONBLOCK, type & SOCK_CLOEXEC, true, &s);
    return (int)xw_api_leave(rc < 0 ? rc : s->fd);
}

/* SO_LINGER with a timeout on a blocking socket: send FIN, then wait up to the
 * linger time for everything sent to be acknowledged. */
static void linger_wait(struct xw_sock *s)
{
    uint64_t dl = xw_deadline((uint64_t)s->linger_s * 1000000u);

    if (s->tcp.rx_len == 0 && tcp_shutdown(s->tcp.pcb, 0, 1) == ERR_OK)
        tcp_output(s->tcp.pcb);
    while (s->tcp.pcb && xw_tcp_unsent(s))
        if (xw_sock_sleep(s, dl) != 0)
            break; /* (not xw_sock_wait: the socket is closing) */
}

void xw_sock_close_locked(struct xw_sock *s)
{
    bool reset;

    s->closing = true;
    if (s->linger_on && s->linger_s > 0 && !s->nonblock && s->tcp.pcb &&
        s->state == XW_SS_CONNECTED && xw_path_of(s)->linger)
        linger_wait(s);
    reset = xw_sock_close_begin(s);
    if (s->sat)
        xw_sat_closing(s, reset);
    xw_tcp_release(s, reset);
    xw_sock_free(s);
}

int xway_close(int fd) XW_EXPORT;
int xway_close(int fd)
{
    struct xw_sock *s = xw_api_enter(fd);

    if (!s)
        return xw_handed_close(fd);
    if (!xw_keeper_keep_listener(s))
        xw_sock_close_locked(s);
    return (int)xw_api_leave(0);
}

int xway_shutdown(int fd, int how) XW_EXPORT;
int xway_shutdown(int fd, int how)
{
    struct xw_sock *s;

    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) {
        errno = EINVAL;
        return -1;
    }
    s = xw_api_enter(fd);
    if (!s)
        return xw_handed(fd) ? shutdown(fd, how) : -1;
    return (int)xw_api_leave(xw_tcp_shutdown(s, how != SHUT_WR, how != SHUT_RD));
}

/* ---- connection setup -------------------------------------------------------- */

int xway_bind(int fd, const struct sockaddr *addr, socklen_t len) XW_EXPORT;
int xway_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct xw_sock *s = xw_api_enter(fd);
    ip_addr_t ip;
    u16_t port;
    int rc;

    if (!s)
        return -1;
    rc = from_sockaddr(s, addr, len, &ip, &port);
    if (rc == 0)
        rc = xw_tcp_bind(s, &ip, port);
    return (int)xw_api_leave(rc);
}

int xway_listen(int fd, int backlog) XW_EXPORT;
int xway_listen(int fd, int backlog)
{
    struct xw_sock *s = xw_api_enter(fd);

    if (!s)
        return -1;
    return (int)xw_api_leave(xw_tcp_listen(s, backlog));
}

int xway_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) XW_EXPORT;
int xway_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    struct xw_sock *l, *c;
    uint64_t deadline;
    int rc = 0;

    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) {
        errno = EINVAL;
        return -1;
    }
    l = xw_api_enter(fd);
    if (!l)
        return -1;
    if (l->state != XW_SS_LISTEN)
        return (int)xw_api_leave(-EINVAL);
    deadline = xw_deadline(l->rcvtimeo_us);
    while (!(c = xw_tcp_accept_next(l))) {
        if (l->nonblock)
            return (int)xw_api_leave(-EAGAIN);
        rc = xw_sock_wait(l, deadline);
        if (rc < 0)
            return (int)xw_api_leave(rc == -ETIMEDOUT ? -EAGAIN : rc);
    }
    c->nonblock = flags & SOCK_NONBLOCK;
    if (!(flags & SOCK_CLOEXEC))
        fcntl(c->fd, F_SETFD, 0);
    if (addr && len && c->tcp.pcb)
        rc = to_sockaddr(c, &c->tcp.pcb->remote_ip, c->tcp.pcb->remote_port, addr, len);
    else if (addr && len)
        rc = to_sockaddr(c, NULL, 0, addr, len);
    return (int)xw_api_leave(rc < 0 ? rc : c->fd);
}

int xway_accept(int fd, struct sockaddr *addr, socklen_t *len) XW_EXPORT;
int xway_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    return xway_accept4(fd, addr, len, 0);
}

/* Connect, and unless nonblocking wait for the outcome.  A blocking connect's
 * socket publishes no readiness meanwhile (its caller is inside the call): a
 * fresh socket's fd is writable, and shown "not writable" while connecting
 * only to be drained again at the end, two system calls for no one. */
static int connect_wait(struct xw_sock *s, const ip_addr_t *ip, u16_t port)
{
    bool quiet = !s->nonblock && !s->connect_quiet, changed = quiet;
    uint64_t deadline;
    int rc;

    s->connect_quiet |= quiet;
    rc = xw_tcp_connect(s, ip, port);
    if (rc == 0 && s->nonblock)
        rc = -EINPROGRESS;
    deadline = xw_deadline(s->sndtimeo_us);
    while (rc == 0 && s->state == XW_SS_CONNECTING) {
        rc = xw_sock_wait(s, deadline);
        if (rc == -ETIMEDOUT)
            rc = -EINPROGRESS;
    }
    if (rc == 0 && s->state != XW_SS_CONNECTED) {
        rc = s->err ? -s->err : -ECONNREFUSED;
        s->err = 0;
        changed = true;
    }
    if (quiet)
        s->connect_quiet = false;
    if (changed)
        xw_sock_changed(s);
    return rc;
}

int xway_connect(int fd, const struct sockaddr *addr, socklen_t len) XW_EXPORT;
int xway_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct xw_sock *s = xw_api_enter(fd);
    ip_addr_t ip;
    u16_t port;
    int rc;

    if (!s)
        return -1;
    rc = from_sockaddr(s, addr, len, &ip, &port);
    if (rc == 0 && ip_addr_isany(&ip))
        rc = -ECONNREFUSED;
    if (rc == 0)
        rc = connect_wait(s, &ip, port);
    return (int)xw_api_leave(rc);
}

int xw_sock_name_locked(struct xw_sock *s, bool peer, struct sockaddr *addr, socklen_t *len)
{
    if (s->sat)
        return xw_sat_name(s, peer, addr, len);
    if (peer && (s->state != XW_SS_CONNECTED || !s->tcp.pcb))
        return -ENOTCONN;
    if (!s->tcp.pcb && s->rp_leader) /* an SO_REUSEPORT follower */
        return to_sockaddr(s, &s->rp_name_ip, s->rp_name_port, addr, len);
    if (!s->tcp.pcb)
        return to_sockaddr(s, NULL, 0, addr, len);
    if (peer)
        return to_sockaddr(s, &s->tcp.pcb->remote_ip, s->tcp.pcb->remote_port, addr, len);
    return to_sockaddr(s, &s->tcp.pcb->local_ip, s->tcp.pcb->local_port, addr, len);
}

static int name_of(int fd, struct sockaddr *addr, socklen_t *len, bool peer)
{
    struct xw_sock *s = xw_api_enter(fd);

    if (!s)
        return -1;
    return (int)xw_api_leave(xw_sock_name_locked(s, peer, addr, len));
}

int xway_getsockname(int fd, struct sockaddr *addr, socklen_t *len) XW_EXPORT;
int xway_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    return name_of(fd, addr, len, false);
}

int xway_getpeername(int fd, struct sockaddr *addr, socklen_t *len) XW_EXPORT;
int xway_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
    return name_of(fd, addr, len, true);
}

/* ---- data -------------------------------------------------------------------- */

static ssize_t iov_total(const struct iovec *iov, int iovcnt)
{
    size_t t = 0;

    if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov))
        return -EINVAL;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > SSIZE_MAX - t)
            return -EINVAL;
        t += iov[i].iov_len;
    }
    return (ssize_t)t;
}

static ssize_t path_call(const struct xw_path_ops *ops, struct xw_sock *s, bool sending,
                         const struct iovec *iov, int iovcnt, size_t total, int flags)
{
    return sending ? ops->send(s, iov, iovcnt, total, flags)
                   : ops->recv(s, iov, iovcnt, total, flags);
}

/* A data call on a socket already looked up, through its path: without the
 * stack lock if the path runs so (holding a reference, so the socket outlives
 * a concurrent close), and again on the new path if the connection switched
 * while the call waited (path.h).  Lock held on entry and on return. */
/* iov without its first skip bytes, in out[] (malloc'd when cnt exceeds
 * what the caller offers): the count of entries, -ENOMEM. */
static int iov_skip(const struct iovec *iov, int cnt, size_t skip, struct iovec *local,
                    int nlocal, struct iovec **out)
{
    int i = 0, n;

    while (i < cnt && skip >= iov[i].iov_len)
        skip -= iov[i++].iov_len;
    n = cnt - i;
    *out = n <= nlocal ? local : malloc((size_t)n * sizeof(**out));
    if (!*out)
        return -ENOMEM;
    memcpy(*out, iov + i, (size_t)n * sizeof(**out));
    if (n) {
        (*out)[0].iov_base = (char *)(*out)[0].iov_base + skip;
        (*out)[0].iov_len -= skip;
    }
    return n;
}

static ssize_t path_io(struct xw_sock *s, bool sending, const struct iovec *iov, int iovcnt,
                       size_t total, int flags)
{
    const struct iovec *orig = iov;
    struct iovec local[8], *rest = NULL;
    int origcnt = iovcnt;
    size_t done = 0;
    ssize_t rc;

    if (xw_zc_busy(s, sending))
        return -EBUSY;
    for (;;) {
        const struct xw_path_ops *ops = xw_path_of(s);

        bool same;
        if (ops->unlocked_io) {
            s->refs++;
            s->sw.ring_calls++;
            xw_stack_unlock();
            rc = path_call(ops, s, sending, iov, iovcnt, total - done, flags);
            xw_stack_lock();
            s->sw.ring_calls--;
            xw_switch_ring_idle(s);
            same = s->closing || xw_path_of(s) == ops; /* (before our reference goes) */
            xw_sock_put(s);
        } else {
            rc = path_call(ops, s, sending, iov, iovcnt, total - done, flags);
            same = s->closing || xw_path_of(s) == ops;
        }
        if (same)
            break;
        /* Switched during the call (path.h): a blocking send (or MSG_WAITALL
         * recv) goes on with the rest on the new path, as on the old one. */
        if (rc > 0 && (sending || (flags & MSG_WAITALL)) && !s->nonblock &&
            !(flags & MSG_DONTWAIT) && done + (size_t)rc < total) {
            int n;
            done += (size_t)rc;
            if (rest && rest != local)
                free(rest);
            n = iov_skip(orig, origcnt, done, local, 8, &rest);
            if (n < 0) {
                rc = 0;
                break;
            }
            iov = rest;
            iovcnt = n;
            flags |= XW_MSG_CONT;
            continue;
        }
        if (rc != -EAGAIN)
            break;
    }
    if (rest && rest != local)
        free(rest);
    if (done)
        return rc < 0 ? (ssize_t)done : (ssize_t)done + rc;
    return rc;
}

/* A blocking send (or MSG_WAITALL recv) that moved done bytes and found the
 * connection switched (path.h): the rest on the new path, as path_io goes
 * on; what the call moved in all. */
static ssize_t rest_locked(struct xw_sock *s, bool sending, const struct iovec *iov, int iovcnt,
                           size_t total, int flags, size_t done)
{
    struct iovec local[8], *rest = NULL;
    ssize_t rc = 0;
    int n = iov_skip(iov, iovcnt, done, local, 8, &rest);

    xw_stack_lock();
    if (n > 0 && !s->closing)
        rc = path_io(s, sending, rest, n, total - done, flags | XW_MSG_CONT);
    xw_stack_leave();
    if (rest && rest != local)
        free(rest);
    return rc > 0 ? (ssize_t)done + rc : (ssize_t)done;
}

/* The data path without any lock: the socket is held by a lock-free
 * reference.  false when fd's path needs the stack lock (or fd is not a
 * socket, or its path switched during the call): take the locked way. */
static bool path_fast(int fd, bool sending, const struct iovec *iov, int iovcnt, size_t total,
                      int flags, ssize_t *rc)
{
    struct xw_sock *s = xw_sock_get_fast(fd);
    const struct xw_path_ops *ops;
    bool done = false;

    if (!s)
        return false;
    ops = xw_path_of(s);
    if (xw_zc_busy(s, sending)) {
        *rc = -EBUSY;
        done = true;
    } else if (ops->unlocked_io) {
        *rc = path_call(ops, s, sending, iov, iovcnt, total, flags);
        done = *rc != -EAGAIN || xw_path_of(s) == ops;
        if (*rc > 0 && (size_t)*rc < total && xw_path_of(s) != ops &&
            (sending || (flags & MSG_WAITALL)) && !s->nonblock && !(flags & MSG_DONTWAIT))
            *rc = rest_locked(s, sending, iov, iovcnt, total, flags, (size_t)*rc);
    }
    xw_sock_put_fast(s);
    return done;
}

static ssize_t send_result(ssize_t rc, int flags)
{
    if (rc < 0) {
        errno = (int)-rc;
        if (errno == EPIPE && !(flags & MSG_NOSIGNAL))
            raise(SIGPIPE);
        return -1;
    }
    return rc;
}

ssize_t xw_sock_send_locked(struct xw_sock *s, const struct iovec *iov, int iovcnt,
                            size_t total, int flags)
{
    if (s->state == XW_SS_LISTEN)
        return -ENOTCONN;
    if (!total)
        return 0;
    return path_io(s, true, iov, iovcnt, total, flags);
}

static ssize_t do_send(int fd, const struct iovec *iov, int iovcnt, int flags)
{
    ssize_t total = iov_total(iov, iovcnt), rc;
    struct xw_sock *s;

    if (total < 0) {
        errno = (int)-total;
        return -1;
    }
    if (flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE | MSG_EOR)) {
        errno = EOPNOTSUPP;
        return -1;
    }
    if (total && path_fast(fd, true, iov, iovcnt, (size_t)total, flags, &rc))
        return send_result(rc, flags);
    s = xw_api_enter(fd);
    if (!s) {
        struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
        return xw_handed(fd) ? sendmsg(fd, &m, flags) : -1;
    }
    rc = xw_sock_send_locked(s, iov, iovcnt, (size_t)total, flags);
    xw_stack_leave();
    return send_result(rc, flags);
}

/* sendfile through a buffer (a path without its own): read, send, and the
 * file's offset put back over what was read and not sent. */
static ssize_t copy_file(int out, int in, off_t *off, size_t count)
{
    enum { BUF = 256 * 1024 };
    char *buf = malloc(BUF);
    size_t done = 0;
    ssize_t rc = 0;

    if (!buf)
        return -ENOMEM;
    while (done < count) {
        size_t want = count - done < BUF ? count - done : BUF;
        ssize_t n = off ? pread(in, buf, want, *off) : read(in, buf, want), s;
        if (n <= 0) {
            rc = n < 0 ? -errno : 0;
            break;
        }
        s = xway_send(out, buf, (size_t)n, MSG_NOSIGNAL);
        if (s < 0) {
            rc = -errno;
            if (!off)
                lseek(in, -n, SEEK_CUR);
            break;
        }
        if (off)
            *off += s;
        else if (s < n)
            lseek(in, s - n, SEEK_CUR);
        done += (size_t)s;
        if (s < n)
            break;
    }
    free(buf);
    return done ? (ssize_t)done : rc;
}

/* A file as sendfile's source for a path (path.h: xw_fill_fn): from *off
 * (advanced) or the file's offset. */
struct file_src {
    int in;
    off_t *off;
};

static ssize_t fill_from_file(void *arg, const struct iovec *iov, int cnt)
{
    struct file_src *f = arg;
    ssize_t n;

    do
        n = f->off ? preadv(f->in, iov, cnt, *f->off) : readv(f->in, iov, cnt);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (f->off)
        *f->off += n;
    return n;
}

ssize_t xway_sendfile(int out, int in, off_t *off, size_t count) XW_EXPORT;
ssize_t xway_sendfile(int out, int in, off_t *off, size_t count)
{
    struct xw_sock *s = xw_sock_get_fast(out);
    ssize_t rc;

    if (s && xw_zc_busy(s, true)) {
        xw_sock_put_fast(s);
        return send_result(-EBUSY, 0);
    }
    if (s && xw_path_of(s)->sendfile && xw_path_of(s)->unlocked_io) {
        const struct xw_path_ops *ops = xw_path_of(s);
        bool switched;
        struct file_src src = { in, off };
        rc = ops->sendfile(s, fill_from_file, &src, count);
        switched = rc == -EAGAIN && xw_path_of(s) != ops; /* (path.h) */
        xw_sock_put_fast(s);
        if (!switched)
            return send_result(rc, 0);
        /* The rest on the new path, as send would go on. */
        return send_result(copy_file(out, in, off, count), 0);
    }
    if (s)
        xw_sock_put_fast(s);
    else if (!xw_handed(out) && xway_is_socket(out) != 1) {
        errno = EBADF;
        return -1;
    }
    return send_result(copy_file(out, in, off, count), 0);
}

ssize_t xw_sock_recv_locked(struct xw_sock *s, const struct iovec *iov, int iovcnt,
                            size_t total, int flags)
{
    return path_io(s, false, iov, iovcnt, total, flags);
}

static ssize_t do_recv(int fd, const struct iovec *iov, int iovcnt, int flags)
{
    ssize_t total = iov_total(iov, iovcnt), rc;
    struct xw_sock *s;

    if (total < 0) {
        errno = (int)-total;
        return -1;
    }
    if (flags & ~(MSG_DONTWAIT | MSG_PEEK | MSG_WAITALL | MSG_NOSIGNAL | MSG_CMSG_CLOEXEC)) {
        errno = EOPNOTSUPP;
        return -1;
    }
    if (total && path_fast(fd, false, iov, iovcnt, (size_t)total, flags, &rc))
        return rc < 0 ? (errno = (int)-rc, -1) : rc;
    s = xw_api_enter(fd);
    if (!s) {
        struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
        return xw_handed(fd) ? recvmsg(fd, &m, flags) : -1;
    }
    return xw_api_leave(xw_sock_recv_locked(s, iov, iovcnt, (size_t)total, flags));
}

ssize_t xway_send(int fd, const void *buf, size_t len, int flags) XW_EXPORT;
ssize_t xway_send(int fd, const void *buf, size_t len, int flags)
{
    struct iovec v = { (void *)buf, len };
    return do_send(fd, &v, 1, flags);
}

ssize_t xway_recv(int fd, void *buf, size_t len, int flags) XW_EXPORT;
ssize_t xway_recv(int fd, void *buf, size_t len, int flags)
{
    struct iovec v = { buf, len };
    return do_recv(fd, &v, 1, flags);
}

ssize_t xway_write(int fd, const void *buf, size_t len) XW_EXPORT;
ssize_t xway_write(int fd, const void *buf, size_t len)
{
    return xway_send(fd, buf, len, 0);
}

ssize_t xway_read(int fd, void *buf, size_t len) XW_EXPORT;
ssize_t xway_read(int fd, void *buf, size_t len)
{
    return xway_recv(fd, buf, len, 0);
}

ssize_t xway_writev(int fd, const struct iovec *iov, int iovcnt) XW_EXPORT;
ssize_t xway_writev(int fd, const struct iovec *iov, int iovcnt)
{
    return do_send(fd, iov, iovcnt, 0);
}

ssize_t xway_readv(int fd, const struct iovec *iov, int iovcnt) XW_EXPORT;
ssize_t xway_readv(int fd, const struct iovec *iov, int iovcnt)
{
    return do_recv(fd, iov, iovcnt, 0);
}

ssize_t xway_sendmsg(int fd, const struct msghdr *msg, int flags) XW_EXPORT;
ssize_t xway_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (!msg) {
        errno = EFAULT;
        return -1;
    }
    if (msg->msg_controllen) { /* no ancillary data on TCP */
        errno = EINVAL;
        return -1;
    }
    return do_send(fd, msg->msg_iov, (int)msg->msg_iovlen, flags);
}

ssize_t xway_recvmsg(int fd, struct msghdr *msg, int flags) XW_EXPORT;
ssize_t xway_recvmsg(int fd, struct msghdr *msg, int flags)
{
    ssize_t rc;

    if (!msg) {
        errno = EFAULT;
        return -1;
    }
    rc = do_recv(fd, msg->msg_iov, (int)msg->msg_iovlen, flags);
    if (rc >= 0) {
        msg->msg_controllen = 0;
        msg->msg_flags = 0;
        msg->msg_namelen = 0;
    }
    return rc;
}

int xway_set_nonblock(int fd, int on) XW_EXPORT;
int xway_set_nonblock(int fd, int on)
{
    struct xw_sock *s = xw_api_enter(fd);
    int fl;

    if (!s) {
        if (!xw_handed(fd) || (fl = fcntl(fd, F_GETFL)) < 0)
            return -1;
        return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
    }
    s->nonblock = on != 0;
    return (int)xw_api_leave(0);
}

int xway_is_socket(int fd) XW_EXPORT;
int xway_is_socket(int fd)
{
    int yes;

    xw_stack_lock();
    yes = xw_sock_lookup(fd) != NULL;
    xw_stack_unlock();
    return yes;
}

int xw_sock_renumber(int fd, int nfd)
{
    struct xw_sock *s = xw_api_enter(fd);

    if (!s)
        return -1;
    return (int)xw_api_leave(xw_sock_move(s, nfd));
}

int xway_stats(struct xway_stats *st) XW_EXPORT;
int xway_stats(struct xway_stats *st)
{
    xw_stack_lock();
    if (!xw_stack_running()) {
        xw_stack_unlock();
        errno = ENETDOWN;
        return -1;
    }
    xw_neg_stats(st);
    xw_stack_unlock();
    return 0;
}

const char *xway_reason_name(int reason) XW_EXPORT;
const char *xway_reason_name(int reason)
{
    return xw_reason_name(reason);
}

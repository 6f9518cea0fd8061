/* The data calls on xway sockets: read/write and their vectored, flagged and
 * addressed forms (sendmmsg/recvmmsg too), shutdown, sendfile, splice, and glibc's
 * _FORTIFY_SOURCE variants.
 * Each forwards to the stack for an xway socket and to libc otherwise (XS_FWD). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"
#include "xway.h"

ssize_t read(int fd, void *buf, size_t n)
{
    XS_FWD(fd, xs_real.read(fd, buf, n), xway_read(key, buf, n));
}

ssize_t write(int fd, const void *buf, size_t n)
{
    XS_FWD(fd, xs_real.write(fd, buf, n), xway_write(key, buf, n));
}

ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    XS_FWD(fd, xs_real.readv(fd, iov, cnt), xway_readv(key, iov, cnt));
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    XS_FWD(fd, xs_real.writev(fd, iov, cnt), xway_writev(key, iov, cnt));
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    XS_FWD(fd, xs_real.recv(fd, buf, n, flags), xway_recv(key, buf, n, flags));
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    XS_FWD(fd, xs_real.send(fd, buf, n, flags), xway_send(key, buf, n, flags));
}

ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
    XS_FWD(fd, xs_real.recvmsg(fd, m, flags), xway_recvmsg(key, m, flags));
}

/* fds passed in m: a handed-off connection's number gets another holder. */
static void passing(const struct msghdr *m)
{
    if (xs_in_stack || !m || !m->msg_control || m->msg_controllen < sizeof(struct cmsghdr))
        return;
    for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)m); c;
         c = CMSG_NXTHDR((struct msghdr *)m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                int f;
                memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                xs_handed_copied(f);
            }
}

/* The same for every message of a sendmmsg. */
static void passing_all(const struct mmsghdr *v, unsigned n)
{
    for (unsigned i = 0; v && i < n; i++)
        passing(&v[i].msg_hdr);
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
    passing(m);
    XS_FWD(fd, xs_real.sendmsg(fd, m, flags), xway_sendmsg(key, m, flags));
}

/* sendmmsg/recvmmsg on an xway socket: one sendmsg/recvmsg per message, as
 * the kernel does on a stream socket (libc's would move the readiness pair's
 * bytes).  A failure after some messages returns their count; recvmmsg's
 * MSG_WAITFORONE makes the messages after the first nonblocking, and it stops
 * at EOF or once the timeout passed (checked between messages, as Linux). */
static int xsendmmsg(int key, struct mmsghdr *v, unsigned n, int flags)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        ssize_t r = XS_STACK_CALL(xway_sendmsg(key, &v[i].msg_hdr, flags));
        if (r < 0)
            return i ? (int)i : -1;
        v[i].msg_len = (unsigned)r;
    }
    return (int)n;
}

int sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
    passing_all(v, n);
    XS_FWD(fd, xs_real.sendmmsg(fd, v, n, flags), xsendmmsg(key, v, n, flags));
}

static int xrecvmmsg(int key, struct mmsghdr *v, unsigned n, int flags, struct timespec *t)
{
    struct timespec end, now;
    unsigned i;

    if (t) {
        clock_gettime(CLOCK_MONOTONIC, &end);
        end.tv_sec += t->tv_sec + (end.tv_nsec + t->tv_nsec) / 1000000000;
        end.tv_nsec = (end.tv_nsec + t->tv_nsec) % 1000000000;
    }
    for (i = 0; i < n; i++) {
        int f = (flags & ~MSG_WAITFORONE) | (i && (flags & MSG_WAITFORONE) ? MSG_DONTWAIT : 0);
        ssize_t r = XS_STACK_CALL(xway_recvmsg(key, &v[i].msg_hdr, f));
        if (r < 0)
            return i ? (int)i : -1;
        v[i].msg_len = (unsigned)r;
        if (r == 0)
            return (int)i + 1;
        if (t && (clock_gettime(CLOCK_MONOTONIC, &now), now.tv_sec > end.tv_sec ||
                  (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec)))
            return (int)i + 1;
    }
    return (int)n;
}

int recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags, struct timespec *t)
{
    XS_FWD(fd, xs_real.recvmmsg(fd, v, n, flags, t), xrecvmmsg(key, v, n, flags, t));
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
    XS_FWD(fd, xs_real.recvfrom(fd, buf, n, flags, a, alen), xrecvfrom(key, buf, n, flags, alen));
}

/* A connected stream socket ignores the destination, as Linux does. */
ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *a,
               socklen_t alen)
{
    XS_FWD(fd, xs_real.sendto(fd, buf, n, flags, a, alen), xway_send(key, buf, n, flags));
}

int shutdown(int fd, int how)
{
    XS_FWD(fd, xs_real.shutdown(fd, how), xway_shutdown(key, how));
}

/* sendfile to an xway socket (xway_sendfile: on the ring, the file read
 * straight into it), in chunks; it stops (EBADF) when number out is closed or
 * replaced meanwhile (gen), and follows its socket to another number (dup2
 * onto that number, fdcalls.c). */
static ssize_t xsendfile(int out, unsigned gen, int key, int in, off_t *off, size_t count)
{
    enum { CHUNK = 1024 * 1024 };
    size_t done = 0;

    while (done < count) {
        size_t want = count - done < CHUNK ? count - done : CHUNK;
        ssize_t s;
        if (xs_gen(out) != gen) {
            errno = EBADF;
            s = -1;
        } else {
            key = xs_follow(out, key);
            s = XS_STACK_CALL(xway_sendfile(key, in, off, want));
        }
        if (s <= 0)
            return done ? (ssize_t)done : s;
        done += (size_t)s;
        if ((size_t)s < want)
            break;
    }
    return (ssize_t)done;
}

ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
    unsigned gen = xs_gen(out);
    int key = xs_route(out);
    struct xs_fd *ce;

    if (key == XS_R_KERNEL && !(ce = xs_claimable(out)))
        return xs_real.sendfile(out, in, off, count);
    if (key == XS_R_KERNEL && (key = xs_claim_enter(out, ce)) == XS_R_KERNEL) {
        ssize_t r = xs_real.sendfile(out, in, off, count);
        xs_claim_leave(ce);
        return r;
    }
    gen = xs_gen(out);
    if (key == XS_R_BAD)
        return xs_bad();
    return xsendfile(out, gen, key, in, off, count);
}

ssize_t sendfile64(int out, int in, off_t *off, size_t count)
{
    return sendfile(out, in, off, count);
}

/* ---- splice ------------------------------------------------------------------ */

/* splice between a pipe and an xway socket (one end must be a pipe, as the
 * kernel requires; the socket's offset must be NULL).  Without this, libc's
 * splice would move the socket's readiness bytes.  Nothing is lost: into a
 * pipe, what the socket holds is peeked, written, then consumed as far as
 * the pipe took it; from a pipe, bytes are taken only when the socket
 * polls writable, and then sent in full (a nonblocking socket may block for
 * the rest of them). */
#define SPLICE_CHUNK (64 * 1024)

static bool is_pipe(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

/* Wait until fd has events, unless nonblocking: 0, or -1 (EAGAIN / errno). */
static int splice_wait(int fd, short events, bool nonblock, bool xway)
{
    struct pollfd p = { .fd = fd, .events = events };
    int r;

    if (nonblock) {
        errno = EAGAIN;
        return -1;
    }
    while ((r = xway ? XS_STACK_CALL(xway_poll(&p, 1, -1)) : xs_real.poll(&p, 1, -1)) < 0 &&
           errno == EINTR)
        ;
    return r < 0 ? -1 : 0;
}

static ssize_t splice_to_pipe(int key, int pipe, size_t n, unsigned flags)
{
    /* (SPLICE_F_NONBLOCK is for the pipe; the socket waits unless O_NONBLOCK) */
    bool nb = atomic_load(&xs_key_entry(key)->nonblock);
    char *buf;
    ssize_t got, w;
    int size, queued;

    for (;;) { /* room in the pipe */
        size = xs_real.fcntl(pipe, F_GETPIPE_SZ);
        if (size < 0 || xs_real.ioctl(pipe, FIONREAD, &queued) < 0)
            return -1;
        if (size > queued)
            break;
        if (splice_wait(pipe, POLLOUT, flags & SPLICE_F_NONBLOCK, false) < 0)
            return -1;
    }
    if (n > (size_t)(size - queued))
        n = (size_t)(size - queued);
    if (n > SPLICE_CHUNK)
        n = SPLICE_CHUNK;
    if (!(buf = malloc(n ? n : 1)))
        return -1;
    got = XS_STACK_CALL(xway_recv(key, buf, n, MSG_PEEK | (nb ? MSG_DONTWAIT : 0)));
    w = got > 0 ? xs_real.write(pipe, buf, (size_t)got) : got;
    if (w > 0 && XS_STACK_CALL(xway_recv(key, buf, (size_t)w, 0)) != w) {
        errno = EIO; /* (another thread read the socket meanwhile) */
        w = -1;
    }
    free(buf);
    return w;
}

static ssize_t splice_from_pipe(int pipe, int key, size_t n, unsigned flags)
{
    bool nb = (flags & SPLICE_F_NONBLOCK) != 0;
    int queued, fl = xs_real.fcntl(pipe, F_GETFL);
    struct pollfd p = { .fd = key, .events = POLLOUT };
    char *buf;
    ssize_t got, sent = 0;

    for (;;) { /* bytes in the pipe (none, and no writer: EOF) */
        struct pollfd pp = { .fd = pipe, .events = POLLIN };
        if (xs_real.ioctl(pipe, FIONREAD, &queued) < 0)
            return -1;
        if (queued > 0)
            break;
        if (xs_real.poll(&pp, 1, 0) > 0 && (pp.revents & POLLHUP) &&
            xs_real.ioctl(pipe, FIONREAD, &queued) == 0 && queued == 0)
            return 0;
        if (nb || (fl >= 0 && (fl & O_NONBLOCK))) {
            errno = EAGAIN;
            return -1;
        }
        if (xs_real.poll(&pp, 1, -1) < 0 && errno != EINTR)
            return -1;
    }
    if (XS_STACK_CALL(xway_poll(&p, 1, 0)) == 0 &&
        (nb || atomic_load(&xs_key_entry(key)->nonblock))) {
        errno = EAGAIN;
        return -1;
    }
    if (n > (size_t)queued)
        n = (size_t)queued;
    if (n > SPLICE_CHUNK)
        n = SPLICE_CHUNK;
    if (!(buf = malloc(n)))
        return -1;
    got = xs_real.read(pipe, buf, n);
    while (got > 0 && sent < got) {
        ssize_t s = XS_STACK_CALL(xway_send(key, buf + sent, (size_t)(got - sent), MSG_NOSIGNAL));
        if (s < 0 && errno == EAGAIN && splice_wait(key, POLLOUT, false, true) == 0)
            continue;
        if (s < 0)
            break;
        sent += s;
    }
    free(buf);
    return got <= 0 ? got : sent ? sent : -1;
}

ssize_t splice(int in, loff_t *oi, int out, loff_t *oo, size_t n, unsigned flags)
{
    int kin = xs_route(in), kout = xs_route(out);

    if (kin == XS_R_KERNEL && kout == XS_R_KERNEL)
        return xs_real.splice(in, oi, out, oo, n, flags);
    if (kin == XS_R_BAD || kout == XS_R_BAD)
        return xs_bad();
    /* The kernel's errors: no pipe (or two sockets) EINVAL, an offset for the
     * pipe ESPIPE, one for the socket EINVAL. */
    if ((kin >= 0 && kout >= 0) || !is_pipe(kin >= 0 ? out : in)) {
        errno = EINVAL;
        return -1;
    }
    if (kin >= 0 ? oo != NULL : oi != NULL) {
        errno = ESPIPE;
        return -1;
    }
    if (kin >= 0 ? oi != NULL : oo != NULL) {
        errno = EINVAL;
        return -1;
    }
    if (!n)
        return 0;
    return kin >= 0 ? splice_to_pipe(kin, out, n, flags) : splice_from_pipe(in, kout, n, flags);
}

/* ---- the glibc _FORTIFY_SOURCE variants ------------------------------------- */

ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    if (n > buflen || (xs_route(fd) == XS_R_KERNEL && !xs_claimable(fd)))
        return xs_real.__read_chk(fd, buf, n, buflen);
    return read(fd, buf, n);
}

ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
    if (n > buflen || (xs_route(fd) == XS_R_KERNEL && !xs_claimable(fd)))
        return xs_real.__recv_chk(fd, buf, n, buflen, flags);
    return recv(fd, buf, n, flags);
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
                       struct sockaddr *a, socklen_t *alen)
{
    if (n > buflen || (xs_route(fd) == XS_R_KERNEL && !xs_claimable(fd)))
        return xs_real.__recvfrom_chk(fd, buf, n, buflen, flags, a, alen);
    return recvfrom(fd, buf, n, flags, a, alen);
}

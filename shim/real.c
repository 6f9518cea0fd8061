/* The table of real libc functions, resolved with dlsym(RTLD_NEXT) once
 * (rdma-core librdmacm/preload.c style), and the __wrap_* entry points that the
 * stack's own libc calls are linked to (see shim.h). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "shim.h"

struct xs_real xs_real;
__thread int xs_in_stack __attribute__((tls_model("initial-exec")));
int xs_log_level = 1;

static pthread_once_t real_once = PTHREAD_ONCE_INIT;

static void *must(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        static const char msg[] = "libxwayshim: libc lacks a function the shim needs\n";
        (void)!syscall(1 /* SYS_write */, 2, msg, sizeof(msg) - 1);
        abort();
    }
    return p;
}

#define R(field, name) xs_real.field = must(name)

static void resolve(void)
{
    const char *lv = getenv("XWAY_LOG");

    R(socket, "socket"); R(bind, "bind"); R(listen, "listen"); R(accept, "accept");
    R(accept4, "accept4"); R(connect, "connect"); R(read, "read"); R(write, "write");
    R(readv, "readv"); R(writev, "writev"); R(recv, "recv"); R(recvfrom, "recvfrom");
    R(recvmsg, "recvmsg"); R(send, "send"); R(sendto, "sendto"); R(sendmsg, "sendmsg");
    R(sendfile, "sendfile"); R(close, "close"); R(shutdown, "shutdown");
    R(getsockopt, "getsockopt"); R(setsockopt, "setsockopt");
    R(getsockname, "getsockname"); R(getpeername, "getpeername"); R(fcntl, "fcntl");
    xs_real.fcntl64 = dlsym(RTLD_NEXT, "fcntl64");
    if (!xs_real.fcntl64)
        xs_real.fcntl64 = xs_real.fcntl;
    R(ioctl, "ioctl"); R(poll, "poll"); R(ppoll, "ppoll"); R(select, "select");
    R(pselect, "pselect"); R(epoll_ctl, "epoll_ctl"); R(epoll_wait, "epoll_wait");
    R(epoll_pwait, "epoll_pwait"); R(dup, "dup"); R(dup2, "dup2"); R(dup3, "dup3");
    R(fork, "fork"); R(read_chk, "__read_chk"); R(recv_chk, "__recv_chk");
    R(recvfrom_chk, "__recvfrom_chk"); R(poll_chk, "__poll_chk"); R(ppoll_chk, "__ppoll_chk");

    if (lv) {
        if (!strcmp(lv, "error")) xs_log_level = 0;
        else if (!strcmp(lv, "warn")) xs_log_level = 1;
        else if (!strcmp(lv, "info")) xs_log_level = 2;
        else if (!strcmp(lv, "debug")) xs_log_level = 3;
    }
}

void xs_real_init(void)
{
    pthread_once(&real_once, resolve);
}

__attribute__((constructor)) static void real_ctor(void)
{
    xs_real_init();
}

void xs_log(int level, const char *fmt, ...)
{
    char buf[512];
    int n;
    va_list ap;

    if (level > xs_log_level)
        return;
    n = snprintf(buf, sizeof(buf), "xway-shim[%d]: ", (int)getpid());
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    (void)!xs_real.write(2, buf, (size_t)n);
}

/* ---- the stack's libc calls ---------------------------------------------------
 * The stack is linked with --wrap for these names, so its calls land here and go
 * straight to libc.  One exception: closing a number that the shim is handing
 * over to a kernel socket (an xway socket replaced by a kernel one, preload.c)
 * becomes dup3(kernel socket, number): the number is never free in between. */

int __wrap_close(int fd);
int __wrap_close(int fd)
{
    struct xs_fd *e = xs_fd_peek(fd);
    int k = e ? atomic_exchange(&e->handoff, -1) : -1;

    if (k >= 0) {
        int flags = xs_real.fcntl(fd, F_GETFD);
        int rc = xs_real.dup3(k, fd, (flags >= 0 && (flags & FD_CLOEXEC)) ? O_CLOEXEC : 0);
        xs_real.close(k);
        return rc < 0 ? -1 : 0;
    }
    return xs_real.close(fd);
}

#define W(ret, name, params, args) \
    ret __wrap_##name params;       \
    ret __wrap_##name params { return xs_real.name args; }

W(int, socket, (int d, int t, int p), (d, t, p))
W(int, bind, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l))
W(int, listen, (int fd, int b), (fd, b))
W(int, accept, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l))
W(int, accept4, (int fd, struct sockaddr *a, socklen_t *l, int f), (fd, a, l, f))
W(int, connect, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l))
W(ssize_t, read, (int fd, void *b, size_t n), (fd, b, n))
W(ssize_t, write, (int fd, const void *b, size_t n), (fd, b, n))
W(ssize_t, readv, (int fd, const struct iovec *v, int n), (fd, v, n))
W(ssize_t, writev, (int fd, const struct iovec *v, int n), (fd, v, n))
W(ssize_t, recv, (int fd, void *b, size_t n, int f), (fd, b, n, f))
W(ssize_t, recvfrom, (int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l),
  (fd, b, n, f, a, l))
W(ssize_t, recvmsg, (int fd, struct msghdr *m, int f), (fd, m, f))
W(ssize_t, send, (int fd, const void *b, size_t n, int f), (fd, b, n, f))
W(ssize_t, sendto, (int fd, const void *b, size_t n, int f, const struct sockaddr *a,
                    socklen_t l), (fd, b, n, f, a, l))
W(ssize_t, sendmsg, (int fd, const struct msghdr *m, int f), (fd, m, f))
W(int, shutdown, (int fd, int h), (fd, h))
W(int, getsockopt, (int fd, int l, int n, void *v, socklen_t *len), (fd, l, n, v, len))
W(int, setsockopt, (int fd, int l, int n, const void *v, socklen_t len), (fd, l, n, v, len))
W(int, getsockname, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l))
W(int, getpeername, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l))
W(int, poll, (struct pollfd *p, nfds_t n, int t), (p, n, t))
W(int, ppoll, (struct pollfd *p, nfds_t n, const struct timespec *t, const sigset_t *s),
  (p, n, t, s))
W(int, epoll_ctl, (int e, int op, int fd, struct epoll_event *ev), (e, op, fd, ev))
W(int, epoll_wait, (int e, struct epoll_event *ev, int n, int t), (e, ev, n, t))
W(int, dup, (int fd), (fd))
W(int, dup2, (int a, int b), (a, b))
W(int, dup3, (int a, int b, int f), (a, b, f))

int __wrap_fcntl(int fd, int cmd, ...);
int __wrap_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    void *arg;

    va_start(ap, cmd);
    arg = va_arg(ap, void *);
    va_end(ap);
    return xs_real.fcntl(fd, cmd, arg);
}

int __wrap_ioctl(int fd, unsigned long req, ...);
int __wrap_ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    void *arg;

    va_start(ap, req);
    arg = va_arg(ap, void *);
    va_end(ap);
    return xs_real.ioctl(fd, req, arg);
}

/* The two op tables and the exact-length I/O helpers on top of them. */
#include "ops.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>
#include <xway.h>

static int kernel_init(void)
{
    return 0;
}

static void kernel_fini(void)
{
}

static int xway_start(void)
{
    if (xway_init(NULL) == 0 || errno == EALREADY)
        return 0;
    const char *msg = xway_last_error();
    fprintf(stderr, "xwperf: cannot start the xway stack: %s\n",
            msg && *msg ? msg : "(no detail)");
    return -1;
}

static int xway_conn_info(int fd, struct xway_conn_info *ci)
{
    socklen_t len = sizeof(*ci);
    return xway_getsockopt(fd, XWAY_SOL, XWAY_INFO, ci, &len);
}

/* TCP over loopback and AF_UNIX: the same kernel calls. */
#define KERNEL_OPS(name)                                                           \
    {                                                                              \
        .path = name, .init = kernel_init, .fini = kernel_fini, .socket = socket,  \
        .bind = bind, .listen = listen, .accept = accept, .connect = connect,      \
        .send = send, .sendmsg = sendmsg, .recv = recv, .shutdown = shutdown,      \
        .close = close, .setsockopt = setsockopt, .poll = poll,                    \
    }

const struct xwp_ops xwp_kernel_ops = KERNEL_OPS("kernel");
const struct xwp_ops xwp_unix_ops = KERNEL_OPS("unix");

const struct xwp_ops xwp_xway_ops = {
    .path = "tcp",
    .init = xway_start,
    .fini = xway_fini,
    .socket = xway_socket,
    .bind = xway_bind,
    .listen = xway_listen,
    .accept = xway_accept,
    .connect = xway_connect,
    .send = xway_send,
    .sendmsg = xway_sendmsg,
    .recv = xway_recv,
    .shutdown = xway_shutdown,
    .close = xway_close,
    .setsockopt = xway_setsockopt,
    .poll = xway_poll,
    .info = xway_conn_info,
    .zc_recv = xway_zc_recv,
    .zc_recv_done = xway_zc_recv_done,
    .zc_reserve = xway_zc_reserve,
    .zc_commit = xway_zc_commit,
};

ssize_t xwp_send_all(const struct xwp_ops *o, int fd, const void *buf, size_t len)
{
    const char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = o->send(fd, p + done, len - done, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done += (size_t)n;
    }
    return (ssize_t)done;
}

ssize_t xwp_recv_all(const struct xwp_ops *o, int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = o->recv(fd, p + done, len - done, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

int xwp_sendv_all(const struct xwp_ops *o, int fd, struct iovec *iov, int cnt)
{
    while (cnt > 0) {
        struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };
        ssize_t n = o->sendmsg(fd, &m, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        while (cnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

int xwp_unix_addr(const char *path, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_un *su = (struct sockaddr_un *)ss;
    size_t n = strlen(path);
    if (n >= sizeof(su->sun_path))
        return -ENAMETOOLONG;
    memset(su, 0, sizeof(*su));
    su->sun_family = AF_UNIX;
    memcpy(su->sun_path, path, n + 1);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

int xwp_setopt(const struct xwp_ops *o, int fd, int level, int name, int val)
{
    return o->setsockopt(fd, level, name, &val, sizeof(val)) < 0 ? -errno : 0;
}

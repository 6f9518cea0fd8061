/* The socket calls xwperf runs its tests through: the xway stack's or the
 * kernel's (--kernel), so both paths execute the identical test code.
 * Every call has its POSIX contract (-1 + errno). */
#ifndef XWP_OPS_H
#define XWP_OPS_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <xway.h>
#include <xway_zc.h>

struct xwp_ops {
    const char *path; /* "tcp" (the stack's TCP path), "kernel" or "unix" */
    int (*init)(void); /* 0, or -1 with a message printed */
    void (*fini)(void);
    int (*socket)(int domain, int type, int protocol);
    int (*bind)(int fd, const struct sockaddr *addr, socklen_t len);
    int (*listen)(int fd, int backlog);
    int (*accept)(int fd, struct sockaddr *addr, socklen_t *len);
    int (*connect)(int fd, const struct sockaddr *addr, socklen_t len);
    ssize_t (*send)(int fd, const void *buf, size_t len, int flags);
    ssize_t (*sendmsg)(int fd, const struct msghdr *msg, int flags);
    ssize_t (*recv)(int fd, void *buf, size_t len, int flags);
    int (*shutdown)(int fd, int how);
    int (*close)(int fd);
    int (*setsockopt)(int fd, int level, int name, const void *val, socklen_t len);
    int (*poll)(struct pollfd *fds, nfds_t n, int timeout_ms);
    /* The connection's path (XWAY_INFO); NULL for the kernel's sockets. */
    int (*info)(int fd, struct xway_conn_info *ci);
    /* Zero-copy (include/xway_zc.h, --zc); NULL for the kernel's sockets. */
    ssize_t (*zc_recv)(int fd, struct xway_zc *z, int flags);
    int (*zc_recv_done)(int fd, size_t n);
    ssize_t (*zc_reserve)(int fd, size_t want, struct xway_zc *z, int flags);
    ssize_t (*zc_commit)(int fd, size_t n, int flags);
};

extern const struct xwp_ops xwp_kernel_ops;
/* The kernel's AF_UNIX stream sockets: the kernel ops under another name. */
extern const struct xwp_ops xwp_unix_ops;
extern const struct xwp_ops xwp_xway_ops;

/* Send/receive exactly len bytes.  len, or for recv a short count at EOF, or -errno. */
ssize_t xwp_send_all(const struct xwp_ops *o, int fd, const void *buf, size_t len);
ssize_t xwp_recv_all(const struct xwp_ops *o, int fd, void *buf, size_t len);
/* Send all of iov[0..cnt) (modified).  0 or -errno. */
int xwp_sendv_all(const struct xwp_ops *o, int fd, struct iovec *iov, int cnt);
/* The AF_UNIX address of path in *ss.  0, or -ENAMETOOLONG. */
int xwp_unix_addr(const char *path, struct sockaddr_storage *ss, socklen_t *len);
/* Set an int socket option, 0 or -errno. */
int xwp_setopt(const struct xwp_ops *o, int fd, int level, int name, int val);

#endif

/* xway: a userspace TCP/IP stack (lwIP) whose connections between co-resident
 * Xen domains move their payload through a shared-memory ring.
 *
 * This is the only header an application includes.  The socket calls are shaped
 * like their POSIX namesakes: they return -1 and set errno on failure, with the
 * errno values Linux gives.  Every xway socket descriptor is also a real kernel
 * file descriptor: it never collides with other fds, and poll/epoll/select on it
 * report readability (data, EOF, error, a pending connection) and writability as
 * for a kernel socket, so an application's own event loop can wait on it.  Use
 * the xway_* calls (not read/write/close) for everything else on it.
 *
 * Thread safety: every call may be made from any thread at any time.
 */
#ifndef XWAY_H
#define XWAY_H

#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "xway_types.h" /* enum xway_reason, struct xway_conn_info, struct xway_stats */

#ifdef __cplusplus
extern "C" {
#endif

enum xway_log_level {
    XWAY_LOG_ERROR = 0,
    XWAY_LOG_WARN = 1,
    XWAY_LOG_INFO = 2,
    XWAY_LOG_DEBUG = 3,
};

/* Configuration of the process's stack.  Each field mirrors an environment
 * variable; NULL / 0 / -1 means "the default".  Strings are copied by xway_init. */
struct xway_config {
    const char *link;    /* XWAY_LINK: "hub:PATH" | "tap:IFNAME"; NULL: loopback only */
    const char *addr;    /* XWAY_ADDR: CIDRs, IPv4 and/or IPv6, comma-separated */
    const char *gw;      /* XWAY_GW: default gateways, IPv4 and/or IPv6, comma-separated */
    int mtu;             /* XWAY_MTU: link MTU, 576..65535 (IPv6 needs >= 1280); 0: link default */
    int log_level;       /* XWAY_LOG: enum xway_log_level; -1: warn */
    const char *backend; /* XWAY_BACKEND: "auto" | "xen" | "sim" | "off" */
    const char *host;    /* XWAY_HOST: sim host directory */
    int domid;           /* XWAY_DOMID: requested sim domain id; -1: allocate */
    long ring;           /* XWAY_RING: ring bytes per direction (power of two); 0: default */
    int spin_us;         /* XWAY_SPIN_US: spin before blocking, microseconds; -1: default */
};

/* Fill *cfg with defaults (all fields "default"). */
void xway_config_init(struct xway_config *cfg);

/* Start the process's stack with cfg, or from the XWAY_* environment when cfg is
 * NULL.  Every value is validated before anything starts: on an invalid value
 * nothing is left running, -1 is returned with errno EINVAL and xway_last_error()
 * names the variable and the value.  Calling it again while running: -1, EALREADY.
 * Any socket call made before xway_init starts the stack from the environment. */
int xway_init(const struct xway_config *cfg);

/* Stop the stack: close every socket, release every resource.  Safe to call when
 * not running.  A later call may start it again. */
void xway_fini(void);

/* Human-readable description of the last failure of xway_init in this process
 * ("" if none).  The string stays valid until the next xway_init. */
const char *xway_last_error(void);

/* Sockets.  domain: AF_INET or AF_INET6; type: SOCK_STREAM, optionally or-ed with
 * SOCK_NONBLOCK and SOCK_CLOEXEC; protocol: 0 or IPPROTO_TCP. */
int xway_socket(int domain, int type, int protocol);
int xway_bind(int fd, const struct sockaddr *addr, socklen_t len);
int xway_listen(int fd, int backlog);
int xway_accept(int fd, struct sockaddr *addr, socklen_t *len);
int xway_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
/* Nonblocking sockets: -1/EINPROGRESS, then poll for POLLOUT and read SO_ERROR. */
int xway_connect(int fd, const struct sockaddr *addr, socklen_t len);

/* flags: MSG_DONTWAIT, MSG_NOSIGNAL (send); MSG_DONTWAIT, MSG_PEEK, MSG_WAITALL (recv).
 * Sending on a connection whose write side is closed raises SIGPIPE unless
 * MSG_NOSIGNAL is given, then fails with EPIPE. */
ssize_t xway_send(int fd, const void *buf, size_t len, int flags);
ssize_t xway_recv(int fd, void *buf, size_t len, int flags);
ssize_t xway_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t xway_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t xway_read(int fd, void *buf, size_t len);
ssize_t xway_write(int fd, const void *buf, size_t len);
ssize_t xway_readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t xway_writev(int fd, const struct iovec *iov, int iovcnt);
/* sendfile(2) onto an xway socket: up to count bytes of file in, from *off
 * (advanced; the file's offset untouched) or, off NULL, from the file's offset
 * (advanced by what was sent).  On the ring the file is read straight into
 * the ring (one copy, as the kernel's sendfile into a socket buffer); on TCP
 * through a buffer.  Blocking, errors and SIGPIPE as send. */
ssize_t xway_sendfile(int out, int in, off_t *off, size_t count);

int xway_shutdown(int fd, int how);
/* Close the socket and its kernel fd.  With SO_LINGER {1, 0} the connection is reset. */
int xway_close(int fd);

int xway_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int xway_getpeername(int fd, struct sockaddr *addr, socklen_t *len);

/* SOL_SOCKET: SO_REUSEADDR, SO_KEEPALIVE, SO_LINGER, SO_RCVBUF, SO_SNDBUF, SO_ERROR
 * (get; clears), SO_RCVTIMEO, SO_SNDTIMEO, SO_TYPE, SO_ACCEPTCONN;
 * IPPROTO_TCP: TCP_NODELAY, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT. */
int xway_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int xway_getsockopt(int fd, int level, int name, void *val, socklen_t *len);

/* Switch O_NONBLOCK on (nonzero) or off. */
int xway_set_nonblock(int fd, int on);

/* 1 if fd is an open xway socket of this process, else 0. */
int xway_is_socket(int fd);

/* Hand a connection over to its kernel fd: from now on the number is an
 * ordinary AF_UNIX stream socket carrying the connection's bytes both ways
 * (read/write/poll/shutdown/close with the kernel's calls, in this process, a
 * forked child or a program exec'd with it), pumped by this process's stack
 * until every holder has closed the number (then the connection is closed, or
 * reset if unread data is left) or the connection is over both ways.  xway_*
 * data calls, xway_shutdown, xway_set_nonblock and xway_close on the number
 * act on the kernel fd.  The pump is this process's: when it exits
 * (xway_fini) the connection ends.  0, or -1 with ENOTCONN (not a connected
 * socket), EBADF, ENOMEM.
 *
 * fork: every connected socket is handed off automatically just before fork()
 * (pthread_atfork), so that a child can serve a connection accepted by its
 * parent and the parent can go on using it.  Listening and unconnected sockets
 * stay the parent's; in the child the stack starts empty. */
int xway_handoff(int fd);

/* poll(2) over any mix of xway sockets and ordinary fds. */
int xway_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms);

/* ---- The fast path: which way a connection's payload goes, and why ---------- */

/* getsockopt(fd, XWAY_SOL, XWAY_INFO, &info, &len) on a connected socket. */
#define XWAY_SOL 0x5857
#define XWAY_INFO 1
/* setsockopt(fd, XWAY_SOL, XWAY_POLLED, &one, sizeof(int)): the application
 * waits on this socket's fd with its own epoll (not xway_poll).  On the ring,
 * the fd then follows the socket exactly, as a kernel socket's would: it stops
 * being readable as soon as a recv empties the ring, and every arrival of data
 * is a new edge for EPOLLET.  Without it the fd may stay readable after a recv
 * emptied the ring until a call returns EAGAIN (cheaper: the peer need not
 * signal every write).  xway_poll is exact either way. */
#define XWAY_POLLED 2

/* Counters of the running stack.  0, or -1 with errno ENETDOWN if not running. */
int xway_stats(struct xway_stats *st);
/* Name of an enum xway_reason value ("not-co-resident", ...). */
const char *xway_reason_name(int reason);

#ifdef __cplusplus
}
#endif
#endif

/* The TCP path of a connection (lwIP raw API).  Stack lock held for all calls.
 * Functions return 0/a count or -errno. */
#ifndef XW_TCP_PATH_H
#define XW_TCP_PATH_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "lwip/ip_addr.h"
#include "socket.h"

int xw_tcp_bind(struct xw_sock *s, const ip_addr_t *ip, u16_t port);
int xw_tcp_listen(struct xw_sock *s, int backlog);
/* Next established connection of listener l, or NULL. */
struct xw_sock *xw_tcp_accept_next(struct xw_sock *l);
/* Starts the handshake; completion arrives through the socket's state. */
int xw_tcp_connect(struct xw_sock *s, const ip_addr_t *ip, u16_t port);
/* want = total length of iov.  Blocking per the socket's mode, flags and timeouts. */
ssize_t xw_tcp_recv(struct xw_sock *s, const struct iovec *iov, int iovcnt, size_t want,
                    int flags);
ssize_t xw_tcp_send(struct xw_sock *s, const struct iovec *iov, int iovcnt, size_t total,
                    int flags);
int xw_tcp_shutdown(struct xw_sock *s, bool rd, bool wr);
void xw_tcp_release(struct xw_sock *s, bool reset);
void xw_tcp_rx_flush(struct xw_sock *s);
/* Push option fields of s (nodelay, keepalive) into its pcb. */
void xw_tcp_apply_opts(struct xw_sock *s);
bool xw_tcp_unsent(const struct xw_sock *s);
/* Copy (peek) or take up to len received bytes into buf.  Returns bytes. */
size_t xw_tcp_rx_take(struct xw_sock *s, void *buf, size_t len, bool peek);
/* Put an established connection on l's accept queue. */
void xw_tcp_queue_accepted(struct xw_sock *l, struct xw_sock *s);
/* Reset the connection (RST) and record err for the application. */
void xw_tcp_abort_conn(struct xw_sock *s, int err);
size_t xw_tcp_space(const struct xw_sock *s);

#endif

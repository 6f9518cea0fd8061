/* The TCP connection every socket has (lwIP raw API), and the TCP path
 * (xw_tcp_ops, path.h).  Stack lock held for all calls.  Functions return
 * 0/a count or -errno. */
#ifndef XW_TCP_PATH_H
#define XW_TCP_PATH_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "lwip/ip_addr.h"
#include "socket.h"

/* What the connection tells the in-stack handshake (negotiate.c registers it
 * when the stack starts; without it every connection is plain TCP). */
struct xw_tcp_handshake {
    /* Before tcp_connect / after tcp_listen: offer / answer the SYN option. */
    void (*connect_prepare)(struct xw_sock *s);
    void (*listen_prepare)(struct xw_sock *s);
    /* Connector established.  true: the handshake owns the socket's state (it
     * marks it connected when done); false: plain TCP, connected now. */
    bool (*connected)(struct xw_sock *s);
    /* Acceptor established.  true: negotiating (queued on l when done);
     * false: plain TCP, queue it now. */
    bool (*accepted)(struct xw_sock *l, struct xw_sock *s);
    /* Bytes arrived while the handshake reads the stream. */
    void (*input)(struct xw_sock *s);
    /* The connection goes away: cancel the handshake's timers. */
    void (*forget)(struct xw_sock *s);
};
void xw_tcp_set_handshake(const struct xw_tcp_handshake *h);
/* The socket leaves the table: the handshake lets go of it. */
void xw_tcp_forget(struct xw_sock *s);

int xw_tcp_bind(struct xw_sock *s, const ip_addr_t *ip, u16_t port);
int xw_tcp_listen(struct xw_sock *s, int backlog);
/* Next established connection of listener l, or NULL. */
struct xw_sock *xw_tcp_accept_next(struct xw_sock *l);
/* Starts the handshake; completion arrives through the socket's state. */
int xw_tcp_connect(struct xw_sock *s, const ip_addr_t *ip, u16_t port);
/* shutdown(2): the path's stream and the TCP connection. */
int xw_tcp_shutdown(struct xw_sock *s, bool rd, bool wr);
/* Let go of the pcb (the handshake forgets the socket first). */
void xw_tcp_release(struct xw_sock *s, bool reset);
void xw_tcp_rx_flush(struct xw_sock *s);
/* Push option fields of s (nodelay, keepalive) into its pcb. */
void xw_tcp_apply_opts(struct xw_sock *s);
/* lwIP's hook for every segment in (pcbopt.c): a segment longer than the MSS
 * that an ACK's window cannot take is split now, not at lwIP's persist timer. */
struct tcp_hdr;
void xw_tcp_seg_fit(struct tcp_pcb *pcb, const struct tcp_hdr *hdr);
bool xw_tcp_unsent(const struct xw_sock *s);
/* Copy (peek) or take up to len received bytes into buf.  Returns bytes. */
size_t xw_tcp_rx_take(struct xw_sock *s, void *buf, size_t len, bool peek);
/* Put an established connection on l's accept queue: true; false when the
 * queue is full or l no longer listens: the connection is then reset and s
 * freed later (the caller may still look at it until it returns to lwIP). */
bool xw_tcp_queue_accepted(struct xw_sock *l, struct xw_sock *s);
/* Reset the connection (RST) and record err for the application.  A socket
 * the application has not accepted yet is freed later (as above). */
void xw_tcp_abort_conn(struct xw_sock *s, int err);
/* The switch from the ring (switch.c), lock held: send what struct
 * xw_tcp_conn's resend still holds as lwIP takes it, then the FIN due; true
 * when nothing holds new bytes back any more. */
bool xw_tcp_pump(struct xw_sock *s);

/* Some connection still has bytes unsent or unacknowledged (closed ones
 * too): a stack that stops gives them a while to go (the Linux library 2 s). */
bool xw_tcp_output_pending(void);

/* A forked child: lwIP's connections are the parent's.  They leave lwIP's
 * lists (lwIP's timers would retransmit, time out and reset them from the
 * child), untouched; their memory stays reachable. */
void xw_tcp_forget_pcbs(void);

#endif

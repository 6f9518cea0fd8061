/* xway's core for embedded and unikernel guests: the stack without threads,
 * driven from the environment's own loop (README: "The core").
 *
 * The environment (the port) implements include/xway_port.h (time, memory,
 * randomness, diagnostics), gives the core its link as an lwIP netif that it
 * added itself (lwIP's raw API: netif_add with its driver's init, addresses,
 * netif_set_up; received frames go to netif->input from its loop) and the
 * shared-memory backend as a struct xw_xenif (netif-xway/xenif.h: grants,
 * event channels, a key store; NULL: every connection stays TCP).  Then it
 * loops:
 *
 *     xway_core_init(&cfg);                     (after lwip_init and the netif)
 *     for (;;) {
 *         int ms = xway_core_poll();            (timers, ring events)
 *         wait up to ms (-1: no timer due) for a frame or the backend's event
 *         fd; pass each frame to netif->input
 *         ... socket calls ...
 *     }
 *
 * Everything runs on the caller's thread: one thread at a time may call the
 * core (lwIP's NO_SYS model).  Sockets are small non-negative handles, always
 * nonblocking; calls return 0 or a count, or -errno (Linux's values): -EAGAIN
 * when nothing can be done now, -EINPROGRESS from connect (then the socket
 * becomes writable, or xway_core_events says XWAY_CORE_ERR).  A connection
 * between co-resident domains moves its payload through a ring, negotiated on
 * the connection itself; otherwise it stays TCP (xway_core_info says which).
 */
#ifndef XWAY_CORE_H
#define XWAY_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "lwip/ip_addr.h"
#include "xway_port.h"
#include "xway_types.h"

#ifdef __cplusplus
extern "C" {
#endif

struct xw_xenif;

struct xway_core_config {
    struct xw_xenif *backend; /* NULL: no shared memory, every connection TCP */
    uint32_t ring_bytes;      /* ring bytes per direction, a power of two; 0: default */
    unsigned max_ports;       /* the backend's event-channel ports; 0: 4096 */
    unsigned max_sockets;     /* 0: 64 */
    /* Called at the end of every core call that may have queued frames
     * (NULL: none): a link that batches its sends sends them now. */
    void (*flush)(void *arg);
    void *flush_arg;
};

/* Start the core (lwIP initialised, its netif added): 0, -EALREADY, -EINVAL
 * (a ring size that is not a power of two in 64 KiB..4 MiB), -ENOMEM. */
int xway_core_init(const struct xway_core_config *cfg);
/* Close every socket (reset) and stop: the backend is the port's again.
 * Bytes of closed connections still unsent or unacknowledged are lost then:
 * a guest that stops keeps polling while xway_core_draining() says there are
 * some, for as long as it will wait (the Linux library waits up to 2 s: a
 * kernel keeps a closed socket's bytes going after its process exits; a
 * stack inside the process cannot). */
void xway_core_fini(void);
int xway_core_draining(void);
/* Run what is due: lwIP's timers and the backend's pending events.  Returns
 * the milliseconds until the next timer (the longest the loop may wait before
 * calling again, unless a frame or an event arrives), -1 when none is due. */
int xway_core_poll(void);

/* Sockets.  family: XWAY_CORE_INET or XWAY_CORE_INET6. */
#define XWAY_CORE_INET 2
#define XWAY_CORE_INET6 10
int xway_core_socket(int family);
int xway_core_bind(int s, const ip_addr_t *ip, uint16_t port);
int xway_core_listen(int s, int backlog);
/* An established connection (its handle), -EAGAIN; *ip and *port (may be
 * NULL) get the peer's address. */
int xway_core_accept(int s, ip_addr_t *ip, uint16_t *port);
int xway_core_connect(int s, const ip_addr_t *ip, uint16_t port);
/* Bytes moved, -EAGAIN, -EPIPE after a shutdown or the peer's reset; recv:
 * 0 at the peer's end of the stream. */
ssize_t xway_core_send(int s, const void *buf, size_t len);
ssize_t xway_core_recv(int s, void *buf, size_t len);
/* End our sending direction: the peer reads EOF after our last byte. */
int xway_core_shutdown(int s);
/* Close (gracefully; reset when unread bytes are left, as a kernel does).
 * The handle is free again. */
int xway_core_close(int s);

/* Zero copy (include/xway_zc.h's contract, nonblocking): view describes the
 * bytes that arrived, in place, in seg (seg[1] where the ring wraps): their
 * count, 0 at EOF, -EAGAIN; consume(n) ends the view, n of them read.
 * reserve describes up to want bytes of free space in seg: its size,
 * -EAGAIN; commit(n) sends n of them: bytes sent or -errno.  While a view
 * (reservation) is open, recv (send) fails with -EBUSY; a second one, with
 * -EALREADY; consume/commit without one or past it, -EINVAL.  On the TCP
 * path a view is lwIP's segments in place, a reservation a buffer whose
 * bytes commit copies. */
ssize_t xway_core_zc_view(int s, struct iovec seg[2]);
int xway_core_zc_consume(int s, size_t n);
ssize_t xway_core_zc_reserve(int s, size_t want, struct iovec seg[2]);
ssize_t xway_core_zc_commit(int s, size_t n);

/* What the socket can do now: XWAY_CORE_IN (recv or accept would not say
 * -EAGAIN), XWAY_CORE_OUT (send would not; a connect is over), XWAY_CORE_ERR
 * (an error is pending: xway_core_error).  0 or more of them, or -EBADF. */
#define XWAY_CORE_IN 1
#define XWAY_CORE_OUT 4
#define XWAY_CORE_ERR 8
int xway_core_events(int s);
/* The pending error (SO_ERROR: then cleared), 0 when none, or -EBADF. */
int xway_core_error(int s);
/* The connection's path ("ring" or "tcp"), why it is TCP, bytes moved. */
int xway_core_info(int s, struct xway_conn_info *ci);
/* The core's counters (connections on the ring, on TCP, by reason). */
void xway_core_stats(struct xway_stats *st);

#ifdef __cplusplus
}
#endif

#endif

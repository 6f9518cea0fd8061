/* Connections of a raw remote host (remote_raw.h) to a listening stack, and
 * what the remote tests measure in the stack's process. */
#ifndef XWT_REMOTE_CONNS_H
#define XWT_REMOTE_CONNS_H

#include "remote_raw.h"

struct rconn {
    uint16_t sport;
    uint32_t snd; /* our next sequence number */
    uint32_t rcv; /* the stack's next sequence number */
    bool opt;     /* the SYN-ACK answered our xway option */
};

/* Open n connections to dport from source ports sport0.. (with the xway option
 * when xway): all SYNs, then every SYN-ACK (within 10 s; CHECKed), then the
 * ACKs.  The option answered is recorded per connection. */
void rconn_open(struct rawp *r, struct rconn *c, int n, uint16_t sport0, uint16_t dport,
                bool xway);
/* Payload (PSH|ACK), a reset, or the xway NOOFFER control message. */
void rconn_send(struct rawp *r, struct rconn *c, uint16_t dport, const void *data, size_t len);
void rconn_reset(struct rawp *r, struct rconn *c, uint16_t dport);
void rconn_nooffer(struct rawp *r, struct rconn *c, uint16_t dport);
/* Wait up to ms for the stack to acknowledge everything sent on c[0..n) (or
 * reset it).  Returns how many connections were acknowledged. */
int rconn_wait_acked(struct rawp *r, struct rconn *c, int n, uint16_t dport, int ms);
/* Wait up to ms for the stack to reset each of c[0..n).  Returns how many it reset. */
int rconn_wait_reset(struct rawp *r, struct rconn *c, int n, uint16_t dport, int ms);

/* In the stack's process: sockets in its table (fds: xw_count_fds). */
int rconn_sockets(void);
/* CHECK that both come back to these baselines within 3 s (a socket lost
 * before accept is freed by the stack thread). */
void rconn_settled(int socks, int fds);

#endif

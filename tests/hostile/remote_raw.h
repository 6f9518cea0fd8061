/* A raw remote host on a hub, for the remote hostile tests: it joins the hub as
 * an endpoint of its own (stack/link/hub.c's frame format: one Ethernet frame
 * per SOCK_SEQPACKET record), talks to the one stack on the hub with frames it
 * builds itself (IPv4, TCP, IP fragments, any TCP options) and answers the
 * stack's ARP requests (and, over IPv6, its neighbour solicitations).  No lwIP: what it sends is exactly what the test wrote. */
#ifndef XWT_REMOTE_RAW_H
#define XWT_REMOTE_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { RAW_FIN = 1, RAW_SYN = 2, RAW_RST = 4, RAW_PSH = 8, RAW_ACK = 16 };

struct rawp {
    const char *hub;
    uint8_t mac[6], ip[4];
    uint8_t st_mac[6], st_ip[4]; /* the stack's */
    int lfd;                     /* our endpoint: the stack connects here */
    int rx[16], nrx;             /* its connections to us */
    int tx;                      /* our connection to the stack's endpoint */
    uint16_t ip_id;
    bool v6;                     /* TCP over IPv6 (rawp_ip6) */
    uint8_t ip6[16], st_ip6[16];
};

/* A TCP segment the stack sent us. */
struct rawseg {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    const uint8_t *opt, *data;
    size_t optlen, len;
};

/* Join hub as ip (dotted quad), find the stack's endpoint (the one other
 * endpoint in the directory), tell it our MAC (an ARP request for st_ip) and
 * wait for its reply: the stack's link then holds its connections to us. */
void rawp_open(struct rawp *r, const char *hub, const char *ip, const char *st_ip);
void rawp_close(struct rawp *r);

/* From now on TCP goes over IPv6, ip6 to st_ip6: tell the stack our MAC (a
 * neighbour solicitation) and wait for its answer. */
void rawp_ip6(struct rawp *r, const char *ip6, const char *st_ip6);

/* An IP datagram (IPv4, or IPv6 after rawp_ip6) of protocol proto to the
 * stack.  frag: NULL sends it whole; otherwise the payload is cut at the byte
 * offsets frag[0] < frag[1] < ... (multiples of 8, terminated by 0) into
 * fragments sent in order. */
void rawp_send_ip(struct rawp *r, uint8_t proto, const uint8_t *payload, size_t len,
                  const size_t *frag);
/* Build a TCP segment (checksummed for the current family) into buf; returns
 * its length. */
size_t rawp_tcp(const struct rawp *r, uint8_t *buf, uint16_t sport, uint16_t dport,
                uint32_t seq, uint32_t ack, uint8_t flags, const uint8_t *opt, size_t optlen,
                const void *data, size_t len);
/* Build and send a TCP segment, unfragmented. */
void rawp_send_tcp(struct rawp *r, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                   uint8_t flags, const uint8_t *opt, size_t optlen, const void *data,
                   size_t len);

/* The next TCP segment from the stack within ms milliseconds (ARP requests for
 * our address are answered on the way, other frames skipped).  false on timeout.
 * The segment points into a static buffer valid until the next call. */
bool rawp_recv_tcp(struct rawp *r, struct rawseg *s, int ms);

/* An xway SYN option (stack/proto/tcpopt.h) as a connector with an unknown host
 * sends it: 20 bytes into opt. */
void rawp_xway_opt(uint8_t opt[20]);

#endif

/* xway's TCP options on lwIP's pcbs (pcbopt.c, part of the core): the SYN
 * option of the handshake and the MARK option of the way back, read and
 * written through lwIP's hooks (xw_lwip_hooks.h), with each pcb's state.
 * The handshake's I/O (negotiate.c) decides; this only carries.  Stack lock
 * held for everything. */
#ifndef XW_PCBOPT_H
#define XW_PCBOPT_H

#include <stdbool.h>
#include <stdint.h>

#include "tcpopt.h"

struct tcp_pcb;

/* What a pcb carries from its SYN exchange (lwIP ext arg; freed with the pcb). */
struct xw_pcbopt {
    bool offer_opt;       /* connector: our SYN carries the option */
    bool replied;         /* acceptor: our SYN-ACK answers it */
    bool peer_opt;        /* the peer's segment carried a valid option */
    bool proposed;        /* acceptor: our SYN-ACK proposes the parked channel
                             with prop_key (ring_park.h) */
    uint64_t prop_key;
    struct xw_synopt peer;
    /* MARK options (both sides spoke the SYN option: every segment after the
     * SYN exchange carries one): ours, where our latest control section
     * starts; the peer's as last received. */
    bool tx_mark_set, rx_mark_set;
    uint32_t tx_mark, rx_mark;
};

/* Once lwIP runs, and whenever what we say changes: our host hash and domain
 * (0: unknown), whether we offer the ring at all (a backend runs), and raw
 * (XWAY_FAULT=raw: the option names no host). */
void xw_pcbopt_set(uint64_t host, uint32_t domid, bool ring, bool raw);
/* The acceptor's choice of a parked channel to propose to a SYN that says
 * the connector can take one (XW_OPT_F_TAKES): true with its key.  Called
 * as the new pcb is made for the SYN (its addresses set), before the
 * SYN-ACK. */
typedef bool (*xw_pcbopt_proposer)(const struct tcp_pcb *pcb, const struct xw_synopt *peer,
                                   uint64_t *key);
void xw_pcbopt_set_proposer(xw_pcbopt_proposer fn);
/* What we offer: the ring (xw_pcbopt_set's), our host hash. */
bool xw_pcbopt_ring(void);
uint64_t xw_pcbopt_host(void);

/* pcb's state, or NULL (no option offered or answered, or a listener). */
struct xw_pcbopt *xw_pcbopt_of(const struct tcp_pcb *pcb);
/* A connecting pcb offers the option: its state, or NULL without memory. */
struct xw_pcbopt *xw_pcbopt_connect(struct tcp_pcb *pcb);
/* A listening pcb answers the SYNs that carry the option. */
void xw_pcbopt_listen(struct tcp_pcb *pcb);
/* Both sides spoke the option: from the established state on, every segment
 * carries a MARK. */
bool xw_pcbopt_marks(const struct tcp_pcb *pcb, const struct xw_pcbopt *o);

#endif

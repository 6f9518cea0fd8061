/* Parked channels: a ring connection closed cleanly keeps its channel for the
 * next connection between the same two processes (ring_park.c).  All calls
 * with the stack lock held. */
#ifndef XW_RING_PARK_H
#define XW_RING_PARK_H

#include <stdbool.h>
#include <stdint.h>

#include "channel.h"
#include "lwip/ip_addr.h"

/* At a close: park ch if it ended cleanly (true: ch is the park's now), else
 * false (the caller closes it).  Creator: ip/port, the listener it connected
 * to (the next offer to it names this channel); acceptor: ip, the connector's
 * address (a SYN from it gets the channel proposed), or NULL, and port 0. */
bool xw_park_keep(struct xw_channel *ch, const ip_addr_t *ip, uint16_t port);
/* Connector: a parked channel of ours for the listener at ip/port in domain
 * domid, of ring_bytes, whose acceptor has closed its end, made ready to
 * offer again (*offer).  0, or -ENOENT. */
int xw_park_offer(uint32_t domid, const ip_addr_t *ip, uint16_t port, uint32_t ring_bytes,
                  struct xw_channel **out, struct xw_chan_offer *offer);
/* Acceptor: the parked channel an offer names, ready again (*nonce to echo).
 * 0, or -ENOENT (none, or it failed the offer's checks: closed). */
int xw_park_accept(const struct xw_chan_offer *offer, struct xw_channel **out,
                   uint64_t *nonce);
/* Taking a parked channel at the SYN exchange, without an OFFER: the
 * acceptor's SYN-ACK proposes one it holds for the connector's domain and
 * address, by its key; the connector takes it (TAKE, with the key it wrote
 * into the page) if it holds that channel for that listener.
 * propose (acceptor): a parked channel for domid at ip whose creator has
 * ended its side too (parked it) and not proposed in the last few seconds:
 * its *key, and it stays parked, held for a TAKE (not proposed again nor
 * expired meanwhile, also when the connector offers instead: it does not
 * hold it, or not yet); -ENOENT.
 * retaken (acceptor): the TAKE of the channel proposed as `proposed` carries
 * key: 0 (*out, ready), -ENOENT (not parked any more), -EKEYREJECTED (not its
 * creator's: it stays parked), -errno (closed).
 * take (creator): our parked channel with key for that listener (domid,
 * ip/port, ring_bytes): 0 (*out rearmed, xw_channel_key its new key),
 * -ENOENT, -EAGAIN (its acceptor is still closing), -errno (closed). */
int xw_park_propose(uint32_t domid, const ip_addr_t *ip, uint64_t *key);
int xw_park_retaken(uint64_t proposed, uint64_t key, struct xw_channel **out);
int xw_park_take(uint32_t domid, const ip_addr_t *ip, uint16_t port, uint32_t ring_bytes,
                 uint64_t key, struct xw_channel **out);
/* Close the parked channels of one side (creators: ours; else the ones we
 * mapped, of domain domid only when domid >= 0) to free what they hold for a
 * new channel.  The number closed. */
int xw_park_evict(bool creators, long domid);
/* Close every parked channel (the backend's handle is going, or our domain
 * moves). */
void xw_park_flush(void);
/* A forked child: the parked channels are the parent's; forget them. */
void xw_park_forget(void);

#endif

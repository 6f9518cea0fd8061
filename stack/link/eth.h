/* What the hub and TAP links share: a random MAC, adding an Ethernet netif, and
 * receiving a frame straight into a pbuf.
 *
 * Locking: called with the stack lock held, like everything in link.h.
 */
#ifndef XW_LINK_ETH_H
#define XW_LINK_ETH_H

#include <stdint.h>

#include "link.h"

#define XW_ETH_HLEN 14
/* A pbuf holds at most 65535 bytes, so a frame does too: an MTU above 65521 is
 * lowered to it (configured 65535 still works; the IP MTU is 14 bytes less). */
#define XW_LINK_MTU_MAX (0xFFFF - XW_ETH_HLEN)
/* Frames received per input() call, so one busy link cannot starve the others. */
#define XW_LINK_RX_BATCH 64
/* Received frames up to this size are copied into a right-sized pbuf, so that a
 * small segment waiting in a TCP queue does not pin an MTU-sized buffer. */
#define XW_LINK_RX_COPYBREAK 2048

/* A random, locally administered, unicast MAC. */
void xw_link_eth_random_mac(uint8_t mac[6]);

/* The netif MTU for a configured mtu. */
unsigned xw_link_eth_mtu(unsigned mtu);

/* netif_add l->netif (no address, state = l) with init, which must set name,
 * linkoutput, hwaddr, mtu (xw_link_eth_mtu) and checksum control; then give it the Ethernet
 * output functions and flags, an IPv6 link-local address, and set it up.
 * Flags include MLD6: lwIP delivers a multicast IPv6 packet only for groups the
 * netif joined, and joins the solicited-node group of each address only when
 * the flag is set, so without it neighbour solicitations are dropped.
 * 0 or -errno. */
int xw_link_eth_add(struct xw_link *l, netif_init_fn init);

/* A forked child: the links lwIP has (all but its loopback) are the parent's.
 * They leave lwIP's list untouched, with their neighbour entries, so that
 * nothing in the child sends through them (an ARP refresh did: the child
 * connected to the hub as the parent, and its connection landed in the
 * parent's epoll set, which the child shares — a pointer of the child's that
 * the parent's link then followed).  Their memory stays reachable. */
void xw_link_eth_forget(void);

/* Allocate a pbuf able to hold one frame of netif's MTU (PBUF_RAW, PBUF_RAM,
 * one contiguous buffer to receive into; from the process's pool of 64 KiB
 * buffers for an MTU over XW_LINK_RX_POOL_FROM).  NULL when out of memory. */
struct pbuf *xw_link_rx_alloc(const struct netif *netif);
/* A pbuf of len bytes (at most XW_LINK_RX_POOLED) from that pool. */
#define XW_LINK_RX_POOLED 0xFFFF
#define XW_LINK_RX_POOL_FROM 16384
struct pbuf *xw_link_rx_pooled(size_t len);
/* In a forked child: the pool starts empty and unlocked (a thread of the
 * parent may have held it at the fork). */
void xw_link_rx_pool_forget(void);

/* A frame of len bytes has been received into p (from xw_link_rx_alloc): hand it
 * to netif->input.  Returns p consumed (1), or 0 when the frame was malformed
 * (shorter than an Ethernet header) and p is still the caller's to reuse.  A
 * small frame is copied out so that p stays the caller's (also 0). */
int xw_link_rx_deliver(struct netif *netif, struct pbuf *p, size_t len);

/* The same with frames up to copybreak bytes copied (for a link whose receive
 * buffers are larger than its usual frames). */
int xw_link_rx_deliver_copybreak(struct netif *netif, struct pbuf *p, size_t len,
                                 size_t copybreak);

#endif

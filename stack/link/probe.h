/* Duplicate address detection at start: before a link takes its addresses, ask
 * whether another host on it already has them (an ARP probe per IPv4 address,
 * RFC 5227; a neighbour solicitation from :: per IPv6 address, RFC 4862), so
 * that two stacks claiming one address are refused at start instead of
 * silently stealing each other's connections.
 *
 * Locking: called with the stack lock held, before the stack thread runs.
 */
#ifndef XW_LINK_PROBE_H
#define XW_LINK_PROBE_H

#include <stddef.h>

#include "config.h"
#include "link.h"

/* Probe addrs[0..n) on l (up, no address yet) for about XW_PROBE_MS
 * milliseconds.  0 when nobody answered; -EADDRINUSE with a message naming the
 * address and its owner's MAC in err when somebody did; -errno when the
 * probes could not be sent. */
int xw_link_probe(struct xw_link *l, const struct xw_cidr *addrs, int n, char *err,
                  size_t errlen);

#define XW_PROBE_MS 120

#endif

/* Address claims on a hub: duplicate address detection without waiting.
 *
 * Every stack on a hub is an xway stack, and the hub is a directory: before a
 * hub link takes its addresses, it claims each one in the directory instead
 * of probing the link for 120 ms (probe.h, still used on TAP links).  A claim
 * is refused when a live endpoint holds the address; a dead one's is taken
 * over.  The claims go when the link closes.
 *
 * Not thread-safe on its own; called with the stack lock held.
 */
#ifndef XW_LINK_HUB_CLAIM_H
#define XW_LINK_HUB_CLAIM_H

#include <stddef.h>

#include "config.h"

/* Claim addrs[0..n) in the hub directory dir for the endpoint named self.
 * 0; -EADDRINUSE with a message naming the address and its owner's MAC in
 * err; -errno (message in err).  Nothing stays claimed on failure. */
int xw_hub_claim(const char *dir, const char *self, const struct xw_cidr *addrs, int n,
                 char *err, size_t errlen);
/* Drop the claims of addrs[0..n) that self holds. */
void xw_hub_unclaim(const char *dir, const char *self, const struct xw_cidr *addrs, int n);

#endif

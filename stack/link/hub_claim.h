/* Address claims on a hub: duplicate address detection without waiting.
 *
 * Every stack on a hub is an xway stack, and the hub is a directory: before a
 * hub link takes its addresses, it claims each one in the directory instead
 * of probing the link for 120 ms (probe.h, still used on TAP links).  A dead
 * endpoint's claim is taken over at once.  One held by an endpoint that still
 * listens is checked with that probe (hub.c): its stack answers (refused), or
 * nobody does (a dead process's listener kept open by a forked child: taken
 * over).  The claims go when the link closes.
 *
 * Not thread-safe on its own; called with the stack lock held.
 */
#ifndef XW_LINK_HUB_CLAIM_H
#define XW_LINK_HUB_CLAIM_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Claim addrs[0..n) in the hub directory dir for the endpoint named self.
 * 0; -EADDRINUSE with a message naming the address and its owner's MAC in
 * err when a claim's owner still listens (take_live: take those too);
 * -errno (message in err).  Nothing stays claimed on failure. */
int xw_hub_claim(const char *dir, const char *self, const struct xw_cidr *addrs, int n,
                 bool take_live, char *err, size_t errlen);
/* Drop the claims of addrs[0..n) that self holds. */
void xw_hub_unclaim(const char *dir, const char *self, const struct xw_cidr *addrs, int n);

#endif

/* The hostile co-resident peer of the ring tests: a process of the same sim
 * host that reaches past its own stack into the shared memory of a ring
 * connection (the grant objects and event pages are files of the sim host),
 * as a peer in another domain could with its own mappings. */
#ifndef XWT_RING_PEER_H
#define XWT_RING_PEER_H

#include <stdint.h>

#include "ring.h"

/* The interface page of dom's newest ring channel (the one it created last),
 * mapped read-write, or NULL when dom shares none.  Unmap with
 * ring_peer_unmap. */
struct xw_intf *ring_peer_intf(const char *host, unsigned dom);
void ring_peer_unmap(struct xw_intf *i);
/* Every one-page object dom shares now (its channels' interface pages, also
 * when their magic was scribbled on), mapped read-write into out[max];
 * returns how many. */
int ring_peer_intfs(const char *host, unsigned dom, struct xw_intf **out, int max);

/* dom's newest bound event-channel port (its local number), or -1. */
int ring_peer_port(const char *host, unsigned dom);

/* This process's domain id (xway_stats), CHECKed. */
unsigned ring_peer_domid(void);

/* CPU time (user + system) this process used so far, seconds. */
double ring_peer_cpu(void);

#endif

/* What this process's ring channels hold, bounded, so that a peer cannot make
 * us map without end and a share fails before it starts rather than midway:
 *   - rings mapped per peer domain (the acceptor's cap, xw_chan_params);
 *   - grant pages shared in all (xen: gntalloc's limit, which the backend
 *     reads from /sys/module/xen_gntalloc/parameters/limit when it opens;
 *     that limit is the domain's, so a share may still fail with -ENOSPC
 *     when other processes use it).
 * Part of the core: any thread, between xway_port_lock and _unlock. */
#ifndef XW_BUDGET_H
#define XW_BUDGET_H

#include <stdint.h>

/* One more ring mapped from peer: 0, or -ENOSPC when cap (> 0) are already. */
int xw_budget_map_take(uint32_t peer, uint32_t cap);
void xw_budget_map_put(uint32_t peer);
/* Rings mapped from peer now. */
uint32_t xw_budget_mapped(uint32_t peer);

/* pages more to share through x: 0, or -ENOSPC over the share limit. */
int xw_budget_share_take(uint32_t pages);
void xw_budget_share_put(uint32_t pages);
/* The share limit in pages (0: none). */
uint64_t xw_budget_share_limit(void);
/* Override the share limit (tests; 0: none). */
void xw_budget_set_share_limit(uint64_t pages);
/* The backend's share limit (0: none), unless one was set already. */
void xw_budget_learn_share_limit(uint64_t pages);

#endif

/* Bounds on what this process's ring channels hold (budget.h). */
#include "budget.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "xway_port.h"

struct peer_count {
    uint32_t domid, rings;
};

/* Everything below changes between xway_port_lock and xway_port_unlock. */
static struct peer_count *peers; /* domains with rings mapped, unordered */
static uint32_t npeers, cap_peers;
static uint64_t shared, share_limit;
static bool limit_known;

static struct peer_count *find(uint32_t domid)
{
    for (uint32_t i = 0; i < npeers; i++)
        if (peers[i].domid == domid)
            return &peers[i];
    return NULL;
}

/* A new zero entry for domid, or NULL without memory. */
static struct peer_count *add(uint32_t domid)
{
    if (npeers == cap_peers) {
        uint32_t n = cap_peers ? 2 * cap_peers : 16;
        struct peer_count *p = xway_port_malloc(n * sizeof(*p));
        if (!p)
            return NULL;
        if (npeers)
            memcpy(p, peers, npeers * sizeof(*p));
        xway_port_free(peers);
        peers = p;
        cap_peers = n;
    }
    peers[npeers] = (struct peer_count){ domid, 0 };
    return &peers[npeers++];
}

int xw_budget_map_take(uint32_t peer, uint32_t cap)
{
    struct peer_count *p;
    int err = 0;

    xway_port_lock();
    p = find(peer);
    if (!p)
        p = add(peer);
    if (!p)
        err = -ENOMEM;
    else if (cap && p->rings >= cap)
        err = -ENOSPC;
    else
        p->rings++;
    xway_port_unlock();
    return err;
}

void xw_budget_map_put(uint32_t peer)
{
    struct peer_count *p;

    xway_port_lock();
    p = find(peer);
    if (p && p->rings && --p->rings == 0)
        *p = peers[--npeers]; /* forget idle domains: the table stays small */
    xway_port_unlock();
}

uint32_t xw_budget_mapped(uint32_t peer)
{
    struct peer_count *p;
    uint32_t n;

    xway_port_lock();
    p = find(peer);
    n = p ? p->rings : 0;
    xway_port_unlock();
    return n;
}

int xw_budget_share_take(uint32_t pages)
{
    int err = 0;

    xway_port_lock();
    if (share_limit && shared + pages > share_limit)
        err = -ENOSPC;
    else
        shared += pages;
    xway_port_unlock();
    return err;
}

void xw_budget_share_put(uint32_t pages)
{
    xway_port_lock();
    shared = pages > shared ? 0 : shared - pages;
    xway_port_unlock();
}

uint64_t xw_budget_share_limit(void)
{
    uint64_t l;

    xway_port_lock();
    l = share_limit;
    xway_port_unlock();
    return l;
}

void xw_budget_set_share_limit(uint64_t pages)
{
    xway_port_lock();
    share_limit = pages;
    limit_known = true;
    xway_port_unlock();
}

void xw_budget_learn_share_limit(uint64_t pages)
{
    xway_port_lock();
    if (!limit_known)
        share_limit = pages;
    limit_known = true;
    xway_port_unlock();
}

/* Bounds on what this process's ring channels hold (budget.h). */
#include "budget.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define GNTALLOC_LIMIT "/sys/module/xen_gntalloc/parameters/limit"

struct peer_count {
    uint32_t domid, rings;
};

/* Protects everything below. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
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
        struct peer_count *p = realloc(peers, n * sizeof(*p));
        if (!p)
            return NULL;
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

    pthread_mutex_lock(&mu);
    p = find(peer);
    if (!p)
        p = add(peer);
    if (!p)
        err = -ENOMEM;
    else if (cap && p->rings >= cap)
        err = -ENOSPC;
    else
        p->rings++;
    pthread_mutex_unlock(&mu);
    return err;
}

void xw_budget_map_put(uint32_t peer)
{
    struct peer_count *p;

    pthread_mutex_lock(&mu);
    p = find(peer);
    if (p && p->rings && --p->rings == 0)
        *p = peers[--npeers]; /* forget idle domains: the table stays small */
    pthread_mutex_unlock(&mu);
}

uint32_t xw_budget_mapped(uint32_t peer)
{
    struct peer_count *p;
    uint32_t n;

    pthread_mutex_lock(&mu);
    p = find(peer);
    n = p ? p->rings : 0;
    pthread_mutex_unlock(&mu);
    return n;
}

/* gntalloc's limit on xen (0: none known).  Caller holds mu. */
static void learn_limit(struct xw_xenif *x)
{
    unsigned long long v;
    FILE *f;

    if (limit_known)
        return;
    limit_known = true;
    if (x->kind != XW_XENIF_XEN)
        return;
    f = fopen(GNTALLOC_LIMIT, "re");
    if (f && fscanf(f, "%llu", &v) == 1)
        share_limit = v;
    if (f)
        fclose(f);
}

int xw_budget_share_take(struct xw_xenif *x, uint32_t pages)
{
    int err = 0;

    pthread_mutex_lock(&mu);
    learn_limit(x);
    if (share_limit && shared + pages > share_limit)
        err = -ENOSPC;
    else
        shared += pages;
    pthread_mutex_unlock(&mu);
    return err;
}

void xw_budget_share_put(uint32_t pages)
{
    pthread_mutex_lock(&mu);
    shared = pages > shared ? 0 : shared - pages;
    pthread_mutex_unlock(&mu);
}

void xw_budget_set_share_limit(uint64_t pages)
{
    pthread_mutex_lock(&mu);
    share_limit = pages;
    limit_known = true;
    pthread_mutex_unlock(&mu);
}

/* The sim backend's unmap notifications after a process's death.
 *
 * share_notify / map_notify ask that, when the page goes, a byte of it be
 * cleared and an event-channel port be signalled.  The sim does it itself on
 * unshare/unmap (gnttab.c); under Xen the kernel also does it when the process
 * dies, however it dies.  The sim has no kernel to act for a dead process, so
 * each registration is also written to the domain's dom<ID>.ntf, one record
 * per notify port, and whoever finds the domain dead runs the records:
 *   - a peer whose liveness probe (evtchn_peer_alive) finds it dead runs the
 *     record of the port bound to the peer's own (xw_sim_ntf_run);
 *   - the reclaim of a dead domain (the next claim or scan of its id) runs
 *     every record left, before its grant objects go (xw_sim_ntf_reclaim).
 * A record is taken by one compare-and-swap, so it runs at most once.  The
 * byte is cleared through the object's file (pwrite: no mapping needed).
 *
 * Records are written only by their live owner (under mu) and taken only
 * once it is dead, so owner and runners never race on one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sim.h"

struct ntf_rec {
    _Atomic uint32_t armed; /* written last (release) */
    uint32_t dom;           /* the page: object g<dom>-<obj>, */
    uint32_t obj;
    uint32_t where; /* page << XW_PAGE_SHIFT | byte offset; UINT32_MAX: none */
};

#define NTF_BYTES ((size_t)XW_SIM_MAX_PORTS * sizeof(struct ntf_rec))

int xw_sim_ntf_open(struct xw_sim *s)
{
    int fd = -1, err;

    s->ntf = xw_sim_map_state(s, "ntf", s->pub.domid, NTF_BYTES, true, true, &fd);
    if (!s->ntf)
        return -ENOMEM;
    err = xw_sim_reserve(fd, 0, NTF_BYTES); /* runners touch it after our death */
    close(fd);
    return err;
}

void xw_sim_ntf_close(struct xw_sim *s)
{
    uint32_t i;

    for (i = 0; s->peers && i <= XW_SIM_MAX_DOMID; i++)
        if (s->peers[i].ntf)
            munmap(s->peers[i].ntf, NTF_BYTES);
    if (s->ntf)
        munmap(s->ntf, NTF_BYTES);
}

void xw_sim_ntf_arm(struct xw_sim *s, uint32_t port, uint32_t dom, uint32_t obj, uint32_t where)
{
    struct ntf_rec *r;

    if (!s->ntf || port == 0 || port >= XW_SIM_MAX_PORTS)
        return;
    r = (struct ntf_rec *)s->ntf + port;
    xw_sim_lock(&s->mu);
    r->dom = dom;
    r->obj = obj;
    r->where = where;
    atomic_store_explicit(&r->armed, 1, memory_order_release);
    xw_sim_unlock(&s->mu);
}

/* The page went while we live: the caller notifies; the record goes, unless
 * the port was meanwhile reused for another page. */
void xw_sim_ntf_disarm(struct xw_sim *s, uint32_t port, uint32_t dom, uint32_t obj)
{
    struct ntf_rec *r;

    if (!s->ntf || port == 0 || port >= XW_SIM_MAX_PORTS)
        return;
    r = (struct ntf_rec *)s->ntf + port;
    xw_sim_lock(&s->mu);
    if (r->dom == dom && r->obj == obj)
        atomic_store(&r->armed, 0);
    xw_sim_unlock(&s->mu);
}

/* Clear the byte, then signal the dead domain's port. */
static void run(struct xw_sim *s, struct ntf_rec *tab, uint32_t dom, uint32_t port)
{
    struct ntf_rec *r = &tab[port];
    uint32_t one = 1, d, obj, where;
    char p[PATH_MAX];
    int fd;

    if (!atomic_load_explicit(&r->armed, memory_order_acquire))
        return;
    d = r->dom;
    obj = r->obj;
    where = r->where;
    if (!atomic_compare_exchange_strong(&r->armed, &one, 0))
        return; /* another runner took it */
    if (where != UINT32_MAX && d <= XW_SIM_MAX_DOMID && !xw_sim_path(s, p, "g%u-%u", d, obj)) {
        /* No object: its pages are gone from every mapping, byte and all. */
        fd = open(p, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t n = pwrite(fd, "", 1, (off_t)where);

            (void)n;
            close(fd);
        }
    }
    xw_sim_evtchn_send_for(s, dom, port);
}

void xw_sim_ntf_run(struct xw_sim *s, uint32_t dom, uint32_t port)
{
    struct ntf_rec *tab;

    if (dom < 1 || dom > XW_SIM_MAX_DOMID || port == 0 || port >= XW_SIM_MAX_PORTS)
        return;
    tab = xw_sim_peer_state(s, &s->peers[dom].ntf, "ntf", dom, NTF_BYTES, true);
    if (tab)
        run(s, tab, dom, port);
}

/* A dead domain's records, all run, then the file zeroed (kept allocated:
 * peers may still have it mapped).  Caller holds the dead domain's lock. */
void xw_sim_ntf_reclaim(struct xw_sim *s, uint32_t id)
{
    struct ntf_rec *tab = xw_sim_map_state(s, "ntf", id, NTF_BYTES, false, true, NULL);
    uint32_t port;

    if (tab) {
        for (port = 1; port < XW_SIM_MAX_PORTS; port++)
            run(s, tab, id, port);
        munmap(tab, NTF_BYTES);
    }
    xw_sim_zero_state(s, "ntf", id, NTF_BYTES, true);
}

/* The backend interface of netif-xway: grant sharing/mapping, event channels,
 * a small key store and domain liveness, shaped after libxengnttab (incl.
 * xengntshr_*), libxenevtchn and libxenstore so that the xen backend is a thin
 * adapter and the sim backend models the same rules on plain Linux.
 *
 * Contract for every op: returns 0 / a count / a port (>= 0) or -errno; never
 * aborts.  A handle is used by one thread at a time unless stated otherwise
 * (the sim and xen backends serialise grant and port tables internally, so
 * share/map/unmap/notify may be called from several threads; evtchn_pending
 * must have one caller at a time).
 *
 * Event channels follow Xen: each port has a pending bit; notify on a port
 * whose peer bit is already pending costs nothing and is coalesced; the
 * handle's single fd (evtchn_fd) becomes readable when some port of the handle
 * is pending; evtchn_pending returns one pending port at a time (and, as in
 * Xen, the port must then be unmasked with evtchn_unmask).
 */
#ifndef XW_XENIF_H
#define XW_XENIF_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XW_PAGE_SHIFT 12
#define XW_PAGE_SIZE (1u << XW_PAGE_SHIFT)

/* Same order and values as enum xw_backend_kind in stack/core/config.h. */
enum xw_xenif_kind {
    XW_XENIF_AUTO = 0, /* xen when /dev/xen is usable, else sim */
    XW_XENIF_XEN = 1,
    XW_XENIF_SIM = 2,
    XW_XENIF_OFF = 3, /* no fast path: xw_xenif_open returns -ENODEV */
};

/* Limits of the sim backend (the xen backend takes whatever Xen allows). */
enum {
    XW_SIM_MAX_DOMID = 4095, /* sim domain ids are 1..XW_SIM_MAX_DOMID */
    XW_SIM_MAX_PORTS = 4096, /* event-channel ports per domain (0 is never used) */
    XW_SIM_MAX_GREFS = 65536, /* grant entries per domain (0 is never used) */
};

#define XW_HOST_TOKEN_LEN 32 /* hex chars, NUL-terminated in a [33] buffer */

struct xw_xenif;

/* Backend operations.  "domid" is always the *other* domain. */
struct xw_xenif_ops {
    const char *name; /* "xen" or "sim" */
    void (*close)(struct xw_xenif *x);

    /* Share count fresh zeroed pages with domid (xengntshr_share_pages):
     * refs[count] receive the grant references, *addr the local mapping. */
    int (*share)(struct xw_xenif *x, uint32_t domid, uint32_t count, int writable,
                 uint32_t *refs, void **addr);
    /* Share one page; on unshare, or when our process ends however it ends,
     * the byte at notify_offset is cleared and notify_port (if >= 0)
     * signalled (xen: gntalloc does it; sim: see sim/notify.c). */
    int (*share_notify)(struct xw_xenif *x, uint32_t domid, int writable, uint32_t *ref,
                        int notify_offset, int notify_port, void **addr);
    /* Stop sharing what share returned: future maps of these refs fail.
     * Pages the grantee still has mapped stay valid for it until it unmaps. */
    int (*unshare)(struct xw_xenif *x, void *addr, uint32_t count);
    /* As unshare, where the grantee has unmapped them: the pages may be kept
     * and given again, contents and all, by a later share_kept of as many
     * pages with the same domain (instead of fresh zeroed pages: the sim's
     * tmpfs zeroes 512 KiB for a ring, as much work as the rest of a short
     * connection).  Both NULL: unshare and share (xen). */
    int (*unshare_keep)(struct xw_xenif *x, void *addr, uint32_t count);
    int (*share_kept)(struct xw_xenif *x, uint32_t domid, uint32_t count, int writable,
                      uint32_t *refs, void **addr);

    /* Map count grant refs of domid contiguously (xengnttab_map_domain_grant_refs).
     * -EPERM: a ref was granted to another domain or read-only while writable
     * was asked; -ENOENT: never shared / revoked; -ESRCH: no such domain. */
    int (*map)(struct xw_xenif *x, uint32_t domid, uint32_t count, const uint32_t *refs,
               int writable, void **addr);
    /* Map one ref; on unmap, or when our process ends, clear the byte at
     * notify_offset and signal notify_port (either may be -1; xen: gntdev). */
    int (*map_notify)(struct xw_xenif *x, uint32_t domid, uint32_t ref, int writable,
                      int notify_offset, int notify_port, void **addr);
    /* Arm, on a one-page mapping map returned for domid's ref, what
     * map_notify would have armed (one map instead of two when the port is
     * bound only after the page was read).  NULL: map again (xen). */
    int (*map_set_notify)(struct xw_xenif *x, void *addr, uint32_t domid, uint32_t ref,
                          int writable, int notify_offset, int notify_port);
    int (*unmap)(struct xw_xenif *x, void *addr, uint32_t count);

    /* Event channels (xenevtchn_*).  Ports are returned as non-negative ints. */
    int (*evtchn_fd)(struct xw_xenif *x);
    /* Wait up to ms (-1: no end) for a port of the handle to be pending: > 0
     * when one is (or may be), 0 at the end, -errno (-EINTR: a signal).  Both
     * Linux backends: poll on evtchn_fd (xw_xenif_wait_fd). */
    int (*evtchn_wait)(struct xw_xenif *x, int ms);
    int (*evtchn_alloc_unbound)(struct xw_xenif *x, uint32_t domid);
    int (*evtchn_bind)(struct xw_xenif *x, uint32_t domid, uint32_t remote_port);
    int (*evtchn_notify)(struct xw_xenif *x, uint32_t port);
    int (*evtchn_pending)(struct xw_xenif *x); /* port, or -EAGAIN when none */
    int (*evtchn_unmask)(struct xw_xenif *x, uint32_t port);
    int (*evtchn_unbind)(struct xw_xenif *x, uint32_t port);
    /* 1: the remote end of port is bound to us and its domain lives;
     * 0: the remote closed its end or its domain is gone; -errno. */
    int (*evtchn_peer_alive)(struct xw_xenif *x, uint32_t port);

    /* Key store (xs_read/xs_write/xs_watch).  Keys are '/'-separated paths.
     * read returns the value length (value NUL-terminated, truncated to len-1). */
    int (*store_read)(struct xw_xenif *x, const char *key, char *buf, size_t len);
    int (*store_write)(struct xw_xenif *x, const char *key, const char *val);
    int (*store_watch)(struct xw_xenif *x, const char *key);
    int (*store_unwatch)(struct xw_xenif *x, const char *key);
    int (*store_watch_fd)(struct xw_xenif *x);
    /* The next fired watch: key copied into buf, returns its length; -EAGAIN. */
    int (*store_read_watch)(struct xw_xenif *x, char *buf, size_t len);

    /* 1 if domain domid exists, 0 if not, -errno if unknown. */
    int (*domain_alive)(struct xw_xenif *x, uint32_t domid);

    /* The domain moved to another host (the sim's live migration, xwayctl
     * sim-move): to its peers its domain is gone (its ports closed, its
     * grants revoked; no unmap notification runs: its process did not end,
     * as a migrated Xen guest's does not); here, what is still
     * shared or mapped through the handle stays readable until unshared or
     * unmapped, which then only unmap; every other call fails.  NULL: the
     * backend cannot (Xen: the hypervisor moves the domain itself). */
    int (*retire)(struct xw_xenif *x);
};

/* A backend handle.  Backends embed this as their first member. */
struct xw_xenif {
    const struct xw_xenif_ops *ops;
    enum xw_xenif_kind kind; /* resolved: XW_XENIF_XEN or XW_XENIF_SIM */
    uint32_t domid;          /* our own domain id */
    /* Co-residency token: equal tokens = same physical host.  sim: a random id
     * created once in the host directory; xen: the xenstore key
     * XW_XEN_HOST_TOKEN_KEY if readable.  "" when unknown. */
    char host_token[XW_HOST_TOKEN_LEN + 1];
};

#define XW_XEN_HOST_TOKEN_KEY "/xway/host-token"

/* Open a backend.  kind AUTO picks xen when /dev/xen is usable, else sim.
 * sim_host: the sim host directory (created if missing; required for sim);
 * requested_domid: sim domain id to claim, or -1 to allocate one.
 * -ENODEV: kind OFF, or xen asked and unusable; -EADDRINUSE: the requested sim
 * domid is taken; -EINVAL: bad arguments; other -errno from the system. */
int xw_xenif_open(enum xw_xenif_kind kind, const char *sim_host, int requested_domid,
                  struct xw_xenif **out);
void xw_xenif_close(struct xw_xenif *x);

/* Backend constructors (used by xw_xenif_open; tests call them directly).
 * The sim reads XWAY_SIM_LIVENESS (a test knob, xw_sim_liveness_domain):
 *   process (default): a sim domain is its process, so a peer's death shows
 *     at once in evtchn_peer_alive (0) and evtchn_notify (-ESRCH);
 *   domain: Xen's semantics, where a domain outlives a process in it:
 *     evtchn_peer_alive says only that the peer's domain exists (1, as the
 *     xen backend) and a notify to a dead peer is dropped (0).  A peer
 *     process's death then shows only through its unmap notifications
 *     (share_notify / map_notify), which the sim runs on its behalf, as its
 *     kernel does under Xen;
 *   guest: as domain, but as seen from a guest, which cannot see another
 *     guest's domain at all: evtchn_peer_alive and domain_alive say -EACCES
 *     for another domain (the heartbeats then tell a stopped peer: a SIGSTOP
 *     plays a destroyed domain, where nothing runs and nothing notifies). */
int xw_xenif_open_xen(struct xw_xenif **out);
/* A forked child's handle for a xen parent's connections it serves
 * (backend_xen.c); closing it leaves the parent's event channels alone. */
int xw_xenif_xen_child(struct xw_xenif *parent, struct xw_xenif **out);
int xw_xenif_open_sim(const char *host_dir, int requested_domid, struct xw_xenif **out);
/* XWAY_SIM_LIVENESS: process (or unset), domain, guest, or -EINVAL. */
enum { XW_SIM_LIVE_PROCESS, XW_SIM_LIVE_DOMAIN, XW_SIM_LIVE_GUEST };
int xw_sim_liveness_domain(void);

/* Wrappers, so callers read like the Xen libraries. */
static inline int xw_share(struct xw_xenif *x, uint32_t domid, uint32_t count, int writable,
                           uint32_t *refs, void **addr)
{
    return x->ops->share(x, domid, count, writable, refs, addr);
}
static inline int xw_share_notify(struct xw_xenif *x, uint32_t domid, int writable,
                                  uint32_t *ref, int notify_offset, int notify_port,
                                  void **addr)
{
    return x->ops->share_notify(x, domid, writable, ref, notify_offset, notify_port, addr);
}
static inline int xw_map_notify(struct xw_xenif *x, uint32_t domid, uint32_t ref, int writable,
                                int notify_offset, int notify_port, void **addr)
{
    return x->ops->map_notify(x, domid, ref, writable, notify_offset, notify_port, addr);
}
static inline int xw_unshare(struct xw_xenif *x, void *addr, uint32_t count)
{
    return x->ops->unshare(x, addr, count);
}
static inline int xw_share_kept(struct xw_xenif *x, uint32_t domid, uint32_t count,
                                int writable, uint32_t *refs, void **addr)
{
    return x->ops->share_kept ? x->ops->share_kept(x, domid, count, writable, refs, addr)
                              : x->ops->share(x, domid, count, writable, refs, addr);
}
static inline int xw_unshare_keep(struct xw_xenif *x, void *addr, uint32_t count)
{
    return x->ops->unshare_keep ? x->ops->unshare_keep(x, addr, count)
                                : x->ops->unshare(x, addr, count);
}
static inline int xw_map(struct xw_xenif *x, uint32_t domid, uint32_t count,
                         const uint32_t *refs, int writable, void **addr)
{
    return x->ops->map(x, domid, count, refs, writable, addr);
}
static inline int xw_unmap(struct xw_xenif *x, void *addr, uint32_t count)
{
    return x->ops->unmap(x, addr, count);
}
static inline int xw_evtchn_fd(struct xw_xenif *x) { return x->ops->evtchn_fd(x); }
static inline int xw_evtchn_alloc_unbound(struct xw_xenif *x, uint32_t domid)
{
    return x->ops->evtchn_alloc_unbound(x, domid);
}
static inline int xw_evtchn_bind(struct xw_xenif *x, uint32_t domid, uint32_t rport)
{
    return x->ops->evtchn_bind(x, domid, rport);
}
static inline int xw_evtchn_notify(struct xw_xenif *x, uint32_t port)
{
    return x->ops->evtchn_notify(x, port);
}
static inline int xw_evtchn_pending(struct xw_xenif *x) { return x->ops->evtchn_pending(x); }
static inline int xw_evtchn_unmask(struct xw_xenif *x, uint32_t port)
{
    return x->ops->evtchn_unmask(x, port);
}
static inline int xw_evtchn_unbind(struct xw_xenif *x, uint32_t port)
{
    return x->ops->evtchn_unbind(x, port);
}
static inline int xw_evtchn_peer_alive(struct xw_xenif *x, uint32_t port)
{
    return x->ops->evtchn_peer_alive(x, port);
}
static inline int xw_domain_alive(struct xw_xenif *x, uint32_t domid)
{
    return x->ops->domain_alive(x, domid);
}
static inline int xw_xenif_retire(struct xw_xenif *x)
{
    return x->ops->retire ? x->ops->retire(x) : -EOPNOTSUPP;
}

/* Fork policy: a forked child is not the domain (the sim drops its copies of
 * the domain's lock and event socket; xen mappings are not inherited), except
 * a child forked while on is set: it carries on as the domain with the
 * process's handles (the stack's keeper, which the exiting parent hands its
 * stack to).  Its xen ring mappings are still not inherited. */
void xw_xenif_fork_keeps(bool on);
bool xw_xenif_forking_keeper(void);
/* The other way round: this process forked its keeper, which carries on as
 * the domain, and is not the domain any more (the sim drops its copies, as a
 * forked child does). */
void xw_xenif_gave_domain(void);
void xw_sim_drop_domains(void);

/* Can this process map grants with x now?  0, or -errno: a sim host out of
 * reach (a process that chrooted or gave up the user the sim host is
 * private to) and no opener.  The xen backend: 0. */
int xw_xenif_can_map(struct xw_xenif *x);
/* The sim: a process that cannot open its sim host's files itself (a
 * satellite that chrooted or changed user: stack/sock/satellite.h) has fn
 * open them (by name, flags O_RDONLY or O_RDWR; fd or -errno): its owner, who
 * answers with xw_xenif_open_file (only a domain's state and lock files and
 * grant objects; -EINVAL for anything else). */
void xw_xenif_set_opener(int (*fn)(const char *name, int flags));
int xw_xenif_open_file(struct xw_xenif *x, const char *name, int flags);

/* Consume every pending port of the handle and unmask it (for a poller that
 * only needs "something happened"; channels re-check their rings).  Returns
 * the number of ports consumed. */
int xw_xenif_drain(struct xw_xenif *x); /* (channel.c: part of the core) */
/* evtchn_wait of the Linux backends: poll on the handle's evtchn_fd. */
int xw_xenif_wait_fd(struct xw_xenif *x, int ms);

#endif

/* The sim backend's private header: Xen's grant, event-channel and key-store
 * rules on plain Linux, split as Xen's own libraries are:
 *   domain.c   the sim host, domain ids and liveness, open/close, the ops table
 *   gnttab.c   grant tables: share/map/unmap, access control, reclaim
 *   evtchn.c   event channels: alloc/bind/notify/unbind, the pollable fd
 *   store.c    the key store: read/write/watch
 *   notify.c   unmap notifications run for a dead process
 *   move.c     a live migration: the domain leaves this sim host
 *
 * A sim host is a directory; each attached handle is a domain:
 *   dom<ID>.lock   liveness: an OFD write lock held for the domain's life (the
 *                  kernel drops it when the process dies, even on kill -9)
 *   dom<ID>.gnt    the domain's grant table (struct gnt_entry[XW_SIM_MAX_GREFS]),
 *                  written only by the domain, read by grantees
 *   dom<ID>.evt    the domain's event page (struct evt_page)
 *   dom<ID>.ntf    its unmap notifications, one record per port (notify.c)
 *   g<ID>-<OBJ>    one shared-memory object per share call (count pages)
 *   xs/            the key store, one file per key ('/' escaped as '%')
 *   host-token     random id: equal tokens = co-resident
 * The layout is read by other processes (peers; tests/ring counts leftovers in
 * dom<ID>.gnt and dom<ID>.evt), so it is fixed.  Files are never truncated or
 * unlinked while others may map them (except grant objects, which mappers keep
 * through their own mapping); a dead domain's state is zeroed/unlinked by
 * whoever next claims or scans its id.  Every page a domain writes (its event
 * page, the grant-table pages it uses, its grant objects) is allocated before
 * it is mapped or written (xw_sim_reserve): a full tmpfs is an error of that
 * call (-ENOSPC), never a SIGBUS.
 *
 * Locking: mu protects the allocation hints and counters, the share/map lists
 * and the peer caches.  The shared pages are accessed with atomics only.  The
 * pending queue and the store's watch state are not locked: evtchn_pending and
 * the store ops have one caller at a time (xenif.h).
 */
#ifndef XW_SIM_H
#define XW_SIM_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "xenif.h"

/* The sim's locks: a process's threads share its handles (the Linux
 * library).  Built with XW_SIM_THREADS=0, for a program with one thread (the
 * core's reference port, apps/refport), there is no other thread to exclude:
 * no lock, and no fork handler (such a program does not fork). */
#ifndef XW_SIM_THREADS
#define XW_SIM_THREADS 1
#endif
#if XW_SIM_THREADS
#include <pthread.h>
typedef pthread_mutex_t xw_sim_mutex;
#define XW_SIM_MUTEX_INIT PTHREAD_MUTEX_INITIALIZER
#define xw_sim_mutex_init(m) pthread_mutex_init((m), NULL)
#define xw_sim_mutex_destroy(m) pthread_mutex_destroy(m)
#define xw_sim_lock(m) pthread_mutex_lock(m)
#define xw_sim_unlock(m) pthread_mutex_unlock(m)
#else
typedef char xw_sim_mutex;
#define XW_SIM_MUTEX_INIT 0
#define xw_sim_mutex_init(m) ((void)(m))
#define xw_sim_mutex_destroy(m) ((void)(m))
#define xw_sim_lock(m) ((void)(m))
#define xw_sim_unlock(m) ((void)(m))
#endif

/* ---- dom<ID>.gnt ---- */

enum { GNT_INUSE = 1u, GNT_RO = 2u };

struct gnt_entry {
    _Atomic uint32_t state; /* GNT_* | generation << 8; written last (release) */
    uint32_t grantee;
    uint32_t obj;
    uint32_t page;
};

#define GNT_BYTES ((size_t)XW_SIM_MAX_GREFS * sizeof(struct gnt_entry))

/* ---- dom<ID>.evt ---- */

#define EVT_MAGIC 0x56455758u /* "XWEV" */
#define EVT_PWORDS (XW_SIM_MAX_PORTS / 64)

struct evt_page {
    uint32_t magic;
    _Atomic uint32_t upcall; /* a wake datagram is (or is about to be) queued */
    _Atomic uint64_t pending[EVT_PWORDS];
    _Atomic uint64_t port[XW_SIM_MAX_PORTS]; /* see evtchn.c: state, remote dom, port */
};

#define EVT_BYTES ((sizeof(struct evt_page) + XW_PAGE_SIZE - 1) & ~(size_t)(XW_PAGE_SIZE - 1))

/* ---- the handle ---- */

#define SIM_MAX_WATCHES 32

/* What we keep open of another domain, each opened on first use and kept for
 * the handle's life (under mu). */
struct sim_peer {
    void *gnt; /* its struct gnt_entry table, read-only */
    void *evt; /* its struct evt_page */
    void *ntf; /* its notification records (notify.c) */
    int lock_fd; /* its dom<ID>.lock, for liveness probes; -1 when not open */
    int gnt_fd;  /* its dom<ID>.gnt, for refs_backed; -1 when not open */
};

struct gnt_share;
struct gnt_mapping;

struct xw_sim {
    struct xw_xenif pub; /* first: the handle callers hold */
    struct xw_sim *next_open; /* the process's open handles (domain.c) */
    char dir[PATH_MAX];  /* the sim host */
    /* Its files' permissions: rw for us, and for the group and the others
     * when the host directory lets them write there (who may write in it may
     * join the host: the hub's rule); 0600 in a private directory. */
    mode_t mode;
    xw_sim_mutex mu;
    struct sim_peer *peers; /* [XW_SIM_MAX_DOMID + 1] */
    int lock_fd;            /* our dom<ID>.lock, write-locked */
    /* XWAY_SIM_LIVENESS (xw_xenif_open_sim): XW_SIM_LIVE_DOMAIN, Xen's view of
     * a peer (a domain outlives the process in it); XW_SIM_LIVE_GUEST, a
     * guest's view besides (another domain's life cannot be seen at all). */
    int domain_liveness;
    /* The domain moved away (move.c): the handle only unmaps what is still
     * mapped through it, and writes nothing to the old domain's files. */
    bool retired;

    /* gnttab.c */
    struct gnt_entry *gnt;
    int gnt_fd; /* our dom<ID>.gnt, to reserve its pages as entries are used */
    uint64_t gnt_reserved[GNT_BYTES / XW_PAGE_SIZE / 64]; /* pages reserved */
    uint32_t next_obj, gnt_hint;
    struct gnt_share *shares;
    struct gnt_share *kept; /* unshared with keep: pages for the same grantee */
    unsigned nkept;
    struct gnt_mapping *maps;

    /* notify.c */
    void *ntf;

    /* evtchn.c */
    struct evt_page *evt;
    int sock; /* the pollable fd: wake datagrams arrive here */
    uint32_t port_hint;
    uint16_t q[XW_SIM_MAX_PORTS]; /* ports found pending, not yet returned */
    unsigned qhead, qlen;
    bool round; /* calls of evtchn_pending since its last "none": its datagram read */
    _Atomic uint64_t masked[EVT_PWORDS]; /* delivered, not yet unmasked (ours only) */

    /* store.c */
    int ino_fd;
    char *watches[SIM_MAX_WATCHES];
    char ino_buf[4096];
    size_t ino_len, ino_off;
};

static inline struct xw_sim *xw_sim_of(struct xw_xenif *x) { return (struct xw_sim *)x; }

/* domain.c: files of the sim host, domains. */
__attribute__((format(printf, 3, 4)))
int xw_sim_path(const struct xw_sim *s, char *buf, const char *fmt, ...);
/* A file or directory just created in the host: s->mode (the x bits too for
 * a directory), whatever the process's umask.  0 or -errno. */
int xw_sim_created(const struct xw_sim *s, int fd, const char *dir);
/* Open the sim host's file named by fmt: fd, or -1 with errno.  Without
 * O_CREAT, a process that cannot reach it itself (a satellite that chrooted
 * or changed user) asks the opener (xw_xenif_set_opener). */
__attribute__((format(printf, 3, 4)))
int xw_sim_open(struct xw_sim *s, int flags, const char *fmt, ...);
void *xw_sim_map_state(struct xw_sim *s, const char *kind, uint32_t id, size_t len,
                       bool create, bool writable, int *fdp);
int xw_sim_reserve(int fd, off_t off, off_t len);
void *xw_sim_peer_state(struct xw_sim *s, void **slot, const char *kind, uint32_t id,
                        size_t len, bool writable);
void xw_sim_zero_state(struct xw_sim *s, const char *kind, uint32_t id, size_t len,
                       bool reserve);
int xw_sim_alive(struct xw_sim *s, uint32_t domid);
void xw_sim_close(struct xw_xenif *x);
int xw_sim_domain_alive(struct xw_xenif *x, uint32_t domid);

/* gnttab.c */
int xw_sim_gnttab_open(struct xw_sim *s);
void xw_sim_gnttab_close(struct xw_sim *s);
void xw_sim_gnttab_reclaim(struct xw_sim *s, uint32_t id);
int xw_sim_share_kept(struct xw_xenif *x, uint32_t domid, uint32_t count, int writable,
                      uint32_t *refs, void **addr);
int xw_sim_share(struct xw_xenif *x, uint32_t domid, uint32_t count, int writable,
                 uint32_t *refs, void **addr);
int xw_sim_share_notify(struct xw_xenif *x, uint32_t domid, int writable, uint32_t *ref,
                        int notify_offset, int notify_port, void **addr);
int xw_sim_unshare(struct xw_xenif *x, void *addr, uint32_t count);
int xw_sim_unshare_keep(struct xw_xenif *x, void *addr, uint32_t count);
int xw_sim_map(struct xw_xenif *x, uint32_t domid, uint32_t count, const uint32_t *refs,
               int writable, void **addr);
int xw_sim_map_set_notify(struct xw_xenif *x, void *addr, uint32_t domid, uint32_t ref,
                          int writable, int notify_offset, int notify_port);
int xw_sim_map_notify(struct xw_xenif *x, uint32_t domid, uint32_t ref, int writable,
                      int notify_offset, int notify_port, void **addr);
int xw_sim_unmap(struct xw_xenif *x, void *addr, uint32_t count);

void xw_sim_gnttab_retire(struct xw_sim *s);

/* move.c */
int xw_sim_retire(struct xw_xenif *x);

/* evtchn.c */
int xw_sim_evtchn_open(struct xw_sim *s);
void xw_sim_evtchn_close(struct xw_sim *s);
void xw_sim_evtchn_reclaim(struct xw_sim *s, uint32_t id);
int xw_sim_evtchn_fd(struct xw_xenif *x);
int xw_sim_evtchn_alloc_unbound(struct xw_xenif *x, uint32_t domid);
int xw_sim_evtchn_bind(struct xw_xenif *x, uint32_t domid, uint32_t rport);
int xw_sim_evtchn_notify(struct xw_xenif *x, uint32_t port);
int xw_sim_evtchn_pending(struct xw_xenif *x);
int xw_sim_evtchn_unmask(struct xw_xenif *x, uint32_t port);
int xw_sim_evtchn_unbind(struct xw_xenif *x, uint32_t port);
int xw_sim_evtchn_peer_alive(struct xw_xenif *x, uint32_t port);

/* evtchn.c: signal dom's port on its behalf (dom is dead: notify.c). */
void xw_sim_evtchn_send_for(struct xw_sim *s, uint32_t dom, uint32_t port);

/* notify.c */
int xw_sim_ntf_open(struct xw_sim *s);
void xw_sim_ntf_close(struct xw_sim *s);
void xw_sim_ntf_arm(struct xw_sim *s, uint32_t port, uint32_t dom, uint32_t obj,
                    uint32_t where);
void xw_sim_ntf_disarm(struct xw_sim *s, uint32_t port, uint32_t dom, uint32_t obj);
void xw_sim_ntf_run(struct xw_sim *s, uint32_t dom, uint32_t port);
void xw_sim_ntf_reclaim(struct xw_sim *s, uint32_t id);

/* store.c */
int xw_sim_store_open(struct xw_sim *s);
void xw_sim_store_close(struct xw_sim *s);
int xw_sim_store_read(struct xw_xenif *x, const char *key, char *buf, size_t len);
int xw_sim_store_write(struct xw_xenif *x, const char *key, const char *val);
int xw_sim_store_watch(struct xw_xenif *x, const char *key);
int xw_sim_store_unwatch(struct xw_xenif *x, const char *key);
int xw_sim_store_watch_fd(struct xw_xenif *x);
int xw_sim_store_read_watch(struct xw_xenif *x, char *buf, size_t len);

#endif

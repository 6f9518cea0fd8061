/* The xen backend: a thin adapter over libxengnttab (incl. xengntshr_*),
 * libxenevtchn and libxenstore.  Every library failure becomes -errno.
 *
 * Locking: port_dom (port -> remote domid, for evtchn_peer_alive) is guarded by
 * mu; the library handles are thread-safe for the calls we make. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>

#include "budget.h"
#include "xenif.h"

struct xenb {
    struct xw_xenif pub;
    xengnttab_handle *gt;
    xengntshr_handle *gs;
    xenevtchn_handle *ev;
    struct xs_handle *xs; /* NULL when xenstore is unreachable */
    bool ev_borrowed;     /* ev is the parent's (xw_xenif_xen_child): not ours to close */
    pthread_mutex_t mu;
    uint32_t *port_dom; /* remote domid + 1 per local port, 0 = unknown */
    size_t nport_dom;
};

static inline struct xenb *X(struct xw_xenif *x) { return (struct xenb *)x; }

static int neg_errno(void) { return errno ? -errno : -EIO; }

/* Mappings are not inherited by a forked child: a child's copy of a gntalloc
 * mapping would keep the pages' users and delay their unmap notifications
 * (the sign of our death) until the child exits too.  (gntdev's are already
 * VM_DONTCOPY in a PV guest.)  The fork policy: children do not use the
 * parent's rings. */
static void no_fork_copy(void *addr, uint32_t count)
{
    madvise(addr, (size_t)count << XW_PAGE_SHIFT, MADV_DONTFORK);
}

static int xen_share(struct xw_xenif *x, uint32_t domid, uint32_t count, int writable,
                     uint32_t *refs, void **addr)
{
    void *a;

    errno = 0;
    a = xengntshr_share_pages(X(x)->gs, domid, (int)count, refs, writable);
    if (!a)
        return errno == ENOMEM || errno == ENOSPC ? -ENOSPC : neg_errno();
    memset(a, 0, (size_t)count << XW_PAGE_SHIFT);
    no_fork_copy(a, count);
    *addr = a;
    return 0;
}

/* gntalloc runs the notification (clear the byte, signal the port, which it
 * holds bound until then) when the page's last user goes: our unshare, or our
 * process's exit however it ends.  notify_offset / notify_port -1: none
 * (libxengnttab's "offset >= page size" / "port -1"). */
static int xen_share_notify(struct xw_xenif *x, uint32_t domid, int writable, uint32_t *ref,
                            int notify_offset, int notify_port, void **addr)
{
    void *a;

    if (notify_offset >= (int)XW_PAGE_SIZE)
        return -EINVAL;
    errno = 0;
    a = xengntshr_share_page_notify(X(x)->gs, domid, ref, writable, (uint32_t)notify_offset,
                                    (evtchn_port_t)notify_port);
    if (!a)
        return errno == ENOMEM || errno == ENOSPC ? -ENOSPC : neg_errno();
    memset(a, 0, XW_PAGE_SIZE);
    no_fork_copy(a, 1);
    *addr = a;
    return 0;
}

static int xen_unshare(struct xw_xenif *x, void *addr, uint32_t count)
{
    return xengntshr_unshare(X(x)->gs, addr, count) ? neg_errno() : 0;
}

static int xen_map(struct xw_xenif *x, uint32_t domid, uint32_t count, const uint32_t *refs,
                   int writable, void **addr)
{
    void *a;

    errno = 0;
    a = xengnttab_map_domain_grant_refs(X(x)->gt, count, domid, (uint32_t *)refs,
                                        PROT_READ | (writable ? PROT_WRITE : 0));
    if (!a)
        return errno == EINVAL ? -ENOENT : neg_errno();
    no_fork_copy(a, count);
    *addr = a;
    return 0;
}

/* gntdev runs it when the mapping goes: our unmap, or our process's exit. */
static int xen_map_notify(struct xw_xenif *x, uint32_t domid, uint32_t ref, int writable,
                          int notify_offset, int notify_port, void **addr)
{
    void *a;

    if (notify_offset >= (int)XW_PAGE_SIZE || (notify_offset >= 0 && !writable))
        return -EINVAL;
    errno = 0;
    a = xengnttab_map_grant_ref_notify(X(x)->gt, domid, ref,
                                       PROT_READ | (writable ? PROT_WRITE : 0),
                                       (uint32_t)notify_offset, (evtchn_port_t)notify_port);
    if (!a)
        return errno == EINVAL ? -ENOENT : neg_errno();
    no_fork_copy(a, 1);
    *addr = a;
    return 0;
}

static int xen_unmap(struct xw_xenif *x, void *addr, uint32_t count)
{
    return xengnttab_unmap(X(x)->gt, addr, count) ? neg_errno() : 0;
}

static int xen_evtchn_fd(struct xw_xenif *x) { return xenevtchn_fd(X(x)->ev); }

static void remember_port(struct xenb *b, int port, uint32_t domid)
{
    size_t n;
    uint32_t *p;

    pthread_mutex_lock(&b->mu);
    if ((size_t)port >= b->nport_dom) {
        n = ((size_t)port + 64) * 2;
        p = realloc(b->port_dom, n * sizeof(*p));
        if (p) {
            memset(p + b->nport_dom, 0, (n - b->nport_dom) * sizeof(*p));
            b->port_dom = p;
            b->nport_dom = n;
        }
    }
    if ((size_t)port < b->nport_dom)
        b->port_dom[port] = domid + 1;
    pthread_mutex_unlock(&b->mu);
}

static int xen_alloc_unbound(struct xw_xenif *x, uint32_t domid)
{
    xenevtchn_port_or_error_t p = xenevtchn_bind_unbound_port(X(x)->ev, domid);

    if (p < 0)
        return errno == ENOSPC || errno == EBUSY ? -ENOSPC : neg_errno();
    remember_port(X(x), p, domid);
    return p;
}

static int xen_bind(struct xw_xenif *x, uint32_t domid, uint32_t rport)
{
    xenevtchn_port_or_error_t p = xenevtchn_bind_interdomain(X(x)->ev, domid, rport);

    if (p < 0)
        return neg_errno();
    remember_port(X(x), p, domid);
    return p;
}

static int xen_notify(struct xw_xenif *x, uint32_t port)
{
    return xenevtchn_notify(X(x)->ev, port) ? neg_errno() : 0;
}

static int xen_pending(struct xw_xenif *x)
{
    xenevtchn_port_or_error_t p = xenevtchn_pending(X(x)->ev);

    if (p < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : neg_errno();
    return p;
}

static int xen_unmask(struct xw_xenif *x, uint32_t port)
{
    return xenevtchn_unmask(X(x)->ev, port) ? neg_errno() : 0;
}

static int xen_unbind(struct xw_xenif *x, uint32_t port)
{
    if (xenevtchn_unbind(X(x)->ev, port))
        return neg_errno();
    remember_port(X(x), (int)port, (uint32_t)-1);
    return 0;
}

static int xen_domain_alive(struct xw_xenif *x, uint32_t domid)
{
    char path[64];
    unsigned int len;
    void *v;

    if (!X(x)->xs)
        return -ENOTSUP;
    snprintf(path, sizeof(path), "/local/domain/%u", domid);
    v = xs_read(X(x)->xs, XBT_NULL, path, &len);
    if (v) {
        free(v);
        return 1;
    }
    return errno == ENOENT ? 0 : neg_errno();
}

/* Domain-level only: no hypercall tells a guest whether the remote end of its
 * port is still bound, and a dead process's domain lives on.  A peer
 * process's death is told by the unmap notifications (channel.c). */
static int xen_peer_alive(struct xw_xenif *x, uint32_t port)
{
    struct xenb *b = X(x);
    uint32_t d = 0;
    int r;

    pthread_mutex_lock(&b->mu);
    if (port < b->nport_dom)
        d = b->port_dom[port];
    pthread_mutex_unlock(&b->mu);
    if (!d)
        return -EINVAL;
    r = xen_domain_alive(x, d - 1);
    return r == -ENOTSUP ? 1 : r; /* no xenstore: cannot tell, assume alive */
}

static int xen_store_read(struct xw_xenif *x, const char *key, char *buf, size_t len)
{
    unsigned int n;
    char *v;

    if (!X(x)->xs)
        return -ENOTSUP;
    if (!len)
        return -EINVAL;
    v = xs_read(X(x)->xs, XBT_NULL, key, &n);
    if (!v)
        return neg_errno();
    if (n >= len)
        n = (unsigned int)len - 1;
    memcpy(buf, v, n);
    buf[n] = 0;
    free(v);
    return (int)n;
}

static int xen_store_write(struct xw_xenif *x, const char *key, const char *val)
{
    if (!X(x)->xs)
        return -ENOTSUP;
    return xs_write(X(x)->xs, XBT_NULL, key, val, (unsigned int)strlen(val)) ? 0 : neg_errno();
}

static int xen_store_watch(struct xw_xenif *x, const char *key)
{
    if (!X(x)->xs)
        return -ENOTSUP;
    return xs_watch(X(x)->xs, key, key) ? 0 : neg_errno();
}

static int xen_store_unwatch(struct xw_xenif *x, const char *key)
{
    if (!X(x)->xs)
        return -ENOTSUP;
    return xs_unwatch(X(x)->xs, key, key) ? 0 : neg_errno();
}

static int xen_store_watch_fd(struct xw_xenif *x)
{
    return X(x)->xs ? xs_fileno(X(x)->xs) : -ENOTSUP;
}

static int xen_store_read_watch(struct xw_xenif *x, char *buf, size_t len)
{
    char **vec;

    if (!X(x)->xs)
        return -ENOTSUP;
    vec = xs_check_watch(X(x)->xs);
    if (!vec)
        return errno == EAGAIN || errno == 0 ? -EAGAIN : neg_errno();
    snprintf(buf, len, "%s", vec[XS_WATCH_PATH]);
    free(vec);
    return (int)strlen(buf);
}

static void xen_close(struct xw_xenif *x)
{
    struct xenb *b = X(x);

    if (b->xs)
        xs_close(b->xs);
    if (b->ev && !b->ev_borrowed)
        xenevtchn_close(b->ev);
    if (b->gs)
        xengntshr_close(b->gs);
    if (b->gt)
        xengnttab_close(b->gt);
    pthread_mutex_destroy(&b->mu);
    free(b->port_dom);
    free(b);
}

static const struct xw_xenif_ops xen_ops = {
    .name = "xen",
    .close = xen_close,
    .share = xen_share,
    .share_notify = xen_share_notify,
    .unshare = xen_unshare,
    .map = xen_map,
    .map_notify = xen_map_notify,
    .unmap = xen_unmap,
    .evtchn_fd = xen_evtchn_fd,
    .evtchn_wait = xw_xenif_wait_fd,
    .evtchn_alloc_unbound = xen_alloc_unbound,
    .evtchn_bind = xen_bind,
    .evtchn_notify = xen_notify,
    .evtchn_pending = xen_pending,
    .evtchn_unmask = xen_unmask,
    .evtchn_unbind = xen_unbind,
    .evtchn_peer_alive = xen_peer_alive,
    .store_read = xen_store_read,
    .store_write = xen_store_write,
    .store_watch = xen_store_watch,
    .store_unwatch = xen_store_unwatch,
    .store_watch_fd = xen_store_watch_fd,
    .store_read_watch = xen_store_read_watch,
    .domain_alive = xen_domain_alive,
};

/* Our domain id: xenstore's relative "domid" key; dom0 may lack it. */
static void read_identity(struct xenb *b)
{
    char buf[32];

    b->pub.domid = 0;
    if (xen_store_read(&b->pub, "domid", buf, sizeof(buf)) > 0)
        b->pub.domid = (uint32_t)strtoul(buf, NULL, 10);
    if (xen_store_read(&b->pub, XW_XEN_HOST_TOKEN_KEY, buf, sizeof(buf)) <= 0)
        buf[0] = 0;
    snprintf(b->pub.host_token, sizeof(b->pub.host_token), "%s", buf);
}

/* A forked child serving a connection of its parent's (a satellite): a grant
 * handle of its own (gntdev maps for the process that opened it), the
 * parent's event-channel handle to notify the parent's ports through (the fd
 * is the same open file, whose ports they are; the parent alone reads it), no
 * share handle (a satellite creates nothing) and no xenstore (the parent's
 * connection is not the child's to use). */
int xw_xenif_xen_child(struct xw_xenif *parent, struct xw_xenif **out)
{
    struct xenb *b = calloc(1, sizeof(*b));

    if (!b)
        return -ENOMEM;
    pthread_mutex_init(&b->mu, NULL);
    b->pub = *parent;
    errno = 0;
    b->gt = xengnttab_open(NULL, 0);
    if (!b->gt) {
        int err = errno ? -errno : -ENODEV;
        pthread_mutex_destroy(&b->mu);
        free(b);
        return err;
    }
    b->ev = X(parent)->ev;
    b->ev_borrowed = true;
    *out = &b->pub;
    return 0;
}

/* gntalloc's limit on the pages this domain shares, for the budget. */
static void learn_share_limit(void)
{
    unsigned long long v;
    FILE *f = fopen("/sys/module/xen_gntalloc/parameters/limit", "re");

    if (f && fscanf(f, "%llu", &v) == 1)
        xw_budget_learn_share_limit(v);
    if (f)
        fclose(f);
}

int xw_xenif_open_xen(struct xw_xenif **out)
{
    struct xenb *b = calloc(1, sizeof(*b));
    int err;

    if (!b)
        return -ENOMEM;
    pthread_mutex_init(&b->mu, NULL);
    b->pub.ops = &xen_ops;
    b->pub.kind = XW_XENIF_XEN;
    errno = 0;
    b->ev = xenevtchn_open(NULL, 0);
    if (!b->ev)
        goto out_errno;
    /* libxenevtchn's fd blocks: xenevtchn_pending() must return "none" (-EAGAIN)
     * once the pending ports are read, as xw_xenif_drain() relies on. */
    if (fcntl(xenevtchn_fd(b->ev), F_SETFL,
              fcntl(xenevtchn_fd(b->ev), F_GETFL) | O_NONBLOCK) < 0)
        goto out_errno;
    b->gt = xengnttab_open(NULL, 0);
    if (!b->gt)
        goto out_errno;
    b->gs = xengntshr_open(NULL, 0);
    if (!b->gs)
        goto out_errno;
    b->xs = xs_open(0); /* optional: liveness and identity need it */
    read_identity(b);
    learn_share_limit();
    *out = &b->pub;
    return 0;
out_errno:
    err = errno == ENOENT || errno == ENXIO || errno == ENODEV || !errno ? -ENODEV : -errno;
    xen_close(&b->pub);
    return err;
}

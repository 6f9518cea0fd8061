/* The sim's live migration (xenif.h: retire).  The domain's old self ends for
 * its peers as a destroyed domain's would: its grants are revoked, its ports
 * freed, its lock released (its id is free again), and no unmap notification
 * runs (its process lives on, as a migrated Xen guest's); the
 * process goes on in a new domain, a handle opened on the new host.  What the
 * old handle still has shared or mapped stays mapped here, as the memory a
 * migrated guest keeps (its peers' pages are no longer read through it: the
 * switch, stack/path/switch.c, copies what it needs first); unshare and unmap
 * only unmap it then, and nothing is written to the old domain's files, which
 * another process may own by now. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"

static int gone(void) { return -ESRCH; }
static int r_share(struct xw_xenif *x, uint32_t d, uint32_t c, int w, uint32_t *r, void **a)
{
    return gone();
}
static int r_share_notify(struct xw_xenif *x, uint32_t d, int w, uint32_t *r, int o, int p,
                          void **a)
{
    return gone();
}
static int r_map(struct xw_xenif *x, uint32_t d, uint32_t c, const uint32_t *r, int w, void **a)
{
    return gone();
}
static int r_map_notify(struct xw_xenif *x, uint32_t d, uint32_t r, int w, int o, int p,
                        void **a)
{
    return gone();
}
static int r_fd(struct xw_xenif *x) { return -1; }
static int r_dom(struct xw_xenif *x, uint32_t d) { return gone(); }
static int r_bind(struct xw_xenif *x, uint32_t d, uint32_t p) { return gone(); }
static int r_port(struct xw_xenif *x, uint32_t p) { return gone(); }
static int r_unbind(struct xw_xenif *x, uint32_t p) { return 0; }
static int r_pending(struct xw_xenif *x) { return -EAGAIN; }
static int r_peer_alive(struct xw_xenif *x, uint32_t p) { return 0; }
static int r_read(struct xw_xenif *x, const char *k, char *b, size_t l) { return gone(); }
static int r_write(struct xw_xenif *x, const char *k, const char *v) { return gone(); }
static int r_key(struct xw_xenif *x, const char *k) { return gone(); }
static int r_read_watch(struct xw_xenif *x, char *b, size_t l) { return gone(); }
static int r_retire(struct xw_xenif *x) { return -EALREADY; }

static const struct xw_xenif_ops retired_ops = {
    .name = "sim",
    .close = xw_sim_close,
    .share = r_share,
    .share_notify = r_share_notify,
    .unshare = xw_sim_unshare,
    .map = r_map,
    .map_notify = r_map_notify,
    .unmap = xw_sim_unmap,
    .evtchn_fd = r_fd,
    .evtchn_wait = xw_xenif_wait_fd,
    .evtchn_alloc_unbound = r_dom,
    .evtchn_bind = r_bind,
    .evtchn_notify = r_port,
    .evtchn_pending = r_pending,
    .evtchn_unmask = r_port,
    .evtchn_unbind = r_unbind,
    .evtchn_peer_alive = r_peer_alive,
    .store_read = r_read,
    .store_write = r_write,
    .store_watch = r_key,
    .store_unwatch = r_key,
    .store_watch_fd = r_fd,
    .store_read_watch = r_read_watch,
    .domain_alive = r_dom,
    .retire = r_retire,
};

int xw_sim_retire(struct xw_xenif *x)
{
    struct xw_sim *s = xw_sim_of(x);

    xw_sim_gnttab_retire(s);
    xw_sim_lock(&s->mu);
    s->retired = true;
    memset((void *)s->evt->port, 0, sizeof(s->evt->port));
    if (s->sock >= 0)
        close(s->sock);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* last: the domain is dead, its id free */
    s->sock = s->lock_fd = -1;
    x->ops = &retired_ops;
    xw_sim_unlock(&s->mu);
    return 0;
}

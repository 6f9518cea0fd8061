/* The two sides of the Xen ring test meet through the backend's key store:
 * domain ids, channel offers, nonces, checksums, step barriers. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xwt_report.h"
#include "xwt_ring.h"

double xwt_now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int xwt_open_backend(struct xw_xenif **x)
{
    if (getenv("XWT_SIM_HOST"))
        return xw_xenif_open(XW_XENIF_SIM, getenv("XWT_SIM_HOST"), -1, x);
    return xw_xenif_open(XW_XENIF_XEN, NULL, -1, x);
}

int xwt_put(struct xwt *t, const char *key, const char *val)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", t->dir, key);
    return t->x->ops->store_write(t->x, path, val);
}

/* Drain fired watches; count them (the watch API is under test too). */
static void consume_watches(struct xwt *t)
{
    char fired[256];

    while (t->x->ops->store_read_watch(t->x, fired, sizeof(fired)) > 0)
        t->watch_events++;
}

/* Wait for a key the peer writes: watch it, read, sleep on the watch fd.
 * Waits are sliced so that a lost watch event costs at most a slice.
 * 0 or -errno (-ETIMEDOUT). */
int xwt_get_wait(struct xwt *t, const char *key, char *buf, size_t len, int ms)
{
    struct xw_xenif *x = t->x;
    double end = xwt_now_s() + ms / 1000.0;
    char path[256];
    bool watching;
    int r, left;

    snprintf(path, sizeof(path), "%s/%s", t->dir, key);
    watching = x->ops->store_watch(x, path) == 0;
    t->watch_failures += !watching;
    for (;;) {
        r = x->ops->store_read(x, path, buf, len);
        if (r > 0) {
            r = 0;
            break;
        }
        left = (int)((end - xwt_now_s()) * 1000);
        if (left <= 0) {
            r = r < 0 ? r : -ETIMEDOUT;
            break;
        }
        if (watching) {
            struct pollfd pfd = { .fd = x->ops->store_watch_fd(x), .events = POLLIN };

            poll(&pfd, 1, left < 1000 ? left : 1000);
            consume_watches(t);
        } else {
            usleep(20000);
        }
    }
    if (watching)
        x->ops->store_unwatch(x, path);
    return r;
}

const char *xwt_me(struct xwt *t) { return t->sharer ? "sharer" : "mapper"; }
const char *xwt_other(struct xwt *t) { return t->sharer ? "mapper" : "sharer"; }

/* Both sides publish their domain id and learn the other's. */
int xwt_meet(struct xwt *t)
{
    char key[64], val[32];
    int r;

    snprintf(key, sizeof(key), "%s-domid", xwt_me(t));
    snprintf(val, sizeof(val), "%u", t->x->domid);
    if (!xwt_check(xwt_put(t, key, val) == 0, "published %s=%s", key, val))
        return -EIO;
    snprintf(key, sizeof(key), "%s-domid", xwt_other(t));
    r = xwt_get_wait(t, key, val, sizeof(val), WAIT_KEY_MS);
    if (!xwt_check(r == 0, "peer domain id %s (%d)", r == 0 ? val : "?", r))
        return r;
    t->peer = (uint32_t)strtoul(val, NULL, 10);
    return 0;
}

/* Wait until the peer reached step NAME too (the peer wrote NAME-<role>). */
int xwt_barrier(struct xwt *t, const char *name)
{
    char key[64], val[8];
    int r;

    snprintf(key, sizeof(key), "%s-%s", name, xwt_me(t));
    xwt_put(t, key, "1");
    snprintf(key, sizeof(key), "%s-%s", name, xwt_other(t));
    r = xwt_get_wait(t, key, val, sizeof(val), WAIT_KEY_MS);
    xwt_check(r == 0, "barrier %s with the %s (%d)", name, xwt_other(t), r);
    return r;
}

/* ---- channel setup: offer, accept, nonce ---- */

int xwt_publish_offer(struct xwt *t, const char *name, const struct xw_chan_offer *o)
{
    char val[96];

    snprintf(val, sizeof(val), "%u %u %u %u %llx", o->domid, o->intf_ref, o->port, o->ring_shift,
             (unsigned long long)o->key);
    return xwt_put(t, name, val);
}

static int read_offer(struct xwt *t, const char *name, struct xw_chan_offer *o)
{
    char val[96];
    int r = xwt_get_wait(t, name, val, sizeof(val), WAIT_KEY_MS);
    unsigned long long k;

    if (r < 0)
        return r;
    if (sscanf(val, "%u %u %u %u %llx", &o->domid, &o->intf_ref, &o->port, &o->ring_shift,
               &k) != 5)
        return -EPROTO;
    o->key = k;
    return 0;
}

/* Sharer: create, offer, check the echoed nonce.  *ch on success. */
int xwt_setup_create(struct xwt *t, const char *name, struct xw_channel **ch)
{
    struct xw_chan_params p = { .ring_bytes = t->ring_bytes, .spin_us = -1 };
    struct xw_chan_offer o = { 0 };
    char key[64], val[32];
    int r;

    r = xw_channel_create(t->x, t->peer, &p, ch, &o);
    if (!xwt_check(r == 0, "%s: create for dom%u: intf ref %u port %u shift %u (%d)", name,
                   t->peer, o.intf_ref, o.port, o.ring_shift, r)) {
        xwt_put(t, name, "failed"); /* the acceptor stops waiting */
        return r;
    }
    xwt_publish_offer(t, name, &o);
    snprintf(key, sizeof(key), "%s-nonce", name);
    r = xwt_get_wait(t, key, val, sizeof(val), WAIT_KEY_MS);
    if (r == 0)
        r = xw_channel_check_nonce(*ch, strtoull(val, NULL, 16));
    if (!xwt_check(r == 0, "%s: acceptor echoed our nonce (%d)", name, r))
        goto out_close;
    r = xw_channel_check_nonce(*ch, strtoull(val, NULL, 16) ^ 1);
    if (!xwt_check(r == -EACCES, "%s: a wrong nonce is refused (%d)", name, r)) {
        r = -EIO;
        goto out_close;
    }
    return 0;
out_close:
    xw_channel_close(*ch);
    *ch = NULL;
    return r < 0 ? r : -EIO;
}

/* Mapper: read the offer, accept (map + bind), echo the nonce. */
int xwt_setup_accept(struct xwt *t, const char *name, struct xw_channel **ch,
                        struct xw_chan_offer *o)
{
    struct xw_chan_params p = { .ring_bytes = 0, .spin_us = -1 };
    char key[64], val[32];
    uint64_t nonce = 0;
    int r;

    r = read_offer(t, name, o);
    if (!xwt_check(r == 0, "%s: offer from dom%u: ref %u port %u shift %u (%d)", name, o->domid,
                   o->intf_ref, o->port, o->ring_shift, r))
        return r;
    r = xw_channel_accept(t->x, o, &p, ch, &nonce);
    if (!xwt_check(r == 0, "%s: accept: mapped and bound (%d)", name, r))
        return r;
    snprintf(key, sizeof(key), "%s-nonce", name);
    snprintf(val, sizeof(val), "%" PRIx64, nonce);
    xwt_put(t, key, val);
    return 0;
}


/* The ring channel over the real Xen backend, between two processes of dom0 or
 * two PV guests: offer through xenstore, share/map/bind, a transfer in both
 * directions at once with checksums, EOF, and a hostile peer on both sides.
 * Usage: xwt_ring sharer|mapper STORE_DIR [mib=N] [ring=BYTES]
 *
 * The sharer creates the channels and the mapper accepts them.  Every step is
 * one XWT PASS/FAIL line on the console; run-qemu.sh judges the serial log.
 * The two programs meet only through keys under STORE_DIR (dom0 made it
 * writable for every domain). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "barrier.h"
#include "channel.h"
#include "ring.h"
#include "xenif.h"
#include "xwt_report.h"
#include "xwt_stream.h"

#define WAIT_KEY_MS 120000 /* the peer guest may boot ~10 s later */
#define IO_TIMEOUT_MS 60000

struct test {
    struct xw_xenif *x;
    const char *dir;
    bool sharer;
    uint32_t peer;
    uint64_t bytes;      /* per direction */
    uint32_t ring_bytes; /* per direction */
    int watch_events;    /* store watch events seen */
    int watch_failures;  /* store_watch calls that failed */
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- rendezvous through the backend's key store ---- */

static int put(struct test *t, const char *key, const char *val)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", t->dir, key);
    return t->x->ops->store_write(t->x, path, val);
}

/* Drain fired watches; count them (the watch API is under test too). */
static void consume_watches(struct test *t)
{
    char fired[256];

    while (t->x->ops->store_read_watch(t->x, fired, sizeof(fired)) > 0)
        t->watch_events++;
}

/* Wait for a key the peer writes: watch it, read, sleep on the watch fd.
 * Waits are sliced so that a lost watch event costs at most a slice.
 * 0 or -errno (-ETIMEDOUT). */
static int get_wait(struct test *t, const char *key, char *buf, size_t len, int ms)
{
    struct xw_xenif *x = t->x;
    double end = now_s() + ms / 1000.0;
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
        left = (int)((end - now_s()) * 1000);
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

static const char *me(struct test *t) { return t->sharer ? "sharer" : "mapper"; }
static const char *other(struct test *t) { return t->sharer ? "mapper" : "sharer"; }

/* Both sides publish their domain id and learn the other's. */
static int meet(struct test *t)
{
    char key[64], val[32];
    int r;

    snprintf(key, sizeof(key), "%s-domid", me(t));
    snprintf(val, sizeof(val), "%u", t->x->domid);
    if (!xwt_check(put(t, key, val) == 0, "published %s=%s", key, val))
        return -EIO;
    snprintf(key, sizeof(key), "%s-domid", other(t));
    r = get_wait(t, key, val, sizeof(val), WAIT_KEY_MS);
    if (!xwt_check(r == 0, "peer domain id %s (%d)", r == 0 ? val : "?", r))
        return r;
    t->peer = (uint32_t)strtoul(val, NULL, 10);
    return 0;
}

/* Wait until the peer reached step NAME too (the peer wrote NAME-<role>). */
static int barrier(struct test *t, const char *name)
{
    char key[64], val[8];
    int r;

    snprintf(key, sizeof(key), "%s-%s", name, me(t));
    put(t, key, "1");
    snprintf(key, sizeof(key), "%s-%s", name, other(t));
    r = get_wait(t, key, val, sizeof(val), WAIT_KEY_MS);
    xwt_check(r == 0, "barrier %s with the %s (%d)", name, other(t), r);
    return r;
}

/* ---- channel setup: offer, accept, nonce ---- */

static int publish_offer(struct test *t, const char *name, const struct xw_chan_offer *o)
{
    char val[96];

    snprintf(val, sizeof(val), "%u %u %u %u", o->domid, o->intf_ref, o->port, o->ring_shift);
    return put(t, name, val);
}

static int read_offer(struct test *t, const char *name, struct xw_chan_offer *o)
{
    char val[96];
    int r = get_wait(t, name, val, sizeof(val), WAIT_KEY_MS);

    if (r < 0)
        return r;
    if (sscanf(val, "%u %u %u %u", &o->domid, &o->intf_ref, &o->port, &o->ring_shift) != 4)
        return -EPROTO;
    return 0;
}

/* Sharer: create, offer, check the echoed nonce.  *ch on success. */
static int setup_create(struct test *t, const char *name, struct xw_channel **ch)
{
    struct xw_chan_params p = { .ring_bytes = t->ring_bytes, .spin_us = -1 };
    struct xw_chan_offer o;
    char key[64], val[32];
    int r;

    r = xw_channel_create(t->x, t->peer, &p, ch, &o);
    if (!xwt_check(r == 0, "%s: create for dom%u: intf ref %u port %u shift %u (%d)", name,
                   t->peer, o.intf_ref, o.port, o.ring_shift, r))
        return r;
    publish_offer(t, name, &o);
    snprintf(key, sizeof(key), "%s-nonce", name);
    r = get_wait(t, key, val, sizeof(val), WAIT_KEY_MS);
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
static int setup_accept(struct test *t, const char *name, struct xw_channel **ch,
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
    put(t, key, val);
    return 0;
}

/* ---- the transfer: our sender thread, our receiver in the caller ---- */

struct sender {
    struct test *t;
    struct xw_channel *ch;
    struct xwt_pattern pat;
    uint64_t sent;
    uint64_t sum;
    int err;
    double secs;
};

/* Chunk sizes cycle through odd values so writes straddle the wrap point at
 * every offset, with one single-byte send now and then. */
static size_t chunk_len(uint64_t i)
{
    static const size_t sizes[] = { 65536, 65521, 131072, 4099, 1, 200000, 8191 };

    return sizes[i % (sizeof(sizes) / sizeof(sizes[0]))];
}

static void *send_main(void *arg)
{
    struct sender *s = arg;
    struct xwt_sum sum;
    double t0 = now_s();
    uint64_t i = 0;

    xwt_sum_init(&sum);
    while (s->sent < s->t->bytes) {
        size_t n = chunk_len(i++);
        const uint8_t *p = xwt_pattern_at(&s->pat, s->sent);
        ssize_t w;

        if (n > s->t->bytes - s->sent)
            n = (size_t)(s->t->bytes - s->sent);
        w = xw_channel_send(s->ch, p, n, IO_TIMEOUT_MS);
        if (w <= 0) {
            s->err = w < 0 ? (int)w : -EIO;
            break;
        }
        xwt_sum_add(&sum, p, (size_t)w);
        s->sent += (uint64_t)w;
    }
    s->sum = xwt_sum_final(&sum);
    s->secs = now_s() - t0;
    if (!s->err)
        s->err = xw_channel_shutdown_write(s->ch);
    return NULL;
}

struct receiver {
    uint64_t got;
    uint64_t sum;
    long bad_at; /* stream offset of the first wrong byte, or -1 */
    int err;     /* last recv result when < 0 */
    bool eof;
    double secs;
};

static void receive_all(struct test *t, struct xw_channel *ch, const struct xwt_pattern *exp,
                        struct receiver *rv)
{
    static uint8_t buf[XWT_MAX_CHUNK];
    struct xwt_sum sum;
    double t0 = now_s();

    xwt_sum_init(&sum);
    rv->bad_at = -1;
    for (;;) {
        ssize_t n = xw_channel_recv(ch, buf, sizeof(buf), IO_TIMEOUT_MS);

        if (n <= 0) {
            rv->eof = n == 0;
            rv->err = (int)n;
            break;
        }
        if (rv->bad_at < 0 && memcmp(buf, xwt_pattern_at(exp, rv->got), (size_t)n) != 0)
            rv->bad_at = (long)rv->got;
        xwt_sum_add(&sum, buf, (size_t)n);
        rv->got += (uint64_t)n;
    }
    rv->sum = xwt_sum_final(&sum);
    rv->secs = now_s() - t0;
}

static uint32_t seed_of(bool sharer) { return sharer ? 0x5a5a0001u : 0xa5a50002u; }

/* Compare what we received with what the peer says it sent. */
static void check_received(struct test *t, struct xw_channel *ch, const struct receiver *rv)
{
    char key[64], val[40];
    double mib = rv->got / 1048576.0;
    uint8_t b;
    int r;

    xwt_check(rv->eof, "EOF after the last byte (last recv %d)", rv->err);
    xwt_check(rv->got == t->bytes, "received %" PRIu64 " of %" PRIu64 " bytes", rv->got, t->bytes);
    xwt_check(rv->bad_at < 0, "every byte as sent (first bad at %ld)", rv->bad_at);
    snprintf(key, sizeof(key), "sum-%s", other(t));
    r = get_wait(t, key, val, sizeof(val), WAIT_KEY_MS);
    xwt_check(r == 0 && strtoull(val, NULL, 16) == rv->sum,
              "checksum %016" PRIx64 " equals the sender's %s", rv->sum, r == 0 ? val : "?");
    xwt_check(xw_channel_recv(ch, &b, 1, 0) == 0, "EOF is sticky");
    xwt_log("received %.1f MiB in %.2f s: %.1f MiB/s", mib, rv->secs, mib / rv->secs);
}

static void transfer(struct test *t, struct xw_channel *ch)
{
    struct sender s = { .t = t, .ch = ch };
    struct xwt_pattern exp;
    struct receiver rv = { 0 };
    pthread_t th;
    char key[64], val[40];
    double t0;

    if (xwt_pattern_init(&s.pat, seed_of(t->sharer)) || xwt_pattern_init(&exp, seed_of(!t->sharer)))
        return (void)xwt_check(false, "pattern buffers");
    if (barrier(t, "go") < 0)
        goto out;
    t0 = now_s();
    if (!xwt_check(pthread_create(&th, NULL, send_main, &s) == 0, "sender thread"))
        goto out;
    receive_all(t, ch, &exp, &rv);
    pthread_join(th, NULL);
    xwt_check(s.err == 0 && s.sent == t->bytes, "sent %" PRIu64 " bytes then EOF (%d)", s.sent,
              s.err);
    xwt_log("sent %.1f MiB in %.2f s: %.1f MiB/s", s.sent / 1048576.0, s.secs,
            s.sent / 1048576.0 / s.secs);
    snprintf(key, sizeof(key), "sum-%s", me(t));
    snprintf(val, sizeof(val), "%016" PRIx64, s.sum);
    put(t, key, val);
    check_received(t, ch, &rv);
    xwt_log("both directions done in %.2f s: %.1f MiB/s total", now_s() - t0,
            2.0 * t->bytes / 1048576.0 / (now_s() - t0));
    xwt_check(xw_channel_error(ch) == 0, "no channel error (%d)", xw_channel_error(ch));
out:
    xwt_pattern_free(&s.pat);
    xwt_pattern_free(&exp);
}

static void test_transfer(struct test *t)
{
    struct xw_channel *ch = NULL;
    struct xw_chan_offer o;
    int r;

    r = t->sharer ? setup_create(t, "data", &ch) : setup_accept(t, "data", &ch, &o);
    if (r < 0)
        return;
    xwt_check(xw_channel_fd(ch) >= 0, "channel has a pollable fd");
    xwt_log("ring %u bytes per direction, %" PRIu64 " MiB each way",
            xw_channel_ring_bytes(ch), t->bytes >> 20);
    transfer(t, ch);
    /* Close only when both have read everything: close resets our side. */
    barrier(t, "data-done");
    xw_channel_close(ch);
}

/* ---- hostile peer ---- */

/* Give the victim one bad index, tell it to look, and report its verdict.
 * The order is forced through the store (not an event) so the victim sees the
 * bad index on its very next look, whatever its notification state. */
static void corrupt(struct test *t, const char *name, uint32_t *word, uint32_t value)
{
    uint32_t old = *(volatile uint32_t *)word;
    char key[64], val[16];
    int r;

    *(volatile uint32_t *)word = value;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    xwt_log("%s: index %u -> %u", name, old, value);
    put(t, name, "corrupted");
    snprintf(key, sizeof(key), "%s-verdict", name);
    r = get_wait(t, key, val, sizeof(val), WAIT_KEY_MS);
    xwt_check(r == 0 && strcmp(val, "broken") == 0, "%s: the victim says '%s'", name,
              r == 0 ? val : "?");
}

/* Victim side: after the peer corrupted our shared indices, the operation
 * must fail with an error quickly, return no bytes and leave the error sticky. */
static void expect_broken(struct test *t, const char *name, struct xw_channel *ch, bool as_receiver)
{
    static uint8_t buf[65536];
    char key[64], val[16];
    double t0;
    ssize_t n;

    if (get_wait(t, name, val, sizeof(val), WAIT_KEY_MS) < 0)
        return (void)xwt_check(false, "%s: the attacker never corrupted", name);
    t0 = now_s();
    n = as_receiver ? xw_channel_recv(ch, buf, sizeof(buf), 10000)
                    : xw_channel_send(ch, buf, sizeof(buf), 10000);
    xwt_check(n < 0 && n != -ETIMEDOUT && n != -EAGAIN,
              "%s: %s reports the broken ring: %zd (%s) after %.3f s", name,
              as_receiver ? "recv" : "send", n, n < 0 ? strerror((int)-n) : "bytes!",
              now_s() - t0);
    xwt_check(xw_channel_error(ch) < 0, "%s: error is sticky (%d)", name, xw_channel_error(ch));
    snprintf(key, sizeof(key), "%s-verdict", name);
    put(t, key, n < 0 ? "broken" : "accepted");
}

/* Case 1, hostile acceptor: the mapper maps the interface page a second time
 * and moves the producer index of the sharer's receive ring past its size. */
static void hostile_acceptor(struct test *t)
{
    struct xw_channel *ch = NULL;
    struct xw_chan_offer o;
    struct xw_intf *intf;
    void *addr = NULL;
    int r;

    r = t->sharer ? setup_create(t, "evil1", &ch) : setup_accept(t, "evil1", &ch, &o);
    if (r < 0)
        return;
    if (t->sharer) {
        expect_broken(t, "evil1-corrupt", ch, true);
    } else {
        r = xw_map(t->x, o.domid, 1, &o.intf_ref, 1, &addr);
        if (xwt_check(r == 0, "evil1: second mapping of the interface page (%d)", r)) {
            intf = addr;
            corrupt(t, "evil1-corrupt", &intf->in.prod,
                    xw_load_relaxed(&intf->in.cons) + (1u << o.ring_shift) + 4096);
        }
    }
    barrier(t, "evil1-done");
    if (addr)
        xw_unmap(t->x, addr, 1);
    xw_channel_close(ch);
}

/* Cases 2 and 3, hostile creator: the sharer builds the interface page by
 * hand (so it keeps the raw port and pages), the mapper accepts it for real. */
struct evil_pages {
    void *intf, *data;
    uint32_t ndata;
    int port;
};

static int evil_offer(struct test *t, const char *name, struct evil_pages *e,
                      struct xw_chan_offer *o)
{
    const uint32_t shift = 16;
    struct xw_intf *intf;
    uint32_t iref, refs[64];
    int r;

    e->ndata = xw_ring_data_pages(shift);
    r = xw_share(t->x, t->peer, 1, 1, &iref, &e->intf);
    if (r < 0)
        return r;
    r = xw_share(t->x, t->peer, e->ndata, 1, refs, &e->data);
    if (r < 0)
        return r;
    e->port = xw_evtchn_alloc_unbound(t->x, t->peer);
    if (e->port < 0)
        return e->port;
    intf = e->intf;
    intf->magic = XW_INTF_MAGIC;
    intf->version = XW_INTF_VERSION;
    intf->ring_shift = shift;
    intf->nrefs = e->ndata;
    intf->nonce = 0x0123456789abcdefull;
    memcpy(intf->ref, refs, e->ndata * sizeof(refs[0]));
    *o = (struct xw_chan_offer){ .domid = t->x->domid, .intf_ref = iref,
                                 .port = (uint32_t)e->port, .ring_shift = shift };
    return publish_offer(t, name, o);
}

static void evil_release(struct test *t, struct evil_pages *e)
{
    if (e->port >= 0)
        xw_evtchn_unbind(t->x, (uint32_t)e->port);
    if (e->data)
        xw_unshare(t->x, e->data, e->ndata);
    if (e->intf)
        xw_unshare(t->x, e->intf, 1);
}

/* Case 3's attacker: while the victim sleeps in recv on an empty ring, storm
 * its event channel (each wake must find nothing and sleep again), then move
 * the producer index of its receive ring past the ring size and kick once. */
static void storm_then_corrupt(struct test *t, struct evil_pages *e, const char *name)
{
    struct xw_intf *intf = e->intf;
    char key[64], val[16];
    int i, bad = 0;

    snprintf(key, sizeof(key), "%s-waiting", name);
    if (get_wait(t, key, val, sizeof(val), WAIT_KEY_MS) < 0)
        return (void)xwt_check(false, "%s: the victim never started waiting", name);
    usleep(300000);
    for (i = 0; i < 20000; i++)
        bad += xw_evtchn_notify(t->x, (uint32_t)e->port) < 0;
    xwt_check(bad == 0, "%s: %d notifications sent (%d failed)", name, i, bad);
    usleep(300000);
    corrupt(t, name, &intf->out.prod, xw_load_relaxed(&intf->out.cons) + (1u << 16) + 1);
    xw_evtchn_notify(t->x, (uint32_t)e->port);
}

/* Case 3's victim: already blocked when the storm and the corruption come. */
static void expect_broken_blocked(struct test *t, const char *name, struct xw_channel *ch)
{
    static uint8_t buf[65536];
    char key[64];
    double t0 = now_s();
    ssize_t n;

    snprintf(key, sizeof(key), "%s-waiting", name);
    put(t, key, "1");
    n = xw_channel_recv(ch, buf, sizeof(buf), 30000);
    xwt_check(n < 0 && n != -ETIMEDOUT && n != -EAGAIN,
              "%s: blocked recv survives an event storm and reports the broken ring: %zd (%s) "
              "after %.3f s", name, n, n < 0 ? strerror((int)-n) : "bytes!", now_s() - t0);
    xwt_check(xw_channel_error(ch) < 0, "%s: error is sticky (%d)", name, xw_channel_error(ch));
    snprintf(key, sizeof(key), "%s-verdict", name);
    put(t, key, n < 0 && n != -ETIMEDOUT ? "broken" : "accepted");
}

/* Case 2 (blocked = false): the sharer moves the consumer index of the ring the
 * mapper produces into ahead of prod; the mapper's next send must fail.
 * Case 3 (blocked = true): see storm_then_corrupt. */
static void hostile_creator(struct test *t, const char *name, bool blocked)
{
    struct evil_pages e = { .port = -1 };
    struct xw_channel *ch = NULL;
    struct xw_intf *intf;
    struct xw_chan_offer o;
    char key[64], val[32], step[40];
    int r;

    snprintf(step, sizeof(step), "%s-corrupt", name); /* the attack's keys */

    snprintf(key, sizeof(key), "%s-nonce", name);
    if (t->sharer) {
        r = evil_offer(t, name, &e, &o);
        if (xwt_check(r == 0, "%s: hand-made interface page offered (%d)", name, r)) {
            r = get_wait(t, key, val, sizeof(val), WAIT_KEY_MS);
            xwt_check(r == 0 && strtoull(val, NULL, 16) == 0x0123456789abcdefull,
                      "%s: acceptor read our nonce %s", name, r == 0 ? val : "?");
            intf = e.intf;
            if (blocked)
                storm_then_corrupt(t, &e, step);
            else
                corrupt(t, step, &intf->in.cons, xw_load_relaxed(&intf->in.prod) + 0x10000000u);
        }
    } else if (setup_accept(t, name, &ch, &o) == 0) {
        if (blocked)
            expect_broken_blocked(t, step, ch);
        else
            expect_broken(t, step, ch, false);
    }
    snprintf(key, sizeof(key), "%s-done", name);
    barrier(t, key);
    if (ch)
        xw_channel_close(ch);
    evil_release(t, &e);
}

/* ---- main ---- */

/* Work-around until backend_xen.c does it: libxenevtchn opens its fd in
 * blocking mode, so xenevtchn_pending() (and with it xw_xenif_drain(), which
 * loops until -EAGAIN) blocks forever once the pending ports are consumed. */
static void nonblocking_evtchn(struct test *t)
{
    int fd = xw_evtchn_fd(t->x), fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;

    if (fl >= 0 && !(fl & O_NONBLOCK)) {
        xwt_log("event-channel fd %d was blocking: set O_NONBLOCK (backend_xen work-around)", fd);
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
}

static void parse_args(struct test *t, int argc, char **argv)
{
    for (int i = 3; i < argc; i++) {
        if (strncmp(argv[i], "mib=", 4) == 0)
            t->bytes = strtoull(argv[i] + 4, NULL, 0) << 20;
        else if (strncmp(argv[i], "ring=", 5) == 0)
            t->ring_bytes = (uint32_t)strtoul(argv[i] + 5, NULL, 0);
    }
}

int main(int argc, char **argv)
{
    struct test t = { .bytes = 256ull << 20, .ring_bytes = 0 };
    int r;

    if (argc < 3 || (strcmp(argv[1], "sharer") != 0 && strcmp(argv[1], "mapper") != 0)) {
        fprintf(stderr, "usage: %s sharer|mapper STORE_DIR [mib=N] [ring=BYTES]\n", argv[0]);
        return 2;
    }
    t.sharer = strcmp(argv[1], "sharer") == 0;
    t.dir = argv[2];
    parse_args(&t, argc, argv);
    xwt_begin("xwt_ring", argv[1]);
    /* XWT_SIM_HOST: run the same program on the sim backend (development). */
    if (getenv("XWT_SIM_HOST"))
        r = xw_xenif_open(XW_XENIF_SIM, getenv("XWT_SIM_HOST"), -1, &t.x);
    else
        r = xw_xenif_open(XW_XENIF_XEN, NULL, -1, &t.x);
    if (!xwt_check(r == 0, "%s backend open (%d): domid %u", r == 0 ? t.x->ops->name : "?", r,
                   r == 0 ? t.x->domid : 0))
        return xwt_end();
    nonblocking_evtchn(&t);
    if (meet(&t) == 0) {
        test_transfer(&t);
        hostile_acceptor(&t);
        hostile_creator(&t, "evil2", false);
        hostile_creator(&t, "evil3", true);
        xwt_check(t.watch_failures == 0 && t.watch_events > 0,
                  "key store watches: %d events, %d failed watch calls", t.watch_events,
                  t.watch_failures);
    }
    xw_xenif_close(t.x);
    return xwt_end();
}

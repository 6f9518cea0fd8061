/* The ring channel over the real Xen backend, between two processes of dom0 or
 * two PV guests: offer through xenstore, share/map/bind, a transfer in both
 * directions at once with checksums, EOF, a hostile peer on both sides, and a
 * peer process killed with SIGKILL while its domain lives on (xwt_death.c).
 * Usage: xwt_ring sharer|mapper STORE_DIR [mib=N] [ring=BYTES]
 *
 * The sharer creates the channels and the mapper accepts them.  Every step is
 * one XWT PASS/FAIL line on the console; run-qemu.sh judges the serial log.
 * The two programs meet only through keys under STORE_DIR (dom0 made it
 * writable for every domain). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "xenif.h"
#include "xwt_report.h"
#include "xwt_ring.h"
#include "xwt_stream.h"

#define IO_TIMEOUT_MS 60000

/* ---- the transfer: our sender thread, our receiver in the caller ---- */

struct sender {
    struct xwt *t;
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
    double t0 = xwt_now_s();
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
    s->secs = xwt_now_s() - t0;
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

static void receive_all(struct xwt *t, struct xw_channel *ch, const struct xwt_pattern *exp,
                        struct receiver *rv)
{
    static uint8_t buf[XWT_MAX_CHUNK];
    struct xwt_sum sum;
    double t0 = xwt_now_s();

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
    rv->secs = xwt_now_s() - t0;
}

static uint32_t seed_of(bool sharer) { return sharer ? 0x5a5a0001u : 0xa5a50002u; }

/* Compare what we received with what the peer says it sent. */
static void check_received(struct xwt *t, struct xw_channel *ch, const struct receiver *rv)
{
    char key[64], val[40];
    double mib = rv->got / 1048576.0;
    uint8_t b;
    int r;

    xwt_check(rv->eof, "EOF after the last byte (last recv %d)", rv->err);
    xwt_check(rv->got == t->bytes, "received %" PRIu64 " of %" PRIu64 " bytes", rv->got, t->bytes);
    xwt_check(rv->bad_at < 0, "every byte as sent (first bad at %ld)", rv->bad_at);
    snprintf(key, sizeof(key), "sum-%s", xwt_other(t));
    r = xwt_get_wait(t, key, val, sizeof(val), WAIT_KEY_MS);
    xwt_check(r == 0 && strtoull(val, NULL, 16) == rv->sum,
              "checksum %016" PRIx64 " equals the sender's %s", rv->sum, r == 0 ? val : "?");
    xwt_check(xw_channel_recv(ch, &b, 1, 0) == 0, "EOF is sticky");
    xwt_log("received %.1f MiB in %.2f s: %.1f MiB/s", mib, rv->secs, mib / rv->secs);
}

static void transfer(struct xwt *t, struct xw_channel *ch)
{
    struct sender s = { .t = t, .ch = ch };
    struct xwt_pattern exp;
    struct receiver rv = { 0 };
    pthread_t th;
    char key[64], val[40];
    double t0;

    if (xwt_pattern_init(&s.pat, seed_of(t->sharer)) || xwt_pattern_init(&exp, seed_of(!t->sharer)))
        return (void)xwt_check(false, "pattern buffers");
    if (xwt_barrier(t, "go") < 0)
        goto out;
    t0 = xwt_now_s();
    if (!xwt_check(pthread_create(&th, NULL, send_main, &s) == 0, "sender thread"))
        goto out;
    receive_all(t, ch, &exp, &rv);
    pthread_join(th, NULL);
    xwt_check(s.err == 0 && s.sent == t->bytes, "sent %" PRIu64 " bytes then EOF (%d)", s.sent,
              s.err);
    xwt_log("sent %.1f MiB in %.2f s: %.1f MiB/s", s.sent / 1048576.0, s.secs,
            s.sent / 1048576.0 / s.secs);
    snprintf(key, sizeof(key), "sum-%s", xwt_me(t));
    snprintf(val, sizeof(val), "%016" PRIx64, s.sum);
    xwt_put(t, key, val);
    check_received(t, ch, &rv);
    xwt_log("both directions done in %.2f s: %.1f MiB/s total", xwt_now_s() - t0,
            2.0 * t->bytes / 1048576.0 / (xwt_now_s() - t0));
    xwt_check(xw_channel_error(ch) == 0, "no channel error (%d)", xw_channel_error(ch));
out:
    xwt_pattern_free(&s.pat);
    xwt_pattern_free(&exp);
}

static void test_transfer(struct xwt *t)
{
    struct xw_channel *ch = NULL;
    struct xw_chan_offer o = { 0 };
    int r;

    r = t->sharer ? xwt_setup_create(t, "data", &ch) : xwt_setup_accept(t, "data", &ch, &o);
    if (r < 0)
        return;
    xwt_check(xw_channel_fd(ch) >= 0, "channel has a pollable fd");
    xwt_log("ring %u bytes per direction, %" PRIu64 " MiB each way",
            xw_channel_ring_bytes(ch), t->bytes >> 20);
    transfer(t, ch);
    /* Close only when both have read everything: close resets our side. */
    xwt_barrier(t, "data-done");
    xw_channel_close(ch);
}

/* ---- main ---- */

/* Work-around until backend_xen.c does it: libxenevtchn opens its fd in
 * blocking mode, so xenevtchn_pending() (and with it xw_xenif_drain(), which
 * loops until -EAGAIN) blocks forever once the pending ports are consumed. */
static void nonblocking_evtchn(struct xwt *t)
{
    int fd = xw_evtchn_fd(t->x), fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;

    if (fl >= 0 && !(fl & O_NONBLOCK)) {
        xwt_log("event-channel fd %d was blocking: set O_NONBLOCK (backend_xen work-around)", fd);
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
}

static void parse_args(struct xwt *t, int argc, char **argv)
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
    struct xwt t = { .bytes = 256ull << 20, .ring_bytes = 0 };
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
    r = xwt_open_backend(&t.x);
    if (!xwt_check(r == 0, "%s backend open (%d): domid %u", r == 0 ? t.x->ops->name : "?", r,
                   r == 0 ? t.x->domid : 0))
        return xwt_end();
    nonblocking_evtchn(&t);
    if (xwt_meet(&t) == 0) {
        test_transfer(&t);
        xwt_hostile_acceptor(&t);
        xwt_hostile_creator(&t, "evil2", false);
        xwt_hostile_creator(&t, "evil3", true);
        xwt_death(&t);
        xwt_check(t.watch_failures == 0 && t.watch_events > 0,
                  "key store watches: %d events, %d failed watch calls", t.watch_events,
                  t.watch_failures);
    }
    xw_xenif_close(t.x);
    return xwt_end();
}


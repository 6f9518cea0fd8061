/* Handshake control messages: exact wire bytes, every type round-trips, every
 * truncation and malformed header, never a read past len (exact-size heap
 * copies under ASan), plus a deterministic random sweep. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ctrlmsg.h"
#include "testlib.h"

/* Parse buf[0..len) from an exact-size heap copy, so ASan catches any overread. */
static int parse_exact(const uint8_t *buf, size_t len, struct xw_ctrl *out)
{
    uint8_t *c = malloc(len ? len : 1);
    CHECK(c);
    memcpy(c, buf, len);
    int r = xw_ctrl_parse(len ? c : NULL, len, out);
    free(c);
    return r;
}

static void check_same(const struct xw_ctrl *a, const struct xw_ctrl *b)
{
    CHECK_EQ(a->type, b->type);
    CHECK_EQ(a->reason, b->reason);
    CHECK_EQ(a->domid, b->domid);
    CHECK_EQ(a->intf_ref, b->intf_ref);
    CHECK_EQ(a->port, b->port);
    CHECK_EQ(a->ring_shift, b->ring_shift);
    CHECK_EQ(a->flags, b->flags);
    CHECK(a->nonce == b->nonce);
    CHECK(a->key == b->key);
    CHECK_EQ(a->rx_idx, b->rx_idx);
    CHECK(a->host == b->host);
}

/* m with only its type's fields kept (what parse returns). */
static struct xw_ctrl relevant(const struct xw_ctrl *m)
{
    struct xw_ctrl r = { .type = m->type };
    switch (m->type) {
    case XW_CTRL_OFFER:
        r.domid = m->domid, r.intf_ref = m->intf_ref, r.port = m->port;
        r.ring_shift = m->ring_shift, r.flags = m->flags, r.key = m->key;
        break;
    case XW_CTRL_ACCEPT:
        r.nonce = m->nonce, r.domid = m->domid;
        break;
    case XW_CTRL_NOOFFER:
    case XW_CTRL_DECLINE:
    case XW_CTRL_ABORT:
        r.reason = m->reason;
        break;
    case XW_CTRL_SWITCH:
        r.rx_idx = m->rx_idx, r.reason = m->reason;
        break;
    case XW_CTRL_HELLO:
        r.domid = m->domid, r.host = m->host;
        break;
    case XW_CTRL_TAKE:
        r.key = m->key;
        break;
    }
    return r;
}

static void test_wire_bytes(void)
{
    uint8_t b[XW_CTRL_MAX];
    struct xw_ctrl offer = { .type = XW_CTRL_OFFER, .domid = 0x01020304, .intf_ref = 0xa0b0c0d0,
                             .port = 0x00000011, .ring_shift = 20, .flags = 0x80,
                             .key = 0x1112131415161718ull,
                             .reason = 7, .nonce = 99 /* not encoded */ };
    static const uint8_t want_offer[32] = { 0x58, 0x57, 3, 1, 0, 32, 0, 0, 1, 2, 3, 4,
                                            0xa0, 0xb0, 0xc0, 0xd0, 0, 0, 0, 0x11, 20, 0x80, 0, 0,
                                            0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18 };
    memset(b, 0xcc, sizeof(b));
    CHECK_EQ(xw_ctrl_write(b, sizeof(b), &offer), 32);
    CHECK(memcmp(b, want_offer, 32) == 0);

    struct xw_ctrl acc = { .type = XW_CTRL_ACCEPT, .nonce = 0x0102030405060708ull, .domid = 7 };
    static const uint8_t want_acc[24] = { 0x58, 0x57, 3, 3, 0, 24, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
                                          0, 0, 0, 7, 0, 0, 0, 0 };
    memset(b, 0xcc, sizeof(b));
    CHECK_EQ(xw_ctrl_write(b, sizeof(b), &acc), 24);
    CHECK(memcmp(b, want_acc, 24) == 0);

    struct xw_ctrl abort_ = { .type = XW_CTRL_ABORT, .reason = XW_REASON_NONCE };
    static const uint8_t want_abort[12] = { 0x58, 0x57, 3, 6, 0, 12, 0, 0, 0, 11, 0, 0 };
    memset(b, 0xcc, sizeof(b));
    CHECK_EQ(xw_ctrl_write(b, sizeof(b), &abort_), 12);
    CHECK(memcmp(b, want_abort, 12) == 0);
    CHECK_EQ(b[12], 0xcc); /* nothing past the message */

    struct xw_ctrl conf = { .type = XW_CTRL_CONFIRM, .reason = 5 };
    static const uint8_t want_conf[12] = { 0x58, 0x57, 3, 5, 0, 12, 0, 0, 0, 0, 0, 0 };
    CHECK_EQ(xw_ctrl_write(b, sizeof(b), &conf), 12);
    CHECK(memcmp(b, want_conf, 12) == 0);

    struct xw_ctrl sw = { .type = XW_CTRL_SWITCH, .rx_idx = 0x0a0b0c0d, .reason = 15 };
    static const uint8_t want_sw[16] = { 0x58, 0x57, 3, 7, 0, 16, 0, 0,
                                         0x0a, 0x0b, 0x0c, 0x0d, 0, 15, 0, 0 };
    CHECK_EQ(xw_ctrl_write(b, sizeof(b), &sw), 16);
    CHECK(memcmp(b, want_sw, 16) == 0);

    struct xw_ctrl take = { .type = XW_CTRL_TAKE, .key = 0xa1a2a3a4a5a6a7a8ull, .reason = 1 };
    static const uint8_t want_take[16] = { 0x58, 0x57, 3, 9, 0, 16, 0, 0,
                                           0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8 };
    CHECK_EQ(xw_ctrl_write(b, sizeof(b), &take), 16);
    CHECK(memcmp(b, want_take, 16) == 0);
}

static const struct xw_ctrl samples[] = {
    { .type = XW_CTRL_OFFER, .domid = 1, .intf_ref = 2, .port = 3, .ring_shift = 20, .flags = 1,
      .key = 0x0102030405060708ull },
    { .type = XW_CTRL_OFFER, .domid = ~0u, .intf_ref = ~0u, .port = ~0u, .ring_shift = 255,
      .flags = 255, .key = ~0ull },
    { .type = XW_CTRL_NOOFFER, .reason = XW_REASON_GRANT_SHARE },
    { .type = XW_CTRL_NOOFFER, .reason = 0xffff },
    { .type = XW_CTRL_ACCEPT, .nonce = 0xfedcba9876543210ull, .domid = 0x7ff0 },
    { .type = XW_CTRL_ACCEPT, .nonce = ~0ull, .domid = ~0u },
    { .type = XW_CTRL_DECLINE, .reason = XW_REASON_GRANT_MAP },
    { .type = XW_CTRL_CONFIRM },
    { .type = XW_CTRL_ABORT, .reason = XW_REASON_NONCE },
    { .type = XW_CTRL_SWITCH, .rx_idx = ~0u, .reason = XW_REASON_MOVED },
    { .type = XW_CTRL_SWITCH, .rx_idx = 1, .reason = 0xffff },
    { .type = XW_CTRL_HELLO, .domid = 7, .host = 0x0102030405060708ull },
    { .type = XW_CTRL_HELLO, .domid = ~0u, .host = ~0ull, .reason = 9 /* not encoded */ },
    { .type = XW_CTRL_TAKE, .key = 0x8877665544332211ull },
    { .type = XW_CTRL_TAKE, .key = ~0ull, .nonce = 3, .domid = 2 /* not encoded */ },
    /* Fields of other types are not encoded and come back zero. */
    { .type = XW_CTRL_CONFIRM, .reason = 3, .domid = 4, .nonce = 5, .ring_shift = 6 },
    { .type = XW_CTRL_DECLINE, .reason = 1, .domid = 4, .nonce = 5, .port = 6 },
};
enum { NSAMPLES = sizeof(samples) / sizeof(samples[0]) };

static void test_round_trips(void)
{
    for (size_t i = 0; i < NSAMPLES; i++) {
        uint8_t b[XW_CTRL_MAX];
        int n = xw_ctrl_write(b, sizeof(b), &samples[i]);
        CHECK_EQ(n, xw_ctrl_size(samples[i].type));
        struct xw_ctrl o;
        memset(&o, 0xee, sizeof(o));
        CHECK_EQ(parse_exact(b, (size_t)n, &o), n);
        struct xw_ctrl want = relevant(&samples[i]);
        check_same(&o, &want);
        /* Exact capacity works; one less is -ENOSPC and writes nothing. */
        uint8_t c[XW_CTRL_MAX];
        memset(c, 0xcc, sizeof(c));
        CHECK_EQ(xw_ctrl_write(c, (size_t)n, &samples[i]), n);
        memset(c, 0xcc, sizeof(c));
        CHECK_EQ(xw_ctrl_write(c, (size_t)n - 1, &samples[i]), -ENOSPC);
        for (size_t k = 0; k < sizeof(c); k++)
            CHECK_EQ(c[k], 0xcc);
    }
    CHECK_EQ(xw_ctrl_size(XW_CTRL_OFFER), 32);
    CHECK_EQ(xw_ctrl_size(XW_CTRL_NOOFFER), 12);
    CHECK_EQ(xw_ctrl_size(XW_CTRL_ACCEPT), 24);
    CHECK_EQ(xw_ctrl_size(XW_CTRL_DECLINE), 12);
    CHECK_EQ(xw_ctrl_size(XW_CTRL_CONFIRM), 12);
    CHECK_EQ(xw_ctrl_size(XW_CTRL_ABORT), 12);
    CHECK_EQ(xw_ctrl_size(XW_CTRL_SWITCH), 16);
    CHECK_EQ(xw_ctrl_size(XW_CTRL_HELLO), 24);
    CHECK_EQ(xw_ctrl_size(XW_CTRL_TAKE), 16);
}

static void test_write_errors(void)
{
    uint8_t b[XW_CTRL_MAX];
    const unsigned bad[] = { 0, 10, 11, 0x80, 255 };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct xw_ctrl m = { .type = (uint8_t)bad[i] };
        CHECK_EQ(xw_ctrl_write(b, sizeof(b), &m), -EINVAL);
        CHECK_EQ(xw_ctrl_size(bad[i]), -EINVAL);
    }
    struct xw_ctrl m = { .type = XW_CTRL_CONFIRM };
    CHECK_EQ(xw_ctrl_write(NULL, 0, &m), -ENOSPC);
    CHECK_EQ(xw_ctrl_write(b, sizeof(b), NULL), -EINVAL);
}

/* Every proper prefix of every valid message needs more bytes. */
static void test_truncations(void)
{
    for (size_t i = 0; i < NSAMPLES; i++) {
        uint8_t b[XW_CTRL_MAX];
        int n = xw_ctrl_write(b, sizeof(b), &samples[i]);
        for (int k = 0; k < n; k++) {
            struct xw_ctrl o;
            CHECK_EQ(parse_exact(b, (size_t)k, &o), 0);
        }
    }
}

/* Errors are reported as soon as the bytes present prove them. */
static void test_header_errors(void)
{
    struct xw_ctrl o;
    uint8_t b[XW_CTRL_MAX];
    struct xw_ctrl m = { .type = XW_CTRL_OFFER };
    xw_ctrl_write(b, sizeof(b), &m);

    /* Bad magic: first byte alone, or second byte. */
    const uint8_t bad0[] = { 'G' }, bad1[] = { 0x58, 0x58 }, swapped[] = { 0x57, 0x58 };
    CHECK_EQ(parse_exact(bad0, 1, &o), -EBADMSG);
    CHECK_EQ(parse_exact(bad1, 2, &o), -EBADMSG);
    CHECK_EQ(parse_exact(swapped, 2, &o), -EBADMSG);
    const char http[] = "GET / HTTP/1.1\r\n\r\n"; /* an application byte where a message belongs */
    CHECK_EQ(parse_exact((const uint8_t *)http, sizeof(http) - 1, &o), -EBADMSG);

    /* Version: at 3 bytes. */
    for (unsigned v = 0; v < 256; v++) {
        if (v == XW_CTRL_VERSION)
            continue;
        b[2] = (uint8_t)v;
        for (size_t k = 3; k <= 24; k++)
            CHECK_EQ(parse_exact(b, k, &o), -EPROTONOSUPPORT);
    }
    b[2] = XW_CTRL_VERSION;

    /* Length field not matching the type: from 6 bytes on. */
    for (unsigned t = XW_CTRL_OFFER; t <= XW_CTRL_TAKE; t++) {
        int size = xw_ctrl_size(t);
        const unsigned lens[] = { 0, 1, 8, 11, 12, 13, 23, 24, 25, 31, 32, 33, 0x100, 0x0c00, 0xffff };
        for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
            b[3] = (uint8_t)t;
            b[4] = (uint8_t)(lens[j] >> 8);
            b[5] = (uint8_t)lens[j];
            int want = lens[j] == (unsigned)size ? 0 : -EBADMSG;
            for (size_t k = 4; k < 6; k++)
                CHECK_EQ(parse_exact(b, k, &o), 0);
            for (size_t k = 6; k < (size_t)size; k++)
                CHECK_EQ(parse_exact(b, k, &o), want);
            CHECK_EQ(parse_exact(b, (size_t)size, &o), want ? want : size);
        }
    }

    /* Unknown type: -ENOMSG with a plausible length, else -EBADMSG. */
    const unsigned types[] = { 0, 10, 11, 100, 255 };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        b[3] = (uint8_t)types[i];
        for (unsigned len = 0; len < 300; len++) {
            b[4] = (uint8_t)(len >> 8);
            b[5] = (uint8_t)len;
            CHECK_EQ(parse_exact(b, 4, &o), 0);
            CHECK_EQ(parse_exact(b, 5, &o), 0);
            int want = len >= XW_CTRL_HDR && len <= XW_CTRL_MAX ? -ENOMSG : -EBADMSG;
            for (size_t k = 6; k <= 24; k++)
                CHECK_EQ(parse_exact(b, k, &o), want);
        }
    }
    CHECK_EQ(xw_ctrl_parse(NULL, 1, &o), -EINVAL);
    CHECK_EQ(xw_ctrl_parse(b, 24, NULL), -EINVAL);
    CHECK_EQ(xw_ctrl_parse(NULL, 0, &o), 0);
}

/* Reserved fields (header and body) are ignored on receive. */
static void test_reserved_ignored(void)
{
    for (size_t i = 0; i < NSAMPLES; i++) {
        uint8_t b[XW_CTRL_MAX];
        int n = xw_ctrl_write(b, sizeof(b), &samples[i]);
        b[6] = 0xff;
        b[7] = 0x01;
        switch (samples[i].type) {
        case XW_CTRL_OFFER: b[22] = 0xaa; b[23] = 0x55; break;
        case XW_CTRL_ACCEPT: b[20] = b[21] = b[22] = b[23] = 0xff; break;
        case XW_CTRL_CONFIRM: b[8] = b[9] = b[10] = b[11] = 0x42; break;
        case XW_CTRL_SWITCH: b[14] = b[15] = 0x77; break;
        case XW_CTRL_HELLO: b[12] = b[13] = b[14] = b[15] = 0x77; break;
        case XW_CTRL_TAKE: break; /* (no reserved body bytes) */
        default: b[10] = b[11] = 0x77; break;
        }
        struct xw_ctrl o, want = relevant(&samples[i]);
        CHECK_EQ(parse_exact(b, (size_t)n, &o), n);
        check_same(&o, &want);
    }
}

/* A stream of messages followed by application bytes: parse consumes exactly one. */
static void test_stream(void)
{
    uint8_t s[3 * XW_CTRL_MAX + 4];
    size_t n = 0;
    const size_t pick[] = { 0, 4, 7 };
    for (size_t i = 0; i < 3; i++)
        n += (size_t)xw_ctrl_write(s + n, sizeof(s) - n, &samples[pick[i]]);
    memcpy(s + n, "data", 4);
    n += 4;
    size_t off = 0;
    for (size_t i = 0; i < 3; i++) {
        struct xw_ctrl o, want = relevant(&samples[pick[i]]);
        int r = parse_exact(s + off, n - off, &o);
        CHECK(r > 0);
        check_same(&o, &want);
        off += (size_t)r;
    }
    struct xw_ctrl o;
    CHECK_EQ(parse_exact(s + off, n - off, &o), -EBADMSG);
}

/* Random headers biased toward valid ones: the result is consistent with the
 * bytes, prefixes give 0 or the same error, and accepted messages re-encode. */
static void test_random_sweep(void)
{
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int it = 0; it < 200000; it++) {
        uint8_t b[XW_CTRL_MAX + 8];
        for (size_t k = 0; k < sizeof(b); k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            b[k] = (uint8_t)x;
        }
        if (x & 1) b[0] = 0x58, b[1] = 0x57;
        if (x & 2) b[2] = XW_CTRL_VERSION;
        if (x & 4) b[3] = (uint8_t)(1 + (x >> 8) % 8);
        if (x & 8) b[4] = 0, b[5] = (x & 16) ? 12 : (x & 32) ? 24 : 32;
        size_t len = (x >> 32) % (sizeof(b) + 1);
        struct xw_ctrl o;
        int r = parse_exact(b, len, &o);
        CHECK(r == 0 || r == -EBADMSG || r == -EPROTONOSUPPORT || r == -ENOMSG ||
              r == 12 || r == 16 || r == 24 || r == 32);
        for (size_t k = 0; k < len; k++) {
            struct xw_ctrl p;
            int rk = parse_exact(b, k, &p);
            CHECK(rk == 0 || (r < 0 && rk == r) || (r > 0 && (size_t)r <= k && rk == r));
        }
        if (r > 0) {
            uint8_t e[XW_CTRL_MAX];
            struct xw_ctrl o2;
            CHECK_EQ(xw_ctrl_write(e, sizeof(e), &o), r);
            CHECK(memcmp(e, b, 6) == 0);
            CHECK_EQ(xw_ctrl_parse(e, (size_t)r, &o2), r);
            check_same(&o, &o2);
        }
    }
}

/* A well-framed message that is not understood is skipped by its length, only
 * once all of it is there and only when the length is plausible: an over-long
 * or short one is a broken frame. */
static void test_skip(void)
{
    uint8_t b[64];
    struct xw_ctrl o;
    memset(b, 0xab, sizeof(b));
    b[0] = XW_CTRL_MAGIC >> 8;
    b[1] = XW_CTRL_MAGIC & 0xff;
    b[2] = XW_CTRL_VERSION + 7;
    b[3] = XW_CTRL_OFFER;
    for (unsigned len = 0; len < 0x10000; len += len < 300 ? 1 : 251) {
        b[4] = (uint8_t)(len >> 8);
        b[5] = (uint8_t)len;
        bool ok = len >= XW_CTRL_HDR && len <= XW_CTRL_MAX;
        for (size_t k = 0; k <= sizeof(b); k++) {
            int want = k < XW_CTRL_HDR ? 0 : !ok ? -EBADMSG : k < len ? 0 : (int)len;
            uint8_t *c = malloc(k ? k : 1); /* exact size: ASan catches a read past it */
            CHECK(c != NULL);
            memcpy(c, b, k);
            CHECK_EQ(xw_ctrl_skip(k ? c : NULL, k), want);
            if (k >= 3)
                CHECK_EQ(xw_ctrl_parse(c, k, &o), -EPROTONOSUPPORT);
            free(c);
        }
    }
}

static void test_reason_names(void)
{
    static const char *const want[] = { "none", "peer-no-option", "not-co-resident",
                                        "backend-off", "grant-share", "grant-map", "evtchn",
                                        "timeout", "malformed", "version", "resources",
                                        "nonce", "peer-declined", "offer-key", "moved",
                                        "peer-moved" };
    CHECK_EQ(sizeof(want) / sizeof(want[0]), XW_REASON_MAX);
    for (int r = 0; r < XW_REASON_MAX; r++)
        CHECK(strcmp(xw_reason_name(r), want[r]) == 0);
    CHECK(strcmp(xw_reason_name(-1), "unknown") == 0);
    CHECK(strcmp(xw_reason_name(XW_REASON_MAX), "unknown") == 0);
    CHECK(strcmp(xw_reason_name(0x7fffffff), "unknown") == 0);
}

int main(void)
{
    test_wire_bytes();
    test_round_trips();
    test_write_errors();
    test_truncations();
    test_header_errors();
    test_reserved_ignored();
    test_stream();
    test_random_sweep();
    test_skip();
    test_reason_names();
    printf("ctrlmsg_parse: ok\n");
    return 0;
}

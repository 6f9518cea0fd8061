/* The xway SYN option: exact wire bytes, round trips, and every malformed or
 * split option area, each piece in an exact-size heap buffer (ASan: no overread). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcpopt.h"
#include "testlib.h"

static const struct xw_synopt sample = { XW_OPT_VERSION, XW_OPT_F_REPLY, 0x01020304u,
                                         0x1122334455667788ull, 0 };

static int parse_pieces(const uint8_t *a, size_t n, size_t split, int null_p2,
                        struct xw_synopt *out)
{
    /* Exact sizes (ASan reports even a read of a malloc(0) block). */
    uint8_t *p1 = malloc(split), *p2 = malloc(n - split);
    CHECK((p1 || !split) && (p2 || n == split));
    memcpy(p1, a, split);
    memcpy(p2, a + split, n - split);
    int r = xw_tcpopt_parse(p1, split, (null_p2 && split == n) ? NULL : p2, n - split, out);
    free(p1);
    free(p2);
    return r;
}

/* Parse a[0..n) split at every offset: all results agree; returns the result. */
static int parse_all_splits(const uint8_t *a, size_t n, struct xw_synopt *out)
{
    struct xw_synopt first;
    memset(&first, 0xee, sizeof(first));
    int r0 = parse_pieces(a, n, n, 1, &first);
    for (size_t s = 0; s <= n; s++) {
        struct xw_synopt o;
        memset(&o, 0xee, sizeof(o));
        CHECK_EQ(parse_pieces(a, n, s, 0, &o), r0);
        if (r0 == 1) {
            CHECK_EQ(o.version, first.version);
            CHECK_EQ(o.flags, first.flags);
            CHECK_EQ(o.domid, first.domid);
            CHECK(o.host == first.host);
            CHECK(o.key == first.key);
        }
        if (r0 == -EPROTONOSUPPORT)
            CHECK_EQ(o.version, first.version);
    }
    if (out)
        *out = first;
    return r0;
}

static void check_same(const struct xw_synopt *a, const struct xw_synopt *b)
{
    CHECK_EQ(a->version, b->version);
    CHECK_EQ(a->flags, b->flags);
    CHECK_EQ(a->domid, b->domid);
    CHECK(a->host == b->host);
    CHECK(a->key == ((b->flags & XW_OPT_F_PARKED) ? b->key : 0));
}

static void test_wire_bytes(void)
{
    static const uint8_t want[XW_OPT_LEN] = { 253, 20, 0x58, 0x57, 3, 1, 0, 0, 1, 2, 3, 4,
                                              0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 };
    uint8_t out[XW_OPT_LEN];
    xw_tcpopt_write(out, &sample);
    CHECK(memcmp(out, want, sizeof(want)) == 0);
    /* Deterministic: a retransmitted SYN carries the same bytes. */
    uint8_t again[XW_OPT_LEN];
    xw_tcpopt_write(again, &sample);
    CHECK(memcmp(out, again, sizeof(out)) == 0);
}

/* Our option in typical SYN option lists, at every split. */
static void test_round_trips(void)
{
    uint8_t opt[XW_OPT_LEN_PARKED];
    struct xw_synopt vals[] = { sample, { XW_OPT_VERSION, 0, 0, 0, 0 },
                                { XW_OPT_VERSION, XW_OPT_F_TAKES, 9, 1, 0x55 /* not sent */ },
                                { XW_OPT_VERSION, XW_OPT_F_REPLY | XW_OPT_F_PARKED, 7, 2,
                                  0x0102030405060708ull },
                                { XW_OPT_VERSION, 0xff, 0xffffffffu, ~0ull, ~0ull } };
    for (size_t v = 0; v < sizeof(vals) / sizeof(vals[0]); v++) {
        size_t len = xw_tcpopt_write(opt, &vals[v]);
        CHECK_EQ(len, (vals[v].flags & XW_OPT_F_PARKED) ? 28 : 20);
        CHECK_EQ(opt[1], len);
        uint8_t a[40];
        size_t n = 0;
        /* MSS, NOP, WS, NOP, NOP, SACK-perm, ours: a lwIP-like SYN(-ACK), 32 or 40 bytes. */
        const uint8_t pre[] = { 2, 4, 0x05, 0xb4, 1, 3, 3, 7, 1, 1, 4, 2 };
        memcpy(a, pre, sizeof(pre));
        n = sizeof(pre);
        memcpy(a + n, opt, len);
        n += len;
        struct xw_synopt o;
        CHECK_EQ(parse_all_splits(a, n, &o), 1);
        check_same(&o, &vals[v]);
        /* Alone, exactly its length. */
        CHECK_EQ(parse_all_splits(opt, len, &o), 1);
        check_same(&o, &vals[v]);
        /* After timestamps (20 bytes) when it fits, padded to 40 with NOPs in front. */
        memset(a, 1, sizeof(a));
        const uint8_t ts[] = { 8, 10, 1, 2, 3, 4, 5, 6, 7, 8 };
        memcpy(a + 40 - len - 10, ts, sizeof(ts));
        memcpy(a + 40 - len, opt, len);
        CHECK_EQ(parse_all_splits(a, 40, &o), 1);
        check_same(&o, &vals[v]);
    }
}

/* The proposal's length goes with its flag, both ways. */
static void test_parked_len(void)
{
    struct xw_synopt p = { XW_OPT_VERSION, XW_OPT_F_REPLY | XW_OPT_F_PARKED, 3, 4, 5 };
    uint8_t a[XW_OPT_LEN_PARKED];
    CHECK_EQ(xw_tcpopt_write(a, &p), XW_OPT_LEN_PARKED);
    a[1] = XW_OPT_LEN; /* the flag without the key */
    CHECK_EQ(parse_all_splits(a, XW_OPT_LEN, NULL), -EBADMSG);
    a[1] = XW_OPT_LEN_PARKED;
    a[5] = XW_OPT_F_REPLY; /* a key without the flag */
    CHECK_EQ(parse_all_splits(a, XW_OPT_LEN_PARKED, NULL), -EBADMSG);
    a[5] |= XW_OPT_F_PARKED;
    CHECK_EQ(parse_all_splits(a, XW_OPT_LEN_PARKED, NULL), 1);
}

static void test_absent(void)
{
    struct xw_synopt o;
    CHECK_EQ(xw_tcpopt_parse(NULL, 0, NULL, 0, &o), 0);
    const uint8_t nops[] = { 1, 1, 1, 1 };
    CHECK_EQ(parse_all_splits(nops, sizeof(nops), NULL), 0);
    const uint8_t eol[] = { 0 };
    CHECK_EQ(parse_all_splits(eol, 1, NULL), 0);
    const uint8_t std[] = { 2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
    CHECK_EQ(parse_all_splits(std, sizeof(std), NULL), 0);
    /* After EOL everything is padding, even garbage or our option. */
    uint8_t a[1 + XW_OPT_LEN + 3];
    a[0] = 0;
    xw_tcpopt_write(a + 1, &sample);
    a[21] = 253; a[22] = 0; a[23] = 5;
    CHECK_EQ(parse_all_splits(a, sizeof(a), NULL), 0);
    const uint8_t junk_after_eol[] = { 1, 0, 7, 0, 1 };
    CHECK_EQ(parse_all_splits(junk_after_eol, sizeof(junk_after_eol), NULL), 0);
}

static void test_malformed(void)
{
    const uint8_t no_len[] = { 1, 1, 2 };               /* kind, no length byte */
    const uint8_t no_len_253[] = { 253 };
    const uint8_t len0[] = { 2, 0, 0, 0 };
    const uint8_t len1[] = { 5, 1, 1, 1 };
    const uint8_t past[] = { 2, 4, 5, 0xb4, 3, 4, 7 }; /* WS claims 4, 3 left */
    const uint8_t past_far[] = { 8, 255, 1, 2 };
    const uint8_t len0_after_ours_kind[] = { 253, 0 };
    struct { const uint8_t *a; size_t n; } cases[] = {
        { no_len, sizeof(no_len) }, { no_len_253, sizeof(no_len_253) },
        { len0, sizeof(len0) }, { len1, sizeof(len1) }, { past, sizeof(past) },
        { past_far, sizeof(past_far) }, { len0_after_ours_kind, sizeof(len0_after_ours_kind) },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_EQ(parse_all_splits(cases[i].a, cases[i].n, NULL), -EBADMSG);

    /* A malformed option after ours still condemns the list. */
    uint8_t a[XW_OPT_LEN + 2];
    xw_tcpopt_write(a, &sample);
    a[20] = 4;
    a[21] = 7;
    CHECK_EQ(parse_all_splits(a, sizeof(a), NULL), -EBADMSG);
    a[21] = 1;
    CHECK_EQ(parse_all_splits(a, sizeof(a), NULL), -EBADMSG);
    a[21] = 2; /* SACK-permitted: fine */
    CHECK_EQ(parse_all_splits(a, sizeof(a), NULL), 1);
}

/* Every truncation of [NOP NOP ours]: absent before it starts, malformed inside. */
static void test_truncations(void)
{
    uint8_t a[2 + XW_OPT_LEN];
    a[0] = a[1] = 1;
    xw_tcpopt_write(a + 2, &sample);
    for (size_t n = 0; n <= sizeof(a); n++) {
        int want = n <= 2 ? 0 : n < sizeof(a) ? -EBADMSG : 1;
        CHECK_EQ(parse_all_splits(a, n, NULL), want);
    }
}

/* Kind 253 with our ExID but a length other than 20 (without the parked flag) is malformed. */
static void test_our_exid_bad_len(void)
{
    uint8_t a[40];
    for (size_t len = 4; len <= 40; len++) {
        memset(a, 0, sizeof(a));
        xw_tcpopt_write(a, &sample);
        a[1] = (uint8_t)len;
        CHECK_EQ(parse_all_splits(a, len, NULL), len == XW_OPT_LEN ? 1 : -EBADMSG);
    }
}

static void test_other_exids(void)
{
    /* Another experiment's 253 option (ExID 0x1234, len 6), a 253 too short to
     * hold an ExID (len 2, 3) and kind 254 with our ExID: all skipped. */
    uint8_t a[6 + 2 + 3 + 6 + XW_OPT_LEN];
    size_t n = 0;
    const uint8_t other[] = { 253, 6, 0x12, 0x34, 9, 9 };
    const uint8_t short2[] = { 253, 2 }, short3[] = { 253, 3, 0x58 };
    const uint8_t k254[] = { 254, 6, 0x58, 0x57, 1, 0 };
    memcpy(a + n, other, 6); n += 6;
    memcpy(a + n, short2, 2); n += 2;
    memcpy(a + n, short3, 3); n += 3;
    memcpy(a + n, k254, 6); n += 6;
    CHECK_EQ(parse_all_splits(a, n, NULL), 0);
    xw_tcpopt_write(a + n, &sample);
    n += XW_OPT_LEN;
    struct xw_synopt o;
    CHECK_EQ(parse_all_splits(a, n, &o), 1);
    check_same(&o, &sample);
    /* Byte-swapped ExID ("WX") is not ours: a len 19 option with it is skipped. */
    uint8_t b[19] = { 253, 19, 0x57, 0x58 };
    CHECK_EQ(parse_all_splits(b, sizeof(b), NULL), 0);
}

static void test_first_wins(void)
{
    uint8_t a[2 * XW_OPT_LEN];
    struct xw_synopt second = sample;
    second.domid = 99;
    xw_tcpopt_write(a, &sample);
    xw_tcpopt_write(a + XW_OPT_LEN, &second);
    struct xw_synopt o;
    CHECK_EQ(parse_all_splits(a, sizeof(a), &o), 1);
    check_same(&o, &sample);
    /* A second one with a bad length after a good first: first wins (bounds ok). */
    a[XW_OPT_LEN + 1] = 8;
    a[XW_OPT_LEN + 8] = 0;
    CHECK_EQ(parse_all_splits(a, XW_OPT_LEN + 8, &o), 1);
    check_same(&o, &sample);
}

static void test_version(void)
{
    struct xw_synopt v = sample, o;
    uint8_t a[2 * XW_OPT_LEN];
    for (unsigned ver = 0; ver < 256; ver += (ver < 3 ? 1 : 63)) {
        v.version = (uint8_t)ver;
        xw_tcpopt_write(a, &v);
        memset(&o, 0xee, sizeof(o));
        int r = parse_all_splits(a, XW_OPT_LEN, &o);
        if (ver == XW_OPT_VERSION) {
            CHECK_EQ(r, 1);
            continue;
        }
        CHECK_EQ(r, -EPROTONOSUPPORT);
        CHECK_EQ(o.version, ver);
        /* First wins: a valid v1 option after it does not override. */
        xw_tcpopt_write(a + XW_OPT_LEN, &sample);
        CHECK_EQ(parse_all_splits(a, sizeof(a), &o), -EPROTONOSUPPORT);
        /* ...but a malformed list is still malformed. */
        a[XW_OPT_LEN + 1] = 30;
        CHECK_EQ(parse_all_splits(a, sizeof(a), &o), -EBADMSG);
    }
}

static void test_reserved_ignored(void)
{
    uint8_t a[XW_OPT_LEN];
    xw_tcpopt_write(a, &sample);
    a[6] = 0xff;
    a[7] = 0x5a;
    struct xw_synopt o;
    CHECK_EQ(parse_all_splits(a, sizeof(a), &o), 1);
    check_same(&o, &sample);
}

static void test_bad_args(void)
{
    struct xw_synopt o;
    uint8_t a[4] = { 1, 1, 1, 1 };
    CHECK_EQ(xw_tcpopt_parse(NULL, 1, NULL, 0, &o), -EINVAL);
    CHECK_EQ(xw_tcpopt_parse(a, 4, NULL, 1, &o), -EINVAL);
    CHECK_EQ(xw_tcpopt_parse(a, 4, a, SIZE_MAX, &o), -EINVAL);
    CHECK_EQ(xw_tcpopt_parse(a, 4, NULL, 0, NULL), -EINVAL);
    /* p1 empty, everything in p2. */
    uint8_t opt[XW_OPT_LEN];
    xw_tcpopt_write(opt, &sample);
    CHECK_EQ(xw_tcpopt_parse(NULL, 0, opt, sizeof(opt), &o), 1);
    check_same(&o, &sample);
}

static void test_host_hash(void)
{
    CHECK(xw_host_hash(NULL) == 0);
    CHECK(xw_host_hash("") == 0);
    /* Published FNV-1a 64 test vectors. */
    CHECK(xw_host_hash("a") == 0xaf63dc4c8601ec8cull);
    CHECK(xw_host_hash("foobar") == 0x85944171f73967e8ull);
    const char *tok = "/tmp/xway-simhost-1";
    CHECK(xw_host_hash(tok) == xw_fnv(XW_FNV_INIT, tok, strlen(tok)));
    CHECK(xw_host_hash("host-a") != xw_host_hash("host-b"));
}

/* The list check run on every segment before lwIP's walker: each split too. */
static void test_valid(void)
{
    static const struct {
        uint8_t b[12];
        size_t n;
        bool ok;
    } cases[] = {
        { { 0 }, 0, true },
        { { 2, 4, 5, 0xb4 }, 4, true },
        { { 1, 1, 1, 0 }, 4, true },
        { { 0, 253 }, 2, true },                 /* after EOL nothing counts */
        { { 1, 1, 1, 253 }, 4, false },          /* a kind byte last */
        { { 2, 4, 5, 0xb4, 1, 1, 1, 2 }, 8, false },
        { { 1, 1, 8, 3 }, 4, false },            /* length 3 at offset 2: outside */
        { { 3, 1 }, 2, false },                  /* length below 2 */
        { { 3, 3, 7, 1 }, 4, true },
    };

    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
        for (size_t split = 0; split <= cases[k].n; split++)
            CHECK_EQ(xw_tcpopt_valid(cases[k].b, split, cases[k].n > split ? cases[k].b + split : NULL,
                                     cases[k].n - split),
                     cases[k].ok);
    CHECK(!xw_tcpopt_valid(NULL, 1, NULL, 0));
}

static void test_mark(void)
{
    uint8_t a[4 + XW_MARK_LEN + 4] = { 1, 1, 1, 1 };
    uint32_t seq = 0;

    xw_tcpopt_mark_write(a + 4, true, 0xfedcba98u);
    a[4 + XW_MARK_LEN] = 0; /* EOL */
    CHECK(xw_tcpopt_valid(a, sizeof(a), NULL, 0));
    CHECK_EQ(xw_tcpopt_mark_parse(a, sizeof(a), NULL, 0, &seq), 1);
    CHECK_EQ(seq, 0xfedcba98u);
    for (size_t split = 0; split <= sizeof(a); split++) { /* in two pieces, as lwIP gives it */
        seq = 0;
        CHECK_EQ(xw_tcpopt_mark_parse(a, split, a + split, sizeof(a) - split, &seq), 1);
        CHECK_EQ(seq, 0xfedcba98u);
    }
    xw_tcpopt_mark_write(a + 4, false, 5);
    CHECK_EQ(xw_tcpopt_mark_parse(a, sizeof(a), NULL, 0, &seq), 0);
    a[5] = 8; /* ours, wrong length */
    CHECK_EQ(xw_tcpopt_mark_parse(a, sizeof(a), NULL, 0, &seq), -EBADMSG);
    /* The SYN option's parser skips a MARK (another ExID), and the reverse. */
    struct xw_synopt o;
    xw_tcpopt_mark_write(a + 4, true, 1);
    CHECK_EQ(xw_tcpopt_parse(a, sizeof(a), NULL, 0, &o), 0);
    uint8_t b[XW_OPT_LEN];
    xw_tcpopt_write(b, &(struct xw_synopt){ XW_OPT_VERSION, 0, 1, 2, 0 });
    CHECK_EQ(xw_tcpopt_mark_parse(b, sizeof(b), NULL, 0, &seq), 0);
}

int main(void)
{
    test_valid();
    test_mark();
    test_wire_bytes();
    test_round_trips();
    test_parked_len();
    test_absent();
    test_malformed();
    test_truncations();
    test_our_exid_bad_len();
    test_other_exids();
    test_first_wins();
    test_version();
    test_reserved_ignored();
    test_bad_args();
    test_host_hash();
    printf("tcpopt_parse: ok\n");
    return 0;
}

/* Ring logic in-process: wraparound at every size, full/empty, zero-copy reserve/commit across the wrap point, EOF, reset, kick suppression, pollers on other threads. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "ring.h"
#include "testlib.h"

struct pair {
    struct xw_ring_ctl ctl;
    struct xw_ring p, c; /* producer's and consumer's private views */
    uint8_t *data;
};

static void setup(struct pair *t, uint32_t size, uint32_t start)
{
    memset(&t->ctl, 0, sizeof(t->ctl));
    t->data = malloc(size);
    CHECK(t->data);
    CHECK_EQ(xw_ring_init(&t->p, &t->ctl, t->data, size), 0);
    CHECK_EQ(xw_ring_init(&t->c, &t->ctl, t->data, size), 0);
    /* Start just before the uint32 wrap so the indices overflow mid-test. */
    t->p.idx = t->c.idx = t->p.seen = t->c.seen = t->ctl.prod = t->ctl.cons = start;
}

/* Push total bytes through in varying chunks; check order and content. */
static void stream(struct pair *t, uint64_t total, uint32_t seed)
{
    uint32_t size = t->p.size;
    uint8_t *buf = malloc(size + 7), *got = malloc(size + 7);
    uint64_t sent = 0, recvd = 0;
    size_t chunk = 1;
    long n;

    CHECK(buf && got);
    while (recvd < total) {
        size_t want = chunk < total - sent ? chunk : (size_t)(total - sent);
        xw_pattern(buf, want, sent, seed);
        n = xw_ring_write(&t->p, buf, want);
        CHECK(n >= 0 && (size_t)n <= want);
        sent += (uint64_t)n;
        CHECK(xw_ring_writable(&t->p) >= 0);
        n = xw_ring_read(&t->c, got, chunk * 2 / 3 + 1);
        CHECK(n >= 0);
        CHECK_EQ(xw_pattern_check(got, (size_t)n, recvd, seed), -1);
        recvd += (uint64_t)n;
        CHECK(sent - recvd <= size);
        chunk = chunk * 3 + 1;
        if (chunk > size + 7)
            chunk = chunk % (size + 7) + 1;
    }
    CHECK_EQ(sent, total);
    free(buf);
    free(got);
}

static void full_empty(struct pair *t)
{
    uint32_t size = t->p.size;
    uint8_t *buf = malloc(size);
    struct iovec iov[2];

    CHECK_EQ(xw_ring_readable(&t->c), 0);
    CHECK_EQ(xw_ring_peek(&t->c, iov), 0);
    CHECK_EQ(xw_ring_writable(&t->p), size);
    xw_pattern(buf, size, 0, 7);
    CHECK_EQ(xw_ring_write(&t->p, buf, size), size);
    CHECK_EQ(xw_ring_writable(&t->p), 0);
    CHECK_EQ(xw_ring_write(&t->p, buf, 1), 0); /* full */
    CHECK_EQ(xw_ring_reserve(&t->p, iov), 0);
    CHECK_EQ(xw_ring_readable(&t->c), size);
    memset(buf, 0, size);
    CHECK_EQ(xw_ring_read(&t->c, buf, size), size);
    CHECK_EQ(xw_pattern_check(buf, size, 0, 7), -1);
    CHECK_EQ(xw_ring_readable(&t->c), 0);
    free(buf);
}

/* Reserve/commit and peek/release across the wrap point. */
static void zero_copy_wrap(struct pair *t)
{
    uint32_t size = t->p.size, back = size > 4 ? 3 : 1, n;
    struct iovec iov[2];
    uint8_t tmp[8];
    uint8_t *buf = malloc(size);
    size_t i, k = 0;

    /* Move both indices to 'back' bytes before the end of the data area. */
    while (((t->p.idx + back) & t->p.mask) != 0) {
        CHECK_EQ(xw_ring_write(&t->p, tmp, 1), 1);
        CHECK_EQ(xw_ring_read(&t->c, tmp, 1), 1);
    }
    n = (uint32_t)xw_ring_reserve(&t->p, iov);
    CHECK_EQ(n, size);
    CHECK_EQ(iov[0].iov_len, back);
    CHECK_EQ(iov[1].iov_len, size - back);
    CHECK(iov[1].iov_base == t->data);
    xw_pattern(buf, size, 100, 9);
    memcpy(iov[0].iov_base, buf, iov[0].iov_len);
    memcpy(iov[1].iov_base, buf + back, iov[1].iov_len);
    CHECK_EQ(xw_ring_commit(&t->p, size + 1), -EINVAL); /* more than reserved */
    CHECK_EQ(xw_ring_commit(&t->p, size), 0);
    CHECK_EQ(xw_ring_peek(&t->c, iov), size);
    CHECK_EQ(iov[0].iov_len, back);
    for (i = 0; i < 2; i++) {
        CHECK_EQ(xw_pattern_check(iov[i].iov_base, iov[i].iov_len, 100 + k, 9), -1);
        k += iov[i].iov_len;
    }
    CHECK_EQ(xw_ring_release(&t->c, size + 1), -EINVAL);
    CHECK_EQ(xw_ring_release(&t->c, back), 0);
    CHECK_EQ(xw_ring_readable(&t->c), size - back);
    CHECK_EQ(xw_ring_read(&t->c, buf, size), size - back);
    free(buf);
}

static void eof_and_reset(struct pair *t)
{
    uint8_t b[2] = { 1, 2 };

    CHECK(!xw_ring_at_eof(&t->c));
    CHECK_EQ(xw_ring_write(&t->p, b, 2), 2);
    xw_ring_set_eof(&t->p);
    CHECK(!xw_ring_at_eof(&t->c)); /* bytes before EOF still queued */
    CHECK_EQ(xw_ring_read(&t->c, b, 2), 2);
    CHECK(xw_ring_at_eof(&t->c));
    CHECK_EQ(xw_ring_peer_error(&t->c), 0);
    xw_ring_set_error(&t->c, ECONNRESET);
    CHECK_EQ(xw_ring_peer_error(&t->p), -ECONNRESET);
    t->ctl.error = 12345; /* unknown values are a reset too */
    CHECK_EQ(xw_ring_peer_error(&t->p), -ECONNRESET);
    xw_ring_set_error(&t->c, EPIPE);
    CHECK_EQ(xw_ring_peer_error(&t->p), -EPIPE);
}

static void kicks(struct pair *t)
{
    uint8_t b = 0;

    CHECK(!xw_ring_producer_should_kick(&t->p)); /* nobody asked */
    CHECK_EQ(xw_ring_arm_consumer(&t->c), 0);
    CHECK_EQ(xw_ring_write(&t->p, &b, 1), 1);
    CHECK(xw_ring_producer_should_kick(&t->p));
    CHECK(!xw_ring_producer_should_kick(&t->p)); /* once per arm */
    CHECK_EQ(xw_ring_arm_consumer(&t->c), 1);    /* re-check sees the byte */
    CHECK(xw_ring_arm_producer(&t->p) > 0);
    CHECK_EQ(xw_ring_read(&t->c, &b, 1), 1);
    CHECK(xw_ring_consumer_should_kick(&t->c));
    CHECK(!xw_ring_consumer_should_kick(&t->c));
}

/* Pollers on other threads see only the published indices: they answer
 * "ready" when unsure and never mark the ring broken — the owner's own calls
 * judge the peer.  (A poller once validated the peer's index against the
 * owner's private one read mid-move, and reset healthy connections.) */
static void pollers(struct pair *t)
{
    uint32_t size = t->p.size;
    uint8_t b;

    CHECK(!xw_ring_poll_readable(&t->c));
    CHECK(xw_ring_poll_writable(&t->p));
    CHECK_EQ(xw_ring_write(&t->p, "x", 1), 1);
    CHECK(xw_ring_poll_readable(&t->c));
    /* The owner's private index lags its published one (as a poller on another
     * thread may see it): no judgement from the pollers. */
    t->c.idx -= size;
    CHECK(xw_ring_poll_readable(&t->c));
    CHECK(xw_ring_poll_writable(&t->p));
    CHECK_EQ(t->c.broken, 0);
    t->c.idx += size;
    /* An impossible producer index: pollers say "ready", the owner's read
     * finds it out. */
    t->ctl.prod = t->ctl.cons + 3 * size;
    CHECK(xw_ring_poll_readable(&t->c));
    CHECK_EQ(t->c.broken, 0);
    CHECK_EQ(xw_ring_read(&t->c, &b, 1), -EPROTO);
    CHECK_EQ(t->c.broken, -EPROTO);
}

/* The peer writes the shared copy of an index we own, or moves its own one
 * back: pollers are not fooled (they read our private index), the owner's
 * next call breaks the ring. */
static void forged(struct pair *t, bool own, bool producer)
{
    struct xw_ring *r = producer ? &t->p : &t->c;
    uint8_t b = 0;

    CHECK_EQ(xw_ring_write(&t->p, "ab", 2), 2);
    CHECK_EQ(xw_ring_read(&t->c, &b, 1), 1);
    CHECK_EQ(xw_ring_writable(&t->p), t->p.size - 1); /* the producer saw the byte freed */
    if (own && producer)
        t->ctl.prod += 1; /* "one more byte": pollers on the consumer side may believe it */
    else if (own)
        t->ctl.cons += 1; /* consumed our last byte: pollers must still see it */
    else if (producer)
        t->ctl.cons -= 1; /* the consumer takes back what it freed */
    else
        t->ctl.prod -= 1; /* the producer takes back a byte we saw */
    if (own && !producer)
        CHECK(xw_ring_poll_readable(&t->c));
    if (own && producer)
        CHECK(xw_ring_poll_writable(&t->p));
    CHECK_EQ(r->broken, 0);
    CHECK_EQ(producer ? xw_ring_write(&t->p, "c", 1) : xw_ring_read(&t->c, &b, 1), -EPROTO);
    CHECK_EQ(r->broken, -EPROTO);
}

int main(void)
{
    struct pair t;
    uint32_t shift;

    for (shift = 1; shift <= XW_RING_MAX_SHIFT; shift++) {
        uint32_t size = 1u << shift;

        setup(&t, size, 0u - size / 2 - 1);
        full_empty(&t);
        stream(&t, 3ull * size + 5, shift);
        if (size >= 4)
            zero_copy_wrap(&t);
        eof_and_reset(&t);
        free(t.data);
        setup(&t, size, 0);
        kicks(&t);
        free(t.data);
        setup(&t, size, 0u - 1);
        pollers(&t);
        free(t.data);
        for (int k = 0; k < 4 && size >= 4; k++) {
            setup(&t, size, 0u - 1);
            forged(&t, k & 1, k & 2);
            free(t.data);
        }
    }
    CHECK_EQ(xw_ring_init(&t.p, &t.ctl, &t, 3), -EINVAL); /* not a power of two */
    printf("ring logic: ok for sizes 2..%u\n", 1u << XW_RING_MAX_SHIFT);
    return 0;
}

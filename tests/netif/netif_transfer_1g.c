/* Two processes move 1 GiB through ring channels, both directions at once, at several ring and message sizes; FNV checksums of what arrives must match what was sent. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "testlib.h"
#include "xenif.h"

struct cfg {
    uint32_t ring, msg;
    uint64_t bytes; /* per direction */
};

/* Sum of bytes over all configs and both directions: 1 GiB. */
static const struct cfg cfgs[] = {
    { 64 * 1024, 1000, 64ull << 20 },
    { 256 * 1024, 64 * 1024, 192ull << 20 },
    { 1024 * 1024, 65537, 128ull << 20 },
    { 4 * 1024 * 1024, 1u << 20, 128ull << 20 }, /* indirect ref pages */
};

struct sums {
    uint64_t sent, recvd;
};

/* Send and receive at once from one thread, as an event loop does. */
static struct sums pump(struct xw_channel *ch, const struct cfg *c, uint32_t seed)
{
    uint8_t *src = malloc(c->msg + 4096), *dst = malloc(c->msg);
    uint64_t out = 0, in = 0;
    struct sums s = { XW_FNV_INIT, XW_FNV_INIT };
    size_t off = 0, n;
    ssize_t r;
    bool shut = false;
    int ready;

    CHECK(src && dst);
    xw_pattern(src, c->msg + 4096, 0, seed);
    for (;;) {
        bool progress = false;

        if (out < c->bytes) {
            uint64_t start = out - off; /* this message's first byte */
            n = c->msg < c->bytes - start ? c->msg : (size_t)(c->bytes - start);
            r = xw_channel_send(ch, src + off, n - off, 0);
            CHECK(r > 0 || r == -EAGAIN);
            if (r > 0) {
                s.sent = xw_fnv(s.sent, src + off, (size_t)r);
                off += (size_t)r;
                out += (uint64_t)r;
                if (off == n) { /* next message: a different slice of src */
                    off = 0;
                    xw_pattern(src, 64, out, seed);
                }
                progress = true;
            }
        } else if (!shut) {
            CHECK_EQ(xw_channel_shutdown_write(ch), 0);
            shut = true;
        }
        r = xw_channel_recv(ch, dst, c->msg, 0);
        if (r == 0 && shut)
            break;
        CHECK(r >= 0 || r == -EAGAIN);
        if (r > 0) {
            s.recvd = xw_fnv(s.recvd, dst, (size_t)r);
            in += (uint64_t)r;
            progress = true;
        }
        if (!progress) {
            ready = xw_channel_wait(ch, XW_CHAN_READABLE | (shut ? 0 : XW_CHAN_WRITABLE), 10000);
            CHECK(ready > 0 && !(ready & XW_CHAN_ERROR));
        }
    }
    CHECK_EQ(in, c->bytes);
    free(src);
    free(dst);
    return s;
}

int main(void)
{
    const char *host = xw_sim_host();
    struct xw_xenif *x;
    struct xw_channel *ch;
    struct xw_chan_offer off;
    struct sums mine, theirs;
    int p1[2], p2[2];
    uint64_t nonce, t0;
    uint32_t peer;
    unsigned k;
    pid_t pid;

    CHECK_EQ(pipe(p1), 0);
    CHECK_EQ(pipe(p2), 0);
    pid = xw_fork();
    if (pid == 0) {
        CHECK_EQ(xw_xenif_open_sim(host, -1, &x), 0);
        CHECK_EQ(write(p2[1], &x->domid, 4), 4);
        for (k = 0; k < sizeof(cfgs) / sizeof(cfgs[0]); k++) {
            struct xw_chan_params par = { .ring_bytes = cfgs[k].ring, .spin_us = -1 };

            CHECK_EQ(read(p1[0], &off, sizeof(off)), sizeof(off));
            CHECK_EQ(xw_channel_accept(x, &off, &par, &ch, &nonce), 0);
            CHECK_EQ(write(p2[1], &nonce, 8), 8);
            mine = pump(ch, &cfgs[k], 2000 + k);
            CHECK_EQ(write(p2[1], &mine, sizeof(mine)), sizeof(mine));
            xw_channel_close(ch);
        }
        xw_xenif_close(x);
        _exit(0);
    }
    CHECK_EQ(xw_xenif_open_sim(host, -1, &x), 0);
    CHECK_EQ(read(p2[0], &peer, 4), 4);
    for (k = 0; k < sizeof(cfgs) / sizeof(cfgs[0]); k++) {
        struct xw_chan_params par = { .ring_bytes = cfgs[k].ring, .spin_us = -1 };

        t0 = xw_now_ns();
        CHECK_EQ(xw_channel_create(x, peer, &par, &ch, &off), 0);
        CHECK_EQ(write(p1[1], &off, sizeof(off)), sizeof(off));
        CHECK_EQ(read(p2[0], &nonce, 8), 8);
        CHECK_EQ(xw_channel_check_nonce(ch, nonce), 0);
        mine = pump(ch, &cfgs[k], 1000 + k);
        CHECK_EQ(read(p2[0], &theirs, sizeof(theirs)), sizeof(theirs));
        CHECK_EQ(mine.sent, theirs.recvd);
        CHECK_EQ(mine.recvd, theirs.sent);
        xw_channel_close(ch);
        printf("ring %7u msg %7u: 2 x %4llu MiB in %.2f s\n", cfgs[k].ring, cfgs[k].msg,
               (unsigned long long)(cfgs[k].bytes >> 20), (xw_now_ns() - t0) / 1e9);
    }
    xw_wait_ok(pid, "child");
    xw_xenif_close(x);
    printf("1 GiB transfer: ok\n");
    return 0;
}

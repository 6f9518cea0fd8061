/* 1000 channels open at once between two domains (two processes) under a 1024 fd limit; every channel carries checked data both ways. */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "channel.h"
#include "testlib.h"
#include "xenif.h"

#define N 1000

static struct xw_chan_params par = { .ring_bytes = 64 * 1024, .spin_us = 0 };

static void exchange(struct xw_channel **ch, uint32_t tag)
{
    uint32_t i, v;

    for (i = 0; i < N; i++) {
        v = tag ^ i;
        CHECK_EQ(xw_channel_send(ch[i], &v, sizeof(v), 5000), sizeof(v));
    }
    for (i = 0; i < N; i++) {
        CHECK_EQ(xw_channel_recv(ch[i], &v, sizeof(v), 5000), sizeof(v));
        CHECK_EQ(v, (tag ^ 0xffff) ^ i);
    }
}

int main(void)
{
    const char *host = xw_sim_host();
    struct rlimit rl = { 1024, 1024 };
    static struct xw_channel *ch[N];
    static struct xw_chan_offer off[N];
    static uint64_t nonce[N];
    struct xw_xenif *x;
    int p1[2], p2[2], i;
    uint32_t peer;
    pid_t pid;

    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0); /* soft and hard: no escape */
    CHECK_EQ(pipe(p1), 0);
    CHECK_EQ(pipe(p2), 0);
    pid = xw_fork();
    if (pid == 0) {
        CHECK_EQ(xw_xenif_open_sim(host, -1, &x), 0);
        CHECK_EQ(write(p2[1], &x->domid, 4), 4);
        for (i = 0; i < N; i++) {
            CHECK_EQ(read(p1[0], &off[i], sizeof(off[i])), sizeof(off[i]));
            CHECK_EQ(xw_channel_accept(x, &off[i], &par, &ch[i], &nonce[i]), 0);
        }
        CHECK_EQ(write(p2[1], nonce, sizeof(nonce)), sizeof(nonce));
        exchange(ch, 0xffff);
        for (i = 0; i < N; i++)
            xw_channel_close(ch[i]);
        xw_xenif_close(x);
        _exit(0);
    }
    CHECK_EQ(xw_xenif_open_sim(host, -1, &x), 0);
    CHECK_EQ(read(p2[0], &peer, 4), 4);
    for (i = 0; i < N; i++) {
        CHECK_EQ(xw_channel_create(x, peer, &par, &ch[i], &off[i]), 0);
        CHECK_EQ(write(p1[1], &off[i], sizeof(off[i])), sizeof(off[i]));
    }
    for (i = 0; i < (int)sizeof(nonce);) {
        ssize_t r = read(p2[0], (char *)nonce + i, sizeof(nonce) - (size_t)i);
        CHECK(r > 0);
        i += (int)r;
    }
    for (i = 0; i < N; i++)
        CHECK_EQ(xw_channel_check_nonce(ch[i], nonce[i]), 0);
    exchange(ch, 0);
    xw_wait_ok(pid, "child");
    for (i = 0; i < N; i++)
        xw_channel_close(ch[i]);
    xw_xenif_close(x);
    printf("%d channels: ok\n", N);
    return 0;
}

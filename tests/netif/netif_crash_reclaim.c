/* Crash reclaim: a kill -9'd domain is noticed by its blocked peer within a bounded time (-ECONNRESET) and its sim state is reclaimed by the next attach. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "testlib.h"
#include "xenif.h"

static int count_grants(const char *host, uint32_t domid)
{
    char prefix[32];
    struct dirent *de;
    DIR *d = opendir(host);
    int n = 0;

    snprintf(prefix, sizeof(prefix), "g%u-", domid);
    while (d && (de = readdir(d)))
        n += !strncmp(de->d_name, prefix, strlen(prefix));
    if (d)
        closedir(d);
    return n;
}

int main(void)
{
    const char *host = xw_sim_host();
    struct xw_chan_params par = { .ring_bytes = 64 * 1024, .spin_us = 0 };
    struct xw_chan_offer off;
    struct xw_xenif *me, *later;
    struct xw_channel *ch;
    int to_child[2], to_parent[2];
    uint64_t nonce, t0, dt;
    uint32_t child_dom;
    char buf[16];
    pid_t pid;
    ssize_t r;

    CHECK_EQ(xw_xenif_open_sim(host, -1, &me), 0);
    CHECK_EQ(pipe(to_child), 0);
    CHECK_EQ(pipe(to_parent), 0);
    pid = xw_fork();
    if (pid == 0) { /* the domain that will die: it creates (owns the grants) */
        struct xw_xenif *x;
        uint32_t peer = me->domid;

        if (xw_xenif_open_sim(host, -1, &x) || xw_channel_create(x, peer, &par, &ch, &off))
            _exit(2);
        if (write(to_parent[1], &off, sizeof(off)) != sizeof(off))
            _exit(3);
        for (;;)
            pause(); /* wait to be killed */
    }
    CHECK_EQ(read(to_parent[0], &off, sizeof(off)), sizeof(off));
    child_dom = off.domid;
    CHECK_EQ(xw_channel_accept(me, &off, &par, &ch, &nonce), 0);
    CHECK(count_grants(host, child_dom) > 0);
    CHECK_EQ(xw_channel_recv(ch, buf, sizeof(buf), 0), -EAGAIN);

    CHECK_EQ(kill(pid, SIGKILL), 0);
    t0 = xw_now_ns();
    r = xw_channel_recv(ch, buf, sizeof(buf), 10000); /* blocked when it dies */
    dt = (xw_now_ns() - t0) / 1000000u;
    CHECK_EQ(r, -ECONNRESET);
    CHECK(dt <= 1000);
    printf("peer death noticed after %llu ms\n", (unsigned long long)dt);
    CHECK_EQ(xw_channel_send(ch, "x", 1, 0), -ECONNRESET);
    xw_wait(pid);
    xw_channel_close(ch);

    /* The next attach reclaims the dead domain's grants; its id is free. */
    CHECK_EQ(xw_domain_alive(me, child_dom), 0);
    CHECK_EQ(xw_xenif_open_sim(host, -1, &later), 0);
    CHECK_EQ(count_grants(host, child_dom), 0);
    xw_xenif_close(later);
    CHECK_EQ(xw_xenif_open_sim(host, (int)child_dom, &later), 0);
    CHECK_EQ(later->domid, child_dom);
    xw_xenif_close(later);
    xw_xenif_close(me);
    printf("crash reclaim: ok\n");
    return 0;
}

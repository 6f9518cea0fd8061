/* Sim grants, unshare with keep: revoked like an unshare (old refs no longer
 * map), the object renamed k<dom>-<obj>; a plain share never takes it (fresh
 * zeroed pages); the next share_kept of as many pages with the same domain
 * gets the same pages back, contents and all; one with another domain gets
 * fresh zeroed ones; at most 8 are kept; nothing is left once the handle is
 * closed. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "testlib.h"
#include "xenif.h"

#define PAGES 64

static int count(const char *host, char kind, uint32_t dom)
{
    char prefix[32];
    struct dirent *de;
    DIR *d = opendir(host);
    int n = 0;

    CHECK(d != NULL);
    snprintf(prefix, sizeof(prefix), "%c%u-", kind, dom);
    while ((de = readdir(d)))
        n += !strncmp(de->d_name, prefix, strlen(prefix));
    closedir(d);
    return n;
}

static void fill(uint8_t *p, uint8_t seed)
{
    for (size_t i = 0; i < (size_t)PAGES * XW_PAGE_SIZE; i++)
        p[i] = (uint8_t)(seed + i * 7);
}

static bool holds(const uint8_t *p, uint8_t seed)
{
    for (size_t i = 0; i < (size_t)PAGES * XW_PAGE_SIZE; i++)
        if (p[i] != (uint8_t)(seed + i * 7))
            return false;
    return true;
}

int main(void)
{
    struct xw_xenif *a, *b, *c;
    const char *host = xw_sim_host();
    uint32_t refs[PAGES], old[PAGES];
    uint8_t *pa, *pa2, *pc, *pb;
    void *many[10];

    CHECK_EQ(xw_xenif_open_sim(host, -1, &a), 0);
    CHECK_EQ(xw_xenif_open_sim(host, -1, &b), 0);
    CHECK_EQ(xw_xenif_open_sim(host, -1, &c), 0);

    CHECK_EQ(xw_share(a, b->domid, PAGES, 1, refs, (void **)&pa), 0);
    fill(pa, 3);
    CHECK_EQ(xw_map(b, a->domid, PAGES, refs, 1, (void **)&pb), 0);
    CHECK(holds(pb, 3));
    CHECK_EQ(xw_unmap(b, pb, PAGES), 0);
    memcpy(old, refs, sizeof(old));
    CHECK_EQ(xw_unshare_keep(a, pa, PAGES), 0);
    CHECK_EQ(count(host, 'g', a->domid), 0);
    CHECK_EQ(count(host, 'k', a->domid), 1);
    CHECK_EQ(xw_map(b, a->domid, PAGES, old, 1, (void **)&pb), -ENOENT); /* revoked */
    CHECK_EQ(xw_unshare(a, pa, PAGES), -EINVAL); /* not shared any more */

    /* A plain share: fresh zeroed pages, whatever is kept. */
    CHECK_EQ(xw_share(a, b->domid, PAGES, 1, refs, (void **)&pc), 0);
    CHECK(pc != pa);
    for (size_t i = 0; i < (size_t)PAGES * XW_PAGE_SIZE; i++)
        CHECK_EQ(pc[i], 0);
    CHECK_EQ(count(host, 'k', a->domid), 1);
    CHECK_EQ(xw_unshare(a, pc, PAGES), 0);

    /* The same domain: the same pages, as they were, under new refs. */
    CHECK_EQ(xw_share_kept(a, b->domid, PAGES, 1, refs, (void **)&pa2), 0);
    CHECK(pa2 == pa);
    CHECK(holds(pa2, 3));
    CHECK_EQ(count(host, 'g', a->domid), 1);
    CHECK_EQ(count(host, 'k', a->domid), 0);
    CHECK_EQ(xw_map(b, a->domid, PAGES, old, 1, (void **)&pb), -ENOENT);
    CHECK_EQ(xw_map(b, a->domid, PAGES, refs, 1, (void **)&pb), 0);
    CHECK(holds(pb, 3));
    pb[0] = 0xee;
    CHECK_EQ(pa2[0], 0xee); /* shared again */
    CHECK_EQ(xw_unmap(b, pb, PAGES), 0);
    CHECK_EQ(xw_unshare_keep(a, pa2, PAGES), 0);

    /* Another domain: fresh zeroed pages, the kept ones stay kept. */
    CHECK_EQ(xw_share_kept(a, c->domid, PAGES, 1, refs, (void **)&pc), 0);
    CHECK(pc != pa);
    for (size_t i = 0; i < (size_t)PAGES * XW_PAGE_SIZE; i++)
        CHECK_EQ(pc[i], 0);
    CHECK_EQ(count(host, 'k', a->domid), 1);
    CHECK_EQ(xw_unshare(a, pc, PAGES), 0); /* no keep: deleted */
    CHECK_EQ(count(host, 'k', a->domid), 1);
    CHECK_EQ(count(host, 'g', a->domid), 0);

    /* At most 8 kept. */
    for (int i = 0; i < 10; i++)
        CHECK_EQ(xw_share(a, b->domid, 1, 1, refs, &many[i]), 0);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(xw_unshare_keep(a, many[i], 1), 0);
    CHECK_EQ(count(host, 'k', a->domid), 8);

    uint32_t dom = a->domid;
    xw_xenif_close(a);
    CHECK_EQ(count(host, 'k', dom) + count(host, 'g', dom), 0);
    xw_xenif_close(b);
    xw_xenif_close(c);
    printf("PASS\n");
    return 0;
}

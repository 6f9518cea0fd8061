/* A full sim host (a 1 MiB tmpfs in a mount namespace of the test's own) and a forged grant reference: mapping a ref whose grant-table page the granter never wrote (a hole, which a touch would allocate) fails with -ENOENT instead of SIGBUS; sharing fails with -ENOSPC; what was shared before still maps. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "testlib.h"
#include "xenif.h"

static char dir[] = "/tmp/xwt-holes-XXXXXX";

static void cleanup(void)
{
    umount2(dir, MNT_DETACH);
    rmdir(dir);
}

/* Write until the tmpfs is full: bytes written. */
static long fill(const char *path)
{
    static char junk[4096];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    long n = 0;
    ssize_t w;

    CHECK(fd >= 0);
    while ((w = write(fd, junk, sizeof(junk))) > 0)
        n += w;
    CHECK(w < 0 && errno == ENOSPC);
    close(fd);
    return n;
}

int main(void)
{
    struct xw_xenif *a, *b;
    char host[64], filler[64];
    uint32_t ref, forged;
    void *pa, *pb;

    xw_watchdog(30);
    CHECK_EQ(unshare(CLONE_NEWNS), 0);
    CHECK_EQ(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
    CHECK(mkdtemp(dir) != NULL);
    CHECK_EQ(mount("xwt-holes", dir, "tmpfs", 0, "size=1m,mode=0700"), 0);
    atexit(cleanup);
    snprintf(host, sizeof(host), "%s/host", dir);
    snprintf(filler, sizeof(filler), "%s/filler", dir);

    CHECK_EQ(xw_xenif_open_sim(host, -1, &a), 0);
    CHECK_EQ(xw_xenif_open_sim(host, -1, &b), 0);
    CHECK_EQ(xw_share(a, b->domid, 1, 1, &ref, &pa), 0);
    memcpy(pa, "shared", 7);
    printf("filled the tmpfs with %ld KiB\n", fill(filler) / 1024);

    /* A ref far from any entry a wrote: its table page is a hole. */
    forged = ref + 40000;
    CHECK_EQ(xw_map(b, a->domid, 1, &forged, 1, &pb), -ENOENT);
    CHECK_EQ(xw_share(a, b->domid, 1, 1, &forged, &pb), -ENOSPC);
    CHECK_EQ(xw_map(b, a->domid, 1, &ref, 1, &pb), 0);
    CHECK(!memcmp(pb, "shared", 7));
    CHECK_EQ(xw_unmap(b, pb, 1), 0);
    CHECK_EQ(xw_unshare(a, pa, 1), 0);
    xw_xenif_close(b);
    xw_xenif_close(a);
    printf("PASS\n");
    return 0;
}

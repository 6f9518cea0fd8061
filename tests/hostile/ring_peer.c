/* The hostile peer's reach into a sim host (see ring_peer.h).  The layout is
 * the sim backend's (netif-xway/sim/sim.h): g<dom>-<obj> grant objects, one
 * per share call (a channel's interface page is a one-page object), and
 * dom<dom>.evt: magic, upcall, pending[ports / 64], then port[ports]. */
#include "ring_peer.h"
#include "testlib.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xway.h>

enum { SIM_PORTS = 4096, PORT_INTER = 2 };

static struct xw_intf *map_one(const char *path, bool any_magic)
{
    struct stat st;
    struct xw_intf *i;
    int fd = open(path, O_RDWR | O_CLOEXEC);

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) < 0 || st.st_size != XW_PAGE_SIZE) {
        close(fd);
        return NULL;
    }
    i = mmap(NULL, XW_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (i == MAP_FAILED)
        return NULL;
    if (!any_magic && i->magic != XW_INTF_MAGIC) {
        munmap(i, XW_PAGE_SIZE);
        return NULL;
    }
    return i;
}

struct xw_intf *ring_peer_intf(const char *host, unsigned dom)
{
    char prefix[32], path[512];
    struct dirent *de;
    unsigned best = 0, obj;
    bool found = false;
    DIR *d = opendir(host);

    CHECK(d != NULL);
    snprintf(prefix, sizeof(prefix), "g%u-", dom);
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, strlen(prefix)))
            continue;
        obj = (unsigned)strtoul(de->d_name + strlen(prefix), NULL, 10);
        snprintf(path, sizeof(path), "%s/%s", host, de->d_name);
        struct xw_intf *i = map_one(path, false);
        if (i) {
            munmap(i, XW_PAGE_SIZE);
            if (!found || obj > best)
                best = obj;
            found = true;
        }
    }
    closedir(d);
    if (!found)
        return NULL;
    snprintf(path, sizeof(path), "%s/g%u-%u", host, dom, best);
    return map_one(path, false);
}

int ring_peer_intfs(const char *host, unsigned dom, struct xw_intf **out, int max)
{
    char prefix[32], path[512];
    struct dirent *de;
    int n = 0;
    DIR *d = opendir(host);

    CHECK(d != NULL);
    snprintf(prefix, sizeof(prefix), "g%u-", dom);
    while (n < max && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, strlen(prefix)))
            continue;
        snprintf(path, sizeof(path), "%s/%s", host, de->d_name);
        if ((out[n] = map_one(path, true)) != NULL) /* a scribbled magic too */
            n++;
    }
    closedir(d);
    return n;
}

void ring_peer_unmap(struct xw_intf *i)
{
    if (i)
        munmap(i, XW_PAGE_SIZE);
}

int ring_peer_port(const char *host, unsigned dom)
{
    char path[512];
    uint64_t w;
    int port = -1;
    FILE *f;

    snprintf(path, sizeof(path), "%s/dom%u.evt", host, dom);
    f = fopen(path, "rb");
    CHECK(f != NULL);
    CHECK(fseek(f, 8 + SIM_PORTS / 8, SEEK_SET) == 0);
    for (int i = 0; i < SIM_PORTS && fread(&w, sizeof(w), 1, f) == 1; i++)
        if ((w >> 56) == PORT_INTER)
            port = i;
    fclose(f);
    return port;
}

unsigned ring_peer_domid(void)
{
    struct xway_stats st;

    CHECK(xway_stats(&st) == 0);
    CHECK(st.domid > 0);
    return (unsigned)st.domid;
}

double ring_peer_cpu(void)
{
    struct rusage ru;

    CHECK(getrusage(RUSAGE_SELF, &ru) == 0);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Helpers of the ring tests (see ringtest.h). */
#include "ringtest.h"
#include "peer.h"
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct xway_conn_info xwt_info(int fd)
{
    struct xway_conn_info ci;
    socklen_t len = sizeof(ci);
    memset(&ci, 0, sizeof(ci));
    CHECK(xway_getsockopt(fd, XWAY_SOL, XWAY_INFO, &ci, &len) == 0);
    CHECK_EQ(len, sizeof(ci));
    return ci;
}

struct xway_conn_info xwt_info_show(const char *who, int fd)
{
    struct xway_conn_info ci = xwt_info(fd);

    printf("%s: path %s (%s), %u switch(es); ring %llu/%llu, tcp %llu/%llu bytes out/in\n", who,
           ci.path, ci.fallback, ci.switches, (unsigned long long)ci.ring_tx,
           (unsigned long long)ci.ring_rx, (unsigned long long)ci.tcp_tx,
           (unsigned long long)ci.tcp_rx);
    return ci;
}

int xwt_path_is(const char *who, int fd, const char *path, const char *reason)
{
    struct xway_conn_info ci = xwt_info(fd);
    bool ring = !strcmp(path, "ring");
    printf("%s: fd %d: path %s, fallback %s (%d), ring %u\n", who, fd, ci.path, ci.fallback,
           ci.fallback_code, ci.ring_bytes);
    if (strcmp(ci.path, path) || strcmp(ci.fallback, reason) ||
        ci.fallback_code != xwt_reason_code(reason)) {
        fprintf(stderr, "FAIL: %s: expected path %s, reason %s; got %s, %s (%d)\n", who, path,
                reason, ci.path, ci.fallback, ci.fallback_code);
        return 1;
    }
    if (ring ? ci.ring_bytes == 0 : ci.ring_bytes != 0) {
        fprintf(stderr, "FAIL: %s: path %s but ring_bytes %u (a TCP connection still holds "
                "a ring channel?)\n", who, ci.path, ci.ring_bytes);
        return 1;
    }
    return 0;
}

void xwt_expect_path(const char *who, int fd, const char *path, const char *reason)
{
    if (xwt_path_is(who, fd, path, reason))
        exit(1);
}

int xwt_reason_code(const char *name)
{
    for (int i = 0; i < XWAY_REASONS; i++) {
        const char *n = xway_reason_name(i);
        if (n && !strcmp(n, name))
            return i;
    }
    fprintf(stderr, "unknown reason name %s\n", name);
    exit(1);
}

int xwt_connect(const char *ip, unsigned port)
{
    struct sockaddr_storage ss;
    socklen_t sl = xwt_addr(ip, port, &ss);
    int fd = xway_socket(ss.ss_family, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    if (xway_connect(fd, (void *)&ss, sl) < 0) {
        fprintf(stderr, "connect %s:%u: %s\n", ip, port, strerror(errno));
        exit(1);
    }
    return fd;
}

/* Layout of the sim backend's files (netif-xway/sim/sim.h). */
enum { SIM_GREFS = 65536, SIM_PORTS = 4096, GNT_INUSE = 1 };

static int count_gnt(const char *host, int dom)
{
    char p[160];
    uint32_t e[4];
    int n = 0;
    snprintf(p, sizeof(p), "%.100s/dom%d.gnt", host, dom);
    FILE *f = fopen(p, "rb");
    if (!f)
        return 0; /* never shared anything, or cleaned up */
    for (int i = 0; i < SIM_GREFS && fread(e, sizeof(e), 1, f) == 1; i++)
        if (e[0] & GNT_INUSE)
            n++;
    fclose(f);
    if (n)
        printf("leftover: dom%d: %d grant refs in use\n", dom, n);
    return n;
}

static int count_ports(const char *host, int dom)
{
    char p[160];
    uint64_t w;
    int n = 0;
    snprintf(p, sizeof(p), "%.100s/dom%d.evt", host, dom);
    FILE *f = fopen(p, "rb");
    if (!f)
        return 0;
    /* magic, upcall, pending[SIM_PORTS / 64], then port[SIM_PORTS] */
    CHECK(fseek(f, 8 + SIM_PORTS / 8, SEEK_SET) == 0);
    for (int i = 0; i < SIM_PORTS && fread(&w, sizeof(w), 1, f) == 1; i++)
        if (w >> 56) {
            printf("leftover: dom%d event port %d state %u\n", dom, i, (unsigned)(w >> 56));
            n++;
        }
    fclose(f);
    return n;
}

/* dom's objects of kind 'g' (granted) or 'k' (kept for its next share). */
static int count_objects(const char *host, int dom, char kind, const char *what)
{
    char prefix[32];
    int n = 0;
    snprintf(prefix, sizeof(prefix), "%c%d-", kind, dom);
    DIR *d = opendir(host);
    CHECK(d != NULL);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (!strncmp(de->d_name, prefix, strlen(prefix))) {
            printf("%s: %s\n", what, de->d_name);
            n++;
        }
    closedir(d);
    return n;
}

int xwt_sim_leftovers(const char *host, int dom)
{
    int kept = count_objects(host, dom, 'k', "kept object");
    /* A live process keeps at most 8 (netif-xway/sim/gnttab.c KEEP_MAX). */
    return count_objects(host, dom, 'g', "leftover: grant object") + (kept > 8 ? kept : 0) +
           count_gnt(host, dom) + count_ports(host, dom);
}

int xwt_sim_kept(const char *host, int dom)
{
    return count_objects(host, dom, 'k', "leftover: kept object");
}

/* Address claims on a hub (hub_claim.h).
 *
 * A claim is a symbolic link in the hub's directory, "ip4-10.77.9.4" or
 * "ip6-fd00::1", whose target is the owner endpoint's name (its MAC in hex).
 * Claims are made under an exclusive flock of the directory, so two stacks
 * starting at once with one address cannot both win.  A claim whose owner no
 * longer listens (its process was killed: connecting to its endpoint is
 * refused, or the endpoint's file is gone) is stale and taken over; the
 * lock goes with a process that dies holding it.  An owner that still
 * listens may yet be dead (a forked child of it holds its listening socket,
 * with no stack behind it): the caller asks the link then (hub.c), and takes
 * the claim over (take_live) when nobody answers for the address.
 */
#include "hub_claim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void claim_name(const struct xw_cidr *a, char *buf, size_t len)
{
    char addr[INET6_ADDRSTRLEN] = "";

    inet_ntop(a->family, &a->addr, addr, sizeof(addr));
    snprintf(buf, len, "ip%c-%s", a->family == AF_INET ? '4' : '6', addr);
}

/* Does an endpoint listen on dir/name?  Unknown answers count as yes. */
static bool listening(int dirfd, const char *dir, const char *name)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd, rc;

    if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, name) >= (int)sizeof(sa.sun_path))
        return true;
    if (faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
        return false;
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return true;
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    rc = rc < 0 && (errno == ECONNREFUSED || errno == ENOENT) ? 0 : 1;
    close(fd);
    return rc;
}

static void owner_message(const struct xw_cidr *a, const char *owner, char *err, size_t errlen)
{
    char addr[INET6_ADDRSTRLEN] = "";

    inet_ntop(a->family, &a->addr, addr, sizeof(addr));
    if (strlen(owner) == 12)
        snprintf(err, errlen,
                 "XWAY_ADDR: %s is already in use on the link (by %.2s:%.2s:%.2s:%.2s:%.2s:%.2s)",
                 addr, owner, owner + 2, owner + 4, owner + 6, owner + 8, owner + 10);
    else
        snprintf(err, errlen, "XWAY_ADDR: %s is already in use on the link (by %s)", addr,
                 owner);
}

/* One address, the directory locked: 0, -EADDRINUSE (err set) or -errno. */
static int claim_one(int dirfd, const char *dir, const char *self, const struct xw_cidr *a,
                     bool take_live, char *err, size_t errlen)
{
    char name[64], owner[64];
    ssize_t n;

    claim_name(a, name, sizeof(name));
    for (int tries = 0; tries < 2; tries++) {
        if (symlinkat(self, dirfd, name) == 0)
            return 0;
        if (errno != EEXIST)
            return -errno;
        n = readlinkat(dirfd, name, owner, sizeof(owner) - 1);
        if (n < 0)
            return errno == ENOENT ? -EAGAIN : -errno;
        owner[n] = '\0';
        if (!strcmp(owner, self))
            return 0;
        if (!take_live && listening(dirfd, dir, owner)) {
            owner_message(a, owner, err, errlen);
            return -EADDRINUSE;
        }
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT) /* stale: its owner died */
            return -errno;
    }
    return -EAGAIN;
}

int xw_hub_claim(const char *dir, const char *self, const struct xw_cidr *addrs, int n,
                 bool take_live, char *err, size_t errlen)
{
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0, i;

    if (dirfd < 0)
        return -errno;
    if (flock(dirfd, LOCK_EX) < 0) {
        rc = -errno;
        goto out_close;
    }
    for (i = 0; i < n && rc == 0; i++)
        rc = claim_one(dirfd, dir, self, &addrs[i], take_live, err, errlen);
    if (rc < 0) {
        if (rc != -EADDRINUSE)
            snprintf(err, errlen, "XWAY_ADDR: cannot claim the addresses on the hub: %s",
                     strerror(-rc));
        xw_hub_unclaim(dir, self, addrs, i - 1);
    }
    flock(dirfd, LOCK_UN);
out_close:
    close(dirfd);
    return rc;
}

void xw_hub_unclaim(const char *dir, const char *self, const struct xw_cidr *addrs, int n)
{
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char name[64], owner[64];
    ssize_t len;

    if (dirfd < 0)
        return;
    for (int i = 0; i < n; i++) {
        claim_name(&addrs[i], name, sizeof(name));
        len = readlinkat(dirfd, name, owner, sizeof(owner) - 1);
        if (len < 0)
            continue;
        owner[len] = '\0';
        if (!strcmp(owner, self))
            unlinkat(dirfd, name, 0);
    }
    close(dirfd);
}

/* Links: the stack's network interfaces to the outside world (hub, tap).
 *
 * Locking: every function here is called with the stack lock held (stack/stack.h),
 * from the stack thread or an application thread inside an lwIP call.
 */
#ifndef XW_LINK_H
#define XW_LINK_H

#include "config.h"

#include <stdbool.h>

#include "lwip/netif.h"

struct xw_link;

struct xw_link_ops {
    /* The link's fd is readable: receive up to a bounded batch of frames and pass
     * each to netif.input.  Returns frames received (0 if none), or -errno. */
    int (*input)(struct xw_link *l);
    /* Send frames queued by linkoutput, if the link batches.  May be NULL. */
    void (*flush)(struct xw_link *l);
    /* netif_remove, close fds, free l. */
    void (*close)(struct xw_link *l);
    /* Take addrs[0..n) on the link: 0, or -EADDRINUSE / -errno with a message
     * in err.  NULL: probe the link for them (probe.h). */
    int (*claim)(struct xw_link *l, const struct xw_cidr *addrs, int n, char *err,
                 size_t errlen);
    /* The TCP segments lwIP may send on the link for a connection (IPv6 or
     * not) whose MSS is mss: mss, or more if the link cuts them itself (a TAP
     * with the kernel's TSO).  NULL: mss. */
    uint16_t (*tcp_seg)(struct xw_link *l, bool v6, uint16_t mss);
};

struct xw_link {
    struct netif netif; /* state = this link */
    int fd;             /* polled for POLLIN by the stack thread */
    const struct xw_link_ops *ops;
    /* Frames are still queued after flush and fd will not report when they can
     * go (the hub: a destination's accept backlog was full): poll again soon
     * (about 1 ms) and call flush, even if nothing else happens.  A link that
     * can wait for room on fd (the hub's EPOLLOUT) leaves it false. */
    bool tx_pending;
};

/* Join the hub at directory path (created if missing).  The netif is added with no
 * address, MTU mtu, Ethernet (ARP and IPv6 ND), checksums off (the hub delivers
 * frames intact).  0 or -errno. */
int xw_link_hub_open(const char *path, unsigned mtu, struct xw_link **out);

/* Give nif the configuration's addresses and gateways and make it the
 * default route.  0, or -ENOSPC (too many IPv6 addresses). */
int xw_link_configure(struct netif *nif, const struct xw_config *c);

/* Attach to the existing TAP device ifname (IFF_TAP|IFF_NO_PI), MTU mtu, with
 * the kernel's offloads (IFF_VNET_HDR, TSO, checksums: tap.c) unless
 * XWAY_TAP_OFFLOAD=off or the kernel refuses them.  0 or -errno. */
int xw_link_tap_open(const char *ifname, unsigned mtu, struct xw_link **out);

#endif

/* XWAY_* configuration: parsed and validated as a whole before anything starts. */
#ifndef XW_CONFIG_H
#define XW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>
#include <limits.h>

#include "channel.h"
#include "xway.h"

enum xw_link_kind { XW_LINK_NONE, XW_LINK_HUB, XW_LINK_TAP };
enum xw_backend_kind { XW_BACKEND_AUTO, XW_BACKEND_XEN, XW_BACKEND_SIM, XW_BACKEND_OFF };

#define XW_MAX_ADDRS 8
/* lwIP gives a netif one IPv4 address and LWIP_IPV6_NUM_ADDRESSES (4) IPv6
 * slots, slot 0 being the automatic link-local address. */
#define XW_MAX_ADDR4 1
#define XW_MAX_ADDR6 3
#define XW_HUB_DEFAULT_MTU 65535
#define XW_TAP_DEFAULT_MTU 1500
#define XW_NONE_DEFAULT_MTU 1500
#define XW_MTU_MIN 576
#define XW_MTU_MIN_IPV6 1280
#define XW_MTU_MAX 65535

/* Ring bytes per direction: a power of two in [MIN, MAX]; the default until the
 * netif-xway measurements pick a better one. */
#define XW_RING_MIN (64UL * 1024)
#define XW_RING_MAX (4UL * 1024 * 1024)
#define XW_RING_DEFAULT XW_CHAN_DEFAULT_RING /* netif-xway/channel.h */
#define XW_SPIN_US_DEFAULT 50
#define XW_SPIN_US_MAX 1000000
#define XW_DOMID_MAX 0x7FEF /* DOMID_FIRST_RESERVED - 1 */

/* A hub endpoint is the AF_UNIX socket "<hub dir>/<12 hex digits of its MAC>";
 * the whole name must fit sun_path (108 bytes with its NUL), so the directory
 * name may have at most 108 - 1 - 1 - 12 = 94 bytes. */
#define XW_HUB_NAME_LEN 12
#define XW_HUB_PATH_MAX (108 - 2 - XW_HUB_NAME_LEN)

struct xw_cidr {
    int family; /* AF_INET or AF_INET6 */
    union {
        struct in_addr v4;
        struct in6_addr v6;
    } addr;
    unsigned prefix;
};

/* The validated configuration.  Plain data; owned by whoever parsed it. */
struct xw_config {
    enum xw_link_kind link_kind;
    char link_arg[PATH_MAX]; /* hub directory or TAP interface name */
    struct xw_cidr addrs[XW_MAX_ADDRS];
    int n_addrs;
    bool has_gw4, has_gw6;
    struct in_addr gw4;
    struct in6_addr gw6;
    unsigned mtu; /* resolved: the link's default when not given */
    int log_level;
    enum xw_backend_kind backend;
    char host[PATH_MAX]; /* sim host directory; "" when unset */
    int domid;           /* -1: allocate */
    unsigned long ring;  /* bytes per direction */
    unsigned spin_us;
};

/* Read the XWAY_* environment into *pub (unset or empty variables: the default).
 * The strings point into the environment.  A numeric variable that is not a
 * number becomes an out-of-range value, which xw_config_parse refuses quoting
 * the variable's text ("XWAY_MTU=12x: ..."); numbers are quoted as typed
 * ("XWAY_RING=3M: ..."). */
void xw_config_from_env(struct xway_config *pub);

/* Validate *pub into *out.  0, or -EINVAL with a message naming the variable and
 * the value in err (e.g. "XWAY_MTU=70000: must be 576..65535"). */
int xw_config_parse(const struct xway_config *pub, struct xw_config *out, char *err,
                    size_t errlen);

/* Routing by the configuration alone (no running stack needed; the shim's
 * routing and the stack's use these).  addr: 4 or 16 bytes in network order.
 * is_local: one of the addresses of family; unreachable: NULL when the stack
 * can reach addr (on-link, or a gateway of that family), else why not
 * ("loopback destination", ...). */
bool xw_config_is_local(const struct xw_config *c, int family, const void *addr);
const char *xw_config_unreachable(const struct xw_config *c, int family, const void *addr);

#endif

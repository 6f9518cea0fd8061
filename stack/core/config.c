/* XWAY_* configuration: read from the environment or a struct xway_config, and
 * validated as a whole into a struct xw_config before anything starts.
 *
 * Every refusal is -EINVAL with one line naming the variable and its value as the
 * user wrote it.  Choices: XWAY_ADDR items must carry their prefix (a defaulted
 * /32 would silently make every neighbour off-link); link-local IPv6 addresses
 * are automatic and may not be given; an empty variable counts as unset.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Set by xw_config_from_env for a numeric variable whose text is not a number. */
#define ENV_BAD INT_MIN
#define ENV_BAD_LONG LONG_MIN

static const char *const log_names[] = {"error", "warn", "info", "debug"};
static const char *const backend_names[] = {"auto", "xen", "sim", "off"};

struct err_buf {
    char *buf;
    size_t len;
};

static int fail(struct err_buf *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct err_buf *e, const char *fmt, ...)
{
    va_list ap;

    if (e->buf && e->len) {
        va_start(ap, fmt);
        vsnprintf(e->buf, e->len, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* ---- numbers: strict decimal, no sign, no spaces, no overflow ---- */

static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;

    if (!*s)
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        if (v > (max - (unsigned long)(*s - '0')) / 10)
            return -EINVAL;
        v = v * 10 + (unsigned long)(*s - '0');
    }
    *out = v;
    return 0;
}

/* "262144", "256K" or "1M" (K = 1024). */
static int parse_size(const char *s, unsigned long *out)
{
    char digits[32];
    size_t n = strlen(s);
    unsigned long mult = 1, v;

    if (n == 0 || n >= sizeof(digits))
        return -EINVAL;
    memcpy(digits, s, n + 1);
    if (digits[n - 1] == 'K' || digits[n - 1] == 'k')
        mult = 1024;
    else if (digits[n - 1] == 'M' || digits[n - 1] == 'm')
        mult = 1024 * 1024;
    if (mult != 1)
        digits[n - 1] = '\0';
    if (parse_ulong(digits, LONG_MAX / mult, &v))
        return -EINVAL;
    *out = v * mult;
    return 0;
}

static long env_int_value(const char *s)
{
    unsigned long v;
    return parse_ulong(s, INT_MAX, &v) ? ENV_BAD : (long)v;
}

static long env_size_value(const char *s)
{
    unsigned long v;
    return parse_size(s, &v) ? ENV_BAD_LONG : (long)v;
}

static long env_log_value(const char *s)
{
    for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++)
        if (!strcasecmp(s, log_names[i]))
            return (long)i;
    return ENV_BAD;
}

/* ---- the environment ---- */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static long env_num(const char *name, long (*conv)(const char *), long dflt)
{
    const char *v = env(name);
    return v ? conv(v) : dflt;
}

void xw_config_from_env(struct xway_config *pub)
{
    memset(pub, 0, sizeof(*pub));
    pub->link = env("XWAY_LINK");
    pub->addr = env("XWAY_ADDR");
    pub->gw = env("XWAY_GW");
    pub->backend = env("XWAY_BACKEND");
    pub->host = env("XWAY_HOST");
    pub->mtu = (int)env_num("XWAY_MTU", env_int_value, 0);
    pub->log_level = (int)env_num("XWAY_LOG", env_log_value, -1);
    pub->domid = (int)env_num("XWAY_DOMID", env_int_value, -1);
    pub->ring = env_num("XWAY_RING", env_size_value, 0);
    pub->spin_us = (int)env_num("XWAY_SPIN_US", env_int_value, -1);
}

/* The text to quote for a numeric variable: the environment's own text when it is
 * what produced v (so the user reads what they typed), else the number. */
static const char *num_text(const char *name, long v, long (*conv)(const char *),
                            char *buf, size_t len)
{
    const char *e = env(name);

    if (e && conv(e) == v)
        return e;
    snprintf(buf, len, "%ld", v);
    return buf;
}

/* ---- scalar settings ---- */

static int parse_log(const struct xway_config *pub, struct xw_config *out, struct err_buf *e)
{
    char buf[32];

    if (pub->log_level == -1) {
        out->log_level = XWAY_LOG_WARN;
        return 0;
    }
    if (pub->log_level < XWAY_LOG_ERROR || pub->log_level > XWAY_LOG_DEBUG)
        return fail(e, "XWAY_LOG=%s: must be error, warn, info or debug",
                    num_text("XWAY_LOG", pub->log_level, env_log_value, buf, sizeof(buf)));
    out->log_level = pub->log_level;
    return 0;
}

static int parse_backend(const struct xway_config *pub, struct xw_config *out,
                         struct err_buf *e)
{
    if (!pub->backend || !*pub->backend) {
        out->backend = XW_BACKEND_AUTO;
        return 0;
    }
    for (size_t i = 0; i < sizeof(backend_names) / sizeof(backend_names[0]); i++) {
        if (!strcmp(pub->backend, backend_names[i])) {
            out->backend = (enum xw_backend_kind)i;
            return 0;
        }
    }
    return fail(e, "XWAY_BACKEND=%s: must be auto, xen, sim or off", pub->backend);
}

static int parse_host(const struct xway_config *pub, struct xw_config *out, struct err_buf *e)
{
    out->host[0] = '\0';
    if (!pub->host || !*pub->host)
        return 0;
    if (strlen(pub->host) >= sizeof(out->host))
        return fail(e, "XWAY_HOST=%s: longer than %zu bytes", pub->host,
                    sizeof(out->host) - 1);
    strcpy(out->host, pub->host);
    return 0;
}

static int parse_domid(const struct xway_config *pub, struct xw_config *out,
                       struct err_buf *e)
{
    char buf[32];

    if (pub->domid != -1 && (pub->domid < 0 || pub->domid > XW_DOMID_MAX))
        return fail(e, "XWAY_DOMID=%s: must be 0..%d",
                    num_text("XWAY_DOMID", pub->domid, env_int_value, buf, sizeof(buf)),
                    XW_DOMID_MAX);
    out->domid = pub->domid;
    return 0;
}

static int parse_ring(const struct xway_config *pub, struct xw_config *out, struct err_buf *e)
{
    char buf[32];
    long r = pub->ring;

    if (r == 0) {
        out->ring = XW_RING_DEFAULT;
        return 0;
    }
    if (r < (long)XW_RING_MIN || r > (long)XW_RING_MAX || (r & (r - 1)))
        return fail(e, "XWAY_RING=%s: must be a power of two from 64K to 4M",
                    num_text("XWAY_RING", r, env_size_value, buf, sizeof(buf)));
    out->ring = (unsigned long)r;
    return 0;
}

static int parse_spin(const struct xway_config *pub, struct xw_config *out, struct err_buf *e)
{
    char buf[32];

    if (pub->spin_us == -1) {
        out->spin_us = XW_SPIN_US_DEFAULT;
        return 0;
    }
    if (pub->spin_us < 0 || pub->spin_us > XW_SPIN_US_MAX)
        return fail(e, "XWAY_SPIN_US=%s: must be 0..%d",
                    num_text("XWAY_SPIN_US", pub->spin_us, env_int_value, buf, sizeof(buf)),
                    XW_SPIN_US_MAX);
    out->spin_us = (unsigned)pub->spin_us;
    return 0;
}

/* ---- XWAY_LINK ---- */

/* The kernel's dev_valid_name(): 1..15 bytes, not "." or "..", no '/', ':' or space. */
static bool ifname_valid(const char *n)
{
    size_t len = strlen(n);

    if (len == 0 || len > 15 || !strcmp(n, ".") || !strcmp(n, ".."))
        return false;
    for (; *n; n++)
        if (*n == '/' || *n == ':' || isspace((unsigned char)*n))
            return false;
    return true;
}

static int parse_link(const struct xway_config *pub, struct xw_config *out, struct err_buf *e)
{
    const char *l = pub->link;

    out->link_kind = XW_LINK_NONE;
    out->link_arg[0] = '\0';
    if (!l || !*l)
        return 0;
    if (!strncmp(l, "hub:", 4)) {
        if (!l[4])
            return fail(e, "XWAY_LINK=%s: hub needs a directory (hub:PATH)", l);
        if (strlen(l + 4) > XW_HUB_PATH_MAX)
            return fail(e, "XWAY_LINK=%s: hub directory name longer than %d bytes", l,
                        XW_HUB_PATH_MAX);
        out->link_kind = XW_LINK_HUB;
    } else if (!strncmp(l, "tap:", 4)) {
        if (!ifname_valid(l + 4))
            return fail(e, "XWAY_LINK=%s: not a valid interface name (1..15 bytes, no '/', ':' or spaces)",
                        l);
        out->link_kind = XW_LINK_TAP;
    } else {
        return fail(e, "XWAY_LINK=%s: must be hub:PATH or tap:IFNAME", l);
    }
    strcpy(out->link_arg, l + 4);
    return 0;
}

/* ---- address lists ---- */

/* Split a comma and/or whitespace separated list.  Calls item() for each item;
 * an empty item between commas, or a leading/trailing comma, is refused. */
static int for_each_item(const char *list, int (*item)(const char *it, void *arg), void *arg)
{
    char buf[128];
    const char *p = list;
    bool need_item = false; /* after a comma */

    for (;;) {
        size_t n;
        int rc;

        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            return need_item ? -EINVAL : 0;
        if (*p == ',')
            return -EINVAL;
        n = strcspn(p, ", \t\n\r\v\f");
        if (n >= sizeof(buf))
            return -E2BIG;
        memcpy(buf, p, n);
        buf[n] = '\0';
        rc = item(buf, arg);
        if (rc)
            return rc;
        p += n;
        while (isspace((unsigned char)*p))
            p++;
        need_item = *p == ',';
        if (need_item)
            p++;
    }
}

struct list_ctx {
    struct xw_config *out;
    struct err_buf *e;
    const char *var, *value;
    bool explained; /* an item's own message is in e */
};

static int item_fail(struct list_ctx *c, const char *item, const char *why)
{
    c->explained = true;
    return fail(c->e, "%s=%s: %s: %s", c->var, c->value, item, why);
}

static int parse_ip(const char *text, struct xw_cidr *a)
{
    if (inet_pton(AF_INET, text, &a->addr.v4) == 1)
        a->family = AF_INET;
    else if (inet_pton(AF_INET6, text, &a->addr.v6) == 1)
        a->family = AF_INET6;
    else
        return -EINVAL;
    return 0;
}

static uint32_t mask4(unsigned prefix)
{
    return prefix ? 0xffffffffu << (32 - prefix) : 0;
}

/* Why a host address may not be used, or NULL. */
static const char *addr_unusable(const struct xw_cidr *a)
{
    if (a->family == AF_INET) {
        uint32_t h = ntohl(a->addr.v4.s_addr), m = mask4(a->prefix);
        if (h == 0 || h >> 24 == 127 || h >> 28 == 0xe || h == 0xffffffffu)
            return "not a unicast host address";
        if (a->prefix < 31 && ((h & ~m) == 0 || (h & ~m) == ~m))
            return "is the network or broadcast address of its prefix";
        return NULL;
    }
    if (IN6_IS_ADDR_UNSPECIFIED(&a->addr.v6) || IN6_IS_ADDR_LOOPBACK(&a->addr.v6) ||
        IN6_IS_ADDR_MULTICAST(&a->addr.v6) || IN6_IS_ADDR_V4MAPPED(&a->addr.v6))
        return "not a unicast host address";
    if (IN6_IS_ADDR_LINKLOCAL(&a->addr.v6))
        return "link-local addresses are automatic";
    return NULL;
}

static bool same_addr(const struct xw_cidr *a, const struct xw_cidr *b)
{
    if (a->family != b->family)
        return false;
    if (a->family == AF_INET)
        return a->addr.v4.s_addr == b->addr.v4.s_addr;
    return IN6_ARE_ADDR_EQUAL(&a->addr.v6, &b->addr.v6);
}

static int count_family(const struct xw_config *out, int family)
{
    int n = 0;
    for (int i = 0; i < out->n_addrs; i++)
        n += out->addrs[i].family == family;
    return n;
}

static int addr_item(const char *item, void *arg)
{
    struct list_ctx *c = arg;
    struct xw_cidr a = {0};
    char host[128];
    const char *slash = strchr(item, '/'), *why;
    unsigned long prefix;

    if (!slash)
        return item_fail(c, item, "prefix length required (ADDR/PREFIX)");
    memcpy(host, item, (size_t)(slash - item));
    host[slash - item] = '\0';
    if (parse_ip(host, &a))
        return item_fail(c, item, "not an IPv4 or IPv6 address");
    if (parse_ulong(slash + 1, a.family == AF_INET ? 32 : 128, &prefix) || prefix == 0)
        return item_fail(c, item, a.family == AF_INET ? "prefix must be 1..32"
                                                      : "prefix must be 1..128");
    a.prefix = (unsigned)prefix;
    why = addr_unusable(&a);
    if (why)
        return item_fail(c, item, why);
    for (int i = 0; i < c->out->n_addrs; i++)
        if (same_addr(&a, &c->out->addrs[i]))
            return item_fail(c, item, "given twice");
    if (a.family == AF_INET && count_family(c->out, AF_INET) >= XW_MAX_ADDR4)
        return item_fail(c, item, "at most one IPv4 address");
    if (a.family == AF_INET6 && count_family(c->out, AF_INET6) >= XW_MAX_ADDR6)
        return item_fail(c, item, "at most 3 IPv6 addresses");
    c->out->addrs[c->out->n_addrs++] = a;
    return 0;
}

static int list_fail(struct list_ctx *c, int rc)
{
    if (rc == -EINVAL && c->explained)
        return rc;
    if (rc == -EINVAL || rc == -E2BIG)
        return fail(c->e, "%s=%s: %s", c->var, c->value,
                    rc == -E2BIG ? "item too long" : "empty item in the list");
    return rc;
}

static int parse_addrs(const struct xway_config *pub, struct xw_config *out,
                       struct err_buf *e)
{
    struct list_ctx c = {out, e, "XWAY_ADDR", pub->addr, false};
    int rc;

    out->n_addrs = 0;
    if (!pub->addr || !*pub->addr)
        return 0;
    rc = for_each_item(pub->addr, addr_item, &c);
    return rc ? list_fail(&c, rc) : 0;
}

static bool in_prefix6(const struct in6_addr *x, const struct xw_cidr *net)
{
    for (unsigned bit = 0; bit < net->prefix; bit++) {
        unsigned byte = bit / 8, m = 0x80u >> (bit % 8);
        if ((x->s6_addr[byte] & m) != (net->addr.v6.s6_addr[byte] & m))
            return false;
    }
    return true;
}

static bool onlink(const struct xw_config *c, int family, const void *addr)
{
    for (int i = 0; i < c->n_addrs; i++) {
        const struct xw_cidr *a = &c->addrs[i];
        uint32_t x;
        if (a->family != family)
            continue;
        if (family == AF_INET) {
            memcpy(&x, addr, 4);
            if (!((ntohl(a->addr.v4.s_addr) ^ ntohl(x)) & mask4(a->prefix)))
                return true;
        } else if (in_prefix6(addr, a)) {
            return true;
        }
    }
    return false;
}

bool xw_config_is_local(const struct xw_config *c, int family, const void *addr)
{
    for (int i = 0; i < c->n_addrs; i++)
        if (c->addrs[i].family == family &&
            !memcmp(&c->addrs[i].addr, addr, family == AF_INET ? 4 : 16))
            return true;
    return false;
}

const char *xw_config_unreachable(const struct xw_config *c, int family, const void *addr)
{
    static const unsigned char zero[16];
    const unsigned char *a = addr;

    if (family == AF_INET ? a[0] == 127 : IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)addr))
        return "loopback destination";
    if (!memcmp(a, zero, family == AF_INET ? 4 : 16))
        return "unspecified destination";
    if (onlink(c, family, addr) || (family == AF_INET ? c->has_gw4 : c->has_gw6))
        return NULL;
    return "outside XWAY_ADDR's prefixes";
}

/* Is gw on-link: within the prefix of one of our addresses (or IPv6 link-local)? */
static bool gw_onlink(const struct xw_config *out, const struct xw_cidr *gw)
{
    if (gw->family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&gw->addr.v6))
        return true;
    return onlink(out, gw->family, &gw->addr);
}

static int gw_item(const char *item, void *arg)
{
    struct list_ctx *c = arg;
    struct xw_config *out = c->out;
    struct xw_cidr g = {0};

    if (parse_ip(item, &g))
        return item_fail(c, item, "not an IPv4 or IPv6 address (no prefix here)");
    g.prefix = g.family == AF_INET ? 32 : 128;
    if (addr_unusable(&g) && !(g.family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&g.addr.v6)))
        return item_fail(c, item, "not a unicast address");
    if (g.family == AF_INET ? out->has_gw4 : out->has_gw6)
        return item_fail(c, item, "at most one gateway per address family");
    for (int i = 0; i < out->n_addrs; i++)
        if (same_addr(&g, &out->addrs[i]))
            return item_fail(c, item, "is one of our own addresses (XWAY_ADDR)");
    if (!gw_onlink(out, &g))
        return item_fail(c, item, "not within the prefix of an XWAY_ADDR address");
    if (g.family == AF_INET) {
        out->has_gw4 = true;
        out->gw4 = g.addr.v4;
    } else {
        out->has_gw6 = true;
        out->gw6 = g.addr.v6;
    }
    return 0;
}

static int parse_gw(const struct xway_config *pub, struct xw_config *out, struct err_buf *e)
{
    struct list_ctx c = {out, e, "XWAY_GW", pub->gw, false};
    int rc;

    out->has_gw4 = out->has_gw6 = false;
    if (!pub->gw || !*pub->gw)
        return 0;
    rc = for_each_item(pub->gw, gw_item, &c);
    return rc ? list_fail(&c, rc) : 0;
}

/* ---- XWAY_MTU, after the link and the addresses it depends on ---- */

static int parse_mtu(const struct xway_config *pub, struct xw_config *out, struct err_buf *e)
{
    static const unsigned dflt[] = {
        [XW_LINK_NONE] = XW_NONE_DEFAULT_MTU,
        [XW_LINK_HUB] = XW_HUB_DEFAULT_MTU,
        [XW_LINK_TAP] = XW_TAP_DEFAULT_MTU,
    };
    char buf[32];
    const char *text = num_text("XWAY_MTU", pub->mtu, env_int_value, buf, sizeof(buf));

    if (pub->mtu == 0) {
        out->mtu = dflt[out->link_kind];
    } else if (pub->mtu < XW_MTU_MIN || pub->mtu > XW_MTU_MAX) {
        return fail(e, "XWAY_MTU=%s: must be %d..%d", text, XW_MTU_MIN, XW_MTU_MAX);
    } else {
        out->mtu = (unsigned)pub->mtu;
    }
    if (out->mtu < XW_MTU_MIN_IPV6 && count_family(out, AF_INET6))
        return fail(e, "XWAY_MTU=%s: must be at least %d with an IPv6 address in XWAY_ADDR",
                    text, XW_MTU_MIN_IPV6);
    return 0;
}

int xw_config_parse(const struct xway_config *pub, struct xw_config *out, char *err,
                    size_t errlen)
{
    struct err_buf e = {err, errlen};
    int rc;

    if (err && errlen)
        err[0] = '\0';
    memset(out, 0, sizeof(*out));
    if ((rc = parse_log(pub, out, &e)) || (rc = parse_link(pub, out, &e)) ||
        (rc = parse_addrs(pub, out, &e)) || (rc = parse_gw(pub, out, &e)) ||
        (rc = parse_mtu(pub, out, &e)) || (rc = parse_backend(pub, out, &e)) ||
        (rc = parse_host(pub, out, &e)) || (rc = parse_domid(pub, out, &e)) ||
        (rc = parse_ring(pub, out, &e)) || (rc = parse_spin(pub, out, &e)))
        return rc;
    return 0;
}

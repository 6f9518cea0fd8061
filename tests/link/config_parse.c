/* XWAY_* parsing: every variable's good values, defaults and refusals, with the
 * variable and the value named in each message. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "testlib.h"

static struct xw_config cfg;
static char err[512];

static void defaults(struct xway_config *p)
{
    memset(p, 0, sizeof(*p));
    p->log_level = -1;
    p->domid = -1;
    p->spin_us = -1;
}

static int parse(const struct xway_config *p)
{
    return xw_config_parse(p, &cfg, err, sizeof(err));
}

/* The refusal must be -EINVAL and its message must contain each of the needles. */
#define REFUSED(p, ...)                                                             \
    do {                                                                            \
        const char *needles_[] = {__VA_ARGS__};                                     \
        CHECK_EQ(parse(p), -EINVAL);                                                \
        for (size_t i_ = 0; i_ < sizeof(needles_) / sizeof(needles_[0]); i_++) {    \
            if (!strstr(err, needles_[i_])) {                                       \
                fprintf(stderr, "%s:%d: message \"%s\" lacks \"%s\"\n", __FILE__,   \
                        __LINE__, err, needles_[i_]);                               \
                exit(1);                                                            \
            }                                                                       \
        }                                                                           \
    } while (0)

static void test_defaults(void)
{
    struct xway_config p;
    defaults(&p);
    CHECK_EQ(parse(&p), 0);
    CHECK_EQ(cfg.link_kind, XW_LINK_NONE);
    CHECK_EQ(cfg.mtu, 1500);
    CHECK_EQ(cfg.log_level, XWAY_LOG_WARN);
    CHECK_EQ(cfg.backend, XW_BACKEND_AUTO);
    CHECK_EQ(cfg.domid, -1);
    CHECK_EQ(cfg.ring, XW_RING_DEFAULT);
    CHECK_EQ(cfg.spin_us, XW_SPIN_US_DEFAULT);
    CHECK_EQ(cfg.n_addrs, 0);
    CHECK(!cfg.has_gw4 && !cfg.has_gw6);
    CHECK_EQ(cfg.host[0], 0);
    CHECK_EQ(err[0], 0);
}

static void test_link(void)
{
    struct xway_config p;
    char longdir[200];

    defaults(&p);
    p.link = "hub:/tmp/xw hub";
    CHECK_EQ(parse(&p), 0);
    CHECK_EQ(cfg.link_kind, XW_LINK_HUB);
    CHECK(!strcmp(cfg.link_arg, "/tmp/xw hub"));
    CHECK_EQ(cfg.mtu, XW_HUB_DEFAULT_MTU);
    p.link = "tap:xw0";
    CHECK_EQ(parse(&p), 0);
    CHECK_EQ(cfg.link_kind, XW_LINK_TAP);
    CHECK(!strcmp(cfg.link_arg, "xw0"));
    CHECK_EQ(cfg.mtu, XW_TAP_DEFAULT_MTU);
    p.link = "tap:sixteen-chars-xy";
    REFUSED(&p, "XWAY_LINK=tap:sixteen-chars-xy", "interface name");
    p.link = "tap:123456789012345"; /* exactly 15 */
    CHECK_EQ(parse(&p), 0);
    p.link = "tap:";
    REFUSED(&p, "XWAY_LINK=tap:");
    p.link = "tap:a/b";
    REFUSED(&p, "XWAY_LINK=tap:a/b");
    p.link = "tap:..";
    REFUSED(&p, "XWAY_LINK=tap:..");
    p.link = "hub:";
    REFUSED(&p, "XWAY_LINK=hub:", "directory");
    p.link = "udp:1.2.3.4";
    REFUSED(&p, "XWAY_LINK=udp:1.2.3.4", "hub:PATH or tap:IFNAME");
    p.link = "HUB:/tmp/x";
    REFUSED(&p, "XWAY_LINK=HUB:/tmp/x");
    /* The endpoint socket "<dir>/<12 hex>" must fit sun_path (108). */
    memcpy(longdir, "hub:", 4);
    memset(longdir + 4, 'd', XW_HUB_PATH_MAX);
    longdir[4 + XW_HUB_PATH_MAX] = '\0';
    p.link = longdir;
    CHECK_EQ(parse(&p), 0);
    CHECK_EQ(strlen(cfg.link_arg) + 1 + XW_HUB_NAME_LEN + 1, 108);
    longdir[4 + XW_HUB_PATH_MAX] = 'd';
    longdir[5 + XW_HUB_PATH_MAX] = '\0';
    REFUSED(&p, "XWAY_LINK=hub:ddd", "longer than 94");
}

static void test_addr(void)
{
    struct xway_config p;

    defaults(&p);
    p.addr = "10.0.0.2/24";
    CHECK_EQ(parse(&p), 0);
    CHECK_EQ(cfg.n_addrs, 1);
    CHECK_EQ(cfg.addrs[0].family, AF_INET);
    CHECK_EQ(cfg.addrs[0].prefix, 24);
    CHECK_EQ(cfg.addrs[0].addr.v4.s_addr, htonl(0x0a000002));
    p.addr = " 10.0.0.2/24 ,fd00::2/64\tfd01::2/48 ";
    CHECK_EQ(parse(&p), 0);
    CHECK_EQ(cfg.n_addrs, 3);
    CHECK_EQ(cfg.addrs[1].family, AF_INET6);
    CHECK_EQ(cfg.addrs[1].prefix, 64);
    CHECK_EQ(cfg.addrs[1].addr.v6.s6_addr[0], 0xfd);
    CHECK_EQ(cfg.addrs[1].addr.v6.s6_addr[15], 2);
    CHECK_EQ(cfg.addrs[2].prefix, 48);
    p.addr = "10.0.0.2/31"; /* point-to-point: no network/broadcast address */
    CHECK_EQ(parse(&p), 0);

    p.addr = "10.0.0.2";
    REFUSED(&p, "XWAY_ADDR=10.0.0.2", "prefix length required");
    p.addr = "10.0.0.2/33";
    REFUSED(&p, "XWAY_ADDR=10.0.0.2/33", "1..32");
    p.addr = "10.0.0.2/0";
    REFUSED(&p, "XWAY_ADDR=10.0.0.2/0", "1..32");
    p.addr = "fd00::1/129";
    REFUSED(&p, "XWAY_ADDR=fd00::1/129", "1..128");
    p.addr = "10.0.0.2/24x";
    REFUSED(&p, "XWAY_ADDR=10.0.0.2/24x");
    p.addr = "10.0.0.2/+24";
    REFUSED(&p, "XWAY_ADDR=10.0.0.2/+24");
    p.addr = "10.0.0.2/99999999999999999999999";
    REFUSED(&p, "XWAY_ADDR=10.0.0.2/9999");
    p.addr = "10.0.0.256/24";
    REFUSED(&p, "XWAY_ADDR=10.0.0.256/24", "not an IPv4 or IPv6 address");
    p.addr = "10.0.0.2x/24";
    REFUSED(&p, "XWAY_ADDR=10.0.0.2x/24");
    p.addr = "10.0.0.2/24,,fd00::1/64";
    REFUSED(&p, "XWAY_ADDR=10.0.0.2/24,,fd00::1/64", "empty item");
    p.addr = "10.0.0.2/24,";
    REFUSED(&p, "XWAY_ADDR=10.0.0.2/24,", "empty item");
    p.addr = ",10.0.0.2/24";
    REFUSED(&p, "XWAY_ADDR=,10.0.0.2/24", "empty item");
    p.addr = "10.0.0.2/24,10.0.1.2/24";
    REFUSED(&p, "XWAY_ADDR=10.0.0.2/24,10.0.1.2/24", "at most one IPv4");
    p.addr = "fd00::1/64,fd00::2/64,fd00::3/64,fd00::4/64";
    REFUSED(&p, "XWAY_ADDR=fd00::1/64", "fd00::4/64", "at most 3 IPv6");
    p.addr = "fd00::1/64,fd00::1/64";
    REFUSED(&p, "given twice");
    p.addr = "fe80::1/64";
    REFUSED(&p, "XWAY_ADDR=fe80::1/64", "link-local");
    p.addr = "ff02::1/64";
    REFUSED(&p, "XWAY_ADDR=ff02::1/64", "unicast");
    p.addr = "224.0.0.1/24";
    REFUSED(&p, "XWAY_ADDR=224.0.0.1/24", "unicast");
    p.addr = "127.0.0.2/8";
    REFUSED(&p, "XWAY_ADDR=127.0.0.2/8");
    p.addr = "0.0.0.0/8";
    REFUSED(&p, "XWAY_ADDR=0.0.0.0/8");
    p.addr = "10.0.0.0/24";
    REFUSED(&p, "XWAY_ADDR=10.0.0.0/24", "network or broadcast");
    p.addr = "10.0.0.255/24";
    REFUSED(&p, "XWAY_ADDR=10.0.0.255/24", "network or broadcast");
    p.addr = "::/64";
    REFUSED(&p, "XWAY_ADDR=::/64");
    p.addr = "::ffff:10.0.0.1/96";
    REFUSED(&p, "XWAY_ADDR=::ffff:10.0.0.1/96");
    p.addr = "10.0.0.2/24 1111111111111111111111111111111111111111111111111111111111111111"
             "1111111111111111111111111111111111111111111111111111111111111111111111111/8";
    REFUSED(&p, "XWAY_ADDR=10.0.0.2/24 1111", "too long");
    p.addr = "   ";
    CHECK_EQ(parse(&p), 0);
    CHECK_EQ(cfg.n_addrs, 0);
}

static void test_gw(void)
{
    struct xway_config p;

    defaults(&p);
    p.addr = "10.0.0.2/24,fd00::2/64";
    p.gw = "10.0.0.1, fd00::1";
    CHECK_EQ(parse(&p), 0);
    CHECK(cfg.has_gw4 && cfg.has_gw6);
    CHECK_EQ(cfg.gw4.s_addr, htonl(0x0a000001));
    CHECK_EQ(cfg.gw6.s6_addr[15], 1);
    p.gw = "fe80::1";
    CHECK_EQ(parse(&p), 0);
    CHECK(!cfg.has_gw4 && cfg.has_gw6);
    p.gw = "10.0.1.1";
    REFUSED(&p, "XWAY_GW=10.0.1.1", "not within the prefix");
    p.gw = "10.0.0.1,10.0.0.3";
    REFUSED(&p, "XWAY_GW=10.0.0.1,10.0.0.3", "at most one gateway");
    p.gw = "10.0.0.1/24";
    REFUSED(&p, "XWAY_GW=10.0.0.1/24", "no prefix");
    p.gw = "10.0.0.2";
    REFUSED(&p, "XWAY_GW=10.0.0.2", "own addresses");
    p.gw = "ff02::1";
    REFUSED(&p, "XWAY_GW=ff02::1", "unicast");
    p.gw = "fd01::1";
    REFUSED(&p, "XWAY_GW=fd01::1", "not within the prefix");
    p.gw = "10.0.0.1,";
    REFUSED(&p, "XWAY_GW=10.0.0.1,", "empty item");
    p.gw = "router";
    REFUSED(&p, "XWAY_GW=router");
    p.addr = "fd00::2/64";
    p.gw = "10.0.0.1";
    REFUSED(&p, "XWAY_GW=10.0.0.1", "not within");
}

static void test_mtu(void)
{
    struct xway_config p;

    defaults(&p);
    p.link = "hub:/tmp/h";
    p.mtu = 65535;
    CHECK_EQ(parse(&p), 0);
    CHECK_EQ(cfg.mtu, 65535);
    p.mtu = 576;
    CHECK_EQ(parse(&p), 0);
    CHECK_EQ(cfg.mtu, 576);
    p.mtu = 70000;
    REFUSED(&p, "XWAY_MTU=70000: must be 576..65535");
    p.mtu = 575;
    REFUSED(&p, "XWAY_MTU=575: must be 576..65535");
    p.mtu = -5;
    REFUSED(&p, "XWAY_MTU=-5");
    p.mtu = 1000;
    p.addr = "fd00::1/64";
    REFUSED(&p, "XWAY_MTU=1000", "1280", "IPv6");
    p.mtu = 1280;
    CHECK_EQ(parse(&p), 0);
    p.addr = "10.1.1.1/8";
    p.mtu = 1000;
    CHECK_EQ(parse(&p), 0);
    CHECK_EQ(cfg.mtu, 1000);
}

static void test_scalars(void)
{
    struct xway_config p;

    defaults(&p);
    p.log_level = XWAY_LOG_DEBUG;
    p.backend = "sim";
    p.host = "/tmp/simhost";
    p.domid = 7;
    p.ring = 1 << 20;
    p.spin_us = 0;
    CHECK_EQ(parse(&p), 0);
    CHECK_EQ(cfg.log_level, XWAY_LOG_DEBUG);
    CHECK_EQ(cfg.backend, XW_BACKEND_SIM);
    CHECK(!strcmp(cfg.host, "/tmp/simhost"));
    CHECK_EQ(cfg.domid, 7);
    CHECK_EQ(cfg.ring, 1 << 20);
    CHECK_EQ(cfg.spin_us, 0);

    defaults(&p);
    p.log_level = 4;
    REFUSED(&p, "XWAY_LOG=4", "error, warn, info or debug");
    defaults(&p);
    p.backend = "kvm";
    REFUSED(&p, "XWAY_BACKEND=kvm", "auto, xen, sim or off");
    defaults(&p);
    p.domid = 0x7ff0;
    REFUSED(&p, "XWAY_DOMID=32752", "0..32751");
    p.domid = -2;
    REFUSED(&p, "XWAY_DOMID=-2");
    defaults(&p);
    p.ring = 3 << 20;
    REFUSED(&p, "XWAY_RING=3145728", "power of two");
    p.ring = 32 << 10;
    REFUSED(&p, "XWAY_RING=32768");
    p.ring = 8 << 20;
    REFUSED(&p, "XWAY_RING=8388608");
    p.ring = 64 << 10;
    CHECK_EQ(parse(&p), 0);
    p.ring = 4 << 20;
    CHECK_EQ(parse(&p), 0);
    defaults(&p);
    p.spin_us = 1000001;
    REFUSED(&p, "XWAY_SPIN_US=1000001", "0..1000000");
    p.spin_us = 1000000;
    CHECK_EQ(parse(&p), 0);
    CHECK_EQ(cfg.spin_us, 1000000);
}

static void clear_env(void)
{
    static const char *const vars[] = {"XWAY_LINK", "XWAY_ADDR", "XWAY_GW", "XWAY_MTU",
                                       "XWAY_LOG", "XWAY_BACKEND", "XWAY_HOST",
                                       "XWAY_DOMID", "XWAY_RING", "XWAY_SPIN_US"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

static int parse_env(void)
{
    struct xway_config p;
    xw_config_from_env(&p);
    return parse(&p);
}

#define ENV_REFUSED(var, val, ...)                                                  \
    do {                                                                            \
        struct xway_config p_;                                                      \
        clear_env();                                                                \
        setenv(var, val, 1);                                                        \
        xw_config_from_env(&p_);                                                    \
        REFUSED(&p_, var "=" val ":", __VA_ARGS__);                                 \
    } while (0)

static void test_env(void)
{
    clear_env();
    CHECK_EQ(parse_env(), 0);
    CHECK_EQ(cfg.mtu, 1500);
    CHECK_EQ(cfg.ring, XW_RING_DEFAULT);

    setenv("XWAY_LINK", "hub:/tmp/envhub", 1);
    setenv("XWAY_ADDR", "10.9.0.2/16,fd09::2/64", 1);
    setenv("XWAY_GW", "10.9.0.1", 1);
    setenv("XWAY_MTU", "9000", 1);
    setenv("XWAY_LOG", "info", 1);
    setenv("XWAY_BACKEND", "off", 1);
    setenv("XWAY_HOST", "/tmp/envhost", 1);
    setenv("XWAY_DOMID", "12", 1);
    setenv("XWAY_RING", "512K", 1);
    setenv("XWAY_SPIN_US", "200", 1);
    CHECK_EQ(parse_env(), 0);
    CHECK_EQ(cfg.link_kind, XW_LINK_HUB);
    CHECK(!strcmp(cfg.link_arg, "/tmp/envhub"));
    CHECK_EQ(cfg.n_addrs, 2);
    CHECK_EQ(cfg.addrs[0].prefix, 16);
    CHECK(cfg.has_gw4);
    CHECK_EQ(cfg.mtu, 9000);
    CHECK_EQ(cfg.log_level, XWAY_LOG_INFO);
    CHECK_EQ(cfg.backend, XW_BACKEND_OFF);
    CHECK(!strcmp(cfg.host, "/tmp/envhost"));
    CHECK_EQ(cfg.domid, 12);
    CHECK_EQ(cfg.ring, 512 * 1024);
    CHECK_EQ(cfg.spin_us, 200);
    setenv("XWAY_RING", "2m", 1);
    setenv("XWAY_LOG", "DEBUG", 1);
    CHECK_EQ(parse_env(), 0);
    CHECK_EQ(cfg.ring, 2 * 1024 * 1024);
    CHECK_EQ(cfg.log_level, XWAY_LOG_DEBUG);
    setenv("XWAY_RING", "262144", 1);
    CHECK_EQ(parse_env(), 0);
    CHECK_EQ(cfg.ring, 262144);

    /* Empty counts as unset. */
    clear_env();
    setenv("XWAY_MTU", "", 1);
    setenv("XWAY_LINK", "", 1);
    CHECK_EQ(parse_env(), 0);
    CHECK_EQ(cfg.mtu, 1500);
    CHECK_EQ(cfg.link_kind, XW_LINK_NONE);

    /* Refusals quote the text as typed. */
    ENV_REFUSED("XWAY_MTU", "70000", "must be 576..65535");
    ENV_REFUSED("XWAY_MTU", "1500x", "must be 576..65535");
    ENV_REFUSED("XWAY_MTU", " 1500", "must be");
    ENV_REFUSED("XWAY_MTU", "-1500", "must be");
    ENV_REFUSED("XWAY_MTU", "99999999999999999999", "must be");
    ENV_REFUSED("XWAY_LOG", "verbose", "error, warn, info or debug");
    ENV_REFUSED("XWAY_LOG", "2", "error, warn");
    ENV_REFUSED("XWAY_BACKEND", "xen2", "auto, xen, sim or off");
    ENV_REFUSED("XWAY_DOMID", "-1", "0..32751");
    ENV_REFUSED("XWAY_DOMID", "40000", "0..32751");
    ENV_REFUSED("XWAY_DOMID", "7a", "0..32751");
    ENV_REFUSED("XWAY_RING", "3M", "power of two");
    ENV_REFUSED("XWAY_RING", "1G", "power of two");
    ENV_REFUSED("XWAY_RING", "256KB", "power of two");
    ENV_REFUSED("XWAY_RING", "K", "power of two");
    ENV_REFUSED("XWAY_RING", "99999999999999999999M", "power of two");
    ENV_REFUSED("XWAY_SPIN_US", "fast", "0..1000000");
    ENV_REFUSED("XWAY_SPIN_US", "1000001", "0..1000000");
    ENV_REFUSED("XWAY_LINK", "eth0", "hub:PATH or tap:IFNAME");
    ENV_REFUSED("XWAY_ADDR", "10.0.0.1", "prefix length required");
    ENV_REFUSED("XWAY_GW", "10.0.0.1", "not within");
    clear_env();
    setenv("XWAY_ADDR", "fd00::5/64", 1);
    setenv("XWAY_MTU", "1279", 1);
    CHECK_EQ(parse_env(), -EINVAL);
    CHECK(strstr(err, "XWAY_MTU=1279:") && strstr(err, "1280"));
    clear_env();
}

/* The routing the shim asks of the configuration (xw_config_unreachable). */
static void test_route(void)
{
    struct xway_config p;
    struct in_addr a4;
    struct in6_addr a6;
#define V4(t) (inet_pton(AF_INET, t, &a4) == 1 ? (const void *)&a4 : NULL)
#define V6(t) (inet_pton(AF_INET6, t, &a6) == 1 ? (const void *)&a6 : NULL)

    defaults(&p);
    p.addr = "10.0.0.2/24,fd00::2/64,fd09::5/16";
    CHECK_EQ(parse(&p), 0);
    CHECK(!xw_config_unreachable(&cfg, AF_INET, V4("10.0.0.77")));
    CHECK(!xw_config_unreachable(&cfg, AF_INET, V4("10.0.0.200")));
    CHECK(!xw_config_unreachable(&cfg, AF_INET6, V6("fd00::1234")));
    CHECK(!xw_config_unreachable(&cfg, AF_INET6, V6("fd09:ff::1")));
    CHECK(strstr(xw_config_unreachable(&cfg, AF_INET, V4("10.0.1.1")), "outside"));
    CHECK(strstr(xw_config_unreachable(&cfg, AF_INET6, V6("fd01::1")), "outside"));
    CHECK(strstr(xw_config_unreachable(&cfg, AF_INET, V4("127.0.0.1")), "loopback"));
    CHECK(strstr(xw_config_unreachable(&cfg, AF_INET6, V6("::1")), "loopback"));
    CHECK(strstr(xw_config_unreachable(&cfg, AF_INET, V4("0.0.0.0")), "unspecified"));
    CHECK(xw_config_is_local(&cfg, AF_INET6, V6("fd09::5")));
    CHECK(xw_config_is_local(&cfg, AF_INET6, V6("fd00::2")));
    CHECK(!xw_config_is_local(&cfg, AF_INET, V4("10.0.0.3")));
    p.gw = "10.0.0.1";
    CHECK_EQ(parse(&p), 0);
    CHECK(!xw_config_unreachable(&cfg, AF_INET, V4("192.0.2.1")));
    CHECK(strstr(xw_config_unreachable(&cfg, AF_INET6, V6("2001:db8::1")), "outside"));
#undef V4
#undef V6
}

static void test_small_errbuf(void)
{
    struct xway_config p;
    char small[8];

    defaults(&p);
    p.mtu = 1;
    CHECK_EQ(xw_config_parse(&p, &cfg, small, sizeof(small)), -EINVAL);
    CHECK_EQ(strlen(small), 7);
    CHECK_EQ(xw_config_parse(&p, &cfg, NULL, 0), -EINVAL);
}

int main(void)
{
    test_defaults();
    test_link();
    test_addr();
    test_gw();
    test_mtu();
    test_scalars();
    test_env();
    test_route();
    test_small_errbuf();
    printf("config_parse: ok\n");
    return 0;
}

/* Helpers for the two-process stack tests. */
#include "peer.h"
#include "testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include <xway.h>

const char *xwt_setup(unsigned secs)
{
    const char *hub = xw_tmpdir("/tmp", "xwt-hub-");
    setvbuf(stdout, NULL, _IOLBF, 0);
    xw_watchdog(secs);
    return hub;
}

void xwt_start(const char *hub, const char *addrs)
{
    char link[128];
    struct xway_config cfg;
    snprintf(link, sizeof(link), "hub:%s", hub);
    xway_config_init(&cfg);
    cfg.link = link;
    cfg.addr = addrs;
    /* These tests are about the stack's TCP path: no ring unless asked for. */
    cfg.backend = getenv("XWAY_BACKEND") ? getenv("XWAY_BACKEND") : "off";
    cfg.host = getenv("XWAY_HOST"); /* NULL: the default sim host */
    const char *ring = getenv("XWAY_RING");
    if (ring)
        cfg.ring = strtol(ring, NULL, 0);
    const char *spin = getenv("XWAY_SPIN_US");
    if (spin)
        cfg.spin_us = (int)strtol(spin, NULL, 0);
    const char *lv = getenv("XWAY_LOG"); /* for debugging a test */
    if (lv)
        cfg.log_level = !strcmp(lv, "debug") ? XWAY_LOG_DEBUG : !strcmp(lv, "info") ? XWAY_LOG_INFO : -1;
    if (xway_init(&cfg) < 0) {
        fprintf(stderr, "xway_init(%s, %s): %s\n", link, addrs, xway_last_error());
        exit(1);
    }
}

struct xwt_peer xwt_spawn(const char *hub, const char *addrs, int (*fn)(int ctl, void *arg),
                          void *arg)
{
    return xwt_spawn_env(hub, addrs, NULL, fn, arg);
}

struct xwt_peer xwt_spawn_env(const char *hub, const char *addrs, const char *const *env,
                              int (*fn)(int ctl, void *arg), void *arg)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    pid_t pid = xw_fork();
    if (pid == 0) {
        close(sv[0]);
        for (; env && *env; env++) {
            const char *eq = strchr(*env, '=');
            char name[64];
            CHECK(eq && (size_t)(eq - *env) < sizeof(name));
            snprintf(name, sizeof(name), "%.*s", (int)(eq - *env), *env);
            CHECK(setenv(name, eq + 1, 1) == 0);
        }
        xwt_start(hub, addrs);
        int rc = fn(sv[1], arg);
        fflush(NULL);
        xway_fini();
        _exit(rc);
    }
    close(sv[1]);
    return (struct xwt_peer){ .pid = pid, .ctl = sv[0] };
}

int xwt_join_status(struct xwt_peer *p)
{
    int st = xw_wait(p->pid);
    close(p->ctl);
    return st;
}

void xwt_join(struct xwt_peer *p)
{
    xw_wait_ok(p->pid, "peer");
    close(p->ctl);
}

void xwt_ctl_send(int ctl, unsigned char v)
{
    CHECK(write(ctl, &v, 1) == 1);
}

unsigned char xwt_ctl_recv(int ctl)
{
    struct pollfd pfd = { .fd = ctl, .events = POLLIN };
    unsigned char v;
    CHECK(poll(&pfd, 1, 30000) == 1);
    CHECK(read(ctl, &v, 1) == 1);
    return v;
}

void xwt_ctl_send64(int ctl, uint64_t v)
{
    for (int i = 7; i >= 0; i--)
        xwt_ctl_send(ctl, (unsigned char)(v >> (8 * i)));
}

uint64_t xwt_ctl_recv64(int ctl)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | xwt_ctl_recv(ctl);
    return v;
}

socklen_t xwt_addr(const char *ip, unsigned port, struct sockaddr_storage *ss)
{
    struct sockaddr_in *s4 = (void *)ss;
    struct sockaddr_in6 *s6 = (void *)ss;
    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        return sizeof(*s4);
    }
    CHECK(inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    return sizeof(*s6);
}

int xwt_listen(const char *ip, unsigned port, int backlog)
{
    struct sockaddr_storage ss;
    socklen_t sl = xwt_addr(ip, port, &ss);
    int one = 1;
    int fd = xway_socket(ss.ss_family, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    CHECK(xway_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0);
    CHECK(xway_bind(fd, (void *)&ss, sl) == 0);
    CHECK(xway_listen(fd, backlog) == 0);
    return fd;
}

int xwt_echo(int fd)
{
    static __thread char buf[65536];
    int rc = 0;
    for (;;) {
        ssize_t n = xway_recv(fd, buf, sizeof(buf), 0);
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t m = xway_send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
            if (m < 0) {
                rc = -errno;
                goto out;
            }
            off += m;
        }
    }
out:
    xway_shutdown(fd, SHUT_WR);
    struct linger lg = { 1, 5 }; /* the peer may exit right after: deliver first */
    xway_setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    xway_close(fd);
    return rc;
}

struct sender {
    int fd;
    size_t n;
    uint32_t seed;
    int err;
};

static void *send_thread(void *arg)
{
    struct sender *s = arg;
    static __thread char buf[65536];
    for (size_t off = 0; off < s->n;) {
        size_t len = s->n - off < sizeof(buf) ? s->n - off : sizeof(buf);
        xw_pattern(buf, len, off, s->seed);
        ssize_t m = xway_send(s->fd, buf, len, MSG_NOSIGNAL);
        if (m < 0) {
            s->err = errno;
            return NULL;
        }
        off += (size_t)m;
    }
    if (xway_shutdown(s->fd, SHUT_WR) < 0)
        s->err = errno;
    return NULL;
}

void xwt_exchange(int fd, size_t n, uint32_t seed)
{
    static __thread char buf[65536];
    struct sender s = { .fd = fd, .n = n, .seed = seed };
    pthread_t t;
    size_t got = 0;
    CHECK(pthread_create(&t, NULL, send_thread, &s) == 0);
    for (;;) {
        ssize_t m = xway_recv(fd, buf, sizeof(buf), 0);
        if (m < 0)
            fprintf(stderr, "xwt_exchange: recv after %zu bytes: %s\n", got, strerror(errno));
        CHECK(m >= 0);
        if (m == 0)
            break;
        long bad = xw_pattern_check(buf, (size_t)m, got, seed);
        if (bad >= 0)
            fprintf(stderr, "xwt_exchange: bad byte at offset %zu\n", got + (size_t)bad);
        CHECK(bad < 0);
        got += (size_t)m;
        CHECK(got <= n);
    }
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_EQ(s.err, 0);
    CHECK_EQ(got, n);
}

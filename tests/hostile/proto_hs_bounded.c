/* The handshake ends within its timeout whatever the peer sends (issue 11 item
 * 5): a raw peer (XWAY_FAULT=raw) sends over-long, bad-version, byte-by-byte
 * and timeout-straddling control messages, or nothing, to a normal acceptor
 * and to a normal connector.  Each victim must end up on TCP with the right
 * reason and every payload byte intact, or reset within the bound; never
 * connected-but-silent.  (Also a TAKE no SYN-ACK proposed: a reset.) */
#include "peer.h"
#include "proto_raw.h"
#include "ringtest.h"
#include "testlib.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#define PORT 7300
#define BYTES (256u << 10)
#define GAP_MS 20 /* between the segments of a message sent byte by byte */

struct hcase {
    const char *name;
    bool victim_accepts;    /* else the victim connects */
    void (*script)(int fd); /* the raw side's part, before the payload */
    const char *path;       /* expected on the victim; NULL: reset */
    const char *reason;
    double max_ms; /* the victim's outcome (or reset) no later than this */
    unsigned port; /* set by main */
};

/* ---- the raw side's scripts ------------------------------------------------------ */

static void offer_unknown_version_overlong(int fd)
{
    uint8_t b[24];
    xwt_raw_send(fd, b, xwt_raw_header(b, 9, XW_CTRL_OFFER, 0xffff, sizeof(b)), 0);
}

static void nooffer_byte_by_byte(int fd)
{
    struct xw_ctrl m = { .type = XW_CTRL_NOOFFER, .reason = XW_REASON_BACKEND_OFF };
    xwt_raw_send_msg(fd, &m, GAP_MS);
}

/* Half a message, the rest due after the timeout: the acceptor resets at its
 * timeout (the raw side's recv sees it while the rest is still unsent). */
static void nooffer_straddling(int fd)
{
    uint8_t b[XW_CTRL_MAX];
    struct xw_ctrl m = { .type = XW_CTRL_NOOFFER, .reason = XW_REASON_BACKEND_OFF };
    CHECK(xw_ctrl_write(b, sizeof(b), &m) > 6);
    xwt_raw_send(fd, b, 6, 0);
}

/* A TAKE of a parked ring that no SYN-ACK proposed (a forged one: the
 * connector's bytes would follow on a ring nobody agreed to): a reset. */
static void take_unproposed(int fd)
{
    struct xw_ctrl m = { .type = XW_CTRL_TAKE, .key = 0x5eed5eed5eed5eedull };
    xwt_raw_send_msg(fd, &m, 0);
}

static void read_offer(int fd)
{
    struct xw_ctrl m;
    xwt_raw_recv_msg(fd, &m);
    CHECK_EQ(m.type, XW_CTRL_OFFER);
}

static void read_abort(int fd, unsigned reason)
{
    struct xw_ctrl m;
    xwt_raw_recv_msg(fd, &m);
    CHECK_EQ(m.type, XW_CTRL_ABORT);
    CHECK_EQ(m.reason, reason);
}

static void silent_after_offer(int fd)
{
    read_offer(fd);
    read_abort(fd, XW_REASON_TIMEOUT); /* then nothing: the late answer never comes */
}

static void answer_unknown_version_overlong(int fd)
{
    uint8_t b[40];
    read_offer(fd);
    xwt_raw_send(fd, b, xwt_raw_header(b, 9, XW_CTRL_ACCEPT, 0xffff, sizeof(b)), 0);
}

static void answer_unknown_version_zero_length(int fd)
{
    uint8_t b[16];
    read_offer(fd);
    xwt_raw_header(b, 9, XW_CTRL_ACCEPT, 0, sizeof(b));
    memcpy(b + 8, "garbage!", 8); /* must never reach the application */
    xwt_raw_send(fd, b, sizeof(b), 0);
}

static void decline_byte_by_byte(int fd)
{
    struct xw_ctrl m = { .type = XW_CTRL_DECLINE, .reason = XW_REASON_GRANT_MAP };
    read_offer(fd);
    xwt_raw_send_msg(fd, &m, GAP_MS);
    read_abort(fd, XW_REASON_GRANT_MAP);
}

static void decline_straddling(int fd)
{
    uint8_t b[XW_CTRL_MAX];
    struct xw_ctrl m = { .type = XW_CTRL_DECLINE, .reason = XW_REASON_GRANT_MAP };
    int n = xw_ctrl_write(b, sizeof(b), &m);
    read_offer(fd);
    usleep(1500 * 1000);
    xwt_raw_send(fd, b, 6, 0);
    usleep(1000 * 1000);
    xwt_raw_send(fd, b + 6, (size_t)n - 6, 0);
    read_abort(fd, XW_REASON_TIMEOUT); /* sent at the timeout, before our rest */
}

/* ---- the two roles ------------------------------------------------------------------ */

/* The victim's connection was reset: recv fails with ECONNRESET (not EAGAIN
 * after SO_RCVTIMEO, not data) no later than max_ms after t0. */
static int expect_reset(const char *who, int fd, uint64_t t0, double max_ms)
{
    struct timeval tv = { 8, 0 };
    char c;
    CHECK(xway_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
    ssize_t n = xway_recv(fd, &c, 1, 0);
    int err = n < 0 ? errno : 0;
    double ms = xwt_ms_since(t0);
    printf("%s: recv -> %zd (%s) after %.0f ms\n", who, n, n < 0 ? strerror(err) : "data", ms);
    if (n >= 0 || err != ECONNRESET || ms > max_ms) {
        fprintf(stderr, "FAIL: %s: expected ECONNRESET within %.0f ms\n", who, max_ms);
        return 1;
    }
    return 0;
}

/* Poll the stack's counters until the one connection has an outcome. */
static int expect_counted(const char *who, const char *reason)
{
    struct xway_stats st;
    int code = xwt_reason_code(reason);
    for (int i = 0; i < 1000; i++) {
        CHECK(xway_stats(&st) == 0);
        if (st.ring_conns + st.tcp_conns)
            break;
        usleep(10000);
    }
    printf("%s: ring %llu tcp %llu, %s %llu\n", who, (unsigned long long)st.ring_conns,
           (unsigned long long)st.tcp_conns, reason, (unsigned long long)st.fallback[code]);
    if (st.ring_conns || st.tcp_conns != 1 || st.fallback[code] != 1) {
        fprintf(stderr, "FAIL: %s: expected one connection ended with %s\n", who, reason);
        return 1;
    }
    return 0;
}

static int victim_acceptor(int ctl, void *arg)
{
    const struct hcase *c = arg;
    int l = xwt_listen("10.77.90.1", c->port, 4);
    xwt_ctl_send(ctl, 'R');
    if (!c->path) {
        int bad = expect_counted("victim acceptor", c->reason);
        xway_close(l);
        return bad;
    }
    int fd = xway_accept(l, NULL, NULL);
    CHECK(fd >= 0);
    int bad = xwt_path_is("victim acceptor", fd, c->path, c->reason);
    CHECK_EQ(xwt_echo(fd), 0);
    xway_close(l);
    return bad;
}

static int victim_connector(int ctl, void *arg)
{
    const struct hcase *c = arg;
    struct sockaddr_storage ss;
    socklen_t sl = xwt_addr("10.77.90.1", c->port, &ss);
    int fd = xway_socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    (void)ctl;
    uint64_t t0 = xw_now_ns();
    int rc = xway_connect(fd, (void *)&ss, sl);
    int err = rc < 0 ? errno : 0;
    printf("victim connector: connect -> %d (%s) after %.0f ms\n", rc, strerror(err),
           xwt_ms_since(t0));
    if (!c->path) {
        if (rc < 0 && err == ECONNRESET && xwt_ms_since(t0) <= c->max_ms)
            return 0;
        CHECK(rc == 0);
        return expect_reset("victim connector", fd, t0, c->max_ms);
    }
    CHECK(rc == 0);
    int bad = xwt_path_is("victim connector", fd, c->path, c->reason);
    if (xwt_ms_since(t0) > c->max_ms) {
        fprintf(stderr, "FAIL: handshake took %.0f ms\n", xwt_ms_since(t0));
        bad = 1;
    }
    xwt_exchange(fd, BYTES, 0x5eed5u);
    xway_close(fd);
    return bad;
}

static int raw_connector(int ctl, void *arg)
{
    const struct hcase *c = arg;
    (void)ctl;
    uint64_t t0 = xw_now_ns();
    int fd = xwt_connect("10.77.90.1", c->port);
    c->script(fd);
    if (!c->path)
        return expect_reset("raw connector", fd, t0, c->max_ms + 500);
    xwt_exchange(fd, BYTES, 0x5eed5u);
    xway_close(fd);
    return 0;
}

static int raw_acceptor(int ctl, void *arg)
{
    const struct hcase *c = arg;
    int l = xwt_listen("10.77.90.1", c->port, 4);
    xwt_ctl_send(ctl, 'R');
    int fd = xway_accept(l, NULL, NULL);
    CHECK(fd >= 0);
    uint64_t t0 = xw_now_ns();
    c->script(fd);
    int bad = 0;
    if (!c->path)
        bad = expect_reset("raw acceptor", fd, t0, c->max_ms + 500);
    else
        CHECK_EQ(xwt_echo(fd), 0);
    xway_close(l);
    return bad;
}

int main(void)
{
    const char *hub = xwt_setup(200);
    char host[96];
    snprintf(host, sizeof(host), "XWAY_HOST=%s", xw_sim_host());
    const char *victim_env[] = { "XWAY_BACKEND=sim", host, NULL };
    const char *raw_env[] = { "XWAY_BACKEND=sim", host, "XWAY_FAULT=raw", NULL };
    struct hcase cases[] = {
        { "acceptor: over-long message of unknown version", true,
          offer_unknown_version_overlong, NULL, "malformed", 500, 0 },
        { "acceptor: NOOFFER one byte per segment", true, nooffer_byte_by_byte, "tcp",
          "backend-off", 0, 0 },
        { "acceptor: half a NOOFFER, the rest due after the timeout", true, nooffer_straddling, NULL,
          "timeout", 3000, 0 },
        { "acceptor: a TAKE it did not propose", true, take_unproposed, NULL, "malformed", 500, 0 },
        { "connector: silent acceptor after the timeout's ABORT", false, silent_after_offer,
          NULL, NULL, 5000, 0 },
        { "connector: over-long answer of unknown version", false,
          answer_unknown_version_overlong, NULL, NULL, 1000, 0 },
        { "connector: zero-length answer of unknown version", false,
          answer_unknown_version_zero_length, NULL, NULL, 1000, 0 },
        { "connector: DECLINE one byte per segment", false, decline_byte_by_byte, "tcp",
          "grant-map", 1500, 0 },
        { "connector: DECLINE straddling the timeout", false, decline_straddling, "tcp",
          "timeout", 3000, 0 },
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hcase *c = &cases[i];
        c->port = PORT + (unsigned)i;
        printf("== %s\n", c->name);
        struct xwt_peer srv, cli;
        if (c->victim_accepts) {
            srv = xwt_spawn_env(hub, "10.77.90.1/24", victim_env, victim_acceptor, c);
            CHECK_EQ(xwt_ctl_recv(srv.ctl), 'R');
            cli = xwt_spawn_env(hub, "10.77.90.2/24", raw_env, raw_connector, c);
        } else {
            srv = xwt_spawn_env(hub, "10.77.90.1/24", raw_env, raw_acceptor, c);
            CHECK_EQ(xwt_ctl_recv(srv.ctl), 'R');
            cli = xwt_spawn_env(hub, "10.77.90.2/24", victim_env, victim_connector, c);
        }
        if (xwt_join_status(&cli) | xwt_join_status(&srv)) {
            printf("FAIL: %s\n", c->name);
            failed++;
        }
    }
    printf(failed ? "FAIL: %d case(s)\n" : "PASS\n", failed);
    return failed ? 1 : 0;
}

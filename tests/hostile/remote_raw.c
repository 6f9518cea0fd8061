/* A raw remote host on a hub (remote_raw.h). */
#include "remote_raw.h"
#include "testlib.h"
#include "tcpopt.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void endpoint(const struct rawp *r, const uint8_t mac[6], struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%02x%02x%02x%02x%02x%02x", r->hub,
             mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

static bool mac_of(const char *name, uint8_t mac[6])
{
    unsigned v[6];
    if (strlen(name) != 12 || strspn(name, "0123456789abcdef") != 12)
        return false;
    sscanf(name, "%2x%2x%2x%2x%2x%2x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]);
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return true;
}

static void send_frame(struct rawp *r, const uint8_t *f, size_t len)
{
    CHECK(send(r->tx, f, len, MSG_NOSIGNAL) == (ssize_t)len);
}

static size_t eth(const struct rawp *r, uint8_t *f, const uint8_t dst[6], uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, r->mac, 6);
    f[12] = (uint8_t)(type >> 8);
    f[13] = (uint8_t)type;
    return 14;
}

static void send_arp(struct rawp *r, uint16_t op, const uint8_t tha[6], const uint8_t tpa[4])
{
    uint8_t f[42];
    size_t n = eth(r, f, r->st_mac, 0x0806);
    static const uint8_t hdr[6] = { 0, 1, 8, 0, 6, 4 };

    memcpy(f + n, hdr, 6);
    f[n + 6] = 0;
    f[n + 7] = (uint8_t)op;
    memcpy(f + n + 8, r->mac, 6);
    memcpy(f + n + 14, r->ip, 4);
    memcpy(f + n + 18, tha, 6);
    memcpy(f + n + 24, tpa, 4);
    send_frame(r, f, sizeof(f));
}

static size_t recv_frame(struct rawp *r, uint8_t *f, size_t cap, int ms);

/* The stack's answer: it is then connected to our endpoint and we to its. */
static void wait_arp_reply(struct rawp *r)
{
    uint8_t f[2048];

    for (;;) {
        size_t n = recv_frame(r, f, sizeof(f), 10000);
        CHECK(n > 0);
        if (n >= 42 && f[12] == 8 && f[13] == 6 && f[21] == 2 && !memcmp(f + 28, r->st_ip, 4))
            return;
    }
}

void rawp_open(struct rawp *r, const char *hub, const char *ip, const char *st_ip)
{
    struct sockaddr_un sa;
    struct dirent *de;
    DIR *d;
    bool found = false;
    static const uint8_t zero[6];

    memset(r, 0, sizeof(*r));
    r->hub = hub;
    CHECK(inet_pton(AF_INET, ip, r->ip) == 1);
    CHECK(inet_pton(AF_INET, st_ip, r->st_ip) == 1);
    r->mac[0] = 0x02;
    r->mac[1] = 0x7a;
    r->mac[2] = (uint8_t)getpid();
    r->mac[3] = (uint8_t)(getpid() >> 8);
    r->mac[4] = r->ip[2];
    r->mac[5] = r->ip[3];
    d = opendir(hub);
    CHECK(d);
    while ((de = readdir(d)))
        if (mac_of(de->d_name, r->st_mac) && memcmp(r->st_mac, r->mac, 6)) {
            found = true;
            break;
        }
    closedir(d);
    CHECK(found);
    r->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CHECK(r->lfd >= 0);
    endpoint(r, r->mac, &sa);
    CHECK(bind(r->lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CHECK(listen(r->lfd, 64) == 0);
    r->tx = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    CHECK(r->tx >= 0);
    endpoint(r, r->st_mac, &sa);
    CHECK(connect(r->tx, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    send_arp(r, 1, zero, r->st_ip); /* the stack learns our MAC from it */
    wait_arp_reply(r);
}

void rawp_close(struct rawp *r)
{
    struct sockaddr_un sa;

    endpoint(r, r->mac, &sa);
    unlink(sa.sun_path);
    close(r->lfd);
    close(r->tx);
    for (int i = 0; i < r->nrx; i++)
        close(r->rx[i]);
    r->nrx = 0;
}

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    return s;
}

static uint16_t fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The IPv6 pseudo-header's sum (RFC 8200 8.1). */
static uint32_t pseudo6(const struct rawp *r, uint8_t proto, size_t len)
{
    uint8_t ph[40] = { 0 };

    memcpy(ph, r->ip6, 16);
    memcpy(ph + 16, r->st_ip6, 16);
    put32(ph + 32, (uint32_t)len);
    ph[39] = proto;
    return sum16(0, ph, 40);
}

size_t rawp_tcp(const struct rawp *r, uint8_t *b, uint16_t sport, uint16_t dport, uint32_t seq,
                uint32_t ack, uint8_t flags, const uint8_t *opt, size_t optlen, const void *data,
                size_t len)
{
    size_t hl = 20 + optlen, n = hl + len;
    uint8_t pseudo[12];
    uint32_t s;

    CHECK(optlen % 4 == 0 && optlen <= 40);
    memset(b, 0, 20);
    put16(b, sport);
    put16(b + 2, dport);
    put32(b + 4, seq);
    put32(b + 8, ack);
    b[12] = (uint8_t)(hl / 4 << 4);
    b[13] = flags;
    put16(b + 14, 65535);
    if (optlen)
        memcpy(b + 20, opt, optlen);
    if (len)
        memcpy(b + hl, data, len);
    s = r->v6 ? pseudo6(r, 6, n) : 0;
    if (!r->v6) {
        memcpy(pseudo, r->ip, 4);
        memcpy(pseudo + 4, r->st_ip, 4);
        pseudo[8] = 0;
        pseudo[9] = 6;
        put16(pseudo + 10, (uint16_t)n);
        s = sum16(0, pseudo, 12);
    }
    put16(b + 16, fold(sum16(s, b, n)));
    return n;
}

static void send_ip4_piece(struct rawp *r, uint8_t proto, const uint8_t *p, size_t len,
                           size_t off, bool more)
{
    uint8_t f[14 + 20 + 2048];
    size_t n = eth(r, f, r->st_mac, 0x0800);
    uint8_t *ip = f + n;

    CHECK(len <= 2048);
    memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + len));
    put16(ip + 4, r->ip_id);
    put16(ip + 6, (uint16_t)((more ? 0x2000 : 0) | off / 8));
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, r->ip, 4);
    memcpy(ip + 16, r->st_ip, 4);
    put16(ip + 10, fold(sum16(0, ip, 20)));
    memcpy(ip + 20, p, len);
    send_frame(r, f, n + 20 + len);
}

/* An IPv6 packet to dst (NULL: the stack), whole (off == -1) or one fragment. */
static void send_ip6_piece(struct rawp *r, uint8_t proto, const uint8_t *p, size_t len,
                           const uint8_t *dst_mac, const uint8_t *dst, long off, bool more)
{
    uint8_t f[14 + 48 + 2048];
    size_t n = eth(r, f, dst_mac ? dst_mac : r->st_mac, 0x86dd);
    uint8_t *ip = f + n, *fh = ip + 40;
    size_t ext = off >= 0 ? 8 : 0;

    CHECK(len <= 2048);
    memset(ip, 0, 48);
    ip[0] = 0x60;
    put16(ip + 4, (uint16_t)(ext + len));
    ip[6] = off >= 0 ? 44 : proto;
    ip[7] = 255;
    memcpy(ip + 8, r->ip6, 16);
    memcpy(ip + 24, dst ? dst : r->st_ip6, 16);
    if (off >= 0) {
        fh[0] = proto;
        put16(fh + 2, (uint16_t)((size_t)off | (more ? 1 : 0)));
        put32(fh + 4, r->ip_id);
    }
    memcpy(ip + 40 + ext, p, len);
    send_frame(r, f, n + 40 + ext + len);
}

void rawp_send_ip(struct rawp *r, uint8_t proto, const uint8_t *payload, size_t len,
                  const size_t *frag)
{
    size_t off = 0;

    r->ip_id++;
    if (r->v6 && !frag) {
        send_ip6_piece(r, proto, payload, len, NULL, NULL, -1, false);
        return;
    }
    for (; frag && *frag; frag++) {
        CHECK(*frag % 8 == 0 && *frag > off && *frag < len);
        if (r->v6)
            send_ip6_piece(r, proto, payload + off, *frag - off, NULL, NULL, (long)off, true);
        else
            send_ip4_piece(r, proto, payload + off, *frag - off, off, true);
        off = *frag;
    }
    if (r->v6)
        send_ip6_piece(r, proto, payload + off, len - off, NULL, NULL, (long)off, false);
    else
        send_ip4_piece(r, proto, payload + off, len - off, off, false);
}

/* A neighbour solicitation (type 135) or advertisement (136, solicited and
 * override) about target, with our link-layer address, from ip6. */
static void send_nd(struct rawp *r, uint8_t type, const uint8_t *target, const uint8_t *dst_mac,
                    const uint8_t *dst)
{
    uint8_t m[32] = { type };
    uint8_t ph[40] = { 0 };

    if (type == 136)
        m[4] = 0x60;
    memcpy(m + 8, target, 16);
    m[24] = type == 135 ? 1 : 2; /* source / target link-layer address option */
    m[25] = 1;
    memcpy(m + 26, r->mac, 6);
    memcpy(ph, r->ip6, 16);
    memcpy(ph + 16, dst, 16);
    put32(ph + 32, sizeof(m));
    ph[39] = 58;
    put16(m + 2, fold(sum16(sum16(0, ph, 40), m, sizeof(m))));
    send_ip6_piece(r, 58, m, sizeof(m), dst_mac, dst, -1, false);
}

void rawp_ip6(struct rawp *r, const char *ip6, const char *st_ip6)
{
    uint8_t f[2048];

    CHECK(inet_pton(AF_INET6, ip6, r->ip6) == 1);
    CHECK(inet_pton(AF_INET6, st_ip6, r->st_ip6) == 1);
    r->v6 = true;
    send_nd(r, 135, r->st_ip6, r->st_mac, r->st_ip6); /* the stack learns our MAC from it */
    for (;;) {
        size_t n = recv_frame(r, f, sizeof(f), 10000);
        CHECK(n > 0);
        if (n >= 78 && f[12] == 0x86 && f[13] == 0xdd && f[20] == 58 && f[54] == 136 &&
            !memcmp(f + 62, r->st_ip6, 16))
            return;
    }
}

void rawp_send_tcp(struct rawp *r, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                   uint8_t flags, const uint8_t *opt, size_t optlen, const void *data, size_t len)
{
    uint8_t b[2048];

    CHECK(len <= sizeof(b) - 60);
    rawp_send_ip(r, 6, b, rawp_tcp(r, b, sport, dport, seq, ack, flags, opt, optlen, data, len),
                 NULL);
}

/* One frame from the stack within ms: its length, or 0. */
static size_t recv_frame(struct rawp *r, uint8_t *f, size_t cap, int ms)
{
    uint64_t end = xw_now_ns() + (uint64_t)ms * 1000000u;

    for (;;) {
        struct pollfd pfd[17];
        int left = (int)((int64_t)(end - xw_now_ns()) / 1000000);

        for (int i = 0; i < r->nrx; i++) {
            ssize_t n = recv(r->rx[i], f, cap, MSG_DONTWAIT);
            if (n > 0)
                return (size_t)n;
        }
        if (left < 0)
            return 0;
        pfd[0] = (struct pollfd){ .fd = r->lfd, .events = POLLIN };
        for (int i = 0; i < r->nrx; i++)
            pfd[i + 1] = (struct pollfd){ .fd = r->rx[i], .events = POLLIN };
        if (poll(pfd, (nfds_t)r->nrx + 1, left) <= 0)
            continue;
        if (pfd[0].revents & POLLIN) {
            int fd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                CHECK(r->nrx < 16);
                r->rx[r->nrx++] = fd;
            }
        }
    }
}

bool rawp_recv_tcp(struct rawp *r, struct rawseg *s, int ms)
{
    static uint8_t f[70000];
    uint64_t end = xw_now_ns() + (uint64_t)ms * 1000000u;

    for (;;) {
        int left = (int)((int64_t)(end - xw_now_ns()) / 1000000);
        size_t n = left >= 0 ? recv_frame(r, f, sizeof(f), left) : 0;
        uint16_t type;
        const uint8_t *ip, *t;
        size_t ihl, tot;

        if (n == 0)
            return false;
        if (n < 14)
            continue;
        type = (uint16_t)(f[12] << 8 | f[13]);
        if (type == 0x0806 && n >= 42 && f[21] == 1 && !memcmp(f + 38, r->ip, 4)) {
            send_arp(r, 2, f + 22, f + 28);
            continue;
        }
        if (type == 0x86dd && n >= 78 && f[20] == 58 && f[54] == 135 &&
            !memcmp(f + 62, r->ip6, 16)) {
            send_nd(r, 136, r->ip6, f + 6, f + 22); /* to the solicitor */
            continue;
        }
        if (type == 0x86dd && n >= 74 && f[20] == 6 && !memcmp(f + 38, r->ip6, 16)) {
            t = f + 54;
            tot = (size_t)(f[18] << 8 | f[19]);
            if (tot > n - 54 || tot < 20)
                continue;
            ihl = 0;
            goto tcp;
        }
        if (type != 0x0800 || n < 34)
            continue;
        ip = f + 14;
        ihl = (size_t)(ip[0] & 15) * 4;
        tot = (size_t)ip[2] << 8 | ip[3];
        if (ip[9] != 6 || memcmp(ip + 16, r->ip, 4) || tot > n - 14 || tot < ihl + 20)
            continue;
        t = ip + ihl;
    tcp:
        s->sport = (uint16_t)(t[0] << 8 | t[1]);
        s->dport = (uint16_t)(t[2] << 8 | t[3]);
        s->seq = get32(t + 4);
        s->ack = get32(t + 8);
        s->flags = t[13];
        s->opt = t + 20;
        s->optlen = (size_t)(t[12] >> 4) * 4 - 20;
        s->data = t + 20 + s->optlen;
        s->len = tot - ihl - 20 - s->optlen;
        return true;
    }
}

void rawp_xway_opt(uint8_t opt[20])
{
    struct xw_synopt o = { .version = XW_OPT_VERSION };

    xw_tcpopt_write(opt, &o);
}

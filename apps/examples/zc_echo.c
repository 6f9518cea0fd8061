/* xway-zc-echo: an echo server and client on xway's zero-copy API (xway_zc.h).
 *
 *   xway-zc-echo -s [-B ADDR] [-p PORT] [-1]    echo each connection, one at a time
 *   xway-zc-echo -c HOST [-p PORT] [-n BYTES]   send BYTES (K/M/G; default 64M),
 *                                               check the echo
 *
 * The client writes its bytes straight into room it reserved in the socket
 * (xway_zc_reserve, then xway_zc_commit) and reads the echo where it lies
 * (xway_zc_recv, then xway_zc_recv_done); it checksums both streams and
 * exits 0 when they agree.  The server copies each view of what arrived
 * straight into a reservation: on the ring, from one shared ring to the other,
 * the only copy the bytes see.  The stack is configured from the XWAY_*
 * environment. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xway.h>
#include <xway_zc.h>

#define CHUNK 65536 /* the most one reservation asks for */

static int die(const char *what)
{
    fprintf(stderr, "xway-zc-echo: %s: %s\n", what, strerror(errno));
    return 1;
}

/* FNV-1a 64 over len bytes, continuing from h. */
static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

/* The same over both segments of a view or reservation: a ring that wraps
 * gives its bytes in two pieces, seg[0] then seg[1]. */
static uint64_t fnv_zc(uint64_t h, const struct xway_zc *z)
{
    h = fnv(h, z->seg[0].iov_base, z->seg[0].iov_len);
    return fnv(h, z->seg[1].iov_base, z->seg[1].iov_len);
}

/* Copy dst->len bytes of src, from its byte off on, into dst. */
static void zc_copy(const struct xway_zc *dst, const struct xway_zc *src, size_t off)
{
    int si = off < src->seg[0].iov_len ? 0 : 1;
    size_t so = si ? off - src->seg[0].iov_len : off;
    for (int di = 0; di < 2; di++) {
        char *d = dst->seg[di].iov_base;
        for (size_t left = dst->seg[di].iov_len; left > 0;) {
            size_t k = src->seg[si].iov_len - so;
            if (k > left)
                k = left;
            memcpy(d, (const char *)src->seg[si].iov_base + so, k);
            d += k;
            left -= k;
            so += k;
            if (so == src->seg[si].iov_len) {
                si++;
                so = 0;
            }
        }
    }
}

/* Echo one connection until its EOF.  A view stays open while its bytes are
 * committed to the other direction: one view and one reservation at a time
 * per socket, one of each direction, is what the API allows. */
static int echo(int fd)
{
    struct xway_zc in, out;
    for (;;) {
        ssize_t n = xway_zc_recv(fd, &in, 0); /* waits; 0 at the peer's EOF */
        if (n <= 0)
            return n < 0 ? die("xway_zc_recv") : 0;
        for (size_t moved = 0; moved < in.len;) {
            /* room for 1..(the rest) bytes: as much as the socket has now */
            if (xway_zc_reserve(fd, in.len - moved, &out, 0) < 0)
                return die("xway_zc_reserve");
            zc_copy(&out, &in, moved);
            ssize_t sent = xway_zc_commit(fd, out.len, MSG_NOSIGNAL);
            if (sent < 0)
                return die("xway_zc_commit");
            moved += (size_t)sent;
        }
        if (xway_zc_recv_done(fd, in.len) < 0) /* consumed: the peer may reuse it */
            return die("xway_zc_recv_done");
    }
}

static int serve(const struct sockaddr_storage *ss, socklen_t sl, bool once)
{
    int one = 1, lfd = xway_socket(ss->ss_family, SOCK_STREAM, 0);
    if (lfd < 0)
        return die("socket");
    xway_setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (xway_bind(lfd, (const void *)ss, sl) < 0 || xway_listen(lfd, 16) < 0)
        return die("bind/listen");
    printf("xway-zc-echo: listening\n");
    fflush(stdout);
    int rc = 0;
    do {
        int fd = xway_accept(lfd, NULL, NULL);
        if (fd < 0)
            return die("accept");
        rc = echo(fd);
        xway_shutdown(fd, SHUT_WR);
        if (once) { /* the process exits next: let the echo reach the peer first */
            struct linger lg = { 1, 5 };
            xway_setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        xway_close(fd);
    } while (!once);
    xway_close(lfd);
    return rc;
}

/* The client's sending half: a thread of its own, so that the echo is read
 * while it sends (the server echoes as it receives). */
struct sender {
    int fd;
    uint64_t total, sum;
    int err; /* errno of a failure, 0 */
};

static void *send_all(void *arg)
{
    struct sender *s = arg;
    struct xway_zc z;
    s->sum = FNV_INIT;
    for (uint64_t pos = 0; pos < s->total;) {
        size_t want = s->total - pos < CHUNK ? (size_t)(s->total - pos) : CHUNK;
        if (xway_zc_reserve(s->fd, want, &z, 0) < 0)
            goto fail;
        for (int i = 0; i < 2; i++) /* the bytes are written where they are sent from */
            for (size_t k = 0; k < z.seg[i].iov_len; k++, pos++)
                ((unsigned char *)z.seg[i].iov_base)[k] = (unsigned char)(pos * 7 + pos / 4099);
        s->sum = fnv_zc(s->sum, &z);
        /* A blocking socket commits all of it (a nonblocking one may send less). */
        ssize_t n = xway_zc_commit(s->fd, z.len, MSG_NOSIGNAL);
        if (n < 0)
            goto fail;
        if ((size_t)n != z.len) {
            errno = EIO;
            goto fail;
        }
    }
    if (xway_shutdown(s->fd, SHUT_WR) == 0)
        return NULL;
fail:
    s->err = errno;
    return NULL;
}

static int client(const struct sockaddr_storage *ss, socklen_t sl, uint64_t total)
{
    int fd = xway_socket(ss->ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return die("socket");
    if (xway_connect(fd, (const void *)ss, sl) < 0)
        return die("connect");
    struct sender s = { .fd = fd, .total = total };
    pthread_t t;
    if (pthread_create(&t, NULL, send_all, &s) != 0)
        return die("pthread_create");
    uint64_t got = 0, sum = FNV_INIT;
    struct xway_zc z;
    ssize_t n;
    while ((n = xway_zc_recv(fd, &z, 0)) > 0) { /* read in place, then consume */
        sum = fnv_zc(sum, &z);
        got += z.len;
        if (xway_zc_recv_done(fd, z.len) < 0)
            return die("xway_zc_recv_done");
    }
    if (n < 0)
        return die("xway_zc_recv");
    pthread_join(t, NULL);
    if (s.err) {
        errno = s.err;
        return die("sending");
    }
    struct xway_conn_info ci;
    socklen_t cl = sizeof(ci);
    if (xway_getsockopt(fd, XWAY_SOL, XWAY_INFO, &ci, &cl) < 0)
        return die("XWAY_INFO");
    xway_close(fd);
    bool ok = got == total && sum == s.sum;
    printf("xway-zc-echo: path %s: sent %llu bytes (fnv %016llx), echo %llu bytes (fnv %016llx): "
           "%s\n", ci.path, (unsigned long long)total, (unsigned long long)s.sum,
           (unsigned long long)got, (unsigned long long)sum, ok ? "ok" : "MISMATCH");
    return ok ? 0 : 1;
}

static int parse_addr(const char *host, unsigned port, struct sockaddr_storage *ss,
                      socklen_t *sl)
{
    struct sockaddr_in *s4 = (void *)ss;
    struct sockaddr_in6 *s6 = (void *)ss;
    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *sl = sizeof(*s4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *sl = sizeof(*s6);
        return 0;
    }
    fprintf(stderr, "xway-zc-echo: %s: not a numeric IPv4/IPv6 address\n", host);
    return -1;
}

/* "1000", "64K", "16M", "1G": bytes; false if malformed. */
static bool parse_size(const char *s, uint64_t *out)
{
    char *end;
    *out = strtoull(s, &end, 10);
    int shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
    *out <<= shift;
    return end != s && *s != '-' && end[shift ? 1 : 0] == '\0';
}

int main(int argc, char **argv)
{
    const char *host = NULL;
    bool server = false, once = false;
    unsigned port = 7;
    uint64_t total = 64u << 20;
    int c;
    while ((c = getopt(argc, argv, "sc:B:p:n:1")) != -1) {
        switch (c) {
        case 's': server = true; break;
        case 'c': host = optarg; break;
        case 'B': host = optarg; break;
        case 'p': port = (unsigned)atoi(optarg); break;
        case 'n':
            if (!parse_size(optarg, &total))
                goto usage;
            break;
        case '1': once = true; break;
        default: goto usage;
        }
    }
    if (optind != argc || (!server && !host) || port == 0 || port > 65535)
        goto usage;
    if (xway_init(NULL) < 0) {
        fprintf(stderr, "xway-zc-echo: %s\n", xway_last_error());
        return 2;
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_addr(host ? host : "0.0.0.0", port, &ss, &sl) < 0)
        return 2;
    int rc = server ? serve(&ss, sl, once) : client(&ss, sl, total);
    xway_fini();
    return rc;
usage:
    fprintf(stderr, "usage: xway-zc-echo -s [-B ADDR] [-p PORT] [-1] | -c HOST [-p PORT] "
            "[-n BYTES]\n");
    return 2;
}

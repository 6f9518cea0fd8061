/* xwperf server: one thread per connection; verifies every byte received and
 * answers each connection with its counts and checksums. */
#include "xwperf.h"
#include "proto.h"
#include "verify.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bulk receive size (at least the message size): 64 KiB keeps the buffer the
 * checker reads in L2 (256 KiB: ring ~8.5-9.4 GB/s, 64 KiB: ~9.1-10.1). */
#define BULK_RECV (64u << 10)
#define MAX_LISTENERS 2

/* Test bookkeeping for -1.  Protected by lock. */
struct server {
    const struct xwp_opts *o;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool have_test;
    uint64_t test_id;
    uint32_t test_nconn, test_done;
    int test_rc;
    int active; /* connection threads running */
};

struct conn {
    struct server *srv;
    int fd;
    char peer[INET6_ADDRSTRLEN + 8];
    struct xwp_hello h;
    struct xwp_result r;
    atomic_bool rx_done; /* --bidir: the client's EOF arrived */
    int tx_err;
};

/* Account payload: verify every byte against the pattern.  false on bad data. */
static bool account_rx(struct conn *c, const void *buf, size_t n, uint64_t start)
{
    long bad = xwp_pattern_check(buf, n, start + c->r.rx_bytes);
    if (bad >= 0 && c->r.bad_off < 0)
        c->r.bad_off = (int64_t)(c->r.rx_bytes + (uint64_t)bad);
    c->r.rx_bytes += n;
    return bad < 0;
}

static int serve_bulk(struct conn *c, unsigned char *buf, size_t bufsz)
{
    const struct xwp_ops *ops = c->srv->o->ops;
    uint64_t start = xwp_pattern_start(c->h.seed, c->h.conn_idx, XWP_DIR_UP);
    for (;;) {
        ssize_t n = ops->recv(c->fd, buf, bufsz, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        account_rx(c, buf, (size_t)n, start);
    }
}

/* --zc: every byte checked where it lies, in the view (both segments), then
 * consumed; no copy out of the ring or of lwIP's segments.  At most max bytes
 * a view (the rest stays for the next): the sender refills the ring behind
 * the checker, as behind a recv of that size. */
static int serve_bulk_zc(struct conn *c, size_t max)
{
    const struct xwp_ops *ops = c->srv->o->ops;
    uint64_t start = xwp_pattern_start(c->h.seed, c->h.conn_idx, XWP_DIR_UP);
    struct xway_zc z;
    for (;;) {
        ssize_t n = ops->zc_recv(c->fd, &z, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        size_t len = z.len < max ? z.len : max;
        size_t len0 = len < z.seg[0].iov_len ? len : z.seg[0].iov_len;
        account_rx(c, z.seg[0].iov_base, len0, start);
        account_rx(c, z.seg[1].iov_base, len - len0, start);
        if (ops->zc_recv_done(c->fd, len) < 0)
            return -errno;
    }
}

static void *bidir_sender(void *arg)
{
    struct conn *c = arg;
    const struct xwp_ops *ops = c->srv->o->ops;
    uint64_t start = xwp_pattern_start(c->h.seed, c->h.conn_idx, XWP_DIR_DOWN);
    uint64_t limit = c->h.down_bytes;
    for (;;) {
        uint32_t len = c->h.msglen;
        if (limit && limit - c->r.tx_bytes < len)
            len = (uint32_t)(limit - c->r.tx_bytes);
        if (limit ? len == 0 : atomic_load(&c->rx_done))
            len = 0;
        unsigned char hdr[XWP_FRAME_HDR] = { len >> 24, len >> 16, len >> 8, len };
        const unsigned char *p = xwp_pattern_at(start + c->r.tx_bytes);
        struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)p, len } };
        c->tx_err = xwp_sendv_all(ops, c->fd, iov, 2);
        if (c->tx_err || len == 0)
            return NULL;
        c->r.tx_bytes += len;
    }
}

static int serve_bidir(struct conn *c, unsigned char *buf, size_t bufsz)
{
    pthread_t t;
    if (pthread_create(&t, NULL, bidir_sender, c) != 0)
        return -EAGAIN;
    int rc = serve_bulk(c, buf, bufsz);
    atomic_store(&c->rx_done, true);
    if (rc < 0) /* unblock the sender */
        c->srv->o->ops->shutdown(c->fd, SHUT_RDWR);
    pthread_join(t, NULL);
    return rc ? rc : c->tx_err;
}

static int serve_rr(struct conn *c, unsigned char *buf)
{
    const struct xwp_ops *ops = c->srv->o->ops;
    uint64_t start = xwp_pattern_start(c->h.seed, c->h.conn_idx, XWP_DIR_UP);
    size_t len = c->h.msglen;
    xwp_setopt(ops, c->fd, IPPROTO_TCP, TCP_NODELAY, 1);
    for (;;) {
        ssize_t n = xwp_recv_all(ops, c->fd, buf, len);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return 0;
        if ((size_t)n < len)
            return -EPROTO;
        account_rx(c, buf, len, start);
        n = xwp_send_all(ops, c->fd, buf, len);
        if (n < 0)
            return (int)n;
        c->r.tx_bytes += len;
    }
}

static void test_finished(struct server *s, const struct xwp_hello *h, int rc)
{
    pthread_mutex_lock(&s->lock);
    if (!s->have_test) {
        s->have_test = true;
        s->test_id = h->test_id;
        s->test_nconn = h->nconn;
    }
    if (h->test_id == s->test_id) {
        s->test_done++;
        if (rc && !s->test_rc)
            s->test_rc = rc;
    }
    s->active--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* The result's digests: what was received (all of it matched the pattern, or
 * not) and what was sent (the pattern; in --rr the echo of what was received). */
static void set_digests(struct conn *c)
{
    uint64_t up = xwp_pattern_start(c->h.seed, c->h.conn_idx, XWP_DIR_UP);
    uint64_t down = c->h.mode == XWP_RR ? up
                                        : xwp_pattern_start(c->h.seed, c->h.conn_idx, XWP_DIR_DOWN);
    bool bad = c->r.bad_off >= 0;
    c->r.rx_csum = bad ? xwp_stream_digest_bad(up, c->r.rx_bytes)
                       : xwp_stream_digest(up, c->r.rx_bytes);
    c->r.tx_csum = bad && c->h.mode == XWP_RR ? xwp_stream_digest_bad(down, c->r.tx_bytes)
                                              : xwp_stream_digest(down, c->r.tx_bytes);
}

/* "ring", or "tcp (reason)" for the verbose log; "" for the kernel's sockets. */
static void path_note(const struct conn *c, char *out, size_t len)
{
    const struct xwp_ops *ops = c->srv->o->ops;
    struct xway_conn_info ci;
    out[0] = '\0';
    if (!ops->info || ops->info(c->fd, &ci) < 0)
        return;
    if (!strcmp(ci.path, "ring"))
        snprintf(out, len, ", path ring");
    else
        snprintf(out, len, ", path %s (%s)", ci.path, ci.fallback);
}

/* Runs the connection's test; returns an exit code for -1. */
static int serve(struct conn *c)
{
    const struct xwp_ops *ops = c->srv->o->ops;
    unsigned char hello[XWP_HELLO_LEN], res[XWP_RESULT_LEN];
    ssize_t n = xwp_recv_all(ops, c->fd, hello, sizeof(hello));
    if (n != (ssize_t)sizeof(hello) || xwp_hello_decode(hello, &c->h) < 0) {
        fprintf(stderr, "xwperf: %s: bad hello (%s)\n", c->peer,
                n < 0 ? strerror((int)-n) : "short or malformed");
        memset(&c->h, 0, sizeof(c->h));
        c->h.nconn = 1;
        return 2;
    }
    size_t bufsz = c->h.msglen > BULK_RECV ? c->h.msglen : BULK_RECV;
    unsigned char *buf = malloc(bufsz);
    if (!buf)
        return 2;
    /* --zc where the client asked for it and this side has the API; the
     * kernel's sockets receive as usual, and the result tells the client */
    if ((c->h.flags & XWP_F_ZC) && ops->zc_recv)
        c->r.flags |= XWP_F_ZC;
    int rc;
    if (c->r.flags & XWP_F_ZC)
        rc = serve_bulk_zc(c, bufsz);
    else if (c->h.mode == XWP_BULK)
        rc = serve_bulk(c, buf, bufsz);
    else if (c->h.mode == XWP_BIDIR)
        rc = serve_bidir(c, buf, bufsz);
    else if (c->h.mode == XWP_CONNECT)
        rc = 0;
    else
        rc = serve_rr(c, buf);
    free(buf);
    if (rc < 0) {
        fprintf(stderr, "xwperf: %s: %s test failed: %s\n", c->peer,
                xwp_mode_name((int)c->h.mode), strerror(-rc));
        return 2;
    }
    c->r.status = c->r.bad_off >= 0 ? XWP_BAD_DATA : XWP_OK;
    set_digests(c);
    xwp_result_encode(&c->r, res);
    n = xwp_send_all(ops, c->fd, res, sizeof(res));
    if (n < 0) {
        fprintf(stderr, "xwperf: %s: sending the result: %s\n", c->peer, strerror((int)-n));
        return 2;
    }
    if (c->srv->o->verbose || c->r.status) {
        char note[48];
        path_note(c, note, sizeof(note));
        fprintf(stderr, "xwperf: %s: conn %u/%u %s%s: %llu bytes in, %llu out, %s%s\n",
                c->peer, c->h.conn_idx + 1, c->h.nconn, xwp_mode_name((int)c->h.mode),
                c->r.flags & XWP_F_ZC ? " zc" : "",
                (unsigned long long)c->r.rx_bytes, (unsigned long long)c->r.tx_bytes,
                c->r.status ? "BAD DATA" : "verified", note);
    }
    return c->r.status ? 1 : 0;
}

static void *conn_thread(void *arg)
{
    struct conn *c = arg;
    const struct xwp_ops *ops = c->srv->o->ops;
    int rc = serve(c);
    /* Linger so that the result is delivered before a -1 server exits. */
    struct linger lg = { 1, 5 };
    ops->setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    ops->close(c->fd);
    test_finished(c->srv, &c->h, rc);
    free(c);
    return NULL;
}

static void peer_name(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char a[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const void *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
        port = ntohs(s4->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const void *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
        port = ntohs(s6->sin6_port);
    } else if (ss->ss_family == AF_UNIX) {
        snprintf(out, len, "unix");
        return;
    }
    snprintf(out, len, "%s:%u", a, port);
}

/* The AF_UNIX listening address; a socket file left at path by an earlier
 * server is removed first (anything else there makes bind fail). */
static int unix_listen_addr(const char *path, struct sockaddr_storage *ss, socklen_t *sl)
{
    struct stat st;
    if (xwp_unix_addr(path, ss, sl) < 0) {
        fprintf(stderr, "xwperf: --unix %s: path too long\n", path);
        return -1;
    }
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    return 0;
}

static int listen_on(const struct xwp_opts *o, const char *addr, bool quiet)
{
    const struct xwp_ops *ops = o->ops;
    struct sockaddr_storage ss = { 0 };
    socklen_t sl;
    struct sockaddr_in *s4 = (void *)&ss;
    struct sockaddr_in6 *s6 = (void *)&ss;
    if (ops == &xwp_unix_ops) {
        if (unix_listen_addr(addr, &ss, &sl) < 0)
            return -1;
    } else if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(o->port);
        sl = sizeof(*s4);
    } else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(o->port);
        sl = sizeof(*s6);
    } else {
        fprintf(stderr, "xwperf: -B %s: not a numeric IPv4/IPv6 address\n", addr);
        return -1;
    }
    int fd = ops->socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    xwp_setopt(ops, fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (ops->bind(fd, (void *)&ss, sl) < 0 || ops->listen(fd, 1024) < 0) {
        int e = errno;
        ops->close(fd);
        errno = e;
        goto fail;
    }
    return fd;
fail:
    if (!quiet)
        fprintf(stderr, "xwperf: listen on %s port %u: %s\n", addr, o->port, strerror(errno));
    return -1;
}

static bool once_done(struct server *s)
{
    pthread_mutex_lock(&s->lock);
    bool done = s->have_test && s->test_done >= s->test_nconn;
    pthread_mutex_unlock(&s->lock);
    return done;
}

static void accept_one(struct server *s, int lfd)
{
    const struct xwp_ops *ops = s->o->ops;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int fd = ops->accept(lfd, (void *)&ss, &sl);
    if (fd < 0) {
        if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
            fprintf(stderr, "xwperf: accept: %s\n", strerror(errno));
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) {
        ops->close(fd);
        return;
    }
    c->srv = s;
    c->fd = fd;
    c->r.bad_off = -1;
    peer_name(&ss, c->peer, sizeof(c->peer));
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&s->lock);
    s->active++;
    pthread_mutex_unlock(&s->lock);
    pthread_t t;
    if (pthread_create(&t, &at, conn_thread, c) != 0) {
        fprintf(stderr, "xwperf: cannot start a connection thread\n");
        ops->close(fd);
        free(c);
        pthread_mutex_lock(&s->lock);
        s->active--;
        pthread_mutex_unlock(&s->lock);
    }
    pthread_attr_destroy(&at);
}

int xwp_server_run(const struct xwp_opts *o)
{
    struct server s = { .o = o };
    struct pollfd pfd[MAX_LISTENERS];
    nfds_t n = 0;
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.cond, NULL);
    if (o->host) {
        int fd = listen_on(o, o->host, false);
        if (fd < 0)
            return 2;
        pfd[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
    } else {
        /* "::" is dual-stack on Linux and on xway; 0.0.0.0 then fails (in use) and
         * only matters where IPv6 is off or v6-only. */
        static const char *any[] = { "::", "0.0.0.0" };
        for (int i = 0; i < 2; i++) {
            int fd = listen_on(o, any[i], true);
            if (fd >= 0)
                pfd[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
        }
        if (n == 0) {
            fprintf(stderr, "xwperf: cannot listen on port %u (:: and 0.0.0.0)\n", o->port);
            return 2;
        }
    }
    /* Each xway connection's path (ring or tcp) is decided when it is made. */
    const char *what = o->ops == &xwp_xway_ops ? "xway stack" : o->ops->path;
    if (o->ops == &xwp_unix_ops)
        printf("xwperf: server (%s) listening on %s\n", what, o->host);
    else
        printf("xwperf: server (%s) listening on port %u\n", what, o->port);
    fflush(stdout);
    if (o->epoll) {
        int lfd[MAX_LISTENERS], rc;
        for (nfds_t i = 0; i < n; i++)
            lfd[i] = pfd[i].fd;
        rc = xwp_evloop_run(o, lfd, (int)n);
        for (nfds_t i = 0; i < n; i++)
            o->ops->close(pfd[i].fd);
        if (o->ops == &xwp_unix_ops)
            unlink(o->host);
        return rc;
    }
    while (!(o->once && once_done(&s))) {
        int r = o->ops->poll(pfd, n, 200);
        if (r < 0 && errno != EINTR) {
            fprintf(stderr, "xwperf: poll: %s\n", strerror(errno));
            return 2;
        }
        for (nfds_t i = 0; r > 0 && i < n; i++)
            if (pfd[i].revents & POLLIN)
                accept_one(&s, pfd[i].fd);
    }
    for (nfds_t i = 0; i < n; i++)
        o->ops->close(pfd[i].fd);
    if (o->ops == &xwp_unix_ops)
        unlink(o->host);
    pthread_mutex_lock(&s.lock);
    while (s.active > 0)
        pthread_cond_wait(&s.cond, &s.lock);
    int rc = s.test_rc;
    pthread_mutex_unlock(&s.lock);
    return rc;
}

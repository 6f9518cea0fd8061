/* The socket API's POSIX semantics, in one process over the stack's loopback. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "testlib.h"
#include "xway.h"

static struct sockaddr_in lo(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int listener(int port, int backlog)
{
    struct sockaddr_in a = lo(port);
    int one = 1, fd = xway_socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    CHECK_EQ(xway_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    CHECK_EQ(xway_bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    CHECK_EQ(xway_listen(fd, backlog), 0);
    return fd;
}

static int connect_to(int port)
{
    struct sockaddr_in a = lo(port);
    int fd = xway_socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    CHECK_EQ(xway_connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void pair(int port, int *c, int *s)
{
    int l = listener(port, 4);
    *c = connect_to(port);
    *s = xway_accept(l, NULL, NULL);
    CHECK(*s >= 0);
    CHECK_EQ(xway_close(l), 0);
}

static void test_errors(void)
{
    char b;
    struct sockaddr_in a = lo(1);
    int fd;

    CHECK_EQ(xway_socket(AF_UNIX, SOCK_STREAM, 0), -1);
    CHECK_EQ(errno, EAFNOSUPPORT);
    CHECK_EQ(xway_socket(AF_INET, SOCK_DGRAM, 0), -1);
    CHECK_EQ(xway_send(12345, "x", 1, 0), -1);
    CHECK_EQ(errno, EBADF);
    CHECK_EQ(xway_close(0), -1); /* stdin is not an xway socket */
    CHECK_EQ(errno, EBADF);
    fd = xway_socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(xway_recv(fd, &b, 1, 0), -1);
    CHECK_EQ(errno, ENOTCONN);
    /* nothing listens on port 1: refused */
    CHECK_EQ(xway_connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
    CHECK_EQ(errno, ECONNREFUSED);
    CHECK_EQ(xway_setsockopt(fd, SOL_SOCKET, 9999, &fd, sizeof(fd)), -1);
    CHECK_EQ(errno, ENOPROTOOPT);
    CHECK_EQ(xway_setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &fd, 1), -1);
    CHECK_EQ(errno, EINVAL);
    CHECK_EQ(xway_close(fd), 0);
    CHECK_EQ(xway_close(fd), -1);
    CHECK_EQ(errno, EBADF);
}

static void test_addrinuse(void)
{
    struct sockaddr_in a = lo(7001);
    int l = listener(7001, 1), fd = xway_socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(xway_bind(fd, (struct sockaddr *)&a, sizeof(a)), -1);
    CHECK_EQ(errno, EADDRINUSE);
    xway_close(fd);
    xway_close(l);
}

struct bulk {
    int fd;
    size_t bytes;
    uint64_t sum;
};

static void *bulk_send(void *arg)
{
    struct bulk *b = arg;
    static char buf[100000];
    uint64_t off = 0;
    while (off < b->bytes) {
        size_t n = b->bytes - off < sizeof(buf) ? b->bytes - off : sizeof(buf);
        xw_pattern(buf, n, off, 7);
        b->sum = xw_fnv(b->sum, buf, n);
        CHECK_EQ(xway_send(b->fd, buf, n, 0), (long long)n);
        off += n;
    }
    CHECK_EQ(xway_shutdown(b->fd, SHUT_WR), 0);
    return NULL;
}

static void test_bulk(void)
{
    struct bulk b = { .bytes = 64u << 20, .sum = XW_FNV_INIT };
    static char buf[77777];
    uint64_t got = 0, sum = XW_FNV_INIT;
    pthread_t t;
    int c, s;
    ssize_t n;

    pair(7002, &c, &s);
    b.fd = c;
    pthread_create(&t, NULL, bulk_send, &b);
    while ((n = xway_recv(s, buf, sizeof(buf), 0)) > 0) {
        CHECK_EQ(xw_pattern_check(buf, (size_t)n, got, 7), -1);
        sum = xw_fnv(sum, buf, (size_t)n);
        got += (uint64_t)n;
    }
    CHECK_EQ(n, 0);
    pthread_join(t, NULL);
    CHECK_EQ(got, b.bytes);
    CHECK(sum == b.sum);
    xway_close(c);
    xway_close(s);
}

/* xway_sendfile: from an offset (advanced; the file's position untouched),
 * then from the file's position (advanced), short at the end of the file, 0
 * past it; every byte checked (on the ring the file is read into the ring). */
struct sf {
    int fd, file;
};

static void *sendfile_send(void *arg)
{
    struct sf *a = arg;
    off_t off = 1000;
    size_t sent = 0;
    ssize_t r;

    while (sent < 2000000 && (r = xway_sendfile(a->fd, a->file, &off, 2000000 - sent)) > 0)
        sent += (size_t)r;
    CHECK_EQ(sent, 2000000);
    CHECK_EQ(off, 1000 + 2000000);
    CHECK_EQ(lseek(a->file, 0, SEEK_CUR), 0);
    CHECK_EQ(lseek(a->file, 500, SEEK_SET), 500);
    for (sent = 0; sent < 10000 && (r = xway_sendfile(a->fd, a->file, NULL, 10000 - sent)) > 0;)
        sent += (size_t)r;
    CHECK_EQ(lseek(a->file, 0, SEEK_CUR), 10500);
    off = (3 << 20) - 100;
    CHECK_EQ(xway_sendfile(a->fd, a->file, &off, 1000), 100);
    CHECK_EQ(xway_sendfile(a->fd, a->file, &off, 1000), 0);
    CHECK_EQ(xway_sendfile(a->fd, -1, NULL, 10), -1);
    CHECK_EQ(errno, EBADF);
    CHECK_EQ(xway_shutdown(a->fd, SHUT_WR), 0);
    return NULL;
}

static void test_sendfile(void)
{
    static char file[3 << 20], buf[65536];
    char name[] = "/tmp/xw-sendfile-XXXXXX";
    struct sf a;
    uint64_t want = XW_FNV_INIT, sum = XW_FNV_INIT, got = 0;
    pthread_t t;
    int c, s;
    ssize_t n;

    xw_pattern(file, sizeof(file), 0, 11);
    a.file = mkstemp(name);
    CHECK(a.file >= 0);
    unlink(name);
    CHECK_EQ(write(a.file, file, sizeof(file)), (long long)sizeof(file));
    CHECK_EQ(lseek(a.file, 0, SEEK_SET), 0);
    want = xw_fnv(want, file + 1000, 2000000);
    want = xw_fnv(want, file + 500, 10000);
    want = xw_fnv(want, file + sizeof(file) - 100, 100);
    pair(7008, &c, &s);
    a.fd = c;
    pthread_create(&t, NULL, sendfile_send, &a);
    while ((n = xway_recv(s, buf, sizeof(buf), 0)) > 0) {
        sum = xw_fnv(sum, buf, (size_t)n);
        got += (uint64_t)n;
    }
    CHECK_EQ(n, 0);
    pthread_join(t, NULL);
    CHECK_EQ(got, 2000000 + 10000 + 100);
    CHECK(sum == want);
    close(a.file);
    xway_close(c);
    xway_close(s);
}

static void test_peek_waitall_nonblock(void)
{
    char buf[16];
    int c, s;
    struct iovec iov[2] = { { buf, 3 }, { buf + 3, 5 } };

    pair(7003, &c, &s);
    CHECK_EQ(xway_recv(s, buf, sizeof(buf), MSG_DONTWAIT), -1);
    CHECK_EQ(errno, EAGAIN);
    CHECK_EQ(xway_send(c, "hello", 5, 0), 5);
    CHECK_EQ(xway_recv(s, buf, 5, MSG_PEEK | MSG_WAITALL), 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK_EQ(xway_send(c, "world", 5, 0), 5);
    memset(buf, 0, sizeof(buf));
    CHECK_EQ(xway_recv(s, buf, 10, MSG_WAITALL), 10);
    CHECK(memcmp(buf, "helloworld", 10) == 0);
    CHECK_EQ(xway_writev(c, iov, 2), 8); /* "hellowor" */
    memset(buf, 0, sizeof(buf));
    CHECK_EQ(xway_recv(s, buf, 8, MSG_WAITALL), 8);
    CHECK(memcmp(buf, "hellowor", 8) == 0);
    /* SO_RCVTIMEO: a blocking recv gives up with EAGAIN */
    struct timeval tv = { 0, 200000 };
    CHECK_EQ(xway_setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    uint64_t t0 = xw_now_ns();
    CHECK_EQ(xway_recv(s, buf, 1, 0), -1);
    CHECK_EQ(errno, EAGAIN);
    CHECK(xw_now_ns() - t0 >= 150000000ull);
    /* ... and reads back as set (a negative one is none: zero) */
    struct timeval got = { 9, 9 };
    socklen_t gl = sizeof(got);
    CHECK_EQ(xway_getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &got, &gl), 0);
    CHECK(gl == sizeof(got) && got.tv_sec == 0 && got.tv_usec == 200000);
    tv = (struct timeval){ -5, 0 };
    CHECK_EQ(xway_setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
    CHECK_EQ(xway_getsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &got, &gl), 0);
    CHECK(got.tv_sec == 0 && got.tv_usec == 0);
    tv = (struct timeval){ 0, 1000000 };
    CHECK_EQ(xway_setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), -1);
    CHECK_EQ(errno, EDOM);
    struct linger lg = { 1, 7 }, lgot = { 0, 0 };
    socklen_t ll = sizeof(lgot);
    CHECK_EQ(xway_setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    CHECK_EQ(xway_getsockopt(s, SOL_SOCKET, SO_LINGER, &lgot, &ll), 0);
    CHECK(ll == sizeof(lgot) && lgot.l_onoff == 1 && lgot.l_linger == 7);
    lg = (struct linger){ 0, 0 };
    CHECK_EQ(xway_setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    xway_close(c);
    CHECK_EQ(xway_recv(s, buf, 1, 0), 0); /* EOF */
    xway_close(s);
}

static void test_reset_and_epipe(void)
{
    struct linger lg = { 1, 0 };
    char buf[8];
    int c, s;

    pair(7004, &c, &s);
    CHECK_EQ(xway_setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    CHECK_EQ(xway_close(c), 0); /* RST */
    struct pollfd p = { .fd = s, .events = POLLIN };
    CHECK_EQ(xway_poll(&p, 1, 2000), 1);
    CHECK_EQ(xway_recv(s, buf, sizeof(buf), 0), -1);
    CHECK_EQ(errno, ECONNRESET);
    CHECK_EQ(xway_send(s, "x", 1, MSG_NOSIGNAL), -1);
    CHECK_EQ(errno, EPIPE);
    xway_close(s);

    /* shutdown(SHUT_WR) then send: EPIPE, and SIGPIPE without MSG_NOSIGNAL */
    pair(7005, &c, &s);
    CHECK_EQ(xway_shutdown(c, SHUT_WR), 0);
    CHECK_EQ(xway_recv(s, buf, 1, 0), 0);
    signal(SIGPIPE, SIG_IGN);
    CHECK_EQ(xway_send(c, "x", 1, 0), -1);
    CHECK_EQ(errno, EPIPE);
    CHECK_EQ(xway_send(s, "y", 1, 0), 1); /* the other direction stays open */
    CHECK_EQ(xway_recv(c, buf, 1, 0), 1);
    CHECK_EQ(buf[0], 'y');
    xway_close(c);
    xway_close(s);
}

static void test_nonblocking_connect_and_epoll(void)
{
    struct sockaddr_in a = lo(7006);
    struct epoll_event ev = { .events = EPOLLOUT }, out;
    int l = listener(7006, 4), err = -1, ep;
    socklen_t len = sizeof(err);
    int c = xway_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    CHECK_EQ(xway_connect(c, (struct sockaddr *)&a, sizeof(a)), -1);
    CHECK_EQ(errno, EINPROGRESS);
    ep = epoll_create1(0);
    CHECK_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev), 0);
    CHECK_EQ(epoll_wait(ep, &out, 1, 2000), 1);
    CHECK(out.events & EPOLLOUT);
    CHECK_EQ(xway_getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    CHECK_EQ(err, 0);

    /* the listener's fd becomes readable for accept */
    CHECK_EQ(epoll_ctl(ep, EPOLL_CTL_DEL, c, NULL), 0);
    ev.events = EPOLLIN;
    ev.data.fd = l;
    CHECK_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev), 0);
    CHECK_EQ(epoll_wait(ep, &out, 1, 2000), 1);
    CHECK_EQ(out.data.fd, l);
    int s = xway_accept4(l, NULL, NULL, SOCK_NONBLOCK);
    CHECK(s >= 0);
    close(ep);
    xway_close(c);
    xway_close(s);
    xway_close(l);
}

static void test_names_and_opts(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int c, s, v = 1, got = 0;

    pair(7007, &c, &s);
    CHECK_EQ(xway_getsockname(s, (struct sockaddr *)&a, &len), 0);
    CHECK_EQ(ntohs(a.sin_port), 7007);
    CHECK_EQ(xway_getpeername(s, (struct sockaddr *)&a, &len), 0);
    CHECK_EQ(a.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    CHECK_EQ(xway_setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)), 0);
    len = sizeof(got);
    CHECK_EQ(xway_getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &got, &len), 0);
    CHECK_EQ(got, 1);
    CHECK_EQ(xway_setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)), 0);
    CHECK_EQ(xway_getsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &got, &len), 0);
    CHECK_EQ(got, 1);
    xway_close(c);
    xway_close(s);
}

int main(void)
{
    CHECK_EQ(xway_init(NULL), 0);
    CHECK_EQ(xway_init(NULL), -1);
    CHECK_EQ(errno, EALREADY);
    test_errors();
    test_addrinuse();
    test_bulk();
    test_sendfile();
    test_peek_waitall_nonblock();
    test_reset_and_epipe();
    test_nonblocking_connect_and_epoll();
    test_names_and_opts();
    xway_fini();
    printf("api_loopback: PASS\n");
    return 0;
}

/* The client side of the peer protocol and the checks the shim API tests share
 * (peer.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "peer.h"

/* getsockopt(fd, XWAY_SOL, XWAY_INFO): include/xway.h, kept out of the tests'
 * includes so that they stay plain POSIX programs. */
#define XWAY_SOL 0x5857
#define XWAY_INFO 1
struct conn_info {
    char path[8];
    char fallback[24];
    int fallback_code;
    uint32_t ring_bytes;
    uint64_t ring_tx, ring_rx, tcp_tx, tcp_rx;
};

_Atomic int st_fails;
bool st_xway;
static const char *mode, *path = "ring";
static struct sockaddr_in peer;

void st_die(const char *fmt, ...)
{
    va_list ap;
    int e = errno;

    printf("FAIL: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf(" (errno %s)\n", strerror(e));
    fflush(stdout);
    exit(1);
}

void st_init(int argc, char **argv, int secs)
{
    if (argc < 4 || (strcmp(argv[1], "xway") && strcmp(argv[1], "kernel") && strcmp(argv[1], "tcp")) ||
        inet_pton(AF_INET, argv[2], &peer.sin_addr) != 1) {
        fprintf(stderr, "usage: %s xway|tcp|kernel PEER_ADDR PORT ...\n", argv[0]);
        exit(2);
    }
    mode = argv[1];
    st_xway = strcmp(mode, "kernel") != 0; /* tcp: under the shim, on the TCP path */
    if (!strcmp(mode, "tcp"))
        path = "tcp";
    peer.sin_family = AF_INET;
    peer.sin_port = htons((unsigned short)atoi(argv[3]));
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm((unsigned)secs);
}

int st_conn(int cmd, uint32_t id, uint64_t arg, uint32_t chunk, uint32_t delay_ms)
{
    struct peer_hdr h = { .cmd = (uint8_t)cmd, .id = id, .arg = arg, .chunk = chunk,
                          .delay_ms = delay_ms };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0 || connect(fd, (struct sockaddr *)&peer, sizeof(peer)) < 0)
        st_die("connect to the peer (id %u)", id);
    st_write_all(fd, &h, sizeof(h));
    return fd;
}

struct peer_state st_query(uint32_t id, uint32_t wait_ms)
{
    struct peer_state st = { 2, 0, 0 };
    int q = st_conn(PEER_QUERY, 60000 + id % 5000, id, 0, wait_ms);

    if (st_read_n(q, &st, sizeof(st)) != sizeof(st))
        st_die("query of connection %u", id);
    close(q);
    return st;
}

bool st_is_xway(int fd)
{
    struct conn_info ci;
    socklen_t len = sizeof(ci);

    return getsockopt(fd, XWAY_SOL, XWAY_INFO, &ci, &len) == 0;
}

void st_ring(int fd, const char *what)
{
    struct conn_info ci;
    socklen_t len = sizeof(ci);
    int rc;

    memset(&ci, 0, sizeof(ci));
    errno = 0;
    rc = getsockopt(fd, XWAY_SOL, XWAY_INFO, &ci, &len);
    if (!st_xway) {
        CHECK(rc < 0, "%s: XWAY_INFO answered without the shim", what);
        return;
    }
    CHECK(rc == 0 && !strcmp(ci.path, path) && (ci.ring_tx + ci.ring_rx > 0 || strcmp(path, "ring")),
          "%s: not on the %s path (rc %d %s, path '%s', fallback '%s', ring tx %llu rx %llu)", what, path,
          rc, strerror(errno), ci.path, ci.fallback, (unsigned long long)ci.ring_tx,
          (unsigned long long)ci.ring_rx);
}

void st_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            st_die("write to fd %d", fd);
        p += w;
        n -= (size_t)w;
    }
}

size_t st_read_n(int fd, void *buf, size_t n)
{
    char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            st_die("read from fd %d", fd);
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return got;
}

void st_fill(uint32_t id, uint64_t off, void *buf, size_t n)
{
    unsigned char *b = buf;
    for (size_t i = 0; i < n; i++)
        b[i] = peer_pat(id, off + i);
}

int st_verify(uint32_t id, uint64_t off, const void *buf, size_t n)
{
    const unsigned char *b = buf;
    for (size_t i = 0; i < n; i++)
        if (b[i] != peer_pat(id, off + i)) {
            printf("connection %u: byte %llu is %#x, want %#x\n", id,
                   (unsigned long long)(off + i), b[i], peer_pat(id, off + i));
            return -1;
        }
    return 0;
}

int st_readable(int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

long st_ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

int st_done(const char *name)
{
    printf("%s %s %s\n", name, st_fails ? "FAILED" : "passed", mode);
    return st_fails ? 1 : 0;
}

void st_send_pat(int fd, uint32_t id, uint64_t off, size_t n)
{
    char buf[4096];
    st_fill(id, off, buf, n);
    st_write_all(fd, buf, n);
}

void st_read_pat(int fd, uint32_t id, uint64_t off, size_t n)
{
    char buf[4096];
    CHECK(st_read_n(fd, buf, n) == n, "connection %u: short read", id);
    CHECK(st_verify(id, off, buf, n) == 0, "connection %u: bytes differ", id);
}

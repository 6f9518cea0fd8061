/* The data calls on connections: sendfile with and without an offset,
 * splice through pipes, sendmmsg/recvmmsg, sendmsg/recvmsg and writev/readv with iovecs, MSG_PEEK, MSG_WAITALL,
 * shutdown(SHUT_WR), getsockname/getpeername, sendto/recvfrom
 * (xs_data_calls xway|kernel PEER_ADDR PORT, against xs_peer).  Our address is
 * the peer's (127.0.0.1) on kernel sockets, XWAY_ADDR's under the shim. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "peer.h"

enum { FILE_ID = 700, FILE_BYTES = 3 << 20 };
static char big[FILE_BYTES];

/* The sink's sum after our SHUT_WR, then its EOF. */
static void check_sum(int fd, uint64_t bytes, uint64_t h, const char *what)
{
    struct peer_sum sum = { 0, 0 };
    char ch;

    OK(shutdown(fd, SHUT_WR));
    CHECK(st_read_n(fd, &sum, sizeof(sum)) == sizeof(sum), "%s: no sum", what);
    CHECK(sum.bytes == bytes && sum.fnv == h, "%s: peer got %llu bytes (%llx), sent %llu (%llx)",
          what, (unsigned long long)sum.bytes, (unsigned long long)sum.fnv,
          (unsigned long long)bytes, (unsigned long long)h);
    CHECK(read(fd, &ch, 1) == 0, "%s: no EOF after the sum", what);
}

static int pattern_file(void)
{
    char path[] = "/tmp/xs_data_calls-XXXXXX";
    int f = mkstemp(path);

    if (f < 0)
        st_die("mkstemp");
    unlink(path);
    st_fill(FILE_ID, 0, big, FILE_BYTES);
    st_write_all(f, big, FILE_BYTES);
    lseek(f, 0, SEEK_SET);
    return f;
}

static void with_sendfile(int f)
{
    int c = st_conn(PEER_SINK, 710, 0, 0, 0), c2, wo;
    off_t off = 1000;
    size_t sent = 0;
    uint64_t h = FNV_INIT, total = 0;
    ssize_t r;

    /* With an offset: it advances, the file position does not move. */
    while (sent < 2000000) {
        r = sendfile(c, f, &off, 2000000 - sent);
        CHECK(r > 0, "sendfile with an offset: %zd (%s)", r, strerror(errno));
        if (r <= 0)
            break;
        sent += (size_t)r;
    }
    CHECK(off == 1000 + 2000000, "offset after sendfile: %lld", (long long)off);
    CHECK(lseek(f, 0, SEEK_CUR) == 0, "sendfile with an offset moved the file position");
    h = fnv(h, big + 1000, 2000000);
    total += 2000000;

    /* Without: from the file position, which advances. */
    lseek(f, 500, SEEK_SET);
    for (sent = 0; sent < 10000; sent += (size_t)r) {
        r = sendfile(c, f, NULL, 10000 - sent);
        CHECK(r > 0, "sendfile from the position: %zd (%s)", r, strerror(errno));
        if (r <= 0)
            break;
    }
    CHECK(lseek(f, 0, SEEK_CUR) == 10500, "file position after sendfile: %lld",
          (long long)lseek(f, 0, SEEK_CUR));
    h = fnv(h, big + 500, 10000);
    total += 10000;

    /* Short at the end of the file, then 0. */
    off = FILE_BYTES - 100;
    CHECK(sendfile(c, f, &off, 1000) == 100 && off == FILE_BYTES, "sendfile at the end: off %lld",
          (long long)off);
    CHECK(sendfile(c, f, &off, 1000) == 0, "sendfile past the end");
    h = fnv(h, big + FILE_BYTES - 100, 100);
    total += 100;

    EXPECT_ERR(sendfile(c, -1, NULL, 10), EBADF);
    wo = open("/dev/null", O_WRONLY);
    EXPECT_ERR(sendfile(c, wo, NULL, 10), EBADF);
    close(wo);
    st_ring(c, "sendfile");
    check_sum(c, total, h, "sendfile");
    close(c);

    /* Nonblocking to a sink that waits before reading: partial sends, the
     * offset always exactly what was sent. */
    c2 = st_conn(PEER_SINK, 711, 0, 0, 300);
    fcntl(c2, F_SETFL, O_NONBLOCK);
    off = 0;
    for (total = 0; total < FILE_BYTES;) {
        r = sendfile(c2, f, &off, FILE_BYTES - total);
        if (r < 0) {
            struct pollfd p = { .fd = c2, .events = POLLOUT };
            CHECK(errno == EAGAIN, "nonblocking sendfile: %s", strerror(errno));
            if (errno != EAGAIN)
                break;
            poll(&p, 1, 5000);
            continue;
        }
        total += (uint64_t)r;
        CHECK((uint64_t)off == total, "offset %lld after %llu bytes sent", (long long)off,
              (unsigned long long)total);
    }
    fcntl(c2, F_SETFL, 0);
    st_ring(c2, "nonblocking sendfile");
    check_sum(c2, FILE_BYTES, fnv(FNV_INIT, big, FILE_BYTES), "nonblocking sendfile");
    close(c2);
}

/* readv until the iovecs are full (or EOF): the bytes read. */
static size_t readv_all(int fd, struct iovec *iov, int cnt)
{
    size_t got = 0;

    while (cnt > 0) {
        ssize_t r = readv(fd, iov, cnt);
        if (r <= 0)
            break;
        got += (size_t)r;
        while (cnt > 0 && (size_t)r >= iov->iov_len) {
            r -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + r;
            iov->iov_len -= (size_t)r;
        }
    }
    return got;
}

/* splice between pipes and a connection (an echo), both ways, every byte
 * checked; the kernel's errors; EOF of a pipe; SPLICE_F_NONBLOCK. */
static void with_splice(void)
{
    enum { TOTAL = 300000, CH = 16384 };
    int c = st_conn(PEER_ECHO, 540, 0, 0, 0), c2 = st_conn(PEER_ECHO, 541, 0, 0, 0), a[2], b[2];
    char buf[CH], got[CH];
    uint64_t sent = 0, recvd = 0;
    loff_t off = 0;

    CHECK(pipe(a) == 0 && pipe(b) == 0, "pipe: %s", strerror(errno));
    CHECK(fcntl(c, F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
    EXPECT_ERR(splice(c, NULL, b[1], NULL, 10, 0), EAGAIN);
    CHECK(fcntl(c, F_SETFL, 0) == 0, "O_NONBLOCK off");
    while (recvd < TOTAL) {
        if (sent < TOTAL) {
            size_t n = TOTAL - sent < CH ? TOTAL - sent : CH, moved = 0;
            st_fill(540, sent, buf, n);
            CHECK(write(a[1], buf, n) == (ssize_t)n, "write into the pipe");
            while (moved < n) {
                ssize_t r = splice(a[0], NULL, c, NULL, n - moved, 0);
                CHECK(r > 0, "splice pipe -> connection: %zd (%s)", r, strerror(errno));
                if (r <= 0)
                    return;
                moved += (size_t)r;
            }
            sent += n;
        }
        ssize_t r = splice(c, NULL, b[1], NULL, CH, 0);
        CHECK(r > 0, "splice connection -> pipe: %zd (%s)", r, strerror(errno));
        if (r <= 0)
            return;
        CHECK(read(b[0], got, (size_t)r) == r, "read from the pipe");
        CHECK(st_verify(540, recvd, got, (size_t)r) == 0, "spliced bytes differ at %llu",
              (unsigned long long)recvd);
        recvd += (size_t)r;
    }
    EXPECT_ERR(splice(c, &off, b[1], NULL, 10, 0), EINVAL);
    EXPECT_ERR(splice(c, NULL, b[1], &off, 10, 0), ESPIPE);
    EXPECT_ERR(splice(c, NULL, c2, NULL, 10, 0), EINVAL);
    EXPECT_ERR(splice(a[0], &off, c, NULL, 10, 0), ESPIPE);
    EXPECT_ERR(splice(a[0], NULL, c, NULL, 10, SPLICE_F_NONBLOCK), EAGAIN);
    close(a[1]);
    CHECK(splice(a[0], NULL, c, NULL, 10, 0) == 0, "splice from a pipe at EOF");
    st_ring(c, "splice");
    close(a[0]);
    close(b[0]);
    close(b[1]);
    close(c);
    close(c2);
}

/* sendmmsg and recvmmsg on a connection (an echo): 3 messages out, the
 * stream back through recvmmsg (MSG_WAITFORONE) and recv, every byte checked. */
static void with_mmsg(void)
{
    int c = st_conn(PEER_ECHO, 545, 0, 0, 0);
    char out[3][1000], in[4][700];
    struct iovec ov[3], iv[4];
    struct mmsghdr om[3], im[4];
    size_t got = 0, total = 0;

    memset(om, 0, sizeof(om));
    memset(im, 0, sizeof(im));
    for (int i = 0; i < 3; i++) {
        size_t n = 300 + 300 * (size_t)i;
        st_fill(545, total, out[i], n);
        ov[i] = (struct iovec){ out[i], n };
        om[i].msg_hdr = (struct msghdr){ .msg_iov = &ov[i], .msg_iovlen = 1 };
        total += n;
    }
    CHECK(sendmmsg(c, om, 3, 0) == 3, "sendmmsg: %s", strerror(errno));
    for (int i = 0; i < 3; i++)
        CHECK(om[i].msg_len == ov[i].iov_len, "sendmmsg message %d: %u bytes", i, om[i].msg_len);
    while (got < total) {
        int r;
        for (int i = 0; i < 4; i++) {
            iv[i] = (struct iovec){ in[i], sizeof(in[i]) };
            im[i].msg_hdr = (struct msghdr){ .msg_iov = &iv[i], .msg_iovlen = 1 };
        }
        r = recvmmsg(c, im, 4, MSG_WAITFORONE, NULL);
        CHECK(r >= 1 && r <= 4, "recvmmsg: %d (%s)", r, strerror(errno));
        if (r < 1)
            break;
        for (int i = 0; i < r; i++) {
            CHECK(im[i].msg_len > 0 && st_verify(545, got, in[i], im[i].msg_len) == 0,
                  "recvmmsg message %d: %u bytes, differ", i, im[i].msg_len);
            got += im[i].msg_len;
        }
    }
    CHECK(got == total, "recvmmsg: %zu of %zu bytes", got, total);
    st_ring(c, "sendmmsg/recvmmsg");
    close(c);
}

static void with_iovecs(void)
{
    uint32_t id = 720;
    int e = st_conn(PEER_ECHO, id, 0, 0, 0);
    static char out[70000], in[70000];
    char name[128], ctl[64];
    struct iovec wv[4] = { { out, 7 }, { out + 7, 4096 }, { out + 4103, 0 }, { out + 4103, 1 } };
    struct iovec rv[3] = { { in + 5000, 100 }, { in, 3000 }, { in + 3000, 1004 } };
    struct msghdr m = { .msg_iov = wv, .msg_iovlen = 4 };
    ssize_t r;

    st_fill(id, 0, out, sizeof(out));
    CHECK(sendmsg(e, &m, MSG_NOSIGNAL) == 4104, "sendmsg of 4 iovecs");
    m = (struct msghdr){ .msg_iov = rv, .msg_iovlen = 3, .msg_name = name,
                         .msg_namelen = sizeof(name), .msg_control = ctl,
                         .msg_controllen = sizeof(ctl), .msg_flags = 0x1234 };
    r = recvmsg(e, &m, MSG_WAITALL);
    CHECK(r == 4104, "recvmsg MSG_WAITALL: %zd", r);
    CHECK(!st_verify(id, 0, in + 5000, 100) && !st_verify(id, 100, in, 4004), "recvmsg bytes");
    CHECK(m.msg_flags == 0 && m.msg_namelen == 0 && m.msg_controllen == 0,
          "recvmsg: flags %#x namelen %u controllen %zu", m.msg_flags, (unsigned)m.msg_namelen,
          (size_t)m.msg_controllen);

    /* writev / readv, a zero-length iovec among them. */
    {
        struct iovec w[5] = { { out + 4104, 1 }, { out + 4105, 0 }, { out + 4105, 65536 },
                              { out + 69641, 3 }, { out + 69644, 356 } };
        struct iovec v[3] = { { in, 10 }, { in + 10, 60000 }, { in + 60010, 5886 } };
        size_t want = 1 + 65536 + 3 + 356;
        r = writev(e, w, 5);
        CHECK(r == (ssize_t)want, "writev: %zd (%s)", r, strerror(errno));
        CHECK(readv_all(e, v, 3) == want, "readv short");
        CHECK(!st_verify(id, 4104, in, want), "readv bytes");
    }
    {
        static struct iovec many[IOV_MAX + 1];
        volatile int neg = -1;
        for (int i = 0; i <= IOV_MAX; i++)
            many[i] = (struct iovec){ in, 1 };
        EXPECT_ERR(writev(e, many, neg), EINVAL);
        EXPECT_ERR(readv(e, many, IOV_MAX + 1), EINVAL);
    }
    st_ring(e, "iovecs");
    close(e);
}

static void peek_waitall(void)
{
    char buf[70000];
    int g = st_conn(PEER_GEN, 730, 1000, 0, 0), h, w, w2, avail = 0;
    struct timespec t0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (st_ms_since(&t0) < 5000 && (ioctl(g, FIONREAD, &avail) < 0 || avail < 1000))
        st_readable(g, 50);
    CHECK(avail == 1000, "FIONREAD %d", avail);
    CHECK(recv(g, buf, 100, MSG_PEEK) == 100 && !st_verify(730, 0, buf, 100), "first peek");
    CHECK(recv(g, buf, 100, MSG_PEEK) == 100 && !st_verify(730, 0, buf, 100), "second peek");
    CHECK(recv(g, buf, 60, 0) == 60 && !st_verify(730, 0, buf, 60), "read after peeking");
    CHECK(recv(g, buf, 100, MSG_PEEK | MSG_DONTWAIT) == 100 && !st_verify(730, 60, buf, 100),
          "peek after reading");
    CHECK(st_read_n(g, buf, 940) == 940 && !st_verify(730, 60, buf, 940), "the rest");
    CHECK(recv(g, buf, 10, MSG_PEEK) == 0, "peek at EOF");
    CHECK(recv(g, buf, 10, 0) == 0, "read at EOF");
    st_ring(g, "peek");
    close(g);

    h = st_conn(PEER_ECHO, 731, 0, 0, 0);
    EXPECT_ERR(recv(h, buf, 10, MSG_PEEK | MSG_DONTWAIT), EAGAIN);
    EXPECT_ERR(recv(h, buf, 10, MSG_WAITALL | MSG_DONTWAIT), EAGAIN);
    close(h);

    /* MSG_WAITALL: 64 KiB arriving in 1000-byte pieces, one call. */
    w = st_conn(PEER_GEN, 732, 65536, 1000, 2);
    CHECK(recv(w, buf, 65536, MSG_WAITALL) == 65536 && !st_verify(732, 0, buf, 65536),
          "MSG_WAITALL over pieces");
    CHECK(recv(w, buf, 10, 0) == 0, "EOF after MSG_WAITALL");
    st_ring(w, "waitall");
    close(w);
    /* ... and cut short by EOF. */
    w2 = st_conn(PEER_GEN, 733, 1000, 0, 0);
    CHECK(recv(w2, buf, 4000, MSG_WAITALL) == 1000 && !st_verify(733, 0, buf, 1000),
          "MSG_WAITALL cut by EOF");
    CHECK(recv(w2, buf, 10, MSG_WAITALL) == 0, "EOF");
    close(w2);
}

static void half_close(void)
{
    uint32_t id = 740;
    int s = st_conn(PEER_SINK, id, 0, 0, 0), u;
    static char buf[300000];
    struct peer_state st;

    st_fill(id, 0, buf, sizeof(buf));
    st_write_all(s, buf, sizeof(buf));
    st_ring(s, "half close");
    /* The peer reads EOF, then answers on the open direction. */
    check_sum(s, sizeof(buf), fnv(FNV_INIT, buf, sizeof(buf)), "half close");
    st = st_query(id, 5000);
    CHECK(st.eof == 1 && st.bytes == sizeof(buf), "peer: eof %llu bytes %llu",
          (unsigned long long)st.eof, (unsigned long long)st.bytes);
    EXPECT_ERR(send(s, "x", 1, MSG_NOSIGNAL), EPIPE);
    signal(SIGPIPE, SIG_IGN);
    EXPECT_ERR(write(s, "x", 1), EPIPE);
    signal(SIGPIPE, SIG_DFL);
    close(s);

    u = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_ERR(shutdown(u, SHUT_WR), ENOTCONN);
    close(u);
}

static bool same(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
    return a->sin_family == b->sin_family && a->sin_addr.s_addr == b->sin_addr.s_addr &&
           a->sin_port == b->sin_port;
}

static void names(const char *local, const char *peer_addr, int port)
{
    int c = st_conn(PEER_NAMES, 750, 0, 0, 0), u;
    struct peer_names pn;
    struct sockaddr_in self, peer, tmp;
    socklen_t sl = sizeof(self), pl = sizeof(peer), l;
    char a[INET_ADDRSTRLEN], buf[64];
    ssize_t r;

    CHECK(st_read_n(c, &pn, sizeof(pn)) == sizeof(pn), "no names from the peer");
    OK(getsockname(c, (struct sockaddr *)&self, &sl));
    OK(getpeername(c, (struct sockaddr *)&peer, &pl));
    inet_ntop(AF_INET, &self.sin_addr, a, sizeof(a));
    CHECK(sl == sizeof(self) && self.sin_family == AF_INET && !strcmp(a, local) && self.sin_port,
          "getsockname: %s port %d len %u, want %s", a, ntohs(self.sin_port), (unsigned)sl, local);
    inet_ntop(AF_INET, &peer.sin_addr, a, sizeof(a));
    CHECK(pl == sizeof(peer) && !strcmp(a, peer_addr) && ntohs(peer.sin_port) == port,
          "getpeername: %s port %d, want %s port %d", a, ntohs(peer.sin_port), peer_addr, port);
    CHECK(pn.llen == sizeof(self) && same((void *)pn.local, &peer), "the peer's getsockname differs");
    CHECK(pn.rlen == sizeof(self) && same((void *)pn.remote, &self), "the peer's getpeername differs");
    printf("names: %s:%d -> %s:%d\n", local, ntohs(self.sin_port), peer_addr, port);

    /* A short buffer: truncated, the full length reported. */
    memset(&tmp, 0xaa, sizeof(tmp));
    l = 4;
    OK(getsockname(c, (struct sockaddr *)&tmp, &l));
    CHECK(l == sizeof(tmp) && !memcmp(&tmp, &self, 4) && ((unsigned char *)&tmp)[4] == 0xaa,
          "getsockname into 4 bytes: len %u", (unsigned)l);

    /* sendto ignores an address, recvfrom reports none (len 0). */
    {
        struct sockaddr_in bogus = { .sin_family = AF_INET, .sin_port = htons(9) };
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        st_fill(750, 0, buf, sizeof(buf));
        CHECK(sendto(c, buf, sizeof(buf), 0, (void *)&bogus, sizeof(bogus)) == sizeof(buf),
              "sendto on a connection: %s", strerror(errno));
        memset(buf, 0, sizeof(buf));
        r = recvfrom(c, buf, sizeof(buf), MSG_WAITALL, (void *)&from, &fl);
        CHECK(r == sizeof(buf) && !st_verify(750, 0, buf, sizeof(buf)), "recvfrom: %zd", r);
        CHECK(fl == 0, "recvfrom address length %u", (unsigned)fl);
    }
    st_ring(c, "names");
    close(c);

    u = socket(AF_INET, SOCK_STREAM, 0);
    l = sizeof(tmp);
    EXPECT_ERR(getpeername(u, (struct sockaddr *)&tmp, &l), ENOTCONN);
    l = sizeof(tmp);
    memset(&tmp, 0xaa, sizeof(tmp));
    OK(getsockname(u, (struct sockaddr *)&tmp, &l));
    CHECK(l == sizeof(tmp) && tmp.sin_family == AF_INET && tmp.sin_addr.s_addr == 0 &&
              tmp.sin_port == 0, "getsockname of a new socket");
    close(u);
}

int main(int argc, char **argv)
{
    char local[64];
    int f;

    st_init(argc, argv, 50);
    snprintf(local, sizeof(local), "%s", st_xway && getenv("XWAY_ADDR") ? getenv("XWAY_ADDR") : argv[2]);
    local[strcspn(local, "/,")] = '\0';
    f = pattern_file();
    with_sendfile(f);
    with_splice();
    with_mmsg();
    close(f);
    with_iovecs();
    peek_waitall();
    half_close();
    names(local, argv[2], atoi(argv[3]));
    return st_done("data_calls");
}

/* dup, dup2, dup3, F_DUPFD(_CLOEXEC): duplicates share the connection, its
 * O_NONBLOCK and its lifetime, FD_CLOEXEC is per number; FIONBIO, FIONREAD;
 * a close through syscall(SYS_close, fd), as libuv (node) closes, and
 * close_range (xs_dup xway|kernel PEER_ADDR PORT, against xs_peer). */
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "peer.h"

enum { ID = 400, ID2 = 401, ID3 = 402, ID4 = 403, ID5 = 404, BIG = 100000 };
static uint64_t off; /* bytes of ID's pattern echoed so far */

/* n bytes out through wfd, their echo back through rfd. */
static void roundtrip(int wfd, int rfd, size_t n, const char *what)
{
    static char buf[BIG];
    st_fill(ID, off, buf, n);
    st_write_all(wfd, buf, n);
    CHECK(st_read_n(rfd, buf, n) == n, "%s: short echo", what);
    CHECK(st_verify(ID, off, buf, n) == 0, "%s: echo differs", what);
    off += n;
}

/* FIONREAD until it says n (the echo may still be arriving), up to 5 s. */
static int wait_fionread(int fd, int n)
{
    struct timespec t0, nap = { 0, 10 * 1000000 };
    int avail = -1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (st_ms_since(&t0) < 5000) {
        CHECK(ioctl(fd, FIONREAD, &avail) == 0, "FIONREAD: %s", strerror(errno));
        if (avail >= n)
            break;
        nanosleep(&nap, NULL);
    }
    return avail;
}

static void nonblocking(int c, int d1, int d2, int d4, int d5)
{
    int fl = fcntl(c, F_GETFL), one = 1, zero = 0;
    char ch;

    CHECK(fl >= 0 && !(fl & O_NONBLOCK) && (fl & O_ACCMODE) == O_RDWR, "F_GETFL %#x", fl);
    /* O_NONBLOCK belongs to the open file: every duplicate sees it. */
    OK(fcntl(d1, F_SETFL, fcntl(d1, F_GETFL) | O_NONBLOCK));
    CHECK(fcntl(c, F_GETFL) & O_NONBLOCK, "O_NONBLOCK set on a dup, not on the original");
    EXPECT_ERR(read(c, &ch, 1), EAGAIN);
    EXPECT_ERR(recv(d2, &ch, 1, 0), EAGAIN);
    OK(fcntl(d2, F_SETFL, fcntl(d2, F_GETFL) & ~O_NONBLOCK));
    CHECK(!(fcntl(d1, F_GETFL) & O_NONBLOCK), "O_NONBLOCK cleared on a dup, still set on another");
    OK(ioctl(d4, FIONBIO, &one));
    CHECK(fcntl(d5, F_GETFL) & O_NONBLOCK, "FIONBIO 1 not seen by F_GETFL");
    EXPECT_ERR(read(c, &ch, 1), EAGAIN);
    OK(ioctl(d4, FIONBIO, &zero));
    CHECK(!(fcntl(c, F_GETFL) & O_NONBLOCK), "FIONBIO 0 not seen by F_GETFL");
    roundtrip(d5, c, 10, "blocking again"); /* the read blocks until the echo */
}

static void fionread(int c)
{
    static char buf[BIG];
    int avail = -1;

    CHECK(ioctl(c, FIONREAD, &avail) == 0 && avail == 0, "FIONREAD with nothing: %d", avail);
    CHECK(ioctl(c, FIONREAD, (int *)8) == -1 && errno == EFAULT, "FIONREAD to a bad pointer");
    CHECK(ioctl(c, FIONBIO, (int *)8) == -1 && errno == EFAULT, "FIONBIO from a bad pointer");
    st_fill(ID, off, buf, 1000);
    st_write_all(c, buf, 1000);
    avail = wait_fionread(c, 1000);
    CHECK(avail == 1000, "FIONREAD %d, want 1000", avail);
    CHECK(st_read_n(c, buf, 400) == 400 && st_verify(ID, off, buf, 400) == 0, "read 400");
    CHECK(ioctl(c, FIONREAD, &avail) == 0 && avail == 600, "FIONREAD after 400 read: %d", avail);
    CHECK(st_read_n(c, buf, 600) == 600 && st_verify(ID, off + 400, buf, 600) == 0, "read 600");
    off += 1000;
    CHECK(ioctl(c, FIONREAD, &avail) == 0 && avail == 0, "FIONREAD drained: %d", avail);
    /* More than 64 KiB pending. */
    st_fill(ID, off, buf, BIG);
    st_write_all(c, buf, BIG);
    avail = wait_fionread(c, BIG);
    CHECK(avail == BIG, "FIONREAD %d, want %d", avail, BIG);
    CHECK(st_read_n(c, buf, BIG) == BIG && st_verify(ID, off, buf, BIG) == 0, "read %d", BIG);
    off += BIG;
    EXPECT_ERR(ioctl(c, FIONREAD, NULL), EFAULT);
}

int main(int argc, char **argv)
{
    int c, d1, d2, d3, d4, d5, e, dead;
    struct peer_state st;

    st_init(argc, argv, 50);
    c = st_conn(PEER_ECHO, ID, 0, 0, 0);

    d1 = dup(c);
    CHECK(d1 > c, "dup gave %d", d1);
    roundtrip(d1, c, 1000, "dup -> original");
    roundtrip(c, d1, 1000, "original -> dup");
    d2 = dup2(c, 100);
    CHECK(d2 == 100, "dup2 gave %d", d2);
    roundtrip(d2, d1, 2000, "dup2 -> dup");
    d3 = dup3(c, 101, O_CLOEXEC);
    CHECK(d3 == 101, "dup3 gave %d", d3);
    d4 = fcntl(c, F_DUPFD, 200);
    CHECK(d4 >= 200, "F_DUPFD gave %d", d4);
    d5 = fcntl(c, F_DUPFD_CLOEXEC, 300);
    CHECK(d5 >= 300, "F_DUPFD_CLOEXEC gave %d", d5);
    roundtrip(d3, d4, 3000, "dup3 -> F_DUPFD");
    roundtrip(d5, c, 4000, "F_DUPFD_CLOEXEC -> original");

    /* FD_CLOEXEC is per number. */
    CHECK(fcntl(c, F_GETFD) == 0 && fcntl(d1, F_GETFD) == 0 && fcntl(d2, F_GETFD) == 0 &&
              fcntl(d4, F_GETFD) == 0, "FD_CLOEXEC on a plain dup");
    CHECK(fcntl(d3, F_GETFD) == FD_CLOEXEC && fcntl(d5, F_GETFD) == FD_CLOEXEC,
          "no FD_CLOEXEC from dup3 O_CLOEXEC / F_DUPFD_CLOEXEC");
    OK(fcntl(d1, F_SETFD, FD_CLOEXEC));
    CHECK(fcntl(d1, F_GETFD) == FD_CLOEXEC && fcntl(c, F_GETFD) == 0, "F_SETFD FD_CLOEXEC");
    OK(fcntl(d1, F_SETFD, 0));
    CHECK(fcntl(d1, F_GETFD) == 0, "F_SETFD 0");

    /* The kernel's errno for bad duplications. */
    EXPECT_ERR(dup3(c, c, 0), EINVAL);
    CHECK(dup2(c, c) == c, "dup2 onto itself");
    EXPECT_ERR(dup3(c, 102, 12345), EINVAL);
    EXPECT_ERR(dup(-1), EBADF);
    EXPECT_ERR(dup2(c, -1), EBADF);
    EXPECT_ERR(fcntl(c, F_DUPFD, -1), EINVAL);
    dead = dup(c);
    close(dead);
    EXPECT_ERR(dup2(dead, 103), EBADF);
    EXPECT_ERR(fcntl(103, F_GETFD), EBADF);

    nonblocking(c, d1, d2, d4, d5);
    fionread(c);

    /* dup2 onto another connection closes it (its peer sees EOF). */
    e = st_conn(PEER_ECHO, ID2, 0, 0, 0);
    {
        char ping[4];
        st_write_all(e, "ping", 4);
        CHECK(st_read_n(e, ping, 4) == 4 && !memcmp(ping, "ping", 4), "echo on %u", ID2);
    }
    CHECK(st_query(ID2, 0).eof == 0, "connection %u closed early", ID2);
    CHECK(dup2(d5, e) == e, "dup2 onto a connection");
    st = st_query(ID2, 5000);
    CHECK(st.eof == 1 && st.bytes == 4, "connection %u: eof %llu bytes %llu", ID2,
          (unsigned long long)st.eof, (unsigned long long)st.bytes);
    CHECK(fcntl(e, F_GETFD) == 0, "dup2 kept FD_CLOEXEC");
    roundtrip(e, d5, 500, "dup2 over a connection");

    /* Closing numbers: the connection lives until the last one goes. */
    OK(close(c));
    EXPECT_ERR(fcntl(c, F_GETFD), EBADF);
    EXPECT_ERR(write(c, "x", 1), EBADF);
    roundtrip(d1, d2, 500, "after closing the original");
    CHECK(st_query(ID, 300).eof == 0, "EOF after closing one number");
    OK(close(d1));
    OK(close(d2));
    OK(close(d3));
    OK(close(d4));
    OK(close(e));
    roundtrip(d5, d5, 700, "the last number");
    CHECK(st_query(ID, 300).eof == 0, "EOF with a number left");
    st_ring(d5, "the connection");
    OK(close(d5));
    st = st_query(ID, 5000);
    CHECK(st.eof == 1 && st.bytes == off, "after the last close: eof %llu, %llu of %llu bytes",
          (unsigned long long)st.eof, (unsigned long long)st.bytes, (unsigned long long)off);
    EXPECT_ERR(read(d5, &st, 1), EBADF);
    EXPECT_ERR(close(d5), EBADF);

    /* syscall(SYS_close, fd) closes the connection as close() does; other
     * system calls through syscall() are libc's. */
    e = st_conn(PEER_ECHO, ID3, 0, 0, 0);
    {
        char ping[4];
        st_write_all(e, "pong", 4);
        CHECK(st_read_n(e, ping, 4) == 4 && !memcmp(ping, "pong", 4), "echo on %u", ID3);
    }
    CHECK(syscall(SYS_close, e) == 0, "syscall(SYS_close): %s", strerror(errno));
    st = st_query(ID3, 5000);
    CHECK(st.eof == 1 && st.bytes == 4, "after syscall(SYS_close): eof %llu bytes %llu",
          (unsigned long long)st.eof, (unsigned long long)st.bytes);
    EXPECT_ERR(fcntl(e, F_GETFD), EBADF);
    EXPECT_ERR(syscall(SYS_close, e), EBADF);
    CHECK(syscall(SYS_getpid) == getpid(), "syscall(SYS_getpid)");

    /* close_range: a connection closed by it (its peer sees EOF); one whose
     * number was closed while a duplicate lives stays usable through the
     * duplicate; CLOSE_RANGE_CLOEXEC marks, closes nothing. */
    {
        int f = st_conn(PEER_ECHO, ID4, 0, 0, 0), g = st_conn(PEER_ECHO, ID5, 0, 0, 0);
        int g2 = dup(g), lo = f < g ? f : g, hi = f < g ? g : f;
        char pong[4];
        CHECK(g2 > hi, "dup gave %d", g2);
        OK(close_range((unsigned)f, (unsigned)f, CLOSE_RANGE_CLOEXEC));
        CHECK(fcntl(f, F_GETFD) == FD_CLOEXEC, "CLOSE_RANGE_CLOEXEC");
        st_write_all(f, "ping", 4);
        CHECK(st_read_n(f, pong, 4) == 4 && !memcmp(pong, "ping", 4), "echo after CLOEXEC");
        OK(close(g));
        OK(close_range((unsigned)lo, (unsigned)hi, 0));
        st = st_query(ID4, 5000);
        CHECK(st.eof == 1 && st.bytes == 4, "after close_range: eof %llu bytes %llu",
              (unsigned long long)st.eof, (unsigned long long)st.bytes);
        EXPECT_ERR(fcntl(f, F_GETFD), EBADF);
        st_write_all(g2, "pong", 4);
        CHECK(st_read_n(g2, pong, 4) == 4 && !memcmp(pong, "pong", 4), "the duplicate after close_range");
        CHECK(st_query(ID5, 200).eof == 0, "EOF with a duplicate left");
        OK(close_range((unsigned)g2, (unsigned)g2, 0));
        st = st_query(ID5, 5000);
        CHECK(st.eof == 1 && st.bytes == 4, "after close_range of the duplicate: eof %llu",
              (unsigned long long)st.eof);
        EXPECT_ERR(fcntl(g2, F_GETFD), EBADF);
    }
    return st_done("dup");
}

/* Built with -O2 -D_FORTIFY_SOURCE=2, so that read, recv, recvfrom, poll, ppoll
 * and FD_SET go through glibc's __read_chk, __recv_chk, __recvfrom_chk,
 * __poll_chk, __ppoll_chk and __fdelt_chk (fortify.sh checks the imports): on
 * connections they work as on kernel sockets
 * (xs_fortify xway|kernel PEER_ADDR PORT [overflow], against xs_peer).
 * "overflow": a read larger than its buffer, which glibc must abort. */
#include <poll.h>
#include <stdlib.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer.h"

enum { ID = 800 };
static volatile size_t var_len = 4096; /* not a constant: the _chk call stays */
static volatile nfds_t var_nfds = 2;
static uint64_t off;

static void send_pat(int c, size_t n)
{
    char buf[4096];
    st_fill(ID, off, buf, n);
    st_write_all(c, buf, n);
}

/* Read n echoed bytes with how (0 read, 1 recv, 2 recvfrom) and verify them. */
static void take(int c, size_t n, int how)
{
    char buf[4096];
    size_t got = 0;

    while (got < n) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        size_t want = var_len < n - got ? var_len : n - got;
        ssize_t r = how == 0 ? read(c, buf, want)
                  : how == 1 ? recv(c, buf, want, 0)
                             : recvfrom(c, buf, want, 0, (struct sockaddr *)&from, &fl);
        CHECK(r > 0, "%s: %zd (%s)", how == 0 ? "read" : how == 1 ? "recv" : "recvfrom", r,
              strerror(errno));
        if (r <= 0)
            return;
        if (how == 2)
            CHECK(fl == 0, "recvfrom address length %u", (unsigned)fl);
        CHECK(!st_verify(ID, off + got, buf, (size_t)r), "bytes differ");
        got += (size_t)r;
    }
    off += n;
}

static void overflow(int c)
{
    char small[16];
    volatile size_t n = 64;

    send_pat(c, 64);
    st_readable(c, 5000);
    printf("reading 64 bytes into 16\n");
    fflush(stdout);
    (void)!read(c, small, n); /* __read_chk aborts */
    printf("FAIL: __read_chk did not abort\n");
    exit(1);
}

int main(int argc, char **argv)
{
    int c, p[2], rc;
    struct pollfd pf[2];
    struct timespec ts = { 0, 300 * 1000000 };
    fd_set rs;
    struct timeval tv;

    st_init(argc, argv, 40);
    c = st_conn(PEER_ECHO, ID, 0, 0, 0);
    if (argc > 4 && !strcmp(argv[4], "overflow"))
        overflow(c);
    if (pipe(p) < 0)
        st_die("pipe");

    send_pat(c, 3000);
    take(c, 3000, 0);
    send_pat(c, 3000);
    take(c, 3000, 1);
    send_pat(c, 3000);
    take(c, 3000, 2);

    /* __poll_chk / __ppoll_chk: nothing readable once drained, then the echo. */
    pf[0] = (struct pollfd){ .fd = c, .events = POLLIN };
    pf[1] = (struct pollfd){ .fd = p[0], .events = POLLIN };
    rc = poll(pf, var_nfds, 300);
    CHECK(rc == 0, "poll after draining: %d (revents %#x)", rc, pf[0].revents);
    rc = ppoll(pf, var_nfds, &ts, NULL);
    CHECK(rc == 0, "ppoll after draining: %d (revents %#x)", rc, pf[0].revents);
    send_pat(c, 100);
    rc = poll(pf, var_nfds, 5000);
    CHECK(rc == 1 && pf[0].revents == POLLIN && !pf[1].revents, "poll with an echo: %d %#x", rc,
          pf[0].revents);
    ts.tv_sec = 5;
    rc = ppoll(pf, var_nfds, &ts, NULL);
    CHECK(rc == 1 && pf[0].revents == POLLIN && !pf[1].revents, "ppoll with an echo: %d %#x", rc,
          pf[0].revents);
    take(c, 100, 0);
    ts = (struct timespec){ 0, 300 * 1000000 };
    rc = ppoll(pf, var_nfds, &ts, NULL);
    CHECK(rc == 0, "ppoll after draining again: %d (revents %#x)", rc, pf[0].revents);

    /* __fdelt_chk: FD_SET/FD_ISSET with a variable fd, then select. */
    send_pat(c, 100);
    FD_ZERO(&rs);
    FD_SET(c, &rs);
    FD_SET(p[0], &rs);
    tv = (struct timeval){ 5, 0 };
    rc = select((c > p[0] ? c : p[0]) + 1, &rs, NULL, NULL, &tv);
    CHECK(rc == 1 && FD_ISSET(c, &rs) && !FD_ISSET(p[0], &rs), "select with an echo: %d", rc);
    take(c, 100, 1);

    st_ring(c, "the connection");
    close(c);
    return st_done("fortify");
}

/* exec with two connections open, one close-on-exec: what the new image holds
 * (xs_exec xway|kernel PEER_ADDR PORT, against xs_peer; it execs itself).
 *
 * Kernel sockets: the close-on-exec one is gone (its peer reads EOF), the
 * other is still the connection.  Under the shim the same: the old image
 * handed its connections to their kernel fds and its stack to a keeper
 * (shim/fork.c), which closed the close-on-exec one and pumps the other (an
 * AF_UNIX stream in the new image).  The new image's own sockets are xway
 * again once the keeper has let the address go. */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer.h"

enum { ID_CLOEXEC = 500, ID_KEPT = 501, ID_NEW = 502 };

static void roundtrip(int fd, uint32_t id, uint64_t off, size_t n)
{
    char buf[8192];
    st_fill(id, off, buf, n);
    st_write_all(fd, buf, n);
    CHECK(st_read_n(fd, buf, n) == n && st_verify(id, off, buf, n) == 0, "echo on %u", id);
}

/* The open fds, sorted; their count. */
static int open_fds(int *fds, int max)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int n = 0, self = d ? dirfd(d) : -1;

    while (d && (de = readdir(d)) && n < max) {
        int fd = atoi(de->d_name);
        if (de->d_name[0] != '.' && fd != self)
            fds[n++] = fd;
    }
    if (d)
        closedir(d);
    return n;
}

/* fds[0..n) and extra (if >= 0), sorted, as text ("0,1,2,7"). */
static void fd_text(char *out, size_t size, const int *in, int n, int extra)
{
    int fds[65];

    memcpy(fds, in, (size_t)n * sizeof(int));
    if (extra >= 0)
        fds[n++] = extra;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (fds[j] < fds[i]) {
                int t = fds[i];
                fds[i] = fds[j];
                fds[j] = t;
            }
    out[0] = '\0';
    for (int i = 0; i < n; i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%d", i ? "," : "", fds[i]);
}

static int new_image(char **argv)
{
    int gone = atoi(argv[5]), kept = atoi(argv[6]), dom = -1, type = -1, c;
    socklen_t len = sizeof(dom);
    char have[256];
    struct peer_state st;
    int fds[64], n = open_fds(fds, 64);

    /* Before any socket call: only what the old image inherited and the kept
     * number are open (no fd of the old image's stack leaked). */
    fd_text(have, sizeof(have), fds, n, -1);
    CHECK(!strcmp(have, argv[7]), "open fds after exec {%s}, want {%s}", have, argv[7]);

    EXPECT_ERR(fcntl(gone, F_GETFD), EBADF);
    CHECK(fcntl(kept, F_GETFD) == 0, "the kept number: F_GETFD %d (%s)", fcntl(kept, F_GETFD),
          strerror(errno));
    OK(getsockopt(kept, SOL_SOCKET, SO_DOMAIN, &dom, &len));
    len = sizeof(type);
    OK(getsockopt(kept, SOL_SOCKET, SO_TYPE, &type, &len));
    printf("kept number %d after exec: %s stream socket\n", kept,
           dom == AF_UNIX ? "AF_UNIX" : dom == AF_INET ? "AF_INET" : "other");
    CHECK(type == SOCK_STREAM, "SO_TYPE %d", type);
    if (st_xway)
        CHECK(dom == AF_UNIX, "the kept number is not the handed-off stream: domain %d", dom);
    else
        CHECK(dom == AF_INET, "domain %d", dom);
    roundtrip(kept, ID_KEPT, 1000, 2000); /* still the connection */

    /* The peer's view.  Kernel: the close-on-exec connection was closed (EOF),
     * the kept one is open.  Shim: the same; the old image's stack went on in
     * a keeper, which closed the close-on-exec one and pumps the kept one.
     * The keeper holds the old image's address until nothing holds its
     * connections: so under the shim the kept one is closed first, then this
     * image's own stack can start (and reach the peer). */
    if (st_xway) {
        int tries = 0;
        close(kept);
        kept = -1;
        for (;; tries++) {
            int t = socket(AF_INET, SOCK_STREAM, 0);
            bool xway = st_is_xway(t);
            close(t);
            if (xway)
                break;
            CHECK(tries < 50, "no xway socket 5 s after the kept connection was closed");
            if (tries >= 50)
                return st_done("exec");
            usleep(100000);
        }
        printf("the new image's stack started %d ms after the kept connection closed\n", tries * 100);
    }
    st = st_query(ID_CLOEXEC, 10000);
    printf("peer: close-on-exec connection end %llu (%s) after %llu bytes\n",
           (unsigned long long)st.eof, strerror((int)st.err), (unsigned long long)st.bytes);
    CHECK(st.eof == 1 && st.bytes == 1000, "close-on-exec connection: end %llu (%s) bytes %llu",
          (unsigned long long)st.eof, strerror((int)st.err), (unsigned long long)st.bytes);
    st = st_query(ID_KEPT, st_xway ? 10000 : 200);
    printf("peer: kept connection end %llu (%s) after %llu bytes\n", (unsigned long long)st.eof,
           strerror((int)st.err), (unsigned long long)st.bytes);
    CHECK(st.eof == (st_xway ? 1u : 0u) && st.bytes == 3000,
          "kept connection: end %llu (%s) bytes %llu", (unsigned long long)st.eof,
          strerror((int)st.err), (unsigned long long)st.bytes);

    /* The new image's shim and stack work. */
    c = st_conn(PEER_ECHO, ID_NEW, 0, 0, 0);
    roundtrip(c, ID_NEW, 0, 5000);
    st_ring(c, "a connection of the new image");
    close(c);
    if (kept >= 0)
        close(kept);
    return st_done("exec");
}

int main(int argc, char **argv)
{
    int a, b;
    char sa[16], sb[16], want[256];
    int inherited[64], ninh;

    st_init(argc, argv, 40);
    if (argc == 8 && !strcmp(argv[4], "child"))
        return new_image(argv);
    ninh = open_fds(inherited, 64);

    a = st_conn(PEER_ECHO, ID_CLOEXEC, 0, 0, 0);
    b = st_conn(PEER_ECHO, ID_KEPT, 0, 0, 0);
    OK(fcntl(a, F_SETFD, FD_CLOEXEC));
    roundtrip(a, ID_CLOEXEC, 0, 1000);
    roundtrip(b, ID_KEPT, 0, 1000);
    st_ring(a, "close-on-exec connection");
    st_ring(b, "kept connection");
    CHECK(fcntl(a, F_GETFD) == FD_CLOEXEC && fcntl(b, F_GETFD) == 0, "FD_CLOEXEC before exec");
    snprintf(sa, sizeof(sa), "%d", a);
    snprintf(sb, sizeof(sb), "%d", b);
    if (st_fails)
        return st_done("exec (before exec)");
    fd_text(want, sizeof(want), inherited, ninh, b);
    execl("/proc/self/exe", argv[0], argv[1], argv[2], argv[3], "child", sa, sb, want,
          (char *)NULL);
    st_die("exec");
}

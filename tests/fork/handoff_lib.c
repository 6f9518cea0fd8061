/* xway_handoff through the library (no shim): at fork every connection is
 * handed to its kernel fd.  A child serves a ring connection with read/write
 * while the parent closes its copy; the parent goes on using a connection after
 * a fork through the xway_* calls (which then act on the kernel fd); an
 * explicit xway_handoff; the errors.  Every byte verified. */
#include "peer.h"
#include "ringtest.h"
#include "testlib.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define IP "10.77.64.1"
#define PORT 7400
#define N (3u << 20)

static int server(int ctl, void *arg)
{
    int ls = xwt_listen(IP, PORT, 8);

    (void)arg;
    xwt_ctl_send(ctl, 'R');
    for (int i = 0; i < 3; i++) {
        int c = xway_accept(ls, NULL, NULL);
        CHECK(c >= 0);
        CHECK_EQ(xwt_echo(c), 0);
    }
    xway_close(ls);
    return 0;
}

/* The child: only kernel calls on the number (its stack is empty). */
static int child_exchange(int fd)
{
    static char buf[65536];
    size_t sent = 0, got = 0;
    pid_t w;

    if ((w = xw_fork()) == 0) { /* writer: pattern, then FIN */
        while (sent < N) {
            size_t n = N - sent < sizeof(buf) ? N - sent : sizeof(buf);
            xw_pattern(buf, n, sent, 7);
            ssize_t m = write(fd, buf, n);
            if (m <= 0)
                _exit(1);
            sent += (size_t)m;
        }
        _exit(shutdown(fd, SHUT_WR) == 0 ? 0 : 1);
    }
    for (;;) {
        ssize_t m = read(fd, buf, sizeof(buf));
        if (m < 0)
            return 1;
        if (m == 0)
            break;
        if (xw_pattern_check(buf, (size_t)m, got, 7) >= 0)
            return 1;
        got += (size_t)m;
    }
    int st = xw_wait(w);
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        return 1;
    return got == N ? 0 : 1;
}

int main(void)
{
    const char *hub = xwt_setup(100);
    const char *host = xw_sim_host();
    CHECK(setenv("XWAY_BACKEND", "sim", 1) == 0 && setenv("XWAY_HOST", host, 1) == 0);
    struct xwt_peer s = xwt_spawn(hub, IP "/24", server, NULL);
    CHECK_EQ(xwt_ctl_recv(s.ctl), 'R');
    xwt_start(hub, "10.77.64.2/24");
    pid_t pid;

    /* 1. A forked child serves the connection; the parent closes its copy. */
    int a = xwt_connect(IP, PORT);
    xwt_expect_path("a", a, "ring", "none");
    pid = xw_fork();
    if (pid == 0)
        _exit(child_exchange(a));
    CHECK_EQ(xway_is_socket(a), 0); /* handed to the kernel fd */
    CHECK_EQ(xway_close(a), 0);
    xw_wait_ok(pid, "child 1");

    /* 2. The parent forks a child that exits, and keeps using its connection
     * through the xway calls. */
    int b = xwt_connect(IP, PORT);
    xwt_expect_path("b", b, "ring", "none");
    pid = xw_fork();
    if (pid == 0)
        _exit(0);
    xw_wait(pid);
    xwt_exchange(b, N, 11);
    CHECK_EQ(xway_close(b), 0);
    CHECK_EQ(xway_close(b), -1);
    CHECK_EQ(errno, EBADF);

    /* 3. Explicit handoff, without fork; and what cannot be handed off. */
    int c = xwt_connect(IP, PORT);
    CHECK_EQ(xway_handoff(c), 0);
    CHECK_EQ(xway_is_socket(c), 0);
    CHECK_EQ(xway_set_nonblock(c, 1), 0);
    char x;
    CHECK_EQ(xway_recv(c, &x, 1, 0), -1);
    CHECK_EQ(errno, EAGAIN);
    CHECK_EQ(xway_set_nonblock(c, 0), 0);
    xwt_exchange(c, N, 13);
    CHECK_EQ(xway_close(c), 0);
    int u = xway_socket(AF_INET, SOCK_STREAM, 0);
    CHECK(u >= 0);
    CHECK_EQ(xway_handoff(u), -1);
    CHECK_EQ(errno, ENOTCONN);
    CHECK_EQ(xway_close(u), 0);
    CHECK_EQ(xway_handoff(u), -1);
    CHECK_EQ(errno, EBADF);

    xwt_join(&s);
    xway_fini();
    CHECK_EQ(xwt_sim_leftovers(host, 1) + xwt_sim_leftovers(host, 2) + xwt_sim_kept(host, 1) +
                 xwt_sim_kept(host, 2),
             0);
    printf("PASS\n");
    return 0;
}

/* A peer killed with kill -9 mid-transfer on the ring: the survivor's blocked
 * recv (case 1) and blocked send into a full ring (case 2) return ECONNRESET,
 * EPIPE or EOF within 5 s, never hang; once the survivor closed its sockets, the
 * sim host holds none of its grants or bound event channels (checked while it is
 * still alive, and its grant objects after it exited). */
#include "peer.h"
#include "ringtest.h"
#include "testlib.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PORT 7400
#define IP "10.77.64.1"

static const char *host;

/* The victim: connects, then sends forever (case 'r') or never reads (case 's'). */
static int victim(int ctl, void *arg)
{
    const char *mode = arg;
    static char buf[65536];
    int fd = xwt_connect(IP, PORT);
    xwt_expect_path("victim", fd, "ring", "none");
    xwt_ctl_send(ctl, 'C');
    for (uint64_t off = 0; *mode == 'r'; off += sizeof(buf)) {
        xw_pattern(buf, sizeof(buf), off, 41);
        CHECK(xway_send(fd, buf, sizeof(buf), MSG_NOSIGNAL) > 0);
    }
    pause();
    return 0;
}

static void write_u64(int ctl, uint64_t v)
{
    CHECK(write(ctl, &v, sizeof(v)) == sizeof(v));
}

static uint64_t read_u64(int ctl)
{
    uint64_t v;
    CHECK_EQ(xwt_ctl_recv(ctl), 'T');
    CHECK(read(ctl, &v, sizeof(v)) == sizeof(v));
    return v;
}

/* The survivor: accepts, tells the parent, then receives (verified) or sends
 * until it fails; reports when, closes, checks the sim host for its leftovers. */
static int survivor(int ctl, void *arg)
{
    const char *mode = arg;
    static char buf[65536];
    int l = xwt_listen(IP, PORT, 4);
    xwt_ctl_send(ctl, 'R');
    int fd = xway_accept(l, NULL, NULL);
    CHECK(fd >= 0);
    xwt_expect_path("survivor", fd, "ring", "none");
    xwt_ctl_send(ctl, 'A');
    uint64_t off = 0;
    ssize_t n;
    for (;;) {
        if (*mode == 'r') {
            n = xway_recv(fd, buf, sizeof(buf), 0);
            if (n > 0)
                CHECK_EQ(xw_pattern_check(buf, (size_t)n, off, 41), -1);
        } else {
            xw_pattern(buf, sizeof(buf), off, 42);
            n = xway_send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
        }
        if (n <= 0)
            break;
        off += (uint64_t)n;
    }
    int e = n < 0 ? errno : 0;
    xwt_ctl_send(ctl, 'T');
    write_u64(ctl, xw_now_ns());
    printf("survivor (%s): %s after %llu bytes: %s\n", *mode == 'r' ? "recv" : "send",
           *mode == 'r' ? "recv" : "send", (unsigned long long)off, n == 0 ? "EOF" : strerror(e));
    CHECK(n == 0 ? *mode == 'r' : (e == ECONNRESET || e == EPIPE));
    CHECK(off > 0);
    xway_close(fd);
    xway_close(l);
    struct xway_stats st;
    CHECK(xway_stats(&st) == 0);
    int left = 0;
    for (int i = 0; i < 40 && (left = xwt_sim_leftovers(host, st.domid)) > 0; i++)
        usleep(50000);
    CHECK_EQ(left, 0);
    write_u64(ctl, (uint64_t)st.domid);
    return 0;
}

static void run(const char *hub, const char *mode)
{
    struct xwt_peer s = xwt_spawn(hub, IP "/24", survivor, (void *)mode);
    CHECK_EQ(xwt_ctl_recv(s.ctl), 'R');
    struct xwt_peer v = xwt_spawn(hub, "10.77.64.2/24", victim, (void *)mode);
    CHECK_EQ(xwt_ctl_recv(v.ctl), 'C');
    CHECK_EQ(xwt_ctl_recv(s.ctl), 'A');
    usleep(300000); /* mid-transfer: bytes flowing, or the survivor blocked on a full ring */
    uint64_t t0 = xw_now_ns();
    CHECK(kill(v.pid, SIGKILL) == 0);
    CHECK_EQ(xwt_join_status(&v), SIGKILL);
    uint64_t t1 = read_u64(s.ctl);
    double secs = (double)(t1 - t0) / 1e9;
    printf("%s: survivor's error %.3f s after the kill\n", mode, secs);
    CHECK(secs < 5.0);
    uint64_t dom;
    CHECK(read(s.ctl, &dom, sizeof(dom)) == sizeof(dom));
    xwt_join(&s);
    CHECK_EQ(xwt_sim_leftovers(host, (int)dom) + xwt_sim_kept(host, (int)dom), 0); /* after exit */
}

int main(void)
{
    const char *hub = xwt_setup(60);
    host = xw_sim_host();
    CHECK(setenv("XWAY_BACKEND", "sim", 1) == 0 && setenv("XWAY_HOST", host, 1) == 0);
    run(hub, "recv");
    run(hub, "send");
    printf("PASS\n");
    return 0;
}

/* Another process on the hub floods a stack's endpoint with 2,000 connections
 * that it keeps open and silent: the stack holds at most its bound of them
 * (1,024, or a quarter of its fd limit; the least active closed first; its
 * fds measured), and a real peer arriving after the flood still connects and
 * exchanges verified bytes.  With an argument N, the stack's fd limit is N. */
#include "peer.h"
#include "remote_conns.h"
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <xway.h>

#define SRV "10.77.17.1"
#define CLI "10.77.17.2"
#define PORT 7170
#define FLOOD 2000
#define BOUND 1024

static int server(int ctl, void *arg)
{
    long limit = (long)(intptr_t)arg;
    if (limit) { /* below what a flood of BOUND connections would need */
        struct rlimit rl = { (rlim_t)limit, (rlim_t)limit };
        CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    }
    int lfd = xwt_listen(SRV, PORT, 4);
    int base = xw_count_fds(), now = base, last = -1;
    xwt_ctl_send(ctl, 'R');
    CHECK_EQ(xwt_ctl_recv(ctl), 'F');
    /* The stack accepts the flood in bounded batches: wait until it has settled. */
    for (int i = 0; i < 100 && now != last; i++) {
        usleep(200000);
        last = now;
        now = xw_count_fds();
    }
    printf("stack fds: %d before the flood, %d after %d connections\n", base, now, FLOOD);
    /* The hub holds at most BOUND connections to us, or a quarter of the fd
     * limit (at least 16): stack/link/hub.c rx_bound. */
    int bound = !limit ? BOUND : limit / 4 < 16 ? 16 : limit / 4 < BOUND ? limit / 4 : BOUND;
    CHECK(now - base <= bound + 8);
    xwt_ctl_send(ctl, 'M');
    int fd = xway_accept(lfd, NULL, NULL);
    CHECK(fd >= 0);
    CHECK_EQ(xwt_echo(fd), 0);
    CHECK(xway_close(lfd) == 0);
    return 0;
}

/* The one endpoint in hub's directory (the server's). */
static void endpoint(const char *hub, struct sockaddr_un *sa)
{
    struct dirent *de;
    DIR *d = opendir(hub);
    bool found = false;

    CHECK(d);
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    while ((de = readdir(d)))
        if (strlen(de->d_name) == 12 && strspn(de->d_name, "0123456789abcdef") == 12) {
            CHECK(!found);
            found = true;
            snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", hub, de->d_name);
        }
    closedir(d);
    CHECK(found);
}

int main(int argc, char **argv)
{
    long limit = argc > 1 ? atol(argv[1]) : 0;
    static int flood[FLOOD];
    struct rlimit rl = { FLOOD + 1000, FLOOD + 1000 };
    struct sockaddr_un sa;
    struct rlimit cur;
    CHECK(getrlimit(RLIMIT_NOFILE, &cur) == 0);
    if (cur.rlim_max > rl.rlim_max)
        rl.rlim_cur = rl.rlim_max = cur.rlim_max;
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    const char *hub = xwt_setup(60);
    struct xwt_peer p = xwt_spawn(hub, SRV "/24", server, (void *)(intptr_t)limit);
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'R');

    endpoint(hub, &sa);
    uint64_t t0 = xw_now_ns();
    for (int i = 0; i < FLOOD; i++) {
        flood[i] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        CHECK(flood[i] >= 0);
        while (connect(flood[i], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            CHECK(errno == EAGAIN); /* its backlog is full: the stack accepts in batches */
            CHECK(xw_now_ns() - t0 < 20000000000ull);
            usleep(1000);
        }
    }
    printf("%d connections to the stack's endpoint in %.2f s\n", FLOOD,
           (double)(xw_now_ns() - t0) / 1e9);
    xwt_ctl_send(p.ctl, 'F');
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'M');

    xwt_start(hub, CLI "/24");
    struct sockaddr_storage ss;
    socklen_t sl = xwt_addr(SRV, PORT, &ss);
    int fd = xway_socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = { 10, 0 };
    CHECK(fd >= 0);
    CHECK(xway_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0);
    CHECK(xway_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
    CHECK(xway_connect(fd, (struct sockaddr *)&ss, sl) == 0);
    xwt_exchange(fd, 1 << 20, 17);
    CHECK(xway_close(fd) == 0);
    xwt_join(&p);
    for (int i = 0; i < FLOOD; i++)
        close(flood[i]);
    xway_fini();
    printf("ok\n");
    return 0;
}

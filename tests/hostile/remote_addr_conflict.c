/* Two stacks claiming one address on a hub: the second is refused at start
 * (EADDRINUSE) with a message naming the address and its owner's MAC, instead of starting and
 * stealing the first one's connections.  Two stacks starting at the same
 * moment with one address do not both start.  On a hub the addresses are
 * claimed in the hub's directory (stack/link/hub_claim.h): a stack that
 * stopped leaves no claim, and one killed with -9 leaves a stale claim that
 * the next stack takes over, also when a forked child of it keeps its
 * listener open (the link's probe then finds nobody answering).  A stack with
 * addresses of its own starts and reaches the first. */
#include "peer.h"
#include "testlib.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xway.h>

#define A4 "10.77.16.1"
#define A6 "fd00:16::1"
#define PORT 7160

static int owner(int ctl, void *arg)
{
    int lfd = xwt_listen(A4, PORT, 4);
    xwt_ctl_send(ctl, 'R');
    int fd = xway_accept(lfd, NULL, NULL);
    CHECK(fd >= 0);
    CHECK_EQ(xwt_echo(fd), 0);
    CHECK(xway_close(lfd) == 0);
    return 0;
}

/* Fork a stack on hub with addrs: it exits 0 when it started (after holding
 * its addresses for hold_ms), 10 when refused with EADDRINUSE and a message
 * naming want, 11 when refused otherwise.  It starts when the pipe gate (or
 * NULL) is closed. */
static pid_t spawn_start(const char *hub, const char *addrs, const char *want, const int *gate,
                         unsigned hold_ms)
{
    pid_t pid = xw_fork();
    if (pid == 0) {
        char c;
        if (gate) {
            close(gate[1]);
            CHECK(read(gate[0], &c, 1) == 0);
        }
        struct xway_config cfg;
        char link[300];
        uint64_t t0 = xw_now_ns();
        snprintf(link, sizeof(link), "hub:%s", hub);
        xway_config_init(&cfg);
        cfg.link = link;
        cfg.addr = addrs;
        cfg.backend = "off";
        if (xway_init(&cfg) == 0) {
            printf("%s: started\n", addrs);
            fflush(stdout);
            usleep(hold_ms * 1000);
            xway_fini();
            _exit(0);
        }
        int e = errno;
        const char *msg = xway_last_error();
        printf("%s: refused after %.0f ms: %s (%s)\n", addrs, (double)(xw_now_ns() - t0) / 1e6,
               msg, strerror(e));
        fflush(stdout);
        _exit(e == EADDRINUSE && strstr(msg, want) ? 10 : 11);
    }
    return pid;
}

static int exit_code(pid_t pid)
{
    int st = xw_wait(pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int try_start(const char *hub, const char *addrs, const char *want)
{
    return exit_code(spawn_start(hub, addrs, want, NULL, 0));
}

/* Two stacks with addrs released at once: at most one starts. */
static void at_once(const char *hub, const char *addrs, const char *want)
{
    int gate[2], rc[2];
    pid_t pid[2];

    CHECK(pipe(gate) == 0);
    for (int i = 0; i < 2; i++)
        pid[i] = spawn_start(hub, addrs, want, gate, 500);
    close(gate[0]);
    usleep(100000);
    close(gate[1]);
    for (int i = 0; i < 2; i++) {
        rc[i] = exit_code(pid[i]);
        CHECK(rc[i] == 0 || rc[i] == 10);
    }
    CHECK(rc[0] == 10 || rc[1] == 10);
}

int main(void)
{
    const char *hub = xwt_setup(60);
    struct xwt_peer p = xwt_spawn(hub, A4 "/24," A6 "/64", owner, NULL);
    CHECK_EQ(xwt_ctl_recv(p.ctl), 'R');

    CHECK_EQ(try_start(hub, A4 "/24", A4), 10);
    CHECK_EQ(try_start(hub, "10.77.16.2/24," A6 "/64", A6), 10);
    for (int i = 0; i < 3; i++) {
        at_once(hub, "10.77.16.9/24", "10.77.16.9");
        at_once(hub, "fd00:16::10/64", "fd00:16::10");
    }

    /* A stack that stopped cleanly left no claim behind (hub_claim.h). */
    char claim[512];
    snprintf(claim, sizeof(claim), "%s/ip4-10.77.16.9", hub);
    CHECK(access(claim, F_OK) < 0 && errno == ENOENT);

    /* One killed with -9 left its claim, stale: a new stack takes it over. */
    snprintf(claim, sizeof(claim), "%s/ip4-10.77.16.20", hub);
    pid_t held = spawn_start(hub, "10.77.16.20/24", "10.77.16.20", NULL, 60000);
    for (int i = 0; i < 500 && access(claim, F_OK) < 0; i++)
        usleep(10000);
    CHECK(access(claim, F_OK) == 0);
    CHECK_EQ(try_start(hub, "10.77.16.20/24", "10.77.16.20"), 10); /* alive: refused */
    CHECK(kill(held, SIGKILL) == 0);
    xw_wait(held);
    CHECK(access(claim, F_OK) == 0);
    CHECK_EQ(try_start(hub, "10.77.16.20/24", "10.77.16.20"), 0);

    /* One killed with -9 while a forked child of it keeps its hub listener
     * open: the claim's owner still "listens", the link's probe finds nobody
     * answering for the address: taken over too. */
    int pp[2];
    pid_t orphan = -1;
    CHECK(pipe(pp) == 0);
    held = xw_fork();
    if (held == 0) {
        struct xway_config cfg;
        char link[300];
        snprintf(link, sizeof(link), "hub:%s", hub);
        xway_config_init(&cfg);
        cfg.link = link;
        cfg.addr = "10.77.16.21/24";
        cfg.backend = "off";
        CHECK(xway_init(&cfg) == 0);
        pid_t g = fork();
        if (g == 0) { /* holds every fd of its parent's, no stack */
            close(pp[0]);
            close(pp[1]);
            alarm(30); /* gone by itself if this test dies first */
            pause();
            _exit(0);
        }
        CHECK(write(pp[1], &g, sizeof(g)) == (ssize_t)sizeof(g));
        raise(SIGKILL);
    }
    close(pp[1]);
    CHECK(read(pp[0], &orphan, sizeof(orphan)) == sizeof(orphan));
    xw_wait(held);
    snprintf(claim, sizeof(claim), "%s/ip4-10.77.16.21", hub);
    CHECK(access(claim, F_OK) == 0);
    CHECK_EQ(try_start(hub, "10.77.16.21/24", "10.77.16.21"), 0);
    kill(orphan, SIGKILL);
    close(pp[0]);

    uint64_t t0 = xw_now_ns();
    xwt_start(hub, "10.77.16.2/24,fd00:16::2/64");
    printf("a stack with its own addresses started in %.0f ms\n", (double)(xw_now_ns() - t0) / 1e6);
    struct sockaddr_storage ss;
    socklen_t sl = xwt_addr(A4, PORT, &ss);
    int fd = xway_socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    CHECK(xway_connect(fd, (struct sockaddr *)&ss, sl) == 0);
    xwt_exchange(fd, 256 << 10, 16);
    CHECK(xway_close(fd) == 0);
    xwt_join(&p);
    xway_fini();
    printf("ok\n");
    return 0;
}

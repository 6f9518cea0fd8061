/* Forked children that connect out, as workers of proxies do (the echo server
 * is prefork's).
 *
 *   outgoing block|nonblock|exec ADDR PORT CHILDREN BYTES REFUSED_PORT
 *     The parent makes one connection of its own first, then forks CHILDREN
 *     children that each connect to ADDR PORT — blocking, or nonblocking then
 *     waiting for EPOLLOUT (edge-triggered) and reading SO_ERROR, as event
 *     loops do — send BYTES of their own pattern while reading the echo back,
 *     and check every byte.  Each child also connects to REFUSED_PORT, where
 *     nothing listens: ECONNREFUSED (from connect, or from SO_ERROR); and a
 *     socket added to an epoll set and closed leaves no registration for the
 *     next one on its number (connecting there, nonblocking).  exec:
 *     blocking, and each child execs this program again for its echo (a
 *     program a child execs, as inetd's services or a worker's helpers).
 *     Prints "children verified K of N".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static bool nonblock;
static struct sockaddr_in dest;

static void die(const char *what)
{
    fprintf(stderr, "outgoing %d: %s: %s\n", (int)getpid(), what, strerror(errno));
    exit(2);
}

static unsigned char pat(unsigned id, size_t i)
{
    return (unsigned char)((i * 131u + id * 7u) ^ (i >> 9));
}

/* Connect as the mode says: the socket, or -1 with errno (the connect's error). */
static int connect_to(int port)
{
    struct sockaddr_in a = dest;
    int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0), ep, err = 0;
    struct epoll_event ev = { .events = EPOLLOUT | EPOLLET };
    socklen_t el = sizeof(err);

    if (fd < 0)
        die("socket");
    a.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
        return fd;
    if (!nonblock || errno != EINPROGRESS)
        goto fail;
    /* As an event loop: wait for the writable edge, then ask SO_ERROR. */
    if ((ep = epoll_create1(0)) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        die("epoll");
    if (epoll_wait(ep, &ev, 1, 20000) != 1)
        die("no EPOLLOUT in 20 s");
    close(ep);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
        die("SO_ERROR");
    if (err == 0)
        return fd;
    errno = err;
fail:
    err = errno;
    close(fd);
    errno = err;
    return -1;
}

/* A socket added to an epoll set and closed leaves nothing behind for the
 * next socket on its number, also when that one's connect goes through the
 * owner (the shim moves registrations with the number): no event for it.
 * 0 if none came. */
static int no_stale_registration(int port)
{
    struct sockaddr_in a = dest;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.u64 = 77 };
    int ep = epoll_create1(0), s = socket(AF_INET, SOCK_STREAM, 0), n;

    if (ep < 0 || s < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) < 0)
        die("epoll");
    close(s);
    if ((s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0)
        die("socket");
    a.sin_port = htons((uint16_t)port);
    (void)connect(s, (struct sockaddr *)&a, sizeof(a)); /* refused, in progress or at once */
    n = epoll_wait(ep, &ev, 1, 200);
    close(s);
    close(ep);
    if (n != 0)
        fprintf(stderr, "outgoing %d: %d events for a socket never added\n", (int)getpid(), n);
    return n == 0 ? 0 : 1;
}

/* Send bytes of id's pattern while reading the echo back; 0 if all came back. */
static int echo(unsigned id, size_t bytes)
{
    static unsigned char out[65536], in[65536];
    size_t sent = 0, got = 0, bad = 0;
    int fd = connect_to(ntohs(dest.sin_port));

    if (fd < 0)
        die("connect");
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    while (got < bytes) {
        struct pollfd p = { .fd = fd, .events = POLLIN | (sent < bytes ? POLLOUT : 0) };
        if (poll(&p, 1, 20000) != 1)
            die("poll");
        if (p.revents & POLLOUT) {
            size_t n = bytes - sent < sizeof(out) ? bytes - sent : sizeof(out);
            for (size_t i = 0; i < n; i++)
                out[i] = pat(id, sent + i);
            ssize_t w = send(fd, out, n, MSG_DONTWAIT);
            if (w < 0 && errno != EAGAIN)
                die("send");
            if (w > 0 && (sent += (size_t)w) == bytes)
                shutdown(fd, SHUT_WR);
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(fd, in, sizeof(in), MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN))
                break;
            for (ssize_t i = 0; i < n; i++)
                bad += in[i] != pat(id, got + (size_t)i);
            if (n > 0)
                got += (size_t)n;
        }
    }
    close(fd);
    if (got != bytes || bad)
        fprintf(stderr, "outgoing %d: connection %u: %zu of %zu bytes back, %zu wrong\n",
                (int)getpid(), id, got, bytes, bad);
    return got == bytes && !bad ? 0 : 1;
}

int main(int argc, char **argv)
{
    int children, refused, ok = 0;
    size_t bytes;

    if (argc == 6 && !strcmp(argv[1], "echo-child")) { /* ID ADDR PORT BYTES */
        dest.sin_family = AF_INET;
        dest.sin_port = htons((uint16_t)atoi(argv[4]));
        if (inet_pton(AF_INET, argv[3], &dest.sin_addr) != 1)
            return 2;
        return echo((unsigned)atoi(argv[2]), strtoul(argv[5], NULL, 0));
    }
    if (argc != 7 || (strcmp(argv[1], "block") && strcmp(argv[1], "nonblock") &&
                      strcmp(argv[1], "exec"))) {
        fprintf(stderr, "usage: outgoing block|nonblock|exec ADDR PORT CHILDREN BYTES "
                        "REFUSED_PORT\n");
        return 2;
    }
    nonblock = !strcmp(argv[1], "nonblock");
    dest.sin_family = AF_INET;
    dest.sin_port = htons((uint16_t)atoi(argv[3]));
    if (inet_pton(AF_INET, argv[2], &dest.sin_addr) != 1)
        return fprintf(stderr, "outgoing: bad address\n"), 2;
    children = atoi(argv[4]);
    bytes = strtoul(argv[5], NULL, 0);
    refused = atoi(argv[6]);
    if (echo(0, bytes) != 0)
        return 1;
    for (int i = 1; i <= children; i++) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            int stale = no_stale_registration(refused);
            int fd = connect_to(refused), e = errno, rc;
            if (!strcmp(argv[1], "exec") && fd < 0 && e == ECONNREFUSED) {
                char id[16];
                snprintf(id, sizeof(id), "%d", i);
                execl("/proc/self/exe", "outgoing", "echo-child", id, argv[2], argv[3], argv[5],
                      (char *)NULL);
                die("exec");
            }
            rc = echo((unsigned)i, bytes) | stale;
            if (fd >= 0 || e != ECONNREFUSED) {
                fprintf(stderr, "outgoing %d: connect to port %d: %s, not ECONNREFUSED\n",
                        (int)getpid(), refused, fd >= 0 ? "connected" : strerror(e));
                rc = 1;
            }
            _exit(rc);
        }
    }
    for (int i = 0; i < children; i++) {
        int st;
        if (wait(&st) > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
            ok++;
    }
    printf("children verified %d of %d\n", ok, children);
    return ok == children ? 0 : 1;
}

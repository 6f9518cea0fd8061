/* Liveness across domains, through the whole stack (xen_two_guests_stack).
 *
 *   xwt_live server PORT   accept one connection (then stop listening), read its marker byte, then
 *                          block in recv until the connection fails; print
 *                          when (CLOCK_REALTIME, comparable between the
 *                          guests of one host) and with which error
 *   xwt_live client IP PORT
 *                          connect, send the marker, say so, then wait to be
 *                          killed (or its domain destroyed)
 *   xwt_live now           print CLOCK_REALTIME (busybox's date has no %N)
 *
 * Both print the connection's path.  The stack's configuration comes from
 * the XWAY_* environment (a TAP link in the guest, the xen backend). */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xway.h"

static double now_real(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *path_of(int fd)
{
    static struct xway_conn_info ci;
    socklen_t len = sizeof(ci);

    if (xway_getsockopt(fd, XWAY_SOL, XWAY_INFO, &ci, &len) < 0)
        return "unknown";
    return ci.path;
}

static int usage(void)
{
    fprintf(stderr, "usage: xwt_live server PORT | client IP PORT\n");
    return 2;
}

static int server(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int one = 1, l = xway_socket(AF_INET, SOCK_STREAM, 0), c;
    char b;
    ssize_t n;

    if (l < 0 || xway_setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        xway_bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || xway_listen(l, 1) < 0) {
        printf("xwt_live: listen: %s\n", strerror(errno));
        return 1;
    }
    printf("xwt_live: listening on %d\n", port);
    fflush(stdout);
    c = xway_accept(l, NULL, NULL);
    /* One connection: a client started for the next round (while this one
     * still waits for its error) is refused and tries again, instead of
     * landing in this listener's queue. */
    xway_close(l);
    if (c < 0 || xway_recv(c, &b, 1, 0) != 1) {
        printf("xwt_live: accept/marker: %s\n", strerror(errno));
        return 1;
    }
    printf("xwt_live: marker received, path %s; blocking in recv\n", path_of(c));
    fflush(stdout);
    n = xway_recv(c, &b, 1, 0);
    printf("xwt_live: recv-ended rc=%zd err=%s at=%.3f\n", n, n < 0 ? strerror(errno) : "none",
           now_real());
    return n < 0 ? 0 : 1;
}

static int client(const char *ip, int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int fd = xway_socket(AF_INET, SOCK_STREAM, 0), i;

    if (fd < 0 || inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
        return usage();
    for (i = 0; xway_connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0; i++) {
        if (i == 300) { /* 30 s: the server may be starting again */
            printf("xwt_live: connect: %s\n", strerror(errno));
            return 1;
        }
        xway_close(fd);
        fd = xway_socket(AF_INET, SOCK_STREAM, 0);
        usleep(100000);
    }
    if (xway_send(fd, "m", 1, 0) != 1) {
        printf("xwt_live: send: %s\n", strerror(errno));
        return 1;
    }
    printf("xwt_live: connected, path %s\n", path_of(fd));
    fflush(stdout);
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && !strcmp(argv[1], "now")) {
        printf("%.3f\n", now_real());
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "server"))
        return server(atoi(argv[2]));
    if (argc == 4 && !strcmp(argv[1], "client"))
        return client(argv[2], atoi(argv[3]));
    return usage();
}

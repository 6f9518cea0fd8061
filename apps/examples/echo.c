/* xway-echo: an echo server and client over the xway stack.
 *
 *   xway-echo -s [-B ADDR] [-p PORT] [-1]   echo every connection's bytes back
 *   xway-echo -c HOST [-p PORT]             stdin -> server, echo -> stdout
 *
 * The server is one thread with a nonblocking poll loop over xway sockets; the
 * client polls stdin (an ordinary fd) and its xway socket together.  The stack
 * is configured from the XWAY_* environment. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xway.h>

#define MAX_CONNS 256
#define BUF_SIZE 65536

/* One echoed connection: bytes received but not yet sent back. */
struct echo_conn {
    int fd;
    char buf[BUF_SIZE];
    size_t off, len;
    bool eof;
};

static int die(const char *what)
{
    fprintf(stderr, "xway-echo: %s: %s\n", what, strerror(errno));
    return 1;
}

static int parse_addr(const char *host, unsigned port, struct sockaddr_storage *ss,
                      socklen_t *sl)
{
    struct sockaddr_in *s4 = (void *)ss;
    struct sockaddr_in6 *s6 = (void *)ss;
    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *sl = sizeof(*s4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *sl = sizeof(*s6);
        return 0;
    }
    fprintf(stderr, "xway-echo: %s: not a numeric IPv4/IPv6 address\n", host);
    return -1;
}

/* Move what can move without blocking.  false when the connection is finished. */
static bool echo_step(struct echo_conn *c)
{
    for (;;) {
        if (c->len > c->off) {
            ssize_t n = xway_send(c->fd, c->buf + c->off, c->len - c->off,
                                  MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0)
                return errno == EAGAIN || errno == EINTR;
            c->off += (size_t)n;
            continue;
        }
        if (c->eof) {
            xway_shutdown(c->fd, SHUT_WR);
            return false;
        }
        ssize_t n = xway_recv(c->fd, c->buf, sizeof(c->buf), MSG_DONTWAIT);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR;
        c->off = 0;
        c->len = (size_t)n;
        c->eof = n == 0;
    }
}

static short wanted(const struct echo_conn *c)
{
    return c->len > c->off ? POLLOUT : POLLIN;
}

static int serve(const struct sockaddr_storage *ss, socklen_t sl, bool once)
{
    static struct echo_conn conns[MAX_CONNS];
    struct pollfd pfd[MAX_CONNS + 1];
    int n = 0, served = 0, one = 1;
    int lfd = xway_socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (lfd < 0)
        return die("socket");
    xway_setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (xway_bind(lfd, (const void *)ss, sl) < 0 || xway_listen(lfd, 64) < 0)
        return die("bind/listen");
    printf("xway-echo: listening\n");
    fflush(stdout);
    while (!(once && served > 0 && n == 0)) {
        pfd[0] = (struct pollfd){ .fd = lfd, .events = n < MAX_CONNS ? POLLIN : 0 };
        for (int i = 0; i < n; i++)
            pfd[i + 1] = (struct pollfd){ .fd = conns[i].fd, .events = wanted(&conns[i]) };
        if (xway_poll(pfd, (nfds_t)n + 1, -1) < 0 && errno != EINTR)
            return die("poll");
        for (int i = n - 1; i >= 0; i--) {
            if (!pfd[i + 1].revents || echo_step(&conns[i]))
                continue;
            if (once) { /* the process exits next: let the echo reach the peer first */
                struct linger lg = { 1, 5 };
                xway_setsockopt(conns[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            }
            xway_close(conns[i].fd); /* graceful: the echo is queued before the FIN */
            conns[i] = conns[--n];
        }
        if (pfd[0].revents & POLLIN) {
            int fd = xway_accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
            if (fd >= 0 && (!once || served == 0)) {
                conns[n] = (struct echo_conn){ .fd = fd };
                n++;
                served++;
            } else if (fd >= 0) {
                xway_close(fd);
            }
        }
    }
    xway_close(lfd);
    return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int client(const struct sockaddr_storage *ss, socklen_t sl)
{
    static char buf[BUF_SIZE];
    int fd = xway_socket(ss->ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return die("socket");
    if (xway_connect(fd, (const void *)ss, sl) < 0)
        return die("connect");
    bool in_open = true;
    for (;;) {
        struct pollfd pfd[2] = { { .fd = fd, .events = POLLIN },
                                 { .fd = in_open ? 0 : -1, .events = POLLIN } };
        if (xway_poll(pfd, 2, -1) < 0 && errno != EINTR)
            return die("poll");
        if (pfd[0].revents) {
            ssize_t n = xway_recv(fd, buf, sizeof(buf), 0);
            if (n < 0)
                return die("recv");
            if (n == 0)
                break;
            if (write_all(1, buf, (size_t)n) < 0)
                return die("write");
        }
        if (pfd[1].revents) {
            ssize_t n = read(0, buf, sizeof(buf));
            if (n < 0 && errno != EINTR)
                return die("read");
            if (n == 0) {
                xway_shutdown(fd, SHUT_WR);
                in_open = false;
            } else if (n > 0 && xway_send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n) {
                return die("send");
            }
        }
    }
    xway_close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    const char *host = NULL;
    bool server = false, once = false;
    unsigned port = 7;
    int c;
    while ((c = getopt(argc, argv, "sc:B:p:1")) != -1) {
        switch (c) {
        case 's': server = true; break;
        case 'c': host = optarg; break;
        case 'B': host = optarg; break;
        case 'p': port = (unsigned)atoi(optarg); break;
        case '1': once = true; break;
        default: goto usage;
        }
    }
    if (optind != argc || (!server && !host) || port == 0 || port > 65535)
        goto usage;
    if (xway_init(NULL) < 0) {
        fprintf(stderr, "xway-echo: %s\n", xway_last_error());
        return 2;
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_addr(host ? host : "0.0.0.0", port, &ss, &sl) < 0)
        return 2;
    int rc = server ? serve(&ss, sl, once) : client(&ss, sl);
    xway_fini();
    return rc;
usage:
    fprintf(stderr, "usage: xway-echo -s [-B ADDR] [-p PORT] [-1] | -c HOST [-p PORT]\n");
    return 2;
}

/* Edge-triggered epoll over many connections, for running under xway-run.
 *   epoll_et server ADDR PORT N     echo N connections, exit 0 when all closed
 *   epoll_et client ADDR PORT N BYTES
 * The client opens N nonblocking connections at once, sends BYTES of a per-
 * connection pattern on each, reads the echo back and verifies every byte. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
    int fd;
    size_t sent, got;   /* client: pattern bytes sent / verified */
    char *buf;          /* server: echo backlog */
    size_t blen, boff;
    int eof, done;
};

static unsigned char pat(size_t id, size_t off)
{
    return (unsigned char)(id * 131 + off * 7 + (off >> 9));
}

static void die(const char *m)
{
    perror(m);
    exit(1);
}

static int flush(struct conn *c)
{
    while (c->boff < c->blen) {
        ssize_t n = write(c->fd, c->buf + c->boff, c->blen - c->boff);
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        c->boff += (size_t)n;
    }
    c->blen = c->boff = 0;
    return 0;
}

static int server(struct sockaddr_in *sa, int n)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), ep = epoll_create1(0), one = 1;
    int closed = 0, accepted = 0;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.ptr = NULL }, evs[64];
    struct conn *cs = calloc((size_t)n, sizeof(*cs));

    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(l, (void *)sa, sizeof(*sa)) < 0 || listen(l, 1024) < 0)
        die("bind/listen");
    if (epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) < 0)
        die("epoll_ctl");
    printf("listening\n");
    fflush(stdout);
    while (closed < n) {
        int k = epoll_wait(ep, evs, 64, 20000);
        if (k <= 0) {
            int shown = 0;
            fprintf(stderr, "server: %d accepted, %d closed\n", accepted, closed);
            for (int i = 0; i < accepted && shown < 5; i++)
                if (!cs[i].done) {
                    fprintf(stderr, "  conn %d: backlog %zu eof %d\n", i, cs[i].blen - cs[i].boff, cs[i].eof);
                    shown++;
                }
            die("epoll_wait (timeout?)");
        }
        for (int i = 0; i < k; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                for (;;) {
                    int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK);
                    if (fd < 0) {
                        if (errno == EAGAIN)
                            break;
                        die("accept4");
                    }
                    if (accepted >= n) {
                        fprintf(stderr, "too many connections\n");
                        exit(1);
                    }
                    c = &cs[accepted++];
                    c->fd = fd;
                    ev = (struct epoll_event){ .events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP,
                                               .data.ptr = c };
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
                        die("epoll_ctl conn");
                }
                continue;
            }
            if (c->done)
                continue;
            /* Edge-triggered: drain everything now. */
            for (;;) {
                char tmp[16384];
                ssize_t r;
                if (c->blen > (1 << 20))
                    break; /* back-pressure: wait for EPOLLOUT */
                r = read(c->fd, tmp, sizeof(tmp));
                if (r > 0) {
                    c->buf = realloc(c->buf, c->blen + (size_t)r);
                    memcpy(c->buf + c->blen, tmp, (size_t)r);
                    c->blen += (size_t)r;
                    if (flush(c) < 0)
                        die("write");
                    continue;
                }
                if (r == 0)
                    c->eof = 1;
                else if (errno != EAGAIN)
                    die("read");
                break;
            }
            if (flush(c) < 0)
                die("write");
            if (c->eof && c->blen == 0) {
                close(c->fd);
                c->done = 1;
                closed++;
            }
        }
    }
    printf("served %d\n", closed);
    for (int i = 0; i < n; i++)
        free(cs[i].buf);
    free(cs);
    close(ep);
    close(l);
    return 0;
}

static int client(struct sockaddr_in *sa, int n, size_t bytes)
{
    int ep = epoll_create1(0), done = 0;
    struct conn *cs = calloc((size_t)n, sizeof(*cs));
    struct epoll_event evs[64];

    for (int i = 0; i < n; i++) {
        struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.u32 = (uint32_t)i };
        cs[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (cs[i].fd < 0)
            die("socket");
        if (connect(cs[i].fd, (void *)sa, sizeof(*sa)) < 0 && errno != EINPROGRESS)
            die("connect");
        if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) < 0)
            die("epoll_ctl");
    }
    while (done < n) {
        int k = epoll_wait(ep, evs, 64, 20000);
        if (k <= 0) {
            int shown = 0;
            fprintf(stderr, "client: %d of %d done\n", done, n);
            for (int i = 0; i < n && shown < 5; i++)
                if (!cs[i].done) {
                    fprintf(stderr, "  conn %d: sent %zu got %zu\n", i, cs[i].sent, cs[i].got);
                    shown++;
                }
            die("epoll_wait (timeout?)");
        }
        for (int j = 0; j < k; j++) {
            size_t id = evs[j].data.u32;
            struct conn *c = &cs[id];
            if (c->done)
                continue;
            if (evs[j].events & EPOLLERR) {
                int err = 0;
                socklen_t len = sizeof(err);
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                fprintf(stderr, "conn %zu: error %s\n", id, strerror(err));
                exit(1);
            }
            while (c->sent < bytes) {
                unsigned char tmp[8192];
                size_t m = bytes - c->sent < sizeof(tmp) ? bytes - c->sent : sizeof(tmp);
                ssize_t w;
                for (size_t q = 0; q < m; q++)
                    tmp[q] = pat(id, c->sent + q);
                w = write(c->fd, tmp, m);
                if (w < 0) {
                    if (errno == EAGAIN || errno == ENOTCONN)
                        break;
                    die("write");
                }
                c->sent += (size_t)w;
                if (c->sent == bytes)
                    shutdown(c->fd, SHUT_WR);
            }
            for (;;) {
                unsigned char tmp[16384];
                ssize_t r = read(c->fd, tmp, sizeof(tmp));
                if (r > 0) {
                    for (ssize_t q = 0; q < r; q++)
                        if (tmp[q] != pat(id, c->got + (size_t)q)) {
                            fprintf(stderr, "conn %zu: bad byte at %zu\n", id, c->got + (size_t)q);
                            exit(1);
                        }
                    c->got += (size_t)r;
                    continue;
                }
                if (r == 0) {
                    if (c->got != bytes) {
                        fprintf(stderr, "conn %zu: EOF after %zu of %zu\n", id, c->got, bytes);
                        exit(1);
                    }
                    close(c->fd);
                    c->done = 1;
                    done++;
                } else if (errno != EAGAIN && errno != ENOTCONN) {
                    die("read");
                }
                break;
            }
        }
    }
    printf("verified %d connections x %zu bytes\n", done, bytes);
    for (int i = 0; i < n; i++)
        free(cs[i].buf);
    free(cs);
    close(ep);
    return 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    struct rlimit rl;

    if (argc < 5 || inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1) {
        fprintf(stderr, "usage: epoll_et server|client ADDR PORT N [BYTES]\n");
        return 2;
    }
    alarm(120);
    /* Each connection holds several fds (its number, the stack's end of it, the
     * ring's): lift the soft limit to the hard one. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    sa.sin_port = htons((unsigned short)atoi(argv[3]));
    if (!strcmp(argv[1], "server"))
        return server(&sa, atoi(argv[4]));
    return client(&sa, atoi(argv[4]), argc > 5 ? strtoul(argv[5], NULL, 0) : 65536);
}

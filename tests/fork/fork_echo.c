/* A forking echo server and its client, for running under xway-run.
 *
 *   fork_echo server ADDR PORT N [FIRST]   accept N connections; connection i
 *       is served ((i + FIRST) % 3 == 0) by a forked child, (1) by a forked
 *       child that execs cat on it as stdin/stdout, (2) by the parent itself
 *       after forking a child that exits at once; exits 0 when every child did.
 *       FIRST < 0: every connection served by a forked child; -1: the parent
 *       exits once it has forked the last one (the children go on); -2: it
 *       waits for them; -3: as -2, each child echoing with two threads (one
 *       reads the socket into a pipe, the other writes the pipe back)
 *   fork_echo client ADDR PORT N BYTES   N concurrent connections, each sends
 *       BYTES of its own pattern and checks that exactly they come back
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what)
{
    fprintf(stderr, "fork_echo: %s: %s\n", what, strerror(errno));
    exit(2);
}

static unsigned char pattern(unsigned conn, uint64_t off)
{
    uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ull ^ (conn + 1) * 0xC2B2AE3D27D4EB4Full;
    return (unsigned char)(x >> 29);
}

static void write_all(int fd, const char *buf, size_t n)
{
    for (size_t off = 0; off < n;) {
        ssize_t w = write(fd, buf + off, n - off);
        if (w <= 0)
            die("echo write");
        off += (size_t)w;
    }
}

/* Echo until EOF.  A connection whose first byte is 'K' kills its child
 * (SIGKILL) once 64 KiB were echoed and more comes (prefork crash-client). */
static void echo(int fd)
{
    char buf[65536];
    ssize_t n;
    size_t echoed = 0;
    bool doomed = false;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (doomed && echoed >= 65536)
            raise(SIGKILL);
        doomed |= echoed == 0 && buf[0] == 'K';
        echoed += (size_t)n;
        write_all(fd, buf, (size_t)n);
    }
    if (n < 0)
        die("echo read");
}

/* echo(), with the socket's two directions in two threads at once. */
static void *pipe_back(void *arg)
{
    int *fds = arg;
    char buf[65536];
    ssize_t n;

    while ((n = read(fds[1], buf, sizeof(buf))) > 0)
        write_all(fds[0], buf, (size_t)n);
    return NULL;
}

static void echo_threads(int fd)
{
    int p[2], fds[2];
    char buf[65536];
    pthread_t t;
    ssize_t n;

    if (pipe(p) < 0)
        die("pipe");
    fds[0] = fd;
    fds[1] = p[0];
    if (pthread_create(&t, NULL, pipe_back, fds))
        die("pthread_create");
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        write_all(p[1], buf, (size_t)n);
    if (n < 0)
        die("echo read");
    close(p[1]);
    pthread_join(t, NULL);
}

/* The child's view of the connection: still a TCP connection by its names. */
static void check_names(int fd)
{
    struct sockaddr_in a;
    socklen_t l = sizeof(a);
    int one = 1;

    if (getpeername(fd, (struct sockaddr *)&a, &l) < 0 || a.sin_family != AF_INET ||
        a.sin_port == 0)
        die("getpeername in the child");
    l = sizeof(a);
    if (getsockname(fd, (struct sockaddr *)&a, &l) < 0 || a.sin_family != AF_INET)
        die("getsockname in the child");
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        die("TCP_NODELAY in the child");
}

static int server(const char *addr, int port, int n, int first)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1, bad = 0, st;
    pid_t pid;

    inet_pton(AF_INET, addr, &sa.sin_addr);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 64) < 0)
        die("listen");
    printf("listening\n");
    fflush(stdout);
    for (int i = 0; i < n; i++) {
        int c = accept(ls, NULL, NULL);
        if (c < 0)
            die("accept");
        switch (first < 0 ? 0 : (i + first) % 3) {
        case 0:
            if ((pid = fork()) < 0)
                die("fork");
            if (pid == 0) {
                close(ls);
                check_names(c);
                if (first == -3)
                    echo_threads(c);
                else
                    echo(c);
                _exit(0);
            }
            close(c);
            break;
        case 1:
            if ((pid = fork()) < 0)
                die("fork");
            if (pid == 0) {
                close(ls);
                if (dup2(c, 0) < 0 || dup2(c, 1) < 0)
                    _exit(3);
                close(c);
                execlp("cat", "cat", (char *)NULL);
                _exit(4);
            }
            close(c);
            break;
        default:
            if ((pid = fork()) < 0)
                die("fork");
            if (pid == 0)
                _exit(0);
            if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
                bad++;
            echo(c);
            close(c);
            break;
        }
    }
    if (first == -1) {
        printf("forked %d children, exiting\n", n);
        return 0;
    }
    while ((pid = wait(&st)) > 0)
        if (!WIFEXITED(st) || WEXITSTATUS(st)) {
            fprintf(stderr, "fork_echo: child %d exit status %#x\n", (int)pid, st);
            bad++;
        }
    printf("served %d connections, %d bad\n", n, bad);
    return bad ? 1 : 0;
}

struct conn {
    pthread_t rd, wr;
    unsigned id;
    int fd;
    uint64_t bytes, got;
    const char *err;
    int eno; /* errno of a failed read */
    const char *addr;
    int port;
};

static void *writer(void *arg)
{
    struct conn *c = arg;
    unsigned char buf[32768];

    for (uint64_t off = 0; off < c->bytes;) {
        size_t n = c->bytes - off < sizeof(buf) ? (size_t)(c->bytes - off) : sizeof(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern(c->id, off + i);
        for (size_t done = 0; done < n;) {
            ssize_t w = write(c->fd, buf + done, n - done);
            if (w <= 0) {
                c->err = "write";
                return NULL;
            }
            done += (size_t)w;
        }
        off += n;
    }
    shutdown(c->fd, SHUT_WR);
    return NULL;
}

static void *reader(void *arg)
{
    struct conn *c = arg;
    unsigned char buf[65536];
    ssize_t n;

    while ((n = read(c->fd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pattern(c->id, c->got + (uint64_t)i)) {
                c->err = "corrupt byte";
                return NULL;
            }
        c->got += (uint64_t)n;
    }
    if (n < 0)
        c->err = "read", c->eno = errno;
    return NULL;
}

static int client(const char *addr, int port, int n, uint64_t bytes)
{
    struct conn *cs = calloc((size_t)n, sizeof(*cs));
    int ok = 0;

    for (int i = 0; i < n; i++) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        struct conn *c = &cs[i];
        inet_pton(AF_INET, addr, &sa.sin_addr);
        c->id = (unsigned)i;
        c->bytes = bytes + (uint64_t)i * 4099; /* every length different */
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            die("connect");
        pthread_create(&c->wr, NULL, writer, c);
        pthread_create(&c->rd, NULL, reader, c);
    }
    for (int i = 0; i < n; i++) {
        struct conn *c = &cs[i];
        pthread_join(c->wr, NULL);
        pthread_join(c->rd, NULL);
        close(c->fd);
        if (!c->err && c->got == c->bytes)
            ok++;
        else
            printf("connection %d: %s%s%s, %llu of %llu bytes back\n", i,
                   c->err ? c->err : "short", c->eno ? ": " : "", c->eno ? strerror(c->eno) : "",
                   (unsigned long long)c->got, (unsigned long long)c->bytes);
    }
    printf("verified %d of %d connections\n", ok, n);
    free(cs);
    return ok == n ? 0 : 1;
}

int main(int argc, char **argv)
{
    if ((argc == 5 || argc == 6) && !strcmp(argv[1], "server"))
        return server(argv[2], atoi(argv[3]), atoi(argv[4]), argc == 6 ? atoi(argv[5]) : 0);
    if (argc == 6 && !strcmp(argv[1], "client"))
        return client(argv[2], atoi(argv[3]), atoi(argv[4]), strtoull(argv[5], NULL, 10));
    fprintf(stderr, "usage: fork_echo server ADDR PORT N [FIRST] | client ADDR PORT N BYTES\n");
    return 2;
}

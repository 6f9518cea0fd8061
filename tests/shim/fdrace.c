/* Numbers reused while other threads use them: a call blocked on a number that
 * another thread closes (recv, accept) never acts on the file that reuses it;
 * dup2 onto an xway number is atomic against a concurrent socket(); dup2 onto
 * a number whose connection has other numbers replaces that number only; a
 * number the stack frees at exit is libc's again
 * (xs_fdrace xway|kernel PEER_ADDR PORT [PART], against xs_peer). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "peer.h"

enum { ROUNDS = 5, CHUNK = 1000, DELAY_MS = 700, DUP_ROUNDS = 10000, RACERS = 2,
       BIG = 16 << 20 };

static const char decoy[] = "decoy bytes of the file that took the number";

/* ---- a recv blocked across close() and the number's reuse ------------------------ */

/* Wait until thread *tid (0 until it sets it) sleeps in the kernel, i.e. is
 * blocked in its call (up to 5 s), and a little more. */
static void asleep(_Atomic pid_t *tid)
{
    struct timespec t0, nap = { 0, 10 * 1000000 };
    char path[64], buf[256], *st;
    int fd;
    ssize_t n;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (; st_ms_since(&t0) < 5000; nanosleep(&nap, NULL)) {
        if (!*tid)
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)*tid);
        if ((fd = open(path, O_RDONLY)) < 0)
            continue;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        buf[n > 0 ? n : 0] = '\0';
        if ((st = strrchr(buf, ')')) && st[1] == ' ' && st[2] == 'S')
            break;
    }
    CHECK(*tid && st_ms_since(&t0) < 5000, "the thread did not block");
    nap.tv_nsec = 100 * 1000000;
    nanosleep(&nap, NULL);
}

struct blocked {
    int fd;
    uint32_t id;
    ssize_t n;
    int err;
    char buf[CHUNK];
    _Atomic pid_t tid;
};

static void *blocked_recv(void *arg)
{
    struct blocked *b = arg;

    b->tid = gettid();
    b->n = recv(b->fd, b->buf, sizeof(b->buf), 0);
    b->err = errno;
    return NULL;
}

/* The peer echoes CHUNK bytes DELAY_MS after they were sent.  Linux keeps the
 * file alive until the blocked recv returns (with the echo); the shim may end
 * it with EBADF instead.  Either way the call never touches the socket now on
 * its number, whose bytes stay where they were, the number is free as soon as
 * close() returns, and the connection ends. */
static void close_while_blocked(uint32_t id)
{
    struct blocked b = { .id = id };
    char out[CHUNK], got[sizeof(decoy)];
    struct peer_state st;
    pthread_t t;
    int sp[2], reuse;

    b.fd = st_conn(PEER_ECHO, id, 0, 0, DELAY_MS);
    st_fill(id, 0, out, CHUNK);
    st_write_all(b.fd, out, CHUNK);
    OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
    st_write_all(sp[1], decoy, sizeof(decoy));
    pthread_create(&t, NULL, blocked_recv, &b);
    asleep(&b.tid);
    OK(close(b.fd));
    reuse = fcntl(sp[0], F_DUPFD, b.fd);
    CHECK(reuse == b.fd, "connection %u: closed number %d not free (got %d)", id, b.fd, reuse);
    pthread_join(t, NULL);
    CHECK((b.n > 0 && st_verify(id, 0, b.buf, (size_t)b.n) == 0) || (b.n == -1 && b.err == EBADF),
          "connection %u: the blocked recv returned %zd (%s)%s", id, b.n,
          b.n < 0 ? strerror(b.err) : "bytes",
          b.n > 0 && !memcmp(b.buf, decoy, 5) ? ": the bytes of the file that took its number" : "");
    CHECK(recv(reuse, got, sizeof(got), MSG_DONTWAIT) == (ssize_t)sizeof(got) &&
              !memcmp(got, decoy, sizeof(decoy)),
          "connection %u: the new file's bytes were taken", id);
    close(reuse);
    close(sp[0]);
    close(sp[1]);
    st = st_query(id, 5000);
    CHECK((st.eof == 1 || st.eof == 3) && st.bytes == CHUNK, "connection %u: eof %llu bytes %llu",
          id, (unsigned long long)st.eof, (unsigned long long)st.bytes);
    printf("connection %u: the recv blocked across close() and reuse returned %zd (%s)\n", id,
           b.n, b.n < 0 ? strerror(b.err) : "the echo");
}

/* With another number open, closing the one a recv is blocked on leaves the
 * connection alone: the recv gets the echo, on Linux and under the shim. */
static void close_dup_while_blocked(uint32_t id)
{
    struct blocked b = { .id = id };
    struct peer_state st;
    char out[CHUNK];
    pthread_t t;
    int d;

    b.fd = st_conn(PEER_ECHO, id, 0, 0, DELAY_MS);
    d = OK(dup(b.fd));
    st_fill(id, 0, out, CHUNK);
    st_write_all(b.fd, out, CHUNK);
    pthread_create(&t, NULL, blocked_recv, &b);
    asleep(&b.tid);
    OK(close(b.fd));
    pthread_join(t, NULL);
    CHECK(b.n > 0 && st_verify(id, 0, b.buf, (size_t)b.n) == 0,
          "connection %u: the recv blocked on a closed duplicate returned %zd (%s)", id, b.n,
          b.n < 0 ? strerror(b.err) : "bytes");
    if (b.n > 0 && b.n < CHUNK)
        CHECK(st_read_n(d, b.buf, CHUNK - (size_t)b.n) == CHUNK - (size_t)b.n, "the rest");
    st_ring(d, "a connection read after closing one of its numbers");
    OK(close(d));
    st = st_query(id, 5000);
    CHECK(st.eof == 1 && st.bytes == CHUNK, "connection %u: eof %llu bytes %llu", id,
          (unsigned long long)st.eof, (unsigned long long)st.bytes);
    printf("connection %u: the recv blocked on a number closed while a duplicate lives "
           "returned %zd (the echo)\n", id, b.n);
}

/* A send of BIG bytes blocked (the peer reads nothing for DELAY_MS) across
 * close() and the number's reuse: Linux finishes it; the shim may end it
 * (EBADF, or the count sent so far).  It never writes into the new file. */
static void *blocked_send(void *arg)
{
    struct blocked *b = arg;
    char *big = malloc(BIG);

    st_fill(b->id, 0, big, BIG);
    b->tid = gettid();
    b->n = send(b->fd, big, BIG, MSG_NOSIGNAL);
    b->err = errno;
    free(big);
    return NULL;
}

static void send_while_closed(uint32_t id)
{
    struct blocked b = { .id = id };
    struct peer_state st;
    char got[16];
    pthread_t t;
    int sp[2], reuse;

    b.fd = st_conn(PEER_SINK, id, 0, 0, DELAY_MS);
    OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
    pthread_create(&t, NULL, blocked_send, &b);
    asleep(&b.tid);
    OK(close(b.fd));
    reuse = fcntl(sp[0], F_DUPFD, b.fd);
    CHECK(reuse == b.fd, "connection %u: closed number %d not free (got %d)", id, b.fd, reuse);
    pthread_join(t, NULL);
    CHECK((b.n > 0 && b.n <= BIG) || (b.n == -1 && b.err == EBADF),
          "connection %u: the blocked send returned %zd (%s)", id, b.n,
          b.n < 0 ? strerror(b.err) : "bytes");
    errno = 0;
    CHECK(recv(sp[1], got, sizeof(got), MSG_DONTWAIT) == -1 && errno == EAGAIN,
          "connection %u: bytes written into the file that took the number", id);
    st = st_query(id, 5000);
    CHECK((st.eof == 1 || st.eof == 3) && st.bytes <= BIG && (b.n != BIG || st.bytes == BIG),
          "connection %u: eof %llu bytes %llu", id, (unsigned long long)st.eof,
          (unsigned long long)st.bytes);
    printf("connection %u: the send blocked across close() and reuse returned %zd (%s), "
           "the peer got %llu bytes\n", id, b.n, b.n < 0 ? strerror(b.err) : "bytes",
           (unsigned long long)st.bytes);
    close(reuse);
    close(sp[0]);
    close(sp[1]);
}

/* ---- an accept blocked across close() and the number's reuse --------------------- */

struct acceptor {
    int fd, r, err, port;
    _Atomic pid_t tid;
};

static int port_of(int fd, bool peer)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);

    if ((peer ? getpeername(fd, (void *)&sa, &sl) : getsockname(fd, (void *)&sa, &sl)) < 0)
        return -1;
    return ntohs(sa.sin_port);
}

static void *blocked_accept(void *arg)
{
    struct acceptor *a = arg;

    a->tid = gettid();
    a->r = accept(a->fd, NULL, NULL);
    a->err = errno;
    a->port = a->r >= 0 ? port_of(a->r, false) : -1;
    return NULL;
}

static int listener(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    CHECK(l >= 0 && setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
              bind(l, (void *)&sa, sizeof(sa)) == 0 && listen(l, 8) == 0,
          "listener on port %d: %s", port, strerror(errno));
    return l;
}

static int connect_local(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int c = socket(AF_INET, SOCK_STREAM, 0);

    if (connect(c, (void *)&sa, sizeof(sa)) < 0) {
        close(c);
        return -1;
    }
    return c;
}

/* Linux keeps a listener alive while an accept is blocked on it (a connection
 * to its port is then accepted); the shim may end the accept with EBADF.
 * Either way it never takes a connection of the listener on its number now. */
static void accept_while_closed(int base)
{
    struct acceptor a = { .r = -1 };
    pthread_t t;
    int l2, c1, c2, r2;

    a.fd = listener(base);
    pthread_create(&t, NULL, blocked_accept, &a);
    asleep(&a.tid);
    OK(close(a.fd));
    l2 = listener(base + 1);
    CHECK(l2 == a.fd, "the listener's number %d not reused (got %d)", a.fd, l2);
    c2 = connect_local(base + 1);
    CHECK(c2 >= 0, "connect to the new listener: %s", strerror(errno));
    c1 = connect_local(base); /* Linux: the blocked accept takes it */
    pthread_join(t, NULL);
    CHECK((a.r >= 0 && a.port == base) || (a.r == -1 && a.err == EBADF),
          "the blocked accept returned %d (%s), local port %d%s", a.r,
          a.r < 0 ? strerror(a.err) : "a connection", a.port,
          a.port == base + 1 ? ": the new listener's" : "");
    CHECK(st_readable(l2, 2000) == 1, "the new listener has no connection");
    r2 = accept(l2, NULL, NULL);
    CHECK(r2 >= 0 && port_of(r2, false) == base + 1 && port_of(r2, true) == port_of(c2, false),
          "the new listener's connection: %d (%s)", r2, strerror(errno));
    printf("an accept blocked across close() and reuse returned %d (%s)\n", a.r,
           a.r < 0 ? strerror(a.err) : "a connection to its port");
    close(r2);
    close(c2);
    if (c1 >= 0)
        close(c1);
    if (a.r >= 0)
        close(a.r);
    close(l2);
}

/* An accept blocked on a duplicate of a listener while another thread
 * replaces the listener's own number (dup2) and a new listener takes that
 * number: the listener lives on in its duplicate, which accepts its port's
 * connection and not the new listener's, as on Linux. */
static void accept_on_dup(int base)
{
    struct acceptor a = { .r = -1 };
    pthread_t t;
    int l = listener(base), p[2], l2, c1, c2, r2;

    a.fd = OK(dup(l));
    pthread_create(&t, NULL, blocked_accept, &a);
    asleep(&a.tid);
    OK(pipe(p));
    CHECK(dup2(p[0], l) == l, "dup2 onto the listener's number: %s", strerror(errno));
    OK(close(l));
    l2 = listener(base + 1);
    CHECK(l2 == l, "the listener's number %d not reused (got %d)", l, l2);
    c2 = connect_local(base + 1);
    c1 = connect_local(base);
    CHECK(c1 >= 0 && c2 >= 0, "connect to the listeners: %s", strerror(errno));
    pthread_join(t, NULL);
    CHECK(a.r >= 0 && a.port == base, "the accept on the duplicate returned %d (%s), local port %d",
          a.r, a.r < 0 ? strerror(a.err) : "a connection", a.port);
    CHECK(st_readable(l2, 2000) == 1, "the new listener has no connection");
    r2 = accept(l2, NULL, NULL);
    CHECK(r2 >= 0 && port_of(r2, false) == base + 1 && port_of(r2, true) == port_of(c2, false),
          "the new listener's connection: %d (%s)", r2, strerror(errno));
    printf("an accept on a duplicate, its listener's number replaced and reused: "
           "a connection to port %d\n", a.port);
    close(r2);
    close(c2);
    close(c1);
    close(a.r);
    close(l2);
    close(a.fd);
    close(p[0]);
    close(p[1]);
}

/* An accept blocked on a listener's number that is closed while a duplicate
 * lives goes on and takes the next connection, on Linux and under the shim. */
static void accept_closed_dup(int base)
{
    struct acceptor a = { .r = -1 };
    pthread_t t;
    int d, c;

    a.fd = listener(base);
    d = OK(dup(a.fd));
    pthread_create(&t, NULL, blocked_accept, &a);
    asleep(&a.tid);
    OK(close(a.fd));
    c = connect_local(base);
    CHECK(c >= 0, "connect to the listener: %s", strerror(errno));
    pthread_join(t, NULL);
    CHECK(a.r >= 0 && a.port == base, "the accept on a closed duplicate returned %d (%s), port %d",
          a.r, a.r < 0 ? strerror(a.err) : "a connection", a.port);
    printf("an accept on a number closed while a duplicate lives: a connection to port %d\n",
           a.port);
    close(c);
    close(a.r);
    close(d);
}

/* ---- dup2 onto an xway number against concurrent socket() ------------------------ */

static _Atomic bool racing;
static _Atomic long raced;

/* Numbers from socket() must stay this thread's sockets until it closes them. */
static void *racer(void *arg)
{
    (void)arg;
    while (racing) {
        int s = socket(AF_INET, SOCK_STREAM, 0), type = 0;
        socklen_t tl = sizeof(type);
        struct stat sb;

        CHECK(s >= 0, "socket: %s", strerror(errno));
        if (s < 0)
            return NULL;
        CHECK(fstat(s, &sb) == 0 && S_ISSOCK(sb.st_mode), "socket() number %d: not a socket", s);
        CHECK(getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM,
              "socket() number %d: SO_TYPE %d (%s)", s, type, strerror(errno));
        CHECK(close(s) == 0, "close of socket() number %d: %s", s, strerror(errno));
        raced++;
    }
    return NULL;
}

static void dup2_vs_socket(void)
{
    pthread_t t[RACERS];
    struct stat want, sb;
    int p[2], bad = 0;

    OK(pipe(p));
    OK(fstat(p[0], &want));
    racing = true;
    for (int i = 0; i < RACERS; i++)
        pthread_create(&t[i], NULL, racer, NULL);
    for (int i = 0; i < DUP_ROUNDS && !bad; i++) {
        int x = socket(AF_INET, SOCK_STREAM, 0);
        if (x < 0 || dup2(p[0], x) != x || fstat(x, &sb) < 0 || sb.st_ino != want.st_ino ||
            close(x) < 0)
            bad = 1;
        CHECK(!bad, "round %d: dup2 of the pipe onto socket %d: %s", i, x, strerror(errno));
    }
    racing = false;
    for (int i = 0; i < RACERS; i++)
        pthread_join(t[i], NULL);
    printf("dup2 onto a socket's number %d times against %ld concurrent socket()s\n",
           DUP_ROUNDS, (long)raced);
    close(p[0]);
    close(p[1]);
}

/* ---- dup2 onto a number whose connection has other numbers ----------------------- */

static void echo_on(int fd, uint32_t id, uint64_t *off, const char *what)
{
    char buf[CHUNK];

    st_fill(id, *off, buf, CHUNK);
    st_write_all(fd, buf, CHUNK);
    CHECK(st_read_n(fd, buf, CHUNK) == CHUNK && st_verify(id, *off, buf, CHUNK) == 0,
          "%s: echo", what);
    *off += CHUNK;
}

/* dup2 onto c (still open, or already closed), then onto another duplicate a,
 * replaces those numbers only: the connection goes on through its other
 * number d and ends with it (closed, or replaced too). */
static void dup2_onto_duplicated(uint32_t id, bool close_first)
{
    const char *what = close_first ? "dup2 onto a closed number" : "dup2 onto a duplicated number";
    uint64_t off = 0;
    struct peer_state st;
    char got[sizeof(decoy)];
    int c = st_conn(PEER_ECHO, id, 0, 0, 0), d = OK(dup(c)), a = OK(dup(d)), p[2];

    echo_on(c, id, &off, what);
    OK(pipe(p));
    st_write_all(p[1], decoy, sizeof(decoy));
    if (close_first)
        OK(close(c));
    CHECK(dup2(p[0], c) == c, "%s: dup2 -> %s", what, strerror(errno));
    CHECK(read(c, got, sizeof(got)) == (ssize_t)sizeof(got) && !memcmp(got, decoy, sizeof(decoy)),
          "%s: the number does not read the pipe", what);
    CHECK(dup2(c, a) == a, "%s: dup2 onto a duplicate -> %s", what, strerror(errno));
    st_write_all(p[1], decoy, sizeof(decoy));
    CHECK(read(a, got, sizeof(got)) == (ssize_t)sizeof(got) && !memcmp(got, decoy, sizeof(decoy)),
          "%s: the duplicate does not read the pipe", what);
    CHECK(st_query(id, 200).eof == 0, "%s: the connection ended", what);
    echo_on(d, id, &off, what);
    st_ring(d, what);
    if (close_first) /* replacing its last number ends the connection too */
        CHECK(dup2(c, d) == d, "%s: dup2 onto the last number -> %s", what, strerror(errno));
    else
        OK(close(d));
    st = st_query(id, 5000);
    CHECK(st.eof == 1 && st.bytes == off, "%s: after the last close: eof %llu, %llu of %llu bytes",
          what, (unsigned long long)st.eof, (unsigned long long)st.bytes, (unsigned long long)off);
    OK(close(c));
    OK(close(a));
    if (close_first)
        OK(close(d));
    close(p[0]);
    close(p[1]);
}

/* ---- a number the stack frees at exit -------------------------------------------- */

static int exit_sock = -1;

/* Registered before the first socket, so it runs after the stack's own exit
 * handler (xway_fini) closed exit_sock: the number is libc's again. */
static void at_exit(void)
{
    int p[2], q = -1;
    char b[4];

    if (exit_sock < 0)
        return;
    if (pipe(p) < 0 || (q = fcntl(p[0], F_DUPFD, exit_sock)) < 0 || write(p[1], "exit", 4) != 4 ||
        read(q, b, 4) != 4 || memcmp(b, "exit", 4) || (st_xway && q != exit_sock)) {
        printf("FAIL: at exit: a pipe on number %d (socket %d): %s\n", q, exit_sock,
               strerror(errno));
        fflush(stdout);
        _exit(1);
    }
    printf("at exit: a pipe read back through number %d (socket %d)\n", q, exit_sock);
    fflush(stdout);
}

/* [PART]: blocked, accept, dups, race or exit; all by default. */
int main(int argc, char **argv)
{
    const char *part = argc > 4 ? argv[4] : "";

    atexit(at_exit);
    st_init(argc, argv, 50);
    if (!*part || !strcmp(part, "blocked")) {
        for (uint32_t i = 0; i < ROUNDS; i++)
            close_while_blocked(700 + i);
        send_while_closed(705);
        close_dup_while_blocked(706);
    }
    if (!*part || !strcmp(part, "accept")) {
        accept_while_closed(atoi(argv[3]) + 10);
        accept_on_dup(atoi(argv[3]) + 12);
        accept_closed_dup(atoi(argv[3]) + 14);
    }
    if (!*part || !strcmp(part, "dups")) {
        dup2_onto_duplicated(710, false);
        dup2_onto_duplicated(711, true);
    }
    if (!*part || !strcmp(part, "race"))
        dup2_vs_socket();
    if (!*part || !strcmp(part, "exit"))
        exit_sock = socket(AF_INET, SOCK_STREAM, 0); /* left open */
    return st_done("fdrace");
}

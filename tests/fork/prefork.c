/* A pre-fork echo server: the parent opens the listener and forks workers that
 * accept on it; the parent accepts nothing.  Run natively and under xway-run
 * with the same client (fork_echo client), which checks every byte.
 *
 *   prefork MODE ADDR PORT WORKERS N
 *     MODE: block    blocking accept in every worker
 *           poll     poll on the listener, then a nonblocking accept
 *           epoll    level-triggered epoll on a nonblocking listener
 *           epollex  the same with EPOLLEXCLUSIVE
 *           mutex    blocking accept under an accept mutex (flock), as Apache
 *     MODE may start with daemon: (the listener's process forks the server and
 *     exits) or double: (fork, setsid, fork, both parents exit), or closer:
 *     (the parent closes its listener once the workers run), dup: (the
 *     workers accept on duplicates: one the parent made, one their own), orphan: (the
 *     workers go on when the parent is killed), or jail: (each worker chroots
 *     into an empty directory and becomes nobody before it accepts, as
 *     privilege-separating servers do; needs root), or drop: (the server
 *     becomes nobody before it opens its listener; needs root), or own: (each
 *     worker opens its own SO_REUSEPORT listener after the fork, and accepts
 *     on a duplicate of it; the parent has none), or helper: (a worker forks a
 *     helper per connection, which echoes, and closes its copy) or exec: (the
 *     helper runs this program again, "prefork echo-stdio", on the connection
 *     as its stdin and stdout: inetd's way), or leave: (the parent exits, as
 *     exit() does, once a worker has a connection's first bytes: mid-transfer;
 *     the workers go on until killed).
 *     Serves N connections in all (echo until EOF), then stops the workers and
 *     prints "served N connections, B bad, by K workers".  A connection that
 *     starts with 'K' kills its worker mid-transfer (not counted).
 *   prefork crash-client ADDR PORT: such a connection; prints what happened.
 *   prefork rr-client ADDR PORT CONNS SECONDS: the benchmark's client (make
 *     bench): CONNS threads, one connection each, 64-byte request/response
 *     for SECONDS, every reply compared with its request; prints
 *     "rr-client: R requests/s, verified" (exit 0) or what went wrong.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_WORKERS 16

static const char *mode;
static char jail_dir[] = "/tmp/prefork-jail-XXXXXX";
static bool jail, own;
static struct sockaddr_in laddr;
static int lfd, report_fd, lock_fd = -1, daemonize, parent_dup = -1;
static bool closer, orphan, dupped, helper, helper_exec, leave;
static int leave_fd = -1; /* leave: a worker's first bytes tell the parent */
static const char *self_path;

static void die(const char *what)
{
    fprintf(stderr, "prefork %d: %s: %s\n", (int)getpid(), what, strerror(errno));
    exit(2);
}

/* Echo until EOF: 0, or -1 on an error.  A connection whose first byte is
 * 'K' crashes its worker (SIGKILL) once it has echoed 64 KiB and more comes:
 * the crash test. */
static int echo2(int in, int out)
{
    char buf[65536];
    ssize_t n;
    size_t echoed = 0;
    bool doomed = false;

    while ((n = read(in, buf, sizeof(buf))) > 0) {
        if (doomed && echoed >= 65536)
            raise(SIGKILL);
        doomed |= echoed == 0 && buf[0] == 'K';
        if (leave_fd >= 0 && echoed == 0)
            (void)!write(leave_fd, "x", 1);
        echoed += (size_t)n;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w <= 0)
                return -1;
            off += w;
        }
    }
    return n < 0 ? -1 : 0;
}

static int echo(int fd)
{
    return echo2(fd, fd);
}

/* helper: and exec: -- a helper process serves the connection; 0 if it did. */
static int by_helper(int c)
{
    int st;
    pid_t h = fork();

    if (h < 0)
        die("fork helper");
    if (h == 0) {
        if (helper_exec) {
            if (dup2(c, 0) < 0 || dup2(c, 1) < 0)
                _exit(3);
            close(c);
            execl(self_path, self_path, "echo-stdio", (char *)NULL);
            _exit(4);
        }
        _exit(echo(c) == 0 ? 0 : 1);
    }
    close(c); /* the helper's copy is the connection's now */
    return waitpid(h, &st, 0) == h && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void serve(int c)
{
    struct sockaddr_in a;
    socklen_t l = sizeof(a);
    int ok = c >= 0 && getpeername(c, (struct sockaddr *)&a, &l) == 0 && a.sin_port != 0 &&
             (helper ? by_helper(c) : echo(c)) == 0;

    if (helper)
        c = -1; /* closed by by_helper */
    char rec[16];

    if (c >= 0)
        close(c);
    snprintf(rec, sizeof(rec), "%c%08d\n", ok ? 'g' : 'b', (int)getpid());
    if (write(report_fd, rec, 10) != 10 && !orphan)
        die("report");
}

/* Wait until the listener is readable (poll / epoll modes). */
static void wait_readable(int ep)
{
    struct epoll_event ev;
    struct pollfd p = { .fd = lfd, .events = POLLIN };

    if (ep < 0) {
        if (poll(&p, 1, -1) < 0 && errno != EINTR)
            die("poll");
    } else if (epoll_wait(ep, &ev, 1, -1) < 0 && errno != EINTR) {
        die("epoll_wait");
    }
}

/* The listener (SO_REUSEPORT with own:), nonblocking unless the mode blocks. */
static int open_listener(void)
{
    int fd, one = 1;

    if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (own && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
        bind(fd, (struct sockaddr *)&laddr, sizeof(laddr)) < 0 || listen(fd, 128) < 0)
        die("listen");
    if (strcmp(mode, "block") && strcmp(mode, "mutex") &&
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
        die("O_NONBLOCK");
    return fd;
}

static void worker(void)
{
    int ep = -1, c;

    if (own) { /* and goes on with a duplicate of it (the first number closed) */
        int first = open_listener();
        if ((lfd = dup(first)) < 0)
            die("dup");
        close(first);
    }

    if (jail) {
        if (chroot(jail_dir) < 0 || chdir("/") < 0)
            die("chroot");
        if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
            die("setuid"); /* nobody */
    }

    if (!strncmp(mode, "epoll", 5)) {
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
        if (!strcmp(mode, "epollex"))
            ev.events |= EPOLLEXCLUSIVE;
        if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
            die("epoll");
    }
    for (;;) {
        if (!strcmp(mode, "block")) {
            c = accept(lfd, NULL, NULL);
        } else if (!strcmp(mode, "mutex")) {
            if (flock(lock_fd, LOCK_EX) < 0)
                die("flock");
            c = accept(lfd, NULL, NULL);
            flock(lock_fd, LOCK_UN);
        } else {
            wait_readable(ep);
            c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (c < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                continue; /* another worker took it */
        }
        if (c < 0 && errno == EINTR)
            continue;
        if (c < 0)
            die("accept");
        serve(c);
    }
}

/* The crash test's client (prefork crash-client ADDR PORT): a connection
 * whose worker dies mid-transfer ends with an error or an early EOF, never
 * hangs.  Sends 'K' and 64 KiB, reads them back, then 1 MiB more. */
static int crash_client(const char *addr, const char *port)
{
    static char buf[1 << 20];
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
    struct timeval tv = { 20, 0 };
    size_t got = 0, sent = 0;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0), err = 0;

    signal(SIGPIPE, SIG_IGN);
    if (fd < 0 || inet_pton(AF_INET, addr, &a.sin_addr) != 1 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
        die("crash client: connect");
    memset(buf, 'x', sizeof(buf));
    buf[0] = 'K';
    for (; sent < 65536 && (n = write(fd, buf + sent, 65536 - sent)) > 0; sent += (size_t)n)
        ;
    while (got < 65536 && (n = read(fd, buf, 65536 - got)) > 0)
        got += (size_t)n;
    for (size_t more = 0; more < sizeof(buf) && (n = write(fd, buf, sizeof(buf) - more)) > 0;)
        more += (size_t)n, sent += (size_t)n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        got += (size_t)n;
    err = n < 0 ? errno : 0;
    printf("crash-client: sent %zu, got %zu back, ended with %s\n", sent, got,
           err ? strerror(err) : "EOF");
    return got < sent && err != EAGAIN ? 0 : 1;
}

/* rr-client */
static struct sockaddr_in rr_addr;
static _Atomic long rr_total;
static _Atomic int rr_stop, rr_bad;

static void *rr_conn(void *arg)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    unsigned char req[64], rep[64];
    long n = 0, id = (long)(intptr_t)arg;

    if (fd < 0 || connect(fd, (struct sockaddr *)&rr_addr, sizeof(rr_addr)) < 0) {
        perror("rr-client: connect");
        atomic_store(&rr_bad, 1);
        return NULL;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    while (!atomic_load(&rr_stop)) {
        for (int i = 0; i < 64; i++)
            req[i] = (unsigned char)(id * 131 + n * 7 + i);
        if (write(fd, req, 64) != 64)
            break;
        size_t got = 0;
        while (got < 64) {
            ssize_t r = read(fd, rep + got, 64 - got);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        if (got < 64 || memcmp(req, rep, 64)) {
            atomic_store(&rr_bad, 1);
            break;
        }
        n++;
    }
    atomic_fetch_add(&rr_total, n);
    close(fd);
    return NULL;
}

static int rr_client(const char *addr, const char *port, int conns, int secs)
{
    pthread_t t[256];

    rr_addr = (struct sockaddr_in){ .sin_family = AF_INET,
                                    .sin_port = htons((uint16_t)atoi(port)) };
    if (conns < 1 || conns > 256 || secs < 1 || inet_pton(AF_INET, addr, &rr_addr.sin_addr) != 1)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    for (long i = 0; i < conns; i++)
        pthread_create(&t[i], NULL, rr_conn, (void *)(intptr_t)i);
    sleep((unsigned)secs);
    atomic_store(&rr_stop, 1);
    for (int i = 0; i < conns; i++)
        pthread_join(t[i], NULL);
    if (atomic_load(&rr_bad)) {
        printf("rr-client: a reply differed from its request, or a connection failed\n");
        return 1;
    }
    printf("rr-client: %.0f requests/s, verified\n", (double)atomic_load(&rr_total) / secs);
    return 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    int workers, n, p[2], bad = 0, nw = 0;
    pid_t pids[MAX_WORKERS], seen[MAX_WORKERS];
    char lockname[] = "/tmp/prefork-lock-XXXXXX";

    if (argc == 4 && !strcmp(argv[1], "crash-client"))
        return crash_client(argv[2], argv[3]);
    if (argc == 6 && !strcmp(argv[1], "rr-client"))
        return rr_client(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
    if (argc == 2 && !strcmp(argv[1], "echo-stdio"))
        return echo2(0, 1) == 0 ? 0 : 1;
    self_path = argv[0];
    if (argc != 6 || (workers = atoi(argv[4])) < 1 || workers > MAX_WORKERS ||
        (n = atoi(argv[5])) < 1 || inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) {
        fprintf(stderr, "usage: prefork block|poll|epoll|epollex|mutex ADDR PORT WORKERS N\n");
        return 2;
    }
    mode = argv[1];
    if (!strncmp(mode, "daemon:", 7) || !strncmp(mode, "double:", 7)) {
        daemonize = mode[1] == 'a' ? 1 : 2;
        mode += 7;
    } else if (!strncmp(mode, "closer:", 7)) {
        closer = true;
        mode += 7;
    } else if (!strncmp(mode, "dup:", 4)) {
        dupped = true; /* worker 0 accepts on the parent's dup, worker 1 on its own */
        mode += 4;
    } else if (!strncmp(mode, "helper:", 7) || !strncmp(mode, "exec:", 5)) {
        helper = true;
        helper_exec = mode[0] == 'e';
        mode = strchr(mode, ':') + 1;
    } else if (!strncmp(mode, "leave:", 6)) {
        leave = true;
        mode += 6;
    } else if (!strncmp(mode, "own:", 4)) {
        own = true;
        mode += 4;
    } else if (!strncmp(mode, "jail:", 5) || !strncmp(mode, "drop:", 5)) {
        if (geteuid() != 0) {
            fprintf(stderr, "prefork: %.4s: needs root\n", mode);
            return 2;
        }
        if (mode[0] == 'j' && !(jail = mkdtemp(jail_dir) != NULL))
            die("mkdtemp");
        if (mode[0] == 'd' && (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0))
            die("setuid"); /* nobody, before any socket */
        mode += 5;
    } else if (!strncmp(mode, "orphan:", 7)) {
        orphan = true; /* the test kills the parent: workers serve on alone */
        signal(SIGPIPE, SIG_IGN);
        mode += 7;
    }
    a.sin_port = htons((uint16_t)atoi(argv[3]));
    laddr = a;
    if (!strcmp(mode, "mutex")) {
        if ((lock_fd = mkstemp(lockname)) < 0)
            die("mkstemp");
        unlink(lockname);
    }
    if (own) { /* no listener; a TCP socket of its own all the same (its stack) */
        if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
            die("socket");
    } else {
        lfd = open_listener();
    }
    /* A daemon: the process that opened the listener exits at once (the
     * double fork also starts a session in between), as daemon(3) and nginx. */
    if (daemonize) {
        pid_t d = fork();
        if (d < 0)
            die("fork");
        if (d > 0)
            exit(0);
        if (daemonize == 2) {
            if (setsid() < 0 || (d = fork()) < 0)
                die("setsid/fork");
            if (d > 0)
                exit(0);
        }
    }
    if (pipe(p) < 0 || (dupped && (parent_dup = dup(lfd)) < 0))
        die("pipe/dup");
    int lv[2] = { -1, -1 };
    if (leave && pipe(lv) < 0)
        die("pipe");
    leave_fd = lv[1];
    for (int i = 0; i < workers; i++) {
        if ((pids[i] = fork()) < 0)
            die("fork");
        if (pids[i] == 0) {
            close(p[0]);
            report_fd = p[1];
            if (dupped && (lfd = i % 2 ? dup(lfd) : parent_dup) < 0)
                die("dup");
            worker();
        }
    }
    close(p[1]);
    if (closer)
        close(lfd); /* the workers' copies keep the listener open */
    printf("listening with %d workers (%s): parent %d, workers", workers, mode, (int)getpid());
    for (int i = 0; i < workers; i++)
        printf(" %d", (int)pids[i]);
    printf("\n");
    fflush(stdout);
    if (leave) {
        char x;
        if (read(lv[0], &x, 1) != 1)
            die("leave");
        printf("owner exits mid-transfer\n");
        exit(0); /* exit(), not _exit(): the stack goes on in a keeper */
    }
    for (int i = 0; i < n; i++) {
        char rec[11] = { 0 };
        pid_t w;
        int k;
        if (read(p[0], rec, 10) != 10)
            die("a worker died");
        bad += rec[0] != 'g';
        w = (pid_t)atoi(rec + 1);
        for (k = 0; k < nw && seen[k] != w; k++)
            ;
        if (k == nw)
            seen[nw++] = w;
    }
    for (int i = 0; i < workers; i++)
        kill(pids[i], SIGTERM);
    for (int i = 0; i < workers; i++)
        waitpid(pids[i], NULL, 0);
    if (jail)
        rmdir(jail_dir);
    printf("served %d connections, %d bad, by %d workers\n", n, bad, nw);
    return bad ? 1 : 0;
}

/* select and pselect over a pipe and several connections: readiness, timeouts and
 * exact fd_sets (xs_select xway|kernel PEER_ADDR PORT, against xs_peer). */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "peer.h"

static int maxfd;

static void set(fd_set *s, int n, const int *fds)
{
    FD_ZERO(s);
    for (int i = 0; i < n; i++) {
        FD_SET(fds[i], s);
        if (fds[i] > maxfd)
            maxfd = fds[i];
    }
}

/* The fds of s, as text ("" when empty), for exact comparisons. */
static const char *list(const fd_set *s, char *buf)
{
    buf[0] = '\0';
    for (int fd = 0; fd <= maxfd; fd++)
        if (FD_ISSET(fd, s))
            sprintf(buf + strlen(buf), "%s%d", buf[0] ? "," : "", fd);
    return buf;
}

static const char *want(int n, const int *fds, char *buf)
{
    fd_set s;
    set(&s, n, fds);
    return list(&s, buf);
}

#define SETS_ARE(s, ...)                                                        \
    do {                                                                        \
        int w_[] = { __VA_ARGS__ };                                             \
        char a_[256], b_[256];                                                  \
        list(s, a_);                                                            \
        want((int)(sizeof(w_) / sizeof(int)) - 1, w_ + 1, b_);                  \
        CHECK(!strcmp(a_, b_), "%s is {%s}, want {%s}", #s, a_, b_);            \
    } while (0)

static void drain_echo(int fd, uint32_t id, uint64_t off, size_t n)
{
    char buf[4096];
    CHECK(st_read_n(fd, buf, n) == n, "echo of %u short", id);
    CHECK(st_verify(id, off, buf, n) == 0, "echo of %u differs", id);
}

static volatile sig_atomic_t got_usr1;
static void on_usr1(int sig)
{
    got_usr1++;
}

static void *kill_later(void *arg)
{
    struct timespec ts = { 0, 150 * 1000000 };
    nanosleep(&ts, NULL);
    kill(getpid(), SIGUSR1);
    return NULL;
}

/* A connection to a sink that does not read for 1.5 s: fill it until select
 * says it is not writable, then wait until it is again and finish. */
static void not_writable(void)
{
    uint32_t id = 103;
    int c = st_conn(PEER_SINK, id, 0, 0, 1500);
    static char buf[65536];
    uint64_t sent = 0, h = FNV_INIT;
    struct peer_sum sum;
    fd_set w;
    struct timeval tv;
    int rc = -1, rounds;

    fcntl(c, F_SETFL, O_NONBLOCK);
    for (rounds = 0; rounds < 50; rounds++) {
        for (;;) {
            ssize_t n;
            st_fill(id, sent, buf, sizeof(buf));
            n = write(c, buf, sizeof(buf));
            if (n < 0) {
                CHECK(errno == EAGAIN, "write to a full socket: %s", strerror(errno));
                break;
            }
            h = fnv(h, buf, (size_t)n);
            sent += (uint64_t)n;
        }
        set(&w, 1, &c);
        tv = (struct timeval){ 0, 200000 };
        rc = select(c + 1, NULL, &w, NULL, &tv);
        if (rc == 0)
            break;
    }
    CHECK(rc == 0, "a full socket stays writable (%d rounds)", rounds);
    SETS_ARE(&w, 0);
    set(&w, 1, &c);
    tv = (struct timeval){ 10, 0 };
    rc = select(c + 1, NULL, &w, NULL, &tv);
    CHECK(rc == 1, "select for the drained socket: %d", rc);
    SETS_ARE(&w, 0, c);
    for (uint64_t goal = sent + 300000; sent < goal;) {
        size_t m = goal - sent < sizeof(buf) ? (size_t)(goal - sent) : sizeof(buf);
        ssize_t n;
        st_fill(id, sent, buf, m);
        n = write(c, buf, m);
        if (n < 0) {
            CHECK(errno == EAGAIN, "write: %s", strerror(errno));
            set(&w, 1, &c);
            tv = (struct timeval){ 10, 0 };
            CHECK(select(c + 1, NULL, &w, NULL, &tv) == 1, "not writable again");
            continue;
        }
        h = fnv(h, buf, (size_t)n);
        sent += (uint64_t)n;
    }
    st_ring(c, "sink");
    OK(shutdown(c, SHUT_WR));
    fcntl(c, F_SETFL, 0);
    CHECK(st_read_n(c, &sum, sizeof(sum)) == sizeof(sum), "no sum from the sink");
    CHECK(sum.bytes == sent && sum.fnv == h, "sink got %llu bytes (fnv %llx), sent %llu (%llx)",
          (unsigned long long)sum.bytes, (unsigned long long)sum.fnv, (unsigned long long)sent,
          (unsigned long long)h);
    printf("not writable after %llu bytes, writable again when drained\n", (unsigned long long)sent);
    close(c);
}

static void with_pselect(int c, int pr)
{
    int fds[] = { c, pr };
    fd_set r;
    struct timespec ts, t0;
    sigset_t block, old, now;
    struct sigaction sa = { .sa_handler = on_usr1 };
    pthread_t t;
    int rc;
    long ms;

    /* Timeout, nothing ready. */
    set(&r, 2, fds);
    ts = (struct timespec){ 0, 250 * 1000000 };
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = pselect(maxfd + 1, &r, NULL, NULL, &ts, NULL);
    ms = st_ms_since(&t0);
    CHECK(rc == 0 && ms >= 240 && ms < 3000, "pselect timeout: %d after %ld ms", rc, ms);
    SETS_ARE(&r, 0);

    /* Data ready. */
    st_send_pat(c, 101, 1000, 10);
    set(&r, 2, fds);
    ts = (struct timespec){ 5, 0 };
    rc = pselect(maxfd + 1, &r, NULL, NULL, &ts, NULL);
    CHECK(rc == 1, "pselect with an echo pending: %d", rc);
    SETS_ARE(&r, 0, c);
    drain_echo(c, 101, 1000, 10);

    /* A signal the mask unblocks interrupts the wait; the old mask comes back. */
    sigaction(SIGUSR1, &sa, NULL);
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    pthread_create(&t, NULL, kill_later, NULL); /* inherits the blocked SIGUSR1 */
    set(&r, 2, fds);
    ts = (struct timespec){ 5, 0 };
    clock_gettime(CLOCK_MONOTONIC, &t0);
    errno = 0;
    rc = pselect(maxfd + 1, &r, NULL, NULL, &ts, &old);
    ms = st_ms_since(&t0);
    CHECK(rc == -1 && errno == EINTR && got_usr1 == 1 && ms < 3000,
          "pselect with a signal: %d (%s), handler ran %d times, %ld ms", rc, strerror(errno),
          (int)got_usr1, ms);
    pthread_join(t, NULL);
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    CHECK(sigismember(&now, SIGUSR1), "pselect did not restore the signal mask");

    /* A signal already pending when pselect unblocks it: EINTR at once. */
    raise(SIGUSR1);
    set(&r, 2, fds);
    ts = (struct timespec){ 2, 0 };
    clock_gettime(CLOCK_MONOTONIC, &t0);
    errno = 0;
    rc = pselect(maxfd + 1, &r, NULL, NULL, &ts, &old);
    ms = st_ms_since(&t0);
    CHECK(rc == -1 && errno == EINTR && got_usr1 == 2 && ms < 1000,
          "pselect with a pending signal: %d (%s), handler ran %d times, %ld ms", rc,
          strerror(errno), (int)got_usr1, ms);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int main(int argc, char **argv)
{
    int p[2], c[3], d, bad, rc;
    fd_set r, w, x;
    struct timeval tv;
    struct timespec t0;
    long ms;

    st_init(argc, argv, 50);
    if (pipe(p) < 0)
        st_die("pipe");
    for (int i = 0; i < 3; i++)
        c[i] = st_conn(PEER_ECHO, 100 + (uint32_t)i, 0, 0, 0);
    d = dup(c[2]); /* an alias in the sets */
    int rd[] = { p[0], c[0], c[1], c[2], d }, wr[] = { p[1], c[0], c[1], c[2], d };

    /* Nothing readable: 0 after the timeout, every set emptied, tv counted down. */
    set(&r, 5, rd);
    set(&x, 5, rd);
    tv = (struct timeval){ 0, 300000 };
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = select(maxfd + 1, &r, NULL, &x, &tv);
    ms = st_ms_since(&t0);
    CHECK(rc == 0 && ms >= 290 && ms < 3000, "select timeout: %d after %ld ms", rc, ms);
    SETS_ARE(&r, 0);
    SETS_ARE(&x, 0);
    CHECK(tv.tv_sec == 0 && tv.tv_usec == 0, "timeval after a timeout: %ld.%06ld",
          (long)tv.tv_sec, (long)tv.tv_usec);

    /* Everything writable, nothing readable. */
    set(&r, 5, rd);
    set(&w, 5, wr);
    tv = (struct timeval){ 5, 0 };
    rc = select(maxfd + 1, &r, &w, NULL, &tv);
    CHECK(rc == 5, "select for writing: %d", rc);
    SETS_ARE(&r, 0);
    SETS_ARE(&w, 0, p[1], c[0], c[1], c[2], d);

    /* An echo arrives on c1 only, then the pipe too. */
    st_send_pat(c[1], 101, 0, 1000);
    set(&r, 5, rd);
    tv = (struct timeval){ 5, 0 };
    rc = select(maxfd + 1, &r, NULL, NULL, &tv);
    CHECK(rc == 1, "select with c1's echo pending: %d", rc);
    SETS_ARE(&r, 0, c[1]);
    CHECK(tv.tv_sec < 5 || tv.tv_usec > 0, "timeval not updated: %ld.%06ld", (long)tv.tv_sec,
          (long)tv.tv_usec);
    CHECK(write(p[1], "!", 1) == 1, "pipe write");
    set(&r, 5, rd);
    tv = (struct timeval){ 5, 0 };
    rc = select(maxfd + 1, &r, NULL, NULL, &tv);
    CHECK(rc == 2, "select with c1 and the pipe readable: %d", rc);
    SETS_ARE(&r, 0, p[0], c[1]);

    /* One fd in the read and the write set counts twice. */
    set(&r, 1, &c[1]);
    set(&w, 1, &c[1]);
    tv = (struct timeval){ 5, 0 };
    rc = select(maxfd + 1, &r, &w, NULL, &tv);
    CHECK(rc == 2, "c1 readable and writable: %d", rc);
    SETS_ARE(&r, 0, c[1]);
    SETS_ARE(&w, 0, c[1]);

    /* Drained: nothing readable any more. */
    drain_echo(c[1], 101, 0, 1000);
    {
        char ch;
        CHECK(read(p[0], &ch, 1) == 1, "pipe read");
    }
    set(&r, 5, rd);
    tv = (struct timeval){ 0, 200000 };
    rc = select(maxfd + 1, &r, NULL, NULL, &tv);
    CHECK(rc == 0, "select after draining: %d", rc);
    SETS_ARE(&r, 0);

    /* c2 and its alias d are the same connection. */
    st_send_pat(c[2], 102, 0, 3000);
    set(&r, 1, &d);
    tv = (struct timeval){ 5, 0 };
    rc = select(maxfd + 1, &r, NULL, NULL, &tv);
    CHECK(rc == 1, "select on the alias: %d", rc);
    SETS_ARE(&r, 0, d);
    set(&r, 5, rd);
    tv = (struct timeval){ 5, 0 };
    rc = select(maxfd + 1, &r, NULL, NULL, &tv);
    CHECK(rc == 2, "select on c2 and its alias: %d", rc);
    SETS_ARE(&r, 0, c[2], d);
    drain_echo(d, 102, 0, 3000);

    not_writable();

    /* EOF: the echo closes after our SHUT_WR; readable, read gives 0. */
    OK(shutdown(c[0], SHUT_WR));
    set(&r, 1, &c[0]);
    set(&x, 1, &c[0]);
    tv = (struct timeval){ 5, 0 };
    rc = select(maxfd + 1, &r, NULL, &x, &tv);
    CHECK(rc == 1, "select at EOF: %d", rc);
    SETS_ARE(&r, 0, c[0]);
    SETS_ARE(&x, 0);
    {
        char ch;
        CHECK(read(c[0], &ch, 1) == 0, "read at EOF");
    }

    /* A closed number in the set: EBADF. */
    bad = dup(p[0]);
    close(bad);
    {
        int bs[] = { c[1], bad };
        set(&r, 2, bs);
        tv = (struct timeval){ 1, 0 };
        EXPECT_ERR(select(maxfd + 1, &r, NULL, NULL, &tv), EBADF);
    }

    with_pselect(c[1], p[0]);

    st_ring(c[1], "c1");
    st_ring(d, "c2 via its alias");
    for (int i = 0; i < 3; i++)
        close(c[i]);
    close(d);
    return st_done("select");
}

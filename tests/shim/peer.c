/* The peer of the shim API tests (protocol: peer.h): xs_peer ADDR PORT.
 * Serves every connection in its own thread until killed. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "peer.h"

#define MAX_ID 65536

/* What each connection id has seen.  Protected by lock; done signals changes. */
static struct {
    bool seen;
    int end; /* peer_state.eof */
    int err;
    uint64_t bytes;
} conns[MAX_ID];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;

/* Connection id has received bytes; r: its last recv (0: EOF, < 0: error). */
static void note(uint32_t id, uint64_t bytes, ssize_t r)
{
    int e = errno;

    pthread_mutex_lock(&lock);
    conns[id].seen = true;
    conns[id].bytes = bytes;
    conns[id].end = r == 0 ? 1 : r < 0 ? 3 : 0;
    conns[id].err = r < 0 ? e : 0;
    pthread_cond_broadcast(&done);
    pthread_mutex_unlock(&lock);
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static bool send_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool recv_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        ssize_t r = recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

/* Echo (and count) until EOF. */
static void echo(int fd, uint32_t id)
{
    char buf[65536];
    uint64_t bytes = 0;
    ssize_t r;

    note(id, 0, 1);
    while ((r = recv(fd, buf, sizeof(buf), 0)) > 0) {
        bytes += (uint64_t)r;
        note(id, bytes, r);
        if (!send_all(fd, buf, (size_t)r)) {
            r = -1;
            break;
        }
    }
    note(id, bytes, r);
}

static void sink(int fd, uint32_t id)
{
    char buf[65536];
    struct peer_sum sum = { 0, FNV_INIT };
    ssize_t r;

    note(id, 0, 1);
    while ((r = recv(fd, buf, sizeof(buf), 0)) > 0) {
        sum.bytes += (uint64_t)r;
        sum.fnv = fnv(sum.fnv, buf, (size_t)r);
    }
    note(id, sum.bytes, r);
    if (r == 0)
        send_all(fd, &sum, sizeof(sum));
}

static void gen(int fd, const struct peer_hdr *h)
{
    unsigned char buf[65536];
    uint64_t off = 0;
    size_t chunk = h->chunk && h->chunk < sizeof(buf) ? h->chunk : sizeof(buf);

    while (off < h->arg) {
        size_t n = h->arg - off < chunk ? (size_t)(h->arg - off) : chunk;
        for (size_t i = 0; i < n; i++)
            buf[i] = peer_pat(h->id, off + i);
        if (!send_all(fd, buf, n))
            return;
        off += n;
        if (h->delay_ms && off < h->arg)
            sleep_ms(h->delay_ms);
    }
}

static void query(int fd, const struct peer_hdr *h)
{
    struct peer_state st = { 2, 0, 0 };
    struct timespec until;
    uint32_t id = (uint32_t)h->arg % MAX_ID;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += h->delay_ms / 1000;
    until.tv_nsec += (long)(h->delay_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&lock);
    while (!(conns[id].seen && conns[id].end) &&
           pthread_cond_timedwait(&done, &lock, &until) == 0)
        ;
    if (conns[id].seen)
        st = (struct peer_state){ (uint64_t)conns[id].end, conns[id].bytes, (uint64_t)conns[id].err };
    pthread_mutex_unlock(&lock);
    send_all(fd, &st, sizeof(st));
}

static void names(int fd, uint32_t id)
{
    struct peer_names n;
    socklen_t l = sizeof(n.local), r = sizeof(n.remote);

    memset(&n, 0, sizeof(n));
    getsockname(fd, (struct sockaddr *)n.local, &l);
    getpeername(fd, (struct sockaddr *)n.remote, &r);
    n.llen = l;
    n.rlen = r;
    if (send_all(fd, &n, sizeof(n)))
        echo(fd, id);
}

static void reset(int fd)
{
    struct linger lg = { 1, 0 };
    char c;

    if (recv(fd, &c, 1, 0) == 1)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    struct peer_hdr h;

    if (recv_all(fd, &h, sizeof(h))) {
        h.id %= MAX_ID;
        if ((h.cmd == PEER_ECHO || h.cmd == PEER_SINK) && h.delay_ms)
            sleep_ms(h.delay_ms);
        switch (h.cmd) {
        case PEER_ECHO: echo(fd, h.id); break;
        case PEER_SINK: sink(fd, h.id); break;
        case PEER_GEN: gen(fd, &h); break;
        case PEER_QUERY: query(fd, &h); break;
        case PEER_NAMES: names(fd, h.id); break;
        case PEER_RESET: reset(fd); break;
        default: fprintf(stderr, "peer: unknown command %d\n", h.cmd);
        }
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    int l, one = 1;
    pthread_attr_t attr;

    if (argc != 3 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
        fprintf(stderr, "usage: xs_peer ADDR PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    sa.sin_port = htons((unsigned short)atoi(argv[2]));
    l = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (l < 0 || bind(l, (void *)&sa, sizeof(sa)) < 0 || listen(l, 128) < 0) {
        perror("peer: listen");
        return 1;
    }
    printf("listening\n");
    fflush(stdout);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (;;) {
        pthread_t t;
        int fd = accept(l, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror("peer: accept");
            return 1;
        }
        if (pthread_create(&t, &attr, serve, (void *)(intptr_t)fd) != 0) {
            fprintf(stderr, "peer: no thread\n");
            close(fd);
        }
    }
}

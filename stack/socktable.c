/* The socket table (fd -> socket), socket lifetime, readiness and sleeping.
 * Stack lock held for everything here (socket.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ring_events.h"

#include "lwip/tcp.h"
#include "negotiate.h"
#include "ring_path.h"
#include "socket.h"
#include "stack.h"
#include "tcp_path.h"

static struct xw_sock **table;
static int table_cap;
static unsigned long changes; /* every xw_sock_changed: lets a sleeper see its own flush's effects */

struct xw_sock *xw_sock_lookup(int fd)
{
    if (fd < 0 || fd >= table_cap)
        return NULL;
    return table[fd];
}

static int table_put(int fd, struct xw_sock *s)
{
    if (fd >= table_cap) {
        int cap = table_cap ? table_cap : 256;
        struct xw_sock **t;
        while (cap <= fd)
            cap *= 2;
        t = realloc(table, (size_t)cap * sizeof(*t));
        if (!t)
            return -ENOMEM;
        memset(t + table_cap, 0, (size_t)(cap - table_cap) * sizeof(*t));
        table = t;
        table_cap = cap;
    }
    table[fd] = s;
    return 0;
}

int xw_sock_new(int domain, bool nonblock, bool cloexec, struct xw_sock **out)
{
    struct xw_sock *s = calloc(1, sizeof(*s));
    pthread_condattr_t ca;
    int rc;

    if (!s)
        return -ENOMEM;
    rc = xw_ready_open(&s->ready, cloexec);
    if (rc < 0)
        goto out_free;
    rc = table_put(s->ready.a, s);
    if (rc < 0)
        goto out_ready;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    s->fd = s->ready.a;
    s->domain = domain;
    s->nonblock = nonblock;
    s->refs = 1;
    s->rcvbuf = TCP_WND;
    s->sndbuf = TCP_SND_BUF;
    s->keepidle = 7200;
    s->keepintvl = 75;
    s->keepcnt = 9;
    *out = s;
    return 0;

out_ready:
    xw_ready_close(&s->ready);
out_free:
    free(s);
    return rc;
}

void xw_sock_put(struct xw_sock *s)
{
    if (--s->refs > 0)
        return;
    xw_rpath_release(s);
    xw_tcp_rx_flush(s);
    xw_ready_close(&s->ready);
    pthread_cond_destroy(&s->cond);
    free(s->acceptq);
    free(s);
}

/* Remove from the table and drop the table's reference; sleepers wake with EBADF. */
void xw_sock_free(struct xw_sock *s)
{
    if (s->fd >= 0 && s->fd < table_cap && table[s->fd] == s)
        table[s->fd] = NULL;
    s->closing = true;
    xw_neg_forget(s);
    if (s->path == XW_PATH_RING) {
        atomic_fetch_add(&s->ring_seq, 1);
        xw_futex_wake(&s->ring_seq);
    }
    pthread_cond_broadcast(&s->cond);
    xw_sock_put(s);
}

void xw_sock_close_all(void)
{
    for (int fd = 0; fd < table_cap; fd++) {
        struct xw_sock *s = table[fd];
        if (!s)
            continue;
        xw_tcp_release(s, false);
        xw_sock_free(s);
    }
}

void xw_sock_close_children(struct xw_sock *l)
{
    for (int fd = 0; fd < table_cap; fd++) {
        struct xw_sock *s = table[fd];
        if (!s || s->listener != l)
            continue;
        s->listener = NULL;
        xw_tcp_release(s, true);
        xw_sock_free(s);
    }
}

bool xw_sock_readable(const struct xw_sock *s)
{
    if (s->state == XW_SS_LISTEN)
        return s->aq_len > 0;
    if (s->state == XW_SS_CONNECTING || xw_hs_reading(&s->hs))
        return s->err != 0;
    return s->rx_len > 0 || s->rd_eof || s->shut_rd || s->err || s->state == XW_SS_DEAD;
}

bool xw_sock_writable(const struct xw_sock *s)
{
    if (s->err || s->state == XW_SS_DEAD || s->shut_wr)
        return s->was_connected || s->err;
    if (s->state != XW_SS_CONNECTED)
        return false;
    return xw_tcp_space(s) >= TCP_SND_BUF / 4;
}

void xw_sock_changed(struct xw_sock *s)
{
    changes++;
    if (s->path == XW_PATH_RING) {
        xw_rpath_refresh(s);
        pthread_cond_broadcast(&s->cond);
        return;
    }
    xw_ready_set(&s->ready, xw_sock_readable(s), xw_sock_writable(s));
    pthread_cond_broadcast(&s->cond);
}

int xw_sock_wait(struct xw_sock *s, const struct timespec *deadline)
{
    int rc = 0;
    unsigned long seen = changes;

    s->refs++;
    /* What this thread queued goes out first; if that already changed some
     * socket's state (loopback delivers at once), let the caller re-check. */
    xw_stack_flush();
    if (changes != seen)
        rc = 0;
    else if (deadline)
        rc = pthread_cond_timedwait(&s->cond, &xw_stack_mutex, deadline);
    else
        pthread_cond_wait(&s->cond, &xw_stack_mutex);
    if (s->closing)
        rc = EBADF;
    xw_sock_put(s);
    return -rc;
}

const struct timespec *xw_deadline(const struct timeval *tv, struct timespec *buf)
{
    if (!tv->tv_sec && !tv->tv_usec)
        return NULL;
    clock_gettime(CLOCK_MONOTONIC, buf);
    buf->tv_sec += tv->tv_sec;
    buf->tv_nsec += tv->tv_usec * 1000L;
    if (buf->tv_nsec >= 1000000000L) {
        buf->tv_sec++;
        buf->tv_nsec -= 1000000000L;
    }
    return buf;
}

void xw_sock_forget_all(void)
{
    table = NULL; /* the parent's sockets; their memory is simply not used */
    table_cap = 0;
}

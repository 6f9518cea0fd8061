/* User-space waiters and the watchers of a socket (see waiter.h). */
#include "waiter.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "barrier.h"
#include "socket.h"

struct xw_waiter *xw_waiter_new(void)
{
    struct xw_waiter *w = calloc(1, sizeof(*w));

    if (!w)
        return NULL;
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->efd < 0) {
        free(w);
        return NULL;
    }
    atomic_store(&w->refs, 1);
    return w;
}

void xw_waiter_get(struct xw_waiter *w)
{
    atomic_fetch_add(&w->refs, 1);
}

void xw_waiter_put(struct xw_waiter *w)
{
    if (w && atomic_fetch_sub(&w->refs, 1) == 1) {
        close(w->efd);
        free(w);
    }
}

void xw_waiter_arm(struct xw_waiter *w)
{
    atomic_store(&w->armed, 1); /* (seq_cst: before the channels' flags) */
}

bool xw_waiter_disarm(struct xw_waiter *w)
{
    return atomic_exchange(&w->armed, 0) != 0;
}

void xw_waiter_kick(struct xw_waiter *w)
{
    atomic_fetch_add(&w->signals, 1);
    (void)!eventfd_write(w->efd, 1);
}

void xw_waiter_signal(struct xw_waiter *w)
{
    if (atomic_load_explicit(&w->armed, memory_order_relaxed) && atomic_exchange(&w->armed, 0))
        xw_waiter_kick(w);
}

void xw_waiter_drain(struct xw_waiter *w)
{
    eventfd_t v;

    (void)eventfd_read(w->efd, &v);
}

static void watch_lock(struct xw_sock *s)
{
    while (atomic_flag_test_and_set_explicit(&s->watch_lock, memory_order_acquire))
        xw_cpu_relax();
}

static void watch_unlock(struct xw_sock *s)
{
    atomic_flag_clear_explicit(&s->watch_lock, memory_order_release);
}

int xw_watch(int fd, uint64_t id, struct xw_waiter *w, bool on)
{
    struct xw_sock *s = xw_sock_get_fast(fd);
    int rc = 0, i;

    if (!s)
        return -ENOTSOCK;
    if (id && s->id != id) { /* (another socket on the number now) */
        xw_sock_put_fast(s);
        return -ENOTSOCK;
    }
    if (on && !xw_path_of(s)->look) {
        xw_sock_put_fast(s);
        return -ENOTSOCK;
    }
    watch_lock(s);
    for (i = 0; !on && i < s->nwatch && s->watch[i] != w; i++)
        ;
    if (!on && i < s->nwatch) {
        s->watch[i] = s->watch[--s->nwatch];
        xw_waiter_put(w);
    } else if (on) { /* (once per watch: a set may watch a socket by two numbers) */
        if (s->nwatch == s->capwatch) {
            int cap = s->capwatch ? 2 * s->capwatch : 2;
            struct xw_waiter **nw = realloc(s->watch, (size_t)cap * sizeof(*nw));
            if (!nw)
                rc = -ENOMEM;
            else {
                s->watch = nw;
                s->capwatch = cap;
            }
        }
        if (!rc) {
            xw_waiter_get(w);
            s->watch[s->nwatch++] = w;
        }
    }
    watch_unlock(s);
    xw_sock_put_fast(s);
    return rc;
}

void xw_watchers_signal(struct xw_sock *s)
{
    if (!atomic_load_explicit(&s->nwatch, memory_order_relaxed))
        return;
    watch_lock(s);
    for (int i = 0; i < s->nwatch; i++)
        xw_waiter_signal(s->watch[i]);
    watch_unlock(s);
}

void xw_watchers_drop(struct xw_sock *s)
{
    watch_lock(s);
    for (int i = 0; i < s->nwatch; i++)
        xw_waiter_put(s->watch[i]);
    free(s->watch);
    s->watch = NULL;
    s->nwatch = s->capwatch = 0;
    watch_unlock(s);
}

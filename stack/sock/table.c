/* The socket table (fd -> socket), socket lifetime, readiness and sleeping.
 * Stack lock held for everything here (socket.h). */
#include <errno.h>
#include <stddef.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "futex.h"
#include "lwip/tcp.h"
#include "satellite.h"
#include "sock_linux.h"
#include "socket.h"
#include "stack.h"
#include "tcp_path.h"
#include "waiter.h"
#include "xway_port.h"

/* fd -> socket.  Fixed capacity (the fd limit, allocated once and touched
 * lazily), so that the ring path can read it without the stack lock; entries
 * are written under the lock. */
static _Atomic(struct xw_sock *) *table;
static _Atomic(struct xw_sock *) *volatile parents_table; /* forgotten in a forked child */
static int table_cap;
static unsigned long changes; /* every xw_sock_changed: lets a sleeper see its own flush's effects */

/* Sockets are type-stable: their memory is recycled through this list, never
 * returned to malloc, so a lock-free reader holding a stale pointer touches a
 * socket (maybe another one), never freed memory. */
static struct xw_sock *free_list;

/* The table entry of a number handed to the kernel (handoff.c). */
static struct xw_sock handed_mark;

struct xw_sock *xw_sock_lookup(int fd)
{
    struct xw_sock *s;

    if (fd < 0 || fd >= table_cap)
        return NULL;
    s = atomic_load_explicit(&table[fd], memory_order_relaxed);
    return s == &handed_mark ? NULL : s;
}

void xw_sock_mark_handed(struct xw_sock *s)
{
    if (xw_sock_lookup(s->fd) == s)
        atomic_store(&table[s->fd], &handed_mark);
}

bool xw_sock_is_handed(int fd)
{
    return fd >= 0 && fd < table_cap && atomic_load(&table[fd]) == &handed_mark;
}

void xw_sock_unmark(int fd)
{
    if (xw_sock_is_handed(fd))
        atomic_store(&table[fd], NULL);
}

void xw_sock_foreach(void (*fn)(struct xw_sock *s))
{
    for (int fd = 0; fd < table_cap; fd++) {
        struct xw_sock *s = xw_sock_lookup(fd);
        if (s)
            fn(s);
    }
}

static int table_init(void)
{
    struct rlimit rl;
    rlim_t cap = 1u << 20;

    if (table)
        return 0;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max < cap)
        cap = rl.rlim_max;
    table = calloc((size_t)cap, sizeof(*table));
    if (!table)
        return -ENOMEM;
    table_cap = (int)cap;
    return 0;
}

static int table_put(int fd, struct xw_sock *s)
{
    int rc = table_init();

    if (rc < 0)
        return rc;
    if (fd >= table_cap)
        return -EMFILE;
    atomic_store(&table[fd], s);
    return 0;
}

struct xw_sock *xw_sock_get_fast(int fd)
{
    struct xw_sock *s = fd >= 0 && fd < table_cap ? atomic_load(&table[fd]) : NULL;

    if (!s || s == &handed_mark)
        return NULL;
    atomic_fetch_add(&s->users, 1);
    if (atomic_load(&table[fd]) != s || s->closing) {
        xw_sock_put_fast(s);
        return NULL;
    }
    return s;
}

static void reclaim(struct xw_sock *s);

void xw_sock_put_fast(struct xw_sock *s)
{
    if (atomic_fetch_sub(&s->users, 1) == 1 && atomic_load(&s->zombie)) {
        xw_stack_lock();
        if (atomic_load(&s->zombie) && atomic_load(&s->users) == 0) {
            atomic_store(&s->zombie, false);
            reclaim(s);
        }
        xw_stack_unlock();
    }
}

static struct xw_sock *sock_alloc(void)
{
    struct xw_sock *s = free_list;

    if (!s)
        return calloc(1, sizeof(struct xw_sock_linux));
    free_list = s->next_free;
    /* users may be raised for an instant by a reader with a stale pointer:
     * everything else starts from zero. */
    memset((char *)s + offsetof(struct xw_sock, fd), 0,
           sizeof(struct xw_sock_linux) - offsetof(struct xw_sock, fd));
    return s;
}

static uint64_t last_id; /* (lock held) */

int xw_sock_new(int domain, bool nonblock, bool cloexec, bool connected, struct xw_sock **out)
{
    struct xw_sock *s = sock_alloc();
    int rc;

    if (!s)
        return -ENOMEM;
    rc = xw_ready_open(&xw_lx(s)->ready, cloexec, connected);
    if (rc < 0)
        goto out_free;
    xw_lx(s)->sleepers = 0;
    xw_lx(s)->a_ino = 0;
    xw_sock_init(s, xw_lx(s)->ready.a, ++last_id, domain, nonblock);
    rc = table_put(s->fd, s);
    if (rc < 0)
        goto out_ready;
    *out = s;
    return 0;

out_ready:
    xw_ready_close(&xw_lx(s)->ready);
out_free:
    s->next_free = free_list;
    free_list = s;
    return rc;
}

/* Last reference and no lock-free user: release everything, recycle. */
static void reclaim(struct xw_sock *s)
{
    xw_path_release(s);
    xw_watchers_drop(s);
    if (s->sat)
        xw_sat_release(s);
    xw_ready_close(&xw_lx(s)->ready);
    xway_port_free(s->acceptq);
    s->acceptq = NULL;
    s->next_free = free_list;
    free_list = s;
}

void xw_sock_put(struct xw_sock *s)
{
    if (--s->refs > 0)
        return;
    /* A ring-path caller still inside the channel: the last one reclaims. */
    atomic_store(&s->zombie, true);
    if (atomic_load(&s->users) == 0 && atomic_exchange(&s->zombie, false))
        reclaim(s);
}

static void (*release_hook)(int fd);

void xw_sock_on_release(void (*fn)(int fd))
{
    release_hook = fn;
}

/* The public number goes now, as close(2) frees a number at once even while
 * another thread's call is still inside: whatever reuses it is never touched
 * by this socket again (its readiness stops; sleepers leave with EBADF). */
static void release_number(struct xw_sock *s)
{
    pthread_mutex_lock(&xw_lx(s)->ready.lock);
    if (xw_lx(s)->ready.a >= 0) {
        xw_lx(s)->ready.off = true;
        if (release_hook)
            release_hook(xw_lx(s)->ready.a);
        close(xw_lx(s)->ready.a);
        xw_lx(s)->ready.a = -1;
    }
    pthread_mutex_unlock(&xw_lx(s)->ready.lock);
}

int xw_sock_move(struct xw_sock *s, int nfd)
{
    if (nfd < 0 || nfd >= table_cap || xw_lx(s)->ready.a != s->fd)
        return nfd < 0 ? -EBADF : -EINVAL;
    if (atomic_load(&table[nfd]))
        return -EBUSY;
    pthread_mutex_lock(&xw_lx(s)->ready.lock);
    xw_lx(s)->ready.a = nfd;
    pthread_mutex_unlock(&xw_lx(s)->ready.lock);
    atomic_store(&table[nfd], s);
    atomic_store(&table[s->fd], NULL);
    s->fd = nfd;
    return 0;
}

/* Remove from the table and drop the table's reference; sleepers wake with EBADF. */
void xw_sock_free(struct xw_sock *s)
{
    if (xw_sock_lookup(s->fd) == s)
        atomic_store(&table[s->fd], NULL);
    s->closing = true;
    release_number(s);
    xw_tcp_forget(s);
    xw_path_of(s)->wake(s);
    xw_sock_wake(s);
    xw_sock_put(s);
}

void xw_sock_wake(struct xw_sock *s)
{
    struct xw_sock_linux *lx = xw_lx(s);
    bool polled = xw_stack_polls(&lx->wseq);

    atomic_fetch_add_explicit(&lx->wseq, 1, memory_order_release);
    if (lx->sleepers > (polled ? 1u : 0u))
        xw_stack_wake_later(&lx->wseq);
    if (polled)
        xw_stack_kick_poller(); /* (not itself: it sees the word after its input) */
}

void xw_sock_changed(struct xw_sock *s)
{
    changes++;
    xw_path_of(s)->changed(s);
    xw_sock_wake(s);
}

int xw_sock_sleep(struct xw_sock *s, uint64_t deadline_us)
{
    unsigned seen = atomic_load_explicit(&xw_lx(s)->wseq, memory_order_acquire);
    int rc;

    xw_lx(s)->sleepers++;
    rc = xw_stack_poll_link(&xw_lx(s)->wseq, seen, deadline_us);
    if (rc < 0) {
        xw_stack_unlock();
        rc = -xw_futex_wait_until(&xw_lx(s)->wseq, seen, deadline_us);
        xw_stack_lock();
    }
    xw_lx(s)->sleepers--;
    return rc;
}

void xw_sock_ready_begin(struct xw_sock *s) { pthread_mutex_lock(&xw_lx(s)->ready.lock); }
void xw_sock_ready_end(struct xw_sock *s) { pthread_mutex_unlock(&xw_lx(s)->ready.lock); }

void xw_sock_ready_set(struct xw_sock *s, bool rd, bool wr)
{
    xw_ready_set_locked(&xw_lx(s)->ready, rd, wr);
}

void xw_sock_ready_pulse(struct xw_sock *s)
{
    xw_ready_pulse_locked(&xw_lx(s)->ready);
}

void xw_sock_ready_ends(struct xw_sock *s, bool rdhup, bool hup, bool err)
{
    xw_ready_ends_locked(&xw_lx(s)->ready, rdhup, hup, err);
}

void xw_sock_ready_shown(struct xw_sock *s, bool *rd, bool *wr)
{
    *rd = xw_lx(s)->ready.rd;
    *wr = xw_lx(s)->ready.wr;
}

int xw_sock_wait(struct xw_sock *s, uint64_t deadline_us)
{
    int rc = 0;
    unsigned long seen = changes;

    s->refs++;
    /* What this thread queued goes out first; if that already changed some
     * socket's state (loopback delivers at once), let the caller re-check. */
    xw_stack_flush();
    if (changes != seen)
        rc = 0;
    else if (atomic_load(&s->halt))
        rc = ETIMEDOUT;
    else
        rc = xw_sock_sleep(s, deadline_us);
    if (s->closing)
        rc = EBADF;
    xw_sock_put(s);
    return -rc;
}

uint64_t xw_deadline(uint64_t timeo_us)
{
    /* (xw_sock_sleep's clock: CLOCK_MONOTONIC, as xway_port_now_us) */
    return timeo_us ? xway_port_now_us() + timeo_us : 0;
}

void xw_sock_forget_all(void)
{
    /* The stack's ends of the readiness pairs are the parent's: in the child
     * they would keep a pair alive after its owner died (the holders of the
     * application's end would never see it hang up). */
    for (int fd = 0; fd < table_cap; fd++) {
        struct xw_sock *s = xw_sock_lookup(fd);
        if (s && xw_lx(s)->ready.b >= 0)
            close(xw_lx(s)->ready.b);
        if (s && s->sat && s->sat->life >= 0) /* only its own process lets go */
            close(s->sat->life);
    }
    /* The parent's sockets: their memory is simply not used (kept reachable,
     * so that a leak checker in the child does not call it lost). */
    if (table)
        parents_table = table;
    table = NULL;
    table_cap = 0;
}

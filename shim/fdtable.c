/* Which fds the shim owns.  xway sockets are kernel fds (the stack's readiness
 * socketpair ends), so the table only says how to route a number: a two-level
 * array indexed by fd, read lock-free on every call, changed under xs_lock. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

#define CHUNK_BITS 10
#define CHUNK (1 << CHUNK_BITS)
#define NCHUNKS 4096 /* fds up to 4 Mi */

static _Atomic(struct xs_fd *) chunks[NCHUNKS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void xs_lock(void)
{
    pthread_mutex_lock(&lock);
}

void xs_unlock(void)
{
    pthread_mutex_unlock(&lock);
}

static void init_entry(struct xs_fd *e)
{
    atomic_init(&e->twin, -1);
    atomic_init(&e->handoff, -1);
    atomic_init(&e->handoff_flags, 0);
    atomic_init(&e->key, -1);
}

struct xs_fd *xs_fd_peek(int fd)
{
    struct xs_fd *c;

    if (fd < 0 || (fd >> CHUNK_BITS) >= NCHUNKS)
        return NULL;
    c = atomic_load_explicit(&chunks[fd >> CHUNK_BITS], memory_order_acquire);
    return c ? &c[fd & (CHUNK - 1)] : NULL;
}

struct xs_fd *xs_fd_get(int fd)
{
    struct xs_fd *c, *expect = NULL;

    if (fd < 0 || (fd >> CHUNK_BITS) >= NCHUNKS)
        return NULL;
    c = atomic_load_explicit(&chunks[fd >> CHUNK_BITS], memory_order_acquire);
    if (c)
        return &c[fd & (CHUNK - 1)];
    c = calloc(CHUNK, sizeof(*c));
    if (!c)
        return NULL;
    for (int i = 0; i < CHUNK; i++)
        init_entry(&c[i]);
    if (!atomic_compare_exchange_strong(&chunks[fd >> CHUNK_BITS], &expect, c)) {
        free(c);
        c = expect;
    }
    return &c[fd & (CHUNK - 1)];
}

void xs_fd_clear(struct xs_fd *e)
{
    int pend = atomic_exchange(&e->pend, 0);

    if (pend > 0)
        xs_real.close(pend - 1);
    atomic_fetch_add(&e->gen, 1);
    atomic_store(&e->kind, XS_NONE);
    atomic_store(&e->key, -1);
    atomic_store(&e->refs, 0);
    atomic_store(&e->twin, -1);
    atomic_store(&e->nonblock, false);
    atomic_store(&e->dual, false);
    atomic_store(&e->used, false);
    atomic_store(&e->listening, false);
    e->domain = 0;
    e->bound = false;
    e->addrlen = 0;
    e->peerlen = 0;
    e->handed = false;
    e->child_ino = 0;
    e->nopts = 0;
    atomic_store(&e->claim, false);
}

void xs_fd_set_sock(int fd, int domain, bool nonblock, bool used)
{
    struct xs_fd *e = xs_fd_get(fd);

    if (!e)
        return;
    xs_lock();
    xs_fd_clear(e);
    e->domain = domain;
    atomic_store(&e->refs, 1);
    atomic_store(&e->nonblock, nonblock);
    atomic_store(&e->used, used);
    atomic_store_explicit(&e->kind, XS_SOCK, memory_order_release);
    xs_unlock();
}

int xs_fd_next(unsigned from, unsigned last)
{
    for (unsigned fd = from; fd <= last && (fd >> CHUNK_BITS) < NCHUNKS;) {
        struct xs_fd *c = atomic_load(&chunks[fd >> CHUNK_BITS]);
        if (!c) {
            fd = (fd | (CHUNK - 1)) + 1;
            if (!fd) /* (wrapped) */
                break;
            continue;
        }
        struct xs_fd *e = &c[fd & (CHUNK - 1)];
        if (atomic_load(&e->kind) != XS_NONE || atomic_load(&e->ep))
            return (int)fd;
        if (fd == last)
            break;
        fd++;
    }
    return -1;
}

void xs_fd_foreach(void (*fn)(int fd, struct xs_fd *e))
{
    for (int i = 0; i < NCHUNKS; i++) {
        struct xs_fd *c = atomic_load(&chunks[i]);
        if (c)
            for (int j = 0; j < CHUNK; j++)
                fn(i * CHUNK + j, &c[j]);
    }
}

void xs_fd_rekey(int from, int to)
{
    for (int i = 0; i < NCHUNKS; i++) {
        struct xs_fd *c = atomic_load(&chunks[i]);
        for (int j = 0; c && j < CHUNK; j++) {
            int k = atomic_load(&c[j].kind);
            if ((k == XS_ALIAS || k == XS_TWIN) && atomic_load(&c[j].key) == from)
                atomic_store(&c[j].key, to);
        }
    }
}

/* The stack is about to close number fd (stack lock held: no xs_lock here).
 * Closes the shim asked for have cleared the entry already; one it did not
 * (xway_fini at exit) leaves an entry that says xway: from now on the number
 * is libc's, whatever reuses it. */
static void released(int fd)
{
    struct xs_fd *e = xs_fd_peek(fd);
    int k = XS_SOCK;

    if (!e)
        return;
    if (atomic_compare_exchange_strong(&e->kind, &k, XS_NONE) ||
        (k = XS_HIDDEN, atomic_compare_exchange_strong(&e->kind, &k, XS_NONE)))
        atomic_fetch_add(&e->gen, 1);
}

__attribute__((constructor)) static void fdtable_init(void)
{
    xw_sock_on_release(released);
}

/* Connections a forked child keeps (fork per connection): claimed from the
 * owner's pump and served in the child.
 *
 * At fork every connection is handed to its kernel fd and pumped by the
 * parent's stack (fork.c), since both processes hold its number.  A server
 * that forks per connection then closes its copy, and the child alone holds
 * it.  The child may then claim it (owner.h: CLAIM): the owner stops the pump
 * where it is, and the child maps the channel and serves the connection
 * itself, as a worker serves one it accepts (satellite.h), on the same
 * number.  Only the child of the fork that handed the connection off claims
 * it, and only while nobody else may hold its number: the entry's claim flag
 * is set in that child and cleared when it forks, spawns, execs, duplicates
 * the number or passes it in SCM_RIGHTS; the owner refuses while it holds a
 * copy itself, or when it forked more than once or duplicated the number
 * (handoff.h).  The claim is tried at a data call on the number, when no
 * other call on it is in libc (busy), and again later (less and less often)
 * while the owner says "not now": it still holds its copy (the child's first
 * call often comes before its parent's close: the first try waits up to 1 ms
 * for that), or the connection has no room for what the pump holds. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "handoff.h"
#include "shim.h"
#include "stack.h"
#include "xway.h"

#define FIRST_WAIT_US 200
#define FIRST_TRIES 5
#define MAX_WAIT_US 1000000

/* Number fd, a copy of connection sfd's, is that connection's (xs_lock held):
 * 0, or -1 (fd is unchanged). */
static int take_number(int fd, struct xs_fd *e, int sfd, bool nonblock)
{
    int domain = e->domain, n = 0, one = 1;
    struct xs_fd *se = xs_fd_get(sfd);

    if (!se || xs_epoll_swap(fd, sfd, true, &n) != fd)
        return -1;
    xs_fd_clear(e);
    e->domain = domain;
    atomic_store(&e->nonblock, nonblock);
    atomic_store(&e->used, true);
    if (XS_STACK_CALL(xw_sock_renumber(sfd, fd)) == 0) {
        atomic_store(&e->refs, 1);
        atomic_store(&e->kind, XS_SOCK);
        xs_real.close(sfd);
    } else {
        /* (cannot happen: fd is no socket of ours) sfd stays the socket's
         * number, hidden, and fd is a duplicate of it. */
        xs_fd_clear(se);
        se->domain = domain;
        atomic_store(&se->refs, 1);
        atomic_store(&se->nonblock, nonblock);
        atomic_store(&se->kind, XS_HIDDEN);
        atomic_store(&e->key, sfd);
        atomic_store(&e->kind, XS_ALIAS);
    }
    if (n) /* registered in an epoll set: its fd follows the ring exactly */
        XS_STACK_CALL(xway_setsockopt(fd, XWAY_SOL, XWAY_POLLED, &one, sizeof(one)));
    return 0;
}

/* Claim fd now if it is time (xs_lock held): true if it is ours now. */
static bool try_claim(int fd, struct xs_fd *e)
{
    uint64_t now = xw_mono_ns();
    int fl, fdfl, sfd, flags;
    bool nonblock;

    if (!atomic_load(&e->claim) || atomic_load(&e->kind) != XS_HANDED || now < e->claim_at)
        return false;
    atomic_store(&e->switching, true);
    if (atomic_load(&e->busy) > 0) { /* another thread's call is in libc on it */
        atomic_store(&e->switching, false);
        e->claim_at = now + FIRST_WAIT_US * 1000u;
        return false;
    }
    fl = xs_real.fcntl(fd, F_GETFL);
    fdfl = xs_real.fcntl(fd, F_GETFD);
    nonblock = fl >= 0 && (fl & O_NONBLOCK);
    flags = (nonblock ? SOCK_NONBLOCK : 0) | (fdfl >= 0 && (fdfl & FD_CLOEXEC) ? SOCK_CLOEXEC : 0);
    sfd = xs_shared_claim(fd, flags);
    /* The parent closes its copy just after the fork: the child's first call
     * often comes first.  Wait for that a little, the first time (the
     * parent's side of this race: fork.c, unclaim). */
    for (int t = 0; sfd == -EBUSY && !e->claim_wait_us && t < FIRST_TRIES; t++) {
        nanosleep(&(struct timespec){ 0, FIRST_WAIT_US * 1000 }, NULL);
        sfd = xs_shared_claim(fd, flags);
    }
    if (sfd == -EAGAIN || sfd == -EBUSY) {
        e->claim_wait_us = e->claim_wait_us ? e->claim_wait_us * 2 : FIRST_WAIT_US;
        if (e->claim_wait_us > MAX_WAIT_US)
            e->claim_wait_us = MAX_WAIT_US;
        e->claim_at = xw_mono_ns() + e->claim_wait_us * 1000ull;
    } else if (sfd < 0) {
        atomic_store(&e->claim, false);
        xs_debug("fd %d: stays pumped by the owner (claim: %s)", fd, strerror(-sfd));
    } else if (take_number(fd, e, sfd, nonblock) < 0) {
        /* The connection is sfd's now, and fd still the ended stream:
         * the application keeps what it can reach, sfd is lost to it. */
        xs_warn("fd %d: a claimed connection could not take its number (%s)", fd,
                strerror(errno));
        XS_STACK_CALL(xway_close(sfd));
        atomic_store(&e->claim, false);
        sfd = -1;
    } else {
        xs_info("fd %d: claimed from the owner's pump: served in this process (ring path)", fd);
    }
    atomic_store(&e->switching, false);
    return sfd >= 0;
}

int xs_claim_enter(int fd, struct xs_fd *e)
{
    for (;;) {
        int key;
        if (atomic_load_explicit(&e->claim, memory_order_relaxed) &&
            xw_mono_ns() >= e->claim_at) {
            xs_lock();
            try_claim(fd, e);
            xs_unlock();
        }
        atomic_fetch_add(&e->busy, 1);
        if (!atomic_load(&e->switching)) {
            key = xs_route(fd);
            if (key == XS_R_KERNEL)
                return key; /* busy until xs_claim_leave */
            atomic_fetch_sub(&e->busy, 1);
            return key;
        }
        atomic_fetch_sub(&e->busy, 1);
        xs_lock(); /* a claim in progress: wait for it */
        xs_unlock();
    }
}

void xs_handed_copied(int fd)
{
    struct xs_fd *e = xs_fd_peek(fd);

    if (!e || atomic_load(&e->kind) != XS_HANDED)
        return;
    atomic_store(&e->claim, false);
    if (!xs_in_child)
        XS_STACK_CALL((xw_handoff_release(fd, true), 0));
}

void xs_handed_gone(int fd)
{
    struct xs_fd *e = xs_fd_peek(fd);

    if (e && atomic_load(&e->kind) == XS_HANDED && !xs_in_child)
        XS_STACK_CALL((xw_handoff_release(fd, false), 0));
}

/* Fork and exec policy.
 *
 * fork: the stack belongs to the parent (stack/core/stack.c).  Just before fork,
 * every xway connection is handed to its kernel fd (xway_handoff in xway.h):
 * its number becomes an AF_UNIX stream carrying the connection's bytes, pumped
 * by the parent's stack, so the parent and the child both read, write, poll,
 * shutdown and close it through libc (getsockname/getpeername still give the
 * connection's addresses, TCP options are accepted).  The connection is closed
 * when the last process holding the number closes it; it ends if the parent
 * exits first.  In the child, an inherited xway listener stays the parent's
 * and is accepted on through the parent's stack (shared.c: pre-fork servers);
 * unconnected xway sockets are unusable (EBADF); the child's new sockets are
 * kernel sockets.
 * exec: close-on-exec is the kernel's; a connection handed off at fork
 * survives exec (e.g. a forked child exec'ing a program on its socket).  An
 * xway connection of a process that execs without forking dies with its
 * stack. */
#include <sys/socket.h>
#include <unistd.h>

#include "keeper.h"
#include "shim.h"
#include "xway.h"

_Atomic bool xs_in_child;

/* In the child: a listener stays a listener, of the parent's stack (shared.c),
 * with its kernel twin; the parent's other xway numbers are unusable (EBADF). */
static void orphan(int fd, struct xs_fd *e)
{
    int k = atomic_load(&e->kind);
    struct xs_fd *ke = k == XS_ALIAS ? xs_fd_peek(atomic_load(&e->key)) : e;

    if ((k == XS_SOCK || k == XS_ALIAS) && ke && atomic_load(&ke->listening)) {
        /* (a duplicate has no twin of its own: kernel clients come through
         * the listener's number's) */
        if (k == XS_ALIAS) {
            e->domain = ke->domain;
            e->addr = ke->addr;
            e->addrlen = ke->addrlen;
            atomic_store(&e->nonblock, atomic_load(&ke->nonblock));
            atomic_store(&e->twin, -1);
        }
        atomic_store(&e->refs, 0);
        atomic_store(&e->kind, XS_SHARED);
    } else if (k == XS_SOCK || k == XS_ALIAS || k == XS_HIDDEN) {
        atomic_store(&e->twin, -1); /* (only a listener has one) */
        atomic_store(&e->kind, XS_ORPHAN);
    }
}

/* Before fork: hand every connection to its kernel fd (xway_handoff), keeping
 * its names, so that parent and child both use it through libc. */
static void handoff_key(int fd, struct xs_fd *e)
{
    struct sockaddr_storage self, peer;
    socklen_t sl = sizeof(self), pl = sizeof(peer);
    int k = atomic_load(&e->kind);

    if ((k != XS_SOCK && k != XS_HIDDEN) ||
        XS_STACK_CALL(xway_getpeername(fd, (void *)&peer, &pl)) < 0 ||
        XS_STACK_CALL(xway_getsockname(fd, (void *)&self, &sl)) < 0 ||
        XS_STACK_CALL(xway_handoff(fd)) < 0)
        return;
    e->addr = self;
    e->addrlen = sl;
    e->peer = peer;
    e->peerlen = pl;
    e->handed = true;
    xs_debug("fd %d: handed to its kernel fd for fork", fd);
}

static void handoff_alias(int fd, struct xs_fd *e)
{
    struct xs_fd *ke;

    if (atomic_load(&e->kind) != XS_ALIAS || !(ke = xs_fd_peek(atomic_load(&e->key))) ||
        !ke->handed)
        return;
    atomic_store(&e->key, -1);
    e->domain = ke->domain;
    e->addr = ke->addr;
    e->addrlen = ke->addrlen;
    e->peer = ke->peer;
    e->peerlen = ke->peerlen;
    atomic_store(&e->kind, XS_HANDED);
}

static void handoff_done(int fd, struct xs_fd *e)
{
    if (!e->handed)
        return;
    e->handed = false;
    atomic_store(&e->refs, 0);
    if (atomic_load(&e->kind) == XS_HIDDEN) {
        /* The application had closed this number: only its aliases hold on. */
        XS_STACK_CALL(xway_close(fd));
        xs_fd_clear(e);
        return;
    }
    atomic_store(&e->kind, XS_HANDED);
}

pid_t fork(void)
{
    pid_t pid;

    xs_lock();
    if (!xs_in_child) {
        xs_fd_foreach(handoff_key);
        xs_fd_foreach(handoff_alias);
        xs_fd_foreach(handoff_done);
    }
    pid = xs_real.fork();
    if (pid > 0 && !xs_in_child) {
        xs_in_stack++;
        xw_keeper_note_child(pid); /* it may hold our listeners after we exit */
        xs_in_stack--;
    }
    if (pid == 0) {
        /* The stack's own atfork handler has already forgotten its sockets. */
        atomic_store(&xs_in_child, true);
        xs_shared_after_fork();
        xs_fd_foreach(orphan);
    }
    xs_unlock();
    return pid;
}

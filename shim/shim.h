/* libxwayshim: the interposed socket calls (LD_PRELOAD, started by xway-run),
 * and the declarations its files share.
 *
 * Every xway socket is a kernel fd (the stack's readiness socket), so numbers
 * never collide and poll/epoll/select/dup/close work on them as on any fd.  The
 * fd table (fdtable.c) says how to route each number; a number the shim does
 * not know goes straight to libc.  The files, one concept each:
 *   calls.def      the list of interposed calls (X-macro): it generates the
 *                  table of real functions and the exported prototypes (here),
 *                  the __wrap_* entry points (real.c), the version script and
 *                  the --wrap options (CMakeLists.txt)
 *   real.c         libc's functions, the stack's own libc calls, logging
 *   fdtable.c      the shim's view of file descriptors
 *   route.c        which sockets go to the xway stack (socket/bind/connect)
 *   dual_listen.c  listen/accept: xway listeners with a kernel twin
 *   data.c         read/write/send/recv ..., sendfile, splice, the _chk variants
 *   sockopt.c      options and names
 *   fdcalls.c      fcntl, ioctl, close, dup
 *   poll.c         poll/ppoll/select/pselect
 *   epoll.c        epoll_ctl/epoll_wait/epoll_pwait/epoll_pwait2
 *   fork.c         fork (and the exec policy)
 *   shared.c       listeners shared over fork: accept through their owner
 *   outgoing.c     connections a forked child makes through its owner
 *   claim.c        connections a forked child keeps: claimed from the pump
 *
 * The shim is linked with the stack's objects.  Every libc call those objects
 * make of a calls.def entry marked WRAP or WRAP_OWN is redirected at link time
 * (-Wl,--wrap=NAME) to __wrap_NAME in real.c, which calls libc directly: the
 * stack's own poll/read/write/close on its readiness fds never come back into
 * the shim.  The shim's own files call libc through xs_real, never by name: a
 * call by name to an interposed function defined in another of its files would
 * be wrapped too. */
#ifndef XS_SHIM_H
#define XS_SHIM_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The six long arguments of a syscall(3) call (what the x86-64 and AArch64
 * calling conventions pass; a call with fewer leaves the rest unused). */
static inline void xs_va_longs(va_list ap, long a[6])
{
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
}

/* The real (libc) functions, one member per calls.def entry resolved MUST or
 * OPTIONAL, named as the call. */
#define XS_REAL_MUST(ret, name, params) ret(*name) params;
#define XS_REAL_MUST_VA(ret, name, params) ret(*name) params;
#define XS_REAL_OPTIONAL(ret, name, params) ret(*name) params;
#define XS_REAL_NONE(ret, name, params)
#define XS_INTERPOSE(ret, name, params, args, real, stack) XS_REAL_##real(ret, name, params)
struct xs_real {
#include "calls.def"
};
#undef XS_INTERPOSE

/* The interposed calls themselves, exported (the version script, generated
 * from calls.def too, exports these names and nothing else). */
#define XS_INTERPOSE(ret, name, params, args, real, stack) \
    __attribute__((visibility("default"))) ret name params;
#include "calls.def"
#undef XS_INTERPOSE

/* Resolved once (thread-safe); every pointer is valid afterwards except an
 * OPTIONAL one that libc lacks (NULL); aborts with a message if libc lacks a
 * MUST one.  Before that (a library constructor that runs before the shim's,
 * say) every MUST pointer is a trampoline that resolves first (real.c), so the
 * shim's entry points work at any moment of the process's life; an OPTIONAL
 * one is NULL until then. */
extern struct xs_real xs_real;
void xs_real_init(void);

/* From the stack's objects (stack/path/ring_path.c): the shim's waits look at
 * ring sockets in user space (xway_poll, epoll.c) or are on an XWAY_POLLED
 * socket (see ring_path.h), so the stack may leave a ring socket's fd stale. */
void xw_rpath_lazy_ready(void);
/* The same objects (stack/path/ring_events.h): the stack's event fd, for a
 * sleep to wait on too, and taking its events on the caller's thread. */
int xw_rev_wait_fd(void);
void xw_rev_dispatch_now(void);
/* The same objects: lower the ring sockets' stale "ready" before epoll sleeps. */
int xw_poll_settle(struct pollfd *fds, nfds_t nfds);
/* The same objects (stack/sock/socket.h): the socket on number fd moves to
 * nfd, a dup of fd (0, or -1 with errno); fn learns of every number the stack
 * closes, just before it does. */
int xw_sock_renumber(int fd, int nfd);
void xw_sock_on_release(void (*fn)(int fd));

/* Recursion guard: nonzero while this thread is inside the stack on behalf of
 * the shim; interposed calls then go straight to libc. */
extern __thread int xs_in_stack __attribute__((tls_model("initial-exec")));

/* A call into the stack on behalf of the application, under the recursion guard. */
#define XS_STACK_CALL(expr)                  \
    ({                                       \
        xs_in_stack++;                       \
        __typeof__(expr) r_ = (expr);        \
        int e_ = errno;                      \
        xs_in_stack--;                       \
        errno = e_;                          \
        r_;                                  \
    })

/* A forked child (fork.c): new sockets are the kernel's. */
extern _Atomic bool xs_in_child;

/* ---- logging (XWAY_LOG) ----------------------------------------------------- */
extern int xs_log_level; /* 0 error .. 3 debug */
void xs_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define xs_warn(...) xs_log(1, __VA_ARGS__)
#define xs_info(...) xs_log(2, __VA_ARGS__)
#define xs_debug(...) xs_log(3, __VA_ARGS__)

/* ---- file descriptors the shim knows ------------------------------------------ */
enum xs_kind {
    XS_NONE = 0, /* a kernel fd: libc untouched */
    XS_SOCK,     /* an xway socket; the number is the stack's key */
    XS_ALIAS,    /* dup of an xway socket: forwards to key */
    XS_HIDDEN,   /* key closed by the app while aliases live, or moved off a
                    number that dup2 replaced (fdcalls.c): EBADF for the app */
    XS_ORPHAN,   /* inherited over fork: the stack is the parent's; EBADF */
    XS_TWIN,     /* the shim's kernel listener paired with xway listener key */
    XS_INTERNAL, /* a kernel fd of the shim's own (scratch socket) */
    XS_HANDED,   /* a connection handed to its kernel fd at fork (xway_handoff):
                    libc's, but getsockname/getpeername/TCP options are the
                    connection's */
    XS_SHARED,   /* inherited over fork: a listener of the owner's stack,
                    accepted on through the owner (shared.c); its twin kept */
};

#define XS_MAX_OPTS 12
struct xs_opt {
    int level, name;
    unsigned char val[16];
    socklen_t len;
};

struct xs_epset; /* xway fds registered in an epoll set (epoll.c) */

struct xs_fd {
    _Atomic int kind;
    _Atomic int key;      /* XS_ALIAS / XS_TWIN: the xway socket's number */
    _Atomic int refs;     /* XS_SOCK/XS_HIDDEN: numbers open on it (itself + aliases) */
    _Atomic int twin;     /* XS_SOCK listener: its kernel twin, -1 */
    _Atomic int handoff;  /* the stack's close of this number becomes dup3(handoff, n, */
    _Atomic int handoff_flags; /* handoff_flags), so the number is never free */
    _Atomic unsigned gen; /* bumped whenever the number stops being what it was */
    _Atomic bool nonblock; /* O_NONBLOCK as the application set it */
    _Atomic bool dual;    /* listener whose xway side is kept nonblocking internally */
    _Atomic bool used;    /* connect/listen attempted: no longer replaceable */
    _Atomic bool listening; /* XS_SOCK: listen() succeeded */
    _Atomic(struct xs_epset *) ep; /* on an epoll fd: its xway members */
    _Atomic int pend;     /* 1 + a connection to the owner of this number's own
                             (0: none): XS_HANDED, the answer to a connect in
                             progress, still unread (outgoing.c); XS_SHARED, the
                             life of a listener the owner made for us (shared.c) */
    unsigned long child_ino; /* a forked child's kernel socket bound to the stack's
                                address or the wildcard: its inode (shared.c) */
    /* XS_HANDED in the child of the fork that handed it off (claim.c): this
     * process may be its one holder, and claim it from the owner's pump. */
    _Atomic bool claim;
    _Atomic int busy;        /* calls on it in libc now (claim.c) */
    _Atomic bool switching;  /* a claim is moving the number (claim.c) */
    _Atomic uint64_t claim_at; /* not before this (CLOCK_MONOTONIC, ns) */
    uint32_t claim_wait_us;  /* (xs_lock) the wait after a "not now" */
    /* Slow-path state, under xs_lock. */
    int domain;
    bool bound;
    struct sockaddr_storage addr; /* bound address; XS_HANDED: local name */
    socklen_t addrlen;
    struct sockaddr_storage peer; /* XS_HANDED: peer name */
    socklen_t peerlen;
    bool handed; /* fork: handed off just now (before its aliases follow) */
    bool ring;   /* fork: ... and it was on the ring */
    int nopts;
    struct xs_opt opts[XS_MAX_OPTS];
};

/* The entry of fd, NULL when none was ever created (kind XS_NONE). */
struct xs_fd *xs_fd_peek(int fd);
/* The entry of fd, created on demand; NULL if fd is out of range. */
struct xs_fd *xs_fd_get(int fd);
/* Reset an entry to XS_NONE (slow path, xs_lock held). */
void xs_fd_clear(struct xs_fd *e);
/* Entries routed to xway socket from (aliases, twin) now route to to (xs_lock held). */
void xs_fd_rekey(int from, int to);
/* Make fd an xway socket of the stack's (slow path; takes xs_lock). */
void xs_fd_set_sock(int fd, int domain, bool nonblock, bool used);
/* Call fn on every existing entry (fork). */
void xs_fd_foreach(void (*fn)(int fd, struct xs_fd *e));
/* The first number in [from, last] the shim has an entry of (not a plain
 * kernel fd), or -1. */
int xs_fd_next(unsigned from, unsigned last);

/* The global lock of the shim's slow paths (socket, close, dup, listen ...). */
void xs_lock(void);
void xs_unlock(void);

/* Kind of fd without creating an entry. */
static inline int xs_kind_of(int fd)
{
    struct xs_fd *e = xs_fd_peek(fd);
    return e ? atomic_load_explicit(&e->kind, memory_order_acquire) : XS_NONE;
}

/* ---- routing a number (route.c) ---------------------------------------------- */

#define XS_R_KERNEL (-1)
#define XS_R_BAD (-2)

/* The xway socket behind number fd, XS_R_KERNEL, or XS_R_BAD (unusable: EBADF). */
static inline int xs_route(int fd)
{
    struct xs_fd *e;

    if (xs_in_stack)
        return XS_R_KERNEL;
    e = xs_fd_peek(fd);
    if (!e)
        return XS_R_KERNEL;
    switch (atomic_load_explicit(&e->kind, memory_order_acquire)) {
    case XS_SOCK:
        return fd;
    case XS_ALIAS:
        return atomic_load(&e->key);
    case XS_HIDDEN:
    case XS_ORPHAN:
        return XS_R_BAD;
    default:
        return XS_R_KERNEL;
    }
}

/* fd's generation: a loop that calls the stack more than once for one call
 * of the application stops (EBADF) when it changes, i.e. when another thread
 * closed or replaced the number meanwhile. */
static inline unsigned xs_gen(int fd)
{
    struct xs_fd *e = xs_fd_peek(fd);
    return e ? atomic_load(&e->gen) : 0;
}

/* The xway socket behind fd, whose generation has not changed since key was
 * its answer: key again, or the number its socket moved to (fdcalls.c); fd
 * closed by the application while duplicates live is still key, hidden. */
static inline int xs_follow(int fd, int key)
{
    int k = xs_route(fd);
    return k >= 0 ? k : key;
}

/* The entry of the xway socket key (xs_route's answer). */
static inline struct xs_fd *xs_key_entry(int key)
{
    return xs_fd_peek(key);
}

/* ---- claiming a connection kept over fork (claim.c) ----------------------------- */

/* fd's entry if a call on it may claim it (XS_HANDED, claim set), else NULL. */
static inline struct xs_fd *xs_claimable(int fd)
{
    struct xs_fd *e;

    if (xs_in_stack || !(e = xs_fd_peek(fd)) ||
        !atomic_load_explicit(&e->claim, memory_order_relaxed))
        return NULL;
    return e;
}
/* Before a call on claimable fd (entry e): claim it if it is time (then it
 * routes to the stack), else mark the call busy: fd's route (XS_R_KERNEL: the
 * caller calls libc, then xs_claim_leave). */
int xs_claim_enter(int fd, struct xs_fd *e);
static inline void xs_claim_leave(struct xs_fd *e)
{
    atomic_fetch_sub(&e->busy, 1);
}
/* Number fd of a handed-off connection is duplicated or passed on (another
 * holder: never claimable), or (gone) closed or replaced by this process. */
void xs_handed_copied(int fd);
void xs_handed_gone(int fd);

/* -1 with EBADF. */
static inline int xs_bad(void)
{
    errno = EBADF;
    return -1;
}

/* Forward a call: libc for kernel fds, the stack for xway sockets.  An xway
 * socket closed meanwhile (by another thread, or by the stack at exit) is
 * EBADF, never a retry with libc: the number may belong to another file by
 * then (the stack tells the table of closes it makes itself, fdtable.c). */
#define XS_FWD(fd, real_call, xway_call)                      \
    do {                                                      \
        int key = xs_route(fd);                               \
        struct xs_fd *ce_ = NULL;                             \
        if (key == XS_R_KERNEL && !(ce_ = xs_claimable(fd)))  \
            return real_call;                                 \
        if (key == XS_R_KERNEL &&                             \
            (key = xs_claim_enter(fd, ce_)) == XS_R_KERNEL) { \
            __typeof__(real_call) rr_ = real_call;            \
            xs_claim_leave(ce_);                              \
            return rr_;                                       \
        }                                                     \
        if (key == XS_R_BAD)                                  \
            return xs_bad();                                  \
        return XS_STACK_CALL(xway_call);                      \
    } while (0)

/* Normalise a sockaddr to (family, 16 bytes) and its port; v4-mapped IPv6
 * counts as IPv4.  The family, or -1. */
int xs_addr_of(const struct sockaddr *sa, socklen_t len, unsigned char out[16], int *port);
/* Is a (family fam, as xs_addr_of gives it) the wildcard address? */
bool xs_is_wild(int fam, const unsigned char *a);

/* ---- the other files' cross-file pieces ------------------------------------- */

/* dual_listen.c: close listener entry e's kernel twin, if any (xs_lock held). */
void xs_twin_drop(struct xs_fd *e);
/* epoll.c: free an epoll fd's set of xway members (NULL: nothing). */
void xs_epset_free(struct xs_epset *s);
/* shared.c: accept on a listener shared over fork (entry e of number fd). */
int xs_shared_accept(int fd, struct xs_fd *e, struct sockaddr *addr, socklen_t *len, int flags);
/* shared.c: number to, a kernel dup of shared listener from, is that listener
 * too (xs_lock held; nothing if from is not one). */
void xs_shared_copy_locked(int from, int to);
/* epoll.c: number fd becomes a dup of twin in every epoll set that has it
 * (xs_lock held): fd, or -1.  member: fd stays one of the sets' xway members
 * (*n: in how many sets), else it is a kernel fd now. */
int xs_epoll_swap(int fd, int twin, bool member, int *n);
/* epoll.c: before fork or exec (xs_lock held), every ring socket in an epoll
 * set goes back into the kernel's set (the connections are handed to their
 * fds). */
void xs_epoll_unring(void);
/* epoll.c: is fd an epoll set with members only the shim watches (its fd is
 * readable in the kernel only once primed)?  Prime it before a kernel wait
 * that includes it. */
bool xs_epoll_has_ring(int fd);
void xs_epoll_prime(int fd);
/* route.c: is fd a kernel TCP socket? */
bool xs_kernel_tcp(int fd);
/* outgoing.c: connect(fd) in a forked child to a destination the stack
 * reaches, through the owner: 0, -1 with errno (EINPROGRESS too), or 1: the
 * kernel's after all (no owner).  result: the answer of a connect in progress
 * on handed number fd (entry e): 0 connected, -errno (the connect's), or
 * -ETIMEDOUT (not yet; only when !wait). */
int xs_outgoing_connect(int fd, const struct sockaddr *to, socklen_t tolen);
int xs_outgoing_result(int fd, struct xs_fd *e, bool wait);

/* shared.c: listen() in a forked child on socket fd (entry e) that bind gave
 * an address of the stack's (child_ino): the owner's stack listens for it, the
 * kernel socket becomes the twin.  0 or -1 with errno. */
int xs_shared_listen(int fd, struct xs_fd *e, int backlog);

/* shared.c: CLAIM the connection handed off at a fork on number fd, which
 * this process alone holds, through its connection to the owner: the new
 * satellite socket's number (flags: SOCK_NONBLOCK, SOCK_CLOEXEC) or -errno
 * (-EAGAIN: not now). */
int xs_shared_claim(int fd, int flags);

/* shared.c: in a forked child, the parent's connection to the owner is not ours. */
void xs_shared_after_fork(void);

/* The kernel twin to watch with number fd (a dual listener's, or a shared
 * one's), or -1. */
static inline int xs_twin_of(int fd)
{
    struct xs_fd *e = xs_fd_peek(fd);
    int key;

    if (e && atomic_load(&e->kind) == XS_SHARED)
        return atomic_load(&e->twin);
    key = xs_route(fd);
    return key >= 0 ? atomic_load(&xs_key_entry(key)->twin) : -1;
}

#endif

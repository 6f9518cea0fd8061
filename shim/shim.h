/* libxwayshim internals: the table of real libc functions (real.c), the shim's
 * view of file descriptors (fdtable.c), and the logging used by preload.c.
 *
 * The shim is linked with the stack's objects.  Every libc call those objects
 * make is redirected at link time (-Wl,--wrap=NAME, see CMakeLists.txt) to
 * __wrap_NAME in real.c, which calls libc directly: the stack's own
 * poll/read/write/close on its readiness fds never come back into preload.c. */
#ifndef XS_SHIM_H
#define XS_SHIM_H

#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The real (libc) functions, one member per calls.def entry resolved MUST or
 * OPTIONAL, named as the call. */
#define XS_REAL_MUST(ret, name, params) ret(*name) params;
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
 * MUST one. */
extern struct xs_real xs_real;
void xs_real_init(void);

/* From the stack's objects (stack/sock/poll.c): busy-poll the ring sockets among fds
 * for up to XWAY_SPIN_US; true as soon as one is ready. */
bool xw_poll_spin(const struct pollfd *fds, nfds_t nfds);
/* The same objects: every raw-fd wait of the shim's goes through
 * xw_poll_settle/xway_poll or is on an XWAY_POLLED socket (see ring_path.h). */
void xw_rpath_lazy_ready(void);
/* The same objects: lower the ring sockets' stale "ready" before epoll sleeps. */
int xw_poll_settle(struct pollfd *fds, nfds_t nfds);

/* Recursion guard: nonzero while this thread is inside the stack on behalf of
 * the shim; interposed calls then go straight to libc. */
extern __thread int xs_in_stack __attribute__((tls_model("initial-exec")));

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
    XS_HIDDEN,   /* key closed by the app while aliases live: EBADF for the app */
    XS_ORPHAN,   /* inherited over fork: the stack is the parent's; EBADF */
    XS_TWIN,     /* the shim's kernel listener paired with xway listener key */
    XS_INTERNAL, /* a kernel fd of the shim's own (scratch socket) */
    XS_HANDED,   /* a connection handed to its kernel fd at fork (xway_handoff):
                    libc's, but getsockname/getpeername/TCP options are the
                    connection's */
};

#define XS_MAX_OPTS 12
struct xs_opt {
    int level, name;
    unsigned char val[16];
    socklen_t len;
};

struct xs_epset; /* xway fds registered in an epoll set (preload.c) */

struct xs_fd {
    _Atomic int kind;
    _Atomic int key;      /* XS_ALIAS / XS_TWIN: the xway socket's number */
    _Atomic int refs;     /* XS_SOCK/XS_HIDDEN: numbers open on it (itself + aliases) */
    _Atomic int twin;     /* XS_SOCK listener: its kernel twin, -1 */
    _Atomic int handoff;  /* the stack's close of this number becomes dup3(handoff, n) */
    _Atomic bool nonblock; /* O_NONBLOCK as the application set it */
    _Atomic bool dual;    /* listener whose xway side is kept nonblocking internally */
    _Atomic bool used;    /* connect/listen attempted: no longer replaceable */
    _Atomic(struct xs_epset *) ep; /* on an epoll fd: its xway members */
    /* Slow-path state, under xs_lock. */
    int domain;
    bool bound;
    struct sockaddr_storage addr; /* bound address; XS_HANDED: local name */
    socklen_t addrlen;
    struct sockaddr_storage peer; /* XS_HANDED: peer name */
    socklen_t peerlen;
    bool handed; /* fork: handed off just now (before its aliases follow) */
    int nopts;
    struct xs_opt opts[XS_MAX_OPTS];
};

/* The entry of fd, NULL when none was ever created (kind XS_NONE). */
struct xs_fd *xs_fd_peek(int fd);
/* The entry of fd, created on demand; NULL if fd is out of range. */
struct xs_fd *xs_fd_get(int fd);
/* Reset an entry to XS_NONE (slow path, xs_lock held). */
void xs_fd_clear(struct xs_fd *e);
/* Call fn on every existing entry (fork child). */
void xs_fd_foreach(void (*fn)(int fd, struct xs_fd *e));

/* The global lock of the shim's slow paths (socket, close, dup, listen ...). */
void xs_lock(void);
void xs_unlock(void);

/* Kind of fd without creating an entry. */
static inline int xs_kind_of(int fd)
{
    struct xs_fd *e = xs_fd_peek(fd);
    return e ? atomic_load_explicit(&e->kind, memory_order_acquire) : XS_NONE;
}

#endif

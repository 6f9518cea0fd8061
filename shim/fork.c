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
 * posix_spawn and vfork (made a fork: the shim must run its handlers) hand the
 * connections off as fork does.
 * exec: close-on-exec is the kernel's; a connection handed off at fork
 * survives exec (e.g. a forked child exec'ing a program on its socket).  A
 * process with a stack that execs without forking first hands its connections
 * off and its stack to a keeper (keeper.h), which goes on pumping them for the
 * new image (and serving its listeners to its children); a close-on-exec
 * connection is closed by the exec, gracefully.
 * Giving up root (setuid, setreuid, setresuid to a non-root effective user):
 * the hub and the sim host are the starting user's, out of the new user's
 * reach, so the stack starts (if it has not) and goes on in a keeper that
 * stays root (keeper.h: xw_keeper_detach); this process then uses it through
 * the process channel, as a forked child does. */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handoff.h"
#include "keeper.h"
#include "owner.h"
#include "satellite.h"
#include "stack.h"
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

/* Connection fd becomes a kernel fd (how: xway_handoff, or a satellite's
 * give-back), keeping its names; true if it did. */
static bool hand(int fd, struct xs_fd *e, int (*how)(int fd))
{
    struct sockaddr_storage self, peer;
    socklen_t sl = sizeof(self), pl = sizeof(peer), il = sizeof(struct xway_conn_info);
    struct xway_conn_info ci = { .path = "" };
    int k = atomic_load(&e->kind);

    if ((k != XS_SOCK && k != XS_HIDDEN) ||
        XS_STACK_CALL(xway_getpeername(fd, (void *)&peer, &pl)) < 0 ||
        XS_STACK_CALL(xway_getsockname(fd, (void *)&self, &sl)) < 0)
        return false;
    XS_STACK_CALL(xway_getsockopt(fd, XWAY_SOL, XWAY_INFO, &ci, &il));
    if (XS_STACK_CALL(how(fd)) < 0)
        return false;
    e->ring = !strcmp(ci.path, "ring");
    e->addr = self;
    e->addrlen = sl;
    e->peer = peer;
    e->peerlen = pl;
    e->handed = true;
    return true;
}

/* Before fork: hand every connection to its kernel fd (xway_handoff), so
 * that parent and child both use it through libc. */
static void handoff_key(int fd, struct xs_fd *e)
{
    if (hand(fd, e, xway_handoff))
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

static bool forking; /* (xs_lock) handoff_all is for a fork */

static void handoff_done(int fd, struct xs_fd *e)
{
    bool alone = atomic_load(&e->kind) == XS_SOCK && atomic_load(&e->refs) == 1;

    if (!e->handed)
        return;
    e->handed = false;
    atomic_store(&e->refs, 0);
    /* The child of this fork may claim a ring connection that has this one
     * number (claim.c); with duplicates, nobody may. */
    atomic_store(&e->claim, alone && e->ring && forking && !xs_in_child);
    atomic_store(&e->claim_at, 0);
    e->claim_wait_us = 0;
    if (!alone && !xs_in_child)
        XS_STACK_CALL((xw_handoff_release(fd, true), 0));
    if (atomic_load(&e->kind) == XS_HIDDEN) {
        /* The application had closed this number: only its aliases hold on. */
        XS_STACK_CALL(xway_close(fd));
        xs_fd_clear(e);
        return;
    }
    atomic_store(&e->kind, XS_HANDED);
}

/* A satellite (a forked child serving ring connections itself,
 * stack/sock/satellite.h) gives each back to its owner, who pumps it: the
 * number becomes the owner's stream, a new file, which its duplicates take
 * too. */
static void give_back_key(int fd, struct xs_fd *e)
{
    if (hand(fd, e, xw_sat_give_back))
        xs_info("fd %d: ring connection given back to the owner for fork or exec (pumped now)",
                fd);
}

static void give_back_alias(int fd, struct xs_fd *e)
{
    struct xs_fd *ke;
    int key = atomic_load(&e->key), fl = xs_real.fcntl(fd, F_GETFD);

    if (atomic_load(&e->kind) != XS_ALIAS || !(ke = xs_fd_peek(key)) || !ke->handed)
        return;
    if (xs_real.dup3(key, fd, fl > 0 && (fl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
        return;
    handoff_alias(fd, e);
}

/* A process that forks, spawns or execs: its children (or new image) hold
 * its handed-off numbers too (claim.c).  Only an entry that says claim is
 * written: in the parent just after a fork, the whole table (a thousand
 * entries of 700 bytes) is shared copy-on-write with the child, and a store
 * into every entry copied each page — 1 to 6 ms in a threaded process, all
 * before fork() returns and the parent can close its copy, while the child's
 * first claim waits only 1 ms for that close (claim.c): a child that served
 * its connection within a few calls stayed pumped. */
static void unclaim(int fd, struct xs_fd *e)
{
    (void)fd;
    if (atomic_load_explicit(&e->claim, memory_order_relaxed))
        atomic_store(&e->claim, false);
}

/* Every connection to its kernel fd (xs_lock held). */
static void handoff_all(void)
{
    xs_epoll_unring();
    xs_fd_foreach(unclaim);
    if (xs_in_child && XS_STACK_CALL(xw_stack_satellite())) {
        xs_fd_foreach(give_back_key);
        xs_fd_foreach(give_back_alias);
        xs_fd_foreach(handoff_done);
    }
    if (xs_in_child)
        return;
    xs_fd_foreach(handoff_key);
    xs_fd_foreach(handoff_alias);
    xs_fd_foreach(handoff_done);
}

static void note_child(pid_t pid)
{
    if (pid <= 0 || xs_in_child)
        return;
    xs_in_stack++;
    xw_keeper_note_child(pid); /* it may hold our listeners after we exit */
    xs_in_stack--;
}

/* This process's sockets become a forked child's (xs_lock held). */
static void become_child(void)
{
    atomic_store(&xs_in_child, true);
    xs_shared_after_fork();
    xs_fd_foreach(orphan);
}

pid_t fork(void)
{
    pid_t pid;

    xs_lock();
    forking = true;
    handoff_all();
    forking = false;
    pid = xs_real.fork();
    note_child(pid);
    if (pid == 0) /* (the stack's own atfork handler has forgotten its sockets) */
        become_child();
    else /* only the child may claim what was handed off just now */
        xs_fd_foreach(unclaim);
    xs_unlock();
    return pid;
}

/* ---- the owner across exec ------------------------------------------------------- */

/* A new image of a client of an owner (a forked child, a process that gave
 * root up), or a program spawned by a process with a stack, is that owner's
 * client too: its own stack could not take the address, which the owner
 * holds.  ev with XWAY_OWNER_FD=<a memfd naming the owner> (owner.h), in a
 * new array (*ref: the fd, to close if the exec fails), or NULL: ev as is. */
static char **owner_env(char *const ev[], int *ref)
{
    static const char key[] = "XWAY_OWNER_FD=";
    size_t n = 0, k = 0;
    char **out, *var;
    int fd;

    *ref = -1;
    if (xs_in_stack || (!xs_in_child && !XS_STACK_CALL(xw_stack_running())))
        return NULL;
    fd = XS_STACK_CALL(xw_owner_ref_fd());
    if (fd < 0)
        return NULL;
    while (ev && ev[n])
        n++;
    out = malloc((n + 2) * sizeof(*out));
    var = malloc(sizeof(key) + 12);
    if (!out || !var) {
        free(out);
        free(var);
        xs_real.close(fd);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (strncmp(ev[i], key, sizeof(key) - 1))
            out[k++] = ev[i];
    snprintf(var, sizeof(key) + 12, "%s%d", key, fd);
    out[k++] = var;
    out[k] = NULL;
    *ref = fd;
    return out;
}

static void owner_env_free(char **env, int ref)
{
    if (!env)
        return;
    for (size_t i = 0; env[i]; i++)
        if (!strncmp(env[i], "XWAY_OWNER_FD=", 14))
            free(env[i]);
    free(env);
    if (ref >= 0)
        xs_real.close(ref);
}

/* In a new image: the owner an exec passed on, if any. */
__attribute__((constructor)) static void adopt_owner(void)
{
    const char *v = getenv("XWAY_OWNER_FD");
    char *end;
    long fd;

    if (!v)
        return;
    fd = strtol(v, &end, 10);
    unsetenv("XWAY_OWNER_FD");
    if (*end || fd < 0 || fd > 1 << 20)
        return;
    xs_real_init();
    if (!XS_STACK_CALL(xw_owner_adopt_fd((int)fd)))
        return; /* not ours: left alone */
    atomic_store(&xs_in_child, true);
    xs_real.close((int)fd);
}

/* vfork: a child that shares our memory cannot run the shim's fork handlers
 * (nor return through this function), so it is a fork; a program cannot tell
 * but by the parent running before the child execs. */
pid_t vfork(void)
{
    return fork();
}

static int spawn(bool search, pid_t *pid, const char *file,
                 const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *at,
                 char *const av[], char *const ev[])
{
    pid_t child = -1;
    int rc, ref;
    char **env;

    xs_lock();
    handoff_all();
    if (!xs_in_child) /* (no fork handler runs: the program holds our numbers too) */
        XS_STACK_CALL((xw_handoff_note_spawn(), 0));
    env = owner_env(ev, &ref);
    rc = (search ? xs_real.posix_spawnp : xs_real.posix_spawn)(&child, file, fa, at, av,
                                                              env ? env : ev);
    owner_env_free(env, ref);
    if (rc == 0)
        note_child(child);
    xs_unlock();
    if (rc == 0 && pid)
        *pid = child;
    return rc;
}

int posix_spawn(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                const posix_spawnattr_t *at, char *const av[], char *const ev[])
{
    return spawn(false, pid, file, fa, at, av, ev);
}

int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                 const posix_spawnattr_t *at, char *const av[], char *const ev[])
{
    return spawn(true, pid, file, fa, at, av, ev);
}

/* ---- exec without fork ---------------------------------------------------------- */

static bool executable(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Will exec find a program to run?  (The stack is given up only then.) */
static bool runnable(const char *file, bool search)
{
    const char *path, *p;
    char buf[PATH_MAX];

    if (!file || !*file)
        return false;
    if (!search || strchr(file, '/'))
        return executable(file);
    path = getenv("PATH");
    for (p = path && *path ? path : "/bin:/usr/bin"; p; p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL) {
        size_t n = strcspn(p, ":");
        /* (an empty element is the current directory) */
        if (snprintf(buf, sizeof(buf), "%.*s/%s", n ? (int)n : 1, n ? p : ".", file) <
                (int)sizeof(buf) &&
            executable(buf))
            return true;
    }
    return false;
}

/* The image is about to be replaced: its connections become pumped numbers
 * and its stack goes on in a keeper while anything holds them. */
static bool exec_prepare(bool ok)
{
    bool kept;

    if (!ok || xs_in_stack)
        return false;
    if (xs_in_child) { /* a satellite's connections go back to the owner */
        xs_lock();
        handoff_all();
        xs_unlock();
        return false;
    }
    xs_lock();
    handoff_all();
    xs_in_stack++;
    kept = xw_keeper_handover(true);
    xs_in_stack--;
    xs_unlock();
    if (kept)
        xs_info("exec: this process's xway connections go on in a keeper");
    return kept;
}

static int exec_failed(bool kept)
{
    int e = errno;

    if (kept)
        xs_warn("exec failed (%s): this process's xway sockets are the keeper's now", strerror(e));
    errno = e;
    return -1;
}

int execve(const char *file, char *const av[], char *const ev[])
{
    bool kept = exec_prepare(runnable(file, false));
    int ref;
    char **env = owner_env(ev, &ref);

    xs_real.execve(file, av, env ? env : ev);
    owner_env_free(env, ref);
    return exec_failed(kept);
}

int execvpe(const char *file, char *const av[], char *const ev[])
{
    bool kept = exec_prepare(runnable(file, true));
    int ref;
    char **env = owner_env(ev, &ref);

    xs_real.execvpe(file, av, env ? env : ev);
    owner_env_free(env, ref);
    return exec_failed(kept);
}

int fexecve(int fd, char *const av[], char *const ev[])
{
    struct stat st;
    bool kept = exec_prepare(fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111));
    int ref;
    char **env = owner_env(ev, &ref);

    xs_real.fexecve(fd, av, env ? env : ev);
    owner_env_free(env, ref);
    return exec_failed(kept);
}

int execv(const char *file, char *const av[])
{
    return execve(file, av, environ);
}

int execvp(const char *file, char *const av[])
{
    return execvpe(file, av, environ);
}

/* execl*: the arguments (up to the NULL) into an array; NULL: ENOMEM. */
static char **argv_of(const char *first, va_list *ap)
{
    size_t n = 1, cap = 16;
    char **argv = malloc(cap * sizeof(*argv)), **more, *a;

    if (!argv)
        return NULL;
    argv[0] = (char *)first;
    do {
        a = va_arg(*ap, char *);
        if (n == cap) {
            if (!(more = realloc(argv, (cap *= 2) * sizeof(*argv)))) {
                free(argv);
                return NULL;
            }
            argv = more;
        }
        argv[n++] = a;
    } while (a);
    return argv;
}

enum { L_PLAIN, L_PATH, L_ENV };

static int execl_any(int how, const char *file, const char *first, va_list *ap)
{
    char **argv = argv_of(first, ap), *const *envp = environ;
    int e;

    if (!argv) {
        errno = ENOMEM;
        return -1;
    }
    if (how == L_ENV)
        envp = va_arg(*ap, char *const *);
    if (how == L_PATH)
        execvpe(file, argv, envp);
    else
        execve(file, argv, envp);
    e = errno;
    free(argv);
    errno = e;
    return -1;
}

int execl(const char *file, const char *arg, ...)
{
    va_list ap;
    int rc;

    va_start(ap, arg);
    rc = execl_any(L_PLAIN, file, arg, &ap);
    va_end(ap);
    return rc;
}

int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    int rc;

    va_start(ap, arg);
    rc = execl_any(L_PATH, file, arg, &ap);
    va_end(ap);
    return rc;
}

int execle(const char *file, const char *arg, ...)
{
    va_list ap;
    int rc;

    va_start(ap, arg);
    rc = execl_any(L_ENV, file, arg, &ap);
    va_end(ap);
    return rc;
}

/* ---- giving up root ----------------------------------------------------------- */

static void before_drop(uid_t euid)
{
    const char *link = getenv("XWAY_LINK");
    bool kept;

    if (xs_in_child || xs_in_stack || euid == 0 || euid == (uid_t)-1 || geteuid() != 0 ||
        !link || !*link)
        return;
    xs_lock();
    if (XS_STACK_CALL(xway_init(NULL)) < 0 && errno != EALREADY) {
        xs_unlock();
        return; /* no stack: its sockets are the kernel's anyway */
    }
    handoff_all();
    xs_in_stack++;
    kept = xw_keeper_detach();
    xs_in_stack--;
    if (kept)
        become_child();
    xs_unlock();
    if (kept)
        xs_info("giving up root: the stack goes on as root in a keeper; this process's "
                "sockets are served through it");
}

int setuid(uid_t u)
{
    before_drop(u);
    return xs_real.setuid(u);
}

int setreuid(uid_t r, uid_t e)
{
    before_drop(e);
    return xs_real.setreuid(r, e);
}

int setresuid(uid_t r, uid_t e, uid_t s)
{
    before_drop(e);
    return xs_real.setresuid(r, e, s);
}

/* The table of real libc functions, resolved with dlsym(RTLD_NEXT) once
 * (rdma-core librdmacm/preload.c style), the __wrap_* entry points that the
 * stack's own libc calls are linked to (see shim.h), and the shim's logging.
 * The table and the entry points are expanded from calls.def. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "shim.h"

__thread int xs_in_stack __attribute__((tls_model("initial-exec")));
int xs_log_level = 1;

static pthread_once_t real_once = PTHREAD_ONCE_INIT;
/* This thread is inside resolve() (a signal handler may interrupt it). */
static __thread bool resolving __attribute__((tls_model("initial-exec")));

static void *must(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        static const char msg[] = "libxwayshim: libc lacks a function the shim needs\n";
        (void)!syscall(1 /* SYS_write */, 2, msg, sizeof(msg) - 1);
        abort();
    }
    return p;
}

#define RESOLVE_MUST(name) xs_real.name = must(#name);
#define RESOLVE_MUST_VA(name) RESOLVE_MUST(name)
#define RESOLVE_OPTIONAL(name) xs_real.name = dlsym(RTLD_NEXT, #name);
#define RESOLVE_NONE(name)

static void resolve(void)
{
    const char *lv = getenv("XWAY_LOG");

    resolving = true;
#define XS_INTERPOSE(ret, name, params, args, real, stack) RESOLVE_##real(name)
#include "calls.def"
#undef XS_INTERPOSE

    if (lv) {
        if (!strcmp(lv, "error")) xs_log_level = 0;
        else if (!strcmp(lv, "warn")) xs_log_level = 1;
        else if (!strcmp(lv, "info")) xs_log_level = 2;
        else if (!strcmp(lv, "debug")) xs_log_level = 3;
    }
    resolving = false;
}

void xs_real_init(void)
{
    pthread_once(&real_once, resolve);
}

__attribute__((constructor)) static void real_ctor(void)
{
    xs_real_init();
}

/* ---- calls before the table is resolved ----------------------------------------
 * Until resolve() has run, each MUST member of xs_real points to a trampoline
 * lazy_NAME: it resolves the table (once, every thread waits for the first) and
 * calls the real function.  So an interposed call works from a library
 * constructor that runs before the shim's (libcap-ng's, for one), from a
 * destructor, and after exit began.  A signal handler that interrupts the
 * resolution on its own thread cannot wait for it: it looks its one function
 * up alone (dlsym takes the loader's recursive lock, so it does not deadlock). */
static void *lazy(const char *name, void *const *slot, void *self)
{
    void *f;

    if (!resolving) {
        xs_real_init();
        f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        if (f != self)
            return f;
    }
    return must(name);
}

#define LAZY_FN(name) ((__typeof__(xs_real.name))lazy(#name, (void *const *)&xs_real.name, \
                                                     (void *)lazy_##name))
#define LAZY_MUST(ret, name, params, args) \
    static ret lazy_##name params { return LAZY_FN(name) args; }
#define LAZY_MUST_VA(ret, name, params, args)
#define LAZY_OPTIONAL(ret, name, params, args)
#define LAZY_NONE(ret, name, params, args)
#define XS_INTERPOSE(ret, name, params, args, real, stack) LAZY_##real(ret, name, params, args)
#include "calls.def"
#undef XS_INTERPOSE

/* The variadic ones: their one optional argument, if any, fits a pointer. */
static int lazy_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    void *arg;

    va_start(ap, cmd);
    arg = va_arg(ap, void *);
    va_end(ap);
    return LAZY_FN(fcntl)(fd, cmd, arg);
}

static int lazy_ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    void *arg;

    va_start(ap, req);
    arg = va_arg(ap, void *);
    va_end(ap);
    return LAZY_FN(ioctl)(fd, req, arg);
}

static long lazy_syscall(long n, ...)
{
    va_list ap;
    long a[6];

    va_start(ap, n);
    xs_va_longs(ap, a);
    va_end(ap);
    return LAZY_FN(syscall)(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}

#define INIT_MUST(name) .name = lazy_##name,
#define INIT_MUST_VA(name) INIT_MUST(name)
#define INIT_OPTIONAL(name)
#define INIT_NONE(name)
#define XS_INTERPOSE(ret, name, params, args, real, stack) INIT_##real(name)
struct xs_real xs_real = {
#include "calls.def"
};
#undef XS_INTERPOSE

void xs_log(int level, const char *fmt, ...)
{
    char buf[512];
    int n;
    va_list ap;

    if (level > xs_log_level)
        return;
    n = snprintf(buf, sizeof(buf), "xway-shim[%d]: ", (int)getpid());
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    (void)!xs_real.write(2, buf, (size_t)n);
}

/* ---- the stack's libc calls ---------------------------------------------------
 * The stack is linked with --wrap for the calls.def entries marked WRAP or
 * WRAP_OWN, so its calls land here.  WRAP: straight to libc, generated below.
 * WRAP_OWN, by hand after it: fcntl and ioctl (variadic), and close: closing a
 * number that the shim is handing over to another file (an xway socket
 * replaced by a kernel one, route.c; dup2 onto an xway socket, fdcalls.c)
 * becomes dup3(that file, number): the number is never free in between. */

#define WRAP_DECL(ret, name, params) ret __wrap_##name params;
#define WRAP_WRAP(ret, name, params, args) \
    WRAP_DECL(ret, name, params)           \
    ret __wrap_##name params { return xs_real.name args; }
#define WRAP_WRAP_OWN(ret, name, params, args) WRAP_DECL(ret, name, params)
#define WRAP_NOWRAP(ret, name, params, args)
#define XS_INTERPOSE(ret, name, params, args, real, stack) WRAP_##stack(ret, name, params, args)
#include "calls.def"
#undef XS_INTERPOSE

int __wrap_close(int fd)
{
    struct xs_fd *e = xs_fd_peek(fd);
    int k = e ? atomic_exchange(&e->handoff, -1) : -1;

    if (k >= 0) {
        int rc = xs_real.dup3(k, fd, atomic_load(&e->handoff_flags));
        xs_real.close(k);
        return rc < 0 ? -1 : 0;
    }
    return xs_real.close(fd);
}

int __wrap_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    void *arg;

    va_start(ap, cmd);
    arg = va_arg(ap, void *);
    va_end(ap);
    return xs_real.fcntl(fd, cmd, arg);
}

int __wrap_ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    void *arg;

    va_start(ap, req);
    arg = va_arg(ap, void *);
    va_end(ap);
    return xs_real.ioctl(fd, req, arg);
}

long __wrap_syscall(long n, ...)
{
    va_list ap;
    long a[6];

    va_start(ap, n);
    xs_va_longs(ap, a);
    va_end(ap);
    return xs_real.syscall(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* The sim backend's domains: the sim host directory, claiming a domain id,
 * liveness, the host token, reclaiming dead domains, open/close and the ops
 * table (the backend's one entry point, xw_xenif_open_sim).
 *
 * A domain is alive exactly while some process holds the write lock on its
 * dom<ID>.lock; the id is released last on close, after everything the
 * domain offered has been withdrawn.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim.h"

int xw_sim_path(const struct xw_sim *s, char *buf, const char *fmt, ...)
{
    char name[64];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    if (snprintf(buf, PATH_MAX, "%s/%s", s->dir, name) >= PATH_MAX)
        return -ENAMETOOLONG;
    return 0;
}

int xw_sim_created(const struct xw_sim *s, int fd, const char *dir)
{
    mode_t m = dir ? s->mode | ((s->mode & 0444) >> 2) : s->mode;

    if (m == 0600 || m == 0700) /* (what open's and mkdir's modes gave, umask or not) */
        return 0;
    return (dir ? chmod(dir, m) : fchmod(fd, m)) < 0 ? -errno : 0;
}

/* Satellites (xenif.h: xw_xenif_set_opener). */
static int (*sim_opener)(const char *name, int flags);

void xw_xenif_set_opener(int (*fn)(const char *name, int flags))
{
    sim_opener = fn;
}

int xw_sim_open(struct xw_sim *s, int flags, const char *fmt, ...)
{
    char name[64], p[PATH_MAX];
    va_list ap;
    int fd, e;

    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    if (snprintf(p, sizeof(p), "%s/%s", s->dir, name) >= (int)sizeof(p)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = open(p, flags | O_CLOEXEC, 0600);
    if (fd >= 0 && (flags & O_CREAT) && xw_sim_created(s, fd, NULL) < 0) {
        e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (fd >= 0 || (flags & O_CREAT) || !sim_opener ||
        (errno != EACCES && errno != EPERM && errno != ENOENT))
        return fd;
    e = errno;
    fd = sim_opener(name, flags & O_ACCMODE);
    if (fd >= 0)
        return fd;
    errno = fd == -ENOENT ? ENOENT : e;
    return -1;
}

/* The owner's side: one of its sim host's files for a satellite, by name (a
 * domain's state or lock, a grant object), never created.  fd or -errno. */
int xw_xenif_open_file(struct xw_xenif *x, const char *name, int flags)
{
    unsigned a, b;
    char kind[8], tail;
    int fd;

    if (!x || x->kind != XW_XENIF_SIM)
        return -ENODEV;
    if ((flags != O_RDONLY && flags != O_RDWR) || strlen(name) > 40 ||
        !((sscanf(name, "dom%u.%7[a-z]%c", &a, kind, &tail) == 2 &&
           (!strcmp(kind, "gnt") || !strcmp(kind, "evt") || !strcmp(kind, "lock"))) ||
          sscanf(name, "g%u-%u%c", &a, &b, &tail) == 2))
        return -EINVAL;
    fd = xw_sim_open(xw_sim_of(x), flags | O_NOFOLLOW, "%s", name);
    return fd < 0 ? -errno : fd;
}

/* Create (or open) the fixed-size state file dom<id>.<kind> and map it.
 * fdp: where to keep the fd (for xw_sim_reserve later); NULL closes it. */
void *xw_sim_map_state(struct xw_sim *s, const char *kind, uint32_t id, size_t len,
                       bool create, bool writable, int *fdp)
{
    struct stat st;
    void *m = MAP_FAILED;
    int fd;

    fd = xw_sim_open(s, (writable ? O_RDWR : O_RDONLY) | (create ? O_CREAT : 0), "dom%u.%s", id,
                     kind);
    if (fd < 0)
        return NULL;
    if (create && ftruncate(fd, (off_t)len) < 0)
        goto out;
    if (fstat(fd, &st) < 0 || (size_t)st.st_size < len)
        goto out;
    m = mmap(NULL, len, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
out:
    if (fdp && m != MAP_FAILED)
        *fdp = fd;
    else
        close(fd);
    return m == MAP_FAILED ? NULL : m;
}

/* Allocate len bytes at off of a file we map, before anything touches them.
 * The sim host is usually a tmpfs: it allocates a page on its first touch
 * (read or write) and answers a touch it has no room for with SIGBUS, which
 * kills the process; an allocation up front fails with -ENOSPC instead. */
int xw_sim_reserve(int fd, off_t off, off_t len)
{
    int err = posix_fallocate(fd, off, len);

    return err == EOPNOTSUPP || err == EINVAL ? 0 : -err; /* no fallocate: sparse as before */
}

/* Another domain's state file, mapped once into *slot (a field of
 * s->peers[id]) and kept until close. */
void *xw_sim_peer_state(struct xw_sim *s, void **slot, const char *kind, uint32_t id,
                        size_t len, bool writable)
{
    void *m;

    xw_sim_lock(&s->mu);
    m = *slot;
    if (!m) {
        m = xw_sim_map_state(s, kind, id, len, false, writable, NULL);
        *slot = m;
    }
    xw_sim_unlock(&s->mu);
    return m;
}

/* Zero a dead domain's state file in place: it is never truncated, since
 * others may still have it mapped.  reserve: allocate it again at once, for a
 * file that others touch after the domain's death (its event page: a touch of
 * a hole allocates, see xw_sim_reserve). */
void xw_sim_zero_state(struct xw_sim *s, const char *kind, uint32_t id, size_t len,
                       bool reserve)
{
    char p[PATH_MAX];
    int fd;

    if (xw_sim_path(s, p, "dom%u.%s", id, kind))
        return;
    fd = open(p, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)len);
    if (reserve)
        xw_sim_reserve(fd, 0, (off_t)len);
    close(fd);
}

/* ---- ids and liveness ---- */

static int lock_op(int fd, int cmd, short type)
{
    struct flock fl = { .l_type = type, .l_whence = SEEK_SET };

    if (fcntl(fd, cmd, &fl) < 0)
        return -errno;
    return cmd == F_OFD_GETLK ? fl.l_type != F_UNLCK : 0;
}

static int open_lock(struct xw_sim *s, uint32_t id, int flags)
{
    int fd = xw_sim_open(s, O_RDWR | flags, "dom%u.lock", id);

    return fd < 0 ? -errno : fd;
}

/* Caller holds the dead domain's lock, so nobody else can be (re)claiming the
 * id meanwhile. */
static void reclaim(struct xw_sim *s, uint32_t id)
{
    xw_sim_ntf_reclaim(s, id); /* first: it clears bytes in the grant objects */
    xw_sim_gnttab_reclaim(s, id);
    xw_sim_evtchn_reclaim(s, id);
}

/* Reclaim every domain whose lock nobody holds. */
static void scan_dead(struct xw_sim *s)
{
    struct dirent *de;
    unsigned id;
    DIR *d = opendir(s->dir);
    int fd;

    if (!d)
        return;
    while ((de = readdir(d))) {
        if (sscanf(de->d_name, "dom%u.lock", &id) != 1 || id == s->pub.domid ||
            id > XW_SIM_MAX_DOMID)
            continue;
        fd = open_lock(s, id, 0);
        if (fd < 0)
            continue;
        if (lock_op(fd, F_OFD_SETLK, F_WRLCK) == 0)
            reclaim(s, id);
        close(fd); /* drops the probe lock */
    }
    closedir(d);
}

static int claim_domid(struct xw_sim *s, int requested)
{
    uint32_t id, lo = 1, hi = XW_SIM_MAX_DOMID;
    int fd;

    if (requested >= 0) {
        if (requested < 1 || requested > XW_SIM_MAX_DOMID)
            return -EINVAL;
        lo = hi = (uint32_t)requested;
    }
    for (id = lo; id <= hi; id++) {
        fd = open_lock(s, id, O_CREAT);
        if (fd < 0)
            return fd;
        if (lock_op(fd, F_OFD_SETLK, F_WRLCK) == 0) {
            /* Reclaimed as a peer's, before the id is ours: the dead one's
             * unmap notifications are sent through its own event page. */
            reclaim(s, id);
            s->lock_fd = fd;
            s->pub.domid = id;
            return 0;
        }
        close(fd);
    }
    return requested >= 0 ? -EADDRINUSE : -ENOSPC;
}

/* 1 if domain id lives, 0 if not, -errno.  The probe's fd is kept per peer:
 * dom<ID>.lock is never unlinked, so it also probes the id's next owner. */
int xw_sim_alive(struct xw_sim *s, uint32_t id)
{
    int fd;

    if (id == s->pub.domid)
        return 1;
    if (id < 1 || id > XW_SIM_MAX_DOMID)
        return 0;
    xw_sim_lock(&s->mu);
    fd = s->peers[id].lock_fd;
    if (fd < 0) {
        fd = open_lock(s, id, 0);
        if (fd >= 0)
            s->peers[id].lock_fd = fd;
    }
    xw_sim_unlock(&s->mu);
    if (fd == -ENOENT)
        return 0;
    if (fd < 0)
        return fd;
    return lock_op(fd, F_OFD_GETLK, F_WRLCK);
}

int xw_sim_domain_alive(struct xw_xenif *x, uint32_t domid)
{
    struct xw_sim *s = xw_sim_of(x);

    if (s->domain_liveness == XW_SIM_LIVE_GUEST && domid != s->pub.domid)
        return -EACCES; /* as a guest reading another's /local/domain/ID */
    return xw_sim_alive(s, domid);
}

/* ---- fork ---- */

/* The process's open handles, for the fork handler. */
static xw_sim_mutex open_mu = XW_SIM_MUTEX_INIT;
static struct xw_sim *open_list;

/* A forked child is not the domain: it drops its copies of each domain's
 * lock (an OFD lock belongs to the open file, which the child shares) and
 * event socket (its name is the domain's), so that the domain still dies with
 * the process that opened it, as a process's death is its own under Xen (the
 * peer's notifications run at once, not when the last child exits), and its
 * id is free again.  The child's copies of the handles are not to be used,
 * unless it is the keeper the process hands its domain to (xenif.h). */
static void drop_domains(void)
{
    for (struct xw_sim *s = open_list; s; s = s->next_open) {
        if (s->lock_fd >= 0)
            close(s->lock_fd);
        if (s->sock >= 0)
            close(s->sock);
        s->lock_fd = s->sock = -1;
    }
}

void xw_sim_drop_domains(void)
{
    xw_sim_lock(&open_mu);
    drop_domains();
    xw_sim_unlock(&open_mu);
}

#if XW_SIM_THREADS
/* Each handle's mu too: a forked child may use its copy of the handle to map
 * and notify (a worker serving a connection of its owner's: channel.h,
 * xw_channel_adopt), so no copy may be left locked by a thread that is not
 * there. */
static void fork_prepare(void)
{
    xw_sim_lock(&open_mu);
    for (struct xw_sim *s = open_list; s; s = s->next_open)
        xw_sim_lock(&s->mu);
}

static void unlock_handles(void)
{
    for (struct xw_sim *s = open_list; s; s = s->next_open)
        xw_sim_unlock(&s->mu);
}

static void fork_parent(void)
{
    unlock_handles();
    xw_sim_unlock(&open_mu);
}

static void fork_child(void)
{
    unlock_handles();
    if (!xw_xenif_forking_keeper())
        drop_domains();
    xw_sim_mutex_init(&open_mu);
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void register_fork(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }
#endif

static void add_open(struct xw_sim *s)
{
#if XW_SIM_THREADS
    pthread_once(&fork_once, register_fork);
#endif
    xw_sim_lock(&open_mu);
    s->next_open = open_list;
    open_list = s;
    xw_sim_unlock(&open_mu);
}

static void remove_open(struct xw_sim *s)
{
    struct xw_sim **pp;

    xw_sim_lock(&open_mu);
    for (pp = &open_list; *pp; pp = &(*pp)->next_open)
        if (*pp == s) {
            *pp = s->next_open;
            break;
        }
    xw_sim_unlock(&open_mu);
}

/* ---- host token ---- */

/* The first domain of the host creates host-token: written to a private file,
 * then link()ed, which is atomic and fails if another domain won the race. */
static int create_token(struct xw_sim *s, const char *p)
{
    char tmp[PATH_MAX], tok[XW_HOST_TOKEN_LEN + 1];
    unsigned char rnd[XW_HOST_TOKEN_LEN / 2];
    ssize_t n;
    int fd, i;

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return -EIO;
    for (i = 0; i < (int)sizeof(rnd); i++)
        sprintf(tok + 2 * i, "%02x", rnd[i]);
    if (xw_sim_path(s, tmp, "host-token.%d", (int)getpid()))
        return -ENAMETOOLONG;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    n = xw_sim_created(s, fd, NULL) < 0 ? -1 : write(fd, tok, XW_HOST_TOKEN_LEN);
    close(fd);
    if (n == XW_HOST_TOKEN_LEN && link(tmp, p) < 0 && errno != EEXIST)
        n = -1;
    unlink(tmp);
    return n == XW_HOST_TOKEN_LEN ? 0 : -EIO;
}

static int host_token(struct xw_sim *s)
{
    char p[PATH_MAX];
    ssize_t n;
    int fd, err;

    if (xw_sim_path(s, p, "host-token"))
        return -ENAMETOOLONG;
    fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err = create_token(s, p);
        if (err)
            return err;
        fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
    }
    n = read(fd, s->pub.host_token, XW_HOST_TOKEN_LEN);
    close(fd);
    if (n != XW_HOST_TOKEN_LEN)
        return -EIO;
    s->pub.host_token[XW_HOST_TOKEN_LEN] = 0;
    return 0;
}

/* ---- open / close ---- */

/* Safe on a partly opened handle: each part skips what it never opened. */
void xw_sim_close(struct xw_xenif *x)
{
    struct xw_sim *s = xw_sim_of(x);
    uint32_t i;

    remove_open(s);
    xw_sim_gnttab_close(s);
    xw_sim_ntf_close(s);
    xw_sim_evtchn_close(s);
    xw_sim_store_close(s);
    for (i = 0; s->peers && i <= XW_SIM_MAX_DOMID; i++)
        if (s->peers[i].lock_fd >= 0)
            close(s->peers[i].lock_fd);
    for (i = 0; s->peers && i <= XW_SIM_MAX_DOMID; i++)
        if (s->peers[i].gnt_fd >= 0)
            close(s->peers[i].gnt_fd);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* last: the id is free again */
    free(s->peers);
    xw_sim_mutex_destroy(&s->mu);
    free(s);
}

static const struct xw_xenif_ops sim_ops = {
    .name = "sim",
    .close = xw_sim_close,
    .share = xw_sim_share,
    .share_notify = xw_sim_share_notify,
    .unshare = xw_sim_unshare,
    .unshare_keep = xw_sim_unshare_keep,
    .share_kept = xw_sim_share_kept,
    .map = xw_sim_map,
    .map_notify = xw_sim_map_notify,
    .map_set_notify = xw_sim_map_set_notify,
    .unmap = xw_sim_unmap,
    .evtchn_fd = xw_sim_evtchn_fd,
    .evtchn_wait = xw_xenif_wait_fd,
    .evtchn_alloc_unbound = xw_sim_evtchn_alloc_unbound,
    .evtchn_bind = xw_sim_evtchn_bind,
    .evtchn_notify = xw_sim_evtchn_notify,
    .evtchn_pending = xw_sim_evtchn_pending,
    .evtchn_unmask = xw_sim_evtchn_unmask,
    .evtchn_unbind = xw_sim_evtchn_unbind,
    .evtchn_peer_alive = xw_sim_evtchn_peer_alive,
    .store_read = xw_sim_store_read,
    .store_write = xw_sim_store_write,
    .store_watch = xw_sim_store_watch,
    .store_unwatch = xw_sim_store_unwatch,
    .store_watch_fd = xw_sim_store_watch_fd,
    .store_read_watch = xw_sim_store_read_watch,
    .domain_alive = xw_sim_domain_alive,
    .retire = xw_sim_retire,
};

static int alloc_sim(const char *dir, struct xw_sim **out)
{
    struct xw_sim *s = calloc(1, sizeof(*s));
    uint32_t i;

    if (!s)
        return -ENOMEM;
    s->lock_fd = s->sock = s->ino_fd = s->gnt_fd = -1;
    xw_sim_mutex_init(&s->mu);
    s->peers = calloc(XW_SIM_MAX_DOMID + 1, sizeof(*s->peers));
    *out = s;
    if (!s->peers)
        return -ENOMEM;
    for (i = 0; i <= XW_SIM_MAX_DOMID; i++)
        s->peers[i].lock_fd = s->peers[i].gnt_fd = -1;
    s->pub.ops = &sim_ops;
    s->pub.kind = XW_XENIF_SIM;
    s->port_hint = s->gnt_hint = 1;
    snprintf(s->dir, sizeof(s->dir), "%s", dir);
    return 0;
}

/* Grant objects are closed after mmap and events share one fd, but liveness
 * probes keep one fd per peer, so a process with many peers benefits from the
 * hard limit. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* XWAY_SIM_LIVENESS: process (default), domain or guest; -EINVAL otherwise. */
int xw_sim_liveness_domain(void)
{
    const char *v = getenv("XWAY_SIM_LIVENESS");

    if (!v || !*v || !strcmp(v, "process"))
        return XW_SIM_LIVE_PROCESS;
    if (!strcmp(v, "domain"))
        return XW_SIM_LIVE_DOMAIN;
    return strcmp(v, "guest") ? -EINVAL : XW_SIM_LIVE_GUEST;
}

int xw_xenif_open_sim(const char *dir, int requested_domid, struct xw_xenif **out)
{
    struct xw_sim *s = NULL;
    struct stat st;
    int err, dl = xw_sim_liveness_domain();

    if (!dir || !dir[0] || strlen(dir) > PATH_MAX - 64 || dl < 0)
        return -EINVAL;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    err = alloc_sim(dir, &s);
    if (err)
        goto out_close;
    if (stat(dir, &st) < 0) {
        err = -errno;
        goto out_close;
    }
    s->mode = 0600 | (st.st_mode & S_IWGRP ? 0060 : 0) | (st.st_mode & S_IWOTH ? 0006 : 0);
    s->domain_liveness = dl;
    err = xw_sim_store_open(s);
    if (err)
        goto out_close;
    err = host_token(s);
    if (err)
        goto out_close;
    err = claim_domid(s, requested_domid);
    if (err)
        goto out_close;
    err = xw_sim_gnttab_open(s);
    if (err)
        goto out_close;
    err = xw_sim_evtchn_open(s);
    if (err)
        goto out_close;
    err = xw_sim_ntf_open(s);
    if (err)
        goto out_close;
    scan_dead(s);
    raise_nofile();
    add_open(s);
    *out = &s->pub;
    return 0;
out_close:
    if (s)
        xw_sim_close(&s->pub);
    return err;
}

int xw_xenif_can_map(struct xw_xenif *x)
{
    if (!x)
        return -ENODEV;
    if (x->kind != XW_XENIF_SIM || sim_opener)
        return 0;
    return access(xw_sim_of(x)->dir, R_OK | X_OK) == 0 ? 0 : -errno;
}

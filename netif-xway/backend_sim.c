/* The sim backend: Xen's grant and event-channel rules on plain Linux.
 *
 * A sim host is a directory; each attached handle is a domain:
 *   dom<ID>.lock   liveness: an OFD write lock held for the domain's life (the
 *                  kernel drops it when the process dies, even on kill -9)
 *   dom<ID>.gnt    the domain's grant table (struct gnt_entry[XW_SIM_MAX_GREFS]),
 *                  written only by the domain, read by grantees
 *   dom<ID>.evt    the domain's event page: pending bitmap and port table
 *   g<ID>-<OBJ>    one shared-memory object per share call (count pages)
 *   xs/            the key store, one file per key ('/' escaped as '%')
 *   host-token     random id: equal tokens = co-resident
 * Files are never truncated or unlinked while others may map them (except
 * grant objects, which mappers keep through their own mapping); a dead
 * domain's state is zeroed/unlinked by whoever next claims or scans its id.
 *
 * Event channels: a port entry is one 64-bit word (state | remote domid |
  * remote port) so a bind is one compare-and-swap on the peer's entry.  Notify
 * sets the peer's pending bit; only if it was clear, sets the peer's upcall
 * flag; only if that was clear, sends one datagram to the peer's socket (the
 * handle's pollable fd).  So a notify while pending costs no syscall.
 *
 * Locking: mu protects the allocation hints, the share/map lists and the peer
 * caches.  The shared pages are accessed with atomics only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "xenif.h"

#define EVT_MAGIC 0x56455758u /* "XWEV" */
#define PWORDS (XW_SIM_MAX_PORTS / 64)

enum port_state { PORT_FREE = 0, PORT_UNBOUND = 1, PORT_INTER = 2 };

struct evt_page {
    uint32_t magic;
    _Atomic uint32_t upcall; /* a wake datagram is (or is about to be) queued */
    _Atomic uint64_t pending[PWORDS];
    _Atomic uint64_t port[XW_SIM_MAX_PORTS]; /* pack(state, remote dom, remote port) */
};

enum { GNT_INUSE = 1u, GNT_RO = 2u };
struct gnt_entry {
    _Atomic uint32_t state; /* GNT_* | generation << 8; written last (release) */
    uint32_t grantee;
    uint32_t obj;
    uint32_t page;
};

#define EVT_BYTES ((sizeof(struct evt_page) + XW_PAGE_SIZE - 1) & ~(size_t)(XW_PAGE_SIZE - 1))
#define GNT_BYTES ((size_t)XW_SIM_MAX_GREFS * sizeof(struct gnt_entry))

struct share {
    struct share *next;
    void *addr;
    uint32_t count, first_ref, obj;
};

struct mapping {
    struct mapping *next;
    void *addr;
    uint32_t count;
    int notify_offset, notify_port;
};

#define MAX_WATCHES 32

struct sim {
    struct xw_xenif pub;
    char dir[PATH_MAX];
    int lock_fd;
    int sock;
    struct evt_page *evt;
    struct gnt_entry *gnt;
    pthread_mutex_t mu;
    uint32_t next_obj, gnt_hint, port_hint;
    struct share *shares;
    struct mapping *maps;
    struct evt_page **peer_evt; /* [XW_SIM_MAX_DOMID + 1], lazily mapped */
    struct gnt_entry **peer_gnt;
    int *peer_lock; /* fds for liveness probes, -1 when not open */
    uint16_t q[XW_SIM_MAX_PORTS]; /* ports found pending, not yet returned */
    unsigned qhead, qlen;
    int ino_fd;
    char *watches[MAX_WATCHES];
    char ino_buf[4096];
    size_t ino_len, ino_off;
};

static inline struct sim *S(struct xw_xenif *x) { return (struct sim *)x; }

static uint64_t pack(uint32_t st, uint32_t dom, uint32_t port)
{
    return (uint64_t)st << 56 | (uint64_t)(dom & 0xffff) << 32 | port;
}
static uint32_t p_state(uint64_t v) { return (uint32_t)(v >> 56); }
static uint32_t p_dom(uint64_t v) { return (uint32_t)(v >> 32) & 0xffff; }
static uint32_t p_port(uint64_t v) { return (uint32_t)v; }

__attribute__((format(printf, 3, 4)))
static int path_of(struct sim *s, char *buf, const char *fmt, ...)
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

/* ---- domains and liveness ---- */

static int lock_op(int fd, int cmd, short type)
{
    struct flock fl = { .l_type = type, .l_whence = SEEK_SET };

    if (fcntl(fd, cmd, &fl) < 0)
        return -errno;
    return cmd == F_OFD_GETLK ? fl.l_type != F_UNLCK : 0;
}

static int open_lock(struct sim *s, uint32_t id, int flags)
{
    char p[PATH_MAX];
    int fd;

    if (path_of(s, p, "dom%u.lock", id))
        return -ENAMETOOLONG;
    fd = open(p, O_RDWR | O_CLOEXEC | flags, 0600);
    return fd < 0 ? -errno : fd;
}

/* Create (or open) a fixed-size state file and map it. */
static void *map_state(struct sim *s, const char *kind, uint32_t id, size_t len, bool create,
                       bool writable)
{
    char p[PATH_MAX];
    struct stat st;
    void *m = MAP_FAILED;
    int fd;

    if (path_of(s, p, "dom%u.%s", id, kind))
        return NULL;
    fd = open(p, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
    if (fd < 0)
        return NULL;
    if (create && ftruncate(fd, (off_t)len) < 0)
        goto out;
    if (fstat(fd, &st) < 0 || (size_t)st.st_size < len)
        goto out;
    m = mmap(NULL, len, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
out:
    close(fd);
    return m == MAP_FAILED ? NULL : m;
}

/* Zero a dead domain's tables and delete its grant objects.  Caller holds the
 * domain's lock, so nobody else can be (re)claiming the id meanwhile. */
static void reclaim(struct sim *s, uint32_t id)
{
    char p[PATH_MAX], prefix[32];
    struct dirent *de;
    DIR *d;
    int fd;

    if (!path_of(s, p, "dom%u.gnt", id) && (fd = open(p, O_RDWR | O_CLOEXEC)) >= 0) {
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)GNT_BYTES);
        close(fd);
    }
    if (!path_of(s, p, "dom%u.evt", id) && (fd = open(p, O_RDWR | O_CLOEXEC)) >= 0) {
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)EVT_BYTES);
        close(fd);
    }
    snprintf(prefix, sizeof(prefix), "g%u-", id);
    d = opendir(s->dir);
    if (!d)
        return;
    while ((de = readdir(d)))
        if (!strncmp(de->d_name, prefix, strlen(prefix)))
            unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
}

/* Reclaim every domain whose lock nobody holds. */
static void scan_dead(struct sim *s)
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

static int claim_domid(struct sim *s, int requested)
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
            s->lock_fd = fd;
            s->pub.domid = id;
            reclaim(s, id);
            return 0;
        }
        close(fd);
    }
    return requested >= 0 ? -EADDRINUSE : -ENOSPC;
}

static int probe_alive(struct sim *s, uint32_t id)
{
    int fd, r;

    if (id == s->pub.domid)
        return 1;
    if (id < 1 || id > XW_SIM_MAX_DOMID)
        return 0;
    pthread_mutex_lock(&s->mu);
    fd = s->peer_lock[id];
    if (fd < 0) {
        fd = open_lock(s, id, 0);
        if (fd >= 0)
            s->peer_lock[id] = fd;
    }
    pthread_mutex_unlock(&s->mu);
    if (fd == -ENOENT)
        return 0;
    if (fd < 0)
        return fd;
    r = lock_op(fd, F_OFD_GETLK, F_WRLCK);
    return r;
}

static int sim_domain_alive(struct xw_xenif *x, uint32_t domid)
{
    return probe_alive(S(x), domid);
}

/* ---- host token ---- */

static int host_token(struct sim *s)
{
    char p[PATH_MAX], tmp[PATH_MAX], tok[XW_HOST_TOKEN_LEN + 1];
    unsigned char rnd[XW_HOST_TOKEN_LEN / 2];
    ssize_t n;
    int fd, i;

    if (snprintf(p, sizeof(p), "%s/host-token", s->dir) >= (int)sizeof(p))
        return -ENAMETOOLONG;
    fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
            return -EIO;
        for (i = 0; i < (int)sizeof(rnd); i++)
            sprintf(tok + 2 * i, "%02x", rnd[i]);
        if (snprintf(tmp, sizeof(tmp), "%s/host-token.%d", s->dir, (int)getpid()) >=
            (int)sizeof(tmp))
            return -ENAMETOOLONG;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
            return -errno;
        n = write(fd, tok, XW_HOST_TOKEN_LEN);
        close(fd);
        /* link() is atomic and fails if another domain won the race. */
        if (n == XW_HOST_TOKEN_LEN && link(tmp, p) < 0 && errno != EEXIST)
            n = -1;
        unlink(tmp);
        if (n != XW_HOST_TOKEN_LEN)
            return -EIO;
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

/* ---- grants ---- */

/* A run of count consecutive free entries (so a mapper can mmap them in one
 * go), searched from the hint, then from the start. */
static int alloc_grefs(struct sim *s, uint32_t count)
{
    uint32_t i, run, pass, from, to;

    for (pass = 0; pass < 2; pass++) {
        from = pass ? 1 : s->gnt_hint;
        to = pass ? s->gnt_hint + count : XW_SIM_MAX_GREFS;
        run = 0;
        for (i = from; i < to && i < XW_SIM_MAX_GREFS; i++) {
            if (atomic_load(&s->gnt[i].state) & GNT_INUSE) {
                run = 0;
                continue;
            }
            if (++run == count) {
                s->gnt_hint = i + 1;
                return (int)(i + 1 - count);
            }
        }
    }
    return -ENOSPC;
}

static void *new_object(struct sim *s, uint32_t obj, uint32_t count)
{
    char p[PATH_MAX];
    void *m = MAP_FAILED;
    int fd;

    if (path_of(s, p, "g%u-%u", s->pub.domid, obj))
        return NULL;
    fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return NULL;
    if (ftruncate(fd, (off_t)count << XW_PAGE_SHIFT) == 0)
        m = mmap(NULL, (size_t)count << XW_PAGE_SHIFT, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd); /* the fd budget: one mapping, no fd */
    if (m == MAP_FAILED)
        unlink(p);
    return m == MAP_FAILED ? NULL : m;
}

static int sim_share(struct xw_xenif *x, uint32_t domid, uint32_t count, int writable,
                     uint32_t *refs, void **addr)
{
    struct sim *s = S(x);
    struct share *sh;
    uint32_t i, gen;
    int first, err = -ENOMEM;

    if (!count || count > XW_SIM_MAX_GREFS / 2 || domid > XW_SIM_MAX_DOMID)
        return -EINVAL;
    sh = calloc(1, sizeof(*sh));
    if (!sh)
        return -ENOMEM;
    pthread_mutex_lock(&s->mu);
    first = alloc_grefs(s, count);
    if (first < 0) {
        err = first;
        goto out_unlock;
    }
    sh->obj = ++s->next_obj;
    sh->addr = new_object(s, sh->obj, count);
    if (!sh->addr)
        goto out_unlock;
    for (i = 0; i < count; i++) {
        struct gnt_entry *e = &s->gnt[first + i];

        gen = (atomic_load(&e->state) >> 8) + 1;
        e->grantee = domid;
        e->obj = sh->obj;
        e->page = i;
        atomic_store_explicit(&e->state, gen << 8 | GNT_INUSE | (writable ? 0 : GNT_RO),
                              memory_order_release);
        refs[i] = (uint32_t)first + i;
    }
    sh->count = count;
    sh->first_ref = (uint32_t)first;
    sh->next = s->shares;
    s->shares = sh;
    *addr = sh->addr;
    pthread_mutex_unlock(&s->mu);
    return 0;
out_unlock:
    pthread_mutex_unlock(&s->mu);
    free(sh);
    return err;
}

static int sim_unshare(struct xw_xenif *x, void *addr, uint32_t count)
{
    struct sim *s = S(x);
    struct share **pp, *sh = NULL;
    char p[PATH_MAX];
    uint32_t i;

    pthread_mutex_lock(&s->mu);
    for (pp = &s->shares; *pp; pp = &(*pp)->next)
        if ((*pp)->addr == addr && (*pp)->count == count) {
            sh = *pp;
            *pp = sh->next;
            break;
        }
    if (sh) {
        for (i = 0; i < count; i++) { /* revoke: future maps fail */
            struct gnt_entry *e = &s->gnt[sh->first_ref + i];
            atomic_store_explicit(&e->state, atomic_load(&e->state) & ~0xffu,
                                  memory_order_release);
        }
        if (!path_of(s, p, "g%u-%u", s->pub.domid, sh->obj))
            unlink(p);
    }
    pthread_mutex_unlock(&s->mu);
    if (!sh)
        return -EINVAL;
    munmap(addr, (size_t)count << XW_PAGE_SHIFT);
    free(sh);
    return 0;
}

static struct gnt_entry *peer_gnt(struct sim *s, uint32_t domid)
{
    struct gnt_entry *g;

    pthread_mutex_lock(&s->mu);
    g = s->peer_gnt[domid];
    if (!g) {
        g = map_state(s, "gnt", domid, GNT_BYTES, false, false);
        s->peer_gnt[domid] = g;
    }
    pthread_mutex_unlock(&s->mu);
    return g;
}

/* Read and check one grant entry: 0 (filling obj and page), or -errno. */
static int check_gref(struct sim *s, const struct gnt_entry *tab, uint32_t ref, int writable,
                      uint32_t *obj, uint32_t *page)
{
    const struct gnt_entry *e;
    uint32_t st;

    if (ref == 0 || ref >= XW_SIM_MAX_GREFS)
        return -EINVAL;
    e = &tab[ref];
    st = atomic_load_explicit(&e->state, memory_order_acquire);
    if (!(st & GNT_INUSE))
        return -ENOENT;
    if (e->grantee != s->pub.domid || (writable && (st & GNT_RO)))
        return -EPERM;
    *obj = e->obj;
    *page = e->page;
    /* Entry reused while we read it: treat as revoked. */
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&e->state, memory_order_relaxed) != st)
        return -ENOENT;
    return 0;
}

static int map_run(struct sim *s, uint32_t domid, uint8_t *at, uint32_t obj, uint32_t page,
                   uint32_t n, int writable)
{
    char p[PATH_MAX];
    struct stat st;
    void *m;
    int fd, err = 0;

    if (path_of(s, p, "g%u-%u", domid, obj))
        return -ENAMETOOLONG;
    fd = open(p, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ENOENT : -errno;
    if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < ((uint64_t)page + n) << XW_PAGE_SHIFT) {
        err = -ENOENT;
        goto out;
    }
    m = mmap(at, (size_t)n << XW_PAGE_SHIFT, PROT_READ | (writable ? PROT_WRITE : 0),
             MAP_SHARED | MAP_FIXED, fd, (off_t)page << XW_PAGE_SHIFT);
    if (m == MAP_FAILED)
        err = -errno;
out:
    close(fd);
    return err;
}

static int sim_map(struct xw_xenif *x, uint32_t domid, uint32_t count, const uint32_t *refs,
                   int writable, void **addr)
{
    struct sim *s = S(x);
    struct gnt_entry *tab;
    struct mapping *mp;
    uint32_t i, j, obj, page, o2, p2;
    uint8_t *base;
    int err;

    if (!count || count > XW_SIM_MAX_GREFS || domid < 1 || domid > XW_SIM_MAX_DOMID)
        return -EINVAL;
    if (probe_alive(s, domid) != 1)
        return -ESRCH;
    tab = peer_gnt(s, domid);
    if (!tab)
        return -ESRCH;
    mp = calloc(1, sizeof(*mp));
    if (!mp)
        return -ENOMEM;
    base = mmap(NULL, (size_t)count << XW_PAGE_SHIFT, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
                -1, 0);
    if (base == MAP_FAILED) {
        err = -ENOMEM;
        goto out_free;
    }
    for (i = 0; i < count; i = j) {
        err = check_gref(s, tab, refs[i], writable, &obj, &page);
        if (err)
            goto out_unmap;
        /* Extend over refs that continue the same object: one mmap per run. */
        for (j = i + 1; j < count; j++) {
            err = check_gref(s, tab, refs[j], writable, &o2, &p2);
            if (err)
                goto out_unmap;
            if (o2 != obj || p2 != page + (j - i))
                break;
        }
        err = map_run(s, domid, base + ((size_t)i << XW_PAGE_SHIFT), obj, page, j - i, writable);
        if (err)
            goto out_unmap;
    }
    mp->addr = base;
    mp->count = count;
    mp->notify_offset = mp->notify_port = -1;
    pthread_mutex_lock(&s->mu);
    mp->next = s->maps;
    s->maps = mp;
    pthread_mutex_unlock(&s->mu);
    *addr = base;
    return 0;
out_unmap:
    munmap(base, (size_t)count << XW_PAGE_SHIFT);
out_free:
    free(mp);
    return err;
}

static int sim_map_notify(struct xw_xenif *x, uint32_t domid, uint32_t ref, int writable,
                          int notify_offset, int notify_port, void **addr)
{
    struct sim *s = S(x);
    struct mapping *mp;
    int err;

    if (notify_offset >= (int)XW_PAGE_SIZE || (notify_offset >= 0 && !writable))
        return -EINVAL;
    err = sim_map(x, domid, 1, &ref, writable, addr);
    if (err)
        return err;
    pthread_mutex_lock(&s->mu);
    for (mp = s->maps; mp; mp = mp->next)
        if (mp->addr == *addr) {
            mp->notify_offset = notify_offset;
            mp->notify_port = notify_port;
        }
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static int sim_share_notify(struct xw_xenif *x, uint32_t domid, int writable, uint32_t *ref,
                            int notify_offset, int notify_port, void **addr)
{
    return -EOPNOTSUPP; /* the sim cannot act after the granter's death */
}

static int sim_evtchn_notify(struct xw_xenif *x, uint32_t port);

static int sim_unmap(struct xw_xenif *x, void *addr, uint32_t count)
{
    struct sim *s = S(x);
    struct mapping **pp, *mp = NULL;

    pthread_mutex_lock(&s->mu);
    for (pp = &s->maps; *pp; pp = &(*pp)->next)
        if ((*pp)->addr == addr && (*pp)->count == count) {
            mp = *pp;
            *pp = mp->next;
            break;
        }
    pthread_mutex_unlock(&s->mu);
    if (!mp)
        return -EINVAL;
    if (mp->notify_offset >= 0)
        ((volatile uint8_t *)addr)[mp->notify_offset] = 0;
    if (mp->notify_port >= 0)
        sim_evtchn_notify(x, (uint32_t)mp->notify_port);
    munmap(addr, (size_t)count << XW_PAGE_SHIFT);
    free(mp);
    return 0;
}

/* ---- event channels ---- */

static void sock_name(struct sim *s, uint32_t id, struct sockaddr_un *sa, socklen_t *len)
{
    int n;

    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    /* Abstract name: vanishes with the process, so a dead peer refuses. */
    n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "xway-sim-%s-%u",
                 s->pub.host_token, id);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static struct evt_page *peer_evt(struct sim *s, uint32_t domid)
{
    struct evt_page *e;

    if (domid == s->pub.domid)
        return s->evt;
    if (domid < 1 || domid > XW_SIM_MAX_DOMID)
        return NULL;
    pthread_mutex_lock(&s->mu);
    e = s->peer_evt[domid];
    if (!e) {
        e = map_state(s, "evt", domid, EVT_BYTES, false, true);
        s->peer_evt[domid] = e;
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

static int alloc_port(struct sim *s, uint64_t val)
{
    uint32_t i, p;
    uint64_t free_v = 0;

    pthread_mutex_lock(&s->mu);
    for (i = 0; i < XW_SIM_MAX_PORTS; i++) {
        p = (s->port_hint + i) % XW_SIM_MAX_PORTS;
        if (p == 0)
            continue;
        free_v = 0;
        if (atomic_compare_exchange_strong(&s->evt->port[p], &free_v, val)) {
            s->port_hint = p + 1;
            pthread_mutex_unlock(&s->mu);
            return (int)p;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return -ENOSPC;
}

static int sim_evtchn_fd(struct xw_xenif *x) { return S(x)->sock; }

static int sim_alloc_unbound(struct xw_xenif *x, uint32_t domid)
{
    if (domid > XW_SIM_MAX_DOMID)
        return -EINVAL;
    return alloc_port(S(x), pack(PORT_UNBOUND, domid, 0));
}

static int sim_bind(struct xw_xenif *x, uint32_t domid, uint32_t rport)
{
    struct sim *s = S(x);
    struct evt_page *pe;
    uint64_t want;
    int l;

    if (rport == 0 || rport >= XW_SIM_MAX_PORTS)
        return -EINVAL;
    if (probe_alive(s, domid) != 1)
        return -ESRCH;
    pe = peer_evt(s, domid);
    if (!pe)
        return -ESRCH;
    l = alloc_port(s, pack(PORT_INTER, domid, rport));
    if (l < 0)
        return l;
    want = pack(PORT_UNBOUND, s->pub.domid, 0);
    if (!atomic_compare_exchange_strong(&pe->port[rport], &want,
                                        pack(PORT_INTER, s->pub.domid, (uint32_t)l))) {
        atomic_store(&s->evt->port[l], 0);
        return -EINVAL; /* not unbound, or not offered to us */
    }
    return l;
}

static int sim_evtchn_notify(struct xw_xenif *x, uint32_t port)
{
    struct sim *s = S(x);
    struct sockaddr_un sa;
    struct evt_page *pe;
    uint64_t me, bit;
    uint32_t rd, rp;
    socklen_t len;
    char c = 0;

    if (port == 0 || port >= XW_SIM_MAX_PORTS)
        return -EINVAL;
    me = atomic_load_explicit(&s->evt->port[port], memory_order_relaxed);
    if (p_state(me) == PORT_UNBOUND)
        return 0; /* as Xen: nobody to signal yet */
    if (p_state(me) != PORT_INTER)
        return -EINVAL;
    rd = p_dom(me);
    rp = p_port(me);
    pe = peer_evt(s, rd);
    if (!pe || rp >= XW_SIM_MAX_PORTS)
        return -ESRCH;
    if (atomic_load_explicit(&pe->port[rp], memory_order_relaxed) !=
        pack(PORT_INTER, s->pub.domid, port))
        return 0; /* the remote closed its end: dropped, as in Xen */
    bit = 1ull << (rp % 64);
    if (atomic_fetch_or(&pe->pending[rp / 64], bit) & bit)
        return 0; /* already pending: coalesced, no syscall */
    if (atomic_exchange(&pe->upcall, 1))
        return 0; /* a wake is already on its way */
    sock_name(s, rd, &sa, &len);
    if (sendto(s->sock, &c, 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0) {
        if (errno == ECONNREFUSED || errno == ENOENT)
            return -ESRCH;
        if (errno != EAGAIN) /* a full queue already wakes the peer */
            return -errno;
    }
    return 0;
}

/* Collect every pending port into q.  Order matters (see header comment):
 * drain the socket, then clear upcall, then take the pending bits — a
 * notifier that races with us either finds upcall clear and sends a new
 * datagram, or set its bit before we take the bits. */
static void refill(struct sim *s)
{
    char buf[64];
    unsigned w;
    uint64_t bits;

    while (recv(s->sock, buf, sizeof(buf), MSG_DONTWAIT) > 0)
        ;
    atomic_store(&s->evt->upcall, 0);
    for (w = 0; w < PWORDS; w++) {
        if (!atomic_load_explicit(&s->evt->pending[w], memory_order_relaxed))
            continue;
        bits = atomic_exchange(&s->evt->pending[w], 0);
        while (bits && s->qlen < XW_SIM_MAX_PORTS) {
            unsigned b = (unsigned)__builtin_ctzll(bits);

            bits &= bits - 1;
            s->q[(s->qhead + s->qlen++) % XW_SIM_MAX_PORTS] = (uint16_t)(w * 64 + b);
        }
    }
}

static int sim_pending(struct xw_xenif *x)
{
    struct sim *s = S(x);
    int p;

    if (!s->qlen)
        refill(s);
    if (!s->qlen)
        return -EAGAIN;
    p = s->q[s->qhead];
    s->qhead = (s->qhead + 1) % XW_SIM_MAX_PORTS;
    s->qlen--;
    return p;
}

static int sim_unmask(struct xw_xenif *x, uint32_t port)
{
    return port < XW_SIM_MAX_PORTS ? 0 : -EINVAL;
}

static int sim_unbind(struct xw_xenif *x, uint32_t port)
{
    struct sim *s = S(x);

    if (port == 0 || port >= XW_SIM_MAX_PORTS || !atomic_load(&s->evt->port[port]))
        return -EINVAL;
    atomic_store(&s->evt->port[port], 0);
    atomic_fetch_and(&s->evt->pending[port / 64], ~(1ull << (port % 64)));
    return 0;
}

static int sim_peer_alive(struct xw_xenif *x, uint32_t port)
{
    struct sim *s = S(x);
    struct evt_page *pe;
    uint64_t me;
    int alive;

    if (port == 0 || port >= XW_SIM_MAX_PORTS)
        return -EINVAL;
    me = atomic_load(&s->evt->port[port]);
    if (p_state(me) == PORT_FREE)
        return -EINVAL;
    alive = probe_alive(s, p_dom(me));
    if (alive != 1 || p_state(me) == PORT_UNBOUND)
        return alive;
    pe = peer_evt(s, p_dom(me));
    if (!pe || p_port(me) >= XW_SIM_MAX_PORTS)
        return 0;
    return atomic_load(&pe->port[p_port(me)]) == pack(PORT_INTER, s->pub.domid, port);
}

/* ---- key store ---- */

static int key_path(struct sim *s, const char *key, char *p)
{
    size_t n = strlen(s->dir), i;

    if (!key[0] || strlen(key) > 200 || n + 5 + strlen(key) >= PATH_MAX)
        return -EINVAL;
    if (snprintf(p, PATH_MAX, "%s/xs/%s", s->dir, key) >= PATH_MAX)
        return -ENAMETOOLONG;
    for (i = n + 4; p[i]; i++)
        if (p[i] == '/')
            p[i] = '%';
    return 0;
}

static int sim_store_read(struct xw_xenif *x, const char *key, char *buf, size_t len)
{
    char p[PATH_MAX];
    ssize_t n;
    int fd, err = key_path(S(x), key, p);

    if (err)
        return err;
    if (!len)
        return -EINVAL;
    fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -EIO;
    buf[n] = 0;
    return (int)n;
}

static int sim_store_write(struct xw_xenif *x, const char *key, const char *val)
{
    char p[PATH_MAX], tmp[PATH_MAX + 16];
    size_t len = strlen(val);
    int fd, err = key_path(S(x), key, p);

    if (err)
        return err;
    snprintf(tmp, sizeof(tmp), "%s.%d.tmp", p, (int)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (write(fd, val, len) != (ssize_t)len)
        err = -EIO;
    close(fd);
    if (!err && rename(tmp, p) < 0) /* readers see old or new, never half */
        err = -errno;
    if (err)
        unlink(tmp);
    return err;
}

static int sim_store_watch(struct xw_xenif *x, const char *key)
{
    struct sim *s = S(x);
    char p[PATH_MAX];
    int i, err = key_path(s, key, p);

    if (err)
        return err;
    if (s->ino_fd < 0) {
        if (snprintf(p, sizeof(p), "%s/xs", s->dir) >= (int)sizeof(p))
            return -ENAMETOOLONG;
        s->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (s->ino_fd < 0)
            return -errno;
        if (inotify_add_watch(s->ino_fd, p, IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE) < 0)
            return -errno;
    }
    for (i = 0; i < MAX_WATCHES; i++)
        if (!s->watches[i]) {
            s->watches[i] = strdup(key);
            return s->watches[i] ? 0 : -ENOMEM;
        }
    return -ENOSPC;
}

static int sim_store_unwatch(struct xw_xenif *x, const char *key)
{
    struct sim *s = S(x);
    int i;

    for (i = 0; i < MAX_WATCHES; i++)
        if (s->watches[i] && !strcmp(s->watches[i], key)) {
            free(s->watches[i]);
            s->watches[i] = NULL;
            return 0;
        }
    return -ENOENT;
}

static int sim_store_watch_fd(struct xw_xenif *x) { return S(x)->ino_fd < 0 ? -EINVAL : S(x)->ino_fd; }

/* Is the escaped file name a watched key (or below one, as xenstore watches)? */
static int watched(struct sim *s, const char *name, char *buf, size_t len)
{
    char key[256];
    size_t i, kl;

    snprintf(key, sizeof(key), "%s", name);
    for (i = 0; key[i]; i++)
        if (key[i] == '%')
            key[i] = '/';
    for (i = 0; i < MAX_WATCHES; i++) {
        if (!s->watches[i])
            continue;
        kl = strlen(s->watches[i]);
        if (!strncmp(key, s->watches[i], kl) && (key[kl] == 0 || key[kl] == '/')) {
            snprintf(buf, len, "%s", key);
            return (int)strlen(key);
        }
    }
    return -1;
}

static int sim_store_read_watch(struct xw_xenif *x, char *buf, size_t len)
{
    struct sim *s = S(x);
    const struct inotify_event *ev;
    ssize_t n;
    int r;

    if (s->ino_fd < 0)
        return -EINVAL;
    for (;;) {
        if (s->ino_off >= s->ino_len) {
            n = read(s->ino_fd, s->ino_buf, sizeof(s->ino_buf));
            if (n <= 0)
                return n < 0 && errno != EAGAIN ? -errno : -EAGAIN;
            s->ino_len = (size_t)n;
            s->ino_off = 0;
        }
        ev = (const struct inotify_event *)(s->ino_buf + s->ino_off);
        s->ino_off += sizeof(*ev) + ev->len;
        if (ev->len && !strstr(ev->name, ".tmp") && (r = watched(s, ev->name, buf, len)) >= 0)
            return r;
    }
}

/* ---- open / close ---- */

static void sim_close(struct xw_xenif *x)
{
    struct sim *s = S(x);
    struct mapping *mp;
    uint32_t i;

    while (s->shares)
        sim_unshare(x, s->shares->addr, s->shares->count);
    while ((mp = s->maps)) {
        s->maps = mp->next;
        munmap(mp->addr, (size_t)mp->count << XW_PAGE_SHIFT);
        free(mp);
    }
    for (i = 0; s->peer_evt && s->peer_gnt && s->peer_lock && i <= XW_SIM_MAX_DOMID; i++) {
        if (s->peer_evt[i])
            munmap(s->peer_evt[i], EVT_BYTES);
        if (s->peer_gnt[i])
            munmap(s->peer_gnt[i], GNT_BYTES);
        if (s->peer_lock[i] >= 0)
            close(s->peer_lock[i]);
    }
    for (i = 0; i < MAX_WATCHES; i++)
        free(s->watches[i]);
    if (s->evt) {
        memset((void *)s->evt->port, 0, sizeof(s->evt->port));
        munmap(s->evt, EVT_BYTES);
    }
    if (s->gnt)
        munmap(s->gnt, GNT_BYTES);
    if (s->sock >= 0)
        close(s->sock);
    if (s->ino_fd >= 0)
        close(s->ino_fd);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* last: the id is free again */
    free(s->peer_evt);
    free(s->peer_gnt);
    free(s->peer_lock);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static const struct xw_xenif_ops sim_ops = {
    .name = "sim",
    .close = sim_close,
    .share = sim_share,
    .share_notify = sim_share_notify,
    .unshare = sim_unshare,
    .map = sim_map,
    .map_notify = sim_map_notify,
    .unmap = sim_unmap,
    .evtchn_fd = sim_evtchn_fd,
    .evtchn_alloc_unbound = sim_alloc_unbound,
    .evtchn_bind = sim_bind,
    .evtchn_notify = sim_evtchn_notify,
    .evtchn_pending = sim_pending,
    .evtchn_unmask = sim_unmask,
    .evtchn_unbind = sim_unbind,
    .evtchn_peer_alive = sim_peer_alive,
    .store_read = sim_store_read,
    .store_write = sim_store_write,
    .store_watch = sim_store_watch,
    .store_unwatch = sim_store_unwatch,
    .store_watch_fd = sim_store_watch_fd,
    .store_read_watch = sim_store_read_watch,
    .domain_alive = sim_domain_alive,
};

static int open_sock(struct sim *s)
{
    struct sockaddr_un sa;
    socklen_t len;
    int sz = 1 << 16;

    s->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->sock < 0)
        return -errno;
    setsockopt(s->sock, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    sock_name(s, s->pub.domid, &sa, &len);
    if (bind(s->sock, (struct sockaddr *)&sa, len) < 0)
        return errno == EADDRINUSE ? -EADDRINUSE : -errno;
    return 0;
}

static int alloc_sim(const char *dir, struct sim **out)
{
    struct sim *s = calloc(1, sizeof(*s));
    uint32_t i;

    if (!s)
        return -ENOMEM;
    s->lock_fd = s->sock = s->ino_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    s->peer_evt = calloc(XW_SIM_MAX_DOMID + 1, sizeof(*s->peer_evt));
    s->peer_gnt = calloc(XW_SIM_MAX_DOMID + 1, sizeof(*s->peer_gnt));
    s->peer_lock = malloc((XW_SIM_MAX_DOMID + 1) * sizeof(*s->peer_lock));
    *out = s;
    if (!s->peer_evt || !s->peer_gnt || !s->peer_lock)
        return -ENOMEM;
    for (i = 0; i <= XW_SIM_MAX_DOMID; i++)
        s->peer_lock[i] = -1;
    s->pub.ops = &sim_ops;
    s->pub.kind = XW_XENIF_SIM;
    s->port_hint = s->gnt_hint = 1;
    snprintf(s->dir, sizeof(s->dir), "%s", dir);
    return 0;
}

/* Grant objects are closed after mmap and events share one fd, but a process
 * with many peers still benefits from the hard limit. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int xw_xenif_open_sim(const char *dir, int requested_domid, struct xw_xenif **out)
{
    char p[PATH_MAX];
    struct sim *s = NULL;
    int err;

    if (!dir || !dir[0] || strlen(dir) > PATH_MAX - 64)
        return -EINVAL;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    if (snprintf(p, sizeof(p), "%s/xs", dir) >= (int)sizeof(p))
        return -ENAMETOOLONG;
    if (mkdir(p, 0700) < 0 && errno != EEXIST)
        return -errno;
    err = alloc_sim(dir, &s);
    if (err)
        goto out_close;
    err = host_token(s);
    if (err)
        goto out_close;
    err = claim_domid(s, requested_domid);
    if (err)
        goto out_close;
    err = -ENOMEM;
    s->evt = map_state(s, "evt", s->pub.domid, EVT_BYTES, true, true);
    s->gnt = map_state(s, "gnt", s->pub.domid, GNT_BYTES, true, true);
    if (!s->evt || !s->gnt)
        goto out_close;
    s->evt->magic = EVT_MAGIC;
    err = open_sock(s);
    if (err)
        goto out_close;
    scan_dead(s);
    raise_nofile();
    *out = &s->pub;
    return 0;
out_close:
    if (s)
        sim_close(&s->pub);
    return err;
}

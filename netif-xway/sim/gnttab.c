/* The sim backend's grant tables (xengntshr_* / xengnttab_*).
 *
 * A share call creates one shared-memory object g<ID>-<OBJ> of count pages
 * and fills count consecutive entries of our dom<ID>.gnt, each naming the
 * grantee, the object and a page.  A mapper reads the granter's table
 * (read-only), checks each entry against Xen's rules (in use, granted to the
 * mapper, writable only if granted so) and mmaps the object's pages; the fd
 * is closed right after.  Unshare revokes the entries and unlinks the object:
 * later maps fail, existing mappings keep their pages until unmapped.
 *
 * Unshare with keep (a channel whose peer has unmapped it) revokes the
 * entries but keeps the object, renamed k<ID>-<OBJ> (no grant names it), and
 * our mapping, at most KEEP_MAX of them.  A later share_kept of as many pages
 * with the same domain takes them back as they are, instead of creating an
 * object (tmpfs allocates and zeroes its pages: ~50 us for a 512 KiB ring, and
 * as much again to unmap and free them); a plain share never does.  Only the
 * same grantee: the contents are what it and we wrote to each other.
 *
 * An entry is published by writing state last (release); a reader that loads
 * state (acquire), reads the rest and finds state unchanged has a consistent
 * entry.  The generation in state makes a revoked-then-reused entry differ.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim.h"

#define KEEP_MAX 8

/* What we shared, by the address share returned, with what to do on unshare
 * (-1: nothing); grantee for a kept one. */
struct gnt_share {
    struct gnt_share *next;
    void *addr;
    uint32_t count, first_ref, obj, grantee;
    int notify_offset, notify_port;
};

/* What we mapped, with what to do on unmap (-1: nothing); dom and obj name
 * the page of a notification's record (notify.c). */
struct gnt_mapping {
    struct gnt_mapping *next;
    void *addr;
    uint32_t count, dom, obj;
    int notify_offset, notify_port;
};

int xw_sim_gnttab_open(struct xw_sim *s)
{
    s->gnt = xw_sim_map_state(s, "gnt", s->pub.domid, GNT_BYTES, true, true, &s->gnt_fd);
    return s->gnt ? 0 : -ENOMEM;
}

/* A kept object's end: its file and our mapping. */
static void drop_kept(struct xw_sim *s, struct gnt_share *sh)
{
    char p[PATH_MAX];

    if (!s->retired && !xw_sim_path(s, p, "k%u-%u", s->pub.domid, sh->obj))
        unlink(p);
    munmap(sh->addr, (size_t)sh->count << XW_PAGE_SHIFT);
    free(sh);
}

static void drop_all_kept(struct xw_sim *s)
{
    struct gnt_share *sh;

    while ((sh = s->kept)) {
        s->kept = sh->next;
        drop_kept(s, sh);
    }
    s->nkept = 0;
}

/* Rename our object obj from one kind to the other ('g' granted, 'k' kept). */
static int rename_obj(struct xw_sim *s, uint32_t obj, char from, char to)
{
    char a[PATH_MAX], b[PATH_MAX];

    if (xw_sim_path(s, a, "%c%u-%u", from, s->pub.domid, obj) ||
        xw_sim_path(s, b, "%c%u-%u", to, s->pub.domid, obj))
        return -ENAMETOOLONG;
    return rename(a, b) ? -errno : 0;
}

/* A kept object of count pages last shared with domid, off the list and
 * named for grants again.  Caller holds mu. */
static struct gnt_share *take_kept(struct xw_sim *s, uint32_t domid, uint32_t count)
{
    for (struct gnt_share **pp = &s->kept; *pp; pp = &(*pp)->next)
        if ((*pp)->grantee == domid && (*pp)->count == count) {
            struct gnt_share *sh = *pp;
            *pp = sh->next;
            s->nkept--;
            if (rename_obj(s, sh->obj, 'k', 'g') == 0)
                return sh;
            drop_kept(s, sh); /* (someone removed it: not ours to trust) */
            return NULL;
        }
    return NULL;
}

/* Revoke what we shared, drop what we mapped (without the unmap
 * notifications: channels unmap explicitly before closing). */
void xw_sim_gnttab_close(struct xw_sim *s)
{
    struct gnt_mapping *mp;
    uint32_t i;

    while (s->shares)
        xw_sim_unshare(&s->pub, s->shares->addr, s->shares->count);
    drop_all_kept(s);
    while ((mp = s->maps)) {
        s->maps = mp->next;
        munmap(mp->addr, (size_t)mp->count << XW_PAGE_SHIFT);
        free(mp);
    }
    for (i = 0; s->peers && i <= XW_SIM_MAX_DOMID; i++)
        if (s->peers[i].gnt)
            munmap(s->peers[i].gnt, GNT_BYTES);
    if (s->gnt)
        munmap(s->gnt, GNT_BYTES);
    if (s->gnt_fd >= 0)
        close(s->gnt_fd);
}

/* A dead domain's grants: its table zeroed, its objects deleted (mappers keep
 * the pages through their own mappings). */
void xw_sim_gnttab_reclaim(struct xw_sim *s, uint32_t id)
{
    char prefix[32];
    struct dirent *de;
    DIR *d;

    xw_sim_zero_state(s, "gnt", id, GNT_BYTES, false);
    snprintf(prefix, sizeof(prefix), "g%u-", id);
    d = opendir(s->dir);
    if (!d)
        return;
    while ((de = readdir(d)))
        if (!strncmp(de->d_name, prefix, strlen(prefix)) ||
            (de->d_name[0] == 'k' && !strncmp(de->d_name + 1, prefix + 1, strlen(prefix) - 1)))
            unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
}

/* ---- sharing ---- */

/* A run of count consecutive free entries (so a mapper can mmap them in one
 * go), searched from the hint, then from the start.  Caller holds mu. */
static int alloc_grefs(struct xw_sim *s, uint32_t count)
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

/* The grant-table pages that entries first..first+count-1 live in, allocated
 * before the entries are written (xw_sim_reserve).  Caller holds mu. */
static int reserve_grefs(struct xw_sim *s, uint32_t first, uint32_t count)
{
    size_t pg, last = ((size_t)(first + count) * sizeof(struct gnt_entry) - 1) >> XW_PAGE_SHIFT;
    int err;

    for (pg = ((size_t)first * sizeof(struct gnt_entry)) >> XW_PAGE_SHIFT; pg <= last; pg++) {
        if (s->gnt_reserved[pg / 64] & (1ull << (pg % 64)))
            continue;
        err = xw_sim_reserve(s->gnt_fd, (off_t)pg << XW_PAGE_SHIFT, XW_PAGE_SIZE);
        if (err)
            return err;
        s->gnt_reserved[pg / 64] |= 1ull << (pg % 64);
    }
    return 0;
}

/* The object's pages are allocated before they are mapped: on a full sim host
 * sharing fails (-ENOSPC) instead of the first touch raising SIGBUS. */
static int new_object(struct xw_sim *s, uint32_t obj, uint32_t count, void **addr)
{
    size_t len = (size_t)count << XW_PAGE_SHIFT;
    char p[PATH_MAX];
    void *m = MAP_FAILED;
    int fd, err;

    if (xw_sim_path(s, p, "g%u-%u", s->pub.domid, obj))
        return -ENAMETOOLONG;
    fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == ENOSPC || errno == EMFILE || errno == ENFILE ? -ENOSPC : -errno;
    err = xw_sim_created(s, fd, NULL);
    if (!err)
        err = xw_sim_reserve(fd, 0, (off_t)len);
    if (!err) {
        m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        err = m == MAP_FAILED ? -ENOMEM : 0;
    }
    close(fd); /* the fd budget: one mapping, no fd */
    if (err)
        unlink(p);
    else
        *addr = m;
    return err;
}

/* Publish entries first..first+count-1 for sh.  Caller holds mu. */
static void grant(struct xw_sim *s, const struct gnt_share *sh, uint32_t domid, int writable,
                  uint32_t *refs)
{
    uint32_t i, gen;

    for (i = 0; i < sh->count; i++) {
        struct gnt_entry *e = &s->gnt[sh->first_ref + i];

        gen = (atomic_load(&e->state) >> 8) + 1;
        e->grantee = domid;
        e->obj = sh->obj;
        e->page = i;
        atomic_store_explicit(&e->state, gen << 8 | GNT_INUSE | (writable ? 0 : GNT_RO),
                              memory_order_release);
        refs[i] = sh->first_ref + i;
    }
}

static int share_pages(struct xw_xenif *x, uint32_t domid, uint32_t count, int writable,
                       uint32_t *refs, void **addr, bool reuse)
{
    struct xw_sim *s = xw_sim_of(x);
    struct gnt_share *sh, *kept;
    int first, err;

    if (!count || count > XW_SIM_MAX_GREFS / 2 || domid > XW_SIM_MAX_DOMID)
        return -EINVAL;
    sh = calloc(1, sizeof(*sh));
    if (!sh)
        return -ENOMEM;
    xw_sim_lock(&s->mu);
    first = alloc_grefs(s, count);
    if (first < 0) {
        err = first;
        goto out_unlock;
    }
    err = reserve_grefs(s, (uint32_t)first, count);
    if (err)
        goto out_unlock;
    kept = reuse ? take_kept(s, domid, count) : NULL;
    if (kept) {
        free(sh);
        sh = kept;
    } else {
        sh->obj = ++s->next_obj;
        err = new_object(s, sh->obj, count, &sh->addr);
        if (err == -ENOSPC && s->kept) { /* the host is full: kept pages first */
            drop_all_kept(s);
            err = new_object(s, sh->obj, count, &sh->addr);
        }
        if (err)
            goto out_unlock;
    }
    sh->count = count;
    sh->grantee = domid;
    sh->first_ref = (uint32_t)first;
    sh->notify_offset = sh->notify_port = -1;
    grant(s, sh, domid, writable, refs);
    sh->next = s->shares;
    s->shares = sh;
    *addr = sh->addr;
    xw_sim_unlock(&s->mu);
    return 0;
out_unlock:
    xw_sim_unlock(&s->mu);
    free(sh);
    return err;
}

int xw_sim_share(struct xw_xenif *x, uint32_t domid, uint32_t count, int writable,
                 uint32_t *refs, void **addr)
{
    return share_pages(x, domid, count, writable, refs, addr, false);
}

int xw_sim_share_kept(struct xw_xenif *x, uint32_t domid, uint32_t count, int writable,
                      uint32_t *refs, void **addr)
{
    return share_pages(x, domid, count, writable, refs, addr, true);
}

/* The notification runs on unshare, or for our dead process (notify.c). */
int xw_sim_share_notify(struct xw_xenif *x, uint32_t domid, int writable, uint32_t *ref,
                        int notify_offset, int notify_port, void **addr)
{
    struct xw_sim *s = xw_sim_of(x);
    struct gnt_share *sh;
    int err;

    if (notify_offset >= (int)XW_PAGE_SIZE || notify_port >= XW_SIM_MAX_PORTS)
        return -EINVAL;
    err = xw_sim_share(x, domid, 1, writable, ref, addr);
    if (err)
        return err;
    xw_sim_lock(&s->mu);
    for (sh = s->shares; sh && sh->addr != *addr; sh = sh->next)
        ;
    sh->notify_offset = notify_offset;
    sh->notify_port = notify_port;
    xw_sim_unlock(&s->mu);
    if (notify_port > 0)
        xw_sim_ntf_arm(s, (uint32_t)notify_port, s->pub.domid, sh->obj,
                       notify_offset >= 0 ? (uint32_t)notify_offset : UINT32_MAX);
    return 0;
}

/* Run a notification of a page we still have at addr, and drop its record. */
static void notify_now(struct xw_sim *s, uint8_t *addr, int offset, int port, uint32_t dom,
                       uint32_t obj)
{
    if (offset >= 0)
        ((volatile uint8_t *)addr)[offset] = 0;
    if (port > 0) {
        xw_sim_ntf_disarm(s, (uint32_t)port, dom, obj);
        xw_sim_evtchn_notify(&s->pub, (uint32_t)port);
    }
}

/* Revoke sh's entries (keeping their generation): future maps fail; and
 * delete its object unless kept (mappers keep its pages).  Caller holds mu. */
static void revoke_share(struct xw_sim *s, const struct gnt_share *sh, bool keep)
{
    char p[PATH_MAX];

    for (uint32_t i = 0; i < sh->count; i++) {
        struct gnt_entry *e = &s->gnt[sh->first_ref + i];
        atomic_store_explicit(&e->state, atomic_load(&e->state) & ~0xffu, memory_order_release);
    }
    if (keep)
        return;
    if (!xw_sim_path(s, p, "g%u-%u", s->pub.domid, sh->obj))
        unlink(p);
}

static int unshare_pages(struct xw_xenif *x, void *addr, uint32_t count, bool keep)
{
    struct xw_sim *s = xw_sim_of(x);
    struct gnt_share **pp, *sh = NULL, *old = NULL;

    xw_sim_lock(&s->mu);
    for (pp = &s->shares; *pp; pp = &(*pp)->next)
        if ((*pp)->addr == addr && (*pp)->count == count) {
            sh = *pp;
            *pp = sh->next;
            break;
        }
    keep = keep && sh && !s->retired;
    if (sh && !s->retired)
        revoke_share(s, sh, keep);
    if (keep && rename_obj(s, sh->obj, 'g', 'k') < 0) {
        revoke_share(s, sh, false); /* (unlinks it) */
        keep = false;
    }
    xw_sim_unlock(&s->mu);
    if (!sh)
        return -EINVAL;
    if (!s->retired)
        notify_now(s, addr, sh->notify_offset, sh->notify_port, s->pub.domid, sh->obj);
    if (!keep) {
        munmap(addr, (size_t)count << XW_PAGE_SHIFT);
        free(sh);
        return 0;
    }
    xw_sim_lock(&s->mu);
    if (s->nkept == KEEP_MAX) { /* the oldest goes */
        for (pp = &s->kept; (*pp)->next; pp = &(*pp)->next)
            ;
        old = *pp;
        *pp = NULL;
        s->nkept--;
    }
    sh->notify_offset = sh->notify_port = -1;
    sh->next = s->kept;
    s->kept = sh;
    s->nkept++;
    if (old)
        drop_kept(s, old);
    xw_sim_unlock(&s->mu);
    return 0;
}

int xw_sim_unshare(struct xw_xenif *x, void *addr, uint32_t count)
{
    return unshare_pages(x, addr, count, false);
}

int xw_sim_unshare_keep(struct xw_xenif *x, void *addr, uint32_t count)
{
    return unshare_pages(x, addr, count, true);
}

/* The domain ends for its peers (xw_sim_retire): every grant is revoked now;
 * what we shared and mapped stays mapped here until unshared / unmapped (then
 * only unmapped).  No unmap notification runs, now or later (they are
 * disarmed): as under Xen, where the process of a domain that moves does not
 * end, and its old domain's kernel runs nothing when the domain goes. */
void xw_sim_gnttab_retire(struct xw_sim *s)
{
    struct gnt_share *sh;
    struct gnt_mapping *mp;

    xw_sim_lock(&s->mu);
    for (sh = s->shares; sh; sh = sh->next)
        revoke_share(s, sh, false);
    drop_all_kept(s);
    xw_sim_unlock(&s->mu);
    for (sh = s->shares; sh; sh = sh->next)
        if (sh->notify_port > 0)
            xw_sim_ntf_disarm(s, (uint32_t)sh->notify_port, s->pub.domid, sh->obj);
    for (mp = s->maps; mp; mp = mp->next)
        if (mp->notify_port > 0)
            xw_sim_ntf_disarm(s, (uint32_t)mp->notify_port, mp->dom, mp->obj);
}


/* ---- mapping ---- */

/* Read and check one grant entry: 0 (filling obj and page), or -errno. */
static int check_gref(struct xw_sim *s, const struct gnt_entry *tab, uint32_t ref,
                      int writable, uint32_t *obj, uint32_t *page)
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

/* The granter's table pages that hold refs must be allocated before we read
 * them: reading a hole of a tmpfs file allocates a page, and on a full one
 * that is a SIGBUS.  A hole holds no entry (its refs were never shared, or a
 * hostile peer offered them): -ENOENT.  One lseek per page of refs.  (A dead
 * granter's table, punched by a reclaim between this check and the read, is
 * the one window left.) */
static int refs_backed(struct xw_sim *s, uint32_t domid, uint32_t count, const uint32_t *refs)
{
    off_t pg, last = -1, d;
    uint32_t i;
    int fd, err = 0;

    xw_sim_lock(&s->mu); /* the fd is kept, as the table's mapping is */
    fd = s->peers[domid].gnt_fd;
    if (fd < 0) {
        fd = xw_sim_open(s, O_RDONLY, "dom%u.gnt", domid);
        if (fd < 0)
            err = errno == ENOENT ? -ESRCH : -errno; /* out of fds is not a dead peer */
        else
            s->peers[domid].gnt_fd = fd;
    }
    xw_sim_unlock(&s->mu);
    if (err)
        return err;
    for (i = 0; i < count && !err; i++) {
        if (refs[i] == 0 || refs[i] >= XW_SIM_MAX_GREFS)
            continue; /* check_gref refuses it */
        pg = (off_t)((size_t)refs[i] * sizeof(struct gnt_entry)) & ~(off_t)(XW_PAGE_SIZE - 1);
        if (pg == last)
            continue;
        d = lseek(fd, pg, SEEK_DATA);
        if (d != pg)
            err = d < 0 && errno != ENXIO ? -errno : -ENOENT;
        last = pg;
    }
    return err;
}

/* mmap pages page..page+n-1 of domid's object obj at at (MAP_FIXED over our
 * reservation). */
static int map_run(struct xw_sim *s, uint32_t domid, uint8_t *at, uint32_t obj, uint32_t page,
                   uint32_t n, int writable)
{
    struct stat st;
    void *m;
    int fd, err = 0;

    fd = xw_sim_open(s, writable ? O_RDWR : O_RDONLY, "g%u-%u", domid, obj);
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

/* Map every ref into base, one mmap per run of refs that continue the same
 * object. */
static int map_refs(struct xw_sim *s, uint32_t domid, const struct gnt_entry *tab,
                    uint32_t count, const uint32_t *refs, int writable, uint8_t *base)
{
    uint32_t i, j, obj, page, o2, p2;
    int err;

    for (i = 0; i < count; i = j) {
        err = check_gref(s, tab, refs[i], writable, &obj, &page);
        if (err)
            return err;
        for (j = i + 1; j < count; j++) {
            err = check_gref(s, tab, refs[j], writable, &o2, &p2);
            if (err)
                return err;
            if (o2 != obj || p2 != page + (j - i))
                break;
        }
        err = map_run(s, domid, base + ((size_t)i << XW_PAGE_SHIFT), obj, page, j - i, writable);
        if (err)
            return err;
    }
    return 0;
}

int xw_sim_map(struct xw_xenif *x, uint32_t domid, uint32_t count, const uint32_t *refs,
               int writable, void **addr)
{
    struct xw_sim *s = xw_sim_of(x);
    struct gnt_entry *tab;
    struct gnt_mapping *mp;
    uint8_t *base;
    int err;

    if (!count || count > XW_SIM_MAX_GREFS || domid < 1 || domid > XW_SIM_MAX_DOMID)
        return -EINVAL;
    if (xw_sim_alive(s, domid) != 1)
        return -ESRCH;
    tab = xw_sim_peer_state(s, &s->peers[domid].gnt, "gnt", domid, GNT_BYTES, false);
    if (!tab)
        return -ESRCH;
    err = refs_backed(s, domid, count, refs);
    if (err)
        return err;
    mp = calloc(1, sizeof(*mp));
    if (!mp)
        return -ENOMEM;
    base = mmap(NULL, (size_t)count << XW_PAGE_SHIFT, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
                -1, 0);
    if (base == MAP_FAILED) {
        err = -ENOMEM;
        goto out_free;
    }
    err = map_refs(s, domid, tab, count, refs, writable, base);
    if (err)
        goto out_unmap;
    mp->addr = base;
    mp->count = count;
    mp->notify_offset = mp->notify_port = -1;
    xw_sim_lock(&s->mu);
    mp->next = s->maps;
    s->maps = mp;
    xw_sim_unlock(&s->mu);
    *addr = base;
    return 0;
out_unmap:
    munmap(base, (size_t)count << XW_PAGE_SHIFT);
out_free:
    free(mp);
    return err;
}

int xw_sim_map_set_notify(struct xw_xenif *x, void *addr, uint32_t domid, uint32_t ref,
                          int writable, int notify_offset, int notify_port)
{
    struct xw_sim *s = xw_sim_of(x);
    struct gnt_mapping *mp;
    uint32_t obj, page;
    bool found = false;

    if (notify_offset >= (int)XW_PAGE_SIZE || (notify_offset >= 0 && !writable) ||
        notify_port >= XW_SIM_MAX_PORTS || domid < 1 || domid > XW_SIM_MAX_DOMID ||
        !s->peers[domid].gnt)
        return -EINVAL;
    /* The page's object, for the record (revoked meanwhile: as a failed map). */
    if (check_gref(s, s->peers[domid].gnt, ref, writable, &obj, &page))
        return -ENOENT;
    xw_sim_lock(&s->mu);
    for (mp = s->maps; mp; mp = mp->next)
        if (mp->addr == addr && mp->count == 1 && mp->notify_port < 0 && mp->notify_offset < 0) {
            mp->notify_offset = notify_offset;
            mp->notify_port = notify_port;
            mp->dom = domid;
            mp->obj = obj;
            found = true;
            break;
        }
    xw_sim_unlock(&s->mu);
    if (!found)
        return -EINVAL;
    if (notify_port > 0)
        xw_sim_ntf_arm(s, (uint32_t)notify_port, domid, obj,
                       notify_offset >= 0 ? page << XW_PAGE_SHIFT | (uint32_t)notify_offset
                                          : UINT32_MAX);
    return 0;
}

int xw_sim_map_notify(struct xw_xenif *x, uint32_t domid, uint32_t ref, int writable,
                      int notify_offset, int notify_port, void **addr)
{
    int err;

    if (notify_offset >= (int)XW_PAGE_SIZE || (notify_offset >= 0 && !writable) ||
        notify_port >= XW_SIM_MAX_PORTS)
        return -EINVAL;
    err = xw_sim_map(x, domid, 1, &ref, writable, addr);
    if (err)
        return err;
    err = xw_sim_map_set_notify(x, *addr, domid, ref, writable, notify_offset, notify_port);
    if (err) {
        xw_sim_unmap(x, *addr, 1);
        return err == -EINVAL ? -ENOENT : err;
    }
    return 0;
}

int xw_sim_unmap(struct xw_xenif *x, void *addr, uint32_t count)
{
    struct xw_sim *s = xw_sim_of(x);
    struct gnt_mapping **pp, *mp = NULL;

    xw_sim_lock(&s->mu);
    for (pp = &s->maps; *pp; pp = &(*pp)->next)
        if ((*pp)->addr == addr && (*pp)->count == count) {
            mp = *pp;
            *pp = mp->next;
            break;
        }
    xw_sim_unlock(&s->mu);
    if (!mp)
        return -EINVAL;
    if (!s->retired)
        notify_now(s, addr, mp->notify_offset, mp->notify_port, mp->dom, mp->obj);
    munmap(addr, (size_t)count << XW_PAGE_SHIFT);
    free(mp);
    return 0;
}

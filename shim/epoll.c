/* epoll over xway sockets.
 *
 * A ring socket's readiness is in its ring's indices, so the shim's epoll set
 * keeps its ring members itself and looks at them in user space (the stack's
 * xw_poll_look): what is ready now costs no system call, and level, edge,
 * one-shot are emulated here as Linux defines them for sockets.  Every other
 * member is the kernel's, registered in the kernel's epoll as the application
 * asked: kernel fds, and xway sockets whose readiness is their readiness fd's
 * (listeners, the TCP path, connections not yet connected: these are looked
 * at again at each wait, and leave the kernel's set once on the ring).
 *
 * The set sleeps in the kernel's epoll: on those, and on its waiter's eventfd
 * (stack/sock/waiter.h), registered edge-triggered with a random cookie as its
 * data.  Before it sleeps the set arms its waiter and its ring members'
 * channels and looks once more; a ring member's next event then writes the
 * eventfd, once.  A set inside another set or in poll() is "primed" the same
 * way before the outer wait sleeps, and the eventfd makes its fd readable.
 *
 * Before fork or exec every ring member goes back into the kernel's set (the
 * connections are handed to their fds: fork.c), where the kernel watches it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "barrier.h"
#include "channel.h"
#include "polling.h"
#include "shim.h"
#include "spin.h"
#include "stack.h"
#include "waiter.h"
#include "xway.h"

/* What Linux accepts with EPOLLEXCLUSIVE. */
#define EXCL_OK (EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE)
#define ALWAYS ((uint32_t)(EPOLLERR | EPOLLHUP))
#define NEST_MAX 4 /* sets inside sets primed this deep */

struct member {
    int fd;            /* the application's number */
    int key;           /* ring: the xway socket's number */
    uint64_t tok;      /* ring: the socket's identity (polling.h) */
    unsigned gen;      /* ring: the number's generation when it joined */
    bool ring;         /* looked at here; else registered in the kernel's set */
    bool undecided;    /* kernel: an xway connection that may yet be on the ring */
    bool off;          /* ring, EPOLLONESHOT: reported, until MOD */
    bool fresh;        /* ring, EPOLLET: report the state once (ADD, MOD) */
    uint8_t idle;      /* ring: looks in a row that found nothing to report */
    int swap;          /* xs_epoll_swap: 1 to register again, 2 to forget */
    uint32_t last;     /* ring: the mask at the last look */
    uint32_t mk[2];    /* ring: the marks at the last look */
    struct epoll_event ev;
};

struct xs_epset {
    pthread_mutex_t lock;
    _Atomic unsigned spin_us; /* its waits' adaptive spin (spin.h) */
    int n, cap;
    struct member *m;
    int nring, nundecided, nnested;
    int nkern;                /* the application's registrations in the kernel's set */
    struct xw_waiter *w;      /* its eventfd in the kernel's set; NULL: none yet */
    uint64_t cookie;          /* the eventfd's data; cookie + 1: the event fd's */
    int evfd;                 /* the stack's event fd in the kernel's set, or -1 */
    _Atomic unsigned seen;    /* w->signals already consumed */
    unsigned rot, skip, phase;
    _Atomic int sleepers;
};

static struct member *find(struct xs_epset *s, int fd)
{
    for (int i = 0; i < s->n; i++)
        if (s->m[i].fd == fd)
            return &s->m[i];
    return NULL;
}

static void forget(struct xs_epset *s, struct member *m)
{
    if (m->ring) {
        s->nring--;
        XS_STACK_CALL(xw_watch(m->key, m->tok, s->w, false));
    } else if (m->undecided) {
        s->nundecided--;
    } else if (m->swap < 0) {
        s->nnested--;
    }
    *m = s->m[--s->n];
}

static void inline_events(int epfd, struct xs_epset *s, bool joins);

void xs_epset_free(struct xs_epset *s)
{
    if (!s)
        return;
    while (s->n)
        forget(s, &s->m[0]);
    pthread_mutex_destroy(&s->lock);
    free(s->m);
    if (s->w) {
        inline_events(-1, s, false);
        XS_STACK_CALL((xw_waiter_put(s->w), 0));
    }
    free(s);
}

static struct xs_epset *set_of(int epfd, bool create)
{
    struct xs_fd *e = create ? xs_fd_get(epfd) : xs_fd_peek(epfd);
    struct xs_epset *s, *fresh;

    if (!e)
        return NULL;
    s = atomic_load(&e->ep);
    if (s || !create || !(fresh = calloc(1, sizeof(*fresh))))
        return s;
    pthread_mutex_init(&fresh->lock, NULL);
    fresh->evfd = -1;
    if (getrandom(&fresh->cookie, sizeof(fresh->cookie), GRND_NONBLOCK) != sizeof(fresh->cookie))
        fresh->cookie = (uint64_t)(uintptr_t)fresh ^ 0x9e3779b97f4a7c15ull;
    if (!atomic_compare_exchange_strong(&e->ep, &s, fresh)) {
        pthread_mutex_destroy(&fresh->lock);
        free(fresh);
        return s;
    }
    return fresh;
}

static struct member *add(struct xs_epset *s, int fd, const struct epoll_event *ev)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        struct member *nm = realloc(s->m, (size_t)cap * sizeof(*nm));
        if (!nm)
            return NULL;
        s->m = nm;
        s->cap = cap;
    }
    s->m[s->n] = (struct member){ .fd = fd, .key = -1, .ev = *ev };
    return &s->m[s->n++];
}

/* The stack's event fd in a set's kernel set (edge-triggered): a sleep it
 * ends takes the process's ring events itself (ring_events.h), a thread
 * switch earlier than through the dispatcher, which still takes whatever the
 * sleep does not.  Only while the set is the only one of the process with a
 * waiter: threads with sets of their own (memcached's workers) would wake for
 * each other's events (one event fd per process), and contend for the stack
 * to take them. */
static pthread_mutex_t inline_lock = PTHREAD_MUTEX_INITIALIZER;
static struct xs_epset *inline_set; /* the set that has it, or NULL */
static int inline_epfd, nwaiting;   /* sets with a waiter */

static void inline_events(int epfd, struct xs_epset *s, bool joins)
{
    struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = s->cookie + 1 };

    pthread_mutex_lock(&inline_lock);
    nwaiting += joins ? 1 : -1;
    if (joins && nwaiting == 1 && (s->evfd = XS_STACK_CALL(xw_rev_wait_fd())) >= 0) {
        if (xs_real.epoll_ctl(epfd, EPOLL_CTL_ADD, s->evfd, &ev) == 0) {
            inline_set = s;
            inline_epfd = epfd;
        } else {
            s->evfd = -1;
        }
    } else if (inline_set && (joins || inline_set == s)) {
        xs_real.epoll_ctl(inline_epfd, EPOLL_CTL_DEL, inline_set->evfd, NULL);
        inline_set->evfd = -1;
        inline_set = NULL;
    }
    pthread_mutex_unlock(&inline_lock);
}

/* The set's waiter, its eventfd in the kernel's set (lock held).  0, -errno
 * (epfd is no epoll fd: the kernel's EBADF or EINVAL). */
static int waiter_of(int epfd, struct xs_epset *s)
{
    struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = s->cookie };

    if (s->w)
        return 0;
    if (!(s->w = XS_STACK_CALL(xw_waiter_new())))
        return -errno;
    if (xs_real.epoll_ctl(epfd, EPOLL_CTL_ADD, s->w->efd, &ev) < 0 && errno != EEXIST) {
        int e = errno;
        XS_STACK_CALL((xw_waiter_put(s->w), 0));
        s->w = NULL;
        return -e;
    }
    inline_events(epfd, s, true);
    return 0;
}

/* Member m (in the kernel's set, or new) is a ring socket now: watch it here
 * (lock held).  0, or -1: it stays as it is. */
static int to_ring(int epfd, struct xs_epset *s, struct member *m, int key, bool in_kernel)
{
    uint64_t tok = 0;
    struct xs_fd *e = xs_fd_peek(m->fd);
    uint32_t mask, mk[2];
    int zero = 0;

    if (!e || waiter_of(epfd, s) < 0 ||
        XS_STACK_CALL(xw_poll_look(key, &tok, 0, &mask, mk)) != 0 ||
        XS_STACK_CALL(xw_watch(key, tok, s->w, true)) != 0)
        return -1;
    if (in_kernel)
        xs_real.epoll_ctl(epfd, EPOLL_CTL_DEL, m->fd, NULL);
    if (m->undecided)
        s->nundecided--;
    /* Its fd no longer needs to follow the ring (a kick per message). */
    xway_setsockopt(key, XWAY_SOL, XWAY_POLLED, &zero, sizeof(zero));
    m->key = key;
    m->tok = tok;
    m->gen = atomic_load(&e->gen);
    m->ring = true;
    m->undecided = false;
    m->off = false;
    m->fresh = true;
    m->last = 0;
    m->mk[0] = mk[0];
    m->mk[1] = mk[1];
    s->nring++;
    return 0;
}

/* Ring member m into the kernel's set as the application registered it (its
 * number is a kernel fd now, or for fork): true if it is there. */
static bool to_kernel(int epfd, struct xs_epset *s, struct member *m)
{
    struct epoll_event ev = m->ev;

    if (m->off)
        ev.events &= (uint32_t)EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE; /* fired: none */
    XS_STACK_CALL(xw_watch(m->key, m->tok, s->w, false));
    m->ring = false;
    s->nring--;
    if (xs_real.epoll_ctl(epfd, EPOLL_CTL_ADD, m->fd, &ev) < 0 && errno != EEXIST)
        return false;
    s->nkern++;
    return true;
}

/* The undecided members that are on the ring now leave the kernel's set;
 * those decided otherwise are left to it (lock held). */
static void decide(int epfd, struct xs_epset *s)
{
    for (int i = 0; i < s->n && s->nundecided; i++) {
        struct member *m = &s->m[i];
        int key, r;
        uint64_t tok = 0;
        uint32_t mask, mk[2];

        if (!m->undecided)
            continue;
        key = xs_route(m->fd);
        r = key >= 0 ? XS_STACK_CALL(xw_poll_look(key, &tok, 0, &mask, mk)) : -ENOTSOCK;
        if (r == 0 && to_ring(epfd, s, m, key, true) == 0) {
            s->nkern--;
            continue;
        }
        if (r != -EAGAIN) {
            m->undecided = false;
            s->nundecided--;
        }
    }
}

/* A member added or re-armed while threads sleep in the set: they look again
 * (as the kernel wakes them for a ready one). */
static void woken(struct xs_epset *s)
{
    if (s->w && atomic_load(&s->sleepers))
        XS_STACK_CALL((xw_waiter_kick(s->w), 0));
}

/* epoll_ctl on an xway socket: on a ring socket, done here with the kernel's
 * errors (0, -errno); 1: the kernel's to do. */
static int ring_ctl(int epfd, struct xs_epset *s, int op, int fd, int key,
                    const struct epoll_event *ev)
{
    struct member *m = find(s, fd);
    uint32_t want = ev ? ev->events : 0;

    if (fd == epfd)
        return -EINVAL;
    if (op != EPOLL_CTL_DEL && !ev)
        return -EFAULT;
    if (m && m->ring) {
        /* A member on a number closed since, now another socket's? */
        uint64_t tok = m->tok;
        uint32_t mask, mk[2];
        if (XS_STACK_CALL(xw_poll_look(key, &tok, 0, &mask, mk)) != 0) {
            forget(s, m);
            m = NULL;
        }
    }
    if (op == EPOLL_CTL_ADD) {
        if (m)
            return -EEXIST;
        if ((want & EPOLLEXCLUSIVE) && (want & ~(uint32_t)EXCL_OK))
            return -EINVAL;
        if (!(m = add(s, fd, ev)))
            return -ENOMEM;
        if (to_ring(epfd, s, m, key, false) < 0) {
            s->n--;
            return 1; /* (the caller asks the kernel instead) */
        }
        woken(s);
        return 0;
    }
    if (!m)
        return -ENOENT;
    if (!m->ring)
        return 1; /* the kernel's */
    if (op == EPOLL_CTL_DEL) {
        forget(s, m);
        return 0;
    }
    if (op != EPOLL_CTL_MOD)
        return -EINVAL;
    if ((want & EPOLLEXCLUSIVE) || (m->ev.events & EPOLLEXCLUSIVE))
        return -EINVAL;
    m->ev = *ev;
    m->off = false;
    m->fresh = true;
    woken(s);
    return 0;
}

/* The shim's view of a registration the kernel took (lock held). */
static void kernel_ctl(struct xs_epset *s, int op, int fd, const struct epoll_event *ev,
                       bool track, bool undecided)
{
    struct member *m = find(s, fd);

    if (op == EPOLL_CTL_ADD)
        s->nkern++;
    if (op == EPOLL_CTL_DEL && s->nkern > 0)
        s->nkern--;
    if (op == EPOLL_CTL_DEL || !track) {
        if (m)
            forget(s, m);
        return;
    }
    if (!m && !(m = add(s, fd, ev)))
        return;
    m->ev = *ev;
    if (undecided && !m->undecided)
        s->nundecided++;
    m->undecided = undecided;
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    struct xs_epset *s;
    struct xs_fd *fe;
    bool track = false, undecided = false;
    int key = -1, twin = -1, rc;

    if (xs_in_stack)
        return xs_real.epoll_ctl(epfd, op, fd, ev);
    if (!(s = set_of(epfd, true)))
        return xs_real.epoll_ctl(epfd, op, fd, ev);
    if (xs_kind_of(fd) == XS_SHARED) {
        twin = xs_twin_of(fd); /* remembered for xs_epoll_swap */
        track = true;
    } else if ((key = xs_route(fd)) >= 0) {
        pthread_mutex_lock(&s->lock);
        rc = ring_ctl(epfd, s, op, fd, key, ev);
        pthread_mutex_unlock(&s->lock);
        if (rc != 1) {
            if (rc < 0) {
                errno = -rc;
                return -1;
            }
            return 0;
        }
        track = true;
        twin = atomic_load(&xs_key_entry(key)->twin);
    } else if (xs_claimable(fd)) {
        /* A connection this child may claim becomes, on its number, a
         * socket of its own (claim.c): its registrations move then. */
        track = true;
    } else if (xs_in_child && xs_kind_of(fd) == XS_NONE) {
        /* A forked child's kernel TCP socket may become, on its number, a
         * connection or a listener of the owner's stack (outgoing.c,
         * shared.c): its registrations are kept to move them then. */
        pthread_mutex_lock(&s->lock);
        track = op != EPOLL_CTL_ADD || xs_kernel_tcp(fd) || find(s, fd);
        pthread_mutex_unlock(&s->lock);
    }
    rc = xs_real.epoll_ctl(epfd, op, fd, ev);
    if (rc < 0)
        return rc;
    if (key >= 0 && op != EPOLL_CTL_DEL) {
        /* The kernel's epoll watches its fd: keep the fd exact. */
        uint64_t tok = 0;
        uint32_t mask, mk[2];
        int one = 1;
        xway_setsockopt(key, XWAY_SOL, XWAY_POLLED, &one, sizeof(one));
        undecided = XS_STACK_CALL(xw_poll_look(key, &tok, 0, &mask, mk)) == -EAGAIN;
    }
    pthread_mutex_lock(&s->lock);
    kernel_ctl(s, op, fd, ev, track, undecided);
    if (op == EPOLL_CTL_ADD && (fe = xs_fd_peek(fd)) && atomic_load(&fe->ep) && !find(s, fd)) {
        /* Another set inside this one: primed before this one sleeps. */
        struct member *m = add(s, fd, ev);
        if (m) {
            m->swap = -1; /* (marks a nested set: never ring, never swapped) */
            s->nnested++;
        }
    }
    pthread_mutex_unlock(&s->lock);
    /* A dual listener: its kernel twin wakes the same registration. */
    if (twin >= 0) {
        struct epoll_event tev = { 0 };
        if (ev) {
            tev = *ev;
            tev.events &= ~(uint32_t)EPOLLOUT;
        }
        xs_real.epoll_ctl(epfd, op, twin, op == EPOLL_CTL_DEL ? NULL : &tev);
    }
    return rc;
}

/* ---- the registrations of one number across a change of its file ------------- */

static int swap_fd, swap_twin, swap_n;
static bool swap_member;

static void unregister(int epfd, struct xs_fd *e)
{
    struct xs_epset *s = atomic_load(&e->ep);
    struct member *m;

    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    if ((m = find(s, swap_fd)) && m->swap >= 0) {
        if (m->ring) {
            XS_STACK_CALL(xw_watch(m->key, m->tok, s->w, false));
            m->ring = false;
            s->nring--;
            m->swap = 1;
        } else {
            xs_real.epoll_ctl(epfd, EPOLL_CTL_DEL, swap_twin, NULL);
            /* Registered still, to register again; or a member left behind
             * by a file closed since (the kernel dropped it): to forget. */
            m->swap = xs_real.epoll_ctl(epfd, EPOLL_CTL_DEL, swap_fd, NULL) == 0 ? 1 : 2;
            if (m->swap == 1)
                s->nkern--;
        }
    }
    pthread_mutex_unlock(&s->lock);
}

static void reregister(int epfd, struct xs_fd *e)
{
    struct xs_epset *s = atomic_load(&e->ep);
    struct member *m;

    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    if ((m = find(s, swap_fd)) && m->swap > 0) {
        int how = m->swap;
        m->swap = 0;
        if (how == 1 && swap_member) {
            /* An xway socket of ours on the number: on the ring, or in
             * the kernel's set until it is. */
            if (to_ring(epfd, s, m, swap_fd, false) < 0 &&
                xs_real.epoll_ctl(epfd, EPOLL_CTL_ADD, swap_fd, &m->ev) == 0) {
                s->nkern++;
                if (!m->undecided)
                    s->nundecided++;
                m->undecided = true;
            }
            swap_n++;
        } else {
            if (how == 1 && xs_real.epoll_ctl(epfd, EPOLL_CTL_ADD, swap_fd, &m->ev) == 0)
                s->nkern++;
            if (m->undecided)
                s->nundecided--;
            m->undecided = false;
            *m = s->m[--s->n]; /* a kernel fd now: no longer the shim's member */
        }
    }
    pthread_mutex_unlock(&s->lock);
}

int xs_epoll_swap(int fd, int twin, bool member, int *n)
{
    int fl = xs_real.fcntl(fd, F_GETFD), r;

    swap_fd = fd;
    swap_twin = twin;
    swap_member = member;
    swap_n = 0;
    xs_fd_foreach(unregister);
    r = xs_real.dup3(twin, fd, fl > 0 && (fl & FD_CLOEXEC) ? O_CLOEXEC : 0);
    xs_fd_foreach(reregister);
    if (n)
        *n = swap_n;
    return r;
}

/* Before fork or exec (xs_lock held): every ring member back into the
 * kernel's set, which watches its fd once the connection is handed to it. */
static void unring(int epfd, struct xs_fd *e)
{
    struct xs_epset *s = atomic_load(&e->ep);

    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n; i++)
        if (s->m[i].ring && !to_kernel(epfd, s, &s->m[i]))
            forget(s, &s->m[i--]);
    pthread_mutex_unlock(&s->lock);
}

void xs_epoll_unring(void)
{
    xs_fd_foreach(unring);
}

/* ---- waiting ------------------------------------------------------------------- */

/* What ring member m reports now (lock held), 0 for nothing; *gone: it is no
 * longer what it was (closed, or handed to its fd). */
static uint32_t look(struct member *m, int arm, bool peek, bool *gone)
{
    uint32_t want, cur, mk[2];
    bool edge;

    /* (by its socket, not its number: a registration lives as long as its
     * file, whose other numbers may outlive this one, epoll(7)) */
    if (xw_poll_look(m->key, &m->tok, arm, &cur, mk) != 0) {
        *gone = true;
        return 0;
    }
    if (peek) /* (prime: is anything ready, whatever the edges) */
        return m->off ? 0 : cur & ((m->ev.events & ~(uint32_t)EPOLLET) | ALWAYS);
    want = (m->ev.events & ~(uint32_t)(EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE | EPOLLWAKEUP)) |
           ALWAYS;
    edge = m->fresh || (cur & ~m->last & want & (EPOLLRDHUP | ALWAYS)) ||
           ((want & EPOLLIN) && (cur & EPOLLIN) && (mk[0] != m->mk[0] || !(m->last & EPOLLIN))) ||
           ((want & EPOLLOUT) && (cur & EPOLLOUT) && (mk[1] != m->mk[1] || !(m->last & EPOLLOUT)));
    m->last = cur;
    m->mk[0] = mk[0];
    m->mk[1] = mk[1];
    cur &= want;
    if (!cur || m->off || ((m->ev.events & EPOLLET) && !edge))
        return 0;
    m->fresh = false;
    if (m->ev.events & EPOLLONESHOT)
        m->off = true;
    return cur;
}

/* The ring members that are no longer what they were: a number still open
 * (its connection handed to its fd) goes to the kernel's set, a closed one
 * is forgotten (lock held). */
static void bury(int epfd, struct xs_epset *s, int *gone, int ngone)
{
    for (int j = ngone - 1; j >= 0; j--) { /* (forget moves the last member) */
        struct member *m = &s->m[gone[j]];
        struct xs_fd *e = xs_fd_peek(m->fd);
        int key = xs_route(m->fd);
        uint32_t mask, mk[2];
        if (key >= 0 && key != m->key &&
            XS_STACK_CALL(xw_poll_look(key, &m->tok, 0, &mask, mk)) == 0) {
            /* The same socket (and its watchers) on another number now. */
            m->key = key;
            continue;
        }
        if (!e || atomic_load(&e->gen) != m->gen || !to_kernel(epfd, s, m))
            forget(s, m);
    }
}

/* Members that had nothing to report for COLD looks in a row are looked at
 * only every COLD_EVERY scans (each its turn), except by the scan before a
 * sleep, which looks at all: a set of many idle connections and a few busy
 * ones costs about its busy ones per call (measured: 500 idle ring
 * connections beside one busy one cut its rate from 1.08M to 49k requests/s
 * when every call looked at all).  A cold member that becomes ready is seen
 * within COLD_EVERY calls, or at once when nothing else is. */
#define COLD 16
#define COLD_EVERY 64

/* The ring members' events into ev (at most max), from where the last scan
 * stopped (lock held); arm: ask their peers to notify first (a sleep: every
 * member looked at); peek: is any ready (nothing reported, no state
 * changed); full: every member looked at.  The count; *more: some were left
 * for the next call. */
static int scan(int epfd, struct xs_epset *s, struct epoll_event *ev, int max, bool arm,
                bool peek, bool full, bool *more)
{
    int n = 0, ngone = 0, gone[16];
    unsigned phase = s->phase++;

    *more = false;
    if (!s->nring || max <= 0)
        return 0;
    full = full || arm || peek;
    for (int k = 0, i = (int)(s->rot % (unsigned)s->n); k < s->n;
         k++, i = i + 1 == s->n ? 0 : i + 1) {
        struct member *m = &s->m[i];
        uint32_t r, want;
        bool lost = false;
        int a = 0;
        /* (a fired one-shot reports nothing until MOD, which looks afresh) */
        if (!m->ring || m->off ||
            (!full && m->idle >= COLD && ((unsigned)i + phase) % COLD_EVERY))
            continue;
        want = m->ev.events;
        if (n == max) {
            *more = true;
            s->rot = (unsigned)i;
            break;
        }
        if (arm)
            a = (want & EPOLLIN ? XW_CHAN_READABLE : 0) |
                ((want & EPOLLOUT) && !(m->last & EPOLLOUT) ? XW_CHAN_WRITABLE : 0);
        r = XS_STACK_CALL(look(m, a, peek, &lost));
        if (lost && ngone < 16)
            gone[ngone++] = i;
        if (r && peek)
            return 1;
        if (!peek)
            m->idle = r ? 0 : (uint8_t)(m->idle + (m->idle < 255));
        if (r) {
            ev[n].events = r;
            ev[n++].data = m->ev.data;
        }
    }
    if (!*more)
        s->rot++;
    if (ngone && !peek) {
        for (int a = 1; a < ngone; a++) /* (ascending slots for bury) */
            for (int b = a; b > 0 && gone[b - 1] > gone[b]; b--) {
                int x = gone[b];
                gone[b] = gone[b - 1];
                gone[b - 1] = x;
            }
        bury(epfd, s, gone, ngone);
    }
    return n;
}

/* The kernel's events, the cookie's taken out.  Its count, or -1 (errno). */
static int kernel_events(struct xs_epset *s, int epfd, struct epoll_event *ev, int max,
                         int timeout, const sigset_t *mask)
{
    unsigned sig = s->w ? atomic_load(&s->w->signals) : 0;
    bool got = false, events = false;
    int r, k = 0;

    if (max <= 0)
        return 0;
    r = xs_real.epoll_pwait(epfd, ev, max, timeout, mask);
    for (int i = 0; i < r; i++)
        if (ev[i].data.u64 == s->cookie)
            got = true;
        else if (ev[i].data.u64 == s->cookie + 1)
            events = true;
        else
            ev[k++] = ev[i];
    if (events && s->evfd >= 0 && s->evfd == XS_STACK_CALL(xw_rev_wait_fd())) {
        /* (our own sleep ends here: no eventfd write for it) */
        if (s->w && atomic_load(&s->sleepers) <= 1)
            XS_STACK_CALL(xw_waiter_disarm(s->w));
        XS_STACK_CALL((xw_rev_dispatch_now(), 0));
    }
    /* The eventfd's edge is consumed (the set's fd no longer readable for
     * an outer wait) once the kernel reported it, or had room to. */
    if (got || (r >= 0 && r < max))
        atomic_store(&s->seen, sig);
    return r < 0 ? r : k;
}

/* Let the stack lower the stale readiness of the set's xway sockets in the
 * kernel's set, so that the kernel's epoll reports (and edge-triggers on)
 * their exact state (lock held). */
static void settle(struct xs_epset *s)
{
    struct pollfd small[64], *p = small;
    int n = 0, most = s->n - s->nring - s->nnested; /* (those that may be settled) */

    if (most > 64 && !(p = malloc((size_t)most * sizeof(*p))))
        return;
    for (int i = 0; i < s->n; i++) {
        int key;
        uint32_t ev = s->m[i].ev.events;
        if (s->m[i].ring || s->m[i].swap < 0 || (key = xs_route(s->m[i].fd)) < 0)
            continue;
        p[n++] = (struct pollfd){ .fd = key, .events = (short)(((ev & EPOLLIN) ? POLLIN : 0) |
                                                              ((ev & EPOLLOUT) ? POLLOUT : 0)) };
    }
    if (n)
        XS_STACK_CALL(xw_poll_settle(p, (nfds_t)n));
    if (p != small)
        free(p);
}

static void prime(int fd, int depth);

/* Before a sleep (lock held): arm the waiter, then the ring members (the
 * scan), and prime the sets inside this one.  The events found meanwhile. */
static int arm_all(int epfd, struct xs_epset *s, struct epoll_event *ev, int max, int depth,
                   bool peek, bool *more)
{
    int n;

    if (s->w)
        XS_STACK_CALL((xw_waiter_arm(s->w), 0));
    n = scan(epfd, s, ev, max, true, peek, true, more);
    for (int i = 0; s->nnested && i < s->n; i++)
        if (s->m[i].swap < 0)
            prime(s->m[i].fd, depth + 1);
    return n;
}

/* Set fd sits in another wait (an outer set, poll): its fd must be readable
 * in the kernel while a ring member of it is ready. */
static void prime(int fd, int depth)
{
    struct xs_epset *s = depth < NEST_MAX ? set_of(fd, false) : NULL;
    struct epoll_event ev[8];
    bool more;

    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    /* (a peek: the set's own wait reports and moves its edges) */
    if ((s->nring || s->nnested) && waiter_of(fd, s) == 0 &&
        arm_all(fd, s, ev, 8, depth, true, &more) > 0 && XS_STACK_CALL(xw_waiter_disarm(s->w)))
        XS_STACK_CALL((xw_waiter_kick(s->w), 0));
    pthread_mutex_unlock(&s->lock);
}

void xs_epoll_prime(int fd)
{
    prime(fd, 0);
}

bool xs_epoll_has_ring(int fd)
{
    struct xs_epset *s = set_of(fd, false);

    return s && (s->nring || s->nnested);
}

/* Spin on the ring members for the set's adaptive budget: events found. */
struct spin_arg {
    int epfd;
    struct xs_epset *s;
    struct epoll_event *ev;
    int max;
    bool *more;
};

static int spin_look(void *arg)
{
    struct spin_arg *a = arg;
    int n;

    pthread_mutex_lock(&a->s->lock);
    n = a->s->nring ? scan(a->epfd, a->s, a->ev, a->max, false, false, false, a->more) : -1;
    pthread_mutex_unlock(&a->s->lock);
    return n;
}

static int spin(int epfd, struct xs_epset *s, struct epoll_event *ev, int max, bool *more)
{
    unsigned cap = (unsigned)XS_STACK_CALL(xw_stack_config()->spin_us);
    struct spin_arg a = { epfd, s, ev, max, more };
    int n;

    if (!cap)
        return 0;
    n = XS_STACK_CALL(xw_spin(&s->spin_us, cap, UINT64_MAX, spin_look, &a));
    return n > 0 ? n : 0;
}

/* A thread leaves the set's sleep (lock held).  The waiter stays armed while
 * other threads sleep on (one signal wakes one of them); ready members left
 * over (max reached) wake one of them. */
static void leave(struct xs_epset *s, bool more)
{
    int others = atomic_fetch_sub(&s->sleepers, 1) - 1;

    if (!s->w)
        return;
    if (!others) {
        XS_STACK_CALL(xw_waiter_disarm(s->w));
        return;
    }
    XS_STACK_CALL((xw_waiter_arm(s->w), 0));
    if (more)
        XS_STACK_CALL((xw_waiter_kick(s->w), 0));
}

/* The events of a set with ring members (or nested sets, or undecided
 * members): ring members looked at here, the kernel's asked only when it has
 * members of its own (at most every KERNEL_EVERY calls while the ring keeps
 * the caller busy), or woke us. */
#define KERNEL_EVERY 4

/* What is left of timeout ms since t0 (<= 0: nothing). */
static int ms_left(const struct timespec *t0, int timeout)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return timeout - (int)((now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000);
}

static int ring_wait(int epfd, struct xs_epset *s, struct epoll_event *ev, int max, int timeout,
                     const sigset_t *mask)
{
    struct timespec t0;
    int n = 0, k, left = timeout;
    bool more, kern, due;
    uint64_t t1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_mutex_lock(&s->lock);
    decide(epfd, s);
    /* The kernel's members first when they are due (so that a busy ring
     * never starves them, whatever max), the ring's after; the kernel's
     * also when the ring has nothing. */
    kern = s->nkern > 0 || s->nnested;
    due = (kern && ++s->skip >= KERNEL_EVERY) ||
          (s->w && atomic_load(&s->w->signals) != atomic_load(&s->seen));
    for (int pass = 0; pass < 2; pass++) {
        if (due) {
            s->skip = 0;
            settle(s);
            pthread_mutex_unlock(&s->lock);
            k = kernel_events(s, epfd, ev, max, 0, mask);
            if (k < 0)
                return k;
            pthread_mutex_lock(&s->lock);
        } else {
            k = 0;
        }
        n = k + scan(epfd, s, ev + k, max - k, false, false, false, &more);
        if (n || due || !kern)
            break;
        due = true;
    }
    if (!n && timeout == 0) /* (a poll: the cold members too) */
        n = scan(epfd, s, ev, max, false, false, true, &more);
    pthread_mutex_unlock(&s->lock);
    if (n || timeout == 0)
        return n;
    t1 = xw_mono_ns();
    if ((n = spin(epfd, s, ev, max, &more)) != 0)
        return n;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        atomic_fetch_add(&s->sleepers, 1); /* (before arming: see woken) */
        n = arm_all(epfd, s, ev, max, 0, false, &more);
        if (n) {
            leave(s, more);
            pthread_mutex_unlock(&s->lock);
            return n;
        }
        settle(s);
        pthread_mutex_unlock(&s->lock);
        k = kernel_events(s, epfd, ev, max, left, mask);
        pthread_mutex_lock(&s->lock);
        n = k > 0 ? k : 0;
        n += scan(epfd, s, ev + n, max - n, false, false, false, &more);
        leave(s, more);
        pthread_mutex_unlock(&s->lock);
        if (n) /* (spin.h: a sleep a full spin would have saved) */
            atomic_store_explicit(
                &s->spin_us,
                xw_spin_slept(atomic_load_explicit(&s->spin_us, memory_order_relaxed),
                              xw_mono_ns() - t1,
                              (unsigned)XS_STACK_CALL(xw_stack_config()->spin_us)),
                memory_order_relaxed);
        if (n || k < 0)
            return n ? n : k;
        if (timeout > 0 && (left = ms_left(&t0, timeout)) <= 0)
            return 0;
    }
}

static int xepoll_wait(int epfd, struct epoll_event *ev, int max, int timeout,
                       const sigset_t *mask)
{
    struct xs_epset *s;
    struct timespec t0;
    int k;

    if (xs_in_stack || max <= 0 || !(s = set_of(epfd, false)))
        return xs_real.epoll_pwait(epfd, ev, max, timeout, mask);
    if (s->nring || s->nundecided || s->nnested)
        return ring_wait(epfd, s, ev, max, timeout, mask);
    /* Only the kernel's members: its wait, counted as a sleeper, so that a
     * ring member added meanwhile wakes it (woken) to wait on for it.  A wake
     * that was only ours (the waiter's or the event fd's: no event for the
     * application) is no timeout: the wait goes on for the time left, as the
     * kernel's would (ab took an early 0 for its timeout and gave up). */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int left = timeout;;) {
        pthread_mutex_lock(&s->lock);
        settle(s);
        atomic_fetch_add(&s->sleepers, 1);
        pthread_mutex_unlock(&s->lock);
        k = kernel_events(s, epfd, ev, max, left, mask);
        atomic_fetch_sub(&s->sleepers, 1);
        if (k != 0 || timeout == 0)
            return k;
        if (timeout > 0 && (left = ms_left(&t0, timeout)) <= 0)
            return 0;
        if (s->nring || s->nundecided || s->nnested)
            return ring_wait(epfd, s, ev, max, left, mask);
    }
}

int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
    return xepoll_wait(epfd, ev, max, timeout, NULL);
}

int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout,
                const sigset_t *mask)
{
    return xepoll_wait(epfd, ev, max, timeout, mask);
}

int epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *t,
                 const sigset_t *mask)
{
    struct xs_epset *s;
    long long ms;

    if (xs_in_stack || !(s = set_of(epfd, false)) || !(s->nring || s->nundecided || s->nnested)) {
        if (!xs_real.epoll_pwait2) {
            errno = ENOSYS;
            return -1;
        }
        if (s && !xs_in_stack) {
            pthread_mutex_lock(&s->lock);
            settle(s);
            pthread_mutex_unlock(&s->lock);
        }
        return xs_real.epoll_pwait2(epfd, ev, max, t, mask);
    }
    if (t && (t->tv_sec < 0 || t->tv_nsec < 0 || t->tv_nsec >= 1000000000L)) {
        errno = EINVAL;
        return -1;
    }
    /* (milliseconds, rounded up: the shim's waits are in ms) */
    ms = t ? (long long)t->tv_sec * 1000 + (t->tv_nsec + 999999) / 1000000 : -1;
    return xepoll_wait(epfd, ev, max, ms > INT32_MAX ? INT32_MAX : (int)ms, mask);
}

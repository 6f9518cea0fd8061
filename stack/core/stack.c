/* The stack's lifecycle and its thread: configuration, lwIP start, the link, the
 * loop that feeds received frames to lwIP and runs its timers.  See stack.h for
 * the locking model. */
#include "stack.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/ip6_addr.h"
#include "lwip/netif.h"
#include "lwip/sys.h"
#include "lwip/timeouts.h"
#include "xw_lwip_hooks.h"
#include "channel.h"
#include "ctl.h"
#include "eth.h"
#include "futex.h"
#include "handoff.h"
#include "keeper.h"
#include "link.h"
#include "log.h"
#include "negotiate.h"
#include "owner.h"
#include "probe.h"
#include "ring_events.h"
#include "ring_park.h"
#include "satellite.h"
#include "socket.h"
#include "tcp_path.h"
#include "thread.h"
#include "xway_port.h"

pthread_mutex_t xw_stack_mutex = PTHREAD_MUTEX_INITIALIZER;

/* Futex words to wake once the lock is released (xw_stack_wake_later): a
 * sleeper woken while the waker still holds the lock would only block on it
 * again (a second sleep and wake-up for each hand-off). */
#define WAKE_LATER_MAX 32
static _Atomic unsigned *wake_later[WAKE_LATER_MAX];
static int n_wake_later;

/* Protected by the stack lock, except `running` which the loop also reads
 * unlocked as its stop signal (hence atomic). */
static struct {
    _Atomic bool running;
    /* A forked child serving ring connections of its owner's stack
     * (satellite.h): the socket layer and the ring path run, lwIP does not. */
    bool satellite;
    bool lwip_ready;
    pthread_t thread;
    int wake_fd;          /* eventfd: wakes the loop out of its wait */
    /* The loop waits on ep: wake_fd, the control socket (ctl_fd, as added)
     * and the link's fd, unless an application thread waiting for its socket
     * polls the link itself (lent: xw_stack_poll_link), woken through
     * poller_fd. */
    int ep, ctl_fd, poller_fd;
    _Atomic unsigned *lent; /* the word of the thread the link is lent to */
    bool kicked; /* poller_fd holds a count not read yet */
    bool replanning; /* wake_fd written to re-plan: not again until it has */
    u32_t planned_sleep;  /* the loop sleeps until sys_now() + this, as it planned */
    u32_t sleep_start;
    struct xw_link *link;
    struct xw_config cfg;
} st = { .wake_fd = -1, .ep = -1, .ctl_fd = -1, .poller_fd = -1 };

enum { EP_WAKE, EP_CTL, EP_LINK };

/* This thread polls the link (lent to it); is the stack's. */
static __thread bool polling_link, stack_thread;

static void replan_if_needed(void);

static char last_error[PATH_MAX + 128];

void xw_stack_lock(void)
{
    pthread_mutex_lock(&xw_stack_mutex);
}

void xw_stack_wake_later(_Atomic unsigned *word)
{
    for (int i = 0; i < n_wake_later; i++)
        if (wake_later[i] == word)
            return;
    if (n_wake_later == WAKE_LATER_MAX)
        xw_futex_wake(word); /* (a burst: now, under the lock) */
    else
        wake_later[n_wake_later++] = word;
}

void xw_stack_wake_now(void)
{
    while (n_wake_later > 0)
        xw_futex_wake(wake_later[--n_wake_later]);
}

void xw_stack_unlock(void)
{
    _Atomic unsigned *w[WAKE_LATER_MAX];
    int n = n_wake_later;

    /* Whoever set a timer (a frame read by a link's poller, an event's route,
     * a call): the stack thread, which runs them, may sleep past it (it is
     * not woken by the link while another thread polls it). */
    if (!stack_thread && st.running && !st.satellite)
        replan_if_needed();
    memcpy(w, wake_later, sizeof(w[0]) * (size_t)n);
    n_wake_later = 0;
    pthread_mutex_unlock(&xw_stack_mutex);
    while (n > 0)
        xw_futex_wake(w[--n]);
}

bool xw_stack_running(void)
{
    return st.running;
}

const struct xw_config *xw_stack_config(void)
{
    return &st.cfg;
}

uint32_t xw_stack_ring_bytes(void)
{
    return (uint32_t)st.cfg.ring;
}

uint16_t xw_stack_tcp_seg(const struct tcp_pcb *pcb)
{
    struct netif *n;

    if (!st.link || !st.link->ops->tcp_seg)
        return pcb->mss;
    n = ip_route(&pcb->local_ip, &pcb->remote_ip);
    if (n != &st.link->netif)
        return pcb->mss;
    return st.link->ops->tcp_seg(st.link, IP_IS_V6(&pcb->remote_ip), pcb->mss);
}

unsigned xw_stack_spin_us(void)
{
    return st.cfg.spin_us;
}

const char *xway_last_error(void) XW_EXPORT;
const char *xway_last_error(void)
{
    return last_error;
}

void xway_config_init(struct xway_config *cfg) XW_EXPORT;
void xway_config_init(struct xway_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->log_level = -1;
    cfg->domid = -1;
    cfg->spin_us = -1;
}

/* lwIP sends to its default netif when nothing matches, and a SYN that cannot
 * leave is only retried until it times out.  Linux refuses such a connect at
 * once (ENETUNREACH): do the same for destinations that are neither on a link
 * nor behind a configured gateway. */
int xw_stack_route_check(const ip_addr_t *dst)
{
    struct netif *nif;

    if (ip_addr_isloopback(dst))
        return 0;
    if (IP_IS_V4(dst)) {
        if (st.cfg.has_gw4)
            return 0;
        NETIF_FOREACH(nif)
            if (netif_is_up(nif) && !ip4_addr_isany_val(*netif_ip4_addr(nif)) &&
                ip4_addr_netcmp(ip_2_ip4(dst), netif_ip4_addr(nif), netif_ip4_netmask(nif)))
                return 0;
        return -ENETUNREACH;
    }
    if (st.cfg.has_gw6 || ip6_addr_islinklocal(ip_2_ip6(dst)))
        return 0;
    NETIF_FOREACH(nif)
        for (int i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++)
            if (ip6_addr_isvalid(netif_ip6_addr_state(nif, i)) &&
                ip6_addr_netcmp(ip_2_ip6(dst), netif_ip6_addr(nif, i)))
                return 0;
    return -ENETUNREACH;
}

static void wake_loop(void)
{
    uint64_t one = 1;
    (void)!write(st.wake_fd, &one, sizeof(one));
}

/* lwIP's timers may have moved earlier than the loop planned to wake (a new
 * connection starts the TCP timer): wake it to re-plan. */
static void replan_if_needed(void)
{
    u32_t next, elapsed;

    if (st.replanning)
        return;
    next = sys_timeouts_sleeptime();
    elapsed = sys_now() - st.sleep_start;
    if (st.planned_sleep == SYS_TIMEOUTS_SLEEPTIME_INFINITE ||
        next + elapsed < st.planned_sleep)
        if (next != SYS_TIMEOUTS_SLEEPTIME_INFINITE) {
            st.replanning = true;
            wake_loop();
        }
}

void xw_stack_flush(void)
{
    if (st.satellite)
        return;
    netif_poll_all();
    if (st.link && st.link->ops->flush)
        st.link->ops->flush(st.link);
}

int xw_stack_enter(void)
{
    int rc;

    xw_stack_lock();
    if (st.running || st.satellite)
        return 0;
    xw_stack_unlock();
    rc = xway_init(NULL);
    if (rc < 0 && errno != EALREADY) {
        int e = errno;
        xw_err("cannot start the stack: %s", last_error);
        return -e;
    }
    xw_stack_lock();
    if (!st.running) {
        xw_stack_unlock();
        return -ENETDOWN;
    }
    return 0;
}

void xw_stack_leave(void)
{
    if (!st.satellite)
        xw_stack_flush();
    xw_stack_unlock(); /* (and the timers' re-plan) */
}

bool xw_stack_satellite(void)
{
    return st.satellite;
}

void xw_stack_set_satellite(bool on)
{
    st.satellite = on;
}

/* Received frames to lwIP: bounded batches, until one is not full (the link
 * has nothing more now: its fd tells when it has); other threads may take the
 * lock in between.  Lock held. */
static void link_input(void)
{
    int got;

    while ((got = st.link->ops->input(st.link)) > 0 && st.running) {
        xw_stack_flush();
        if (got < XW_LINK_RX_BATCH)
            break;
        xw_stack_unlock();
        xw_stack_lock();
    }
}

static int ep_set(int op, int fd, uint32_t what)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = what };

    return epoll_ctl(st.ep, op, fd, &ev);
}

/* The control socket comes and goes (xw_ctl_start, xw_ctl_stop). */
static void sync_ctl_fd(void)
{
    int fd = xw_ctl_fd();

    if (fd == st.ctl_fd)
        return;
    if (st.ctl_fd >= 0)
        ep_set(EPOLL_CTL_DEL, st.ctl_fd, EP_CTL);
    st.ctl_fd = fd >= 0 && ep_set(EPOLL_CTL_ADD, fd, EP_CTL) == 0 ? fd : -1;
}

static void *loop(void *arg)
{
    struct epoll_event ev[4];
    uint64_t junk;

    stack_thread = true;
    xw_stack_lock();
    while (st.running) {
        u32_t sleep = sys_timeouts_sleeptime();
        bool ctl = false, link = false;
        int n;

        /* Frames the link could not send yet (receiver full): retry soon. */
        if (st.link && st.link->tx_pending && sleep > 1)
            sleep = 1;

        st.planned_sleep = sleep;
        st.sleep_start = sys_now();
        st.replanning = false;
        sync_ctl_fd();
        xw_stack_unlock();

        n = epoll_wait(st.ep, ev, 4, sleep == SYS_TIMEOUTS_SLEEPTIME_INFINITE ? -1 : (int)sleep);
        for (int i = 0; i < n; i++) {
            if (ev[i].data.u32 == EP_WAKE)
                (void)!read(st.wake_fd, &junk, sizeof(junk));
            ctl |= ev[i].data.u32 == EP_CTL;
            link |= ev[i].data.u32 == EP_LINK;
        }

        xw_stack_lock();
        if (ctl)
            xw_ctl_serve();
        if (link && st.link)
            link_input();
        sys_check_timeouts();
        xw_stack_flush();
    }
    xw_stack_unlock();
    return NULL;
}

/* Lend the link to this thread, which waits for *word to change: it polls
 * the link itself meanwhile and feeds lwIP what comes, so that a frame for it
 * wakes one thread, not the stack's and then this one.  One thread at a time;
 * the stack's thread waits without the link meanwhile (and runs the timers).
 * Lock held, released while polling.  0 (the word changed, someone woke us,
 * a signal), ETIMEDOUT, or -1: not lent (another thread has it, no link, the
 * stack stopping), sleep otherwise. */
int xw_stack_poll_link(_Atomic unsigned *word, unsigned seen, uint64_t deadline_us)
{
    int rc = 0, fd, cancel;

    if (!st.running || st.satellite || !st.link || st.lent || st.poller_fd < 0)
        return -1;
    fd = st.link->fd;
    if (epoll_ctl(st.ep, EPOLL_CTL_DEL, fd, NULL) < 0)
        return -1;
    st.lent = word;
    polling_link = true;
    /* Not a cancellation point (as the futex sleep it replaces): a thread
     * cancelled here would keep the link. */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
    while (atomic_load(word) == seen && st.running) {
        struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
                               { .fd = st.poller_fd, .events = POLLIN } };
        /* (lwIP's timers are the stack thread's: an idle poller wakes
         * only for frames, a kick or its deadline) */
        int timeout = st.link->tx_pending ? 1 : -1;
        uint64_t junk;

        if (deadline_us) {
            uint64_t now = xway_port_now_us();
            int left;
            if (now >= deadline_us) {
                rc = ETIMEDOUT;
                break;
            }
            left = (int)((deadline_us - now + 999) / 1000);
            if (timeout < 0 || left < timeout)
                timeout = left;
        }
        xw_stack_unlock();
        if (poll(p, 2, timeout) < 0)
            p[0].revents = p[1].revents = 0;
        xw_stack_lock();
        if (st.kicked) {
            (void)!read(st.poller_fd, &junk, sizeof(junk));
            st.kicked = false;
        }
        if (p[0].revents && st.link) {
            link_input(); /* (a timer it sets: the unlock re-plans) */
        } else {
            xw_stack_flush(); /* (frames the link could not send yet) */
        }
        if (p[1].revents || (!p[0].revents && timeout < 0))
            break; /* woken (or a signal): the caller looks */
    }
    if (st.kicked) { /* (a late one: not the next poller's) */
        (void)!read(st.poller_fd, &(uint64_t){ 0 }, sizeof(uint64_t));
        st.kicked = false;
    }
    pthread_setcancelstate(cancel, NULL);
    polling_link = false;
    st.lent = NULL;
    if (st.link)
        ep_set(EPOLL_CTL_ADD, fd, EP_LINK);
    return rc;
}

bool xw_stack_polls(const _Atomic unsigned *word)
{
    return st.lent == word;
}

void xw_stack_kick_poller(void)
{
    if (st.lent && !polling_link && !st.kicked) {
        (void)!write(st.poller_fd, &(uint64_t){ 1 }, sizeof(uint64_t));
        st.kicked = true;
    }
}

/* The link back from a thread polling it (lock held; the stack stopping). */
static void take_link_back(void)
{
    while (st.lent) {
        xw_stack_kick_poller();
        xw_stack_unlock();
        usleep(100);
        xw_stack_lock();
    }
}

static int open_link(const struct xw_config *c)
{
    int rc = 0;

    st.link = NULL;
    if (c->link_kind == XW_LINK_HUB)
        rc = xw_link_hub_open(c->link_arg, c->mtu, &st.link);
    else if (c->link_kind == XW_LINK_TAP)
        rc = xw_link_tap_open(c->link_arg, c->mtu, &st.link);
    if (rc < 0) {
        snprintf(last_error, sizeof(last_error), "XWAY_LINK=%s:%s: %s",
                 c->link_kind == XW_LINK_HUB ? "hub" : "tap", c->link_arg, strerror(-rc));
        return rc;
    }
    if (!st.link)
        return 0;
    /* Another host on the link with one of our addresses: refuse, naming it. */
    if (st.link->ops->claim)
        rc = st.link->ops->claim(st.link, c->addrs, c->n_addrs, last_error, sizeof(last_error));
    else
        rc = xw_link_probe(st.link, c->addrs, c->n_addrs, last_error, sizeof(last_error));
    if (rc == 0) {
        rc = xw_link_configure(&st.link->netif, c);
        if (rc < 0)
            snprintf(last_error, sizeof(last_error), "XWAY_ADDR: too many IPv6 addresses");
    }
    if (rc < 0) {
        st.link->ops->close(st.link);
        st.link = NULL;
    }
    return rc;
}

/* Sockets use two fds each: allow as many as the hard limit lets us. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void close_fds(void)
{
    if (st.wake_fd >= 0)
        close(st.wake_fd);
    if (st.poller_fd >= 0)
        close(st.poller_fd);
    if (st.ep >= 0)
        close(st.ep);
    st.wake_fd = st.poller_fd = st.ep = st.ctl_fd = -1;
}

static int start(const struct xw_config *c)
{
    enum xw_fault fault;
    int rc;

    if (!st.lwip_ready) {
        lwip_init();
        st.lwip_ready = true;
    }
    st.cfg = *c;
    if (!st.cfg.host[0])
        snprintf(st.cfg.host, sizeof(st.cfg.host), "/dev/shm/xway-host-%u", (unsigned)getuid());
    xw_log_level = c->log_level;
    st.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    st.poller_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    st.ep = epoll_create1(EPOLL_CLOEXEC);
    st.ctl_fd = -1;
    if (st.wake_fd < 0 || st.poller_fd < 0 || st.ep < 0 ||
        ep_set(EPOLL_CTL_ADD, st.wake_fd, EP_WAKE) < 0) {
        rc = -errno;
        snprintf(last_error, sizeof(last_error), "eventfd, epoll: %s", strerror(errno));
        goto out_wake;
    }
    rc = xw_neg_parse_fault(getenv("XWAY_FAULT"), &fault);
    if (rc < 0) {
        snprintf(last_error, sizeof(last_error),
                 "XWAY_FAULT=%s: must be grant-share, grant-map, evtchn, timeout, malformed, "
                 "version, resources, nonce, raw, offer-late or upgrade-grants",
                 getenv("XWAY_FAULT"));
        goto out_wake;
    }
    if (xw_sim_liveness_domain() < 0) {
        rc = -EINVAL;
        snprintf(last_error, sizeof(last_error),
                 "XWAY_SIM_LIVENESS=%s: must be process, domain or guest",
                 getenv("XWAY_SIM_LIVENESS"));
        goto out_wake;
    }
    rc = open_link(c);
    if (rc < 0)
        goto out_wake;
    if (st.link && ep_set(EPOLL_CTL_ADD, st.link->fd, EP_LINK) < 0) {
        rc = -errno;
        snprintf(last_error, sizeof(last_error), "epoll: %s", strerror(errno));
        goto out_link;
    }
    rc = xw_rev_start(&st.cfg, last_error, sizeof(last_error));
    if (rc < 0)
        goto out_link;
    xw_neg_start(fault);
    raise_fd_limit();
    st.running = true;
    rc = xw_thread_start(&st.thread, false, "xway-stack", loop, NULL);
    if (rc < 0) {
        snprintf(last_error, sizeof(last_error), "pthread_create: %s", strerror(-rc));
        st.running = false;
        goto out_ring;
    }
    if ((rc = xw_owner_start()) < 0)
        xw_warn("no process channel (%s): forked children cannot accept on this "
                "process's listeners", strerror(-rc));
    if ((rc = xw_ctl_start()) < 0)
        xw_info("no control socket (%s): xwayctl does not see this stack", strerror(-rc));
    xw_info("stack started: link %s%s%s, %d address(es), mtu %u",
            c->link_kind == XW_LINK_HUB ? "hub:" : c->link_kind == XW_LINK_TAP ? "tap:" : "none",
            c->link_arg, "", c->n_addrs, c->mtu);
    return 0;

out_ring:
    xw_stack_unlock(); /* the dispatcher takes the lock to stop */
    xw_rev_stop();
    xw_stack_lock();
out_link:
    if (st.link)
        st.link->ops->close(st.link);
    st.link = NULL;
out_wake:
    close_fds();
    return rc;
}

void xw_stack_pause(void)
{
    xw_stack_lock();
    if (!st.running || !st.thread) {
        xw_stack_unlock();
        return;
    }
    st.running = false;
    wake_loop();
    take_link_back();
    xw_stack_unlock();
    pthread_join(st.thread, NULL);
    st.thread = 0;
}

int xw_stack_resume(void)
{
    int rc;

    if (st.running)
        return -EINVAL;
    st.running = true;
    if ((rc = xw_thread_start(&st.thread, false, "xway-stack", loop, NULL)) < 0)
        st.running = false;
    return rc;
}

/* Fork policy: the stack, its threads and its sockets belong to the process
 * that started it.  A child starts with no stack (it may call xway_init for
 * its own); the parent's sockets are not usable in the child except through
 * the parent's process channel (owner.h: accepting on its listeners), and
 * nothing the child does (including exiting) touches the parent's stack or its
 * peers.  A parent that exits while children hold its listeners hands its stack
 * to a keeper (keeper.h). */
void xw_stack_forget(void)
{
    xw_handoff_child();
    xw_owner_forget();
    pthread_mutex_init(&xw_stack_mutex, NULL);
    n_wake_later = 0;
    st.running = false;
    st.satellite = false;
    st.link = NULL;
    st.wake_fd = st.poller_fd = st.ep = st.ctl_fd = -1; /* (the parent's) */
    st.lent = NULL;
    st.kicked = false;
    polling_link = false;
    xw_ctl_forget();
    xw_rev_forget();
    xw_sock_forget_all();
    xw_tcp_forget_pcbs();
    xw_link_eth_forget();
    xw_lwip_forget_timeouts();
    xw_channel_unkeep(NULL, false);
}

static void forget_in_child(void)
{
    xw_link_rx_pool_forget();
    if (!xw_keeper_forking())
        xw_stack_forget();
}

/* XWAY_STATS=1 (xway-run --stats): the stack's counters, at exit. */
static void print_stats(void)
{
    const char *v = getenv("XWAY_STATS");
    struct xway_stats s;
    uint64_t back;

    if (!v || strcmp(v, "1") || !st.running)
        return;
    xw_stack_lock();
    xw_neg_stats(&s);
    back = xw_neg_back();
    xw_stack_unlock();
    fprintf(stderr, "xway[%d] stats: %llu connection(s) on the ring, %llu on TCP",
            (int)getpid(), (unsigned long long)s.ring_conns, (unsigned long long)s.tcp_conns);
    for (int i = 1; i < XWAY_REASONS; i++)
        if (s.fallback[i])
            fprintf(stderr, ", %s %llu", xway_reason_name(i), (unsigned long long)s.fallback[i]);
    if (back)
        fprintf(stderr, ", back-to-ring %llu", (unsigned long long)back);
    fprintf(stderr, " (backend %s, domain %d)\n", s.backend, s.domid);
}

/* The process exits: its listeners live on in a keeper while processes it
 * shared them with live (keeper.h); otherwise the stack stops as xway_fini. */
static void at_exit(void)
{
    print_stats();
    if (!xw_keeper_handover(false))
        xway_fini();
}

int xway_init(const struct xway_config *cfg) XW_EXPORT;
int xway_init(const struct xway_config *cfg)
{
    struct xway_config env;
    static struct xw_config parsed; /* large; only touched under the lock */
    static bool atexit_done;
    int rc;

    xw_stack_lock();
    if (st.running) {
        xw_stack_unlock();
        errno = EALREADY;
        return -1;
    }
    last_error[0] = '\0';
    if (!cfg) {
        xway_config_init(&env);
        xw_config_from_env(&env);
        cfg = &env;
    }
    rc = xw_config_parse(cfg, &parsed, last_error, sizeof(last_error));
    if (rc == 0)
        rc = start(&parsed);
    if (rc == 0 && !atexit_done) {
        atexit_done = true;
        atexit(at_exit); /* deliver what graceful closes still hold */
        pthread_atfork(xw_handoff_prepare, xw_handoff_parent, forget_in_child);
    }
    xw_stack_unlock();
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    return 0;
}

/* Is lwIP still holding data that a graceful close promised to deliver? */
void xway_fini(void) XW_EXPORT;
void xway_fini(void)
{
    xw_owner_stop(); /* unlocked: its thread takes the lock for a request */
    xw_handoff_stop_all();
    xw_sat_fini();
    xw_stack_lock();
    if (!st.running) {
        xw_stack_unlock();
        return;
    }
    xw_sock_close_all();
    xw_stack_flush();
    /* Closes are graceful, as when a process exits with open kernel sockets:
     * give queued data up to 2 s to be acknowledged before the stack stops. */
    for (int i = 0; i < 200 && xw_tcp_output_pending(); i++) {
        xw_stack_unlock();
        usleep(10000);
        xw_stack_lock();
        xw_stack_flush();
    }
    xw_park_flush(); /* (the channels the closes parked: before the handle goes) */
    st.running = false;
    wake_loop();
    take_link_back();
    xw_stack_unlock();
    pthread_join(st.thread, NULL);
    xw_rev_stop();
    xw_ctl_stop();

    xw_stack_lock();
    if (st.link)
        st.link->ops->close(st.link);
    st.link = NULL;
    close_fds();
    xw_stack_unlock();
}

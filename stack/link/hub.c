/* The hub link: an unprivileged virtual Ethernet segment between processes on one
 * machine, with no daemon.
 *
 * A hub is a directory.  Each endpoint listens on an AF_UNIX SOCK_SEQPACKET
 * socket named by its MAC ("<dir>/0242ac1100ff") in it.  Frames to an endpoint go
 * over one connection to its listener, made on first use and kept; the endpoint
 * accepts it and reads.  A unicast frame goes to the destination MAC's endpoint;
 * a broadcast or multicast frame to every other endpoint in the directory (a
 * cached listing, refreshed every second and when an endpoint we did not know
 * connects to us).  The kernel keeps records intact and in order, so the link
 * needs no checksums.
 *
 * Flow control: a connected seqpacket socket is limited by the bytes in flight
 * (our SO_SNDBUF), not by net.unix.max_dgram_qlen.  When an endpoint's socket is
 * full (EAGAIN) its frames wait in a per-endpoint FIFO, and EPOLLOUT on the
 * connection says when to send them, so nothing is lost to a receiver that is
 * momentarily busy.  Only a FIFO over BACKLOG_FRAMES / BACKLOG_BYTES drops, the
 * oldest frame first.
 *
 * link.fd is an epoll fd: the listener and every accepted connection for input;
 * every outgoing connection for hang-up, and for EPOLLOUT while it has a FIFO.
 * An endpoint found dead (connection refused, reset or hung up) is dropped with
 * its FIFO; a socket file nobody listens on any more is removed.
 *
 * Locking: all of it runs with the stack lock held (link.h).
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "link.h"
#include "eth.h"
#include "hub_claim.h"
#include "probe.h"
#include "log.h"

#include "lwip/pbuf.h"

#define PEER_REFRESH_MS 1000 /* re-list the hub directory for broadcasts */
#define SOCKBUF_BYTES (4 * 1024 * 1024)
#define BACKLOG_FRAMES 4096 /* per endpoint, then the oldest frame is dropped */
#define BACKLOG_BYTES (64u * 1024 * 1024)
#define TX_BATCH 64 /* FIFO frames per sendmmsg */
#define TX_IOV 16   /* pbuf chain segments sent without a copy */
#define EVENTS 64
/* What another process on the hub can make us hold: connections to us (the
 * least recently active one is closed for a new one beyond this, or beyond a
 * quarter of the fd limit, or when we are out of fds), endpoints we send to,
 * and connections accepted per input() call. */
#define MAX_RX_CONNS 1024
#define MAX_PEERS 1024
#define ACCEPT_BATCH 16

_Static_assert(XW_HUB_NAME_LEN == 12, "an endpoint is named by 6 bytes of MAC in hex");

struct hub_stats {
    unsigned long rx, rx_malformed, rx_evicted, accept_errors, tx, tx_queued, tx_full, tx_dead, tx_error;
};

enum conn_kind { CONN_LISTENER, CONN_RX, CONN_PEER };

/* What an epoll event points at.  A connection closed while input() walks its
 * events is only marked dead; reap() frees it once input() is done. */
struct conn {
    enum conn_kind kind;
    int fd;
    bool dead;
};

/* A connection another endpoint made to us. */
struct rx_conn {
    struct conn c;
    struct rx_conn *next;
    uint64_t active_ms; /* accepted or last read from */
};

struct frame {
    struct frame *next;
    size_t len;
    uint8_t data[];
};

/* Another endpoint, as a destination.  c.fd is our connection to its listener,
 * or -1 (not connected yet, or its listener's backlog was full: retried by
 * flush).  Frames wait in the FIFO head..tail, in order, while its socket is
 * full; a frame is sent directly only when the FIFO is empty. */
struct peer {
    struct conn c;
    struct peer *next;
    uint8_t mac[6];
    bool listed;    /* in the last directory listing: gets broadcasts */
    bool out_armed; /* EPOLLOUT registered */
    struct frame *head, *tail;
    unsigned n_queued;
    size_t queued_bytes;
};

/* One endpoint.  Every member is protected by the stack lock. */
struct hub {
    struct xw_link link; /* first: the ops get a struct xw_link *; fd is the epoll fd */
    struct sockaddr_un self;
    struct xw_cidr claims[XW_MAX_ADDRS]; /* the addresses it holds (hub_claim.h) */
    int n_claims;
    size_t dir_len; /* strlen of the directory, the prefix of self.sun_path */
    mode_t dir_mode; /* its permission bits: our socket's */
    bool warned_access; /* an endpoint we may not connect to was logged */
    size_t frame_max;
    struct conn listener;

    struct rx_conn *rx_conns;
    struct peer *peers;
    unsigned n_rx, n_peers; /* live ones (not dead) */
    uint64_t listed_ms;
    bool peers_stale;
    int in_input; /* inside input(): dead conns must stay allocated */

    struct pbuf *rx[XW_LINK_RX_BATCH]; /* MTU-sized, received into directly */
    struct mmsghdr rxm[XW_LINK_RX_BATCH];
    struct iovec rxv[XW_LINK_RX_BATCH];

    uint8_t *tx_buf; /* one frame, for a pbuf chain longer than TX_IOV */
    struct mmsghdr txm[TX_BATCH];
    struct iovec txv[TX_BATCH];

    struct hub_stats st;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- names ---- */

static void name_for(const struct hub *h, const uint8_t mac[6], struct sockaddr_un *sa)
{
    static const char hex[] = "0123456789abcdef";
    char *p;

    memcpy(sa, &h->self, offsetof(struct sockaddr_un, sun_path) + h->dir_len + 1);
    p = sa->sun_path + h->dir_len + 1;
    for (int i = 0; i < 6; i++) {
        *p++ = hex[mac[i] >> 4];
        *p++ = hex[mac[i] & 15];
    }
    *p = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* An endpoint's name back to its MAC: 0, or -EINVAL for any other file name. */
static int mac_of_name(const char *name, uint8_t mac[6])
{
    if (strlen(name) != XW_HUB_NAME_LEN)
        return -EINVAL;
    for (int i = 0; i < 6; i++) {
        int hi = hexval(name[2 * i]), lo = hexval(name[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        mac[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* ---- sockets ---- */

static void set_sndbuf(int fd)
{
    int sz = SOCKBUF_BYTES;

    /* FORCE ignores net.core.wmem_max but needs CAP_NET_ADMIN.  Only the
     * sender's buffer limits an AF_UNIX connection. */
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)))
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

static int ep_ctl(struct hub *h, int op, struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    return epoll_ctl(h->link.fd, op, c->fd, &ev) ? -errno : 0;
}

/* Close c's fd; its memory waits for reap(). */
static void conn_kill(struct hub *h, struct conn *c)
{
    if (!c->dead && c->kind == CONN_RX)
        h->n_rx--;
    else if (!c->dead && c->kind == CONN_PEER)
        h->n_peers--;
    if (c->fd >= 0) {
        (void)epoll_ctl(h->link.fd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->dead = true;
}

/* ---- destinations ---- */

static struct peer *find_peer(const struct hub *h, const uint8_t mac[6])
{
    for (struct peer *pe = h->peers; pe; pe = pe->next)
        if (!pe->c.dead && !memcmp(pe->mac, mac, 6))
            return pe;
    return NULL;
}

static struct peer *get_peer(struct hub *h, const uint8_t mac[6])
{
    struct peer *pe = find_peer(h, mac);

    if (pe)
        return pe;
    if (h->n_peers >= MAX_PEERS)
        return NULL;
    pe = calloc(1, sizeof(*pe));
    if (!pe)
        return NULL;
    pe->c = (struct conn){.kind = CONN_PEER, .fd = -1};
    memcpy(pe->mac, mac, 6);
    pe->next = h->peers;
    h->peers = pe;
    h->n_peers++;
    return pe;
}

static void free_fifo(struct peer *pe)
{
    while (pe->head) {
        struct frame *f = pe->head;
        pe->head = f->next;
        free(f);
    }
    pe->tail = NULL;
    pe->n_queued = 0;
    pe->queued_bytes = 0;
}

/* The endpoint is gone (err says how): drop it and the frames waiting for it. */
static void peer_dead(struct hub *h, struct peer *pe, int err)
{
    struct sockaddr_un sa;
    struct stat sb;

    name_for(h, pe->mac, &sa);
    /* Refused: nobody listens on the name; the endpoint died without unlinking. */
    if (err == ECONNREFUSED && !lstat(sa.sun_path, &sb) && S_ISSOCK(sb.st_mode) &&
        !unlink(sa.sun_path))
        xw_info("hub: removed the dead endpoint %s", sa.sun_path);
    else if ((err == EACCES || err == EPERM) && !h->warned_access) {
        h->warned_access = true;
        xw_warn("hub: endpoint %s: %s: another user's, not open to us (the hub directory's "
                "permissions decide who may join: make it writable by both)",
                sa.sun_path, strerror(err));
    } else if (err != ENOENT)
        xw_debug("hub: endpoint %s: %s", sa.sun_path, strerror(err));
    h->st.tx_dead += pe->n_queued;
    free_fifo(pe);
    conn_kill(h, &pe->c);
    h->peers_stale = true;
}

static int arm_out(struct hub *h, struct peer *pe, bool on)
{
    if (pe->out_armed == on || pe->c.fd < 0)
        return 0;
    pe->out_armed = on;
    return ep_ctl(h, EPOLL_CTL_MOD, &pe->c, on ? EPOLLOUT : 0);
}

/* Connect to pe's listener: 0, -EAGAIN (its accept backlog is full: retry), or
 * -errno (it is gone). */
static int peer_connect(struct hub *h, struct peer *pe)
{
    struct sockaddr_un sa;
    int fd, rc;

    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    set_sndbuf(fd);
    name_for(h, pe->mac, &sa);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
        rc = -errno;
        goto out_close;
    }
    pe->c.fd = fd;
    pe->out_armed = pe->head != NULL;
    /* No EPOLLIN: nothing comes back on it; EPOLLHUP/EPOLLERR always report. */
    rc = ep_ctl(h, EPOLL_CTL_ADD, &pe->c, pe->out_armed ? EPOLLOUT : 0);
    if (rc) {
        pe->c.fd = -1;
        goto out_close;
    }
    return 0;

out_close:
    close(fd);
    return rc;
}

/* Append a copy of p to pe's FIFO, dropping the oldest frames beyond the bound. */
static void enqueue(struct hub *h, struct peer *pe, struct pbuf *p)
{
    struct frame *f;

    while (pe->head &&
           (pe->n_queued >= BACKLOG_FRAMES || pe->queued_bytes + p->tot_len > BACKLOG_BYTES)) {
        f = pe->head;
        pe->head = f->next;
        pe->n_queued--;
        pe->queued_bytes -= f->len;
        free(f);
        h->st.tx_full++;
    }
    if (!pe->head)
        pe->tail = NULL;
    f = malloc(sizeof(*f) + p->tot_len);
    if (!f) {
        h->st.tx_full++;
        return;
    }
    f->next = NULL;
    f->len = pbuf_copy_partial(p, f->data, p->tot_len, 0);
    if (pe->tail)
        pe->tail->next = f;
    else
        pe->head = f;
    pe->tail = f;
    pe->n_queued++;
    pe->queued_bytes += f->len;
    h->st.tx_queued++;
}

/* Send pe's FIFO in order until it is empty or the socket is full. */
static void send_fifo(struct hub *h, struct peer *pe)
{
    while (pe->head) {
        struct frame *f = pe->head;
        int n = 0, rc;

        for (; f && n < TX_BATCH; f = f->next, n++) {
            h->txv[n] = (struct iovec){f->data, f->len};
            h->txm[n] = (struct mmsghdr){.msg_hdr = {.msg_iov = &h->txv[n], .msg_iovlen = 1}};
        }
        rc = sendmmsg(pe->c.fd, h->txm, (unsigned)n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (rc < 0) {
            if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR)
                break;
            peer_dead(h, pe, errno);
            return;
        }
        for (int i = 0; i < rc; i++) {
            f = pe->head;
            pe->head = f->next;
            pe->n_queued--;
            pe->queued_bytes -= f->len;
            free(f);
        }
        h->st.tx += (unsigned long)rc;
    }
    if (!pe->head)
        pe->tail = NULL;
    if (arm_out(h, pe, pe->head != NULL))
        h->st.tx_error++;
}

/* One frame, straight from the pbuf chain: 0 or -errno. */
static int send_pbuf(struct hub *h, int fd, struct pbuf *p)
{
    struct iovec iov[TX_IOV];
    struct msghdr msg = {.msg_iov = iov};

    for (struct pbuf *q = p; q; q = q->next) {
        if (msg.msg_iovlen == TX_IOV) {
            pbuf_copy_partial(p, h->tx_buf, p->tot_len, 0);
            iov[0] = (struct iovec){h->tx_buf, p->tot_len};
            msg.msg_iovlen = 1;
            break;
        }
        iov[msg.msg_iovlen++] = (struct iovec){q->payload, q->len};
    }
    return sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static void peer_output(struct hub *h, struct peer *pe, struct pbuf *p)
{
    int rc;

    if (pe->c.fd < 0 && !pe->head) {
        rc = peer_connect(h, pe);
        if (rc && rc != -EAGAIN) {
            h->st.tx_dead++;
            peer_dead(h, pe, -rc);
            return;
        }
    }
    if (pe->c.fd >= 0 && !pe->head) {
        rc = send_pbuf(h, pe->c.fd, p);
        if (rc == 0) {
            h->st.tx++;
            return;
        }
        if (rc != -EAGAIN && rc != -ENOBUFS) {
            h->st.tx_dead++;
            peer_dead(h, pe, -rc);
            return;
        }
    }
    enqueue(h, pe, p);
    if (pe->c.fd < 0)
        h->link.tx_pending = true; /* nothing to poll for: flush retries the connect */
    else if (arm_out(h, pe, true))
        h->st.tx_error++;
}

/* ---- the endpoint listing, for broadcasts ---- */

static void list_peers(struct hub *h)
{
    struct dirent *de;
    DIR *d;

    h->self.sun_path[h->dir_len] = '\0';
    d = opendir(h->self.sun_path);
    h->self.sun_path[h->dir_len] = '/';
    if (!d)
        return;
    for (struct peer *pe = h->peers; pe; pe = pe->next)
        pe->listed = false;
    while ((de = readdir(d))) {
        struct peer *pe;
        uint8_t mac[6];

        if (mac_of_name(de->d_name, mac) || !memcmp(mac, h->link.netif.hwaddr, 6))
            continue;
        pe = get_peer(h, mac);
        if (pe)
            pe->listed = true;
    }
    closedir(d);
    /* Forget unlisted endpoints we hold nothing for. */
    for (struct peer *pe = h->peers; pe; pe = pe->next)
        if (!pe->listed && pe->c.fd < 0 && !pe->head && !pe->c.dead) {
            pe->c.dead = true;
            h->n_peers--;
        }
    h->listed_ms = now_ms();
    h->peers_stale = false;
}

static err_t hub_linkoutput(struct netif *netif, struct pbuf *p)
{
    struct hub *h = netif->state;
    const uint8_t *dst = p->payload; /* lwIP puts the Ethernet header in the first pbuf */
    struct peer *pe, *next;

    if (p->tot_len < XW_ETH_HLEN || p->tot_len > h->frame_max || p->len < 6)
        return ERR_ARG;
    if (!(dst[0] & 1)) {
        pe = get_peer(h, dst);
        if (!pe) {
            h->st.tx_error++;
            return ERR_MEM;
        }
        peer_output(h, pe, p);
        return ERR_OK;
    }
    if (h->peers_stale || now_ms() - h->listed_ms >= PEER_REFRESH_MS)
        list_peers(h);
    for (pe = h->peers; pe; pe = next) {
        next = pe->next; /* peer_output may mark pe dead, never unlink it */
        if (pe->listed && !pe->c.dead)
            peer_output(h, pe, p);
    }
    return ERR_OK;
}

/* Free the conns marked dead, unless input() is walking events that may point
 * at them. */
static void reap(struct hub *h)
{
    if (h->in_input)
        return;
    for (struct peer **pp = &h->peers; *pp;) {
        struct peer *pe = *pp;
        if (pe->c.dead) {
            *pp = pe->next;
            free_fifo(pe);
            free(pe);
        } else {
            pp = &pe->next;
        }
    }
    for (struct rx_conn **pp = &h->rx_conns; *pp;) {
        struct rx_conn *rc = *pp;
        if (rc->c.dead) {
            *pp = rc->next;
            free(rc);
        } else {
            pp = &rc->next;
        }
    }
}

/* Retry the connects that found a full accept backlog; everything else waits
 * for EPOLLOUT in input(). */
static void hub_flush(struct xw_link *l)
{
    struct hub *h = (struct hub *)l;
    bool pending = false;

    reap(h);
    if (!l->tx_pending)
        return;
    for (struct peer *pe = h->peers; pe; pe = pe->next) {
        int rc;

        if (pe->c.dead || pe->c.fd >= 0 || !pe->head)
            continue;
        rc = peer_connect(h, pe);
        if (rc == -EAGAIN)
            pending = true;
        else if (rc)
            peer_dead(h, pe, -rc);
        else
            send_fifo(h, pe);
    }
    l->tx_pending = pending;
    reap(h);
}

/* ---- input ---- */

/* Slots 0..n-1 ready to receive into.  A buffer kept (a small frame was
 * copied out of it) keeps its slot as it was: looking at its header again
 * cost a cache miss per slot and call (64 per read of one frame). */
static int fill_rx(struct hub *h, int n)
{
    for (int i = 0; i < n; i++) {
        if (h->rx[i])
            continue;
        if (!(h->rx[i] = xw_link_rx_alloc(&h->link.netif)))
            return i;
        h->rxv[i] = (struct iovec){h->rx[i]->payload, h->rx[i]->len};
        h->rxm[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &h->rxv[i], .msg_iovlen = 1}};
    }
    return n;
}

/* A zero-length read is the end of the connection, or an empty record. */
static bool at_eof(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLRDHUP};
    return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP));
}

/* Receive up to max frames from one connection.  Returns records received. */
static int rx_read(struct hub *h, struct rx_conn *rc, int max)
{
    int n = fill_rx(h, max), got;

    if (n == 0)
        return 0;
    got = recvmmsg(rc->c.fd, h->rxm, (unsigned)n, MSG_DONTWAIT, NULL);
    if (got < 0) {
        if (errno != EAGAIN && errno != EINTR)
            conn_kill(h, &rc->c);
        return 0;
    }
    rc->active_ms = now_ms();
    for (int i = 0; i < got; i++) {
        size_t len = h->rxm[i].msg_len;

        if (len == 0 && at_eof(rc->c.fd)) {
            conn_kill(h, &rc->c);
            return i;
        }
        if ((h->rxm[i].msg_hdr.msg_flags & MSG_TRUNC) || len < XW_ETH_HLEN) {
            h->st.rx_malformed++;
            continue;
        }
        h->st.rx++;
        if (xw_link_rx_deliver(&h->link.netif, h->rx[i], len))
            h->rx[i] = NULL;
    }
    return got;
}

/* Make room for one more connection to us: close the least recently active. */
static void evict_rx(struct hub *h)
{
    struct rx_conn *old = NULL;

    for (struct rx_conn *rc = h->rx_conns; rc; rc = rc->next)
        if (!rc->c.dead && (!old || rc->active_ms < old->active_ms))
            old = rc;
    if (old) {
        if (h->st.rx_evicted++ % 1024 == 0)
            xw_warn("hub: %u connections to us: closing the least active ones", h->n_rx);
        conn_kill(h, &old->c);
    }
}

/* Connections to us we hold at most: MAX_RX_CONNS, or a quarter of the fds. */
static unsigned rx_bound(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur / 4 >= MAX_RX_CONNS)
        return MAX_RX_CONNS;
    return rl.rlim_cur / 4 < 16 ? 16 : (unsigned)(rl.rlim_cur / 4);
}

/* Accept up to ACCEPT_BATCH new connections (the listener stays readable for
 * the rest) and read what they already carry. */
static int accept_all(struct hub *h, int budget)
{
    unsigned bound = rx_bound();
    int got = 0;

    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct rx_conn *rc;
        int fd = accept4(h->listener.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if ((errno == EMFILE || errno == ENFILE) && h->n_rx) {
                evict_rx(h); /* out of fds: take one back from other endpoints */
                continue;
            }
            if (errno != EAGAIN && h->st.accept_errors++ % 1024 == 0)
                xw_warn("hub: accept: %s", strerror(errno));
            return got;
        }
        rc = calloc(1, sizeof(*rc));
        if (!rc) {
            close(fd);
            return got;
        }
        if (h->n_rx >= bound)
            evict_rx(h);
        rc->c = (struct conn){.kind = CONN_RX, .fd = fd};
        rc->active_ms = now_ms();
        rc->next = h->rx_conns;
        h->rx_conns = rc;
        h->n_rx++;
        if (ep_ctl(h, EPOLL_CTL_ADD, &rc->c, EPOLLIN | EPOLLRDHUP)) {
            conn_kill(h, &rc->c);
            continue;
        }
        h->peers_stale = true; /* perhaps an endpoint new to the listing */
        got += rx_read(h, rc, budget - got);
    }
    return got;
}

static void peer_event(struct hub *h, struct peer *pe, uint32_t events)
{
    if (events & (EPOLLERR | EPOLLHUP)) {
        int err = ECONNRESET;
        socklen_t len = sizeof(err);
        (void)getsockopt(pe->c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        peer_dead(h, pe, err ? err : ECONNRESET);
    } else if (events & EPOLLOUT) {
        send_fifo(h, pe);
    }
}

static int hub_input(struct xw_link *l)
{
    struct hub *h = (struct hub *)l;
    struct epoll_event ev[EVENTS];
    int n, got = 0;

    n = epoll_wait(l->fd, ev, EVENTS, 0);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    h->in_input++;
    for (int i = 0; i < n; i++) {
        struct conn *c = ev[i].data.ptr;

        if (c->dead)
            continue;
        if (c->kind == CONN_LISTENER)
            got += accept_all(h, XW_LINK_RX_BATCH - got);
        else if (c->kind == CONN_PEER)
            peer_event(h, (struct peer *)c, ev[i].events);
        else if (got < XW_LINK_RX_BATCH)
            got += rx_read(h, (struct rx_conn *)c, XW_LINK_RX_BATCH - got);
    }
    h->in_input--;
    reap(h);
    return got;
}

/* ---- lifecycle ---- */

static void hub_free(struct hub *h)
{
    for (int i = 0; i < XW_LINK_RX_BATCH; i++)
        if (h->rx[i])
            pbuf_free(h->rx[i]);
    free(h->tx_buf);
    free(h);
}

/* The endpoint's own name (its MAC in hex), in self.sun_path after the
 * directory, which it ends there for the calls that want the directory. */
static const char *split_self(struct hub *h)
{
    h->self.sun_path[h->dir_len] = '\0';
    return h->self.sun_path + h->dir_len + 1;
}

static void join_self(struct hub *h)
{
    h->self.sun_path[h->dir_len] = '/';
}

static int hub_claim(struct xw_link *l, const struct xw_cidr *addrs, int n, char *err,
                     size_t errlen)
{
    struct hub *h = (struct hub *)l;
    int rc;

    if (n > XW_MAX_ADDRS)
        return -EINVAL;
    rc = xw_hub_claim(h->self.sun_path, split_self(h), addrs, n, false, err, errlen);
    join_self(h);
    if (rc == -EADDRINUSE) { /* its owner listens: does a stack answer for it? */
        rc = xw_link_probe(l, addrs, n, err, errlen);
        if (rc == 0) {
            xw_info("hub: the claims on our addresses are stale (nobody answers): taken over");
            rc = xw_hub_claim(h->self.sun_path, split_self(h), addrs, n, true, err, errlen);
            join_self(h);
        }
    }
    if (rc == 0) {
        memcpy(h->claims, addrs, sizeof(*addrs) * (size_t)n);
        h->n_claims = n;
    }
    return rc;
}

static void hub_close(struct xw_link *l)
{
    struct hub *h = (struct hub *)l;
    unsigned long queued = 0;

    xw_hub_unclaim(h->self.sun_path, split_self(h), h->claims, h->n_claims);
    join_self(h);

    netif_remove(&l->netif);
    for (struct peer *pe = h->peers; pe; pe = pe->next) {
        if (pe->c.fd >= 0 && pe->head)
            send_fifo(h, pe); /* what fits; nobody will wait for the rest */
        queued += pe->n_queued;
        conn_kill(h, &pe->c);
    }
    for (struct rx_conn *rc = h->rx_conns; rc; rc = rc->next)
        conn_kill(h, &rc->c);
    reap(h);
    unlink(h->self.sun_path);
    close(h->listener.fd);
    close(l->fd);
    xw_info("hub: %s closed: rx %lu (malformed %lu, connections evicted %lu), tx %lu "
            "(waited %lu), dropped: full %lu, dead %lu, error %lu, unsent %lu",
            h->self.sun_path, h->st.rx, h->st.rx_malformed, h->st.rx_evicted, h->st.tx,
            h->st.tx_queued,
            h->st.tx_full, h->st.tx_dead, h->st.tx_error, queued);
    hub_free(h);
}

static const struct xw_link_ops hub_ops = {
    .input = hub_input,
    .flush = hub_flush,
    .close = hub_close,
    .claim = hub_claim,
};

static err_t hub_netif_init(struct netif *n)
{
    struct hub *h = n->state;

    n->name[0] = 'h';
    n->name[1] = 'b';
    n->linkoutput = hub_linkoutput;
    n->mtu = (u16_t)(h->frame_max - XW_ETH_HLEN);
    n->hwaddr_len = 6;
    NETIF_SET_CHECKSUM_CTRL(n, NETIF_CHECKSUM_DISABLE_ALL);
    return ERR_OK;
}

/* Listen under a temporary name, then link a fresh random MAC's name to it: an
 * endpoint's name never refers to a socket not yet listening, which a sender
 * would take for a dead endpoint's and remove. */
static int bind_endpoint(struct hub *h)
{
    struct sockaddr_un tmp = h->self;
    uint8_t r[6];
    int rc = -EADDRINUSE;

    xw_link_eth_random_mac(r);
    snprintf(tmp.sun_path + h->dir_len + 1, XW_HUB_NAME_LEN + 1, ".%02x%02x%02x%02x%02x",
             r[1], r[2], r[3], r[4], r[5]);
    if (bind(h->listener.fd, (struct sockaddr *)&tmp, sizeof(tmp)))
        return -errno;
    /* Whoever may write in the hub's directory may join it, so may connect
     * to us: the socket takes the directory's permissions, not our umask
     * (postgres runs with 077: no other user's stack could answer it). */
    if (chmod(tmp.sun_path, h->dir_mode)) {
        rc = -errno;
        goto out_unlink;
    }
    if (listen(h->listener.fd, SOMAXCONN)) {
        rc = -errno;
        goto out_unlink;
    }
    for (int tries = 0; tries < 8; tries++) {
        xw_link_eth_random_mac(h->link.netif.hwaddr);
        name_for(h, h->link.netif.hwaddr, &h->self);
        if (!link(tmp.sun_path, h->self.sun_path)) {
            rc = 0;
            break;
        }
        if (errno != EEXIST) {
            rc = -errno;
            break;
        }
    }
out_unlink:
    unlink(tmp.sun_path);
    return rc;
}

static int open_dir(struct hub *h, const char *path)
{
    struct stat sb;

    h->dir_len = strlen(path);
    if (h->dir_len == 0 || h->dir_len > XW_HUB_PATH_MAX)
        return -ENAMETOOLONG;
    if (mkdir(path, 0777) && errno != EEXIST)
        return -errno;
    if (stat(path, &sb))
        return -errno;
    if (!S_ISDIR(sb.st_mode))
        return -ENOTDIR;
    h->dir_mode = sb.st_mode & 0777;
    h->self.sun_family = AF_UNIX;
    memcpy(h->self.sun_path, path, h->dir_len);
    h->self.sun_path[h->dir_len] = '/';
    return 0;
}

int xw_link_hub_open(const char *path, unsigned mtu, struct xw_link **out)
{
    struct hub *h = calloc(1, sizeof(*h));
    int rc;

    if (!h)
        return -ENOMEM;
    h->frame_max = xw_link_eth_mtu(mtu) + XW_ETH_HLEN;
    h->link.ops = &hub_ops;
    h->listener = (struct conn){.kind = CONN_LISTENER, .fd = -1};
    rc = open_dir(h, path);
    if (rc)
        goto out_free;
    rc = -ENOMEM;
    h->tx_buf = malloc(h->frame_max);
    if (!h->tx_buf)
        goto out_free;
    h->link.fd = epoll_create1(EPOLL_CLOEXEC);
    if (h->link.fd < 0) {
        rc = -errno;
        goto out_free;
    }
    h->listener.fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (h->listener.fd < 0) {
        rc = -errno;
        goto out_close_ep;
    }
    rc = bind_endpoint(h);
    if (rc)
        goto out_close_listener;
    rc = ep_ctl(h, EPOLL_CTL_ADD, &h->listener, EPOLLIN);
    if (rc)
        goto out_unlink;
    rc = xw_link_eth_add(&h->link, hub_netif_init);
    if (rc)
        goto out_unlink;
    h->peers_stale = true;
    xw_info("hub: joined as %s, mtu %u", h->self.sun_path, h->link.netif.mtu);
    *out = &h->link;
    return 0;

out_unlink:
    unlink(h->self.sun_path);
out_close_listener:
    close(h->listener.fd);
out_close_ep:
    close(h->link.fd);
out_free:
    hub_free(h);
    return rc;
}

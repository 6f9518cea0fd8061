/* The process channel (owner.h): the owner's service thread and the client's
 * calls. */
#include "owner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handoff.h"
#include "log.h"
#include "polling.h"
#include "ring_events.h"
#include "ring_path.h"
#include "sock_linux.h"
#include "socket.h"
#include "stack.h"
#include "tcp_path.h"
#include "thread.h"
#include "xway.h"

#define MAX_CLIENTS 256   /* connected client processes at a time */
#define MAX_PENDING 256   /* CONNECTs in progress at a time */
#define MAX_DLG 1024      /* connections served by satellites at a time */
#define REPLY_WAIT_MS 5000 /* a client gives the owner this long to answer */

enum { OWN_MAGIC = 0x4f575758u, OWN_VERSION = 4 };
enum own_op {
    OWN_ACCEPT = 1,
    OWN_CONNECT = 2,
    OWN_LISTEN = 3,
    OWN_HELLO = 4,
    OWN_OPEN = 5,
    OWN_CLAIM = 6,
};

struct own_req {
    uint32_t magic;
    uint16_t version;
    uint16_t op;
    uint8_t token[16];
    int32_t flags;                  /* ACCEPT: SOCK_*; LISTEN: XW_OWNER_REUSE* */
    uint32_t addrlen;               /* CONNECT: the destination; LISTEN: the name */
    struct sockaddr_storage addr;
    uint32_t filler;                /* CONNECT: bytes to drop from the stream first;
                                       LISTEN: the backlog */
    uint32_t direct;                /* ACCEPT: a ring connection may come as a
                                       satellite's (the client said HELLO) */
    char name[48];                  /* OPEN: the sim host's file */
};

struct own_rep {
    uint32_t magic;
    int32_t result; /* 0: one fd attached; -errno */
    struct xw_owner_conn conn;
    uint32_t direct; /* ACCEPT, CLAIM: 1: the fd is a life socket, desc the channel */
    uint32_t tail;   /* CLAIM: the pump's last bytes follow on the life socket */
    struct xw_chan_desc desc;
    struct xw_chan_pos pos; /* CLAIM: where the pump left the channel */
};

/* The life socket's messages, satellite -> owner: 'C' closed, 'R' reset, or
 * 'U' with the positions the satellite reached (it gives the connection back:
 * another process may use it, which only a pump serves); the owner answers a
 * give-back 'K' with the handed-off connection's number, or 'E'. */
struct life_msg {
    char how;
    char pad[3];
    struct xw_chan_pos pos;
};

/* A satellite's eventfd (HELLO), which we signal on every event of its
 * channels' ports: held by its client slot and by each connection it serves. */
struct evfd {
    int fd, refs; /* (the service thread's) */
};

/* A connection a satellite serves (satellite.h): our socket, the life
 * socket's end we watch, the satellite's eventfd. */
struct dlg {
    struct xw_sock *c;
    int life;
    struct evfd *ev;
};

static struct evfd *ev_get(struct evfd *e)
{
    if (e)
        e->refs++;
    return e;
}

static void ev_put(struct evfd *e)
{
    if (e && --e->refs == 0) {
        close(e->fd);
        free(e);
    }
}

/* The service's state: written by start/stop/pause/resume/forget (the thread
 * not running) and used by the thread; the clients also change in the thread,
 * under mu (the keeper reads their pids from another thread). */
static struct {
    struct xw_owner_ref self;   /* how children reach this stack */
    struct xw_owner_ref parent; /* the owner of the sockets we inherited */
    int lfd, stop_fd;
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    int clients[MAX_CLIENTS];
    pid_t client_pid[MAX_CLIENTS];
    int client_lfd[MAX_CLIENTS]; /* LISTEN: the listener this client keeps, -1 */
    struct evfd *client_ev[MAX_CLIENTS]; /* HELLO: the client's satellite eventfd */
    int nclients;
    struct dlg *dlg[MAX_DLG];
    int ndlg;
    /* CONNECTs in progress: the client connection that asked (answered when
     * the connect ends), the stream end it passed, our socket, the filler. */
    struct pending {
        int cfd, b, fd;
        uint32_t filler;
    } pend[MAX_PENDING];
    int npend;
} own = { .lfd = -1, .stop_fd = -1, .mu = PTHREAD_MUTEX_INITIALIZER };

const struct xw_owner_ref *xw_owner_parent(void)
{
    return own.parent.valid ? &own.parent : NULL;
}

/* ---- owner side ----------------------------------------------------------- */

static bool token_ok(const uint8_t *t)
{
    uint8_t d = 0;

    for (int i = 0; i < 16; i++)
        d |= t[i] ^ own.self.token[i];
    return d == 0;
}

/* The listener whose number is a file with this inode (lock held). */
static dev_t want_dev;
static ino_t want_ino;
static struct xw_sock *found;

static void match_listener(struct xw_sock *s)
{
    struct xw_sock_linux *lx = xw_lx(s);
    struct stat st;

    if (found || s->state != XW_SS_LISTEN || lx->ready.a < 0)
        return;
    if (!lx->a_ino) { /* (once: a listener's number stays its file) */
        if (fstat(lx->ready.a, &st) < 0)
            return;
        lx->a_dev = st.st_dev;
        lx->a_ino = st.st_ino;
    }
    if (lx->a_dev == want_dev && lx->a_ino == want_ino)
        found = s;
}

static ssize_t send_msg(int sock, const void *msg, size_t len, int fd, int flags);
static void opener_forget(bool child);

/* The owner's dispatcher (lock held): an event of a satellite's channel. */
static bool forward(void *arg)
{
    struct dlg *d = arg;
    uint64_t one = 1;

    (void)!write(d->ev->fd, &one, sizeof(one));
    return xw_channel_progress(d->c->ring.ch);
}

/* A ring connection to be served by the satellite whose eventfd is ev
 * (lock held): 0 with rep->desc and *out the life socket's end to pass, or
 * -errno (then it is handed off as any other). */
static int delegate(struct xw_sock *c, struct evfd *ev, struct own_rep *rep, int *out)
{
    struct dlg *d;
    int sv[2];

    if (!ev || own.ndlg == MAX_DLG || xw_path_of(c) != &xw_ring_ops || !c->ring.ch ||
        xw_channel_describe(c->ring.ch, &rep->desc) < 0)
        return -EINVAL;
    if (!(d = calloc(1, sizeof(*d))))
        return -ENOMEM;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) {
        free(d);
        return -errno;
    }
    d->c = c;
    d->life = sv[0];
    d->ev = ev_get(ev); /* (shared: one per satellite) */
    if (xw_rpath_forward(c, forward, d) < 0) {
        ev_put(d->ev);
        close(sv[0]);
        close(sv[1]);
        free(d);
        return -ENOMEM;
    }
    c->for_other = true;
    xw_channel_lend(c->ring.ch, true);
    pthread_mutex_lock(&own.mu);
    own.dlg[own.ndlg++] = d;
    pthread_mutex_unlock(&own.mu);
    rep->direct = 1;
    *out = sv[1];
    return 0;
}

static void drop_dlg(int k)
{
    pthread_mutex_lock(&own.mu);
    own.dlg[k] = own.dlg[--own.ndlg];
    pthread_mutex_unlock(&own.mu);
}

/* Satellite connection k let go (how: 'C' closed, 'R' reset, 0: its process
 * died or exited without a word): our socket closes the same way; a process's
 * end closes its connections as the kernel would, gracefully unless it left
 * bytes unread (then reset).  The service thread, lock not held. */
static void undelegate(int k, char how)
{
    struct dlg *d = own.dlg[k];

    drop_dlg(k);
    xw_stack_lock();
    xw_rpath_forward(d->c, NULL, d);
    if (!how)
        how = xw_channel_lent_unread(d->c->ring.ch) ? 'R' : 'C';
    if (how != 'C')
        d->c->linger_on = 1, d->c->linger_s = 0;
    else { /* its end is marked (its process gone, or its close first): ours again to park */
        xw_channel_lend(d->c->ring.ch, false);
        d->c->for_other = false;
    }
    xw_debug("fd %d: the process serving it %s the connection", d->c->fd,
             how == 'C' ? "closed" : "reset");
    xw_sock_close_locked(d->c);
    xw_stack_leave();
    close(d->life);
    ev_put(d->ev);
    free(d);
}

/* A satellite gives connection k back (it forks or execs): from the
 * positions it reached, the connection is handed off (handoff.h) and its
 * number passed back on the life socket, as an ACCEPT would. */
static void give_back(int k, const struct xw_chan_pos *pos)
{
    struct dlg *d = own.dlg[k];
    struct xw_sock *c = d->c;
    int rc, out = -1;

    xw_stack_lock();
    xw_rpath_forward(c, NULL, d);
    xw_channel_lend(c->ring.ch, false);
    xw_channel_set_position(c->ring.ch, pos);
    c->for_other = false;
    rc = xw_handoff_locked(c, true);
    if (rc == 0) {
        out = c->fd;
        xw_sock_unmark(c->fd); /* the number is ours to close once passed */
    }
    xw_stack_leave();
    if (rc < 0) {
        xw_warn("fd %d: a connection given back could not be handed off (%s): reset", c->fd,
                strerror(-rc));
        (void)send_msg(d->life, "E", 1, -1, MSG_DONTWAIT);
        xw_stack_lock();
        xw_rpath_forward(c, forward, d);
        xw_stack_unlock();
        undelegate(k, 'R');
        return;
    }
    (void)send_msg(d->life, "K", 1, out, MSG_DONTWAIT);
    close(out);
    drop_dlg(k);
    close(d->life);
    ev_put(d->ev);
    free(d);
    xw_debug("fd %d: given back by the process that served it: pumped", c->fd);
}

static void life_event(int k)
{
    struct life_msg m = { 0 };
    ssize_t n = recv(own.dlg[k]->life, &m, sizeof(m), MSG_DONTWAIT);

    if (n < 0 && errno == EAGAIN)
        return;
    if (n == (ssize_t)sizeof(m) && m.how == 'U')
        give_back(k, &m.pos);
    else
        undelegate(k, n > 0 ? m.how : 0);
}

/* ACCEPT: the next queued connection, handed off (or, to a satellite, its
 * channel described); *out its number or life socket (to pass, then close:
 * the receiver's copy keeps it). */
static int do_accept(int lfd, int flags, struct evfd *ev, struct own_rep *rep, int *out)
{
    struct stat st;
    struct xw_sock *l, *c;
    int rc;

    if (lfd < 0 || fstat(lfd, &st) < 0 || !S_ISSOCK(st.st_mode))
        return -ENOTSOCK;
    xw_stack_lock();
    if (!xw_stack_running()) {
        xw_stack_unlock();
        return -ECONNRESET;
    }
    want_dev = st.st_dev;
    want_ino = st.st_ino;
    found = NULL;
    xw_sock_foreach(match_listener);
    l = found;
    if (!l) {
        xw_stack_unlock();
        return -EINVAL;
    }
    if (!(c = xw_tcp_accept_next(l))) {
        xw_stack_leave();
        return -EAGAIN;
    }
    c->nonblock = (flags & SOCK_NONBLOCK) != 0;
    rep->conn.selflen = sizeof(rep->conn.self);
    rep->conn.peerlen = sizeof(rep->conn.peer);
    xw_sock_name_locked(c, false, (struct sockaddr *)&rep->conn.self, &rep->conn.selflen);
    xw_sock_name_locked(c, true, (struct sockaddr *)&rep->conn.peer, &rep->conn.peerlen);
    snprintf(rep->conn.path, sizeof(rep->conn.path), "%s", xw_path_of(c)->name);
    if (delegate(c, ev, rep, out) == 0) {
        xw_debug("fd %d: connection of listener fd %d served by another process (ring)",
                 c->fd, l->fd);
        xw_stack_leave();
        return 0;
    }
    rc = xw_handoff_locked(c, true);
    if (rc < 0) {
        xw_warn("fd %d: a connection for another process could not be handed off (%s): "
                "closed", c->fd, strerror(-rc));
        xw_sock_close_locked(c);
    } else {
        *out = c->fd;
        xw_sock_unmark(c->fd); /* the number is ours to close once passed */
        xw_debug("fd %d: connection of listener fd %d passed to another process (%s path)",
                 c->fd, l->fd, rep->conn.path);
    }
    xw_stack_leave();
    return rc;
}

/* CLAIM: the connection handed off at a fork whose number fd (a copy of the
 * client's) is, for the client to serve itself (it said HELLO: evfd): its
 * pump ended (handoff.h), its channel described with the positions reached,
 * *out the life socket's end to pass. */
static int do_claim(int fd, struct evfd *ev, struct own_rep *rep, int *out)
{
    static char tail[XW_HANDOFF_TAIL_MAX]; /* (the service thread's) */
    size_t taillen = 0;
    struct stat st;
    struct xw_sock *c;
    int rc;

    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
        return -ENOTSOCK;
    if (!ev || own.ndlg == MAX_DLG)
        return !ev ? -EPERM : -EAGAIN;
    xw_stack_lock();
    if ((rc = xw_handoff_claim_locked(st.st_dev, st.st_ino, &c, tail, &taillen)) < 0) {
        xw_stack_unlock();
        return rc;
    }
    rep->conn.selflen = sizeof(rep->conn.self);
    rep->conn.peerlen = sizeof(rep->conn.peer);
    xw_sock_name_locked(c, false, (struct sockaddr *)&rep->conn.self, &rep->conn.selflen);
    xw_sock_name_locked(c, true, (struct sockaddr *)&rep->conn.peer, &rep->conn.peerlen);
    snprintf(rep->conn.path, sizeof(rep->conn.path), "%s", xw_path_of(c)->name);
    xw_channel_position(c->ring.ch, &rep->pos);
    if ((rc = delegate(c, ev, rep, out)) < 0) {
        /* The pump is gone: the connection cannot go on. */
        xw_warn("fd %d: a claimed connection could not be lent (%s): reset", c->fd,
                strerror(-rc));
        c->linger_on = 1, c->linger_s = 0;
        xw_sock_close_locked(c);
        xw_stack_leave();
        return -ECONNRESET;
    }
    xw_sock_put(c); /* the pump's reference: the satellite's dlg holds c now */
    xw_debug("fd %d: connection claimed by the process that holds it (ring)", c->fd);
    xw_stack_leave();
    /* The pump's bytes the stream had no room for follow on the life socket. */
    if (taillen && send(own.dlg[own.ndlg - 1]->life, tail, taillen,
                        MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)taillen) {
        xw_warn("a claimed connection's last pumped bytes cannot follow (%s): reset",
                strerror(errno));
        close(*out);
        *out = -1;
        undelegate(own.ndlg - 1, 'R');
        return -ECONNRESET;
    }
    rep->tail = (uint32_t)taillen;
    return 0;
}

/* One message with fd attached if >= 0. */
static ssize_t send_msg(int sock, const void *msg, size_t len, int fd, int flags)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec v = { (void *)msg, len };
    struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };

    if (fd >= 0) {
        struct cmsghdr *c;
        memset(&u, 0, sizeof(u));
        m.msg_control = u.buf;
        m.msg_controllen = sizeof(u.buf);
        c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    return sendmsg(sock, &m, flags | MSG_NOSIGNAL);
}

/* One message: its length (or -1, errno), *fd the first fd it carried (-1:
 * none; any other is closed), *nfds how many it carried (-1: truncated). */
static ssize_t recv_msg(int sock, void *msg, size_t len, int flags, int *fd, int *nfds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } u;
    struct iovec v = { msg, len };
    struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1, .msg_control = u.buf,
                        .msg_controllen = sizeof(u.buf) };
    ssize_t n;

    *fd = -1;
    *nfds = 0;
    while ((n = recvmsg(sock, &m, flags)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                int f;
                memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                if ((*nfds)++ == 0)
                    *fd = f;
                else
                    close(f);
            }
    if (m.msg_flags & MSG_CTRUNC)
        *nfds = -1;
    return n;
}

/* fd, a socket of ours, is another process's (struct xw_sock.for_other). */
static void for_other(int fd)
{
    struct xw_sock *s = xw_api_enter(fd);

    if (s) {
        s->for_other = true;
        xw_api_leave(0);
    }
}

/* CONNECT: a socket of ours connecting to req's destination for the client,
 * its bytes to go through the stream end b it passed (an AF_UNIX stream).
 * Answered when the connect ends (finish_connect); 0: pending (b is ours
 * now), or -errno at once. */
static int start_connect(int cfd, const struct own_req *req, int b)
{
    struct stat st;
    int type = 0, one = 1, fd, fam = req->addr.ss_family;
    socklen_t tl = sizeof(type);

    if (b < 0 || fstat(b, &st) < 0 || !S_ISSOCK(st.st_mode) ||
        getsockopt(b, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM)
        return -ENOTSOCK;
    if ((fam != AF_INET && fam != AF_INET6) || req->addrlen > sizeof(req->addr) ||
        req->filler > (1u << 24))
        return -EINVAL;
    if (own.npend == MAX_PENDING)
        return -EAGAIN;
    fd = xway_socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    for_other(fd);
    /* Its number then follows its state exactly: poll sees the connect end. */
    xway_setsockopt(fd, XWAY_SOL, XWAY_POLLED, &one, sizeof(one));
    if (xway_connect(fd, (const struct sockaddr *)&req->addr, req->addrlen) < 0 &&
        errno != EINPROGRESS) {
        int e = errno;
        xway_close(fd);
        return -e;
    }
    own.pend[own.npend++] = (struct pending){ .cfd = cfd, .b = b, .fd = fd,
                                              .filler = req->filler };
    return 0;
}

static void drop_pending(int i)
{
    own.pend[i] = own.pend[--own.npend];
}

/* Pending connect i is over (its number polled ready): hand the connection to
 * the client's stream and answer. */
static void finish_connect(int i)
{
    struct pending p = own.pend[i];
    struct own_rep rep = { .magic = OWN_MAGIC };
    struct xw_sock *s;
    int err = 0;
    socklen_t el = sizeof(err);

    drop_pending(i);
    if (xway_getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
        err = errno;
    if (err == 0 && (s = xw_api_enter(p.fd)) != NULL) {
        rep.conn.selflen = sizeof(rep.conn.self);
        rep.conn.peerlen = sizeof(rep.conn.peer);
        xw_sock_name_locked(s, false, (struct sockaddr *)&rep.conn.self, &rep.conn.selflen);
        xw_sock_name_locked(s, true, (struct sockaddr *)&rep.conn.peer, &rep.conn.peerlen);
        snprintf(rep.conn.path, sizeof(rep.conn.path), "%s", xw_path_of(s)->name);
        err = (int)-xw_handoff_to_locked(s, p.b, p.filler);
        xw_api_leave(0);
        if (err == 0) {
            p.b = -1; /* the pump's */
            xw_debug("fd %d: connected for another process (%s path)", p.fd, rep.conn.path);
        }
    } else if (err == 0) {
        err = errno;
    }
    if (err)
        xway_close(p.fd);
    if (p.b >= 0)
        close(p.b); /* the client's stream ends: EOF, and SO_ERROR says why */
    rep.result = -err;
    (void)send_msg(p.cfd, &rep, sizeof(rep), -1, MSG_DONTWAIT);
    /* One CONNECT per client connection: the client reads the answer when it
     * likes (it stays queued); its slot is free at once. */
    shutdown(p.cfd, SHUT_RDWR);
}

/* LISTEN: a listener of our stack for client i (a forked child's own
 * listen(), e.g. an SO_REUSEPORT listener per worker), bound to req's name
 * with req's options; *out its number, to pass (and keep: the listener lives
 * as long as the client's connection). */
static int do_listen(int i, const struct own_req *req, int *out)
{
    int fam = req->addr.ss_family, fd, one = 1, e;

    if ((fam != AF_INET && fam != AF_INET6) || req->addrlen > sizeof(req->addr) ||
        (req->flags & ~(XW_OWNER_REUSEADDR | XW_OWNER_REUSEPORT)))
        return -EINVAL;
    if (own.client_lfd[i] >= 0)
        return -EBUSY; /* one per client connection */
    if ((fd = xway_socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return -errno;
    for_other(fd);
    if (((req->flags & XW_OWNER_REUSEADDR) &&
         xway_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) ||
        ((req->flags & XW_OWNER_REUSEPORT) &&
         xway_setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
        xway_bind(fd, (const struct sockaddr *)&req->addr, req->addrlen) < 0 ||
        xway_listen(fd, (int)(req->filler > 4096 ? 4096 : req->filler)) < 0) {
        e = errno;
        xway_close(fd);
        return -e;
    }
    own.client_lfd[i] = *out = fd;
    xw_debug("fd %d: listening for another process", fd);
    return 0;
}

/* One request of client cfd: false when the client is to be dropped.  A reply
 * is sent without blocking: a client that does not read its replies is dropped. */
static bool serve_one(int i)
{
    struct own_req req;
    struct own_rep rep = { .magic = OWN_MAGIC };
    int cfd = own.clients[i], fd, nfds, out = -1;
    bool pass_only = false; /* out is ours to keep once passed */
    ssize_t n = recv_msg(cfd, &req, sizeof(req), MSG_DONTWAIT | MSG_CMSG_CLOEXEC, &fd, &nfds);
    bool keep;

    if (n < 0)
        return errno == EAGAIN;
    keep = n == (ssize_t)sizeof(req) && req.magic == OWN_MAGIC && token_ok(req.token);
    if (!keep && n > 0)
        xw_warn_peer("process channel: a malformed or unauthenticated request: client dropped");
    else if (keep && (req.version != OWN_VERSION ||
                      nfds != (req.op == OWN_LISTEN || req.op == OWN_OPEN ? 0 : 1) ||
                      req.op < OWN_ACCEPT || req.op > OWN_CLAIM))
        rep.result = -EINVAL;
    else if (keep && req.op == OWN_OPEN) {
        req.name[sizeof(req.name) - 1] = '\0';
        rep.result = xw_xenif_open_file(xw_rev_xenif(), req.name, req.flags);
        if (rep.result >= 0) {
            out = rep.result;
            rep.result = 0;
        }
    }
    else if (keep && req.op == OWN_HELLO) {
        struct evfd *e = malloc(sizeof(*e));
        if (e) { /* only ever written, 8 bytes, nonblocking */
            *e = (struct evfd){ .fd = fd, .refs = 1 };
            fd = -1;
            (void)!fcntl(e->fd, F_SETFL, O_NONBLOCK);
            ev_put(own.client_ev[i]);
            own.client_ev[i] = e;
        }
    }
    else if (keep && req.op == OWN_CONNECT) {
        if ((rep.result = start_connect(cfd, &req, fd)) == 0)
            return true; /* answered when the connect ends */
    } else if (keep && req.op == OWN_LISTEN) {
        rep.result = do_listen(i, &req, &out);
        pass_only = true;
    } else if (keep && req.op == OWN_CLAIM) {
        rep.result = do_claim(fd, own.client_ev[i], &rep, &out);
    } else if (keep)
        rep.result = do_accept(fd, req.flags, req.direct ? own.client_ev[i] : NULL, &rep, &out);
    if (fd >= 0)
        close(fd);
    if (keep && send_msg(cfd, &rep, sizeof(rep), rep.result == 0 ? out : -1, MSG_DONTWAIT) !=
                    (ssize_t)sizeof(rep))
        keep = false;
    if (out >= 0 && !pass_only)
        close(out); /* passed (the connection lives in the client), or lost with it */
    return keep;
}

/* cancel: its connects in progress are nobody's now (the service thread);
 * otherwise they are only forgotten (stop: the stack closes its sockets; a
 * forked child: they are the parent's). */
static void drop_client(int i, bool cancel)
{
    if (own.client_lfd[i] >= 0 && cancel) /* the child closed its listener, or is gone */
        xway_close(own.client_lfd[i]);
    own.client_lfd[i] = -1;
    ev_put(own.client_ev[i]);
    own.client_ev[i] = NULL;
    for (int k = own.npend - 1; k >= 0; k--)
        if (own.pend[k].cfd == own.clients[i]) {
            if (cancel)
                xway_close(own.pend[k].fd);
            close(own.pend[k].b);
            drop_pending(k);
        }
    pthread_mutex_lock(&own.mu);
    close(own.clients[i]);
    own.nclients--;
    own.clients[i] = own.clients[own.nclients];
    own.client_pid[i] = own.client_pid[own.nclients];
    own.client_lfd[i] = own.client_lfd[own.nclients];
    own.client_ev[i] = own.client_ev[own.nclients];
    pthread_mutex_unlock(&own.mu);
}

static void add_client(int c)
{
    struct ucred uc = { 0 };
    socklen_t l = sizeof(uc);

    getsockopt(c, SOL_SOCKET, SO_PEERCRED, &uc, &l);
    pthread_mutex_lock(&own.mu);
    if (own.nclients < MAX_CLIENTS) {
        own.client_pid[own.nclients] = uc.pid;
        own.client_lfd[own.nclients] = -1;
        own.client_ev[own.nclients] = NULL;
        own.clients[own.nclients++] = c;
        c = -1;
    }
    pthread_mutex_unlock(&own.mu);
    if (c >= 0)
        close(c);
}

static void *serve(void *arg)
{
    static struct pollfd p[MAX_CLIENTS + MAX_PENDING + MAX_DLG + 2];

    /* Its xway_poll's waiter (an eventfd) before start_serve returns: the
     * process's fds do not change behind the back of whoever started the
     * stack (a test counting them saw one appear late, under load). */
    (void)xw_poll_thread_init();
    sem_post(arg); /* (the starter's: not touched after) */
    for (;;) {
        int n = own.nclients, np = own.npend, nd = own.ndlg;
        p[0] = (struct pollfd){ .fd = own.stop_fd, .events = POLLIN };
        p[1] = (struct pollfd){ .fd = own.lfd, .events = POLLIN };
        for (int i = 0; i < n; i++)
            p[i + 2] = (struct pollfd){ .fd = own.clients[i], .events = POLLIN };
        for (int i = 0; i < np; i++)
            p[n + 2 + i] = (struct pollfd){ .fd = own.pend[i].fd, .events = POLLOUT };
        for (int i = 0; i < nd; i++)
            p[n + np + 2 + i] = (struct pollfd){ .fd = own.dlg[i]->life, .events = POLLIN };
        if (xway_poll(p, (nfds_t)(n + np + nd + 2), -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents)
            break;
        for (int i = nd - 1; i >= 0; i--)
            if (p[n + np + 2 + i].revents)
                life_event(i);
        for (int i = np - 1; i >= 0; i--)
            if (p[n + 2 + i].revents)
                finish_connect(i);
        for (int i = n - 1; i >= 0; i--)
            if (p[i + 2].revents && !serve_one(i))
                drop_client(i, true);
        if (p[1].revents & POLLIN) {
            int c = accept4(own.lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (c >= 0)
                add_client(c);
        }
    }
    return NULL;
}

/* The service thread, once it has its waiter.  0 or -errno. */
static int start_serve(void)
{
    sem_t started;
    int rc;

    if (sem_init(&started, 0, 0) < 0)
        return -EAGAIN;
    rc = xw_thread_start(&own.thread, false, "xway-owner", serve, &started);
    if (!rc)
        while (sem_wait(&started) < 0)
            ;
    sem_destroy(&started);
    return rc;
}

int xw_owner_start(void)
{
    uint8_t rnd[8];
    int rc, n;

    if (own.running)
        return 0;
    if (getrandom(own.self.token, sizeof(own.self.token), 0) != sizeof(own.self.token) ||
        getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
        return -EIO;
    memset(&own.self.name, 0, sizeof(own.self.name));
    own.self.name.sun_family = AF_UNIX;
    n = snprintf(own.self.name.sun_path + 1, sizeof(own.self.name.sun_path) - 1,
                 "xway-owner-%d-%02x%02x%02x%02x%02x%02x%02x%02x", (int)getpid(), rnd[0],
                 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    own.self.namelen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
    own.lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    own.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (own.lfd < 0 || own.stop_fd < 0 ||
        bind(own.lfd, (struct sockaddr *)&own.self.name, own.self.namelen) < 0 ||
        listen(own.lfd, 64) < 0) {
        rc = -errno;
        goto out;
    }
    own.nclients = 0;
    if ((rc = start_serve()) < 0)
        goto out;
    own.running = true;
    own.self.valid = true;
    return 0;
out:
    xw_owner_stop();
    return rc;
}

/* The service's fds: closed (stop), or the parent's (forget: only closed).
 * stop: the satellites' connections are ours again (the stack closes them). */
static void close_fds(bool stop)
{
    while (own.nclients)
        drop_client(0, false);
    /* A satellite's connection ends as its process let it go, which the
     * service thread may not have seen yet; one still served (no keeper
     * could take over) is closed. */
    while (stop && own.ndlg) {
        struct life_msg m = { 0 };
        ssize_t n = recv(own.dlg[own.ndlg - 1]->life, &m, sizeof(m), MSG_DONTWAIT);
        char how = n > 0 ? (m.how == 'C' ? 'C' : 'R') : n < 0 && errno == EAGAIN ? 'C' : 0;
        undelegate(own.ndlg - 1, how);
    }
    for (int k = 0; k < own.ndlg; k++) {
        close(own.dlg[k]->life);
        ev_put(own.dlg[k]->ev);
        free(own.dlg[k]);
    }
    own.ndlg = 0;
    if (own.lfd >= 0)
        close(own.lfd);
    if (own.stop_fd >= 0)
        close(own.stop_fd);
    own.lfd = own.stop_fd = -1;
    own.self.valid = false;
}

void xw_owner_pause(void)
{
    uint64_t v;

    if (!own.running)
        return;
    (void)!write(own.stop_fd, &(uint64_t){ 1 }, sizeof(uint64_t));
    pthread_join(own.thread, NULL);
    (void)!read(own.stop_fd, &v, sizeof(v));
    own.running = false;
}

void xw_owner_stop(void)
{
    xw_owner_pause();
    close_fds(true);
}

int xw_owner_resume(void)
{
    int rc;

    if (own.running || own.lfd < 0)
        return 0;
    if ((rc = start_serve()) == 0)
        own.running = true;
    return rc;
}

bool xw_owner_clients_alive(void)
{
    bool any = false;

    pthread_mutex_lock(&own.mu);
    /* A satellite's connection lives while its life socket does (its process
     * lets go or dies: the service thread may not have seen it yet). */
    for (int k = 0; k < own.ndlg && !any; k++) {
        struct pollfd p = { .fd = own.dlg[k]->life, .events = POLLIN };
        any = poll(&p, 1, 0) == 0 || !(p.revents & (POLLHUP | POLLERR));
    }
    for (int i = 0; i < own.nclients && !any; i++)
        any = own.client_pid[i] > 0 && (kill(own.client_pid[i], 0) == 0 || errno == EPERM);
    pthread_mutex_unlock(&own.mu);
    return any;
}

void xw_owner_forget(void)
{
    if (own.self.valid)
        own.parent = own.self;
    pthread_mutex_init(&own.mu, NULL);
    own.running = false;
    close_fds(false);
    opener_forget(true);
}

/* ---- client side ---------------------------------------------------------- */

int xw_owner_connect(const struct xw_owner_ref *o)
{
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), rc;

    if (fd < 0)
        return -errno;
    if (connect(fd, (const struct sockaddr *)&o->name, o->namelen) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

/* An answer: with_fd, an fd comes with every success (ACCEPT); else none. */
static int recv_reply(int cfd, struct own_rep *rep, int cloexec, int *fd, int wait_ms,
                      bool with_fd)
{
    struct pollfd p = { .fd = cfd, .events = POLLIN };
    ssize_t n;
    int r, nfds;

    *fd = -1;
    while ((r = poll(&p, 1, wait_ms)) < 0 && errno == EINTR)
        ;
    if (r == 0)
        return -ETIMEDOUT;
    if ((n = recv_msg(cfd, rep, sizeof(*rep), cloexec, fd, &nfds)) < 0)
        return -errno;
    if (n == 0)
        return -ECONNRESET;
    if (n != (ssize_t)sizeof(*rep) || rep->magic != OWN_MAGIC || nfds < 0 ||
        (with_fd ? (rep->result == 0) != (*fd >= 0) : *fd >= 0) || rep->result > 0 ||
        rep->conn.selflen > sizeof(rep->conn.self) || rep->conn.peerlen > sizeof(rep->conn.peer)) {
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        return -EPROTO;
    }
    return rep->result;
}

/* The opens' connection to the owner, kept between calls (a worker that
 * cannot open the sim's files itself maps each ring it serves through two of
 * them: a connection each cost a socket, a connect and the owner's accept).
 * One request at a time; dropped at any failure, and in a forked child. */
static struct {
    pthread_mutex_t mu;
    int cfd;
    const struct xw_owner_ref *ref;
} opener = { PTHREAD_MUTEX_INITIALIZER, -1, NULL };

static void opener_forget(bool child)
{
    if (child)
        pthread_mutex_init(&opener.mu, NULL);
    if (opener.cfd >= 0)
        close(opener.cfd);
    opener.cfd = -1;
    opener.ref = NULL;
}

int xw_owner_open(const struct xw_owner_ref *o, const char *name, int flags)
{
    struct own_req req = { .magic = OWN_MAGIC, .version = OWN_VERSION, .op = OWN_OPEN,
                           .flags = flags };
    struct own_rep rep;
    int rc = -ECONNRESET, fd = -1;

    if (!o || strlen(name) >= sizeof(req.name))
        return -EINVAL;
    memcpy(req.token, o->token, sizeof(req.token));
    strcpy(req.name, name);
    pthread_mutex_lock(&opener.mu);
    if (opener.ref != o)
        opener_forget(false);
    for (int tries = 0; tries < 2; tries++) {
        bool kept = opener.cfd >= 0, sent;
        if (!kept && (opener.cfd = xw_owner_connect(o)) < 0) {
            rc = opener.cfd;
            opener.cfd = -1;
            break;
        }
        opener.ref = o;
        sent = send_msg(opener.cfd, &req, sizeof(req), -1, MSG_NOSIGNAL) == (ssize_t)sizeof(req);
        rc = sent ? recv_reply(opener.cfd, &rep, MSG_CMSG_CLOEXEC, &fd, REPLY_WAIT_MS, true)
                  : -errno;
        if (rc >= 0)
            break;
        opener_forget(false);
        /* a kept connection the owner has closed since: once more on a new one */
        if (!kept || (sent && rc != -ECONNRESET))
            break;
    }
    pthread_mutex_unlock(&opener.mu);
    return rc < 0 ? rc : fd;
}

void xw_owner_let_go(int life, bool reset)
{
    char how = reset ? 'R' : 'C';

    (void)!send(life, &how, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

int xw_owner_give_back(int life, const struct xw_chan_pos *pos)
{
    struct life_msg m = { .how = 'U', .pos = *pos };
    struct pollfd p = { .fd = life, .events = POLLIN };
    char how = 0;
    int fd, nfds, r;

    if (send(life, &m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m))
        return -errno;
    while ((r = poll(&p, 1, REPLY_WAIT_MS)) < 0 && errno == EINTR)
        ;
    if (r == 0)
        return -ETIMEDOUT;
    if (recv_msg(life, &how, 1, MSG_CMSG_CLOEXEC, &fd, &nfds) < 0)
        return -errno;
    if (how == 'K' && fd >= 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -EPROTO;
}

int xw_owner_hello(int cfd, const struct xw_owner_ref *o, int evfd)
{
    struct own_req req = { .magic = OWN_MAGIC, .version = OWN_VERSION, .op = OWN_HELLO };
    struct own_rep rep;
    int fd;

    memcpy(req.token, o->token, sizeof(req.token));
    if (send_msg(cfd, &req, sizeof(req), evfd, 0) != (ssize_t)sizeof(req))
        return errno == EPIPE || errno == ECONNREFUSED ? -ECONNRESET : -errno;
    return recv_reply(cfd, &rep, MSG_CMSG_CLOEXEC, &fd, REPLY_WAIT_MS, false);
}

int xw_owner_accept(int cfd, const struct xw_owner_ref *o, int lfd, int flags,
                    struct xw_owner_conn *info, struct xw_chan_desc *direct, bool *is_direct)
{
    struct own_req req = { .magic = OWN_MAGIC, .version = OWN_VERSION, .op = OWN_ACCEPT,
                           .flags = flags, .direct = direct != NULL };
    struct own_rep rep;
    int rc, fd;

    memcpy(req.token, o->token, sizeof(req.token));
    if (send_msg(cfd, &req, sizeof(req), lfd, 0) != (ssize_t)sizeof(req))
        return errno == EPIPE || errno == ECONNREFUSED ? -ECONNRESET : -errno;
    rc = recv_reply(cfd, &rep, (flags & SOCK_CLOEXEC) ? MSG_CMSG_CLOEXEC : 0, &fd, REPLY_WAIT_MS, true);
    if (rc < 0)
        return rc;
    *info = rep.conn;
    info->path[sizeof(info->path) - 1] = '\0';
    *is_direct = direct && rep.direct == 1;
    if (*is_direct)
        *direct = rep.desc;
    return fd;
}

int xw_owner_claim(int cfd, const struct xw_owner_ref *o, int fd, struct xw_owner_conn *info,
                   struct xw_chan_desc *desc, struct xw_chan_pos *pos, size_t *tail)
{
    struct own_req req = { .magic = OWN_MAGIC, .version = OWN_VERSION, .op = OWN_CLAIM };
    struct own_rep rep;
    int rc, life;

    memcpy(req.token, o->token, sizeof(req.token));
    if (send_msg(cfd, &req, sizeof(req), fd, 0) != (ssize_t)sizeof(req))
        return errno == EPIPE || errno == ECONNREFUSED ? -ECONNRESET : -errno;
    rc = recv_reply(cfd, &rep, MSG_CMSG_CLOEXEC, &life, REPLY_WAIT_MS, true);
    if (rc < 0)
        return rc;
    if (rep.direct != 1) {
        close(life);
        return -EPROTO;
    }
    *info = rep.conn;
    info->path[sizeof(info->path) - 1] = '\0';
    *desc = rep.desc;
    *pos = rep.pos;
    *tail = rep.tail;
    if (rep.tail > XW_OWNER_TAIL_MAX) {
        close(life);
        return -EPROTO;
    }
    return life;
}

int xw_owner_connect_send(int cfd, const struct xw_owner_ref *o, const struct sockaddr *addr,
                          socklen_t len, int b, uint32_t filler)
{
    struct own_req req = { .magic = OWN_MAGIC, .version = OWN_VERSION, .op = OWN_CONNECT,
                           .filler = filler };

    if (len > sizeof(req.addr))
        return -EINVAL;
    memcpy(req.token, o->token, sizeof(req.token));
    memcpy(&req.addr, addr, len);
    req.addrlen = len;
    if (send_msg(cfd, &req, sizeof(req), b, 0) != (ssize_t)sizeof(req))
        return errno == EPIPE || errno == ECONNREFUSED ? -ECONNRESET : -errno;
    return 0;
}

int xw_owner_connect_result(int cfd, int wait_ms, struct xw_owner_conn *info)
{
    struct own_rep rep;
    int rc, fd;

    rc = recv_reply(cfd, &rep, MSG_CMSG_CLOEXEC, &fd, wait_ms, false);
    if (rc == 0 && info) {
        *info = rep.conn;
        info->path[sizeof(info->path) - 1] = '\0';
    }
    return rc;
}

int xw_owner_listen(int cfd, const struct xw_owner_ref *o, const struct sockaddr *addr,
                    socklen_t len, int backlog, int flags)
{
    struct own_req req = { .magic = OWN_MAGIC, .version = OWN_VERSION, .op = OWN_LISTEN,
                           .flags = flags, .filler = backlog < 1 ? 1u : (uint32_t)backlog };
    struct own_rep rep;
    int rc, fd;

    if (len > sizeof(req.addr))
        return -EINVAL;
    memcpy(req.token, o->token, sizeof(req.token));
    memcpy(&req.addr, addr, len);
    req.addrlen = len;
    if (send_msg(cfd, &req, sizeof(req), -1, 0) != (ssize_t)sizeof(req))
        return errno == EPIPE || errno == ECONNREFUSED ? -ECONNRESET : -errno;
    rc = recv_reply(cfd, &rep, MSG_CMSG_CLOEXEC, &fd, REPLY_WAIT_MS, true);
    return rc < 0 ? rc : fd;
}

/* ---- across exec ------------------------------------------------------------ */

#define REF_MAGIC 0x58574f52u

struct ref_file {
    uint32_t magic;
    struct xw_owner_ref ref;
};

int xw_owner_ref_fd(void)
{
    struct ref_file f = { .magic = REF_MAGIC };
    const struct xw_owner_ref *o = own.parent.valid ? &own.parent : own.self.valid ? &own.self : NULL;
    int fd, e;

    if (!o)
        return -ENOENT;
    f.ref = *o;
    fd = memfd_create("xway-owner", 0); /* crosses exec: the new image reads it */
    if (fd < 0)
        return -errno;
    if (pwrite(fd, &f, sizeof(f), 0) != (ssize_t)sizeof(f)) {
        e = errno ? errno : EIO;
        close(fd);
        return -e;
    }
    return fd;
}

bool xw_owner_adopt_fd(int fd)
{
    struct ref_file f;
    struct stat st;

    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != (off_t)sizeof(f) ||
        pread(fd, &f, sizeof(f), 0) != (ssize_t)sizeof(f) || f.magic != REF_MAGIC ||
        !f.ref.valid || f.ref.namelen > sizeof(f.ref.name) || f.ref.name.sun_family != AF_UNIX)
        return false;
    own.parent = f.ref;
    return true;
}

/* Satellites (satellite.h). */
#include "satellite.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "log.h"
#include "ring_beat.h"
#include "ring_events.h"
#include "ring_path.h"
#include "sock_linux.h"
#include "socket.h"
#include "stack.h"

/* The sim host's files this process cannot open itself (it chrooted or
 * changed user), opened by the owner. */
static int open_by_owner(const char *name, int flags)
{
    return xw_owner_open(xw_owner_parent(), name, flags);
}

static struct {
    int fwd_fd; /* the eventfd the owner signals */
    pid_t pid;  /* the process that made it (a fork's child makes its own) */
    bool no;    /* this process has no handle to map with: never a satellite */
} sat = { .fwd_fd = -1 };

int xw_sat_fwd_fd(void)
{
    int rc = 0;

    xw_stack_lock();
    if (sat.pid != getpid()) {
        sat.fwd_fd = -1;
        sat.pid = getpid();
        sat.no = false;
    }
    if (sat.no) {
        xw_stack_unlock();
        return -ENODEV;
    }
    if (sat.fwd_fd < 0 && !xw_stack_satellite()) {
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0)
            rc = -errno;
        else if ((rc = xw_rev_satellite(fd)) < 0)
            close(fd);
        else {
            sat.fwd_fd = fd;
            xw_stack_set_satellite(true);
            if (xw_owner_parent())
                xw_xenif_set_opener(open_by_owner);
        }
        sat.no = rc == -ENODEV;
    }
    if (sat.fwd_fd < 0 && !rc)
        rc = -ENODEV;
    if (!rc)
        rc = xw_xenif_can_map(xw_rev_xenif());
    xw_stack_unlock();
    return rc < 0 ? rc : sat.fwd_fd;
}

static void copy_name(struct sockaddr_storage *to, socklen_t *tolen,
                      const struct sockaddr_storage *from, socklen_t len)
{
    if (len > sizeof(*to))
        len = sizeof(*to);
    memcpy(to, from, len);
    *tolen = len;
}

/* A connection to serve here: its channel d at pos (NULL: where it starts),
 * pre (malloc'd, ours: prelen bytes to deliver first), its life socket. */
static int adopt(const struct xw_chan_desc *d, const struct xw_owner_conn *names, int life,
                 int flags, const struct xw_chan_pos *pos, char *pre, size_t prelen)
{
    struct xw_channel *ch = NULL;
    struct xw_sock *s = NULL;
    struct xw_sat *st = calloc(1, sizeof(*st));
    int rc, domain = names->self.ss_family == AF_INET6 ? AF_INET6 : AF_INET;

    xw_stack_lock();
    rc = !st ? -ENOMEM : xw_stack_satellite() ? 0 : -ENODEV;
    if (rc == 0)
        rc = xw_channel_adopt(xw_rev_xenif(), d, &ch);
    if (rc == 0)
        rc = xw_sock_new(domain, flags & SOCK_NONBLOCK, flags & SOCK_CLOEXEC, true, &s);
    if (rc < 0) {
        xw_channel_drop(ch);
        xw_stack_unlock();
        free(st);
        free(pre);
        close(life);
        return rc;
    }
    if (pos)
        xw_channel_set_position(ch, pos);
    copy_name(&st->self, &st->selflen, &names->self, names->selflen);
    copy_name(&st->peer, &st->peerlen, &names->peer, names->peerlen);
    st->life = life;
    s->sat = st;
    s->state = XW_SS_CONNECTED;
    s->was_connected = true;
    s->hs_done = true;
    s->ring.ch = ch;
    xw_rpath_set_pre(s, pre, prelen);
    rc = xw_rpath_start(s);
    if (rc < 0) { /* (the port is routed already: cannot happen) */
        xw_sock_close_locked(s);
        xw_stack_unlock();
        return rc;
    }
    xw_sock_changed(s);
    rc = s->fd;
    xw_debug("fd %d: a ring connection %s through the owner, served here (%zu bytes first "
             "from its pump)", rc, pos ? "claimed" : "accepted", prelen);
    if (xw_channel_mapped_before(ch))
        xw_info("fd %d: its ring is still mapped here (this process served it before)", rc);
    xw_stack_unlock();
    return rc;
}

int xw_sat_adopt(const struct xw_chan_desc *d, const struct xw_owner_conn *names, int life,
                 int flags)
{
    return adopt(d, names, life, flags, NULL, NULL, 0);
}

/* What is left in the stream of a claimed connection (its pump has ended:
 * EOF after the last byte), into *buf (malloc'd): its length, or -errno. */
static ssize_t drain(int fd, char **buf)
{
    size_t len = 0, cap = 0;
    char *b = NULL, *nb;

    for (;;) {
        ssize_t n;
        if (len == cap) {
            if (cap >= (64u << 20) || !(nb = realloc(b, cap = cap ? 2 * cap : 65536)))
                break;
            b = nb;
        }
        n = recv(fd, b + len, cap - len, MSG_DONTWAIT);
        if (n > 0) {
            len += (size_t)n;
            continue;
        }
        if (n == 0) {
            *buf = b;
            return (ssize_t)len;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN && poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1, 1000) > 0)
            continue;
        break;
    }
    free(b);
    return -EIO;
}

int xw_sat_claim(int cfd, const struct xw_owner_ref *o, int fd, int flags)
{
    struct xw_owner_conn ci;
    struct xw_chan_desc d;
    struct xw_chan_pos pos;
    char *pre = NULL, *more;
    size_t tail;
    ssize_t n;
    int life = xw_owner_claim(cfd, o, fd, &ci, &d, &pos, &tail);

    if (life < 0)
        return life;
    if ((n = drain(fd, &pre)) >= 0 && tail) {
        if (!(more = realloc(pre, (size_t)n + tail)) ||
            poll(&(struct pollfd){ .fd = life, .events = POLLIN }, 1, 5000) <= 0 ||
            recv(life, more + n, tail, MSG_DONTWAIT) != (ssize_t)tail) {
            free(more ? more : pre);
            n = -EIO;
        } else {
            pre = more;
            n += (ssize_t)tail;
        }
    }
    if (n < 0) {
        xw_warn("fd %d: a claimed connection's pumped bytes did not all come: lost", fd);
        xw_owner_let_go(life, true);
        close(life);
        return (int)n;
    }
    return adopt(&d, &ci, life, flags, &pos, pre, (size_t)n);
}

void xw_sat_closing(struct xw_sock *s, bool reset)
{
    s->sat->how = reset ? 'R' : 'C';
}

void xw_sat_release(struct xw_sock *s)
{
    /* (after the path's release: our end marked, the mapping unmapped or
     * kept for the ring's next connection here: channel.h) */
    if (s->sat->life >= 0 && s->sat->how)
        xw_owner_let_go(s->sat->life, s->sat->how == 'R');
    if (s->sat->life >= 0)
        close(s->sat->life);
    free(s->sat);
    s->sat = NULL;
}

int xw_sat_name(const struct xw_sock *s, bool peer, struct sockaddr *addr, socklen_t *len)
{
    const struct sockaddr_storage *n = peer ? &s->sat->peer : &s->sat->self;
    socklen_t l = peer ? s->sat->peerlen : s->sat->selflen;

    if (!addr || !len)
        return -EFAULT;
    memcpy(addr, n, *len < l ? *len : l);
    *len = l;
    return 0;
}

static void close_sat(struct xw_sock *s)
{
    if (s->sat)
        xw_sock_close_locked(s);
}

void xw_sat_fini(void)
{
    xw_stack_lock();
    if (!xw_stack_satellite()) {
        xw_stack_unlock();
        return;
    }
    xw_sock_foreach(close_sat);
    xw_channel_unkeep(xw_rev_xenif(), true); /* (the mappings its closes kept) */
    xw_stack_set_satellite(false);
    xw_stack_unlock();
    xw_rev_stop();
    if (sat.fwd_fd >= 0)
        close(sat.fwd_fd);
    sat.fwd_fd = -1;
}

int xw_sat_give_back(int fd)
{
    struct xw_sock *s = xw_api_enter(fd);
    struct xw_chan_pos pos;
    int nfd, fdflags, rc = 0;

    if (!s)
        return -errno;
    if (!s->sat || s->sat->life < 0 || !s->ring.ch) {
        xw_api_leave(0);
        return -EINVAL;
    }
    if (xw_rpath_pre_left(s)) { /* (its pump's last bytes, unread: they would be lost) */
        xw_api_leave(0);
        return -EBUSY;
    }
    xw_channel_position(s->ring.ch, &pos);
    if ((nfd = xw_owner_give_back(s->sat->life, &pos)) < 0) {
        rc = nfd;
        xw_warn("fd %d: cannot give the connection back to its owner (%s)", fd, strerror(-rc));
        xw_api_leave(0);
        return rc;
    }
    fdflags = fcntl(fd, F_GETFD);
    /* The number is the owner's stream from now on; the pair was ours. */
    pthread_mutex_lock(&xw_lx(s)->ready.lock);
    if (dup3(nfd, fd, fdflags > 0 && (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
        rc = -errno;
    else
        xw_lx(s)->ready.a = -1;
    pthread_mutex_unlock(&xw_lx(s)->ready.lock);
    close(nfd);
    if (rc == 0 && s->nonblock)
        (void)!fcntl(fd, F_SETFL, O_NONBLOCK);
    xw_rbeat_remove(s);
    xw_rev_detach(xw_channel_port(s->ring.ch), s);
    xw_channel_drop(s->ring.ch);
    s->ring.ch = NULL;
    close(s->sat->life);
    s->sat->life = -1;
    xw_sock_free(s);
    xw_debug("fd %d: connection given back to its owner: a pumped stream now", fd);
    return (int)xw_api_leave(rc);
}

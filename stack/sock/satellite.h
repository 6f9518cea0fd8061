/* Satellites: a forked child that serves, itself, the ring connections it
 * accepts through its owner (owner.h).
 *
 * A connection is its owner's: lwIP's TCP state of it lives in the process
 * whose stack accepted it.  But its payload on the ring path needs no lwIP:
 * the channel's pages are granted to the domain, which every process of it may
 * map.  So a worker that accepts a ring connection through the owner maps the
 * channel itself (xw_channel_adopt: the sim's handle is the parent's copy) and
 * runs the ring path — send, recv, waits, readiness, poll, epoll — in its own
 * socket table, as a process with a stack does: no pump, no copy more, no hop
 * through the owner while both sides are busy.  The process is then a
 * satellite (xw_stack_satellite): its socket layer runs, lwIP does not.
 *
 * What stays with the owner: the TCP connection (setup is done; its FIN or
 * RST at the end) and the port of the channel's event channel, whose events
 * the owner forwards to the satellite's eventfd (one per process; the
 * satellite's dispatcher re-checks each of its rings).  A life socket (a
 * SOCK_SEQPACKET pair, one end each) tells the owner how the satellite let go:
 * 'C' closed (the owner closes the TCP connection gracefully), 'R' reset
 * (SO_LINGER 0), nothing at all (the process died or _exit'ed): what the
 * kernel does, graceful unless bytes were left unread.
 *
 * A satellite that cannot open the sim host's files (it chrooted or became
 * another user) has the owner open them (owner.h: OPEN).  Only a forked child
 * of a process whose backend is the sim adopts (the xen backend's mappings are
 * not inherited and a child needs handles of its own: not done yet);
 * everything else keeps the pump (handoff.h). */
#ifndef XW_SATELLITE_H
#define XW_SATELLITE_H

#include <stdbool.h>

#include "channel.h"
#include "owner.h"

struct xw_sock;

/* Per satellite socket: its names, its life socket. */
struct xw_sat {
    struct sockaddr_storage self, peer;
    socklen_t selflen, peerlen;
    int life;
    char how; /* at the close: 'C' closed, 'R' reset; told the owner at the
                 release, once our end is marked (the owner may park the ring) */
};

/* Can this process adopt ring connections (a forked child that inherited a
 * sim handle)?  Its forwarding eventfd, made on first use (cloexec), to pass
 * to the owner: -errno when it cannot. */
int xw_sat_fwd_fd(void);

/* Adopt the connection described (the owner passed life, ours now): a new
 * socket of this process, connected, on the ring.  flags: SOCK_NONBLOCK,
 * SOCK_CLOEXEC.  Its number, or -errno (life closed: the owner resets the
 * connection).  Lock not held. */
int xw_sat_adopt(const struct xw_chan_desc *d, const struct xw_owner_conn *names, int life,
                 int flags);

/* Claim the connection handed off at a fork on number fd, which this
 * process alone holds (shim: fork per connection), through cfd (a connection
 * to the owner o that said HELLO): the owner ends its pump (owner.h: CLAIM),
 * what the pump had passed into fd and we had not read is read now, to be
 * delivered first, and the connection is adopted as a new socket (flags as
 * adopt's).  The new socket's number (the caller moves it onto fd), or
 * -errno: -EAGAIN (not now), -EPERM (never), the owner call's and adopt's. */
int xw_sat_claim(int cfd, const struct xw_owner_ref *o, int fd, int flags);

/* Give the satellite connection on number fd back to the owner: fd becomes
 * the owner's pumped stream (the same open-file flags), as a connection
 * handed off at fork.  0 or -errno (then it stays a satellite's).  Lock not
 * held. */
int xw_sat_give_back(int fd);

/* The socket layer's hooks (lock held): s is being closed (reset or not);
 * s's state is being freed. */
void xw_sat_closing(struct xw_sock *s, bool reset);
void xw_sat_release(struct xw_sock *s);
/* getsockname / getpeername of a satellite socket. */
int xw_sat_name(const struct xw_sock *s, bool peer, struct sockaddr *addr, socklen_t *len);

/* The process exits (xway_fini): close the satellite sockets gracefully, as
 * exit closes kernel sockets, and stop the dispatcher.  Lock not held. */
void xw_sat_fini(void);

#endif

/* The process channel: other processes' requests to this process's stack.
 *
 * A stack belongs to the process that started it; its listeners and
 * connections are lwIP's, in that process (the owner).  Other processes that
 * hold the owner's sockets — a forked worker accepting on a listener its parent
 * opened (pre-fork servers) — reach the owner's stack through a small service:
 * a SOCK_SEQPACKET socket in the abstract namespace, one fixed-size request and
 * one fixed-size reply per call, at most one fd passed each way.
 *
 * Defence.  The name is not a secret (any process in the network namespace may
 * connect), so every request carries a random 16-byte token that only the
 * owner's descendants know (it is in the memory fork copies; never in the
 * environment or on disk).  The owner validates each message (size, magic,
 * version, token, op) and each fd it receives (a socket of one of its own
 * listeners, by inode); anything else is answered -EINVAL / -EPERM or ends that
 * client's connection.  A client can only take what a holder of the listener
 * could take with accept(); the service never blocks on a client (replies are
 * sent nonblocking; a client that does not read them is dropped).
 *
 * Requests:
 *   ACCEPT(listener fd, flags): the next connection of that listener's accept
 *     queue, handed to its kernel fd (handoff.h: the owner's pump carries its
 *     bytes) and passed back with its names and path; -EAGAIN when the queue is
 *     empty.  A ring connection asked for by a client that said HELLO is
 *     described instead, for the client to serve itself (satellite.h).
 *   HELLO(eventfd): the client's satellite eventfd.
 *   OPEN(name, flags): a file of the owner's sim host (a domain's state or
 *     lock, a grant object) for a satellite that cannot open it itself.  The owner's own readiness of the listener follows its queue, so
 *     the client waits by polling the listener fd it holds.
 *   CONNECT(destination, stream end b, filler): a socket of the owner's stack
 *     connects to the destination (an address the child cannot reach with the
 *     kernel's sockets: the stack's link); when the connect ends, the
 *     connection is handed off to b (the pump first drops filler bytes from b:
 *     the client filled its end so that it polls writable only once the
 *     connection is there) and the answer (0 with the names and path, or the
 *     connect's -errno, b closed) is sent.  One CONNECT per client connection:
 *     the owner shuts it down after the answer, which stays queued for the
 *     client to read when it likes.
 *   CLAIM(number): the connection handed off at a fork (handoff.h), whose
 *     number the client passes (it alone holds it: the owner let go, and the
 *     client is the one child of that fork), to serve itself as a satellite:
 *     the pump ends where it is and the channel is described as for ACCEPT,
 *     with the positions the owner reached; -EAGAIN: not now (try later).
 *   LISTEN(name, options, backlog): a listener of the owner's stack, bound and
 *     listening for the client (a forked child's own listen(): an SO_REUSEPORT
 *     listener per worker joins the group), its number passed back; it lives
 *     as long as that client connection (the child keeps it open with the
 *     number, and the owner closes the listener when it ends).
 */
#ifndef XW_OWNER_H
#define XW_OWNER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "channel.h"

/* How to reach an owner: enough to connect and be believed. */
struct xw_owner_ref {
    bool valid;
    socklen_t namelen;
    struct sockaddr_un name;
    uint8_t token[16];
};

/* What an accepted connection passed to a client is. */
struct xw_owner_conn {
    struct sockaddr_storage self, peer;
    socklen_t selflen, peerlen;
    char path[8]; /* "ring" or "tcp": the path between the stacks */
};

/* Owner side (stack lifecycle, lock held): publish the service / stop it.
 * start: 0 or -errno (the stack runs without it: children cannot accept). */
int xw_owner_start(void);
void xw_owner_stop(void);
/* The keeper (keeper.c): stop the service thread keeping its socket and
 * clients; start it again; is a connected client's process alive? */
void xw_owner_pause(void);
int xw_owner_resume(void);
bool xw_owner_clients_alive(void);
/* In a forked child (atfork): the service is the parent's; close its fds and
 * remember how to reach it (xw_owner_parent). */
void xw_owner_forget(void);
/* The owner this process's sockets came from over fork, if any (its
 * descendants keep it). */
const struct xw_owner_ref *xw_owner_parent(void);

/* Across exec: the owner this process reaches (its parent's, or its own
 * stack's) written into a memfd that exec passes on (the token stays out of
 * the environment: only the fd's number goes there, XWAY_OWNER_FD), or
 * -errno; and, in the new image, take the owner from such an fd (false: not
 * one of ours). */
int xw_owner_ref_fd(void);
bool xw_owner_adopt_fd(int fd);

/* Client side: connect to o (a cloexec fd, or -errno). */
int xw_owner_connect(const struct xw_owner_ref *o);
/* ACCEPT on the owner's listener that lfd is a number of: the connection's fd
 * (O_NONBLOCK / FD_CLOEXEC per flags: SOCK_NONBLOCK, SOCK_CLOEXEC) and *info,
 * or -EAGAIN (nothing queued), -EINVAL (not a listener of the owner's),
 * -ECONNRESET / -EPIPE (the owner is gone), -errno. */
int xw_owner_accept(int cfd, const struct xw_owner_ref *o, int lfd, int flags,
                    struct xw_owner_conn *info, struct xw_chan_desc *direct, bool *is_direct);
/* HELLO on a client connection of its own: evfd is this process's satellite
 * eventfd (satellite.h), which the owner signals for the ring connections it
 * lets us serve; an ACCEPT with direct non-NULL then may answer *is_direct:
 * the fd is the connection's life socket and *direct its channel, to adopt.
 * 0 or -errno. */
int xw_owner_hello(int cfd, const struct xw_owner_ref *o, int evfd);
/* OPEN, on a connection of its own: a file of the owner's sim host, for a
 * satellite that cannot open it itself (xw_xenif_set_opener).  fd or -errno. */
int xw_owner_open(const struct xw_owner_ref *o, const char *name, int flags);
/* A satellite's side of a connection's life socket (satellite.h): tell the
 * owner it closed (reset: with a reset); give the connection back from the
 * positions it reached (fork, exec): the number of the owner's pumped stream
 * of it, or -errno (-ETIMEDOUT, -EPROTO: the owner could not). */
void xw_owner_let_go(int life, bool reset);
int xw_owner_give_back(int life, const struct xw_chan_pos *pos);
/* CLAIM on a connection that said HELLO (satellite.h: xw_sat_claim): the
 * connection handed off at a fork whose number fd is (this process holds it
 * alone), to serve here: its life socket, *info, *desc and *pos (where the
 * owner left the channel), *tail (the pump's last bytes, which the life
 * socket's first message carries, after what fd holds), or -errno: -EBUSY
 * (not now: the owner holds a copy), -EAGAIN (not now: try later), -EPERM
 * (never), -ENOENT, -ECONNRESET (the owner is gone), -ETIMEDOUT, -EPROTO. */
int xw_owner_claim(int cfd, const struct xw_owner_ref *o, int fd, struct xw_owner_conn *info,
                   struct xw_chan_desc *desc, struct xw_chan_pos *pos, size_t *tail);
#define XW_OWNER_TAIL_MAX (64 * 1024)
/* LISTEN on a client connection of its own (cfd): a listener of the owner's
 * stack bound to addr (flags: XW_OWNER_REUSE*) for as long as cfd is open; its
 * number (a cloexec fd, a listener the client accepts on with ACCEPT) or
 * -errno (the bind's or listen's: -EADDRINUSE ...; -ECONNRESET: owner gone). */
enum { XW_OWNER_REUSEADDR = 1, XW_OWNER_REUSEPORT = 2 };
int xw_owner_listen(int cfd, const struct xw_owner_ref *o, const struct sockaddr *addr,
                    socklen_t len, int backlog, int flags);
/* CONNECT on a client connection of its own (cfd): the request, with b (the
 * caller closes its copy afterwards).  0 or -errno (-ECONNRESET: owner gone). */
int xw_owner_connect_send(int cfd, const struct xw_owner_ref *o, const struct sockaddr *addr,
                          socklen_t len, int b, uint32_t filler);
/* Its answer, waiting up to wait_ms (-1: until it comes): 0 connected (*info
 * if info), the connect's -errno, -ETIMEDOUT (no answer yet), -ECONNRESET
 * (the owner is gone), -EPROTO. */
int xw_owner_connect_result(int cfd, int wait_ms, struct xw_owner_conn *info);

#endif

/* Handing a connection to its kernel fd, for fork and exec (xway_handoff in
 * xway.h).
 *
 * The socket's number is end A of its readiness socketpair (readyfd.h).  Handing
 * it off stops the readiness signalling, empties the pair and turns it into the
 * connection's byte stream: a pump owned by this process's stack moves bytes
 * between end B and the connection (two threads, blocking calls), so that any
 * process holding A — the parent, a forked child, a program it exec'd — reads
 * and writes the connection with the kernel's calls.  The table keeps a mark on
 * the number so that xway_* calls on it go to the kernel.
 *
 * The pump ends when every holder of A has closed it (B hangs up: the
 * connection is closed, or reset if unread data is left), or when the connection
 * is over both ways, or at xway_fini.  When its process exits (or execs) while
 * other processes hold the number, the keeper goes on pumping (keeper.h), so
 * the connection outlives it.  Lock: the stack lock (stack.h).
 */
#ifndef XW_HANDOFF_H
#define XW_HANDOFF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "owner.h"

struct xw_sock;

/* Hand s off (lock held).  start: run its pump now; otherwise it is pending
 * until xw_handoff_after_fork_parent.  0 or -ENOTCONN / -ENOMEM / -errno. */
int xw_handoff_locked(struct xw_sock *s, bool start);

/* The same for a connection made for another process (owner.h: CONNECT): its
 * bytes go through b, the stream end that process passed, after skip bytes of
 * filler from b are dropped; the socket's number is closed (the other end of b
 * is that process's number).  The pump starts now.  b is the pump's on
 * success; 0 or -errno. */
int xw_handoff_to_locked(struct xw_sock *s, int b, uint32_t skip);

/* Is fd a handed-off number (its xway calls go to the kernel)? */
bool xw_handed(int fd);
/* xway_close on a number that is not an xway socket: close a handed-off
 * number, else EBADF.  0 or -1 with errno. */
int xw_handed_close(int fd);

/* pthread_atfork handlers (stack.c registers them): before fork every
 * connection is handed off with the stack lock held across the fork; the
 * parent starts the pumps; the child drops the pumps' fds. */
void xw_handoff_prepare(void);
void xw_handoff_parent(void);
void xw_handoff_child(void);

/* The keeper (keeper.h) takes the pumps over: pause stops every pump thread
 * at its next slice (<= 250 ms; a pump's state is in memory, so nothing in
 * flight is lost) and returns when none runs; resume (after_fork: in the
 * keeper) starts them again where they stopped.  Lock held. */
void xw_handoff_pause_locked(void);
void xw_handoff_resume_locked(bool after_fork);
/* The pumps of this process (lock held). */
int xw_handoff_count_locked(void);

/* Claims: a connection handed off at a fork, which the child keeps and this
 * process let go of (fork per connection), can be served by the child itself
 * (satellite.h: xw_sat_claim), which needs that process to be the one holder
 * of the number.  This process knows who may hold it: itself until it closes
 * its number (release), the one child of the fork that handed it off (forks
 * == 1; a child that forks again or passes the number on never claims), and
 * nobody else unless it duplicated or passed the number (release with
 * copied: never claimable).
 * note_fork (lock held): a fork: every number this process holds is the
 * child's too.  release (lock not held): number fd of a handed-off
 * connection is closed (copied: duplicated or passed on) by this process. */
void xw_handoff_note_fork_locked(void);
/* The same for a posix_spawn (no fork handler runs; lock not held). */
void xw_handoff_note_spawn(void);
void xw_handoff_release(int fd, bool copied);
/* The pump of the number that is file (dev, ino), claimed by its one holder
 * (lock held): its threads stopped, what it holds moved on without waiting
 * (into the connection; into the stream, which then ends: the claimer reads
 * the rest of it before the ring), and the pump ended, its reference to the
 * connection the caller's in *out; *taillen bytes (at most
 * XW_HANDOFF_TAIL_MAX) that did not fit into the stream go into tail, for the
 * claimer to deliver after the stream's.  -EBUSY: not now, this process holds
 * the number still; -EAGAIN: not now, the connection has no room for the
 * pump's bytes (the pump goes on); -EPERM: never (anyone may hold it, a direction has ended, or it is
 * not on the ring); -ENOENT: no such pump. */
int xw_handoff_claim_locked(dev_t dev, ino_t ino, struct xw_sock **out, void *tail,
                            size_t *taillen);
/* The most a claim leaves in tail: what did not fit into the stream. */
#define XW_HANDOFF_TAIL_MAX XW_OWNER_TAIL_MAX

/* xway_fini: give the pumps up to 2 s to deliver what they hold and finish,
 * then end the rest (their connections closed).  Lock not held. */
void xw_handoff_stop_all(void);

#endif

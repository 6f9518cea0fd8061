/* The keeper: a process's listeners outlive it while processes it shared them
 * with live.
 *
 * Daemons open their listener, fork and let the parent exit (nginx's default,
 * daemon(3), the double fork with setsid): the listener is then held only by
 * the survivors, but it is the exiting parent's stack that listens (owner.h).
 * So when a process whose stack has a listener exits while a process it forked
 * (or a client of its process channel) lives, its stack is handed to a keeper:
 * a child forked at exit that inherits the whole stack — lwIP's state, the
 * link, the shared-memory handle, the process channel and its token — restarts
 * the stack's threads and goes on listening and passing connections to the
 * survivors, which notice nothing (it carries on as the process's domain:
 * xw_xenif_fork_keeps).  The parent's other connections are closed first, as
 * its exit would close them (gracefully: the keeper finishes their TCP closes),
 * and the keeper ends its stack and itself when none of the processes it
 * serves is alive any more.
 * Connections that the parent's pumps carried for other processes (handoff.h)
 * end when the parent exits, as before.  The same rule keeps a shared listener
 * that its process closes (xw_keeper_keep_listener) while it still runs.
 */
#ifndef XW_KEEPER_H
#define XW_KEEPER_H

#include <stdbool.h>
#include <sys/types.h>

/* xway_close of s (lock held): a listener shared over fork stays open, on a
 * private number, while the processes it was shared with live (as the kernel
 * keeps a listening socket open while any process holds it); its process's
 * number is closed.  true: kept. */
struct xw_sock;
bool xw_keeper_keep_listener(struct xw_sock *s);
/* The shim's fork: pid is a child of this process (it may hold our listeners). */
void xw_keeper_note_child(pid_t pid);
/* At exit (or at_exec: before exec replaces the process's image): hand the
 * stack to a keeper if it is needed — listeners while a process they were
 * shared with lives, connections pumped for other processes (handoff.h) or,
 * after exec, for the new image.  The keeper pumps them on until nothing holds
 * their numbers.  true: done (also when done before), the caller must leave
 * the stack alone (it is stopped in this process); false: the caller stops
 * the stack itself. */
bool xw_keeper_handover(bool at_exec);
/* A process about to give up root (the shim's setuid): its stack goes on in
 * a keeper that keeps the privileges (the hub and the sim host are the
 * starting user's), serving this process, which from now on uses it through
 * the process channel as a forked child does (the caller makes its sockets
 * a child's).  The keeper ends after this process and its children.  true:
 * done; false: nothing changed (no stack, or no keeper could be made). */
bool xw_keeper_detach(void);
/* True while the keeper is being forked (the stack's atfork handlers stand
 * aside). */
bool xw_keeper_forking(void);

#endif

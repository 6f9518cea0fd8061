/* The process's stack: lwIP, its links and its thread.
 *
 * Locking model.  One mutex, the stack lock, protects lwIP, every link and every
 * socket's state (socket.h).  The stack thread holds it while it feeds received
 * frames to lwIP and runs lwIP's timers; an application thread holds it for the
 * duration of one socket call, and calls into lwIP directly (a send is copied into
 * TCP segments and transmitted by the calling thread, not handed over).  A call
 * that must wait sleeps on its socket's futex word, having released the lock;
 * lwIP's callbacks (run by whichever thread holds the lock) change the word, and
 * the sleeper is woken when that thread releases the lock (xw_stack_wake_later).
 * Nothing blocks while holding the lock except short syscalls on our own fds.
 */
#ifndef XW_STACK_H
#define XW_STACK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "host.h"

/* CLOCK_MONOTONIC in nanoseconds (deadlines, spins). */
static inline uint64_t xw_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

extern pthread_mutex_t xw_stack_mutex;

/* Wake the sleepers on word when the stack lock is next released (lock held;
 * xw_stack_unlock wakes them after releasing it). */
void xw_stack_wake_later(_Atomic unsigned *word);
/* Wake them now (lock held): before releasing the lock other than by
 * xw_stack_unlock (a condition variable's wait). */
void xw_stack_wake_now(void);

/* Wait for *word to change polling the link (stack.c; lock held, released
 * meanwhile): 0, ETIMEDOUT, or -1 when the link cannot be lent now.  Whoever
 * changes a word the link's poller waits on (xw_stack_polls, lock held) calls
 * xw_stack_kick_poller, which wakes it unless it is the calling thread. */
int xw_stack_poll_link(_Atomic unsigned *word, unsigned seen, uint64_t deadline_us);
bool xw_stack_polls(const _Atomic unsigned *word);
void xw_stack_kick_poller(void);

/* Take the stack lock for an API call, starting the stack from the environment if
 * it is not running.  0, or -errno when the stack cannot start (then unlocked). */
int xw_stack_enter(void);

/* (Leave an API call: xw_stack_leave, host.h.) */
/* Forget the stack as a forked child does (its state is another process's):
 * the fork handler, and a process that handed its stack to a keeper
 * (xw_keeper_detach). */
void xw_stack_forget(void);

/* Deliver looped-back packets and send batched frames now (lock held): before
 * sleeping, so that what this thread queued goes out. */
void xw_stack_flush(void);



/* Is the stack running (lock held)? */
bool xw_stack_running(void);
/* Satellite mode (stack/sock/satellite.h): a forked child whose socket layer
 * serves ring connections of its owner's stack, without lwIP.  API calls
 * enter without starting a stack.  Lock held. */
bool xw_stack_satellite(void);
void xw_stack_set_satellite(bool on);

/* The running configuration: set when the stack starts and not changed while it
 * runs, so the lock-free ring path reads it too (holding a socket, which keeps
 * the stack from being torn down under it). */
const struct xw_config *xw_stack_config(void);
/* XWAY_SPIN_US: how long a ring wait spins before it sleeps (ring_wait.c). */
unsigned xw_stack_spin_us(void);

/* The keeper (stack/sock/keeper.c): stop the stack thread, keeping the stack
 * (lock not held); start it again, in the keeper process (lock held). */
void xw_stack_pause(void);
int xw_stack_resume(void);

#endif

/* The keeper (keeper.h). */
#include "keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "handoff.h"
#include "lwip/timeouts.h"
#include "log.h"
#include "owner.h"
#include "ring_events.h"
#include "ring_park.h"
#include "sock_linux.h"
#include "socket.h"
#include "stack.h"
#include "xenif.h"
#include "xway.h"

#define MAX_CHILDREN 1024
#define WATCH_MS 200 /* how often the keeper looks for the processes it serves */

static pid_t children[MAX_CHILDREN]; /* stack lock */
static int nchildren;
static _Atomic bool forking;

bool xw_keeper_forking(void)
{
    return atomic_load(&forking);
}

static bool alive(pid_t pid)
{
    return kill(pid, 0) == 0 || errno == EPERM;
}

/* Forget the children that are gone (lock held). */
static void prune(void)
{
    int n = 0;

    for (int i = 0; i < nchildren; i++)
        if (alive(children[i]))
            children[n++] = children[i];
    nchildren = n;
}

void xw_keeper_note_child(pid_t pid)
{
    xw_stack_lock();
    if (nchildren == MAX_CHILDREN)
        prune();
    if (nchildren == MAX_CHILDREN) /* the oldest gives way */
        memmove(children, children + 1, sizeof(children) - sizeof(children[0]));
    else
        nchildren++;
    children[nchildren - 1] = pid;
    xw_stack_unlock();
}

/* Is a process we serve alive (lock held)? */
static bool served_alive(void)
{
    prune();
    return nchildren > 0 || xw_owner_clients_alive();
}

/* Kept listeners: closed when nobody they were shared with lives (a timer of
 * the stack's, lock held). */
static bool linger_armed;

static void close_kept(struct xw_sock *s)
{
    if (s->kept)
        xw_sock_close_locked(s);
}

static void linger_check(void *arg)
{
    (void)arg;
    linger_armed = false;
    if (served_alive()) {
        sys_timeout(WATCH_MS, linger_check, NULL);
        linger_armed = true;
        return;
    }
    xw_sock_foreach(close_kept);
}

bool xw_keeper_keep_listener(struct xw_sock *s)
{
    int old = s->fd, nfd;

    if (s->state != XW_SS_LISTEN || !s->shared || !served_alive())
        return false;
    nfd = fcntl(old, F_DUPFD_CLOEXEC, 0);
    if (nfd < 0 || xw_sock_move(s, nfd) < 0) {
        if (nfd >= 0)
            close(nfd);
        return false;
    }
    close(old);
    s->kept = true;
    if (!linger_armed) {
        sys_timeout(WATCH_MS, linger_check, NULL);
        linger_armed = true;
    }
    xw_info("fd %d: listener closed by this process, kept open (fd %d) for the processes it "
            "was shared with", old, nfd);
    return true;
}

static bool listening;   /* the stack has a listener (lock) */
static bool handed_over; /* this process's stack is the keeper's now */
static bool detached;    /* the keeper serves a living process (xw_keeper_detach) */

/* Does the keeper still have work (lock held)? */
static bool needed(void)
{
    return served_alive() && (listening || xw_handoff_count_locked() > 0);
}

/* In the keeper: a listener is needed while processes it serves live, a pump
 * while anything holds its number (it ends by itself when nothing does). */
static bool keeper_needed(void)
{
    return ((listening || detached) && served_alive()) || xw_handoff_count_locked() > 0;
}

static void find_listener(struct xw_sock *s)
{
    listening |= s->state == XW_SS_LISTEN;
}

/* The exiting process's own sockets other than listeners: closed as its exit
 * would close them. */
static void close_own(struct xw_sock *s)
{
    if (s->state != XW_SS_LISTEN && !s->for_other)
        xw_sock_close_locked(s);
}

/* In the keeper: a thread of the parent's may have held a socket's lock. */
static void reinit_lock(struct xw_sock *s)
{
    pthread_mutex_init(&xw_lx(s)->ready.lock, NULL);
}

static void become_keeper(pid_t parent)
{
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    sigset_t none;
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);

    /* The application's handlers and mask are not the keeper's business. */
    for (int i = 1; i < NSIG; i++)
        sigaction(i, &dfl, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        close(null);
    }
    prctl(PR_SET_NAME, "xway-keeper");
    pthread_mutex_init(&xw_stack_mutex, NULL);
    xw_stack_lock();
    xw_sock_foreach(reinit_lock);
    xw_handoff_resume_locked(true);
    if (xw_stack_resume() < 0 || xw_rev_resume() < 0 || xw_owner_resume() < 0) {
        xw_stack_unlock();
        xw_warn("keeper: cannot restart the stack's threads: listeners of process %d closed",
                (int)parent);
        xway_fini();
        _exit(1);
    }
    xw_info("keeper %d: the listeners and connections of process %d live on for the "
            "processes that hold them", (int)getpid(), (int)parent);
    while (keeper_needed()) {
        xw_stack_unlock();
        usleep(WATCH_MS * 1000);
        xw_stack_lock();
    }
    xw_stack_unlock();
    xw_info("keeper %d: the processes it served are gone: stopping", (int)getpid());
    xway_fini();
    _exit(0);
}

static bool hand_over(pid_t parent);

bool xw_keeper_handover(bool at_exec)
{
    pid_t parent = getpid();
    bool want;

    xw_stack_lock();
    if (handed_over) {
        xw_stack_unlock();
        return true;
    }
    listening = false;
    if (xw_stack_running())
        xw_sock_foreach(find_listener);
    /* At exit, pumps are needed only by other processes (ours closes its
     * numbers as it exits); after exec, by the new image. */
    want = xw_stack_running() && (needed() || (at_exec && xw_handoff_count_locked() > 0));
    xw_stack_unlock();
    return want && hand_over(parent);
}

/* Stop the stack here and fork the keeper that goes on with it (true), or
 * start the stack again here (false). */
static bool hand_over(pid_t parent)
{
    pid_t pid;

    /* Every thread of the stack stops here first: the keeper starts them again
     * on the state they left, and nothing of this process may touch the link
     * or the shared memory afterwards. */
    xw_owner_pause();
    xw_stack_lock();
    xw_handoff_pause_locked();
    xw_stack_unlock();
    xw_stack_pause();
    xw_rev_pause();
    xw_stack_lock();
    /* This process's own connections end as its exit ends them, here, where
     * their rings are mapped (xen mappings do not pass to a child); the keeper
     * goes on with their TCP closes. */
    xw_sock_foreach(close_own);
    xw_park_flush(); /* (theirs too: parked, still mapped here) */
    atomic_store(&forking, true);
    xw_xenif_fork_keeps(true);
    pid = fork();
    xw_xenif_fork_keeps(false);
    atomic_store(&forking, false);
    if (pid == 0)
        become_keeper(parent);
    if (pid < 0) {
        xw_warn("no keeper for the listeners (fork: %s): they close with this process",
                strerror(errno));
        xw_stack_resume();
        xw_rev_resume();
        xw_owner_resume();
        xw_handoff_resume_locked(false);
        xw_stack_unlock();
        return false;
    }
    handed_over = true;
    xw_info("its listeners and connections live on in keeper %d", (int)pid);
    xw_stack_unlock();
    return true;
}

bool xw_keeper_detach(void)
{
    bool running;

    xw_stack_lock();
    running = xw_stack_running() && !handed_over;
    xw_stack_unlock();
    if (!running)
        return false;
    xw_keeper_note_child(getpid());
    detached = true;
    if (!hand_over(getpid())) {
        detached = false;
        return false;
    }
    /* This process is now as a child of the keeper's: its stack is the
     * keeper's, reached through the process channel. */
    xw_stack_forget();
    xw_xenif_gave_domain();
    return true;
}

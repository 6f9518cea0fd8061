/* A peer process killed with SIGKILL while its domain lives on (issue 11
 * item 11): Xen drops notifies to the dead process's ports and its domain
 * still exists, so only the unmap notifications on the ring's interface page
 * can tell the survivor.  Its blocked recv must fail within 5 s of the kill.
 *
 * The victim side forks a child with handles of its own; the child sets up the
 * channel (creating it when the sharer is the victim, accepting it when the
 * mapper is), sends "hello" and waits.  The survivor reads the hello, says
 * "blocked" through the store and blocks in recv; the victim's parent kills
 * the child 0.5 s later and stays alive until the survivor has its verdict.
 * In case 3 the child first forks a grandchild that outlives it: the dead
 * process's notifications must not wait for its children. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xwt_report.h"
#include "xwt_ring.h"

#define KILL_DELAY_S 0.5
#define LIMIT_S 5.0

/* The child: its own backend handles (a process of the same domain under
 * Xen; a domain of its own in the sim, hence its id in the store). */
static void child_main(struct xwt *parent, const char *name, bool fork_first)
{
    struct xwt t = *parent;
    struct xw_chan_offer o;
    struct xw_channel *ch;
    char key[64], val[16];
    int r;

    if (xwt_open_backend(&t.x) < 0)
        _exit(2);
    snprintf(key, sizeof(key), "%s-domid", name);
    snprintf(val, sizeof(val), "%u", t.x->domid);
    xwt_put(&t, key, val);
    r = t.sharer ? xwt_setup_create(&t, name, &ch) : xwt_setup_accept(&t, name, &ch, &o);
    if (r < 0)
        _exit(3);
    if (fork_first && fork() == 0) {
        alarm(30); /* the grandchild: just outlive the child */
        for (;;)
            pause();
    }
    xwt_check(xw_channel_send(ch, "hello", 5, 10000) == 5, "%s: the doomed child sent hello",
              name);
    for (;;)
        pause();
}

static void victim(struct xwt *t, const char *name, bool fork_first)
{
    char key[64], val[16];
    int st = 0, r;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid == 0)
        child_main(t, name, fork_first);
    if (!xwt_check(pid > 0, "%s: fork the doomed child", name))
        return;
    snprintf(key, sizeof(key), "%s-blocked", name);
    r = xwt_get_wait(t, key, val, sizeof(val), WAIT_KEY_MS);
    xwt_check(r == 0, "%s: the survivor is blocked (%d)", name, r);
    usleep((useconds_t)(KILL_DELAY_S * 1e6));
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    xwt_check(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "%s: child killed with SIGKILL", name);
    /* Alive until the verdict: the domain must outlive the dead process. */
    snprintf(key, sizeof(key), "%s-verdict", name);
    r = xwt_get_wait(t, key, val, sizeof(val), WAIT_KEY_MS);
    xwt_check(r == 0 && strcmp(val, "reset") == 0, "%s: the survivor says '%s'", name,
              r == 0 ? val : "?");
}

static void survivor(struct xwt *parent, const char *name)
{
    struct xwt peer_child = *parent, *t = &peer_child;
    struct xw_chan_offer o;
    struct xw_channel *ch;
    char buf[16], key[64], val[16];
    double t0, dt;
    ssize_t n;
    int r;

    snprintf(key, sizeof(key), "%s-domid", name);
    r = xwt_get_wait(t, key, val, sizeof(val), WAIT_KEY_MS);
    if (!xwt_check(r == 0, "%s: the doomed child's domain id %s (%d)", name, r ? "?" : val, r))
        return;
    t->peer = (uint32_t)strtoul(val, NULL, 10);
    r = t->sharer ? xwt_setup_create(t, name, &ch) : xwt_setup_accept(t, name, &ch, &o);
    if (r < 0)
        return;
    n = xw_channel_recv(ch, buf, sizeof(buf), 60000);
    xwt_check(n == 5 && !memcmp(buf, "hello", 5), "%s: hello from the doomed peer (%zd)", name,
              n);
    snprintf(key, sizeof(key), "%s-blocked", name);
    xwt_put(t, key, "1");
    t0 = xwt_now_s();
    n = xw_channel_recv(ch, buf, sizeof(buf), 20000);
    dt = xwt_now_s() - t0;
    xwt_check((n == -ECONNRESET || n == -EPIPE) && dt <= KILL_DELAY_S + LIMIT_S,
              "%s: blocked recv ends %.3f s after the kill: %zd (%s)", name, dt - KILL_DELAY_S,
              n, n < 0 ? strerror((int)-n) : "bytes");
    snprintf(key, sizeof(key), "%s-verdict", name);
    xwt_put(t, key, n == -ECONNRESET || n == -EPIPE ? "reset" : "hung");
    xw_channel_close(ch);
}

/* Case 1: the creator's process dies (gntalloc's notification); case 2: the
 * acceptor's (gntdev's); case 3: the creator's, with a child of its own alive. */
void xwt_death(struct xwt *t)
{
    if (t->sharer) {
        victim(t, "death1", false);
        survivor(t, "death2");
        victim(t, "death3", true);
    } else {
        survivor(t, "death1");
        victim(t, "death2", false);
        survivor(t, "death3");
    }
}

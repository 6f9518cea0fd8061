/* The stack's own threads (thread.h). */
#include "thread.h"

#include <errno.h>
#include <semaphore.h>
#include <signal.h>

/* A new thread tells its creator it runs before it calls fn: the creator
 * returns only then.  A fork soon after (the stack makes threads around
 * forks: pumps, and its threads again in the parent) then never copies a
 * thread still starting — one in the middle of its C library's (or a
 * sanitizer's) start-up, holding a lock of the allocator that the child
 * would inherit locked (seen with GCC 12's ASan: a forked child's threads
 * hung in their first allocation). */
struct start {
    void *(*fn)(void *);
    void *arg;
    sem_t running;
};

static void *trampoline(void *p)
{
    struct start *st = p;
    void *(*fn)(void *) = st->fn;
    void *arg = st->arg;

    sem_post(&st->running); /* (st is the creator's: not touched after) */
    return fn(arg);
}

int xw_thread_start(pthread_t *t, bool detached, const char *name, void *(*fn)(void *),
                    void *arg)
{
    struct start st = { .fn = fn, .arg = arg };
    sigset_t all, old;
    pthread_attr_t at;
    int rc;

    if (sem_init(&st.running, 0, 0) < 0)
        return -EAGAIN;
    sigfillset(&all);
    pthread_attr_init(&at);
    if (detached)
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the new thread inherits it */
    rc = pthread_create(t, &at, trampoline, &st);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&at);
    if (!rc) {
        pthread_setname_np(*t, name);
        while (sem_wait(&st.running) < 0)
            ;
    }
    sem_destroy(&st.running);
    return -rc;
}

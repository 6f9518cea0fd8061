/* The stack's own threads (thread.h). */
#include "thread.h"

#include <signal.h>

int xw_thread_start(pthread_t *t, bool detached, const char *name, void *(*fn)(void *),
                    void *arg)
{
    sigset_t all, old;
    pthread_attr_t at;
    int rc;

    sigfillset(&all);
    pthread_attr_init(&at);
    if (detached)
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the new thread inherits it */
    rc = pthread_create(t, &at, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&at);
    if (!rc)
        pthread_setname_np(*t, name);
    return -rc;
}

/* The stack's own threads (the stack loop, the ring-event dispatcher, the
 * process channel, the pumps).  They run inside the application's process and
 * must never take its signals: a process-directed signal (SIGCHLD, SIGTERM,
 * SIGIO ...) delivered to one of them runs the application's handler there,
 * and a main thread waiting for it in sigsuspend/sigwait/pselect never wakes
 * (nginx's master then never sees its workers exit).  So every one of them
 * starts with all signals blocked. */
#ifndef XW_THREAD_H
#define XW_THREAD_H

#include <pthread.h>
#include <stdbool.h>

/* pthread_create with every signal blocked in the new thread, named name
 * (what top -H and /proc/PID/task/TID/comm show); detached if asked.
 * 0 or -errno. */
int xw_thread_start(pthread_t *t, bool detached, const char *name, void *(*fn)(void *),
                    void *arg);

#endif

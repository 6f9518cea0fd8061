/* The shim's first calls made by many threads at once: N threads released by a
 * barrier each make the process's first socket() and connect() at the same
 * instant, then move verified bytes (xs_init_race xway|kernel PEER_ADDR PORT N). */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "peer.h"

enum { BYTES = 65536, MAXT = 64 };
static pthread_barrier_t start;
static _Atomic long slowest; /* ms, the slowest socket()+connect() */

static void *one(void *arg)
{
    uint32_t id = 600 + (uint32_t)(intptr_t)arg;
    static __thread char buf[BYTES];
    struct timespec t0;
    long ms, was;
    int fd;

    pthread_barrier_wait(&start);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fd = st_conn(PEER_ECHO, id, 0, 0, 0); /* socket() + connect() */
    ms = st_ms_since(&t0);
    for (was = slowest; ms > was && !atomic_compare_exchange_weak(&slowest, &was, ms);)
        ;
    st_fill(id, 0, buf, BYTES);
    st_write_all(fd, buf, BYTES);
    memset(buf, 0, BYTES);
    CHECK(st_read_n(fd, buf, BYTES) == BYTES, "connection %u: short echo", id);
    CHECK(st_verify(id, 0, buf, BYTES) == 0, "connection %u: echo differs", id);
    st_ring(fd, "a racing connection");
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t t[MAXT];
    int n;

    st_init(argc, argv, 40);
    n = argc > 4 ? atoi(argv[4]) : 16;
    if (n < 1 || n > MAXT)
        st_die("thread count %d", n);
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, one, (void *)(intptr_t)i) != 0)
            st_die("pthread_create");
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    printf("%d threads connected at once, the slowest in %ld ms\n", n, (long)slowest);
    return st_done("init_race");
}

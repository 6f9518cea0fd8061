/* The machine's spin budget (stack/core/spin.c): a process spins on the cores
 * other work leaves free, the user's spinning processes share them, and a
 * process killed with -9 stops counting by itself.  Runs alone (RUN_SERIAL):
 * it loads the machine's CPUs on purpose. */
#include "spin.h"
#include "testlib.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SPINNERS 3

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t now_ms(void)
{
    return now_us() / 1000u;
}

/* One waiter's round: spin 20 us if allowed, else sleep 100 us as a
 * refused waiter would. */
static void wait_once(void)
{
    struct timespec nap = { 0, 100000 };

    if (xw_spin_enter()) {
        uint64_t end = now_us() + 20;
        while (now_us() < end)
            ;
        xw_spin_leave();
    } else {
        nanosleep(&nap, NULL);
    }
}

/* Wait like a spinning waiter until ok(limit) holds; true if it did within ms. */
static bool wait_for(bool (*ok)(int), int ms)
{
    for (uint64_t end = now_ms() + (uint64_t)ms; now_ms() < end;) {
        wait_once();
        if (ok(xw_spin_limit()))
            return true;
    }
    return false;
}

static bool none(int limit) { return limit == 0; }
static bool some(int limit) { return limit >= 1; }
static bool none_free(int limit) { return limit == 0 && xw_spin_free_cores() == 0; }

static void *spin_forever(void *arg)
{
    (void)arg;
    for (;;)
        wait_once();
    return NULL;
}

/* A child that dies with this process (a failed CHECK must not leave CPU
 * hogs behind for the tests after it). */
static pid_t fork_or_die(void)
{
    pid_t parent = getpid(), p = fork();

    CHECK(p >= 0);
    if (p == 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent))
        _exit(1);
    return p;
}

/* A child whose threads wait like spinning waiters; its main thread puts in
 * limits[i] how much of the time (%) it may spin, from 300 ms on (its sampler
 * has shared by then). */
static pid_t fork_spinner(int threads, _Atomic int *limits, int i)
{
    pid_t p;

    atomic_store(&limits[i], -1);
    if ((p = fork_or_die()) != 0)
        return p;
    for (int k = 1; k < threads; k++) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, spin_forever, NULL) == 0);
    }
    uint64_t from = now_ms() + 300;
    for (unsigned looks = 0, may = 0;;) {
        wait_once();
        if (now_ms() < from)
            continue;
        looks++;
        may += xw_spin_limit() >= 1;
        atomic_store(&limits[i], (int)(may * 100 / looks));
    }
}

static void kill_all(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        kill(pids[i], SIGKILL);
        CHECK(waitpid(pids[i], NULL, 0) == pids[i]);
    }
}

int main(void)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    pid_t hogs[64], spinners[SPINNERS];
    _Atomic int *limits;
    int sum;

    if (ncpu < 2) { /* one CPU: the peer runs only when the spinner stops */
        CHECK(!xw_spin_enter());
        CHECK_EQ(xw_spin_limit(), 0);
        printf("one CPU: never spins\n");
        return 0;
    }
    CHECK(ncpu <= 64);

    /* A quiet machine: half the CPUs may spin. */
    CHECK(wait_for(some, 5000));
    CHECK(xw_spin_limit() >= 1 && xw_spin_limit() <= (int)ncpu / 2);
    printf("quiet: limit %d, free cores %d\n", xw_spin_limit(), xw_spin_free_cores());

    /* Every core busy with other work: no spin at all. */
    for (long i = 0; i < ncpu; i++)
        if ((hogs[i] = fork_or_die()) == 0)
            for (;;)
                ;
    /* (a loaded machine samples late; and the limit may be 0 already because
     * of spinners that just exited, whose slots count for 200 ms more) */
    CHECK(wait_for(none_free, 8000));
    CHECK(!xw_spin_enter());
    printf("%ld hogs: limit %d, free cores %d\n", ncpu, xw_spin_limit(), xw_spin_free_cores());
    kill_all(hogs, (int)ncpu);
    CHECK(wait_for(some, 5000));
    printf("hogs gone: limit %d\n", xw_spin_limit());

    /* More spinning processes than cores share them: at most ncpu spin. */
    usleep(400000); /* this process's slot goes stale: the children come first */
    limits = mmap(NULL, sizeof(*limits) * SPINNERS, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(limits != MAP_FAILED);
    for (int i = 0; i < SPINNERS; i++) {
        atomic_store(&limits[i], -1);
        if ((spinners[i] = fork_or_die()) == 0)
            for (;;) {
                wait_once();
                atomic_store(&limits[i], xw_spin_limit());
            }
        usleep(100000); /* slots in the order of the children */
    }
    usleep(500000);
    /* This process, a fourth spinner after them, gets no share now... */
    CHECK(wait_for(none, 8000)); /* (a loaded machine samples late) */
    sum = 0;
    for (int i = 0; i < SPINNERS; i++) {
        printf("spinner %d: limit %d\n", i, atomic_load(&limits[i]));
        CHECK(atomic_load(&limits[i]) >= 0);
        sum += atomic_load(&limits[i]);
    }
    printf("free cores %d\n", xw_spin_free_cores());
    CHECK(sum >= 1 && sum <= ncpu);
    /* ...and gets one once they are killed with -9 (nobody cleans up). */
    kill_all(spinners, SPINNERS);
    CHECK(wait_for(some, 5000));
    printf("spinners killed: limit %d\n", xw_spin_limit());

    /* A process whose threads want more than it may take (half the CPUs)
     * leaves the rest to the next one: a pre-fork server's 16 clients in one
     * process took both cores of two from its 2 workers, which then slept on
     * every request (0.2x the kernel's requests/s; 2x with the rest left). */
    usleep(400000);
    spinners[0] = fork_spinner((int)ncpu, limits, 0);
    usleep(300000); /* its slot first */
    spinners[1] = fork_spinner(1, limits, 1);
    usleep(2500000);
    printf("after a process wanting %ld cores: the next one may spin %d%% of the time\n",
           ncpu, atomic_load(&limits[1]));
    CHECK(atomic_load(&limits[1]) >= 50);
    kill_all(spinners, 2);

    /* The largest demand first: behind two processes of one waiter each (a
     * pre-fork server's workers, first in slot order), the process with
     * many still gets its share (the clients' process, which otherwise
     * slept on every reply: 85k requests/s against 520-720k). */
    usleep(400000);
    spinners[0] = fork_spinner(1, limits, 0);
    spinners[1] = fork_spinner(1, limits, 1);
    usleep(300000); /* their slots first */
    spinners[2] = fork_spinner((int)ncpu, limits, 2);
    usleep(2500000);
    printf("behind %d of one waiter, a process wanting %ld may spin %d%% of the time\n", 2, ncpu,
           atomic_load(&limits[2]));
    CHECK(atomic_load(&limits[2]) >= 50);
    kill_all(spinners, 3);
    return 0;
}

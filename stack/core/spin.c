/* The machine's spin budget (spin.h).
 *
 * The board: one small shared mapping per user, /dev/shm/xway-spin-5.<uid>
 * (5: the layout), that every stack of the user maps.  It holds
 *   - one slot per process that spins: its demand (how many of its threads
 *     wanted to spin at once, lately) and a heartbeat.  A slot counts while
 *     its heartbeat is under 200 ms old, so a process killed with -9, or one
 *     that stopped spinning, stops counting by itself: nothing to clean, no
 *     pid to check;
 *   - how many cores other work keeps busy: the CPU time the kernel counts as
 *     not idle (/proc/stat's "cpu" line; the hypervisor's steal included),
 *     less the CPU time of the processes that spin (each adds its own), per
 *     unit of time, averaged.
 * Free cores are the online CPUs less those busy ones, rounded.  They go to
 * the slots' demands in slot order; a process may have as many threads
 * spinning at once as it was given (at most half the CPUs), so that the
 * spinners of the machine are never more than its free cores.
 *
 * All of it is done every 50 ms by a sampler thread in each process that
 * spins, and only while it does: a spinning thread reads one process-local
 * counter and limit (no file, no shared cache line bounced between processes
 * on the data path: a slot per spinning thread, claimed and freed at every
 * spin, cost two thirds of a one-connection round trip rate).
 *
 * A spinning process's own work is not "other": it is the exchange the spin
 * waits for.  (Counting it made spinning bistable: a pair that could not spin
 * spent enough CPU on sleeping and waking that its cores never looked free;
 * so did CPU pressure, which the sleeping pair raised to 17% where the
 * spinning pair had 7%.)
 *
 * Only stacks of one user meet on a board (another user's work counts as
 * other work).  Without /dev/shm the board is private to the process.
 */
#include "spin.h"

#include "barrier.h"
#include "futex.h"
#include "stack.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOTS 64
#define SAMPLE_NS 50000000ull  /* the sampler's period */
#define BEAT_NS 200000000ull   /* a slot counts while its heartbeat is younger */
#define STALE_NS 1000000000ull /* an older sample of busy cores is not trusted */
#define IDLE_NS 100000000ull   /* the sampler sleeps this long after a spin */

/* Shared by the user's processes; every field is read and written with
 * atomics only (a process of the same user may scribble on it: it can only
 * make spins shorter or longer, never unsafe). */
struct board {
    struct {
        _Atomic uint64_t beat_ns; /* CLOCK_MONOTONIC */
        _Atomic uint32_t pid;     /* who holds it */
        _Atomic uint32_t demand;  /* threads that wanted to spin at once */
    } slot[SLOTS];
    _Atomic uint64_t spinner_cpu_ns; /* CPU time of spinning processes, summed */
    _Atomic uint64_t sampled_ns;     /* the last sample of busy: when, the sums then */
    _Atomic uint64_t at_busy_ns, at_spinner_ns;
    _Atomic uint32_t busy_x256; /* cores busy with other work, x256, averaged */
};

static struct board private_board, *board = &private_board;
static int ncpu;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* This process's spinners now, the most that wanted to spin at once since the
 * sampler last looked, and how many may (set by the sampler). */
static _Atomic int proc_spinners, proc_demand, proc_limit;

/* The sampler: started at the process's first spin, asleep on word 1 after
 * IDLE_NS without one.  Reset in a forked child (the thread is not there). */
static _Atomic uint64_t last_spin_ns;
static _Atomic unsigned sampler_word; /* 1: asleep, wake it */
static _Atomic int sampler_state;     /* 0 none, 1 running, 2 cannot run */

static void map_board(void)
{
    char path[64];
    struct stat st;
    struct board *b;
    int fd;

    snprintf(path, sizeof(path), "/dev/shm/xway-spin-5.%u", (unsigned)geteuid());
    fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (fstat(fd, &st) < 0 || st.st_uid != geteuid() ||
        (st.st_size != sizeof(struct board) &&
         (st.st_size != 0 || ftruncate(fd, sizeof(struct board)) < 0)))
        goto out_close;
    b = mmap(NULL, sizeof(struct board), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (b != MAP_FAILED)
        board = b;
out_close:
    close(fd);
}

static void forget_sampler(void)
{
    atomic_store(&sampler_state, 0);
    atomic_store(&sampler_word, 0);
    atomic_store(&proc_spinners, 0);
    atomic_store(&proc_demand, 0);
}

static void init(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    ncpu = n > 0 ? (int)n : 1;
    atomic_store(&proc_limit, ncpu / 2);
    if (ncpu > 1)
        map_board();
    pthread_atfork(NULL, NULL, forget_sampler);
}

/* CPU time not idle, summed over the CPUs, ns (/proc/stat's "cpu" line:
 * user nice system idle iowait irq softirq steal, in clock ticks). */
static int64_t read_busy_ns(int fd)
{
    long hz = sysconf(_SC_CLK_TCK);
    unsigned long long v[8] = { 0 };
    char buf[256];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

    if (n <= 0 || hz <= 0)
        return -1;
    buf[n] = '\0';
    if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
               &v[4], &v[5], &v[6], &v[7]) < 4)
        return -1;
    return (int64_t)((v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) *
                     (1000000000ull / (unsigned long long)hz));
}

static uint64_t process_cpu_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The busy cores: one sample, unless another process took one within
 * SAMPLE_NS. */
static void sample_busy(int fd, uint64_t now)
{
    uint64_t prev = atomic_load(&board->sampled_ns);
    int64_t busy, spinners, cores_x256;

    if (now - prev < SAMPLE_NS || !atomic_compare_exchange_strong(&board->sampled_ns, &prev, now))
        return;
    if ((busy = read_busy_ns(fd)) < 0)
        return;
    spinners = (int64_t)atomic_load(&board->spinner_cpu_ns);
    cores_x256 =
        (busy - (int64_t)atomic_exchange(&board->at_busy_ns, (uint64_t)busy) -
         (spinners - (int64_t)atomic_exchange(&board->at_spinner_ns, (uint64_t)spinners))) *
        256 / (int64_t)(now - prev);
    if (cores_x256 < 0)
        cores_x256 = 0;
    if (cores_x256 > (int64_t)ncpu * 256)
        cores_x256 = (int64_t)ncpu * 256;
    if (now - prev > STALE_NS) { /* the sums were not this window's */
        atomic_store(&board->busy_x256, 0);
        return;
    }
    atomic_store(&board->busy_x256,
                 (uint32_t)(((int64_t)atomic_load(&board->busy_x256) + cores_x256) / 2));
}

static int free_cores(uint64_t now)
{
    uint64_t at = atomic_load_explicit(&board->sampled_ns, memory_order_relaxed);
    uint32_t busy = atomic_load_explicit(&board->busy_x256, memory_order_relaxed);

    if (now - at > STALE_NS)
        return ncpu;
    return ncpu - (int)((busy + 128) / 256);
}

static bool fresh(int i, uint64_t now)
{
    return now - atomic_load_explicit(&board->slot[i].beat_ns, memory_order_relaxed) < BEAT_NS;
}

/* This process's slot, its heartbeat and demand renewed; -1 if none is free. */
static int beat(int mine, uint64_t now, int demand)
{
    uint32_t pid = (uint32_t)getpid();

    if (mine >= 0 && atomic_load(&board->slot[mine].pid) != pid)
        mine = -1; /* taken while this process did not spin */
    for (int i = 0; mine < 0 && i < SLOTS; i++) {
        uint64_t seen = atomic_load(&board->slot[i].beat_ns);
        if (now - seen >= BEAT_NS && atomic_compare_exchange_strong(&board->slot[i].beat_ns, &seen, now)) {
            atomic_store(&board->slot[i].pid, pid);
            mine = i;
        }
    }
    if (mine >= 0) {
        atomic_store(&board->slot[mine].demand, (uint32_t)demand);
        atomic_store(&board->slot[mine].beat_ns, now);
    }
    return mine;
}

/* What a process's demand can take: a process never spins on more than
 * half the CPUs (the sampler's cap), so more is not taken from the others. */
static int usable(int demand)
{
    return demand < ncpu / 2 ? demand : ncpu / 2;
}

/* The free cores go to the fresh slots' demands, the largest demand first
 * (the process with the most threads waiting at once: its waits come most
 * often), then in slot order: this process's share.  (In slot order alone, a
 * pre-fork server's 2 workers could take both cores of two ahead of the
 * process of its 16 clients, whose every reply then woke a sleeper: 85k
 * requests/s against 520-720k with the clients' process served first.) */
static int share(int mine, uint64_t now)
{
    int left = free_cores(now), mydemand;

    if (mine < 0)
        return 0;
    mydemand = (int)atomic_load(&board->slot[mine].demand);
    for (int i = 0; i < SLOTS && left > 0; i++) {
        int d = (int)atomic_load(&board->slot[i].demand);
        if (i != mine && fresh(i, now) && (d > mydemand || (d == mydemand && i < mine)))
            left -= usable(d);
    }
    if (left <= 0)
        return 0;
    return usable(mydemand) < left ? usable(mydemand) : left;
}

static void *sampler(void *arg)
{
    int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC), mine = -1, demand, limit;
    struct timespec period = { 0, (long)SAMPLE_NS };
    uint64_t cpu = process_cpu_ns(), t, now;

    (void)arg;
    pthread_setname_np(pthread_self(), "xway-spin");
    if (fd < 0) {
        atomic_store(&sampler_state, 2);
        return NULL;
    }
    for (;;) {
        if (xw_mono_ns() - atomic_load(&last_spin_ns) > IDLE_NS) {
            atomic_store(&sampler_word, 1);
            if (xw_mono_ns() - atomic_load(&last_spin_ns) > IDLE_NS)
                xw_futex_wait(&sampler_word, 1, -1);
            atomic_store(&sampler_word, 0);
            cpu = process_cpu_ns(); /* what it did without spinning is other work */
            continue;
        }
        t = process_cpu_ns();
        atomic_fetch_add(&board->spinner_cpu_ns, t - cpu);
        cpu = t;
        now = xw_mono_ns();
        sample_busy(fd, now);
        demand = atomic_exchange(&proc_demand, atomic_load(&proc_spinners));
        mine = beat(mine, now, demand > 0 ? demand : 1);
        limit = share(mine, now);
        atomic_store(&proc_limit, limit < ncpu / 2 ? limit : ncpu / 2);
        nanosleep(&period, NULL);
    }
    return NULL;
}

static void start_sampler(void)
{
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_t t;
    int expect = 0;

    if (!atomic_compare_exchange_strong(&sampler_state, &expect, 1))
        return;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    if (pthread_create(&t, &attr, sampler, NULL) != 0)
        atomic_store(&sampler_state, 2);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* A thread wants to spin: the sampler must run (it sleeps when none does). */
static void note_spin(void)
{
    uint64_t now = xw_mono_ns();

    if (now - atomic_load_explicit(&last_spin_ns, memory_order_relaxed) > 1000000u)
        atomic_store(&last_spin_ns, now); /* (at most once a millisecond: shared line) */
    if (atomic_load(&sampler_state) == 0)
        start_sampler();
    else if (atomic_load(&sampler_word) == 1 && atomic_exchange(&sampler_word, 0) == 1)
        xw_futex_wake(&sampler_word);
}

bool xw_spin_enter(void)
{
    int n, d;

    pthread_once(&once, init);
    if (ncpu < 2)
        return false;
    note_spin();
    n = atomic_fetch_add(&proc_spinners, 1) + 1;
    d = atomic_load_explicit(&proc_demand, memory_order_relaxed);
    while (n > d && !atomic_compare_exchange_weak(&proc_demand, &d, n))
        ;
    if (n <= atomic_load_explicit(&proc_limit, memory_order_relaxed))
        return true;
    atomic_fetch_sub(&proc_spinners, 1);
    return false;
}

void xw_spin_leave(void)
{
    atomic_fetch_sub(&proc_spinners, 1);
}

int xw_spin_limit(void)
{
    pthread_once(&once, init);
    return ncpu < 2 ? 0 : atomic_load(&proc_limit);
}

int xw_spin_free_cores(void)
{
    pthread_once(&once, init);
    return free_cores(xw_mono_ns());
}

int xw_spin(_Atomic unsigned *budget, unsigned max, uint64_t deadline, int (*look)(void *),
            void *arg)
{
    unsigned cur = atomic_load_explicit(budget, memory_order_relaxed);
    uint64_t end;
    int r;

    if (!cur || cur > max) /* (0 with XWAY_SPIN_US=0: a few looks) */
        cur = max;
    if (!xw_spin_enter())
        return 0;
    end = xw_mono_ns() + (uint64_t)cur * 1000u;
    if (end > deadline)
        end = deadline;
    for (unsigned i = 0;; i++) {
        if ((r = look(arg)) != 0)
            break;
        if ((i & 31) == 31 && xw_mono_ns() >= end)
            break;
        xw_cpu_relax();
    }
    xw_spin_leave();
    atomic_store_explicit(budget, xw_spin_next(cur, r > 0, max), memory_order_relaxed);
    return r;
}

unsigned xw_spin_next(unsigned cur, bool hit, unsigned max)
{
    if (!cur || cur > max)
        cur = max;
    if (hit)
        return cur * 2 < max ? cur * 2 : max;
    if (cur - cur / 4 > XW_SPIN_MIN_US)
        return cur - cur / 4;
    return XW_SPIN_MIN_US < max ? XW_SPIN_MIN_US : max;
}

unsigned xw_spin_slept(unsigned cur, uint64_t waited_ns, unsigned max)
{
    return waited_ns <= (uint64_t)max * 1000u ? xw_spin_next(cur, true, max) : cur;
}

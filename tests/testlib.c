/* Helpers shared by the C tests. */
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint64_t xw_fnv(uint64_t h, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static unsigned char pattern_byte(uint64_t off, uint32_t seed)
{
    uint64_t x = (off >> 3) * 0x9e3779b97f4a7c15ULL + seed;
    x ^= x >> 29;
    return (unsigned char)(x >> (8 * (off & 7)));
}

void xw_pattern(void *buf, size_t len, uint64_t off, uint32_t seed)
{
    unsigned char *p = buf;
    for (size_t i = 0; i < len; i++)
        p[i] = pattern_byte(off + i, seed);
}

long xw_pattern_check(const void *buf, size_t len, uint64_t off, uint32_t seed)
{
    const unsigned char *p = buf;
    for (size_t i = 0; i < len; i++)
        if (p[i] != pattern_byte(off + i, seed))
            return (long)i;
    return -1;
}

uint64_t xw_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int xw_count_fds(void)
{
    struct dirent *de;
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    CHECK(d);
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own fd */
}

void xw_print_fds(void)
{
    struct dirent *de;
    DIR *d = opendir("/proc/self/fd");

    CHECK(d);
    while ((de = readdir(d))) {
        char path[300], to[256];
        ssize_t n;
        if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
        n = readlink(path, to, sizeof(to) - 1);
        to[n < 0 ? 0 : n] = 0;
        printf("  fd %s -> %s\n", de->d_name, to);
    }
    closedir(d);
}

/* ---- temp directories, children, watchdog ---------------------------------------- */

struct owned {
    pid_t owner; /* the process that made it cleans it up */
    pid_t pid;   /* a child, or 0 */
    char dir[128];
};
static struct owned dirs[8], kids[16];

static void cleanup(void)
{
    pid_t me = getpid();

    for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
        if (kids[i].pid > 0 && kids[i].owner == me)
            kill(kids[i].pid, SIGKILL);
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        if (dirs[i].dir[0] && dirs[i].owner == me && xw_rm_rf(dirs[i].dir) < 0)
            fprintf(stderr, "cleanup: cannot remove %s\n", dirs[i].dir);
}

static void arm_cleanup(void)
{
    static pid_t armed;

    if (!armed) { /* atexit handlers are inherited by forked children */
        armed = getpid();
        atexit(cleanup);
    }
}

static struct owned *slot(struct owned *tab, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!tab[i].owner || (!tab[i].pid && !tab[i].dir[0]))
            return &tab[i];
    fprintf(stderr, "testlib: too many temp dirs or children\n");
    exit(1);
}

const char *xw_tmpdir(const char *base, const char *prefix)
{
    struct owned *d = slot(dirs, sizeof(dirs) / sizeof(dirs[0]));

    if (!base)
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(d->dir, sizeof(d->dir), "%s/%sXXXXXX", base, prefix);
    CHECK(mkdtemp(d->dir) != NULL);
    d->owner = getpid();
    arm_cleanup();
    return d->dir;
}

const char *xw_sim_host(void)
{
    return xw_tmpdir(NULL, "xwt-host-");
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -errno : 0;
}

int xw_rm_rf(const char *path)
{
    int r = nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);

    return r > 0 ? -r : r < 0 && errno != ENOENT ? -errno : 0;
}

pid_t xw_fork(void)
{
    pid_t parent = getpid(), pid;

    fflush(NULL);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) /* it died before the line above */
            _exit(1);
        return 0;
    }
    struct owned *k = slot(kids, sizeof(kids) / sizeof(kids[0]));
    k->owner = parent;
    k->pid = pid;
    arm_cleanup();
    return pid;
}

int xw_wait(pid_t pid)
{
    int st;

    CHECK(waitpid(pid, &st, 0) == pid);
    for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
        if (kids[i].pid == pid && kids[i].owner == getpid())
            kids[i].pid = 0;
    return st;
}

void xw_wait_ok(pid_t pid, const char *what)
{
    int st = xw_wait(pid);

    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "%s (pid %d) failed: status 0x%x\n", what, (int)pid, st);
        exit(1);
    }
}

static void on_alarm(int sig)
{
    static const char msg[] = "test: TIMEOUT (watchdog)\n";

    (void)sig;
    if (write(2, msg, sizeof(msg) - 1) < 0) {
    }
    cleanup();
    _exit(3);
}

void xw_watchdog(unsigned secs)
{
    signal(SIGALRM, on_alarm);
    alarm(secs);
}

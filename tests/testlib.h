/* Small helpers shared by the C tests: checks that abort with a message, a
 * checksum for transfer verification, a deterministic byte pattern, temp
 * directories and child processes cleaned up at exit, a watchdog. */
#ifndef XW_TESTLIB_H
#define XW_TESTLIB_H

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

#define CHECK_EQ(a, b)                                                              \
    do {                                                                            \
        long long a_ = (long long)(a), b_ = (long long)(b);                         \
        if (a_ != b_) {                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld vs %lld)\n",       \
                    __FILE__, __LINE__, #a, #b, a_, b_);                            \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

/* FNV-1a 64, incremental: h = xw_fnv(h, buf, len), start with XW_FNV_INIT. */
#define XW_FNV_INIT 0xcbf29ce484222325ULL
uint64_t xw_fnv(uint64_t h, const void *buf, size_t len);

/* Fill buf with the pattern byte at stream offset off..off+len (seeded). */
void xw_pattern(void *buf, size_t len, uint64_t off, uint32_t seed);
/* Index of the first byte not matching the pattern, or -1 when all match. */
long xw_pattern_check(const void *buf, size_t len, uint64_t off, uint32_t seed);

/* Monotonic time in nanoseconds. */
uint64_t xw_now_ns(void);

/* The process's open file descriptors (/proc/self/fd, without the listing's own). */
int xw_count_fds(void);
/* Print each open fd and what it refers to (for a test whose count is off). */
void xw_print_fds(void);

/* Temp directories and children are cleaned up at exit (atexit) and by the
 * watchdog, each only by the process that made it: a forked child never removes
 * its parent's directories nor kills its siblings. */

/* A fresh directory base/prefixXXXXXX (base NULL: /dev/shm when writable, else
 * /tmp), removed with everything in it at exit.  CHECKed. */
const char *xw_tmpdir(const char *base, const char *prefix);
/* A fresh sim host directory (xw_tmpdir(NULL, "xwt-host-")), removed at exit. */
const char *xw_sim_host(void);
/* Remove path and everything below it.  0 or -errno. */
int xw_rm_rf(const char *path);

/* fork(), CHECKed, output flushed first.  The child dies with its parent
 * (PR_SET_PDEATHSIG); the parent SIGKILLs it at exit unless waited for. */
pid_t xw_fork(void);
/* Wait for a child of xw_fork; its wait status.  CHECKed. */
int xw_wait(pid_t pid);
/* The same; CHECKs that it exited with 0 (what names it in the message). */
void xw_wait_ok(pid_t pid, const char *what);

/* After secs: "test: TIMEOUT (watchdog)", the cleanup above, _exit(3). */
void xw_watchdog(unsigned secs);

#endif

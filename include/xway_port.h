/* xway's port interface: what the core needs from the environment it runs in
 * (a Linux process, a unikernel, an embedded guest) and nothing else.
 *
 * The core is the part of xway that builds freestanding (README: "The
 * core"): lwIP with xway's options (stack/core/lwipopts.h, its arch in
 * stack/core/arch), xway's TCP options on lwIP's pcbs, the handshake (its
 * protocol units in stack/proto, its I/O in stack/path/negotiate.c), the ring
 * channel (netif-xway/ring.c, channel.c, budget.c), the connection logic (the
 * TCP and ring paths, the switch: stack/path) and, for guests that run it
 * from their own loop, its threadless host and API (include/xway_core.h).  It
 * calls only the functions declared here, the C library functions listed at
 * the end, the link the port adds to lwIP (a netif), and the shared-memory
 * backend it is given: grants, event channels and a key store as a struct
 * xw_xenif_ops table (netif-xway/xenif.h), which the port supplies (the Linux
 * library: Xen's libraries, or the sim's files).  The freestanding check
 * (tests/embedded) holds it to that.
 * The Linux library implements this interface in stack/core/port_linux.c and
 * builds the same core sources with its own host of the connection logic
 * (its threads, readiness fds and shim) instead of the threadless one.
 *
 * How the environment wakes the stack: the Linux library's stack thread and
 * event dispatcher wait on its link and backend fds; a guest that runs the
 * core from its own loop calls xway_core_poll when a frame or an event
 * arrives or the time it returned has passed (include/xway_core.h).
 *
 * A port calls lwIP and the handshake from one thread at a time (the Linux
 * library: under its stack lock); the ring channel's data calls may come from
 * several threads at once (they synchronise on the shared ring itself).  None
 * of these functions calls back into the core.
 */
#ifndef XWAY_PORT_H
#define XWAY_PORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A monotonic clock in microseconds.  lwIP's timers run on it (in ms), the
 * ring's waits and liveness too. */
uint64_t xway_port_now_us(void);

/* len unpredictable bytes: 0, or -errno when there are none to give.  TCP's
 * initial sequence numbers and ephemeral ports, and each ring's key and nonce,
 * come from here (not from a seeded PRNG). */
int xway_port_random(void *buf, size_t len);

/* Memory, as malloc, calloc and free (NULL when there is none left: the core
 * fails the operation concerned, never the process). */
void *xway_port_malloc(size_t size);
void *xway_port_calloc(size_t count, size_t size);
void xway_port_free(void *p);

/* The core's process-wide counters (the ring's grant and mapping budget,
 * netif-xway/budget.c) are changed between these: a port that calls the core
 * from one thread makes them nothing; the Linux library, whose threads call
 * the ring's calls directly, a mutex. */
void xway_port_lock(void);
void xway_port_unlock(void);

/* Diagnostics.  level: 0 error, 1 warning, 2 information, 3 debugging (the
 * values of xway.h's enum xway_log_level).  The port formats the line
 * (printf's conventions) and writes it; it may rate-limit the _peer ones
 * (lines a peer can cause at will).  xway_port_log_level: the most detailed
 * level the port writes; the core formats nothing above it. */
extern int xway_port_log_level;
void xway_port_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void xway_port_log_peer(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The text of an errno value (err > 0) for a log line: strerror's, or any
 * fixed text on a port that has none. */
const char *xway_port_strerror(int err);

/* An internal invariant failed (what, at file:line).  Does not return. */
_Noreturn void xway_port_fatal(const char *what, const char *file, int line);

/* The C library functions the core calls, with their standard meaning (a
 * freestanding environment provides them, as its compiler may emit calls to
 * the first four anyway), from <string.h> and <stdlib.h>:
 *
 * libc: memcpy memmove memset memcmp strlen strcmp strncmp atoi
 *
 * and from <errno.h> the errno values, Linux's numbers (the core returns
 * -errno codes; it reads no errno variable).  <stddef.h>, <stdint.h>,
 * <stdbool.h>, <stdatomic.h> and <limits.h> are the compiler's own; struct
 * iovec and ssize_t are POSIX's (<sys/uio.h>, <sys/types.h>). */

#ifdef __cplusplus
}
#endif

#endif

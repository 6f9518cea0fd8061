/* Shared by the ring tests: the path of a connection, the stack's counters,
 * and the sim host's leftovers of a domain (fresh sim hosts: xw_sim_host). */
#ifndef XWT_RINGTEST_H
#define XWT_RINGTEST_H

#include <stdint.h>
#include <xway.h>

/* XWAY_INFO of fd, CHECKed. */
struct xway_conn_info xwt_info(int fd);
/* The same, printed as who's line: path, reason, switches, bytes each way. */
struct xway_conn_info xwt_info_show(const char *who, int fd);
/* Whether fd's path is path ("ring"/"tcp") with fallback reason (name), and the
 * info consistent with it (ring_bytes only on the ring): 0, or 1 with a message. */
int xwt_path_is(const char *who, int fd, const char *path, const char *reason);
/* The same, CHECKed. */
void xwt_expect_path(const char *who, int fd, const char *path, const char *reason);
/* enum xway_reason of a name, CHECKed. */
int xwt_reason_code(const char *name);

/* Connect a blocking xway socket to ip:port, CHECKed. */
int xwt_connect(const char *ip, unsigned port);

/* What the sim host still holds for domain dom: grant objects g<dom>-*, grant
 * entries in use in dom<dom>.gnt, bound event-channel ports in dom<dom>.evt,
 * kept objects k<dom>-* beyond the 8 a live process may keep.  Prints each
 * finding; returns their number. */
int xwt_sim_leftovers(const char *host, int dom);
/* dom's kept objects (pages for its next ring with the same peer): none may
 * be left once its process has ended. */
int xwt_sim_kept(const char *host, int dom);

#endif

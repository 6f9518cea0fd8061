/* xwperf: options shared by the client and the server. */
#ifndef XWPERF_H
#define XWPERF_H

#include <stdbool.h>
#include <stdint.h>

#include "ops.h"

#define XWP_DEFAULT_PORT 5301

struct xwp_opts {
    const struct xwp_ops *ops;
    const char *host;  /* client: server address; server: bind address or NULL */
    uint16_t port;
    double seconds;    /* client: test duration when bytes == 0 */
    uint64_t bytes;    /* client: payload per direction, all connections together */
    uint32_t msglen;
    uint32_t nconn;    /* parallel connections; --connect-rate: connections in sequence */
    int mode;          /* enum xwp_mode */
    bool json;
    bool once;         /* server: exit after one test */
    bool epoll;        /* server: one thread, an epoll event loop (evloop.c) */
    uint32_t depth;    /* client --rr: requests in flight per connection (1: none pipelined) */
    bool verbose;
    bool zc;           /* client --zc: bulk through the zero-copy API (xway_zc.h) */
    double timeout;    /* client: give up after this many seconds */
};

/* Each returns the process exit code: 0 ok, 1 verification failed, 2 error. */
int xwp_server_run(const struct xwp_opts *o);
/* The event-loop server on listeners lfd[0..nl) (server.c opened them). */
int xwp_evloop_run(const struct xwp_opts *o, const int *lfd, int nl);
int xwp_client_run(const struct xwp_opts *o);

/* "bulk", "bidir", "rr", "connect". */
const char *xwp_mode_name(int mode);

#endif

/* xway's plain data types: why a connection is TCP (enum xway_reason), what
 * a connection says of itself (struct xway_conn_info) and the stack's
 * counters (struct xway_stats).  Included by xway.h; freestanding C (only
 * <stdint.h>), so that the core (include/xway_port.h) shares them with the
 * Linux library. */
#ifndef XWAY_TYPES_H
#define XWAY_TYPES_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Fallback reasons (why a connection is TCP), as counted in xway_stats. */
enum xway_reason {
    XWAY_REASON_NONE = 0,
    XWAY_REASON_PEER_NO_OPTION = 1, /* the peer did not answer the SYN option */
    XWAY_REASON_NOT_CORESIDENT = 2, /* different host */
    XWAY_REASON_BACKEND_OFF = 3,    /* no shared-memory backend here */
    XWAY_REASON_GRANT_SHARE = 4,
    XWAY_REASON_GRANT_MAP = 5,
    XWAY_REASON_EVTCHN = 6,
    XWAY_REASON_TIMEOUT = 7,
    XWAY_REASON_MALFORMED = 8,
    XWAY_REASON_VERSION = 9,
    XWAY_REASON_RESOURCES = 10,
    XWAY_REASON_NONCE = 11,
    XWAY_REASON_PEER_DECLINED = 12,
    XWAY_REASON_OFFER_KEY = 13,     /* a replayed or forged offer, declined */
    /* A ring connection that switched to TCP while it lived (counted in
     * xway_stats.fallback too: one per switch). */
    XWAY_REASON_MOVED = 14,         /* our domain moved to another host */
    XWAY_REASON_PEER_MOVED = 15,    /* the peer's domain moved (or left the ring) */
};
#define XWAY_REASONS 16

struct xway_conn_info {
    char path[8];          /* "ring" or "tcp" */
    char fallback[24];     /* why TCP ("none" on the ring), e.g. "not-co-resident" */
    int fallback_code;     /* enum xway_reason */
    uint32_t ring_bytes;   /* ring size per direction; 0 on TCP */
    uint64_t ring_tx, ring_rx; /* payload bytes through the ring */
    uint64_t tcp_tx, tcp_rx;   /* payload bytes through lwIP TCP */
    uint32_t switches;     /* times the connection changed path while it lived */
};

struct xway_stats {
    uint64_t ring_conns;              /* connections that switched to the ring */
    uint64_t tcp_conns;               /* connections that stayed TCP */
    uint64_t fallback[XWAY_REASONS];  /* tcp_conns by enum xway_reason; [MOVED] and
                                         [PEER_MOVED]: ring connections switched to TCP */
    const char *backend;              /* "xen", "sim" or "off" */
    int domid;                        /* our domain id, -1 without a backend */
};

#ifdef __cplusplus
}
#endif

#endif

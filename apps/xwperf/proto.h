/* xwperf's wire messages: the client's hello that opens every connection and the
 * server's result that closes it.  Encode/decode only, no I/O.
 *
 * A connection: hello (client->server); then the test's payload; the client
 * shuts down its write side; the server answers with the result.  In --bidir
 * the server->client payload is framed (u32 length + bytes, length 0 ends it) so
 * that the result can follow it on the same stream. */
#ifndef XWP_PROTO_H
#define XWP_PROTO_H

#include <stdint.h>

/* XWP_CONNECT: no payload, the result follows the hello (connection setup rate). */
enum xwp_mode { XWP_BULK = 1, XWP_BIDIR = 2, XWP_RR = 3, XWP_CONNECT = 4 };
enum xwp_status { XWP_OK = 0, XWP_BAD_DATA = 1, XWP_BAD_PROTO = 2 };
enum xwp_dir { XWP_DIR_UP = 0, XWP_DIR_DOWN = 1 };
/* Flags of a hello and of its result, in the high 16 bits of the mode and
 * status words (an older peer sees an unknown mode or status, never a wrong
 * test).  XWP_F_ZC: the client sends from xway_zc_reserve'd room and asks the
 * server to check the payload in place (xway_zc_recv, bulk only); the result
 * carries it back when the server did. */
enum xwp_flag { XWP_F_ZC = 1 };
#define XWP_FLAGS_KNOWN XWP_F_ZC

#define XWP_MAGIC_HELLO 0x58575048u  /* "XWPH" */
#define XWP_MAGIC_RESULT 0x58575052u /* "XWPR" */
#define XWP_HELLO_LEN 40
#define XWP_RESULT_LEN 48
#define XWP_FRAME_HDR 4

struct xwp_hello {
    uint32_t mode;
    uint32_t flags;     /* enum xwp_flag */
    uint32_t msglen;
    uint32_t seed;
    uint32_t nconn;     /* connections in this test */
    uint32_t conn_idx;  /* this connection's index */
    uint64_t test_id;   /* chosen by the client; the same on all its connections */
    uint64_t down_bytes; /* --bidir: bytes the server sends; 0: until the client's EOF */
};

struct xwp_result {
    uint32_t status;   /* enum xwp_status */
    uint32_t flags;    /* enum xwp_flag: what the server did */
    uint64_t rx_bytes; /* payload the server received */
    uint64_t rx_csum;  /* xwp_stream_digest of what was received */
    uint64_t tx_bytes; /* payload the server sent (--bidir, --rr) */
    uint64_t tx_csum;  /* xwp_stream_digest of what was sent */
    int64_t bad_off;   /* stream offset of the first bad byte received, or -1 */
};

void xwp_hello_encode(const struct xwp_hello *h, unsigned char out[XWP_HELLO_LEN]);
/* 0, or -EPROTO on a bad magic / field. */
int xwp_hello_decode(const unsigned char in[XWP_HELLO_LEN], struct xwp_hello *h);
void xwp_result_encode(const struct xwp_result *r, unsigned char out[XWP_RESULT_LEN]);
int xwp_result_decode(const unsigned char in[XWP_RESULT_LEN], struct xwp_result *r);

#endif

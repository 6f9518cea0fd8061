/* Hostile handshake peers for the proto tests: a stack started with
 * XWAY_FAULT=raw exchanges the SYN option but leaves the control stream to the
 * application, which speaks (or mangles) the messages below by hand. */
#ifndef XWT_PROTO_RAW_H
#define XWT_PROTO_RAW_H

#include <stddef.h>
#include <stdint.h>

#include "ctrlmsg.h"

/* Write all n bytes (CHECKed); gap_ms > 0: one byte per send, TCP_NODELAY,
 * gap_ms apart (one segment each). */
void xwt_raw_send(int fd, const void *buf, size_t n, unsigned gap_ms);
/* Encode m and send it as above. */
void xwt_raw_send_msg(int fd, const struct xw_ctrl *m, unsigned gap_ms);
/* Read one control message by its header's length (CHECKed well framed). */
void xwt_raw_recv_msg(int fd, struct xw_ctrl *m);
/* A hand-made header: magic, version, type, length; zeros after (len bytes
 * in all, at most 64). */
size_t xwt_raw_header(uint8_t *buf, unsigned version, unsigned type, unsigned length,
                      size_t len);
/* Milliseconds since t0 (xw_now_ns). */
double xwt_ms_since(uint64_t t0);

#endif

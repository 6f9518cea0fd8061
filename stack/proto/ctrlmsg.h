/* The control messages of the in-stack handshake: exchanged on the TCP stream
 * before any application byte, only when both SYN and SYN-ACK carried the xway
 * option.  Fixed width, big-endian, versioned; encode/parse only, no I/O.
 * Wire layout and sequence: docs/PROTOCOL.md.
 *
 * Parsing is syntactic: magic, version, type, exact length.  Field values
 * (ring_shift range, domid, reason codes) are judged by the handshake. */
#ifndef XW_CTRLMSG_H
#define XW_CTRLMSG_H

#include <stddef.h>
#include <stdint.h>

enum {
    XW_CTRL_MAGIC = 0x5857, /* "XW" */
    XW_CTRL_VERSION = 3,    /* 2: OFFER carries the key that binds it to its sender;
                               3: SWITCH and HELLO, a live connection moves between
                               the ring and TCP */
    XW_CTRL_HDR = 8,        /* magic u16, version u8, type u8, length u16, reserved u16 */
    XW_CTRL_MAX = 32,       /* largest message */
};

enum xw_ctrl_type {
    XW_CTRL_OFFER = 1,   /* connector -> acceptor: the ring (total 32) */
    XW_CTRL_NOOFFER = 2, /* connector -> acceptor: cannot offer a ring (12) */
    XW_CTRL_ACCEPT = 3,  /* acceptor -> connector: mapped; nonce read through the mapping (24) */
    XW_CTRL_DECLINE = 4, /* acceptor -> connector: will not use the ring (12) */
    XW_CTRL_CONFIRM = 5, /* connector -> acceptor: nonce verified, ring from now on (12) */
    XW_CTRL_ABORT = 6,   /* connector -> acceptor: rejected (e.g. bad nonce), TCP (12) */
    XW_CTRL_SWITCH = 7,  /* either side, on the ring: leaving it for TCP; the bytes of
                            the peer's stream the sender has (16) */
    XW_CTRL_HELLO = 8,   /* either side, on TCP: a control section starts (the way back
                            to the ring); the sender's domain and host (24) */
    XW_CTRL_TAKE = 9,    /* connector -> acceptor: takes the parked ring the SYN-ACK
                            proposed, its new key (16); sent only to a SYN-ACK that
                            proposed one, so only to stacks that know it */
};

/* OFFER's flags. */
enum { XW_CTRL_F_PARKED = 1 }; /* the ring of an earlier connection between the
                                  same two stacks, parked by both (ring_park.c) */
/* DECLINE's reason when it answers an OFFER of a parked ring the acceptor does
 * not have: the connector offers a new ring next (not a fallback reason). */
enum { XW_CTRL_RING_UNKNOWN = 0x100 };

/* Why a connection stays on TCP: the wire u16 of NOOFFER/DECLINE/ABORT and the
 * index of the per-stack fallback counters. */
enum xw_reason {
    XW_REASON_NONE = 0,
    XW_REASON_PEER_NO_OPTION = 1, /* peer did not answer the option */
    XW_REASON_NOT_CORESIDENT = 2,
    XW_REASON_BACKEND_OFF = 3,
    XW_REASON_GRANT_SHARE = 4,
    XW_REASON_GRANT_MAP = 5,
    XW_REASON_EVTCHN = 6,
    XW_REASON_TIMEOUT = 7,
    XW_REASON_MALFORMED = 8,
    XW_REASON_VERSION = 9,
    XW_REASON_RESOURCES = 10,
    XW_REASON_NONCE = 11,
    XW_REASON_PEER_DECLINED = 12,
    XW_REASON_OFFER_KEY = 13, /* the OFFER's key is not the page's: replayed or forged */
    /* Why a ring connection switched to TCP (SWITCH's reason; counted with the
     * others: these connections are TCP now). */
    XW_REASON_MOVED = 14,      /* our domain moved to another host */
    XW_REASON_PEER_MOVED = 15, /* the peer left the ring: its domain moved, or vanished */
    XW_REASON_MAX /* count */
};

/* "none", "peer-no-option", ..., "peer-declined"; "unknown" out of range. */
const char *xw_reason_name(int r);

/* One message, host byte order.  Only the fields of the type are encoded;
 * parse zeroes the others.
 *   OFFER:   domid, intf_ref, port, ring_shift, flags, key
 *   ACCEPT:  nonce, domid (the acceptor's)
 *   NOOFFER, DECLINE, ABORT: reason
 *   CONFIRM: none
 *   SWITCH:  rx_idx (the receiver's ring index up to which it has the peer's
 *            bytes), reason
 *   HELLO:   domid, host (the sender's host hash)
 *   TAKE:    key (the one the connector just wrote into the ring's page) */
struct xw_ctrl {
    uint8_t type;
    uint16_t reason;
    uint32_t domid, intf_ref, port, rx_idx;
    uint8_t ring_shift, flags;
    uint64_t nonce, key, host;
};

/* Total wire size of a message of this type, or -EINVAL if unknown. */
int xw_ctrl_size(unsigned type);

/* Encode m into buf[0..cap).  Returns the bytes written, -EINVAL (unknown
 * type), -ENOSPC (cap too small; nothing written). */
int xw_ctrl_write(uint8_t *buf, size_t cap, const struct xw_ctrl *m);

/* Parse one message at the start of buf[0..len); never reads past len.
 * Returns the bytes consumed (> 0, *out filled); 0 when more bytes are needed
 * to decide; -EBADMSG bad magic or a length field not matching the type's
 * size; -EPROTONOSUPPORT version != XW_CTRL_VERSION; -ENOMSG unknown type with a plausible
 * length (XW_CTRL_HDR..XW_CTRL_MAX).  An error is returned as soon as the
 * bytes present prove it (e.g. a bad first byte). */
int xw_ctrl_parse(const uint8_t *buf, size_t len, struct xw_ctrl *out);

/* After xw_ctrl_parse returned -EPROTONOSUPPORT or -ENOMSG (well framed, not
 * understood): the size to skip, from the length field, once all of it is in
 * buf[0..len); 0 when more bytes are needed; -EBADMSG when the length is not
 * XW_CTRL_HDR..XW_CTRL_MAX (over-long or short: the frame is broken, nothing
 * after it can be trusted). */
int xw_ctrl_skip(const uint8_t *buf, size_t len);

#endif

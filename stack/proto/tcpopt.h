/* The xway SYN option: an RFC 6994 experimental TCP option (kind 253, ExID "XW")
 * that says "xway capable" and carries what the peer needs to judge
 * co-residency.  Encode/parse only, no I/O; wire layout in docs/PROTOCOL.md.
 *
 * The peer is not trusted: the parser walks the whole option area and checks
 * every bound itself (lwIP 2.1.3's own option walker does not). */
#ifndef XW_TCPOPT_H
#define XW_TCPOPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    XW_OPT_KIND = 253,      /* RFC 6994 experimental option */
    XW_OPT_LEN = 20,        /* kind, len, ExID(2), version, flags, rsvd(2), domid(4), host(8) */
    XW_OPT_EXID = 0x5857,   /* "XW", big-endian on the wire */
    XW_OPT_VERSION = 3,     /* with the control messages': stacks of different versions never exchange them */
    XW_OPT_F_REPLY = 1,     /* flags bit 0: set in the SYN-ACK by a willing listener */
    XW_OPT_F_TAKES = 2,     /* bit 1, in the SYN: the connector can take a parked ring
                               its SYN-ACK proposes (a TAKE message, no OFFER) */
    XW_OPT_F_PARKED = 4,    /* bit 2, in the SYN-ACK (only to a SYN with bit 1): it
                               proposes a parked ring; the option then has 8 more
                               bytes, the ring's key */
    XW_OPT_LEN_PARKED = 28,
};

/* Host byte order.  host: xw_host_hash() of the host token, 0 = unknown.
 * key: with XW_OPT_F_PARKED, the proposed parked ring's key. */
struct xw_synopt {
    uint8_t version, flags;
    uint32_t domid;
    uint64_t host;
    uint64_t key;
};

/* The option's size for these flags: XW_OPT_LEN, or XW_OPT_LEN_PARKED with
 * XW_OPT_F_PARKED. */
size_t xw_tcpopt_len(uint8_t flags);
/* Encode o into out[0..xw_tcpopt_len(o->flags)) (reserved bytes zero), the size
 * returned.  Deterministic, so a retransmitted SYN carries the identical
 * option. */
size_t xw_tcpopt_write(uint8_t *out, const struct xw_synopt *o);

/* Look for our option in a TCP option area given as p1[0..n1) followed by
 * p2[0..n2) (lwIP splits the area when the header straddles pbufs; p2 may be
 * NULL with n2 == 0).  Walks every option: EOL ends the list, NOP is one byte,
 * any other kind needs a length byte, length >= 2 and the whole option inside
 * the area.  The first kind-253 option with our ExID wins; other ExIDs are
 * skipped.  Reserved bytes are ignored.
 * Returns 1 (*out filled), 0 (absent), -EBADMSG (malformed list, or ours with
 * a length other than xw_tcpopt_len(its flags)), -EPROTONOSUPPORT (ours, version != XW_OPT_VERSION; only
 * out->version is filled). */
int xw_tcpopt_parse(const uint8_t *p1, size_t n1, const uint8_t *p2, size_t n2,
                    struct xw_synopt *out);

/* Is the option area p1[0..n1) + p2[0..n2) a well-formed list (the walk of
 * xw_tcpopt_parse: every option up to EOL or the end has its length byte, a
 * length >= 2, and lies inside the area)?  lwIP 2.1.3's own walker trusts the
 * length bytes and reads past an area that ends in a kind byte: segments that
 * fail this are dropped before lwIP parses them (negotiate.c). */
bool xw_tcpopt_valid(const uint8_t *p1, size_t n1, const uint8_t *p2, size_t n2);

/* The MARK option (kind 253, ExID "XM", 12 bytes: kind, len, ExID(2), flags,
 * reserved(3), seq(4)) on every segment after the SYN exchange between two
 * xway stacks: where the sender's latest control section starts in its
 * stream (seq; flags bit 0 set), so that the receiver takes the bytes from
 * there on as control messages, not payload (docs/PROTOCOL.md, section 7). */
enum {
    XW_MARK_LEN = 12,
    XW_MARK_EXID = 0x584d, /* "XM" */
    XW_MARK_F_SET = 1,
};
void xw_tcpopt_mark_write(uint8_t out[XW_MARK_LEN], bool set, uint32_t seq);
/* In a well-formed option area (xw_tcpopt_valid): 1 with *seq (a set mark),
 * 0 (none, or not set), -EBADMSG (ours with another length). */
int xw_tcpopt_mark_parse(const uint8_t *p1, size_t n1, const uint8_t *p2, size_t n2,
                         uint32_t *seq);

/* 64-bit FNV-1a of the host token string; NULL or "" -> 0 (unknown).  A
 * non-empty token that happens to hash to 0 is mapped to 1, so 0 always means
 * "no token". */
uint64_t xw_host_hash(const char *token);

#endif

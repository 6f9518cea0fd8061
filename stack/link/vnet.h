/* The virtio-net header that precedes every frame on a TAP opened with
 * IFF_VNET_HDR (the kernel's offloads): what a received header says about its
 * frame, and the header to send with a frame.  No I/O, no lwIP: tap.c reads,
 * writes and delivers.
 *
 * The header is the legacy one (struct virtio_net_hdr, 10 bytes), in the host's
 * byte order: the TAP's default unless TUNSETVNETLE/BE say otherwise.
 *
 * The kernel writes these headers, but what follows them came from anywhere: a
 * received header is checked against its frame before anything in it is
 * believed.
 */
#ifndef XW_LINK_VNET_H
#define XW_LINK_VNET_H

#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_net.h>

/* What to do with a received frame. */
enum xw_vnet_rx {
    /* The header is malformed or does not match its frame: drop it. */
    XW_VNET_RX_BAD = -1,
    /* Verify every checksum, as for a frame from a wire. */
    XW_VNET_RX_VERIFY = 0,
    /* The kernel vouches for the transport checksum: the frame was made on this
     * machine and its checksum is not filled in yet (NEEDS_CSUM), or the kernel
     * verified it (DATA_VALID).  Never said of a fragment, nor of an IPv6 packet
     * with extension headers: a reassembled datagram is always verified. */
    XW_VNET_RX_TRUSTED = 1,
};

/* Classify the Ethernet frame of len bytes received after h, whose first hlen
 * bytes (its headers, at least) are at frame.  A GSO frame (a TCP segment the
 * kernel did not cut into MSS-sized ones) is TRUSTED or BAD: it must be TCP over
 * the IP version its gso_type names, not a fragment, with a gso_size and a
 * checksum flag. */
enum xw_vnet_rx xw_vnet_rx_classify(const struct virtio_net_hdr *h, const uint8_t *frame,
                                    size_t hlen, size_t len);

/* What xw_vnet_tx_prepare did. */
enum xw_vnet_tx {
    /* Not TCP: h is all zero, the frame goes as it is. */
    XW_VNET_TX_PLAIN = 0,
    /* A TCP segment: h says NEEDS_CSUM at its checksum field, which now holds
     * the pseudo-header sum (as Linux keeps it for CHECKSUM_PARTIAL); the
     * kernel completes it. */
    XW_VNET_TX_CSUM = 1,
    /* A fragment of a TCP datagram: its checksum cannot be completed by the
     * kernel (it spans the fragments).  h is all zero. */
    XW_VNET_TX_TCP_FRAGMENT = 2,
};

/* Fill h for the Ethernet frame of len bytes whose first hlen bytes (at least
 * its Ethernet, IP and TCP headers) are at frame.  A TCP segment's checksum
 * field is written (see XW_VNET_TX_CSUM).  mtu: the link's (the IP packets the
 * wire takes); a TCP segment whose packet is longer goes as a GSO frame that
 * the kernel cuts into segments that fit it (0: never). */
enum xw_vnet_tx xw_vnet_tx_prepare(struct virtio_net_hdr *h, uint8_t *frame, size_t hlen,
                                   size_t len, size_t mtu);

/* TSO on send: consecutive segments of one TCP connection, as lwIP sends them,
 * joined into one GSO frame that the kernel takes whole (or cuts again at
 * gso_size if it forwards it).  Every segment but the last carries exactly as
 * much as the first, only the last may push; the frame's headers are the first
 * segment's, with the lengths, the last segment's flags and the checksums
 * rewritten by xw_vnet_gso_finish.  gso_size is the first segment's payload, or
 * less when that exceeds what the link's MTU takes (lwIP's segments may be
 * longer than the MTU on a link that cuts them: xw_link_ops.tcp_seg). */
#define XW_VNET_GSO_HDR_MAX (ETH_HLEN + 60 + 60)

/* Segments in one GSO frame, at most. */
#define XW_VNET_GSO_SEGS 64

/* One GSO frame being built.  hlen 0: none. */
struct xw_vnet_gso {
    uint8_t hdr[XW_VNET_GSO_HDR_MAX]; /* Ethernet, IP and TCP headers */
    size_t hlen, l4_off;
    unsigned ver;       /* IP version */
    uint32_t next_seq;  /* the sequence number a segment must have to follow */
    size_t gso_size;    /* payload of the first segment */
    size_t seg_max;     /* payload of a segment that fits the link's MTU */
    size_t last;        /* payload of the last segment */
    size_t payload;     /* payload of all of them */
    unsigned segs;
    uint8_t flags;      /* TCP flags of the last segment */
};

/* The TCP segment in a frame, as the GSO code sees it (xw_vnet_seg_parse). */
struct xw_vnet_seg {
    size_t hlen;        /* Ethernet, IP and TCP headers */
    size_t l4_off;      /* where the TCP header starts */
    size_t payload;
    uint32_t seq;
    uint8_t flags;
};
/* Parse the frame of len bytes whose first hlen bytes (at least its headers) are
 * at frame: 0, or -EINVAL if it is not a TCP segment a GSO frame may hold (with
 * payload, flags ACK or ACK|PSH, IPv4 not fragmented or IPv6 without extension
 * headers, no bytes after the IP packet). */
int xw_vnet_seg_parse(const uint8_t *frame, size_t hlen, size_t len, struct xw_vnet_seg *s);

/* Start g with segment s, whose headers are at frame, for a link of MTU mtu. */
void xw_vnet_gso_start(struct xw_vnet_gso *g, const uint8_t *frame,
                       const struct xw_vnet_seg *s, size_t mtu);

/* Append s (headers at frame) to g if it may follow (same connection and
 * headers, next in sequence, sizes as above, the frame within 65535 bytes and
 * XW_VNET_GSO_SEGS segments): 1 (g counts it), or 0. */
int xw_vnet_gso_add(struct xw_vnet_gso *g, const uint8_t *frame, const struct xw_vnet_seg *s);

/* Rewrite g->hdr for the whole frame and fill h (NEEDS_CSUM; GSO if g holds
 * more than one segment, or one longer than the MTU takes).  The frame is g->hdr followed by every segment's
 * payload in order. */
void xw_vnet_gso_finish(struct xw_vnet_gso *g, struct virtio_net_hdr *h);

#endif

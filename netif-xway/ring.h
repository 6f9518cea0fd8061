/* One connection's shared interface page and the pure logic of its two one-way
 * byte rings: index arithmetic, validation of the peer's indices, zero-copy
 * reserve/commit and peek/release, copy-in/copy-out.  No I/O, no syscalls:
 * the caller (channel.c) decides when to notify the peer.
 *
 * Layout follows Xen's socket rings (struct pvcalls_data_intf,
 * DEFINE_XEN_FLEX_RING): free-running uint32 indices, power-of-two sizes,
 * in/out indices on separate cache lines, then the geometry and the grant refs
 * of the data pages.  Our additions (wake flags, EOF, magic/version, nonce)
 * live in a versioned header of our own: struct xw_intf, XW_INTF_VERSION.
 *
 * Data pages: the "in" ring (ring_bytes) then the "out" ring (ring_bytes).
 * The creator of the channel consumes "in" and produces "out"; the acceptor
 * the opposite (pvcalls: the frontend reads in, writes out).
 */
#ifndef XW_RING_H
#define XW_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "xenif.h"

#define XW_INTF_MAGIC 0x31525758u /* "XWR1" little-endian */
#define XW_INTF_VERSION 5u /* 2: producer and consumer indices on separate lines;
                             3: the offer's key;
                             4: the live bytes;
                             5: the heartbeats */

#define XW_RING_MIN_SHIFT 12 /* 4 KiB per direction (tests); XWAY_RING >= 64K */
#define XW_RING_MAX_SHIFT 22 /* 4 MiB per direction */

/* Per-direction control block, shared: two cache lines, one written by each
 * side, so that the producer's prod and the consumer's cons do not bounce one
 * line between the two CPUs on every update.  Written by:
 * prod, eof, beat: the producer; cons, cons_wake: the consumer; prod_wake: the
 * producer sets it, the consumer clears it (and cons_wake the other way round);
 * error: either side (a reset).  The other side treats every value as hostile. */
struct xw_ring_ctl {
    uint32_t prod;      /* bytes produced (free-running) */
    uint32_t eof;       /* producer: no bytes after prod will ever come */
    uint32_t prod_wake; /* producer: "notify me when cons moves" */
    uint32_t beat;      /* producer: its process's heartbeat (xw_channel_beat) */
    uint8_t pad0[48];
    uint32_t cons;      /* bytes consumed (free-running) */
    uint32_t cons_wake; /* consumer: "notify me when prod moves" */
    uint32_t error;     /* 0, or an errno: the connection was reset / closed */
    uint8_t pad1[52];
};

/* The interface page (exactly one page).  ref[] holds the grant refs of the
 * data pages when they fit (XW_INTF_F_INDIRECT clear) or else the refs of
 * pages that hold the refs of the data pages, XW_REFS_PER_PAGE per page. */
struct xw_intf {
    struct xw_ring_ctl in;  /* bytes 0..127 */
    struct xw_ring_ctl out; /* bytes 128..255 */
    uint32_t magic;         /* XW_INTF_MAGIC */
    uint32_t version;       /* XW_INTF_VERSION */
    uint32_t ring_shift;    /* log2(bytes per direction) */
    uint32_t nrefs;         /* entries used in ref[] */
    uint32_t flags;         /* XW_INTF_F_* */
    /* 1 while each side's process lives.  Each side registers its own byte
     * for an unmap notification (xengntshr_share_page_notify /
     * xengnttab_map_grant_ref_notify): when its mapping goes, also at its
     * process's death however it dies, its kernel clears the byte and
     * signals the event channel.  Xen cannot tell a process's death
     * otherwise: its domain lives on and notifies to it are dropped. */
    uint8_t creator_live;
    uint8_t acceptor_live;
    /* The acceptor parked the channel (stack/path/ring_park.c): its last
     * write of the connection; the creator clears it as it offers it again. */
    uint8_t acceptor_parked;
    uint8_t pad0[1];
    uint64_t nonce;         /* random; the acceptor proves it mapped the page */
    uint64_t key;           /* random, also in the OFFER: binds it to its sender */
    uint32_t ref[];         /* bytes 296..4095 */
};

enum { XW_INTF_F_INDIRECT = 1u };
#define XW_INTF_REF_OFFSET 296u
#define XW_INTF_MAX_REFS ((XW_PAGE_SIZE - XW_INTF_REF_OFFSET) / 4u)
#define XW_REFS_PER_PAGE (XW_PAGE_SIZE / 4u)

/* Data pages for one channel with 2^shift bytes per direction. */
static inline uint32_t xw_ring_data_pages(uint32_t shift)
{
    return (uint32_t)((2ull << shift) >> XW_PAGE_SHIFT);
}

/* Our private view of one direction.  Geometry is copied at setup and never
 * re-read from shared memory.  One owner thread per struct (the producer's or
 * the consumer's); other threads only call the poll_* functions, which read
 * idx and broken (idx with relaxed atomics: a hint).
 *
 * Our own index is the private idx.  Its shared copy (ctl->prod or ctl->cons)
 * is only ever written by us, so the owner finds it equal to idx whenever it
 * looks (before every wait); a difference means the peer wrote it, and the
 * ring is broken.  Nobody decides anything from the shared copy. */
struct xw_ring {
    struct xw_ring_ctl *ctl; /* shared */
    uint8_t *data;           /* shared, size bytes */
    uint32_t size;           /* private: power of two */
    uint32_t mask;
    uint32_t idx;      /* private copy of the index we own (prod or cons) */
    uint32_t seen;     /* the peer's index as last validated: never goes back */
    uint32_t reserved; /* bytes handed out by the last reserve/peek */
    int broken;        /* 0 or -errno: sticky */
};

/* Set up a view.  own_idx is the starting value of the index this side owns
 * (0 for a fresh ring).  -EINVAL on bad geometry. */
int xw_ring_init(struct xw_ring *r, struct xw_ring_ctl *ctl, void *data, uint32_t size);

/* Producer.  reserve: up to two segments of free space (the second one after
 * the wrap point), returns the free byte count (0 full) or -errno (broken, or
 * the consumer closed: -EPIPE).  commit(n): publish n <= reserved bytes. */
int xw_ring_reserve(struct xw_ring *r, struct iovec iov[2]);
int xw_ring_commit(struct xw_ring *r, uint32_t n);
/* Copy in: bytes written (0 when full) or -errno. */
long xw_ring_write(struct xw_ring *r, const void *buf, size_t len);
/* Mark end of stream after everything committed so far. */
void xw_ring_set_eof(struct xw_ring *r);

/* Consumer.  peek: up to two segments of readable bytes, returns the count,
 * 0 when empty (see xw_ring_at_eof), or -errno.  release(n): n <= peeked. */
int xw_ring_peek(struct xw_ring *r, struct iovec iov[2]);
int xw_ring_release(struct xw_ring *r, uint32_t n);
/* Copy out: bytes read, 0 when empty, or -errno. */
long xw_ring_read(struct xw_ring *r, void *buf, size_t len);
/* true when the producer set EOF and every byte before it was consumed. */
bool xw_ring_at_eof(struct xw_ring *r);
/* true when the producer set EOF (bytes before it may be left). */
bool xw_ring_eof_sent(struct xw_ring *r);

/* Both sides: reset the direction with an errno (e.g. ECONNRESET, EPIPE). */
void xw_ring_set_error(struct xw_ring *r, int err);
/* The peer's reset errno as -errno, or 0.  Reads the shared error once. */
int xw_ring_peer_error(struct xw_ring *r);

/* Notification suppression.  The waiting side arms its flag and must then
 * re-check (arm returns what it sees after a full fence, as the poll_*
 * functions below: nonzero when ready).  The other side, after
 * publishing, calls *_should_kick: true once per arm ("kick the peer"). */
long xw_ring_arm_consumer(struct xw_ring *r);
long xw_ring_arm_producer(struct xw_ring *r);
bool xw_ring_producer_should_kick(struct xw_ring *r); /* after commit */
bool xw_ring_consumer_should_kick(struct xw_ring *r); /* after release */

/* Readable bytes (consumer view) / free bytes (producer view), or -errno.
 * The owner's thread only: they check that the peer's index moved forward
 * within bounds (seen <= peer <= what our index allows) and, when it has not
 * moved, that the shared copy of our own index is still ours; they mark the
 * ring broken (-EPROTO) otherwise. */
long xw_ring_readable(struct xw_ring *r);
long xw_ring_writable(struct xw_ring *r);
/* Where the n bytes (at most the ring's size) from index idx lie: 1 or 2
 * segments of the data area (no check of what they hold). */
void xw_ring_span(const struct xw_ring *r, uint32_t idx, uint32_t n, struct iovec iov[2]);
/* Any thread (pollers): anything to read / room to write, from the peer's
 * published index and our private one (never the shared copy of ours, which
 * the peer can write); never marks the ring broken, says "ready" when unsure. */
bool xw_ring_poll_readable(struct xw_ring *r);
bool xw_ring_poll_writable(struct xw_ring *r);

#endif

/* Cross-domain memory ordering: the only place the ring code says what becomes
 * visible before what.  Everything shared with a peer goes through these. */
#ifndef XW_BARRIER_H
#define XW_BARRIER_H

#include <stdatomic.h>
#include <stdint.h>

/* Read a peer-written word exactly once.  Acquire: everything the peer wrote
 * before its matching xw_store_release (ring bytes, flags) is visible after. */
static inline uint32_t xw_load_acquire(const uint32_t *p)
{
    return atomic_load_explicit((_Atomic uint32_t *)p, memory_order_acquire);
}

/* Publish a word.  Release: every earlier write of ours (the ring bytes we
 * copied in, or our reads of bytes we consumed) is visible/complete before the
 * peer can observe the new value. */
static inline void xw_store_release(uint32_t *p, uint32_t v)
{
    atomic_store_explicit((_Atomic uint32_t *)p, v, memory_order_release);
}

/* Read a word once with no ordering (statistics, our own flags). */
static inline uint32_t xw_load_relaxed(const uint32_t *p)
{
    return atomic_load_explicit((_Atomic uint32_t *)p, memory_order_relaxed);
}

static inline uint64_t xw_load_relaxed64(const uint64_t *p)
{
    return atomic_load_explicit((_Atomic uint64_t *)p, memory_order_relaxed);
}

/* A liveness byte (struct xw_intf): the peer's kernel may clear it at any time
 * (an unmap notification), so it is read once, like a peer-written word. */
static inline uint8_t xw_load_acquire8(const uint8_t *p)
{
    return atomic_load_explicit((_Atomic uint8_t *)p, memory_order_acquire);
}

static inline void xw_store_release8(uint8_t *p, uint8_t v)
{
    atomic_store_explicit((_Atomic uint8_t *)p, v, memory_order_release);
}

/* Write a word with no ordering: a private value that other threads of ours
 * read as a hint (the ring owner's own index, read by pollers). */
static inline void xw_store_relaxed(uint32_t *p, uint32_t v)
{
    atomic_store_explicit((_Atomic uint32_t *)p, v, memory_order_relaxed);
}

/* Take a flag and clear it in one step: returns the old value.  Acq_rel: the
 * peer's writes before it set the flag are visible; ours before are published. */
static inline uint32_t xw_exchange(uint32_t *p, uint32_t v)
{
    return atomic_exchange_explicit((_Atomic uint32_t *)p, v, memory_order_acq_rel);
}

/* Full fence between "I published X" and "I now read Y" (store->load order,
 * which acquire/release alone do not give).  Used by arm-then-recheck: the
 * consumer stores its wake flag then re-reads prod; the producer stores prod
 * then reads the wake flag.  With this fence on both sides at least one of them
 * sees the other's store, so a wakeup cannot be lost. */
static inline void xw_fence_full(void)
{
    atomic_thread_fence(memory_order_seq_cst);
}

/* Hint to the CPU inside a busy-wait loop. */
static inline void xw_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

#endif

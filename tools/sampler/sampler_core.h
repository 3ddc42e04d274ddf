/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sampler_core.h - the parts of libmemtel-sampler.so that need no
 * allocator: the byte sampler's random gaps and weights, and the set of
 * sampled pointers. Header-only so the library and its unit test
 * (tests/unit/test_sampler.c) compile the same code. Nothing here may call
 * malloc: it runs inside malloc.
 */
#ifndef MEMTEL_SAMPLER_CORE_H
#define MEMTEL_SAMPLER_CORE_H

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Default mean gap between sample points, in bytes (tcmalloc's and the
 * OpenTelemetry memory design's default). */
#define MTS_DEFAULT_MEAN (512ULL * 1024)
/* Slots of one bucket of the pointer set: one 64-byte cache line. */
#define MTS_BUCKET_SLOTS 8

/* --- random gaps --------------------------------------------------------- */

/* splitmix64: a full-period generator from a single word of state, good
 * enough for sampling decisions and cheap to seed per thread. */
static inline uint64_t mts_rand64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Bytes until the next sample point: exponential with the given mean (each
 * byte starts a sample with probability 1/mean), rounded up to at least 1.
 * mean <= 1: every allocation (gap 1). */
static inline int64_t mts_next_gap(uint64_t *state, uint64_t mean)
{
	/* 53 random bits in (0, 1]: log() never sees 0 */
	double u = (double)((mts_rand64(state) >> 11) + 1) * 0x1.0p-53;
	double g;

	if (mean <= 1)
		return 1;
	g = -log(u) * (double)mean;
	if (g >= 9.2e18)
		return INT64_MAX;
	return (int64_t)g + 1;
}

/* The bytes a sampled allocation of size bytes stands for: a block is
 * sampled with probability 1 - exp(-size / mean), so each sample stands for
 * size / (1 - exp(-size / mean)) bytes (about mean for small blocks,
 * size for blocks much larger than mean). */
static inline uint64_t mts_weight(uint64_t size, uint64_t mean)
{
	double p;

	if (mean <= 1 || size == 0)
		return size;
	p = -expm1(-(double)size / (double)mean);
	if (p <= 0.0)
		return size;
	return (uint64_t)((double)size / p + 0.5);
}

/* --- the set of sampled pointers ----------------------------------------- */

/* A fixed array of buckets of MTS_BUCKET_SLOTS pointer slots (0 = empty),
 * indexed by a hash of the pointer. A pointer lives in its own bucket only,
 * so a lookup reads at most one cache line of the array and a removal just
 * clears its slot (no tombstones, no probe chains to keep intact). Inserts
 * and removes from many threads are lock-free (compare-and-swap per slot);
 * one pointer is never inserted twice concurrently, since the allocator
 * hands an address out again only after its free, and the free removes it
 * first. A full bucket refuses the insert and counts it in `overflow`.
 *
 * In front of the buckets sits a small filter: one 16-bit count per group
 * of buckets (bucket index & filter_mask), which is never below the number
 * of pointers in the group's buckets (an insert counts up before it takes a
 * slot, a removal counts down after it cleared one). A free of a pointer
 * whose count is 0 (nearly every free: samples are rare) reads only the
 * filter, a few KiB that stay in L1, instead of a random line of the
 * bucket array: in redis that line was a cache miss on every free and most
 * of what the sampler cost. */
struct mts_set {
	_Atomic uintptr_t *slots;	/* n_buckets * MTS_BUCKET_SLOTS */
	_Atomic uint16_t *filter;	/* n_filter counts */
	uint64_t bucket_mask;		/* n_buckets - 1 (a power of two) */
	uint64_t filter_mask;		/* n_filter - 1 (a power of two) */
	_Atomic uint64_t overflow;	/* inserts refused: bucket full */
	_Atomic uint64_t live;		/* pointers in the set */
};

/* A filter count at this level refuses further inserts into its group
 * (counted as overflow), so the concurrent count-ups of inserts in flight
 * cannot wrap it to 0. */
#define MTS_FILTER_MAX 0xff00

/* slots: n_buckets * MTS_BUCKET_SLOTS zeroed words; filter: n_filter
 * zeroed counts; n_buckets and n_filter powers of two, n_filter <=
 * n_buckets. */
static inline void mts_set_init(struct mts_set *s, _Atomic uintptr_t *slots,
				uint64_t n_buckets, _Atomic uint16_t *filter,
				uint64_t n_filter)
{
	s->slots = slots;
	s->filter = filter;
	s->bucket_mask = n_buckets - 1;
	s->filter_mask = n_filter - 1;
	atomic_init(&s->overflow, 0);
	atomic_init(&s->live, 0);
}

/* p's bucket index. */
static inline uint64_t mts_index(const struct mts_set *s, uintptr_t p)
{
	/* Fibonacci hashing of the address without its alignment bits */
	uint64_t h = ((uint64_t)p >> 4) * 0x9e3779b97f4a7c15ULL;

	return (h >> 32) & s->bucket_mask;
}

/* Add p (not 0); false if its bucket (or its filter count) is full
 * (counted). */
static inline bool mts_set_insert(struct mts_set *s, uintptr_t p)
{
	uint64_t idx = mts_index(s, p);
	_Atomic uintptr_t *b = s->slots + idx * MTS_BUCKET_SLOTS;
	_Atomic uint16_t *f = &s->filter[idx & s->filter_mask];
	int i;

	if (atomic_load_explicit(f, memory_order_relaxed) >= MTS_FILTER_MAX)
		goto full;
	/* before the slot: a free that finds p finds the count up too */
	atomic_fetch_add_explicit(f, 1, memory_order_relaxed);
	for (i = 0; i < MTS_BUCKET_SLOTS; i++) {
		uintptr_t v = atomic_load_explicit(&b[i], memory_order_relaxed);

		if (v == 0 &&
		    atomic_compare_exchange_strong_explicit(
			    &b[i], &v, p, memory_order_acq_rel,
			    memory_order_relaxed)) {
			atomic_fetch_add_explicit(&s->live, 1,
						  memory_order_relaxed);
			return true;
		}
	}
	atomic_fetch_sub_explicit(f, 1, memory_order_relaxed);
full:
	atomic_fetch_add_explicit(&s->overflow, 1, memory_order_relaxed);
	return false;
}

/* Remove p if present; true if it was (it was sampled). This is the cost
 * every free of a pointer that may be sampled pays (the library skips it
 * for pointers without the sampled alignment): one load from the filter,
 * and one cache line of the buckets only when p's group holds a sample. */
static inline bool mts_set_remove(struct mts_set *s, uintptr_t p)
{
	uint64_t idx = mts_index(s, p);
	_Atomic uint16_t *f = &s->filter[idx & s->filter_mask];
	_Atomic uintptr_t *b;
	int i;

	if (atomic_load_explicit(f, memory_order_relaxed) == 0)
		return false;
	b = s->slots + idx * MTS_BUCKET_SLOTS;
	for (i = 0; i < MTS_BUCKET_SLOTS; i++) {
		uintptr_t v = p;

		if (atomic_load_explicit(&b[i], memory_order_relaxed) != p)
			continue;
		if (atomic_compare_exchange_strong_explicit(
			    &b[i], &v, 0, memory_order_acq_rel,
			    memory_order_relaxed)) {
			/* after the slot: the count never falls below
			 * the group's pointers */
			atomic_fetch_sub_explicit(f, 1, memory_order_relaxed);
			atomic_fetch_sub_explicit(&s->live, 1,
						  memory_order_relaxed);
			return true;
		}
	}
	return false;
}

#endif /* MEMTEL_SAMPLER_CORE_H */

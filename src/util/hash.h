/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * hash.h - the one hash function of the loader: 64-bit FNV-1a over bytes,
 * chainable (feed the result back as the seed), plus a finalizer that
 * spreads the low bits of an integer key for open addressing. Hashes only
 * pick a bucket: every table compares its keys in full.
 */
#ifndef MEMTEL_UTIL_HASH_H
#define MEMTEL_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_SEED 0xcbf29ce484222325ULL	/* FNV-1a 64-bit offset basis */

/* FNV-1a of n bytes at p, continuing from seed (HASH_SEED to start). */
static inline uint64_t hash__bytes(uint64_t seed, const void *p, size_t n)
{
	const unsigned char *c = p;
	uint64_t h = seed;

	while (n--) {
		h ^= *c++;
		h *= 0x100000001b3ULL;	/* FNV-1a 64-bit prime */
	}
	return h;
}

/* FNV-1a of a NUL-terminated string, continuing from seed. */
static inline uint64_t hash__str(uint64_t seed, const char *s)
{
	uint64_t h = seed;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* One 64-bit word folded in, continuing from seed. */
static inline uint64_t hash__u64(uint64_t seed, uint64_t v)
{
	return hash__bytes(seed, &v, sizeof(v));
}

/* n 64-bit words (program counters), a word per step: FNV-1a's
 * xor-multiply on whole words plus a shift to fold the high bits back
 * down (a multiply only carries upward). Several times faster than
 * hash__bytes on long arrays; not byte-compatible with it. */
static inline uint64_t hash__words(uint64_t seed, const uint64_t *w, size_t n)
{
	uint64_t h = seed;

	while (n--) {
		h ^= *w++;
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	return h;
}

/* splitmix64's finalizer: an integer key spread over all 64 bits. */
static inline uint64_t hash__mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

#endif /* MEMTEL_UTIL_HASH_H */

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * table.h - the one hash table for keys wider than 64 bits: an
 * open-addressing index over entries the caller keeps in its own dense
 * array (interning: strings, functions, locations, stacks, series). Each
 * slot holds an entry's hash and index; a lookup compares the hash first
 * and then the whole key through the caller's eq(), so a hash collision
 * never merges two entries. u64map.h is the table for 64-bit keys.
 */
#ifndef MEMTEL_UTIL_TABLE_H
#define MEMTEL_UTIL_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct table_slot {
	uint64_t hash;
	uint32_t idx1;		/* entry index + 1; 0 = empty */
};

struct table {
	struct table_slot *slots;
	size_t cap;		/* power of two, or 0 */
	size_t len;
};

/* Does entry idx equal the key being looked up (ctx describes it)? */
typedef bool (*table_eq_fn)(const void *ctx, size_t idx);

/* A zeroed struct is an empty table. */
void table__free(struct table *t);
/* Index of the entry with this hash that eq() accepts, or -1. */
int64_t table__find(const struct table *t, uint64_t hash, table_eq_fn eq,
		    const void *ctx);
/* Record entry idx (not yet in the table) under hash. 0 or -ENOMEM
 * (-E2BIG past 2^32 - 1 entries). */
int table__add(struct table *t, uint64_t hash, size_t idx);
/* Forget every entry; keeps the memory. */
void table__clear(struct table *t);

#endif /* MEMTEL_UTIL_TABLE_H */

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * u64map.h - open-addressing hash map from u64 keys to u64 values, for the
 * loader's hot paths (live blocks by address, pending calls by thread).
 */
#ifndef MEMTEL_U64MAP_H
#define MEMTEL_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct u64map {
	uint64_t *keys;
	uint64_t *vals;
	uint8_t *state;		/* 0 empty, 1 used, 2 deleted */
	size_t cap;		/* power of two, or 0 */
	size_t len;
	size_t used;		/* len + tombstones */
};

/* A zeroed struct is an empty map. */
void u64map__free(struct u64map *m);
/* Insert or replace. 0 or -ENOMEM. */
int u64map__set(struct u64map *m, uint64_t key, uint64_t val);
/* Pointer to the value, or NULL. Valid until the next set. */
uint64_t *u64map__get(const struct u64map *m, uint64_t key);
/* Remove key; true if it was there (its value in *val if val). */
bool u64map__del(struct u64map *m, uint64_t key, uint64_t *val);
/* Iterate: start with *it = 0; returns false at the end. */
bool u64map__next(const struct u64map *m, size_t *it, uint64_t *key,
		  uint64_t *val);

#endif /* MEMTEL_U64MAP_H */

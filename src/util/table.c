// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * table.c - linear probing over (hash, index) slots; grows at 70% load.
 * Entries are never removed one by one (interning tables only grow, or are
 * cleared whole), so there are no tombstones.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"
#include "util/table.h"

void table__free(struct table *t)
{
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

void table__clear(struct table *t)
{
	if (t->slots)
		memset(t->slots, 0, t->cap * sizeof(*t->slots));
	t->len = 0;
}

int64_t table__find(const struct table *t, uint64_t hash, table_eq_fn eq,
		    const void *ctx)
{
	size_t mask, i;

	if (!t->cap)
		return -1;
	mask = t->cap - 1;
	for (i = hash__mix(hash) & mask;; i = (i + 1) & mask) {
		const struct table_slot *s = &t->slots[i];

		if (!s->idx1)
			return -1;
		if (s->hash == hash && eq(ctx, s->idx1 - 1))
			return (int64_t)(s->idx1 - 1);
	}
}

static void put(struct table_slot *slots, size_t cap, uint64_t hash,
		uint32_t idx1)
{
	size_t mask = cap - 1, i;

	for (i = hash__mix(hash) & mask; slots[i].idx1; i = (i + 1) & mask)
		;
	slots[i].hash = hash;
	slots[i].idx1 = idx1;
}

int table__add(struct table *t, uint64_t hash, size_t idx)
{
	if (idx >= UINT32_MAX)
		return -E2BIG;
	if ((t->len + 1) * 10 > t->cap * 7) {
		size_t ncap = t->cap ? t->cap * 2 : 64, i;
		struct table_slot *ns = calloc(ncap, sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		for (i = 0; i < t->cap; i++)
			if (t->slots[i].idx1)
				put(ns, ncap, t->slots[i].hash,
				    t->slots[i].idx1);
		free(t->slots);
		t->slots = ns;
		t->cap = ncap;
	}
	put(t->slots, t->cap, hash, (uint32_t)(idx + 1));
	t->len++;
	return 0;
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * stacks.c - stack interning. Program counters live in one growing array;
 * util/table.h indexes the entries by a hash of (pid, image, flags, pcs) and
 * compares candidates in full. Ids are dense, 1-based.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/stacks.h"
#include "util/hash.h"
#include "util/table.h"

struct stack_ent {
	uint64_t hash;
	size_t off;		/* into pcs */
	uint32_t n;
	uint32_t pid, image;
	bool leaf_exact;
};

struct stacks {
	struct stack_ent *ents;	/* ents[0] unused */
	size_t n_ents, cap_ents;
	uint64_t *pcs;
	size_t n_pcs, cap_pcs;
	struct table index;	/* hash -> id */
};

static uint64_t hash_stack(uint32_t pid, uint32_t image, const uint64_t *pcs,
			   uint32_t n, bool leaf_exact)
{
	uint64_t h = hash__u64(HASH_SEED, ((uint64_t)pid << 1) | leaf_exact);

	h = hash__u64(h, (uint64_t)image << 32 | n);
	return hash__words(h, pcs, n);
}

struct stack_key {
	const struct stacks *s;
	uint32_t pid, image, n;
	bool leaf_exact;
	const uint64_t *pcs;
};

static bool stack_eq(const void *ctx, size_t id)
{
	const struct stack_key *k = ctx;
	const struct stack_ent *e = &k->s->ents[id];

	return e->n == k->n && e->pid == k->pid && e->image == k->image &&
	       e->leaf_exact == k->leaf_exact &&
	       (!k->n || !memcmp(k->s->pcs + e->off, k->pcs,
				 k->n * sizeof(*k->pcs)));
}

struct stacks *stacks__new(void)
{
	struct stacks *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->cap_ents = 256;
	s->ents = calloc(s->cap_ents, sizeof(*s->ents));
	if (!s->ents) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	s->n_ents = 1;
	return s;
}

void stacks__free(struct stacks *s)
{
	if (!s)
		return;
	free(s->ents);
	free(s->pcs);
	table__free(&s->index);
	free(s);
}

uint32_t stacks__intern(struct stacks *s, uint32_t pid, uint32_t image,
			const uint64_t *pcs, uint32_t n, bool leaf_exact)
{
	uint64_t h = hash_stack(pid, image, pcs, n, leaf_exact);
	struct stack_key key = { s, pid, image, n, leaf_exact, pcs };
	int64_t found = table__find(&s->index, h, stack_eq, &key);
	struct stack_ent *e;
	uint32_t id;

	if (found > 0)
		return (uint32_t)found;
	if (s->n_ents == s->cap_ents) {
		size_t cap = s->cap_ents * 2;
		struct stack_ent *ne = realloc(s->ents, cap * sizeof(*ne));

		if (!ne)
			goto nomem;
		s->ents = ne;
		s->cap_ents = cap;
	}
	if (s->n_pcs + n > s->cap_pcs) {
		size_t cap = s->cap_pcs ? s->cap_pcs : 1024;
		uint64_t *np;

		while (cap < s->n_pcs + n)
			cap *= 2;
		np = realloc(s->pcs, cap * sizeof(*np));
		if (!np)
			goto nomem;
		s->pcs = np;
		s->cap_pcs = cap;
	}
	id = (uint32_t)s->n_ents;
	e = &s->ents[id];
	e->hash = h;
	e->off = s->n_pcs;
	e->n = n;
	e->pid = pid;
	e->image = image;
	e->leaf_exact = leaf_exact;
	if (table__add(&s->index, h, id))
		goto nomem;
	if (n)
		memcpy(s->pcs + s->n_pcs, pcs, n * sizeof(*pcs));
	s->n_pcs += n;
	s->n_ents++;
	return id;
nomem:
	errno = ENOMEM;
	return 0;
}

bool stacks__get(const struct stacks *s, uint32_t id, struct stack_view *out)
{
	const struct stack_ent *e;

	if (!id || id >= s->n_ents)
		return false;
	e = &s->ents[id];
	out->pid = e->pid;
	out->image = e->image;
	out->n = e->n;
	out->leaf_exact = e->leaf_exact;
	out->pcs = s->pcs + e->off;
	return true;
}

size_t stacks__count(const struct stacks *s)
{
	return s->n_ents - 1;
}

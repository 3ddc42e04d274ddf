// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * heapstate.c - per-stack allocation totals plus the set of live sampled
 * blocks ((pid, address) -> stack, size, weight: a forked child has the
 * same addresses as its parent, so the pid is part of the key; it is
 * looked up exactly, pid first, never through a combined hash). In-use figures are computed from
 * the live set when a snapshot is asked for, so a free never has to touch
 * the per-stack table.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/heapstate.h"
#include "model/sampling.h"
#include "util/u64map.h"

struct live_block {
	uint64_t size;
	double weight;
	uint64_t t_ns;
	uint32_t stack_id;
	uint32_t op;
	bool unverified;
};

struct site_acc {
	double alloc_objects, alloc_bytes;
};

struct heapstate {
	uint64_t mean;
	struct u64map procs;		/* pid -> index into lives */
	struct u64map scales;		/* pid -> alloc scale (double bits) */
	struct u64map *lives;		/* per process: addr -> block index */
	uint32_t *live_pids;		/* whose each of lives is */
	size_t n_lives, cap_lives, cap_live_pids;
	struct live_block *blocks;
	size_t n_blocks, cap_blocks;
	uint32_t *free_idx;		/* recycled block slots */
	size_t n_free, cap_free;
	struct site_acc *sites;		/* by stack id */
	size_t cap_sites;
	struct heap_totals tot;
};

struct heapstate *heapstate__new(uint64_t mean)
{
	struct heapstate *h = calloc(1, sizeof(*h));

	if (h)
		h->mean = mean;
	return h;
}

void heapstate__free(struct heapstate *h)
{
	size_t i;

	if (!h)
		return;
	for (i = 0; i < h->n_lives; i++)
		u64map__free(&h->lives[i]);
	free(h->lives);
	free(h->live_pids);
	u64map__free(&h->procs);
	u64map__free(&h->scales);
	free(h->blocks);
	free(h->free_idx);
	free(h->sites);
	free(h);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 64;
	void *np;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	np = realloc(*p, ncap * elem);
	if (!np)
		return -ENOMEM;
	memset((char *)np + *cap * elem, 0, (ncap - *cap) * elem);
	*p = np;
	*cap = ncap;
	return 0;
}

/* pid's live set; created when create is set (NULL: none, or no memory). */
static struct u64map *live_of(struct heapstate *h, uint32_t pid, bool create)
{
	uint64_t *i = u64map__get(&h->procs, pid);

	if (i)
		return &h->lives[*i];
	if (!create || grow((void **)&h->lives, &h->cap_lives, h->n_lives + 1,
			    sizeof(*h->lives)) ||
	    grow((void **)&h->live_pids, &h->cap_live_pids, h->n_lives + 1,
		 sizeof(*h->live_pids)) ||
	    u64map__set(&h->procs, pid, h->n_lives))
		return NULL;
	h->live_pids[h->n_lives] = pid;
	return &h->lives[h->n_lives++];
}

int heapstate__alloc(struct heapstate *h, uint32_t pid, uint64_t addr,
		     uint32_t stack_id,
		     uint64_t size, uint32_t op, uint64_t t_ns)
{
	return heapstate__alloc_weighted(h, pid, addr, stack_id, size, op, t_ns,
					 sampling__scale(size, h->mean));
}

int heapstate__alloc_weighted(struct heapstate *h, uint32_t pid,
			      uint64_t addr, uint32_t stack_id, uint64_t size,
			      uint32_t op, uint64_t t_ns, double w)
{
	struct u64map *live;
	struct live_block *b;
	uint64_t idx;
	double k, wa;

	if (grow((void **)&h->sites, &h->cap_sites, (size_t)stack_id + 1,
		 sizeof(*h->sites)))
		return -ENOMEM;
	heapstate__free_block(h, pid, addr);	/* a lost free: forget the old one */
	live = live_of(h, pid, true);
	if (!live)
		return -ENOMEM;

	if (h->n_free) {
		idx = h->free_idx[--h->n_free];
	} else {
		if (grow((void **)&h->blocks, &h->cap_blocks, h->n_blocks + 1,
			 sizeof(*h->blocks)))
			return -ENOMEM;
		idx = h->n_blocks++;
	}
	if (u64map__set(live, addr, idx)) {
		if (grow((void **)&h->free_idx, &h->cap_free, h->n_free + 1,
			 sizeof(*h->free_idx)) == 0)
			h->free_idx[h->n_free++] = (uint32_t)idx;
		return -ENOMEM;
	}
	b = &h->blocks[idx];
	b->size = size;
	b->weight = w;
	b->stack_id = stack_id;
	b->op = op;
	b->t_ns = t_ns;
	b->unverified = false;

	k = heapstate__scale(h, pid);
	wa = w * k;
	h->sites[stack_id].alloc_objects += wa;
	h->sites[stack_id].alloc_bytes += wa * (double)size;
	h->tot.alloc_objects += wa;
	h->tot.alloc_bytes += wa * (double)size;
	h->tot.sampled_allocs++;
	if (op < MT_OP__COUNT)
		h->tot.op_count[op]++;
	return 0;
}

bool heapstate__free_block(struct heapstate *h, uint32_t pid, uint64_t addr)
{
	struct u64map *live = live_of(h, pid, false);
	uint64_t idx;

	if (!live || !u64map__del(live, addr, &idx))
		return false;
	if (grow((void **)&h->free_idx, &h->cap_free, h->n_free + 1,
		 sizeof(*h->free_idx)) == 0)
		h->free_idx[h->n_free++] = (uint32_t)idx;
	h->blocks[idx].stack_id = 0;
	h->tot.sampled_frees++;
	return true;
}

double heapstate__scale(const struct heapstate *h, uint32_t pid)
{
	uint64_t *bits = u64map__get(&h->scales, pid);
	double k = 1;

	if (bits)
		memcpy(&k, bits, sizeof(k));
	return k;
}

int heapstate__set_scale(struct heapstate *h, uint32_t pid, double k)
{
	uint64_t bits;

	if (!(k > 1)) {
		u64map__del(&h->scales, pid, NULL);
		return 0;
	}
	memcpy(&bits, &k, sizeof(bits));
	return u64map__set(&h->scales, pid, bits);
}

size_t heapstate__pause_pid(struct heapstate *h, uint32_t pid)
{
	struct u64map *live = live_of(h, pid, false);
	uint64_t addr, idx;
	size_t it = 0, n = 0;

	while (live && u64map__next(live, &it, &addr, &idx)) {
		n += !h->blocks[idx].unverified;
		h->blocks[idx].unverified = true;
	}
	return n;
}

int heapstate__sites(struct heapstate *h, struct heap_site **sites, size_t *n)
{
	struct heap_site *v;
	uint64_t addr, idx;
	size_t i, p, it, cnt = 0;

	v = calloc(h->cap_sites ? h->cap_sites : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < h->cap_sites; i++) {
		v[i].stack_id = (uint32_t)i;
		v[i].alloc_objects = h->sites[i].alloc_objects;
		v[i].alloc_bytes = h->sites[i].alloc_bytes;
	}
	for (p = 0; p < h->n_lives; p++)
		for (it = 0; u64map__next(&h->lives[p], &it, &addr, &idx);) {
			const struct live_block *b = &h->blocks[idx];

			v[b->stack_id].inuse_objects += b->weight;
			v[b->stack_id].inuse_bytes += b->weight * (double)b->size;
			if (b->unverified) {
				v[b->stack_id].unverified_objects += b->weight;
				v[b->stack_id].unverified_bytes +=
					b->weight * (double)b->size;
			}
		}
	for (i = 1; i < h->cap_sites; i++)
		if (v[i].alloc_objects > 0)
			v[cnt++] = v[i];
	*sites = v;
	*n = cnt;
	return 0;
}

void heapstate__totals(struct heapstate *h, struct heap_totals *out)
{
	uint64_t addr, idx;
	size_t p, it;

	*out = h->tot;
	out->inuse_objects = out->inuse_bytes = 0;
	out->unverified_objects = out->unverified_bytes = 0;
	for (p = 0; p < h->n_lives; p++)
		for (it = 0; u64map__next(&h->lives[p], &it, &addr, &idx);) {
			const struct live_block *b = &h->blocks[idx];
			double bytes = b->weight * (double)b->size;

			out->inuse_objects += b->weight;
			out->inuse_bytes += bytes;
			if (b->unverified) {
				out->unverified_objects += b->weight;
				out->unverified_bytes += bytes;
			}
		}
}

int heapstate__foreach_live(struct heapstate *h,
			    int (*fn)(const struct heap_block *b, void *ctx),
			    void *ctx)
{
	uint64_t addr, idx;
	size_t p, it;
	int err;

	for (p = 0; p < h->n_lives; p++) {
		for (it = 0; u64map__next(&h->lives[p], &it, &addr, &idx);) {
			const struct live_block *lb = &h->blocks[idx];
			struct heap_block b = {
				.stack_id = lb->stack_id, .op = lb->op,
				.size = lb->size, .weight = lb->weight,
				.t_ns = lb->t_ns, .pid = h->live_pids[p],
				.unverified = lb->unverified,
			};

			err = fn(&b, ctx);
			if (err)
				return err;
		}
	}
	return 0;
}

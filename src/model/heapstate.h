/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * heapstate.h - the heap aggregator: sampled allocations by stack, and the
 * blocks still live. Values are unbiased estimates: each sampled block
 * stands for sampling__scale(size, mean) blocks of its size.
 *
 * Under the overhead budget a process's probes are paused at times:
 * heapstate__set_scale() makes its allocations count k times (the pause
 * they stand for), in the alloc figures only (a live block is one block
 * whatever the pauses), and heapstate__pause_pid() marks its live blocks
 * unverified: their frees may happen unseen. An unverified block is still
 * in use (it goes when its free is seen), and counted apart.
 */
#ifndef MEMTEL_HEAPSTATE_H
#define MEMTEL_HEAPSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memtel.h"

struct heapstate;

struct heap_site {
	uint32_t stack_id;
	double alloc_objects, alloc_bytes;
	double inuse_objects, inuse_bytes;	/* unverified included */
	double unverified_objects, unverified_bytes;
};

struct heap_totals {
	double alloc_objects, alloc_bytes;
	double inuse_objects, inuse_bytes;	/* unverified included */
	double unverified_objects, unverified_bytes;
	uint64_t sampled_allocs;	/* raw sampled allocations */
	uint64_t sampled_frees;
	uint64_t op_count[MT_OP__COUNT];	/* raw sampled calls by op */
};

/* One live sampled block, for window statistics (leak analysis). */
struct heap_block {
	uint32_t stack_id;
	uint32_t op;
	uint64_t size;
	double weight;		/* blocks it stands for */
	uint64_t t_ns;		/* allocated at (CLOCK_MONOTONIC ns) */
	uint32_t pid;
	bool unverified;	/* live when pid's probes paused */
};

/* mean: the sampling mean in bytes (<= 1: every allocation). */
struct heapstate *heapstate__new(uint64_t mean);
void heapstate__free(struct heapstate *h);
/* A sampled block of process pid at addr of size bytes from stack_id.
 * 0 or -ENOMEM. A block already live there (its free was lost) is
 * replaced. */
int heapstate__alloc(struct heapstate *h, uint32_t pid, uint64_t addr,
		     uint32_t stack_id, uint64_t size, uint32_t op,
		     uint64_t t_ns);
/* heapstate__alloc with the block standing for w blocks (a block sampled
 * by someone else's sampler: the Go runtime's, or the target's own through
 * the otel_memory USDT probes). 0 or -ENOMEM. */
int heapstate__alloc_weighted(struct heapstate *h, uint32_t pid,
			      uint64_t addr, uint32_t stack_id, uint64_t size,
			      uint32_t op, uint64_t t_ns, double w);
/* pid's allocations from now on count k times in the alloc figures
 * (k >= 1; 1 again by default). 0 or -ENOMEM. */
int heapstate__set_scale(struct heapstate *h, uint32_t pid, double k);
/* pid's alloc scale now (1 by default). */
double heapstate__scale(const struct heapstate *h, uint32_t pid);
/* pid's probes pause: every block of pid live now becomes unverified.
 * Blocks marked. */
size_t heapstate__pause_pid(struct heapstate *h, uint32_t pid);
/* Call fn for every live block (order unspecified); stops early and
 * returns fn's value if it is not 0. */
int heapstate__foreach_live(struct heapstate *h,
			    int (*fn)(const struct heap_block *b, void *ctx),
			    void *ctx);
/* pid's sampled block at addr was freed; false if it was not known. */
bool heapstate__free_block(struct heapstate *h, uint32_t pid, uint64_t addr);
/* Snapshot of every site with allocations, sorted by stack id; the caller
 * frees *sites. 0 or -ENOMEM. */
int heapstate__sites(struct heapstate *h, struct heap_site **sites,
		     size_t *n);
void heapstate__totals(struct heapstate *h, struct heap_totals *out);

#endif /* MEMTEL_HEAPSTATE_H */

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * collector.h - the collect stage: turns ring-buffer records into heap
 * events (stack unwound, interned) for the aggregator.
 */
#ifndef MEMTEL_COLLECTOR_H
#define MEMTEL_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "heapstate.h"
#include "stacks.h"
#include "target.h"

#define COLLECTOR_MAX_FRAMES 128

struct collector {
	struct target *target;
	struct stacks *stacks;
	struct heapstate *heap;
	void *pending;		/* struct u64map: tid -> stack id */
	uint64_t events;
	uint64_t orphans;	/* returns whose entry record was lost */
	uint64_t unwind_short;	/* stacks of just the caller frame */
	uint64_t errors;	/* out of memory while aggregating */
};

int collector__init(struct collector *c, struct target *t, struct stacks *s,
		    struct heapstate *h);
void collector__fini(struct collector *c);
/* ring_buffer_sample_fn: ctx is a struct collector. Always 0 (a bad
 * record is counted, not fatal). */
int collector__on_event(void *ctx, void *data, size_t size);

#endif /* MEMTEL_COLLECTOR_H */

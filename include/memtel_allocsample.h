/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * memtel_allocsample.h - the records of the allocator-sampler programs
 * (the block at the end of bpf/memtel.bpf.c, src/attach/allocsample.c),
 * shared with the collector. When the target's allocator samples its own
 * allocations (tcmalloc with TCMALLOC_SAMPLE_PARAMETER set), probes sit
 * only on its sampled path: a sampled allocation sends an
 * mt_alloc_enter (op MT_OP_ALLOC_SAMPLED: registers and stack window at a
 * call inside the allocator, not at an entry) and then an
 * mt_alloc_sampled; the free of a sampled block a plain mt_free.
 */
#ifndef MEMTEL_ALLOCSAMPLE_H
#define MEMTEL_ALLOCSAMPLE_H

#include "memtel.h"

/* Op of the mt_alloc_enter record sent from the sampled path: its pc is
 * mid-function inside the allocator, whose leading frames the collector
 * drops. Beside MT_OP_USDT (0x100), far from enum mt_op. */
#define MT_OP_ALLOC_SAMPLED 0x101
/* Event type of struct mt_alloc_sampled, which follows that ENTER. */
#define MT_EV_ALLOC_SAMPLED 0x101

/* Stack window of such an ENTER while the ring buffer is busy (others
 * get 256 bytes): enough to leave the allocator's frames. */
#define MT_ALLOCSAMPLE_BUSY_STACK 1024

struct mt_alloc_sampled {
	struct mt_event_hdr hdr;	/* op: MT_OP_MALLOC */
	__u64 addr;
	__u64 size;		/* bytes requested, as the allocator records */
	__s64 period;		/* mean bytes between samples at the sample,
				 * or -1 if unreadable */
};

/* tcmalloc (gperftools 2.x) Span fields the programs read; checked
 * against the code of the library by src/attach/allocsample.c (the
 * sampled path sets the sample bit at byte MT_TC_SPAN_SAMPLE_BYTE). */
#define MT_TC_SPAN_START_OFF 0		/* PageID start */
#define MT_TC_SPAN_OBJECTS_OFF 0x20	/* void *objects: its StackTrace */
#define MT_TC_SPAN_SAMPLE_BYTE 0x2b	/* unsigned sample : 1 lives here */
#define MT_TC_SPAN_SAMPLE_BIT 0x04
/* StackTrace { uintptr_t size; ... }: the requested size first */
#define MT_TC_STACK_SIZE_OFF 0

/* alloc_samplers' value: what the programs need per process. */
struct mt_alloc_sampler_proc {
	__u64 period_addr;	/* &FLAGS_tcmalloc_sample_parameter, or 0 */
	__s64 period;		/* the period found at attach (fallback) */
	__u32 page_shift;	/* block address = span->start << page_shift */
	__u32 pad;
};

#endif /* MEMTEL_ALLOCSAMPLE_H */

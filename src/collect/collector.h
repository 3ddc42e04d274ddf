/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * collector.h - the collect stage: ring-buffer records -> unwound,
 * interned stacks -> the heap and CPU aggregators.
 */
#ifndef MEMTEL_COLLECTOR_H
#define MEMTEL_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "model/cpustate.h"
#include "model/heapstate.h"
#include "model/memmetrics.h"
#include "model/stacks.h"
#include "symbolize/symcache.h"
#include "process/targets.h"
#include "unwind/bpfunwind.h"
#include "memtel.h"

#define COLLECTOR_MAX_FRAMES 128

struct collector {
	struct targets *targets;
	struct stacks *stacks;
	struct heapstate *heap;	/* may be NULL (--no-heap) */
	struct cpustate *cpu;	/* may be NULL (--no-cpu) */
	struct symcache *syms;	/* new stacks are symbolized at once */
	struct memmetrics *mm;	/* allocation statistics, may be NULL */
	uint64_t sample_mean;	/* heap sampling mean (weights for mm) */
	/* name of an allocator op for mm, given by whoever attached the
	 * probes (collect does not call back into attach) */
	const char *(*op_name)(enum mt_op op);
	void *components;	/* struct u64map: stack id -> char * */
	void *pending;		/* struct u64map: tid -> stack id */
	void *go_pids;		/* struct u64map: pids of Go programs */
	void *cgo_stacks;	/* struct u64map: tid -> mt_go_cgo_stack * */
	uint64_t events;
	uint64_t orphans;	/* returns whose entry record was lost */
	uint64_t unwind_short;	/* heap stacks of just the caller frame */
	uint64_t errors;	/* malformed records, out of memory */
	/* fork/exec notices of tracked processes go here (may be NULL) */
	void (*on_proc)(void *ctx, const struct mt_proc_event *e);
	void *proc_ctx;
	/* Per-process heap models (the node agent's heap targets): when
	 * heap_of is set, a heap record goes to the heapstate and memmetrics
	 * it gives for the record's pid (false: the record is dropped)
	 * instead of heap and mm. Heap stacks are interned in heap_stacks and
	 * named through heap_syms when set (the agent renews stacks and syms,
	 * its CPU model, every window; its heap stacks must outlive that). */
	bool (*heap_of)(void *ctx, uint32_t pid, struct heapstate **h,
			struct memmetrics **mm);
	void *heap_ctx;
	struct stacks *heap_stacks;
	struct symcache *heap_syms;
	uint64_t go_samples;	/* Go allocations sampled by the Go runtime */
	uint64_t go_rate_unknown; /* Go samples whose rate was unreadable */
	uint64_t allocator_samples; /* blocks an allocator's sampler chose */
	/* stacks unwound in BPF (may be NULL: every ENTER carries a window) */
	struct bpfunwind *bu;
	void *stack_keys;	/* (tgid, hash) -> stack id, bounded */
	/* A process's first BPF unwind tables (hundreds of ms for a large
	 * binary, all of it at full probes if built at its first sampled
	 * call) wait for collector__sync_deferred. */
	bool defer_tables;
	void *tables_wait;	/* struct u64map: pid -> since (mono ns | 1), 0 done */
	uint64_t bpf_stacks;	/* ENTERs that came unwound */
	uint64_t bpf_stack_lost; /* of which the stack was not found */
};

int collector__init(struct collector *c, struct targets *tg,
		    struct stacks *s, struct heapstate *h, struct cpustate *cpu,
		    struct symcache *syms);
void collector__fini(struct collector *c);
/* pid is a Go program: its user stacks end at runtime.asmcgocall (cgo's
 * switch to the system stack). 0 or -ENOMEM. */
int collector__add_go(struct collector *c, uint32_t pid);
/* Give pid its BPF unwind tables now, before its first sampled call (a
 * process otherwise gets them at its first ENTER with a window). */
void collector__prepare(struct collector *c, uint32_t pid);
/* With defer_tables: give the first waiting process that ready(ctx, pid,
 * ns it has waited) accepts its tables. One at most; true if one got
 * them. */
bool collector__sync_deferred(struct collector *c,
			      bool (*ready)(void *ctx, uint32_t pid,
					    uint64_t waiting_ns),
			      void *ctx);
/* Forget exited processes' BPF-unwound stacks (bpfunwind__reap); once a
 * second is plenty. */
void collector__reap(struct collector *c);
/* Intern heap stacks in st, named through sc, from now on: the stack ids
 * cached so far (allocation sites' names, calls awaiting their return)
 * are forgotten. */
void collector__set_heap_stacks(struct collector *c, struct stacks *st,
				struct symcache *sc);
/* ring_buffer_sample_fn: ctx is a struct collector. Always 0 (a bad
 * record is counted, not fatal). */
int collector__on_event(void *ctx, void *data, size_t size);

#endif /* MEMTEL_COLLECTOR_H */

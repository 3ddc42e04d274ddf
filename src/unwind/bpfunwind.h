/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * bpfunwind.h - the userspace half of unwinding in BPF: loads each
 * profiled process's unwind tables (cfitable rows per file, shared by file
 * identity; a sorted array of its mapped files) into the BPF maps of
 * bpf/unwind.bpf.h, resolves the stack keys of compact ENTER records
 * (MT_EV_ALLOC_STACK_RET) from the kernel's ustacks map, and forgets a
 * process's tables and stacks when it exits.
 */
#ifndef MEMTEL_BPFUNWIND_H
#define MEMTEL_BPFUNWIND_H

#include <stddef.h>
#include <stdint.h>

#include "memtel.h"
#include "process/target.h"

/* The maps of bpf/unwind.bpf.h, by fd (owned by the caller). */
struct bpfunwind_maps {
	int rows, files, procs, stacks;
	uint32_t max_rows;	/* unw_rows' max_entries */
};

struct bpfunwind_stats {
	uint64_t files;		/* files with rows loaded */
	uint64_t files_failed;	/* without (no .eh_frame_hdr, too big) */
	uint64_t rows;		/* rows loaded */
	uint64_t maps_dropped;	/* mappings past MT_UNW_MAX_MAPS */
	uint64_t procs;		/* processes given tables */
	uint64_t stacks;	/* distinct stacks read from the kernel */
	uint64_t stack_misses;	/* keys not found in ustacks */
};

struct bpfunwind;

/* NULL with errno set. */
struct bpfunwind *bpfunwind__new(const struct bpfunwind_maps *m);
void bpfunwind__free(struct bpfunwind *bu);
/* Give t's process its tables (files as its Dwfl reports them), or bring
 * them up to date; at most once a second per process unless it has none
 * yet. 0 or -errno. */
int bpfunwind__sync(struct bpfunwind *bu, struct target *t);
/* The pcs of a stack key, leaf first, into pcs (at most max). Number of
 * pcs, or -ENOENT. */
int bpfunwind__stack(struct bpfunwind *bu, const struct mt_stack_key *key,
		     uint64_t *pcs, size_t max);
/* Forget the processes that exited (or whose pid now names another
 * process): their table entry and their stacks in the kernel. gone(ctx,
 * pid) is called for each. Returns how many. */
size_t bpfunwind__reap(struct bpfunwind *bu,
		       void (*gone)(void *ctx, uint32_t pid), void *ctx);
/* Forget pid's tables and stacks now (it exec'd a new image). */
void bpfunwind__forget(struct bpfunwind *bu, uint32_t pid);
void bpfunwind__stats(const struct bpfunwind *bu, struct bpfunwind_stats *s);

#endif /* MEMTEL_BPFUNWIND_H */

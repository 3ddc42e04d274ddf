/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * allocsample.h - allocators that sample their own allocations. When the
 * target's allocator runs with its sampler on, probes on its sampled path
 * replace the malloc/free probes: unsampled calls never trap.
 *
 * - tcmalloc (gperftools 2.x, TCMALLOC_SAMPLE_PARAMETER > 0): hooked. The
 *   sampled path links a sampled block's span into a list with
 *   DLL_Prepend and its free unlinks it with DLL_Remove; both are
 *   exported, but also used by the page heap and central free lists, so
 *   the probes go on the two call sites that only the sampled path runs,
 *   found in the library's code (a `call DLL_Prepend` right after setting
 *   the span's sample bit, a `call DLL_Remove` right after testing it).
 * - jemalloc (prof:true and prof_active): recognised, not hookable in a
 *   stripped build (docs/PLATFORM.md, "Allocators that sample"): one
 *   warning, the full probes stay.
 */
#ifndef MEMTEL_ALLOCSAMPLE_H_ATTACH
#define MEMTEL_ALLOCSAMPLE_H_ATTACH

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "attach/allocator.h"

enum allocsample_kind {
	ALLOCSAMPLE_NONE = 0,	/* the allocator has no sampler we know */
	ALLOCSAMPLE_TCMALLOC,
	ALLOCSAMPLE_JEMALLOC,
};

enum allocsample_state {
	ALLOCSAMPLE_OFF = 0,	/* no sampler, or its sampling is off */
	ALLOCSAMPLE_HOOKED,	/* sampling on, sampled-path sites found */
	ALLOCSAMPLE_UNHOOKABLE,	/* sampling on, no site to probe: `why` */
};

#define ALLOCSAMPLE_MAX_SITES 4

struct allocsample {
	enum allocsample_kind kind;
	enum allocsample_state state;
	char path[PATH_MAX];		/* the allocator, as the target sees it */
	char open_path[PATH_MAX];	/* as we reach it */
	uint64_t alloc_off[ALLOCSAMPLE_MAX_SITES];	/* file offsets */
	uint64_t free_off[ALLOCSAMPLE_MAX_SITES];
	size_t n_alloc, n_free;
	uint64_t period_addr;	/* run-time address of the period, or 0 */
	int64_t period;		/* mean bytes between samples */
	unsigned int page_shift;
	char why[192];		/* for -v and the warning line */
};

/* Sites of tcmalloc's sampled path in code (bytes at link-time address
 * vaddr). prepend/remove: the addresses a call to DLL_Prepend/DLL_Remove
 * targets (the function, its PLT stubs). */
struct allocsample_tc_sites {
	uint64_t alloc[ALLOCSAMPLE_MAX_SITES];	/* vaddr of each `call` */
	uint64_t free[ALLOCSAMPLE_MAX_SITES];
	size_t n_alloc, n_free;
	unsigned int page_shift;	/* from the `shl $N` after the call */
};

/* Does the allocator a sample on its own in pid, and where to hook it.
 * Always fills *out (state OFF when nothing applies). 0 or -errno (the
 * process is gone, or unreadable). */
int allocsample__find(pid_t pid, const struct allocator *a,
		      struct allocsample *out);

/* Does function fn in the file at path call or tail-jump to callee
 * (directly, by a PLT stub or through its GOT slot)? For an operator new
 * linked into a program (a static libstdc++) that forwards to malloc. */
bool allocsample__forwards(const char *path, const char *fn,
			   const char *callee);

/* Scan code for the sampled path (capstone, linear sweep). 0 (out says
 * what was found), -ENOTSUP without capstone. */
int allocsample__scan_tcmalloc(const uint8_t *code, size_t len,
			       uint64_t vaddr, const uint64_t *prepend,
			       size_t n_prepend, const uint64_t *remove,
			       size_t n_remove,
			       struct allocsample_tc_sites *out);

/* The same for the file at path: DLL_Prepend/DLL_Remove and their PLT
 * stubs located, .text scanned. *text_delta: file offset minus address
 * in .text. 0, -ENOENT (not tcmalloc), or -errno. */
int allocsample__tc_file(const char *path, struct allocsample_tc_sites *out,
			 uint64_t *text_delta);

/* Apply one jemalloc configuration string ("prof:true,lg_prof_sample:19")
 * over *prof and *active (options later in the string win, as in
 * jemalloc). prof_active defaults to true; callers start with
 * *prof = false, *active = true. */
void allocsample__jemalloc_conf(const char *conf, bool *prof, bool *active);

/* One line for -v / the summary: "tcmalloc's sampler (period 524288)". */
const char *allocsample__describe(const struct allocsample *s, char *buf,
				  size_t len);

#endif /* MEMTEL_ALLOCSAMPLE_H_ATTACH */

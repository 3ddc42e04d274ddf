/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * allocator.h - find the allocator a process really uses, and where to
 * probe it. Search order follows symbol interposition: the executable
 * itself (static binaries, or a malloc linked in), then a library defining
 * malloc named in LD_PRELOAD, then any other mapped library defining malloc
 * (jemalloc, tcmalloc, mimalloc...), then libc.
 */
#ifndef MEMTEL_ALLOCATOR_H
#define MEMTEL_ALLOCATOR_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "memtel.h"
#include "attach/prologue.h"

struct allocator {
	char path[PATH_MAX];		/* as the target sees it */
	char open_path[PATH_MAX];	/* as we reach it (/proc/PID/...) */
	const char *kind;		/* "executable", "library", "libc" */
};

struct probe_point {
	enum mt_op op;
	const char *func;		/* symbol probed */
	uint64_t func_offset;		/* file offset of the function */
	struct prologue_plan plan;	/* where inside it */
	bool has_ret;			/* a uretprobe shares the site */
	bool frees;			/* a free: free_enter, no return */
	bool alias;			/* skipped: same address as an earlier op,
					 * or a tail jump to another probed op */
};

/* Name of an op for reports ("malloc", "operator new[]", ...). */
const char *allocator__op_name(enum mt_op op);

/* 0, -ENOENT if no mapped file defines malloc, -ESRCH if pid is gone,
 * or another -errno. */
int allocator__find(pid_t pid, struct allocator *out);

/* Plan probe points for every allocation entry point the allocator
 * defines (malloc family, its own C++ operators, jemalloc's *allocx, C23
 * free_sized). pts must hold MT_OP__COUNT entries; *n receives how many were
 * filled. 0, -ENOENT if malloc or free is missing, or -errno. */
int allocator__plan(const struct allocator *a, struct probe_point *pts,
		    size_t *n);

/* What a process's heap probes are attached with, kept to attach them
 * again (a budget pause, a parked wait). */
struct allocator_plan {
	struct allocator a;
	struct probe_point pts[MT_OP__COUNT];
	size_t n;
};

/* allocator__find and allocator__plan for pid into out. 0, -ENOENT (no
 * point to probe), or -errno. */
int allocator__plan_pid(pid_t pid, struct allocator_plan *out);

#endif /* MEMTEL_ALLOCATOR_H */

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * report.h - what the heap and CPU reports share: a pprof profile set up
 * from a description (sample types, period, time, comment) and fed one
 * sample per stack id, and flame-graph stacks named through the symbol
 * cache. heap_report.c and cpu_report.c only say what their values are.
 */
#ifndef MEMTEL_REPORT_H
#define MEMTEL_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "model/stacks.h"
#include "sinks/file/flamegraph.h"
#include "sinks/file/pprof.h"
#include "symbolize/symcache.h"

/* Frames kept of one stack, in pprof and in the flame graphs. */
#define REPORT_MAX_FRAMES 256

struct report_profile_spec {
	const char *const (*types)[2];	/* { type, unit } per value */
	size_t n_types;
	const char *period_type, *period_unit;
	int64_t period;
	int64_t time_nanos, duration_nanos;
	const char *default_type;
	const char *comment;
	const char *notes;	/* more comment lines, '\n'-separated, or NULL */
};

struct report_profile {
	struct pprof_builder *b;
	struct profstack *ps;
	struct stacks *stacks;
	size_t n_types;
};

/* A profile as spec describes, its locations symbolized through syms.
 * 0 or -ENOMEM (p is then released). */
int report_profile__open(struct report_profile *p,
			 const struct report_profile_spec *spec,
			 struct stacks *stacks, struct symcache *syms);
/* One sample of stack_id with spec's n_types values; a stack no longer
 * known is skipped. 0 or -errno. */
int report_profile__add(struct report_profile *p, uint32_t stack_id,
			const int64_t *vals, const struct pprof_label *labels,
			size_t n_labels);
/* Write the gzipped profile to path. 0 or -errno. */
int report_profile__write(struct report_profile *p, const char *path);
/* NULL-safe, idempotent. */
void report_profile__close(struct report_profile *p);

/* Add stack_id to fg with value, its frames named root first; a stack no
 * longer known is skipped. 0 or -errno (flamegraph__add). */
int report__flame_add(struct flamegraph *fg, struct stacks *stacks,
		      struct symcache *syms, uint32_t stack_id, uint64_t value);

#endif /* MEMTEL_REPORT_H */

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * heap_report.h - heap sinks: the pprof file, the in-use flame graph and
 * the terminal summary.
 */
#ifndef MEMTEL_HEAP_REPORT_H
#define MEMTEL_HEAP_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "model/heapstate.h"
#include "model/stacks.h"
#include "symbolize/symcache.h"

struct heap_report {
	struct heapstate *heap;
	struct stacks *stacks;
	struct symcache *syms;
	uint64_t sample_bytes;
	int64_t time_nanos;	/* session start, wall clock */
	int64_t duration_nanos;
	const char *notes;	/* extra pprof comment lines ('\n'), or NULL */
};

/* Write the gzipped pprof heap profile to path. 0 or -errno. */
int heap_report__write_pprof(const struct heap_report *r, const char *path);
/* Flame graph of in-use bytes at the end of the session. 0 or -errno. */
int heap_report__write_svg(const struct heap_report *r, const char *path,
			   const char *title);
/* Print the top `top` sites by in-use bytes (then allocated bytes). */
void heap_report__print_top(const struct heap_report *r, FILE *out, int top);

#endif /* MEMTEL_HEAP_REPORT_H */

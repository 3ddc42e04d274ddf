/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * cpu_report.h - CPU sinks: cpu.pb.gz (pprof), cpu.folded, cpu.svg and
 * the terminal summary.
 */
#ifndef MEMTEL_CPU_REPORT_H
#define MEMTEL_CPU_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "model/cpustate.h"
#include "model/stacks.h"
#include "symbolize/symcache.h"

struct cpu_report {
	struct cpustate *cpu;
	struct stacks *stacks;
	struct symcache *syms;
	uint32_t freq;		/* Hz */
	int64_t time_nanos;
	int64_t duration_nanos;
	const char *notes;	/* extra pprof comment lines ('\n'), or NULL */
};

/* pprof with sample types samples/count and cpu/nanoseconds, period_type
 * cpu/nanoseconds, period 1e9/freq; labels pid, tid, thread_name. */
int cpu_report__write_pprof(const struct cpu_report *r, const char *path);
/* Folded stacks (flamegraph.pl input) and the rendered flame graph, each
 * written whole or not at all, the second tried even when the first could
 * not be (a full disk may still take it); either path may be NULL. The
 * caller names the file that failed. 0 or the first -errno. */
int cpu_report__write_flame(const struct cpu_report *r, const char *folded,
			    const char *svg, const char *title);
/* The top functions by self samples. */
void cpu_report__print_top(const struct cpu_report *r, FILE *out, int top);

#endif /* MEMTEL_CPU_REPORT_H */

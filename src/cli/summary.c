// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * summary.c - what a session prints when it ends: the target, the
 * sampling, the top functions, what was dropped, and the files that were
 * actually written (a file that failed is named in the error above, never
 * listed here).
 */
#include <stdio.h>

#include "attach/proctree.h"
#include "cli/session.h"
#include "model/overhead.h"
#include "process/target.h"
#include "process/targets.h"
#include "sinks/file/cpu_report.h"
#include "sinks/file/heap_report.h"
#include "sinks/telemetry.h"
#include "util/fmt.h"

static const char *const file_names[SF__COUNT] = {
	[SF_HEAP_PPROF] = "heap.pb.gz",
	[SF_HEAP_SVG] = "heap.svg",
	[SF_LEAKS] = "leaks.txt",
	[SF_METRICS] = "metrics.jsonl",
	[SF_CPU_PPROF] = "cpu.pb.gz",
	[SF_CPU_FOLDED] = "cpu.folded",
	[SF_CPU_SVG] = "cpu.svg",
};

const char *session__file_name(enum session_file f)
{
	return f < SF__COUNT ? file_names[f] : "?";
}

static const char *exe_or(const struct session *s)
{
	struct target *t = targets__find(s->targets, s->pid);

	return t && target__exe(t)[0] ? target__exe(t) : "?";
}

static void print_heap(const struct session *s, const struct session_counts *c)
{
	struct heap_report hr = {
		.heap = s->heapst, .stacks = s->stacks, .syms = s->syms,
	};
	struct heap_totals tot;
	char a[32], b[32], what[96];

	heapstate__totals(s->heapst, &tot);
	/* otel_memory USDT mode: the program sampled, our sampler saw no call */
	if (s->alloc_sampled)
		printf("heap sampling: by %s, only its sampled path probed (malloc/free not probed), %llu samples weighted by its period\n",
		       allocsample__describe(&s->asamp, what, sizeof(what)),
		       (unsigned long long)s->coll.allocator_samples);
	else if (c->calls == 0 && tot.sampled_allocs)
		printf("heap sampling: in the program (otel_memory USDT probes), %llu samples weighted as it reported them\n",
		       (unsigned long long)tot.sampled_allocs);
	else if (s->o->sample_bytes <= 1)
		printf("heap sampling: every allocation\n");
	else
		printf("heap sampling: one per %llu bytes on average (values are scaled estimates)\n",
		       (unsigned long long)s->o->sample_bytes);
	fmt__bytes(tot.alloc_bytes, a, sizeof(a));
	fmt__bytes(tot.inuse_bytes, b, sizeof(b));
	if (c->calls || !tot.sampled_allocs)
		printf("allocation calls seen: %llu, sampled: %llu\n",
		       (unsigned long long)c->calls,
		       (unsigned long long)c->sampled);
	if (s->go_heap)
		printf("Go heap: %llu allocations sampled by the Go runtime (one per runtime.MemProfileRate bytes, weighted as Go's pprof does)\n",
		       (unsigned long long)s->coll.go_samples);
	if (s->go_heap && s->coll.go_rate_unknown)
		printf("Go heap: %llu samples weighted at the default rate (runtime.MemProfileRate unreadable)\n",
		       (unsigned long long)s->coll.go_rate_unknown);
	printf("allocated: %.0f objects, %s; in use at end: %.0f objects, %s\n",
	       tot.alloc_objects, a, tot.inuse_objects, b);
	session__budget_print(s, stdout);
	heap_report__print_top(&hr, stdout, 10);
}

/* What the heap probes cost: a line per process still profiled at the end
 * and one for all of them when there were several (or the ones measured
 * have exited). */
static void print_overhead(const struct session *s)
{
	struct overhead_est e;
	char line[256];
	size_t it = 0, n, lines = 0;
	uint32_t pid;

	if (!s->ovh)
		return;
	n = overhead__all(s->ovh, &e);
	if (n == 1 && overhead__next(s->ovh, &it, &pid) &&
	    overhead__get(s->ovh, pid, NULL, &e) && e.span_ns) {
		session__overhead_format(s, &e, line, sizeof(line));
		printf("heap probes: %s%s\n", line,
		       s->ovh_measured ? "" : ", cost per hit assumed");
		return;
	}
	it = 0;
	while (n > 1 && lines < 10 && overhead__next(s->ovh, &it, &pid)) {
		if (!overhead__get(s->ovh, pid, NULL, &e) || !e.span_ns)
			continue;
		session__overhead_format(s, &e, line, sizeof(line));
		printf("heap probes: pid %u: %s\n", pid, line);
		lines++;
	}
	if (!n)
		return;
	overhead__all(s->ovh, &e);
	session__overhead_format(s, &e, line, sizeof(line));
	if (n > 1)
		printf("heap probes: all %zu processes: %s%s\n", n, line,
		       s->ovh_measured ? "" : ", cost per hit assumed");
	else
		printf("heap probes: %s%s\n", line,
		       s->ovh_measured ? "" : ", cost per hit assumed");
}

static void print_cpu(const struct session *s)
{
	struct cpu_report cr = {
		.cpu = s->cpust, .stacks = s->stacks, .syms = s->syms,
		.freq = s->o->freq,
	};

	printf("CPU sampler: %s at %u Hz on %d CPUs\n",
	       s->cpu_event ? s->cpu_event : "?", s->o->freq, s->n_cpus);
	cpu_report__print_top(&cr, stdout, 10);
}

static void print_drops(const struct session *s, const struct session_counts *c)
{
	const uint64_t *cnt = c->cnt;

	printf("events dropped: %llu", (unsigned long long)c->dropped);
	if (c->dropped)
		printf(" (ring buffer full %llu, live map full %llu, thread map full %llu, unmatched %llu, errors %llu)",
		       (unsigned long long)cnt[MT_CNT_RB_DROPS],
		       (unsigned long long)cnt[MT_CNT_LIVE_FULL],
		       (unsigned long long)cnt[MT_CNT_TID_FULL],
		       (unsigned long long)s->coll.orphans,
		       (unsigned long long)s->coll.errors);
	printf("\n");
	if (cnt[MT_CNT_TARGETS_FULL] || cnt[MT_CNT_PROC_DROPS])
		printf("child processes not followed: %llu (target set full), fork/exec notices lost: %llu\n",
		       (unsigned long long)cnt[MT_CNT_TARGETS_FULL],
		       (unsigned long long)cnt[MT_CNT_PROC_DROPS]);
	if (cnt[MT_CNT_STACK_FAIL])
		printf("stack copies failed: %llu\n",
		       (unsigned long long)cnt[MT_CNT_STACK_FAIL]);
	if (cnt[MT_CNT_STACK_SHORT])
		printf("stacks cut short while the ring buffer was busy: %llu\n",
		       (unsigned long long)cnt[MT_CNT_STACK_SHORT]);
}

static void print_files(const struct session *s)
{
	const char *sep = "";
	int f;

	printf("output: %s/ (", s->outdir);
	for (f = 0; f < SF__COUNT; f++) {
		if (!s->written[f])
			continue;
		printf("%s%s", sep, file_names[f]);
		sep = " ";
	}
	printf(")\n");
	if (s->written[SF_HEAP_PPROF] || s->written[SF_CPU_PPROF])
		printf("  view: go tool pprof -top %s/%s\n", s->outdir,
		       s->written[SF_HEAP_PPROF] ? "heap.pb.gz" : "cpu.pb.gz");
}

void session__print_summary(const struct session *s, int64_t duration_ns,
			    const struct session_counts *c)
{
	const char *why = s->end_reason ? s->end_reason : "";
	size_t n = s->tree ? proctree__seen(s->tree) : 0;

	/* a tree (launch mode, --children, a --pid list) is more than the
	 * process it is named after: say how many were profiled */
	if (s->pid && n > 1)
		printf("memtel-bpf: pid %d (%s), %.2f s, %s (%zu processes profiled)\n",
		       s->pid, exe_or(s), duration_ns / 1e9, why, n);
	else if (s->pid)
		printf("memtel-bpf: pid %d (%s), %.2f s, %s\n", s->pid,
		       exe_or(s), duration_ns / 1e9, why);
	else
		printf("memtel-bpf: all processes, %.2f s, %s\n",
		       duration_ns / 1e9, why);
	if (s->heap)
		print_heap(s, c);
	print_overhead(s);
	if (s->cpu)
		print_cpu(s);
	print_drops(s, c);
	if (s->tel)
		telemetry__print(s->tel, stdout);
	print_files(s);
	fflush(stdout);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cpu_report.c - CPU profile sinks. One pprof sample per (stack, thread)
 * carrying the sample count and count * period nanoseconds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/file/cpu_report.h"
#include "sinks/file/report.h"
#include "sinks/profile/profstack.h"

static int64_t period_ns(const struct cpu_report *r)
{
	return r->freq ? 1000000000LL / r->freq : 0;
}

static const char *const cpu_types[][2] = {
	{ "samples", "count" }, { "cpu", "nanoseconds" },
};

int cpu_report__write_pprof(const struct cpu_report *r, const char *path)
{
	const struct report_profile_spec spec = {
		.types = cpu_types, .n_types = 2,
		.period_type = "cpu", .period_unit = "nanoseconds",
		.period = period_ns(r),
		.time_nanos = r->time_nanos,
		.duration_nanos = r->duration_nanos,
		.default_type = "cpu", .comment = "memtel-bpf CPU profile",
		.notes = r->notes,
	};
	struct cpu_entry *ents = NULL;
	struct report_profile p;
	size_t n_ents = 0, i;
	int err;

	err = report_profile__open(&p, &spec, r->stacks, r->syms);
	if (err)
		return err;
	err = cpustate__entries(r->cpu, &ents, &n_ents);
	for (i = 0; !err && i < n_ents; i++) {
		const struct cpu_entry *e = &ents[i];
		const struct pprof_label labels[3] = {
			{ .key = "pid", .num = e->pid },
			{ .key = "tid", .num = e->tid },
			{ .key = "thread_name", .str = e->comm },
		};
		const int64_t vals[2] = {
			(int64_t)e->count, (int64_t)e->count * period_ns(r),
		};

		err = report_profile__add(&p, e->stack_id, vals, labels, 3);
	}
	if (!err)
		err = report_profile__write(&p, path);
	free(ents);
	report_profile__close(&p);
	return err;
}

int cpu_report__write_flame(const struct cpu_report *r, const char *folded,
			    const char *svg, const char *title)
{
	struct flamegraph_opts fo = {
		.title = title, .unit = "samples", .palette = "hot",
	};
	struct cpu_entry *ents = NULL;
	struct flamegraph *fg;
	size_t n_ents = 0, i;
	char sub[128];
	int err, ferr;

	fg = flamegraph__new();
	err = fg ? cpustate__entries(r->cpu, &ents, &n_ents) : -ENOMEM;
	for (i = 0; !err && i < n_ents; i++)
		err = report__flame_add(fg, r->stacks, r->syms,
					ents[i].stack_id, ents[i].count);
	snprintf(sub, sizeof(sub), "%llu samples at %u Hz",
		 (unsigned long long)cpustate__total(r->cpu), r->freq);
	fo.subtitle = sub;
	if (err)
		goto cleanup;
	/* both are tried; the first error is returned (the session writes
	 * one file per call, so it knows which one failed) */
	ferr = folded ? flamegraph__write_folded(fg, folded) : 0;
	err = svg ? flamegraph__write_svg(fg, svg, &fo) : 0;
	if (ferr)
		err = ferr;
cleanup:
	free(ents);
	flamegraph__free(fg);
	return err;
}

struct fn_count {
	const char *name;
	uint64_t self, total;
};

static int cmp_fn(const void *a, const void *b)
{
	const struct fn_count *x = a, *y = b;

	if (x->self != y->self)
		return x->self < y->self ? 1 : -1;
	return strcmp(x->name, y->name);
}

void cpu_report__print_top(const struct cpu_report *r, FILE *out, int top)
{
	const char *names[REPORT_MAX_FRAMES];
	struct fn_count *fns = NULL;
	struct cpu_entry *ents = NULL;
	size_t n_ents = 0, n_fns = 0, i, j;
	uint64_t total = cpustate__total(r->cpu);
	static char buf[8192];

	fprintf(out, "CPU: %llu samples at %u Hz\n", (unsigned long long)total,
		r->freq);
	if (!total || cpustate__entries(r->cpu, &ents, &n_ents))
		goto cleanup;
	fns = calloc(n_ents, sizeof(*fns));
	if (!fns)
		goto cleanup;
	for (i = 0; i < n_ents; i++) {
		struct stack_view v;
		size_t n;

		if (!stacks__get(r->stacks, ents[i].stack_id, &v))
			continue;
		/* leaf frame only: names are root first */
		n = profstack__names(r->syms, &v, names, REPORT_MAX_FRAMES,
				    buf, sizeof(buf));
		if (!n)
			continue;
		for (j = 0; j < n_fns; j++)
			if (!strcmp(fns[j].name, names[n - 1]))
				break;
		if (j == n_fns) {
			/* kernel/unknown names live in buf: keep a copy */
			fns[j].name = strdup(names[n - 1]);
			if (!fns[j].name)
				continue;
			n_fns++;
		}
		fns[j].self += ents[i].count;
	}
	qsort(fns, n_fns, sizeof(*fns), cmp_fn);
	fprintf(out, "top functions by CPU (self):\n");
	for (i = 0; i < n_fns && (int)i < top; i++)
		fprintf(out, "  %6.2f%%  %8llu  %s\n",
			100.0 * (double)fns[i].self / (double)total,
			(unsigned long long)fns[i].self, fns[i].name);
cleanup:
	if (fns)
		for (i = 0; i < n_fns; i++)
			free((void *)fns[i].name);
	free(fns);
	free(ents);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * heap_report.c - heap profile sinks.
 *
 * pprof: sample types alloc_objects/count, alloc_space/bytes,
 * inuse_objects/count, inuse_space/bytes (the order Go's heap profiles
 * use), period_type space/bytes with the sampling mean as period, one
 * sample per stack. heap.svg: a flame graph of in-use bytes.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/file/heap_report.h"
#include "sinks/file/report.h"
#include "util/fmt.h"

static const char *const heap_types[][2] = {
	{ "alloc_objects", "count" }, { "alloc_space", "bytes" },
	{ "inuse_objects", "count" }, { "inuse_space", "bytes" },
};

/* One stack's samples: what the probes saw, and apart, labelled
 * memtel.unverified=true, its in-use blocks allocated before its
 * process's probes paused (overhead budget), which may have been freed
 * unseen: `pprof -tagignore memtel.unverified=true` drops them. */
static int add_site(struct report_profile *p, const struct heap_report *r,
		    const struct heap_site *s)
{
	const int64_t vals[4] = {
		llround(s->alloc_objects), llround(s->alloc_bytes),
		llround(s->inuse_objects - s->unverified_objects),
		llround(s->inuse_bytes - s->unverified_bytes),
	};
	const int64_t unv[4] = {
		0, 0, llround(s->unverified_objects),
		llround(s->unverified_bytes),
	};
	/* several processes (a tree, a --pid list): whose it was */
	struct pprof_label labels[2] = {
		{ .key = "pid" },
		{ .key = "memtel.unverified", .str = "true" },
	};
	struct stack_view v = {};
	size_t n = 0;
	int err;

	if (stacks__get(r->stacks, s->stack_id, &v) && v.pid) {
		labels[0].num = v.pid;
		n = 1;
	}
	err = report_profile__add(p, s->stack_id, vals, labels, n);
	if (err || !(s->unverified_bytes > 0))
		return err;
	if (!n)
		labels[0] = labels[1];
	return report_profile__add(p, s->stack_id, unv, labels, n + 1);
}

int heap_report__write_pprof(const struct heap_report *r, const char *path)
{
	const struct report_profile_spec spec = {
		.types = heap_types, .n_types = 4,
		.period_type = "space", .period_unit = "bytes",
		.period = r->sample_bytes > 1 ? (int64_t)r->sample_bytes : 1,
		.time_nanos = r->time_nanos,
		.duration_nanos = r->duration_nanos,
		.default_type = "inuse_space",
		.comment = "memtel-bpf heap profile",
		.notes = r->notes,
	};
	struct heap_site *sites = NULL;
	struct report_profile p;
	size_t n_sites = 0, i;
	int err;

	err = report_profile__open(&p, &spec, r->stacks, r->syms);
	if (err)
		return err;
	err = heapstate__sites(r->heap, &sites, &n_sites);
	for (i = 0; !err && i < n_sites; i++)
		err = add_site(&p, r, &sites[i]);
	if (!err)
		err = report_profile__write(&p, path);
	free(sites);
	report_profile__close(&p);
	return err;
}

int heap_report__write_svg(const struct heap_report *r, const char *path,
			   const char *title)
{
	struct flamegraph_opts fo = {
		.title = title, .unit = "bytes", .palette = "mem",
		.subtitle = "in-use bytes at the end of the session",
	};
	struct heap_site *sites = NULL;
	struct flamegraph *fg;
	size_t n_sites = 0, i;
	int err;

	fg = flamegraph__new();
	if (!fg)
		return -ENOMEM;
	err = heapstate__sites(r->heap, &sites, &n_sites);
	for (i = 0; !err && i < n_sites; i++) {
		if (sites[i].inuse_bytes < 0.5)
			continue;
		err = report__flame_add(fg, r->stacks, r->syms,
					sites[i].stack_id,
					(uint64_t)llround(sites[i].inuse_bytes));
	}
	if (!err)
		err = flamegraph__write_svg(fg, path, &fo);
	free(sites);
	flamegraph__free(fg);
	return err;
}

static int cmp_site(const void *a, const void *b)
{
	const struct heap_site *x = a, *y = b;

	if (x->inuse_bytes != y->inuse_bytes)
		return x->inuse_bytes < y->inuse_bytes ? 1 : -1;
	if (x->alloc_bytes != y->alloc_bytes)
		return x->alloc_bytes < y->alloc_bytes ? 1 : -1;
	return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

static void print_frame(FILE *out, const struct sym_result *r, uint64_t pc)
{
	const char *file, *base;

	if (!r->n_frames || !r->frames[0].function) {
		fprintf(out, "0x%llx", (unsigned long long)pc);
		return;
	}
	/* innermost frame: an inlined callee is named, not its host */
	file = r->frames[0].file;
	base = file ? strrchr(file, '/') : NULL;
	fprintf(out, "%s", r->frames[0].function);
	if (file)
		fprintf(out, " (%s:%d)", base ? base + 1 : file,
			r->frames[0].line);
}

void heap_report__print_top(const struct heap_report *r, FILE *out, int top)
{
	struct heap_site *sites = NULL;
	size_t n = 0, i;

	if (heapstate__sites(r->heap, &sites, &n))
		return;
	qsort(sites, n, sizeof(*sites), cmp_site);
	fprintf(out, "top allocation sites by in-use bytes:\n");
	if (!n)
		fprintf(out, "  (no allocations recorded)\n");
	for (i = 0; i < n && (int)i < top; i++) {
		const struct heap_site *s = &sites[i];
		char inuse[32], alloc[32];
		struct stack_view v;
		uint32_t k;

		if (!stacks__get(r->stacks, s->stack_id, &v))
			continue;
		fmt__bytes(s->inuse_bytes, inuse, sizeof(inuse));
		fmt__bytes(s->alloc_bytes, alloc, sizeof(alloc));
		fprintf(out, "  %10s in use (%.0f objs), %10s allocated (%.0f objs)\n      ",
			inuse, s->inuse_objects, alloc, s->alloc_objects);
		for (k = 0; k < v.n && k < 4; k++) {
			bool ret = stack_view__is_return(&v, k);

			if (k)
				fprintf(out, "\n        <- ");
			print_frame(out, symcache__get(r->syms, v.pid, v.image,
						       v.pcs[k], ret),
				    v.pcs[k]);
		}
		if (v.n > 4)
			fprintf(out, "\n        <- ... (%u more)", v.n - 4);
		fputc('\n', out);
	}
	free(sites);
}

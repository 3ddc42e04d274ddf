// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * heap_report.c - heap profile sinks.
 *
 * pprof: sample types alloc_objects/count, alloc_space/bytes,
 * inuse_objects/count, inuse_space/bytes (the order Go's heap profiles
 * use), period_type space/bytes with the sampling mean as period, one
 * sample per stack. Each distinct pc is symbolized once.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap_report.h"
#include "pprof.h"
#include "symbolize.h"
#include "u64map.h"

#define HEAP_REPORT_MAX_FRAMES 256

static uint64_t intern_pc(struct pprof_builder *b, struct target *t,
			  struct u64map *locs, struct u64map *maps,
			  uint64_t pc, bool is_return)
{
	struct pprof_line lines[SYM_MAX_FRAMES];
	struct sym_result r;
	uint64_t *hit, mapping = 0, loc;
	int i;

	hit = u64map__get(locs, pc);
	if (hit)
		return *hit;
	if (symbolize__pc(t, pc, is_return, &r))
		return 0;
	if (r.module) {
		hit = u64map__get(maps, r.mod_start);
		if (hit) {
			mapping = *hit;
		} else {
			mapping = pprof_builder__add_mapping(
				b, r.mod_start, r.mod_end, 0, r.module,
				r.build_id[0] ? r.build_id : NULL,
				r.n_frames > 0, r.n_frames > 0 &&
				r.frames[0].file != NULL,
				r.n_frames > 0 && r.frames[0].line > 0);
			if (mapping)
				u64map__set(maps, r.mod_start, mapping);
		}
	}
	for (i = 0; i < r.n_frames; i++) {
		lines[i] = (struct pprof_line){
			.function = r.frames[i].function,
			.filename = r.frames[i].file,
			.line = r.frames[i].line,
		};
	}
	loc = pprof_builder__add_location(b, mapping, pc, lines,
					  (size_t)r.n_frames);
	sym_result__clear(&r);
	if (loc)
		u64map__set(locs, pc, loc);
	return loc;
}

int heap_report__write_pprof(const struct heap_report *r, const char *path)
{
	struct u64map locs = {}, maps = {};
	struct pprof_builder *b;
	struct heap_site *sites = NULL;
	uint64_t *ids = NULL;
	size_t n_sites = 0, i;
	int err;

	b = pprof_builder__new();
	if (!b)
		return -ENOMEM;
	err = heapstate__sites(r->heap, &sites, &n_sites);
	if (err)
		goto cleanup;
	if (pprof_builder__add_sample_type(b, "alloc_objects", "count") ||
	    pprof_builder__add_sample_type(b, "alloc_space", "bytes") ||
	    pprof_builder__add_sample_type(b, "inuse_objects", "count") ||
	    pprof_builder__add_sample_type(b, "inuse_space", "bytes")) {
		err = -ENOMEM;
		goto cleanup;
	}
	pprof_builder__set_period(b, "space", "bytes",
				  r->sample_bytes > 1 ? (int64_t)r->sample_bytes
						      : 1);
	pprof_builder__set_time(b, r->time_nanos, r->duration_nanos);
	pprof_builder__set_default_sample_type(b, "inuse_space");
	pprof_builder__add_comment(b, "memtel-bpf heap profile");

	ids = calloc(HEAP_REPORT_MAX_FRAMES, sizeof(*ids));
	if (!ids) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < n_sites; i++) {
		const struct heap_site *s = &sites[i];
		struct stack_view v;
		int64_t vals[4];
		uint32_t k, n = 0;

		if (!stacks__get(r->stacks, s->stack_id, &v))
			continue;
		for (k = 0; k < v.n && n < HEAP_REPORT_MAX_FRAMES; k++) {
			uint64_t loc = intern_pc(b, r->target, &locs, &maps,
						 v.pcs[k],
						 !(k == 0 && v.leaf_exact));

			if (loc)
				ids[n++] = loc;
		}
		vals[0] = llround(s->alloc_objects);
		vals[1] = llround(s->alloc_bytes);
		vals[2] = llround(s->inuse_objects);
		vals[3] = llround(s->inuse_bytes);
		err = pprof_builder__add_sample(b, ids, n, vals, 4, NULL, 0);
		if (err)
			goto cleanup;
	}
	err = pprof_builder__write_gz(b, path);
cleanup:
	free(ids);
	free(sites);
	u64map__free(&locs);
	u64map__free(&maps);
	pprof_builder__free(b);
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

static void human(double b, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (b >= 1024 && u < 4) {
		b /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

static void print_frame(FILE *out, struct target *t, uint64_t pc, bool ret)
{
	struct sym_result r;

	if (symbolize__pc(t, pc, ret, &r) || !r.n_frames ||
	    !r.frames[0].function) {
		fprintf(out, "0x%llx", (unsigned long long)pc);
	} else {
		const char *file = r.frames[0].file;
		const char *base = file ? strrchr(file, '/') : NULL;

		fprintf(out, "%s", r.frames[0].function);
		if (file)
			fprintf(out, " (%s:%d)", base ? base + 1 : file,
				r.frames[0].line);
	}
	sym_result__clear(&r);
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
		human(s->inuse_bytes, inuse, sizeof(inuse));
		human(s->alloc_bytes, alloc, sizeof(alloc));
		fprintf(out, "  %10s in use (%.0f objs), %10s allocated (%.0f objs)\n      ",
			inuse, s->inuse_objects, alloc, s->alloc_objects);
		for (k = 0; k < v.n && k < 4; k++) {
			if (k)
				fprintf(out, "\n        <- ");
			print_frame(out, r->target, v.pcs[k],
				    !(k == 0 && v.leaf_exact));
		}
		if (v.n > 4)
			fprintf(out, "\n        <- ... (%u more)", v.n - 4);
		fputc('\n', out);
	}
	free(sites);
}

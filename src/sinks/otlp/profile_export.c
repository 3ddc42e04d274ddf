// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * profile_export.c - windows of OTLP profiles. CPU counts and heap
 * allocation totals are cumulative in the aggregators; the sink keeps what
 * it sent last and exports the difference, timed as the window, so the sum
 * over every request equals the session's pprof files. In-use heap is a
 * live-heap snapshot at the end of the window: as the v1.11.0 profiles.proto
 * asks, it is timed from the process start (time_unix_nano) to now
 * (duration_nano). Each process gets its own Resource (process.pid,
 * executable); with --all that is one per process seen.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/fileio.h"
#include "util/log.h"
#include "sinks/otlp/otlp_profiles.h"
#include "sinks/otlp/otlp_resource.h"
#include "sinks/otlp/profile_export.h"
#include "util/u64map.h"

struct heap_last {
	double alloc_objects, alloc_bytes;
};

struct profile_export {
	struct profile_export_opts o;
	uint64_t last_ns;
	struct u64map cpu_last;		/* stack << 32 | tid -> count sent */
	struct u64map heap_last;	/* stack id -> struct heap_last * */
	struct u64map resources;	/* pid -> struct otlp_resource * */
	uint64_t proc_start_ns;		/* the target's start, 0 if unknown */
	uint64_t requests;
};

struct profile_export *profile_export__new(const struct profile_export_opts *o)
{
	struct profile_export *pe = calloc(1, sizeof(*pe));

	if (!pe)
		return NULL;
	pe->o = *o;
	pe->last_ns = o->start_unix_ns;
	return pe;
}

void profile_export__free(struct profile_export *pe)
{
	uint64_t k, v;
	size_t it = 0;

	if (!pe)
		return;
	while (u64map__next(&pe->heap_last, &it, &k, &v))
		free((void *)(uintptr_t)v);
	it = 0;
	while (u64map__next(&pe->resources, &it, &k, &v)) {
		otlp_resource__free((struct otlp_resource *)(uintptr_t)v);
		free((void *)(uintptr_t)v);
	}
	u64map__free(&pe->heap_last);
	u64map__free(&pe->cpu_last);
	u64map__free(&pe->resources);
	free(pe);
}

uint64_t profile_export__requests(const struct profile_export *pe)
{
	return pe->requests;
}

static const struct otlp_resource *resource(struct profile_export *pe,
					    uint32_t pid, const char *comm)
{
	uint64_t *hit = u64map__get(&pe->resources, pid);
	struct otlp_resource *r;
	struct target *t;
	const char *exe = NULL;

	if (hit)
		return (const struct otlp_resource *)(uintptr_t)*hit;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	t = targets__find(pe->o.targets, (pid_t)pid);
	if (t && target__exe(t)[0])
		exe = target__exe(t);
	if (otlp_resource__build(r, pe->o.otel, (pid_t)pid, exe ? exe : comm) ||
	    u64map__set(&pe->resources, pid, (uintptr_t)r)) {
		otlp_resource__free(r);
		free(r);
		return NULL;
	}
	return r;
}

/* When process pid started, in Unix ns: /proc/PID/stat's starttime (field
 * 22, clock ticks since boot, proc(5)) moved onto the real-time clock.
 * 0 if it cannot be read. */
static uint64_t proc_start_unix_ns(pid_t pid)
{
	unsigned long long ticks;
	uint64_t boot, real, start;
	char path[64], *text = NULL, *p;
	long hz = sysconf(_SC_CLK_TCK);
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (hz <= 0 || fileio__read_text(path, 0, 4096, &text, NULL))
		return 0;
	/* comm (field 2) may hold spaces and ')': skip past the last ')' */
	p = strrchr(text, ')');
	for (i = 2; p && i < 22; i++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %llu", &ticks) != 1) {
		free(text);
		return 0;
	}
	free(text);
	boot = clock__boot_ns();
	real = clock__real_ns();
	start = (uint64_t)(ticks / (unsigned long long)hz) * 1000000000ULL +
		(uint64_t)(ticks % (unsigned long long)hz) * 1000000000ULL /
			(uint64_t)hz;
	if (start > boot || real < boot - start)
		return 0;
	return real - (boot - start);
}

static int cmp_pid(const void *a, const void *b)
{
	const struct cpu_entry *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->stack_id != y->stack_id)
		return x->stack_id < y->stack_id ? -1 : 1;
	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

static int add_cpu(struct profile_export *pe, struct otlp_profiles *b,
		   uint64_t now)
{
	int64_t period = pe->o.freq ? 1000000000LL / pe->o.freq : 0;
	struct otlp_profile_desc d = {
		.period_type = "cpu", .period_unit = "nanoseconds",
		.period = period, .time_unix_nano = pe->last_ns,
		.duration_nano = now - pe->last_ns,
	};
	struct cpu_entry *e = NULL;
	size_t n = 0, i, j, start;
	int kind, err;

	err = cpustate__entries(pe->o.cpu, &e, &n);
	if (err)
		return err;
	if (n)	/* qsort(NULL, 0) is undefined */
		qsort(e, n, sizeof(*e), cmp_pid);
	for (start = 0; start < n; start = j) {
		const struct otlp_resource *res;
		bool any = false;

		for (j = start; j < n && e[j].pid == e[start].pid; j++) {
			uint64_t *last = u64map__get(&pe->cpu_last,
				(uint64_t)e[j].stack_id << 32 | e[j].tid);

			if (e[j].count != (last ? *last : 0))
				any = true;
		}
		if (!any)
			continue;	/* nothing new from this process */
		res = resource(pe, e[start].pid, e[start].comm);
		if (!res) {
			err = -ENOMEM;
			goto cleanup;
		}
		for (kind = 0; kind < 2; kind++) {
			d.type = kind ? "cpu" : "samples";
			d.unit = kind ? "nanoseconds" : "count";
			err = otlp_profiles__begin(b, e[start].pid, res, &d);
			if (err)
				goto cleanup;
			for (i = start; i < j; i++) {
				uint64_t *last = u64map__get(&pe->cpu_last,
					(uint64_t)e[i].stack_id << 32 | e[i].tid);
				uint64_t delta = e[i].count - (last ? *last : 0);

				if (!delta)
					continue;
				err = otlp_profiles__sample(
					b, e[i].stack_id,
					kind ? (int64_t)delta * period
					     : (int64_t)delta,
					e[i].tid, e[i].comm);
				if (err)
					goto cleanup;
			}
		}
	}
	for (i = 0; i < n; i++)
		if (u64map__set(&pe->cpu_last,
				(uint64_t)e[i].stack_id << 32 | e[i].tid,
				e[i].count))
			err = -ENOMEM;
cleanup:
	free(e);
	return err;
}

/* The process of each heap site (its stack's), into a new array. */
static uint32_t *site_pids(const struct profile_export *pe,
			   const struct heap_site *s, size_t n)
{
	uint32_t *pids = calloc(n ? n : 1, sizeof(*pids));
	struct stack_view v;
	size_t i;

	for (i = 0; pids && i < n; i++)
		pids[i] = stacks__get(pe->o.stacks, s[i].stack_id, &v) ? v.pid
								      : 0;
	return pids;
}

/* When process pid's in-use figures start: its own start, or for one
 * that vanished (or a clock set back) the session's. */
static uint64_t inuse_start(struct profile_export *pe, uint32_t pid,
			    uint64_t now)
{
	uint64_t start;

	if (pid == (uint32_t)pe->o.pid) {
		if (!pe->proc_start_ns)
			pe->proc_start_ns = proc_start_unix_ns(pe->o.pid);
		start = pe->proc_start_ns;
	} else {
		start = proc_start_unix_ns((pid_t)pid);
	}
	return start && start <= now ? start : pe->o.start_unix_ns;
}

/* The 4 heap profiles of one process (its sites: pids[i] == pid). */
static int add_heap_process(struct profile_export *pe,
			    struct otlp_profiles *b, uint64_t now,
			    const struct heap_site *s, const uint32_t *pids,
			    size_t n, uint32_t pid)
{
	static const char *const types[4][2] = {
		{ "alloc_objects", "count" }, { "alloc_space", "bytes" },
		{ "inuse_objects", "count" }, { "inuse_space", "bytes" },
	};
	struct otlp_profile_desc d = {
		.period_type = "space", .period_unit = "bytes",
		.period = pe->o.sample_bytes > 1 ? (int64_t)pe->o.sample_bytes
						 : 1,
	};
	const struct otlp_resource *res;
	uint64_t start;
	size_t i;
	int k, err;

	res = resource(pe, pid, NULL);
	if (!res)
		return -ENOMEM;
	start = inuse_start(pe, pid, now);
	for (k = 0; k < 4; k++) {
		d.type = types[k][0];
		d.unit = types[k][1];
		/* allocations of the window; in use: since the process start */
		d.time_unix_nano = k < 2 ? pe->last_ns : start;
		d.duration_nano = now - d.time_unix_nano;
		err = otlp_profiles__begin(b, pid, res, &d);
		if (err)
			return err;
		for (i = 0; i < n; i++) {
			uint64_t *hit = u64map__get(&pe->heap_last,
						    s[i].stack_id);
			const struct heap_last *l = hit ?
				(const struct heap_last *)(uintptr_t)*hit : NULL;
			double v, u = 0;

			if (pids[i] != pid)
				continue;
			switch (k) {
			case 0:
				v = s[i].alloc_objects - (l ? l->alloc_objects : 0);
				break;
			case 1:
				v = s[i].alloc_bytes - (l ? l->alloc_bytes : 0);
				break;
			case 2:
				v = s[i].inuse_objects - s[i].unverified_objects;
				u = s[i].unverified_objects;
				break;
			default:
				v = s[i].inuse_bytes - s[i].unverified_bytes;
				u = s[i].unverified_bytes;
			}
			err = llround(u) ? otlp_profiles__sample_unverified(
						b, s[i].stack_id, llround(u)) : 0;
			if (err)
				return err;
			if (llround(v) == 0)
				continue;
			err = otlp_profiles__sample(b, s[i].stack_id,
						    llround(v), 0, NULL);
			if (err)
				return err;
		}
	}
	return 0;
}

/* Heap profiles: one Resource per process, as for CPU. */
static int add_heap(struct profile_export *pe, struct otlp_profiles *b,
		    uint64_t now)
{
	struct u64map done = {};
	struct heap_site *s = NULL;
	uint32_t *pids = NULL;
	size_t n = 0, i;
	int err;

	err = heapstate__sites(pe->o.heap, &s, &n);
	if (err)
		return err;
	pids = site_pids(pe, s, n);
	if (!pids) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* the session's target first, even with no sites (as before) */
	err = add_heap_process(pe, b, now, s, pids, n, (uint32_t)pe->o.pid) ?:
	      u64map__set(&done, (uint32_t)pe->o.pid, 1);
	for (i = 0; !err && i < n; i++) {
		if (u64map__get(&done, pids[i]))
			continue;
		err = add_heap_process(pe, b, now, s, pids, n, pids[i]) ?:
		      u64map__set(&done, pids[i], 1);
	}
	if (err)
		goto cleanup;
	for (i = 0; i < n; i++) {
		uint64_t *hit = u64map__get(&pe->heap_last, s[i].stack_id);
		struct heap_last *l = hit ? (struct heap_last *)(uintptr_t)*hit
					  : calloc(1, sizeof(*l));

		if (!l) {
			err = -ENOMEM;
			goto cleanup;
		}
		/* what was sent, rounded, so rounding never accumulates */
		l->alloc_objects += (double)llround(s[i].alloc_objects -
						    l->alloc_objects);
		l->alloc_bytes += (double)llround(s[i].alloc_bytes -
						  l->alloc_bytes);
		if (!hit && u64map__set(&pe->heap_last, s[i].stack_id,
					(uintptr_t)l)) {
			free(l);
			err = -ENOMEM;
			goto cleanup;
		}
	}
cleanup:
	u64map__free(&done);
	free(pids);
	free(s);
	return err;
}

int profile_export__window(struct profile_export *pe, uint64_t now_unix_ns)
{
	struct otlp_profiles *b;
	uint8_t *buf = NULL;
	size_t len = 0;
	int err = 0;

	b = otlp_profiles__new(pe->o.stacks, pe->o.syms);
	if (!b)
		return -ENOMEM;
	if (pe->o.cpu)
		err = add_cpu(pe, b, now_unix_ns);
	if (!err && pe->o.heap && pe->o.pid)
		err = add_heap(pe, b, now_unix_ns);
	if (!err && otlp_profiles__count(b))
		err = otlp_profiles__encode(b, &buf, &len);
	otlp_profiles__free(b);
	if (err)
		return err;
	pe->last_ns = now_unix_ns;
	if (!buf)
		return 0;
	pe->requests++;
	return otlp_exporter__enqueue(pe->o.exp, OTLP_PROFILES, buf, len);
}

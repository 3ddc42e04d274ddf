// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cpustate.c - CPU sample counts keyed by (stack id, tid); thread names by
 * tid (the last name seen wins: threads rename themselves).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/cpustate.h"
#include "util/u64map.h"

struct thread_info {
	uint32_t pid;
	char comm[MT_COMM_LEN + 1];
};

struct cpustate {
	struct u64map counts;	/* stack_id << 32 | tid -> count */
	struct u64map threads;	/* tid -> struct thread_info * */
	uint64_t total;
};

struct cpustate *cpustate__new(void)
{
	return calloc(1, sizeof(struct cpustate));
}

void cpustate__free(struct cpustate *c)
{
	uint64_t k, v;
	size_t it = 0;

	if (!c)
		return;
	while (u64map__next(&c->threads, &it, &k, &v))
		free((void *)(uintptr_t)v);
	u64map__free(&c->threads);
	u64map__free(&c->counts);
	free(c);
}

int cpustate__add(struct cpustate *c, uint32_t stack_id, uint32_t pid,
		  uint32_t tid, const char *comm)
{
	uint64_t key = (uint64_t)stack_id << 32 | tid, *v, *tv;
	struct thread_info *ti;

	tv = u64map__get(&c->threads, tid);
	if (tv) {
		ti = (struct thread_info *)(uintptr_t)*tv;
	} else {
		ti = calloc(1, sizeof(*ti));
		if (!ti || u64map__set(&c->threads, tid, (uintptr_t)ti)) {
			free(ti);
			return -ENOMEM;
		}
	}
	ti->pid = pid;
	strncpy(ti->comm, comm, MT_COMM_LEN);
	ti->comm[MT_COMM_LEN] = '\0';

	v = u64map__get(&c->counts, key);
	if (v)
		(*v)++;
	else if (u64map__set(&c->counts, key, 1))
		return -ENOMEM;
	c->total++;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct cpu_entry *x = a, *y = b;

	if (x->stack_id != y->stack_id)
		return x->stack_id < y->stack_id ? -1 : 1;
	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

int cpustate__entries(struct cpustate *c, struct cpu_entry **out, size_t *n)
{
	struct cpu_entry *v;
	uint64_t key, cnt;
	size_t it = 0, i = 0;

	v = calloc(c->counts.len ? c->counts.len : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	while (u64map__next(&c->counts, &it, &key, &cnt)) {
		uint64_t *tv = u64map__get(&c->threads, (uint32_t)key);
		const struct thread_info *ti =
			tv ? (const struct thread_info *)(uintptr_t)*tv : NULL;

		v[i].stack_id = (uint32_t)(key >> 32);
		v[i].tid = (uint32_t)key;
		v[i].pid = ti ? ti->pid : 0;
		v[i].comm = ti ? ti->comm : "";
		v[i].count = cnt;
		i++;
	}
	qsort(v, i, sizeof(*v), cmp_entry);
	*out = v;
	*n = i;
	return 0;
}

uint64_t cpustate__total(const struct cpustate *c)
{
	return c->total;
}

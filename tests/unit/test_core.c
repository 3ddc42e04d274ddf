// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_core.c - the loader's own data structures: the u64 hash map, stack
 * interning, and the heap and CPU aggregators (kallsyms: test_ksyms.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/cpustate.h"
#include "model/heapstate.h"
#include "model/sampling.h"
#include "model/stacks.h"
#include "util/u64map.h"

static void test_u64map_basic(void **state)
{
	struct u64map m = {};
	uint64_t v, k, sum = 0;
	size_t it = 0, n = 0;
	int i;

	(void)state;
	assert_null(u64map__get(&m, 1));
	for (i = 0; i < 100000; i++)
		assert_int_equal(u64map__set(&m, (uint64_t)i * 4096, i), 0);
	assert_int_equal(m.len, 100000);
	assert_int_equal(*u64map__get(&m, 4096 * 777), 777);
	assert_int_equal(u64map__set(&m, 4096 * 777, 1), 0);	/* replace */
	assert_int_equal(*u64map__get(&m, 4096 * 777), 1);
	assert_int_equal(m.len, 100000);
	for (i = 0; i < 100000; i += 2)
		assert_true(u64map__del(&m, (uint64_t)i * 4096, NULL));
	assert_false(u64map__del(&m, 0, NULL));
	assert_int_equal(m.len, 50000);
	assert_null(u64map__get(&m, 4096 * 2));
	assert_true(u64map__del(&m, 4096 * 3, &v));
	assert_int_equal(v, 3);
	while (u64map__next(&m, &it, &k, &v)) {
		assert_int_equal(k % 8192, 4096);
		sum += v;
		n++;
	}
	assert_int_equal(n, 49999);
	/* tombstones are reused and do not grow the table forever */
	for (i = 0; i < 1000000; i++) {
		assert_int_equal(u64map__set(&m, 1ULL << 40, i), 0);
		assert_true(u64map__del(&m, 1ULL << 40, NULL));
	}
	assert_true(m.cap <= 1 << 18);
	u64map__free(&m);
	u64map__free(&m);	/* idempotent */
}

static void test_stacks_intern(void **state)
{
	uint64_t a[] = { 1, 2, 3 }, b[] = { 1, 2, 4 };
	struct stacks *s = stacks__new();
	struct stack_view v;
	uint32_t ia, ib;
	int i;

	(void)state;
	assert_non_null(s);
	ia = stacks__intern(s, 10, 0, a, 3, false);
	ib = stacks__intern(s, 10, 0, b, 3, false);
	assert_true(ia >= 1 && ib >= 1 && ia != ib);
	assert_int_equal(stacks__intern(s, 10, 0, a, 3, false), ia);
	/* same pcs, other process or other leaf kind: another stack */
	assert_int_not_equal(stacks__intern(s, 11, 0, a, 3, false), ia);
	assert_int_not_equal(stacks__intern(s, 10, 0, a, 3, true), ia);
	assert_int_not_equal(stacks__intern(s, 10, 0, a, 2, false), ia);
	/* same pid and pcs, another image of it (an exec, a reused pid):
	 * another stack, which says its image */
	ib = stacks__intern(s, 10, 2, b, 3, false);
	assert_true(ib >= 1 && ib != stacks__intern(s, 10, 0, b, 3, false));
	assert_true(stacks__get(s, ib, &v));
	assert_int_equal(v.image, 2);
	assert_true(stacks__get(s, ia, &v));
	assert_int_equal(v.n, 3);
	assert_int_equal(v.pid, 10);
	assert_int_equal(v.pcs[2], 3);
	assert_false(stacks__get(s, 0, &v));
	assert_false(stacks__get(s, 9999, &v));
	for (i = 0; i < 50000; i++) {
		uint64_t pcs[2] = { (uint64_t)i, 7 };

		assert_int_not_equal(stacks__intern(s, 1, 0, pcs, 2, false), 0);
	}
	assert_int_equal(stacks__count(s), 6 + 50000);
	/* ids stay valid after growth */
	assert_true(stacks__get(s, ib, &v));
	assert_int_equal(v.pcs[2], 4);
	stacks__free(s);
}

static struct heap_site *find_site(struct heap_site *v, size_t n, uint32_t id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].stack_id == id)
			return &v[i];
	return NULL;
}

/* A forked child has its parent's addresses: the same address in two
 * processes is two blocks, and one's free never frees the other's. */
static void test_heapstate_per_process(void **state)
{
	struct heapstate *h = heapstate__new(1);
	struct heap_totals t;
	uint32_t pid;

	(void)state;
	assert_non_null(h);
	for (pid = 100; pid < 164; pid++)
		assert_int_equal(heapstate__alloc(h, pid, 0x1000, 1, 10,
						  MT_OP_MALLOC, 0), 0);
	assert_true(heapstate__free_block(h, 101, 0x1000));
	assert_false(heapstate__free_block(h, 101, 0x1000));
	assert_false(heapstate__free_block(h, 999, 0x1000));	/* unknown pid */
	heapstate__totals(h, &t);
	assert_true(t.inuse_objects == 63 && t.inuse_bytes == 630);
	assert_true(heapstate__free_block(h, 100, 0x1000));
	heapstate__totals(h, &t);
	assert_true(t.inuse_objects == 62);
	heapstate__free(h);
}

static void test_heapstate_exact(void **state)
{
	struct heapstate *h = heapstate__new(1);
	struct heap_site *v, *s;
	struct heap_totals t;
	size_t n;

	(void)state;
	assert_non_null(h);
	/* stack 1: 3 blocks, one freed; stack 2: realloc-like move */
	assert_int_equal(heapstate__alloc(h, 1, 0x1000, 1, 100, MT_OP_MALLOC, 0), 0);
	assert_int_equal(heapstate__alloc(h, 1, 0x2000, 1, 100, MT_OP_MALLOC, 0), 0);
	assert_int_equal(heapstate__alloc(h, 1, 0x3000, 1, 100, MT_OP_MALLOC, 0), 0);
	assert_true(heapstate__free_block(h, 1, 0x2000));
	assert_false(heapstate__free_block(h, 1, 0x2000));	/* double free */
	assert_false(heapstate__free_block(h, 1, 0x9999));	/* not sampled */
	assert_int_equal(heapstate__alloc(h, 1, 0x4000, 2, 50, MT_OP_MALLOC, 0), 0);
	assert_true(heapstate__free_block(h, 1, 0x4000));
	assert_int_equal(heapstate__alloc(h, 1, 0x5000, 2, 80, MT_OP_REALLOC, 0), 0);
	/* a block whose free was lost: replaced, counted as allocated */
	assert_int_equal(heapstate__alloc(h, 1, 0x1000, 2, 10, MT_OP_MALLOC, 0), 0);

	assert_int_equal(heapstate__sites(h, &v, &n), 0);
	assert_int_equal(n, 2);
	s = find_site(v, n, 1);
	assert_non_null(s);
	assert_true(s->alloc_objects == 3 && s->alloc_bytes == 300);
	assert_true(s->inuse_objects == 1 && s->inuse_bytes == 100);
	s = find_site(v, n, 2);
	assert_true(s->alloc_objects == 3 && s->alloc_bytes == 140);
	assert_true(s->inuse_objects == 2 && s->inuse_bytes == 90);
	free(v);
	heapstate__totals(h, &t);
	assert_true(t.alloc_objects == 6 && t.inuse_objects == 3);
	assert_true(t.inuse_bytes == 190);
	assert_int_equal(t.op_count[MT_OP_REALLOC], 1);
	heapstate__free(h);
}

static void test_heapstate_scaled(void **state)
{
	struct heapstate *h = heapstate__new(524288);
	struct heap_site *v;
	double w = sampling__scale(1000, 524288);
	size_t n;

	(void)state;
	/* a sampled 1000-byte block stands for ~524 blocks */
	assert_true(w > 524 && w < 526);
	assert_int_equal(heapstate__alloc(h, 1, 0x10, 1, 1000, MT_OP_MALLOC, 0), 0);
	assert_int_equal(heapstate__alloc(h, 1, 0x20, 1, 1 << 26, MT_OP_MALLOC, 0), 0);
	assert_int_equal(heapstate__sites(h, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_true(fabs(v[0].alloc_objects - (w + 1.0)) < 1e-6);
	assert_true(fabs(v[0].alloc_bytes - (w * 1000 + (1 << 26))) < 1);
	free(v);
	heapstate__free(h);
}

/* A Go block carries the Go runtime's weight, not the session's mean; its
 * free (the sweeper's) takes off what it added, and an op outside the
 * probe table is not counted there. */
static void test_heapstate_weighted(void **state)
{
	struct heapstate *h = heapstate__new(1);
	struct heap_totals t;
	double w = sampling__scale(65536, 524288);

	(void)state;
	assert_int_equal(heapstate__alloc_weighted(h, 1, 0x10, 1, 65536,
						   MT_OP_GO_MALLOC, 0, w), 0);
	assert_int_equal(heapstate__alloc(h, 1, 0x20, 1, 100, MT_OP_MALLOC, 0), 0);
	heapstate__totals(h, &t);
	assert_true(fabs(t.inuse_bytes - (w * 65536 + 100)) < 1e-3);
	assert_true(fabs(t.alloc_objects - (w + 1)) < 1e-9);
	assert_int_equal(t.op_count[MT_OP_MALLOC], 1);
	assert_true(heapstate__free_block(h, 1, 0x10));
	heapstate__totals(h, &t);
	assert_true(fabs(t.inuse_bytes - 100) < 1e-3);
	assert_true(fabs(t.inuse_objects - 1) < 1e-9);
	heapstate__free(h);
}

static void test_cpustate(void **state)
{
	struct cpustate *c = cpustate__new();
	struct cpu_entry *e;
	size_t n;

	(void)state;
	assert_int_equal(cpustate__add(c, 5, 100, 101, "worker-1"), 0);
	assert_int_equal(cpustate__add(c, 5, 100, 101, "worker-1"), 0);
	assert_int_equal(cpustate__add(c, 5, 100, 102, "worker-2"), 0);
	assert_int_equal(cpustate__add(c, 3, 100, 101, "renamed"), 0);
	assert_int_equal(cpustate__total(c), 4);
	assert_int_equal(cpustate__entries(c, &e, &n), 0);
	assert_int_equal(n, 3);
	/* ordered by stack id, then tid */
	assert_int_equal(e[0].stack_id, 3);
	assert_int_equal(e[1].stack_id, 5);
	assert_int_equal(e[1].tid, 101);
	assert_int_equal(e[1].count, 2);
	assert_int_equal(e[2].tid, 102);
	assert_int_equal(e[2].pid, 100);
	assert_string_equal(e[1].comm, "renamed");	/* last name wins */
	assert_string_equal(e[2].comm, "worker-2");
	free(e);
	cpustate__free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_u64map_basic),
		cmocka_unit_test(test_stacks_intern),
		cmocka_unit_test(test_heapstate_exact),
		cmocka_unit_test(test_heapstate_per_process),
		cmocka_unit_test(test_heapstate_scaled),
		cmocka_unit_test(test_heapstate_weighted),
		cmocka_unit_test(test_cpustate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

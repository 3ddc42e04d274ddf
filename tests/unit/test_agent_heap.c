// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_agent_heap.c - cli/agent_heap.c without BPF: it hooks itself into
 * the collector (heap routing, fork/exec notices) and unhooks at free;
 * with selectors that match no process on this host it has no target,
 * answers no snapshot for any pid, closes empty windows and writes no
 * file, and a fork notice of a process that is no target is not taken.
 * Attaching real targets is tests/integration/agent_heap_target.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli/agent_heap.h"
#include "symbolize/symdb.h"

static void test_no_match(void **state)
{
	struct selector_set *sel = calloc(1, sizeof(*sel));
	struct targets *tg = targets__new(0);
	struct symdb *db = symdb__new();
	struct stacks *st = stacks__new();
	struct collector c;
	struct agent_heap *h;
	struct heapstate *hs;
	struct memmetrics *mm;
	uint64_t files = 0;
	char dir[] = "/tmp/test_agent_heap.XXXXXX";

	(void)state;
	assert_non_null(sel);
	assert_non_null(tg);
	assert_non_null(db);
	assert_non_null(st);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(collector__init(&c, tg, st, NULL, NULL, NULL), 0);
	/* names no process on this host has */
	assert_int_equal(selector_set__add(sel, "comm=zz-no-such-1", NULL, 0),
			 0);
	assert_int_equal(selector_set__add(sel, "cgroup=/memtel/none/here",
					   NULL, 0), 0);
	h = agent_heap__new(&(struct agent_heap_opts){
		.sel = sel, .max_targets = 4, .sample_bytes = 4096,
		.targets = tg, .symdb = db, .coll = &c,
	});
	assert_non_null(h);
	assert_non_null(c.heap_of);
	assert_ptr_equal(c.heap_ctx, h);
	assert_non_null(c.on_proc);
	assert_non_null(c.heap_stacks);
	assert_int_equal(agent_heap__count(h), 0);
	assert_null(agent_heap__snapshot(h, getpid()));
	assert_null(agent_heap__self(h, getpid()));
	/* no target: a heap record of any pid finds no model */
	assert_false(c.heap_of(c.heap_ctx, (uint32_t)getpid(), &hs, &mm));
	agent_heap__poll(h);
	assert_int_equal(agent_heap__count(h), 0);
	assert_int_equal(agent_heap__window(h, 1e9, dir, &files), 0);
	assert_int_equal(files, 0);
	assert_int_equal(agent_heap__refused(h), 0);
	assert_int_equal(agent_heap__attached(h), 0);
	assert_int_equal(agent_heap__released(h), 0);
	agent_heap__free(h);
	assert_null(c.heap_of);
	assert_null(c.on_proc);
	assert_null(c.heap_stacks);
	assert_int_equal(rmdir(dir), 0);	/* nothing written in it */
	collector__fini(&c);
	stacks__free(st);
	symdb__free(db);
	targets__free(tg);
	free(sel);
	/* the NULL-safe getters the agent calls without heap targets */
	assert_int_equal(agent_heap__count(NULL), 0);
	assert_null(agent_heap__snapshot(NULL, 1));
	assert_int_equal(agent_heap__refused(NULL), 0);
	agent_heap__free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

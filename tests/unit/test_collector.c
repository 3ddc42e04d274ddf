// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_collector.c - the collect stage fed crafted ring-buffer records, as
 * the BPF side (or a mismatched one) could send them: an ENTER/RET pair
 * becomes one live block on the caller's stack (the allocator's frame
 * dropped), a RET without its ENTER is an orphan, a truncated or lying
 * record is counted as an error and never read past its size, a FREE
 * retires the block. The pid is one that cannot be opened, so unwinding
 * takes the no-target path: pc, then the return address at [rsp].
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <unistd.h>

#include "collect/collector.h"

#define PID 0x7ffffff0u	/* beyond pid_max: never a real process */
#define TID 77

struct fixture {
	struct targets *tg;
	struct stacks *st;
	struct heapstate *heap;
	struct collector c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->tg = targets__new(0);	/* opens nothing */
	f->st = stacks__new();
	f->heap = heapstate__new(1);
	if (!f->tg || !f->st || !f->heap ||
	    collector__init(&f->c, f->tg, f->st, f->heap, NULL, NULL))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	collector__fini(&f->c);
	heapstate__free(f->heap);
	stacks__free(f->st);
	targets__free(f->tg);
	free(f);
	return 0;
}

static struct mt_alloc_enter *enter_rec(uint64_t rip, uint64_t ret_addr,
					size_t *size)
{
	struct mt_alloc_enter *e = calloc(1, sizeof(*e));

	e->hdr.type = MT_EV_ALLOC_ENTER;
	e->hdr.op = MT_OP_MALLOC;
	e->hdr.pid = PID;
	e->hdr.tid = TID;
	e->regs[MT_REG_RIP] = rip;
	e->regs[MT_REG_RSP] = 0x7fff0000;
	e->stack_len = 16;
	memcpy(e->stack, &ret_addr, sizeof(ret_addr));
	*size = offsetof(struct mt_alloc_enter, stack) + e->stack_len;
	return e;
}

static void send_ret(struct collector *c, uint64_t addr)
{
	struct mt_alloc_ret r = {
		.hdr = { .type = MT_EV_ALLOC_RET, .op = MT_OP_MALLOC,
			 .pid = PID, .tid = TID },
		.addr = addr, .size = 100,
	};

	collector__on_event(c, &r, sizeof(r));
}

struct live {
	size_t n;
	uint32_t stack_id;
	uint64_t size;
};

static int count_live(const struct heap_block *b, void *ctx)
{
	struct live *l = ctx;

	l->n++;
	l->stack_id = b->stack_id;
	l->size = b->size;
	return 0;
}

static void test_enter_ret_free(void **state)
{
	struct fixture *f = *state;
	struct live l = { 0 };
	struct stack_view v;
	size_t size;
	struct mt_alloc_enter *e = enter_rec(0x401000, 0x402345, &size);
	struct mt_free fr = {
		.hdr = { .type = MT_EV_FREE, .pid = PID, .tid = TID },
		.addr = 0xa000,
	};

	assert_int_equal(collector__on_event(&f->c, e, size), 0);
	send_ret(&f->c, 0xa000);
	assert_int_equal(f->c.errors, 0);
	assert_int_equal(f->c.orphans, 0);
	heapstate__foreach_live(f->heap, count_live, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.size, 100);
	/* the block's stack is the caller's: the allocator's pc is dropped */
	assert_true(stacks__get(f->st, l.stack_id, &v));
	assert_int_equal(v.pid, PID);
	assert_int_equal(v.n, 1);
	assert_true(v.pcs[0] == 0x402345);
	assert_false(v.leaf_exact);

	/* the RET consumed the pending ENTER: a second RET is an orphan */
	send_ret(&f->c, 0xb000);
	assert_int_equal(f->c.orphans, 1);

	collector__on_event(&f->c, &fr, sizeof(fr));
	l.n = 0;
	heapstate__foreach_live(f->heap, count_live, &l);
	assert_int_equal(l.n, 0);
	free(e);
}

static void test_failed_call(void **state)
{
	struct fixture *f = *state;
	struct live l = { 0 };
	size_t size;
	struct mt_alloc_enter *e = enter_rec(0x401000, 0x402345, &size);

	collector__on_event(&f->c, e, size);
	send_ret(&f->c, 0);	/* malloc returned NULL */
	heapstate__foreach_live(f->heap, count_live, &l);
	assert_int_equal(l.n, 0);
	assert_int_equal(f->c.orphans, 0);
	free(e);
}

/* The agent's routing: heap_of picks the model per pid (none: dropped);
 * heap stacks go to their own table. */
static struct heapstate *routed;

static bool route(void *ctx, uint32_t pid, struct heapstate **h,
		  struct memmetrics **mm)
{
	(void)ctx;
	*h = pid == PID ? routed : NULL;
	*mm = NULL;
	return pid == PID;
}

static void test_heap_routing(void **state)
{
	struct fixture *f = *state;
	struct stacks *own = stacks__new();
	struct live l = { 0 };
	struct stack_view v;
	size_t size;
	struct mt_alloc_enter *e = enter_rec(0x401000, 0x402345, &size);
	struct mt_free fr = {
		.hdr = { .type = MT_EV_FREE, .pid = PID, .tid = TID },
		.addr = 0xa000,
	};

	routed = heapstate__new(1);
	assert_non_null(own);
	assert_non_null(routed);
	f->c.heap = NULL;	/* the agent has no session heap */
	f->c.heap_of = route;
	collector__set_heap_stacks(&f->c, own, NULL);
	collector__on_event(&f->c, e, size);
	send_ret(&f->c, 0xa000);
	heapstate__foreach_live(routed, count_live, &l);
	assert_int_equal(l.n, 1);
	assert_true(stacks__get(own, l.stack_id, &v));
	assert_int_equal(stacks__count(f->st), 0);
	/* a pid with no model: its records are dropped, not misfiled */
	e->hdr.pid = PID + 1;
	collector__on_event(&f->c, e, size);
	{
		struct mt_alloc_ret r = {
			.hdr = { .type = MT_EV_ALLOC_RET, .op = MT_OP_MALLOC,
				 .pid = PID + 1, .tid = TID },
			.addr = 0xc000, .size = 100,
		};

		collector__on_event(&f->c, &r, sizeof(r));
	}
	l.n = 0;
	heapstate__foreach_live(routed, count_live, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(f->c.errors, 0);
	collector__on_event(&f->c, &fr, sizeof(fr));
	l.n = 0;
	heapstate__foreach_live(routed, count_live, &l);
	assert_int_equal(l.n, 0);
	collector__set_heap_stacks(&f->c, NULL, NULL);
	f->c.heap_of = NULL;
	stacks__free(own);
	heapstate__free(routed);
	free(e);
}

static void test_malformed(void **state)
{
	struct fixture *f = *state;
	struct mt_event_hdr h = { .type = 999, .pid = PID, .tid = TID };
	struct live l = { 0 };
	size_t size;
	struct mt_alloc_enter *e = enter_rec(0x401000, 0x402345, &size);

	/* shorter than a header */
	collector__on_event(&f->c, &h, 4);
	assert_int_equal(f->c.errors, 1);
	/* unknown type */
	collector__on_event(&f->c, &h, sizeof(h));
	assert_int_equal(f->c.errors, 2);
	/* ENTER cut before its stack */
	collector__on_event(&f->c, e, offsetof(struct mt_alloc_enter, stack) - 1);
	assert_int_equal(f->c.errors, 3);
	/* ENTER claiming more stack than it carries */
	e->stack_len = 4096;
	collector__on_event(&f->c, e, offsetof(struct mt_alloc_enter, stack) + 16);
	assert_int_equal(f->c.errors, 4);
	/* none of them left a pending entry: the RET is an orphan */
	send_ret(&f->c, 0xc000);
	assert_int_equal(f->c.orphans, 1);
	heapstate__foreach_live(f->heap, count_live, &l);
	assert_int_equal(l.n, 0);
	/* a RET record too short is ignored, not read past */
	{
		struct mt_alloc_ret r = { .hdr = { .type = MT_EV_ALLOC_RET } };

		collector__on_event(&f->c, &r, sizeof(r.hdr));
		assert_int_equal(f->c.orphans, 1);
	}
	assert_int_equal(f->c.events, 6);
	free(e);
}

static void send_stack_ret(struct collector *c, uint32_t tgid,
			   uint64_t hash, uint64_t addr)
{
	struct mt_alloc_stack_ret e = {
		.hdr = { .type = MT_EV_ALLOC_STACK_RET, .op = MT_OP_MALLOC,
			 .pid = PID, .tid = TID },
		.key = { .tgid = tgid, .hash = hash },
		.nr = 3,
		.addr = addr,
		.size = 64,
	};

	collector__on_event(c, &e, sizeof(e));
}

/* Stacks unwound in BPF, one record per call: read once from the kernel's
 * map per key, the allocator's frame dropped as for a window; a key
 * naming another process is not looked up, and its call is an orphan. */
static void test_bpf_stack(void **state)
{
	struct fixture *f = *state;
	struct mt_stack_key k = { .tgid = PID, .hash = 77 };
	static struct mt_ustack us = { .nr = 3, .pcs = { 0x7f0010, 0x401234,
							 0x405678 } };
	struct bpfunwind_maps m = { .rows = -1, .files = -1, .procs = -1 };
	struct bpfunwind_stats st;
	struct live l = { 0 };
	struct stack_view v;

	m.stacks = bpf_map_create(BPF_MAP_TYPE_HASH, "t_stacks", sizeof(k),
				  sizeof(us), 8, NULL);
	if (m.stacks < 0)
		skip();
	assert_int_equal(bpf_map_update_elem(m.stacks, &k, &us, BPF_ANY), 0);
	f->c.bu = bpfunwind__new(&m);
	assert_non_null(f->c.bu);

	send_stack_ret(&f->c, PID, 77, 0x1000);
	send_stack_ret(&f->c, PID, 77, 0x2000);
	heapstate__foreach_live(f->heap, count_live, &l);
	assert_int_equal(l.n, 2);
	bpfunwind__stats(f->c.bu, &st);
	assert_int_equal(st.stacks, 1);
	assert_true(stacks__get(f->st, l.stack_id, &v));
	assert_int_equal(v.n, 2);
	assert_int_equal(v.pcs[0], 0x401234);
	assert_int_equal(f->c.bpf_stacks, 2);

	send_stack_ret(&f->c, PID + 1, 77, 0x3000);
	assert_int_equal(f->c.bpf_stack_lost, 1);
	assert_int_equal(f->c.orphans, 1);
	l.n = 0;
	heapstate__foreach_live(f->heap, count_live, &l);
	assert_int_equal(l.n, 2);

	bpfunwind__free(f->c.bu);
	f->c.bu = NULL;
	close(m.stacks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_enter_ret_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bpf_stack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heap_routing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

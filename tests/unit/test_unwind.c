// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_unwind.c - the CFI unwinder on a copied stack of this very process,
 * the way a sample arrives: registers (from getcontext, in DWARF order)
 * and a copy of the stack from rsp. A chain unwind_outer -> unwind_middle
 * -> unwind_inner must come back leaf first with every caller found, and
 * a copy cut short must end the walk, not read beyond it. The walk on
 * CFI rows (the fast path) must give libdwfl's pcs, and be the one taken.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>
#include <cmocka.h>

#include "process/procmaps.h"
#include "symbolize/symcache.h"
#include "symbolize/symdb.h"
#include "unwind/unwind.h"

#define COPY 8192

static uint64_t regs[MT_NREGS];
static uint8_t stack_copy[COPY];
static uint64_t stack_end;	/* end of the mapping holding our stack */
static size_t copy_len;		/* bytes of stack_copy filled */

/* The stack as BPF copies it: raw bytes, ASan's redzones included (a
 * sanitizer build must not see this as a bad read of its variables). */
__attribute__((no_sanitize_address)) static void raw_copy(uint8_t *dst,
							  uint64_t src,
							  size_t n)
{
	const volatile uint8_t *s = (const volatile uint8_t *)(uintptr_t)src;
	size_t i;

	for (i = 0; i < n; i++)
		dst[i] = s[i];
}

__attribute__((noinline)) static void unwind_inner(void)
{
	ucontext_t uc;
	const greg_t *g;

	getcontext(&uc);
	g = uc.uc_mcontext.gregs;
	regs[MT_REG_RAX] = (uint64_t)g[REG_RAX];
	regs[MT_REG_RDX] = (uint64_t)g[REG_RDX];
	regs[MT_REG_RCX] = (uint64_t)g[REG_RCX];
	regs[MT_REG_RBX] = (uint64_t)g[REG_RBX];
	regs[MT_REG_RSI] = (uint64_t)g[REG_RSI];
	regs[MT_REG_RDI] = (uint64_t)g[REG_RDI];
	regs[MT_REG_RBP] = (uint64_t)g[REG_RBP];
	regs[MT_REG_RSP] = (uint64_t)g[REG_RSP];
	regs[MT_REG_R8] = (uint64_t)g[REG_R8];
	regs[MT_REG_R9] = (uint64_t)g[REG_R9];
	regs[MT_REG_R10] = (uint64_t)g[REG_R10];
	regs[MT_REG_R11] = (uint64_t)g[REG_R11];
	regs[MT_REG_R12] = (uint64_t)g[REG_R12];
	regs[MT_REG_R13] = (uint64_t)g[REG_R13];
	regs[MT_REG_R14] = (uint64_t)g[REG_R14];
	regs[MT_REG_R15] = (uint64_t)g[REG_R15];
	regs[MT_REG_RIP] = (uint64_t)g[REG_RIP];
	/* as BPF does: at most COPY bytes, never past the stack's end (a
	 * small environment leaves less than COPY above a shallow frame) */
	copy_len = COPY;
	if (stack_end - regs[MT_REG_RSP] < copy_len)
		copy_len = (size_t)(stack_end - regs[MT_REG_RSP]);
	raw_copy(stack_copy, regs[MT_REG_RSP], copy_len);
	asm volatile("" ::: "memory");
}

__attribute__((noinline)) static void unwind_middle(void)
{
	unwind_inner();
	asm volatile("" ::: "memory");
}

__attribute__((noinline)) static void unwind_outer(void)
{
	unwind_middle();
	asm volatile("" ::: "memory");
}

static const char *name_of(struct symcache *sc, uint64_t pc, bool ret)
{
	/* the one target of the test's registry: image 1 */
	const struct sym_result *r = symcache__get(sc, (uint32_t)getpid(), 1, pc,
						   ret);

	return r->n_frames ? r->frames[r->n_frames - 1].function : NULL;
}

static void test_chain(void **state)
{
	uint64_t pcs[64];
	struct symcache *sc;
	struct targets *tg;
	struct symdb *db;
	struct target *t;
	int n, i, found = 0;
	const char *want[] = { "unwind_inner", "unwind_middle", "unwind_outer",
			       "test_chain" };

	(void)state;
	{
		struct mt_maps m = { 0 };
		const struct mt_mapping *mp;
		int here;

		assert_int_equal(procmaps__read(getpid(), &m), 0);
		mp = procmaps__find(&m, (uint64_t)(uintptr_t)&here);
		assert_non_null(mp);
		stack_end = mp->end;
		procmaps__free(&m);
	}
	unwind_outer();
	db = symdb__new();
	tg = targets__new(2);
	t = target__open(getpid());
	assert_non_null(t);
	assert_int_equal(targets__add(tg, t), 0);
	sc = symcache__new(tg, NULL, db);

	n = unwind__user(t, gettid(), regs, stack_copy, copy_len, 0, pcs, 64);
	assert_true(n >= 4);
	assert_true(pcs[0] == regs[MT_REG_RIP]);
	for (i = 0; i < n && found < 4; i++) {
		const char *nm = name_of(sc, pcs[i], i > 0);

		if (nm && !strcmp(nm, want[found]))
			found++;
	}
	assert_int_equal(found, 4);

	/* only 16 bytes copied: the walk stops at the copy's end */
	n = unwind__user(t, gettid(), regs, stack_copy, 16, 0, pcs, 64);
	assert_true(n >= 1 && n <= 2);

	symcache__free(sc);
	targets__free(tg);
	symdb__free(db);
}

/* The same stack through the rows and through libdwfl alone: the same
 * pcs, and once the file's rows exist the rows did the walk. */
static void test_tables_match_libdwfl(void **state)
{
	uint64_t want[64], got[64];
	struct unwind_stats st0, st1;
	struct target *t;
	int n, m, i;

	(void)state;
	unwind_outer();
	t = target__open(getpid());
	assert_non_null(t);

	unwind__use_tables(false);
	n = unwind__user(t, gettid(), regs, stack_copy, copy_len, 0, want, 64);
	assert_true(n >= 4);
	unwind__use_tables(true);
	unwind__stats(&st0);
	/* the rows are built once enough frames went through the files */
	for (i = 0; i < 20000; i++) {
		m = unwind__user(t, gettid(), regs, stack_copy, copy_len, 0,
				 got, 64);
		assert_int_equal(m, n);
		assert_memory_equal(got, want, (size_t)n * sizeof(*want));
		unwind__stats(&st1);
		if (st1.walks > st0.walks)
			break;
	}
	assert_true(st1.walks > st0.walks);
	assert_true(st1.rows > 0);

	/* cut short: the rows stop at the copy's end too */
	unwind__use_tables(false);
	n = unwind__user(t, gettid(), regs, stack_copy, 16, 0, want, 64);
	unwind__use_tables(true);
	m = unwind__user(t, gettid(), regs, stack_copy, 16, 0, got, 64);
	assert_int_equal(m, n);
	assert_memory_equal(got, want, (size_t)n * sizeof(*want));

	target__close(t);
	unwind__tables_free();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_tables_match_libdwfl),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

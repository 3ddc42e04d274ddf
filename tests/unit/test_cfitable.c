// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_cfitable.c - the compact unwind rows of real files: libc's malloc
 * starts with CFA = rsp + 8, rows are sorted, and a walk over this very
 * process's stack with the rules BPF runs (bpf/unwind.bpf.h, here in C)
 * finds every caller of a chain outer -> middle -> inner and ends at
 * _start's "return address undefined" row, not at a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>
#include <cmocka.h>
#include <libelf.h>

#include "unwind/cfitable.h"

#define MAX_MODS 16

struct mod {
	uint64_t start, end, bias;
	struct cfitable t;
	int fd;
	Elf *elf;
};

static struct mod mods[MAX_MODS];
static size_t n_mods;

static int add_mod(struct dl_phdr_info *info, size_t size, void *arg)
{
	const char *name = info->dlpi_name;
	uint64_t lo = UINT64_MAX, hi = 0;
	struct mod *m;
	int i;

	(void)size;
	(void)arg;
	if (!name[0])
		name = "/proc/self/exe";
	if (n_mods >= MAX_MODS || !strncmp(name, "linux-vdso", 10))
		return 0;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		if (ph->p_vaddr < lo)
			lo = ph->p_vaddr;
		if (ph->p_vaddr + ph->p_memsz > hi)
			hi = ph->p_vaddr + ph->p_memsz;
	}
	if (lo >= hi)
		return 0;
	m = &mods[n_mods];
	m->fd = open(name, O_RDONLY | O_CLOEXEC);
	if (m->fd < 0)
		return 0;
	m->elf = elf_begin(m->fd, ELF_C_READ_MMAP, NULL);
	if (!m->elf || cfitable__build(m->elf, 1 << 22, &m->t)) {
		if (m->elf)
			elf_end(m->elf);
		close(m->fd);
		return 0;
	}
	m->bias = info->dlpi_addr;
	m->start = info->dlpi_addr + lo;
	m->end = info->dlpi_addr + hi;
	n_mods++;
	return 0;
}

static int setup(void **state)
{
	(void)state;
	elf_version(EV_CURRENT);
	dl_iterate_phdr(add_mod, NULL);
	return n_mods >= 2 ? 0 : -1;
}

static int teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < n_mods; i++) {
		cfitable__free(&mods[i].t);
		elf_end(mods[i].elf);
		close(mods[i].fd);
	}
	n_mods = 0;
	return 0;
}

static const struct mod *mod_of(uint64_t pc)
{
	size_t i;

	for (i = 0; i < n_mods; i++)
		if (pc >= mods[i].start && pc < mods[i].end)
			return &mods[i];
	return NULL;
}

/* unw_step of bpf/unwind.bpf.h over our own memory. Returns the number of
 * pcs; *complete says whether it ended on a STOP row. */
static size_t walk(uint64_t pc, uint64_t sp, uint64_t bp, uint64_t *pcs,
		   size_t max, bool *complete)
{
	const struct mt_unw_row *r;
	const struct mod *m;
	bool bp_ok = true;
	uint64_t cfa;
	size_t i;

	*complete = false;
	for (i = 0; i < max; i++) {
		m = mod_of(pc);
		if (!m)
			return i;
		r = cfitable__find(&m->t, pc - m->bias - (i ? 1 : 0));
		if (!r)
			return i;
		pcs[i] = pc;
		if (r->cfa == MT_UNW_CFA_STOP) {
			*complete = true;
			return i + 1;
		}
		if (r->cfa == MT_UNW_CFA_RSP)
			cfa = sp + (int64_t)r->cfa_off;
		else if (r->cfa == MT_UNW_CFA_RBP && bp_ok)
			cfa = bp + (int64_t)r->cfa_off;
		else
			return i + 1;
		if (r->rbp == MT_UNW_RBP_SAVED)
			bp = *(const uint64_t *)(uintptr_t)(cfa + (int64_t)r->rbp_off);
		else if (r->rbp == MT_UNW_RBP_UNDEF)
			bp_ok = false;
		pc = *(const uint64_t *)(uintptr_t)(cfa - 8);
		sp = cfa;
		if (!pc) {
			*complete = true;
			return i + 1;
		}
	}
	return i;
}

static uint64_t pcs[128];
static size_t n_pcs;
static bool complete;
static uint64_t ret_inner, ret_middle;	/* the return addresses expected */

__attribute__((noinline)) static void inner(void)
{
	ucontext_t uc;

	ret_inner = (uint64_t)(uintptr_t)__builtin_return_address(0);
	getcontext(&uc);
	/* getcontext's saved rip is just after its call, in inner: exact */
	n_pcs = walk((uint64_t)uc.uc_mcontext.gregs[REG_RIP],
		     (uint64_t)uc.uc_mcontext.gregs[REG_RSP],
		     (uint64_t)uc.uc_mcontext.gregs[REG_RBP], pcs, 128,
		     &complete);
	asm volatile("" ::: "memory");
}

__attribute__((noinline)) static void middle(void)
{
	ret_middle = (uint64_t)(uintptr_t)__builtin_return_address(0);
	inner();
	asm volatile("" ::: "memory");
}

__attribute__((noinline)) static void outer(void)
{
	middle();
	asm volatile("" ::: "memory");
}

static bool in_func(uint64_t pc, void (*fn)(void))
{
	return pc > (uint64_t)(uintptr_t)fn && pc < (uint64_t)(uintptr_t)fn + 256;
}

static void test_walk_own_stack(void **state)
{
	(void)state;
	outer();
	assert_true(n_pcs >= 4);
	assert_true(complete);
	assert_true(in_func(pcs[0], inner));
	assert_int_equal(pcs[1], ret_inner);
	assert_int_equal(pcs[2], ret_middle);
}

static void test_malloc_entry(void **state)
{
	const struct mt_unw_row *r;
	const struct mod *m;
	uint64_t pc = (uint64_t)(uintptr_t)&malloc;

	(void)state;
	m = mod_of(pc);
	assert_non_null(m);
	r = cfitable__find(&m->t, pc - m->bias);
	assert_non_null(r);
	assert_int_equal(r->cfa, MT_UNW_CFA_RSP);
	assert_int_equal(r->cfa_off, 8);
	assert_int_equal(r->rbp, MT_UNW_RBP_SAME);
}

static void test_sorted(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < n_mods; i++) {
		assert_true(mods[i].t.n > 0);
		for (j = 1; j < mods[i].t.n; j++)
			assert_true(mods[i].t.rows[j - 1].pc < mods[i].t.rows[j].pc);
		/* the last row closes the last FDE */
		assert_int_equal(mods[i].t.rows[mods[i].t.n - 1].cfa,
				 MT_UNW_CFA_INVALID);
	}
}

static void test_bounded(void **state)
{
	struct cfitable t;

	(void)state;
	assert_int_equal(cfitable__build(mods[0].elf, 4, &t), -E2BIG);
	assert_null(t.rows);
	assert_int_equal(t.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_malloc_entry),
		cmocka_unit_test(test_sorted),
		cmocka_unit_test(test_walk_own_stack),
		cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_cfitable.c - the compact unwind rows of real files: libc's malloc
 * starts with CFA = rsp + 8, rows are sorted, and a walk over this very
 * process's stack with the rules BPF runs (bpf/unwind.bpf.h, here in C)
 * finds every caller of a chain outer -> middle -> inner and ends at
 * _start's "return address undefined" row, not at a failure. Rows from
 * .debug_frame (what Go binaries have instead of .eh_frame), compressed,
 * are the rows .eh_frame gives for the same code.
 */
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>
#include <cmocka.h>
#include <libelf.h>
#include <elfutils/libdw.h>

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

/* cc SRC into DIR/NAME as a -nostdlib shared object with FLAGS (no crt
 * files: their own .eh_frame would come with them). */
static void build_fixture(const char *dir, const char *name, const char *flags)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "cc -shared -nostdlib -fPIC -O2 -g %s -o %s/%s %s/fx.c", flags,
		 dir, name, dir);
	assert_int_equal(system(cmd), 0);
}

static Elf *open_elf(const char *dir, const char *name, int *fd)
{
	char path[512];
	Elf *elf;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(*fd >= 0);
	elf = elf_begin(*fd, ELF_C_READ_MMAP, NULL);
	assert_non_null(elf);
	return elf;
}

static void test_debug_frame(void **state)
{
	static const char src[] =
		"volatile long sink;\n"
		"__attribute__((noinline)) long leaf(long a)\n"
		"{ long b[8]; for (int i = 0; i < 8; i++) b[i] = a * i;\n"
		"  sink = b[3]; return b[a & 7]; }\n"
		"__attribute__((noinline)) long mid(long a)\n"
		"{ return leaf(a + 1) * 3 + leaf(a); }\n"
		"long top(long a)\n"
		"{ long s = 0; for (long i = 0; i < a; i++) s += mid(i); return s; }\n"
		"__attribute__((noinline)) long dyn(long a)\n"
		"{ long *v = __builtin_alloca(a * 8 + 8);\n"
		"  for (long i = 0; i <= a; i++) v[i] = mid(i);\n"
		"  sink = v[a]; return mid(v[a / 2]); }\n";
	char dir[] = "/tmp/memtel-cfitable.XXXXXX", path[512], cmd[600];
	struct cfitable eh, df, none, again;
	Dwarf *dw;
	size_t i, skip, fdes = 0, rbp_rows = 0;
	int fd_eh, fd_df;
	Elf *e_eh, *e_df;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/fx.c", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(src, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	build_fixture(dir, "eh.so", "-fasynchronous-unwind-tables");
	/* -gz: SHF_COMPRESSED, as Go writes its .debug_* sections */
	build_fixture(dir, "df.so",
		      "-gz -fno-asynchronous-unwind-tables -fno-unwind-tables");
	e_eh = open_elf(dir, "eh.so", &fd_eh);
	e_df = open_elf(dir, "df.so", &fd_df);

	assert_int_equal(cfitable__build(e_eh, 1 << 20, &eh), 0);
	/* df.so has no .eh_frame rows, eh.so no .debug_frame */
	assert_int_equal(cfitable__build(e_df, 1 << 20, &none), -ENOENT);
	assert_int_equal(cfitable__build_debug_frame(e_eh, 1 << 20, &none),
			 -ENOENT);
	assert_int_equal(cfitable__debug_frame_fdes(e_df, &fdes), 0);
	assert_int_equal(fdes, 4);
	assert_int_equal(cfitable__build_debug_frame(e_df, 1 << 20, &df), 0);

	/* same code, same CFI directives: the same rows (but for the PLT's,
	 * which the linker describes in .eh_frame only, below .text) */
	assert_true(df.n > 4);
	for (skip = 0; skip < eh.n && eh.rows[skip].pc < df.rows[0].pc; skip++)
		;
	assert_int_equal(df.n, eh.n - skip);
	for (i = 0; i < df.n; i++) {
		const struct mt_unw_row *a = &df.rows[i], *b = &eh.rows[skip + i];

		assert_int_equal(a->pc, b->pc);
		assert_int_equal(a->cfa, b->cfa);
		assert_int_equal(a->cfa_off, b->cfa_off);
		assert_int_equal(a->rbp, b->rbp);
		assert_int_equal(a->rbp_off, b->rbp_off);
		rbp_rows += a->cfa == MT_UNW_CFA_RBP;
	}
	/* alloca: dyn's CFA is rbp-based, so rbp rules were read too */
	assert_true(rbp_rows > 0);
	assert_int_equal(cfitable__build_debug_frame(e_df, 2, &none), -E2BIG);
	assert_null(none.rows);

	/* after libdw decompressed the file's sections in place (what a
	 * libdwfl walk through it does to the same Elf): the same rows */
	dw = dwarf_begin_elf(e_df, DWARF_C_READ, NULL);
	assert_non_null(dw);
	assert_int_equal(cfitable__build_debug_frame(e_df, 1 << 20, &again), 0);
	assert_int_equal(again.n, df.n);
	assert_memory_equal(again.rows, df.rows, df.n * sizeof(*df.rows));
	cfitable__free(&again);
	dwarf_end(dw);

	cfitable__free(&eh);
	cfitable__free(&df);
	elf_end(e_eh);
	elf_end(e_df);
	close(fd_eh);
	close(fd_df);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_malloc_entry),
		cmocka_unit_test(test_sorted),
		cmocka_unit_test(test_walk_own_stack),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_debug_frame),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

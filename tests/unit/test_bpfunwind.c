// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_bpfunwind.c - unwind tables into real BPF maps (created here with
 * the layout of bpf/unwind.bpf.h) for this very process: its entry in
 * unw_procs lists its modules sorted, the one holding malloc maps malloc's
 * address to a row that says CFA = rsp + 8 (found the way the BPF walk
 * finds it: mapping, bias, file, row), libc's rows are loaded once however
 * often we sync, a stack key is read back from the stacks map, and a
 * process that is gone is reaped with its stacks. Skipped without
 * CAP_BPF.
 */
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>

#include "process/target.h"
#include "unwind/bpfunwind.h"

#define ROWS (1U << 18)

static struct bpfunwind_maps maps;
static struct target *self;

static int setup(void **state)
{
	LIBBPF_OPTS(bpf_map_create_opts, nopre, .map_flags = BPF_F_NO_PREALLOC);

	(void)state;
	maps.rows = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_rows", 4,
				   sizeof(struct mt_unw_row), ROWS, NULL);
	maps.files = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_files", 4,
				    sizeof(struct mt_unw_file),
				    MT_UNW_MAX_FILES, NULL);
	maps.procs = bpf_map_create(BPF_MAP_TYPE_HASH, "t_procs", 4,
				    sizeof(struct mt_unw_proc), 16, NULL);
	maps.stacks = bpf_map_create(BPF_MAP_TYPE_HASH, "t_stacks",
				     sizeof(struct mt_stack_key),
				     sizeof(struct mt_ustack), 64, &nopre);
	maps.max_rows = ROWS;
	self = target__open(getpid());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	target__close(self);
	close(maps.rows);
	close(maps.files);
	close(maps.procs);
	close(maps.stacks);
	return 0;
}

static bool have_bpf(void)
{
	return maps.rows >= 0 && maps.files >= 0 && maps.procs >= 0 &&
	       maps.stacks >= 0 && self;
}

/* The row BPF would use for ELF-exact pc, or false. */
static bool bpf_row(uint64_t pc, struct mt_unw_row *out)
{
	static struct mt_unw_proc p;
	uint32_t pid = (uint32_t)getpid(), i, lo, hi, mid;
	struct mt_unw_file f;
	uint64_t rel;

	if (bpf_map_lookup_elem(maps.procs, &pid, &p))
		return false;
	for (i = 0; i < p.n; i++)
		if (pc >= p.maps[i].start && pc < p.maps[i].end)
			break;
	if (i == p.n || bpf_map_lookup_elem(maps.files, &p.maps[i].file, &f) ||
	    !f.count)
		return false;
	rel = pc - p.maps[i].bias;
	lo = f.first;
	hi = f.first + f.count;
	while (lo + 1 < hi) {
		struct mt_unw_row r;

		mid = lo + (hi - lo) / 2;
		if (bpf_map_lookup_elem(maps.rows, &mid, &r))
			return false;
		if (r.pc <= rel)
			lo = mid;
		else
			hi = mid;
	}
	return !bpf_map_lookup_elem(maps.rows, &lo, out) && out->pc <= rel;
}

static void test_sync_self(void **state)
{
	static struct mt_unw_proc p;
	struct bpfunwind_stats st;
	struct bpfunwind *bu;
	struct mt_unw_row r;
	uint32_t pid = (uint32_t)getpid(), i;
	uint64_t rows;
	void *libc, *fn;

	(void)state;
	if (!have_bpf())
		skip();
	bu = bpfunwind__new(&maps);
	assert_non_null(bu);
	assert_int_equal(bpfunwind__sync(bu, self), 0);
	assert_int_equal(bpf_map_lookup_elem(maps.procs, &pid, &p), 0);
	assert_true(p.n >= 2);
	assert_true(p.gen != 0);
	for (i = 1; i < p.n; i++)
		assert_true(p.maps[i - 1].start < p.maps[i].start);
	/* libc's own malloc: in an ASan build &malloc is the sanitizer's
	 * interceptor, in another library */
	libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	assert_non_null(libc);
	fn = dlsym(libc, "malloc");
	assert_non_null(fn);
	assert_true(bpf_row((uint64_t)(uintptr_t)fn, &r));
	dlclose(libc);
	assert_int_equal(r.cfa, MT_UNW_CFA_RSP);
	assert_int_equal(r.cfa_off, 8);

	/* rows are per file, not per sync */
	bpfunwind__stats(bu, &st);
	rows = st.rows;
	assert_true(rows > 1000);
	assert_int_equal(st.procs, 1);
	assert_int_equal(bpfunwind__sync(bu, self), 0);
	bpfunwind__stats(bu, &st);
	assert_int_equal(st.rows, rows);
	bpfunwind__free(bu);
}

static uint32_t gone_pid;

static void on_gone(void *ctx, uint32_t pid)
{
	(void)ctx;
	gone_pid = pid;
}

static void test_stack_and_reap(void **state)
{
	struct mt_stack_key k = { .tgid = (uint32_t)getpid(), .hash = 42 };
	static struct mt_ustack s;
	struct bpfunwind *bu;
	uint64_t pcs[8];

	(void)state;
	if (!have_bpf())
		skip();
	bu = bpfunwind__new(&maps);
	assert_non_null(bu);
	assert_int_equal(bpfunwind__sync(bu, self), 0);
	s.nr = 3;
	s.pcs[0] = 1;
	s.pcs[1] = 2;
	s.pcs[2] = 3;
	assert_int_equal(bpf_map_update_elem(maps.stacks, &k, &s, BPF_ANY), 0);
	assert_int_equal(bpfunwind__stack(bu, &k, pcs, 8), 3);
	assert_int_equal(pcs[2], 3);
	assert_int_equal(bpfunwind__stack(bu, &k, pcs, 2), 2);
	k.hash = 43;
	assert_int_equal(bpfunwind__stack(bu, &k, pcs, 8), -ENOENT);
	/* we are alive: nothing to reap */
	assert_int_equal(bpfunwind__reap(bu, on_gone, NULL), 0);
	bpfunwind__free(bu);
	/* our entry stays in the maps (a fresh bpfunwind does not know it);
	 * clean up for the other tests */
	k.hash = 42;
	bpf_map_delete_elem(maps.stacks, &k);
}

static void test_reap_gone(void **state)
{
	struct mt_stack_key k;
	static struct mt_ustack s;
	struct bpfunwind *bu;
	struct target *t;
	uint64_t pcs[4];
	uint32_t pid;
	pid_t child;

	(void)state;
	if (!have_bpf())
		skip();
	child = fork();
	assert_true(child >= 0);
	if (!child) {
		pause();
		_exit(0);
	}
	t = target__open(child);
	assert_non_null(t);
	bu = bpfunwind__new(&maps);
	assert_int_equal(bpfunwind__sync(bu, t), 0);
	pid = (uint32_t)child;
	k.tgid = pid;
	k.pad = 0;
	k.hash = 7;
	s.nr = 1;
	s.pcs[0] = 9;
	assert_int_equal(bpf_map_update_elem(maps.stacks, &k, &s, BPF_ANY), 0);
	assert_int_equal(bpfunwind__stack(bu, &k, pcs, 4), 1);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	gone_pid = 0;
	assert_int_equal(bpfunwind__reap(bu, on_gone, NULL), 1);
	assert_int_equal(gone_pid, pid);
	/* both its table and its stacks left the kernel */
	assert_int_not_equal(bpf_map_lookup_elem(maps.procs, &pid,
						 &(struct mt_unw_proc){ 0 }), 0);
	assert_int_not_equal(bpf_map_lookup_elem(maps.stacks, &k, &s), 0);
	bpfunwind__free(bu);
	target__close(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_self),
		cmocka_unit_test(test_stack_and_reap),
		cmocka_unit_test(test_reap_gone),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

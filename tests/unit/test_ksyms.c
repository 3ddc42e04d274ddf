// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_ksyms.c - kernel symbols on a synthetic /proc/kallsyms: core text
 * ends at _etext and init text at _einittext, module and BPF program
 * addresses get their own names, and nothing past a section's end is
 * attributed to the symbol before it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "symbolize/ksyms.h"

static const char kallsyms[] =
	"ffffffff81000000 T _stext\n"
	"ffffffff81000100 t helper\n"
	"ffffffff81000200 D some_data\n"
	"ffffffff81000300 T last_core\n"
	"ffffffff81000400 T _etext\n"
	"ffffffff82000000 T _sinittext\n"
	"ffffffff82000010 t init_fn\n"
	"ffffffff82000100 T _einittext\n"
	"ffffffff82001000 b some_bss\n"
	"ffffffffc0010000 t bpf_prog_2f05e58b32a0f047_free_enter\t[bpf]\n"
	"ffffffffc0010400 t bpf_prog_70b0231cd980a613\t[bpf]\n"
	"ffffffffc0200000 t ftrace_trampoline\t[__builtin__ftrace]\n"
	"ffffffffc1000000 t mod_a_fn\t[mod_a]\n"
	"ffffffffc1000200 T mod_a_last\t[mod_a]\n"
	"ffffffffc1000300 d mod_a_data\t[mod_a]\n"
	"ffffffffc2000000 t mod_b_fn\t[mod_b]\n"
	"0000000000000000 A zero\n";

/* text into a new temporary file; its name into path (a mkstemp
 * template). */
static void write_tmp(const char *text, char *path)
{
	FILE *f;
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static struct ksyms *load(const char *text)
{
	char path[] = "/tmp/memtel-ksyms-XXXXXX";
	struct ksyms *ks;

	write_tmp(text, path);
	ks = ksyms__load(path);
	unlink(path);
	return ks;
}

static void test_core_bounds(void **state)
{
	struct ksyms *ks = load(kallsyms);
	uint64_t off = 0;

	(void)state;
	assert_non_null(ks);
	assert_string_equal(ksyms__lookup(ks, 0xffffffff81000150ULL, &off),
			    "helper");
	assert_int_equal(off, 0x50);
	/* data symbols are skipped: 0x...250 is still in helper */
	assert_string_equal(ksyms__lookup(ks, 0xffffffff81000250ULL, NULL),
			    "helper");
	assert_string_equal(ksyms__lookup(ks, 0xffffffff810003ffULL, NULL),
			    "last_core");
	assert_string_equal(ksyms__module(ks, 0xffffffff81000300ULL), "");
	/* between _etext and _sinittext: no text, no name */
	assert_null(ksyms__lookup(ks, 0xffffffff81000400ULL, NULL));
	assert_null(ksyms__lookup(ks, 0xffffffff81800000ULL, NULL));
	assert_string_equal(ksyms__lookup(ks, 0xffffffff820000f0ULL, NULL),
			    "init_fn");
	/* past the end of init text */
	assert_null(ksyms__lookup(ks, 0xffffffff82000100ULL, NULL));
	assert_null(ksyms__lookup(ks, 0xffffffff90000000ULL, NULL));
	assert_null(ksyms__lookup(ks, 0xffffffff80000000ULL, NULL));
	assert_true(ksyms__is_kernel(0xffffffff81000000ULL));
	assert_false(ksyms__is_kernel(0x7fffffffe000ULL));
	ksyms__free(ks);
}

static void test_bpf_and_modules(void **state)
{
	struct ksyms *ks = load(kallsyms);
	uint64_t off = 0;

	(void)state;
	assert_non_null(ks);
	/* a BPF program by the name its loader gave it */
	assert_string_equal(ksyms__lookup(ks, 0xffffffffc0010123ULL, &off),
			    "bpf_prog:free_enter");
	assert_int_equal(off, 0x123);
	assert_string_equal(ksyms__module(ks, 0xffffffffc0010123ULL), "bpf");
	/* an unnamed program keeps its tag */
	assert_string_equal(ksyms__lookup(ks, 0xffffffffc0010500ULL, NULL),
			    "bpf_prog_70b0231cd980a613");
	assert_string_equal(ksyms__lookup(ks, 0xffffffffc0200010ULL, NULL),
			    "ftrace_trampoline");
	assert_string_equal(ksyms__module(ks, 0xffffffffc0200010ULL),
			    "__builtin__ftrace");
	assert_string_equal(ksyms__lookup(ks, 0xffffffffc1000010ULL, NULL),
			    "mod_a_fn");
	assert_string_equal(ksyms__lookup(ks, 0xffffffffc1000250ULL, NULL),
			    "mod_a_last");
	assert_string_equal(ksyms__module(ks, 0xffffffffc1000250ULL), "mod_a");
	/* far past mod_a's last symbol, before mod_b: nobody's */
	assert_null(ksyms__lookup(ks, 0xffffffffc1800000ULL, NULL));
	assert_string_equal(ksyms__lookup(ks, 0xffffffffc2000008ULL, NULL),
			    "mod_b_fn");
	assert_null(ksyms__lookup(ks, 0xffffffffc3000000ULL, NULL));
	/* nothing past the core is ever _einittext */
	assert_null(ksyms__lookup(ks, 0xffffffffc0000000ULL, NULL));
	ksyms__free(ks);
}

static void test_reload(void **state)
{
	struct ksyms *ks = load("ffffffff81000000 T _stext\n"
				"ffffffff81000100 T _etext\n");
	char path[] = "/tmp/memtel-ksyms-XXXXXX";

	(void)state;
	assert_non_null(ks);
	assert_null(ksyms__lookup(ks, 0xffffffffc0010010ULL, NULL));
	write_tmp(kallsyms, path);
	assert_int_equal(ksyms__reload(ks, path), 0);
	assert_string_equal(ksyms__lookup(ks, 0xffffffffc0010010ULL, NULL),
			    "bpf_prog:free_enter");
	/* a file that cannot be read leaves ks as it was */
	unlink(path);
	assert_int_equal(ksyms__reload(ks, path), -ENOENT);
	assert_string_equal(ksyms__lookup(ks, 0xffffffffc0010010ULL, NULL),
			    "bpf_prog:free_enter");
	assert_int_equal(ksyms__reload(NULL, path), -EINVAL);
	ksyms__free(ks);
	ksyms__free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_core_bounds),
		cmocka_unit_test(test_bpf_and_modules),
		cmocka_unit_test(test_reload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

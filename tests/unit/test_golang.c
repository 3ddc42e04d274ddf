// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_golang.c - unit tests for where the Go runtime's hooks are probed:
 * the jbe of each Go prologue form (small frame, big frame with lea into
 * r12, rel8 and rel32 jumps), and the entry for anything else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "attach/golang.h"

/* runtime.freeSpecial, go 1.19: cmp 0x10(%r14),%rsp; jbe rel32 */
static void test_small_frame(void **state)
{
	static const uint8_t code[] = {
		0x49, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0x0a, 0x01, 0x00, 0x00,
		0x48, 0x83, 0xec, 0x30,
	};

	(void)state;
	assert_int_equal(golang__plan(code, sizeof(code)), 4);
}

/* runtime.mProf_Malloc, go 1.19: lea -0xf0(%rsp),%r12;
 * cmp 0x10(%r14),%r12; jbe rel32 */
static void test_big_frame(void **state)
{
	static const uint8_t code[] = {
		0x4c, 0x8d, 0xa4, 0x24, 0x10, 0xff, 0xff, 0xff,
		0x4d, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0xaa, 0x01, 0x00, 0x00,
	};

	(void)state;
	assert_int_equal(golang__plan(code, sizeof(code)), 12);
}

/* lea -0x40(%rsp),%r12 (disp8); cmp; jbe rel8 */
static void test_disp8_rel8(void **state)
{
	static const uint8_t code[] = {
		0x4c, 0x8d, 0x64, 0x24, 0xc0, 0x4d, 0x3b, 0x66, 0x10,
		0x76, 0x20, 0x90,
	};

	(void)state;
	assert_int_equal(golang__plan(code, sizeof(code)), 9);
}

/* not a Go prologue (push %rbp), a cmp without its jbe, and a cut-off
 * window: the entry */
static void test_fallback(void **state)
{
	static const uint8_t c_fn[] = { 0x55, 0x48, 0x89, 0xe5 };
	static const uint8_t no_jbe[] = {
		0x49, 0x3b, 0x66, 0x10, 0x74, 0x10, 0x90, 0x90,
	};
	static const uint8_t cut[] = { 0x49, 0x3b, 0x66, 0x10, 0x0f };

	(void)state;
	assert_int_equal(golang__plan(c_fn, sizeof(c_fn)), 0);
	assert_int_equal(golang__plan(no_jbe, sizeof(no_jbe)), 0);
	assert_int_equal(golang__plan(cut, sizeof(cut)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_frame),
		cmocka_unit_test(test_big_frame),
		cmocka_unit_test(test_disp8_rel8),
		cmocka_unit_test(test_fallback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

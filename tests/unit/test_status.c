// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_status.c - the live status line's text: every figure a user reads
 * on it, only the parts that are profiled, and never wider than the
 * terminal (a wrapped line cannot be rewritten in place).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cli/status.h"

static void test_all_figures(void **state)
{
	struct status_figures f = {
		.elapsed_s = 3725.9, .processes = 1, .heap = true, .cpu = true,
		.calls = 123456, .sampled = 789, .live_bytes = 1536,
		.cpu_samples = 42, .dropped = 7,
	};
	char buf[256];

	(void)state;
	assert_string_equal(status__format(&f, 0, buf, sizeof(buf)),
			    "memtel-bpf: 1:02:05 | 1 process | alloc calls 123456, sampled 789 | live 1.5 KiB | CPU samples 42 | dropped 7");
}

static void test_parts(void **state)
{
	struct status_figures f = {
		.elapsed_s = 12, .processes = 3, .cpu = true, .cpu_samples = 5,
	};
	char buf[256];

	(void)state;
	/* CPU only (--no-heap, --all): no heap figures */
	assert_string_equal(status__format(&f, 0, buf, sizeof(buf)),
			    "memtel-bpf: 0:00:12 | 3 processes | CPU samples 5 | dropped 0");
	f.cpu = false;
	f.heap = true;
	assert_null(strstr(status__format(&f, 0, buf, sizeof(buf)), "CPU"));
	assert_non_null(strstr(buf, "alloc calls 0, sampled 0 | live 0 B"));
	/* the overhead budget: paused now, and the share of time on */
	f.paused = 1;
	f.partial = true;
	f.on_fraction = 0.123;
	assert_non_null(strstr(status__format(&f, 0, buf, sizeof(buf)),
			       "live 0 B | heap probes paused (on 12%) | dropped"));
	f.paused = 0;
	assert_non_null(strstr(status__format(&f, 0, buf, sizeof(buf)),
			       "live 0 B (on 12%) | dropped"));
}

static void test_width(void **state)
{
	struct status_figures f = {
		.elapsed_s = 1, .processes = 1, .heap = true, .cpu = true,
	};
	char buf[256], small[16];

	(void)state;
	/* one column short of the terminal: the cursor stays on the row */
	assert_int_equal(strlen(status__format(&f, 40, buf, sizeof(buf))), 39);
	assert_int_equal(strncmp(buf, "memtel-bpf: 0:00:01 | 1 process", 31), 0);
	/* a small buffer is cut, still terminated */
	status__format(&f, 0, small, sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_string_equal(small, "memtel-bpf: 0:0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_figures),
		cmocka_unit_test(test_parts),
		cmocka_unit_test(test_width),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

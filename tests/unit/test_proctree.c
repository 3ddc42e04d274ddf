// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_proctree.c - the parent pid of /proc/PID/stat, which --children
 * walks to find the descendants of a process: found after the last ')'
 * whatever the command name holds, refused when the line is cut short.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "attach/proctree.h"
#include "util/fileio.h"

static void test_parse_ppid(void **state)
{
	pid_t ppid = 0;

	(void)state;
	assert_int_equal(proctree__parse_ppid("123 (nginx) S 45 123 123 0 -1", &ppid), 0);
	assert_int_equal(ppid, 45);
	/* a name made to look like the fields that follow it */
	assert_int_equal(proctree__parse_ppid("9 (a) S 1 (b) R 77 9 9 0", &ppid), 0);
	assert_int_equal(ppid, 77);
	assert_int_equal(proctree__parse_ppid("1 (init) S 0 1 1 0", &ppid), 0);
	assert_int_equal(ppid, 0);
	assert_int_equal(proctree__parse_ppid("12 (x) S", &ppid), -EINVAL);
	assert_int_equal(proctree__parse_ppid("12 (x) S 4", &ppid), -EINVAL);
	assert_int_equal(proctree__parse_ppid("12 x S 4 5", &ppid), -EINVAL);
	assert_int_equal(proctree__parse_ppid("12 (x) S -4 5", &ppid), -EINVAL);
}

/* The real thing: our own /proc/self/stat names getppid(). */
static void test_own_parent(void **state)
{
	char *text = NULL;
	pid_t ppid = 0;

	(void)state;
	assert_int_equal(fileio__read_text("/proc/self/stat", 0, 4096, &text,
					   NULL), 0);
	assert_int_equal(proctree__parse_ppid(text, &ppid), 0);
	assert_int_equal(ppid, getppid());
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ppid),
		cmocka_unit_test(test_own_parent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_options.c - the command-line parser: values in range are taken,
 * values out of range (that strtoull/strtod would accept) are refused with
 * one "memtel-bpf: " line, --help returns instead of exiting, and a second
 * parse in the same process starts from scratch.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli/options.h"

static char errbuf[4096];

/* Parse a NULL-terminated list of arguments (argv[0] added); usage errors
 * land in errbuf. */
static int parse(struct options *o, ...)
{
	static char *argv[64];
	FILE *f = fmemopen(errbuf, sizeof(errbuf), "w");
	va_list ap;
	int argc = 1, rc;

	assert_non_null(f);
	argv[0] = "memtel-bpf";
	va_start(ap, o);
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	options__set_error_stream(f);
	options__init(o);
	rc = options__parse(o, argc, argv);
	fclose(f);
	options__set_error_stream(NULL);
	return rc;
}

static void test_defaults_and_values(void **state)
{
	struct options o;

	(void)state;
	assert_int_equal(parse(&o, "--pid", "42", NULL), 0);
	assert_int_equal(o.pid, 42);
	assert_true(o.sample_bytes == 524288);
	assert_int_equal(o.stack_bytes, 8192);
	assert_int_equal(o.freq, 99);
	assert_true(o.duration == 0);

	assert_int_equal(parse(&o, "-p", "7", "-d", "2.5", "--sample-bytes",
			       "1099511627776", "-F", "49", "-v", NULL), 0);
	assert_true(o.duration == 2.5);
	assert_true(o.sample_bytes == 1ULL << 40);
	assert_int_equal(o.freq, 49);
	assert_true(o.verbose);

	assert_int_equal(parse(&o, "--sample-bytes", "1", "--", "/bin/true",
			       "x", NULL), 0);
	assert_string_equal(o.command[0], "/bin/true");
	assert_string_equal(o.command[1], "x");
	assert_null(o.command[2]);
}

static void test_out_of_range(void **state)
{
	static const char *const bad[][2] = {
		{ "--sample-bytes", "18446744073709551615" },	/* 2^64 - 1 */
		{ "--sample-bytes", "18446744073709551616" },	/* 2^64 */
		{ "--sample-bytes", "1099511627777" },		/* 2^40 + 1 */
		{ "--sample-bytes", "-1" },
		{ "--sample-bytes", " 5" },
		{ "--duration", "1e300" },
		{ "--duration", "inf" },
		{ "--duration", "nan" },
		{ "--duration", "31536001" },
		{ "--duration", "-1" },
		{ "--leak-age", "1e300" },
		{ "--export-interval", "86401" },
		{ "--pid", "2147483648" },
		{ "-F", "18446744073709551617" },
		{ "--stack-bytes", "16385" },
		{ "--otlp-timeout", "0" },
		{ "--max-overhead", "100.5" },
		{ "--max-overhead", "-1" },
		{ "--max-overhead", "nan" },
		{ "--max-overhead", "5%" },
	};
	struct options o;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *v0 = (char *)bad[i][0], *v1 = (char *)bad[i][1];

		errbuf[0] = '\0';
		assert_int_equal(parse(&o, "--all", v0, v1, NULL), -EINVAL);
		/* one line naming the value */
		assert_true(!strncmp(errbuf, "memtel-bpf: ", 12));
		assert_non_null(strstr(errbuf, v1));
		assert_ptr_equal(strchr(errbuf, '\n'),
				 errbuf + strlen(errbuf) - 1);
	}
	/* the largest accepted duration */
	assert_int_equal(parse(&o, "--all", "-d", "31536000", NULL), 0);
}

static void test_help_returns(void **state)
{
	struct options o;

	(void)state;
	assert_int_equal(parse(&o, "--version", NULL), 1);
	assert_int_equal(parse(&o, "--bogus", NULL), -EINVAL);
	assert_non_null(strstr(errbuf, "--bogus"));
	assert_int_equal(parse(&o, "--pid", NULL), -EINVAL);
	assert_non_null(strstr(errbuf, "needs a value"));
	assert_int_equal(parse(&o, NULL), -EINVAL);	/* nothing to profile */
	assert_int_equal(parse(&o, "--", NULL), -EINVAL);
	assert_int_equal(parse(&o, "--no-cpu", "--no-heap", "-p", "1", NULL),
			 -EINVAL);
}

static void test_restartable(void **state)
{
	struct options o;

	(void)state;
	/* a parse that stopped in the middle of "-vp" must not leave getopt
	 * pointing into the old argv */
	assert_int_equal(parse(&o, "-vQ", NULL), -EINVAL);
	assert_int_equal(parse(&o, "-p", "3", NULL), 0);
	assert_int_equal(o.pid, 3);
	assert_false(o.verbose);
	assert_int_equal(parse(&o, "--all", "extra", NULL), -EINVAL);
	assert_non_null(strstr(errbuf, "extra"));
	assert_int_equal(parse(&o, "--all", NULL), 0);
	assert_true(o.all);
}

/* --pid: repeated and comma-separated lists are all kept, in order, once
 * each (a repeated --pid used to keep only the last); --children needs a
 * pid. */
static void test_pid_list(void **state)
{
	struct options o;

	(void)state;
	assert_int_equal(parse(&o, "--pid", "10", "-p", "20,30", "--pid", "10",
			       "--children", NULL), 0);
	assert_int_equal(o.n_pids, 3);
	assert_int_equal(o.pids[0], 10);
	assert_int_equal(o.pids[1], 20);
	assert_int_equal(o.pids[2], 30);
	assert_int_equal(o.pid, 10);
	assert_true(o.children);

	assert_int_equal(parse(&o, "--pid", "10,", NULL), -EINVAL);
	assert_non_null(strstr(errbuf, "invalid pid '10,'"));
	assert_int_equal(parse(&o, "--pid", "10,x", NULL), -EINVAL);
	assert_non_null(strstr(errbuf, "invalid pid 'x'"));
	assert_int_equal(parse(&o, "--pid", ",10", NULL), -EINVAL);
	assert_int_equal(parse(&o, "--children", "--", "true", NULL), -EINVAL);
	assert_non_null(strstr(errbuf, "--children needs --pid"));
}

/* --sampler preloads into a launched command: nothing else makes sense */
static void test_sampler_option(void **state)
{
	struct options o;

	(void)state;
	assert_int_equal(parse(&o, "--sampler", "--", "./a.out", NULL), 0);
	assert_true(o.sampler);
	assert_int_equal(parse(&o, "--", "./a.out", NULL), 0);
	assert_false(o.sampler);
	assert_int_equal(parse(&o, "--sampler", "-p", "1", NULL), -EINVAL);
	assert_non_null(strstr(errbuf, "--sampler"));
	assert_int_equal(parse(&o, "--sampler", "--no-heap", "--", "./a.out",
			       NULL), -EINVAL);
}

/* --max-overhead: 5 % by default, 0 with --sample-bytes 1 unless given */
static void test_max_overhead(void **state)
{
	struct options o;

	(void)state;
	assert_int_equal(parse(&o, "--pid", "1", NULL), 0);
	assert_true(options__max_overhead(&o) == OPTIONS_DEFAULT_MAX_OVERHEAD);
	assert_int_equal(parse(&o, "--pid", "1", "--max-overhead", "2.5",
			       NULL), 0);
	assert_true(options__max_overhead(&o) == 2.5);
	assert_int_equal(parse(&o, "--pid", "1", "--max-overhead", "0", NULL),
			 0);
	assert_true(options__max_overhead(&o) == 0);
	assert_int_equal(parse(&o, "--pid", "1", "--sample-bytes", "1", NULL),
			 0);
	assert_true(options__max_overhead(&o) == 0);
	assert_int_equal(parse(&o, "--pid", "1", "--sample-bytes", "1",
			       "--max-overhead", "10", NULL), 0);
	assert_true(options__max_overhead(&o) == 10);
	assert_int_equal(parse(&o, "--pid", "1", "--max-overhead", "100",
			       NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_values),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_help_returns),
		cmocka_unit_test(test_restartable),
		cmocka_unit_test(test_pid_list),
		cmocka_unit_test(test_sampler_option),
		cmocka_unit_test(test_max_overhead),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

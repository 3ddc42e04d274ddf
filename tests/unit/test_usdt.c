// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_usdt.c - the userspace half of the otel_memory USDT mode that needs
 * no BPF: probe sites counted in the built libmemtel-sampler.so's
 * .note.stapsdt, and --sampler's LD_PRELOAD put first, the previous value
 * kept and restored.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "attach/usdt.h"
#include "process/elfinfo.h"

static char lib[PATH_MAX + 64];

/* The library of the same build: OUTPUT/tests/test_usdt ->
 * OUTPUT/libmemtel-sampler.so */
static int find_lib(void **state)
{
	char exe[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	(void)state;
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	snprintf(lib, sizeof(lib), "%s/../%s", exe, USDT_SAMPLER_LIB);
	return access(lib, R_OK);
}

static void test_sites(void **state)
{
	(void)state;
	/* malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign,
	 * valloc, pvalloc and the 8 operators new allocate; free and realloc
	 * free (operator delete calls free) */
	assert_int_equal(elfinfo__usdt_count(lib, USDT_PROVIDER, "alloc"), 16);
	assert_int_equal(elfinfo__usdt_count(lib, USDT_PROVIDER, "free"), 2);
	assert_int_equal(elfinfo__usdt_count(lib, USDT_PROVIDER, "nope"), 0);
	assert_int_equal(elfinfo__usdt_count(lib, "other", "alloc"), 0);
	/* a file without SDT notes: none, not an error */
	assert_int_equal(elfinfo__usdt_count("/proc/self/exe", USDT_PROVIDER,
					     "alloc"), 0);
	assert_true(elfinfo__usdt_count("/nonexistent", USDT_PROVIDER,
					"alloc") < 0);
}

static void test_preload(void **state)
{
	char want[PATH_MAX * 2 + 64], *saved = (char *)1;
	const char *v;

	(void)state;
	setenv("MEMTEL_SAMPLER_LIB", lib, 1);

	unsetenv("LD_PRELOAD");
	assert_int_equal(usdt__preload(&saved), 0);
	assert_null(saved);
	assert_string_equal(getenv("LD_PRELOAD"), lib);
	usdt__preload_restore(saved);
	assert_null(getenv("LD_PRELOAD"));

	/* ours first, then whatever the user preloads */
	setenv("LD_PRELOAD", "/usr/lib/x.so:/y.so", 1);
	assert_int_equal(usdt__preload(&saved), 0);
	snprintf(want, sizeof(want), "%s:/usr/lib/x.so:/y.so", lib);
	v = getenv("LD_PRELOAD");
	assert_non_null(v);
	assert_string_equal(v, want);
	usdt__preload_restore(saved);
	assert_string_equal(getenv("LD_PRELOAD"), "/usr/lib/x.so:/y.so");

	/* a library that is not there is an error, the variable untouched */
	setenv("MEMTEL_SAMPLER_LIB", "/nonexistent/libmemtel-sampler.so", 1);
	assert_int_equal(usdt__preload(&saved), -ENOENT);
	assert_string_equal(getenv("LD_PRELOAD"), "/usr/lib/x.so:/y.so");
	unsetenv("MEMTEL_SAMPLER_LIB");
	unsetenv("LD_PRELOAD");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sites),
		cmocka_unit_test(test_preload),
	};

	return cmocka_run_group_tests(tests, find_lib, NULL);
}

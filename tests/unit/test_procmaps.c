// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_procmaps.c - unit tests for the /proc/PID/maps parser: sample text with
 * every path shape the kernel prints, malformed lines, lookups, and a live
 * read of our own maps.
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

#include "process/procmaps.h"

static const char sample[] =
	"55d0c8a00000-55d0c8a02000 r--p 00000000 08:01 1048602                    /usr/bin/cat\n"
	"55d0c8a02000-55d0c8a07000 r-xp 00002000 08:01 1048602                    /usr/bin/cat\n"
	"55d0ca1e5000-55d0ca206000 rw-p 00000000 00:00 0                          [heap]\n"
	"7f1c2a000000-7f1c2a021000 rw-p 00000000 00:00 0 \n"
	"7f1c2b200000-7f1c2b228000 r--p 00000000 08:01 1053271                    /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7f1c2b228000-7f1c2b39d000 r-xp 00028000 08:01 1053271                    /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7f1c2b400000-7f1c2b401000 r-xp 00001000 fd:02 77                         /tmp/my dir/lib with  spaces.so\n"
	"7f1c2b500000-7f1c2b510000 r-xp 00000000 fd:02 78                         /tmp/gone.so (deleted)\n"
	"7f1c2b600000-7f1c2b601000 rw-s 00000000 00:01 4242                       /memfd:x (deleted)\n"
	"7ffc8e5d0000-7ffc8e5f1000 rw-p 00000000 00:00 0                          [stack]\n"
	"7ffc8e5f8000-7ffc8e5fa000 r-xp 00000000 00:00 0                          [vdso]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";

static void test_parse_sample(void **state)
{
	struct mt_maps m = {};
	const struct mt_mapping *mp;

	(void)state;
	assert_int_equal(procmaps__parse(sample, &m), 0);
	assert_int_equal(m.n, 12);

	mp = &m.v[0];
	assert_true(mp->start == 0x55d0c8a00000ULL);
	assert_true(mp->end == 0x55d0c8a02000ULL);
	assert_string_equal(mp->perms, "r--p");
	assert_true(mp->pgoff == 0);
	assert_int_equal(mp->dev_major, 8);
	assert_int_equal(mp->dev_minor, 1);
	assert_true(mp->inode == 1048602);
	assert_string_equal(mp->path, "/usr/bin/cat");
	assert_false(mp->deleted);

	assert_true(m.v[1].pgoff == 0x2000);
	assert_string_equal(m.v[2].path, "[heap]");
	assert_string_equal(m.v[3].path, "");	/* anonymous, trailing blank */
	assert_true(m.v[3].inode == 0);
	assert_true(m.v[5].pgoff == 0x28000);

	mp = &m.v[6];
	assert_string_equal(mp->path, "/tmp/my dir/lib with  spaces.so");
	assert_int_equal(mp->dev_major, 0xfd);
	assert_int_equal(mp->dev_minor, 2);
	assert_false(mp->deleted);

	assert_string_equal(m.v[7].path, "/tmp/gone.so");
	assert_true(m.v[7].deleted);
	assert_string_equal(m.v[8].path, "/memfd:x");
	assert_true(m.v[8].deleted);
	assert_string_equal(m.v[8].perms, "rw-s");
	assert_string_equal(m.v[10].path, "[vdso]");
	assert_true(m.v[11].start == 0xffffffffff600000ULL);
	assert_string_equal(m.v[11].path, "[vsyscall]");

	procmaps__free(&m);
	assert_null(m.v);
	assert_int_equal(m.n, 0);
	procmaps__free(&m);	/* idempotent */
	procmaps__free(NULL);
}

static void test_find(void **state)
{
	struct mt_maps m = {};
	const struct mt_mapping *mp;

	(void)state;
	assert_int_equal(procmaps__parse(sample, &m), 0);

	assert_null(procmaps__find(&m, 0));
	assert_null(procmaps__find(&m, 0x55d0c89fffffULL));
	mp = procmaps__find(&m, 0x55d0c8a00000ULL);
	assert_ptr_equal(mp, &m.v[0]);
	mp = procmaps__find(&m, 0x55d0c8a01fffULL);
	assert_ptr_equal(mp, &m.v[0]);
	mp = procmaps__find(&m, 0x55d0c8a02000ULL);
	assert_ptr_equal(mp, &m.v[1]);
	/* gap between cat's text and the heap */
	assert_null(procmaps__find(&m, 0x55d0c8a07000ULL));
	mp = procmaps__find(&m, 0x7f1c2b300000ULL);
	assert_ptr_equal(mp, &m.v[5]);
	mp = procmaps__find(&m, 0x7ffc8e5f9000ULL);
	assert_string_equal(mp->path, "[vdso]");
	mp = procmaps__find(&m, 0xffffffffff600fffULL);
	assert_ptr_equal(mp, &m.v[11]);
	assert_null(procmaps__find(&m, UINT64_MAX));
	procmaps__free(&m);

	assert_null(procmaps__find(&m, 0x1000));	/* empty */
	assert_null(procmaps__find(NULL, 0x1000));
}

static void test_unsorted_input_is_sorted(void **state)
{
	static const char text[] =
		"3000-4000 r-xp 00000000 00:00 0 /b\n"
		"1000-2000 r-xp 00000000 00:00 0 /a\n";
	struct mt_maps m = {};

	(void)state;
	assert_int_equal(procmaps__parse(text, &m), 0);
	assert_int_equal(m.n, 2);
	assert_string_equal(m.v[0].path, "/a");
	assert_string_equal(procmaps__find(&m, 0x3500)->path, "/b");
	procmaps__free(&m);
}

static void test_bad_lines(void **state)
{
	static const char *const bad[] = {
		"garbage\n",
		"1000-2000 r-xp 00000000 08:01\n",		/* no inode */
		"1000 r-xp 00000000 08:01 5 /x\n",		/* no end */
		"2000-1000 r-xp 00000000 08:01 5 /x\n",		/* end < start */
		"1000-2000 r-xp 0000zz00 08:01 5 /x\n",		/* bad offset */
		"1000-2000 r-xp 00000000 08:01 5x /x\n",	/* bad inode */
		"1000-2000 r-xp 00000000 0801 5 /x\n",		/* bad dev */
		"1000-2000 r-xp 00000000 08:01 5 /ok\nnot a mapping\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mt_maps m = { .v = NULL, .n = 0 };

		assert_int_equal(procmaps__parse(bad[i], &m), -EINVAL);
		assert_null(m.v);	/* out untouched on failure */
	}
}

static void test_empty(void **state)
{
	struct mt_maps m = {};

	(void)state;
	assert_int_equal(procmaps__parse("", &m), 0);
	assert_int_equal(m.n, 0);
	procmaps__free(&m);
}

static void local_function(void)
{
}

static void test_read_self(void **state)
{
	char exe[PATH_MAX], buf[PATH_MAX];
	const struct mt_mapping *mp;
	struct mt_maps m = {};
	ssize_t n;
	size_t i;

	(void)state;
	assert_int_equal(procmaps__read(getpid(), &m), 0);
	assert_true(m.n > 5);
	for (i = 1; i < m.n; i++)
		assert_true(m.v[i - 1].start < m.v[i].start);

	/* printf may be an ASan interceptor, but it must be executable code
	 * in a file; getpid is never intercepted and lives in libc. */
	mp = procmaps__find(&m, (uint64_t)(uintptr_t)&printf);
	assert_non_null(mp);
	assert_int_equal(mp->perms[2], 'x');
	assert_int_equal(mp->path[0], '/');

	mp = procmaps__find(&m, (uint64_t)(uintptr_t)&getpid);
	assert_non_null(mp);
	assert_int_equal(mp->perms[2], 'x');
	assert_non_null(strstr(mp->path, "/libc.so"));

	/* our own code is in our own executable */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	mp = procmaps__find(&m, (uint64_t)(uintptr_t)&local_function);
	assert_non_null(mp);
	assert_string_equal(mp->path, exe);
	assert_false(mp->deleted);

	/* map_files/ exists for file mappings (we run as root here); anonymous
	 * mappings fall back to root/ */
	assert_int_equal(procmaps__target_path(getpid(), mp, buf, sizeof(buf)), 0);
	if (access(buf, F_OK) == 0 && strstr(buf, "/map_files/")) {
		char want[64];

		snprintf(want, sizeof(want), "/proc/%d/map_files/%llx-%llx",
			 (int)getpid(), (unsigned long long)mp->start,
			 (unsigned long long)mp->end);
		assert_string_equal(buf, want);
	} else {
		char want[PATH_MAX + 32];

		snprintf(want, sizeof(want), "/proc/%d/root%s", (int)getpid(),
			 exe);
		assert_string_equal(buf, want);
	}
	assert_int_equal(procmaps__target_path(getpid(), mp, buf, 10),
			 -ENAMETOOLONG);
	procmaps__free(&m);
}

static void test_target_path_fallback(void **state)
{
	struct mt_mapping mp = {
		.start = 0x1000, .end = 0x2000, .path = (char *)"/usr/lib/x.so",
	};
	char buf[128];

	(void)state;
	/* no such mapping in our address space, so no map_files entry */
	assert_int_equal(procmaps__target_path(1234, &mp, buf, sizeof(buf)), 0);
	if (strstr(buf, "/map_files/") == NULL)
		assert_string_equal(buf, "/proc/1234/root/usr/lib/x.so");
	assert_int_equal(procmaps__target_path(1234, &mp, buf, 20),
			 -ENAMETOOLONG);
}

static void test_read_gone(void **state)
{
	struct mt_maps m = {};

	(void)state;
	/* pid_max is at most 2^22, so this pid cannot exist */
	assert_int_equal(procmaps__read(0x7ffffff0, &m), -ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_sample),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_unsorted_input_is_sorted),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_read_self),
		cmocka_unit_test(test_target_path_fallback),
		cmocka_unit_test(test_read_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

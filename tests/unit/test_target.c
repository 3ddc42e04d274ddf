// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_target.c - the target-facts layer on this very process: its modules
 * as libdwfl sees them (file identity and private copies), and the JIT
 * names of /tmp/perf-PID.map as a target could write them (incremental
 * reads, bounds, links refused).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "process/elfinfo.h"
#include "process/perfmap.h"
#include "process/target.h"
#include "symbolize/symbolize.h"

static void test_perfmap_parse(void **state)
{
	static const char text[] =
		"1000 10 first\n"
		"  0x2000\t0x20 second name (int)\r\n"
		"zz 10 bad_hex\n"
		"3000 0 zero_size\n"
		"4000 10\n"
		"fffffffffffffff0 100 wraps\n"
		"5000 10 partial";
	struct perfmap pm = { 0 };
	const struct perfmap_sym *s;
	size_t used = 0;

	(void)state;
	assert_int_equal(perfmap__parse(&pm, text, sizeof(text) - 1, &used), 0);
	/* the unterminated last line is left for the next read */
	assert_int_equal(used, strstr(text, "5000") - text);
	assert_int_equal(pm.n, 3);
	s = perfmap__find(&pm, 0x100f);
	assert_non_null(s);
	assert_string_equal(s->name, "first");
	assert_null(perfmap__find(&pm, 0x1010));
	s = perfmap__find(&pm, 0x2010);
	assert_non_null(s);
	assert_string_equal(s->name, "second name (int)");
	s = perfmap__find(&pm, ~0ULL - 1);
	assert_non_null(s);
	assert_string_equal(s->name, "wraps");
	assert_true(s->end == UINT64_MAX);
	assert_null(perfmap__find(&pm, 0x3000));

	/* the rest of the partial line arrives: fed from where we stopped */
	{
		char more[64];

		snprintf(more, sizeof(more), "%s0 tail\n", text + used);
		assert_int_equal(perfmap__parse(&pm, more, strlen(more), &used),
				 0);
		assert_int_equal(used, strlen(more));
		s = perfmap__find(&pm, 0x5005);
		assert_non_null(s);
		assert_string_equal(s->name, "partial0 tail");
	}
	perfmap__clear(&pm);
	assert_int_equal(pm.n, 0);

	/* overlapping ranges (a JIT reusing code space): a lookup inside the
	 * inner range finds it, one past it finds nothing rather than a
	 * wrong neighbour; found by fuzz_perfmap */
	assert_int_equal(perfmap__parse(&pm, "1000 3000 outer\n2000 10 inner\n",
					30, NULL), 0);
	s = perfmap__find(&pm, 0x2000);
	assert_non_null(s);
	assert_string_equal(s->name, "inner");
	s = perfmap__find(&pm, 0x1500);
	assert_non_null(s);
	assert_string_equal(s->name, "outer");
	perfmap__clear(&pm);
}

static void test_perfmap_bounds(void **state)
{
	struct perfmap pm = { 0 };
	size_t len = PERFMAP_NAME_MAX * 3, used;
	char *line = malloc(len + 32);

	(void)state;
	assert_non_null(line);
	memcpy(line, "10 10 ", 6);
	memset(line + 6, 'A', len);
	line[6 + len] = '\n';
	/* a NUL inside a name ends it; the parser never runs past len */
	assert_int_equal(perfmap__parse(&pm, line, 6 + len + 1, &used), 0);
	assert_int_equal(pm.n, 1);
	assert_int_equal(strlen(pm.v[0].name), PERFMAP_NAME_MAX);
	perfmap__clear(&pm);
	memcpy(line, "10 10 ab\0cd\n", 12);
	assert_int_equal(perfmap__parse(&pm, line, 12, &used), 0);
	assert_int_equal(pm.n, 1);
	assert_string_equal(pm.v[0].name, "ab");
	perfmap__clear(&pm);
	/* a range at the very top would clamp to nothing: skipped (found by
	 * fuzz_perfmap) */
	assert_int_equal(perfmap__parse(&pm, "ffffffffffffffff 10 top\n", 24,
					&used), 0);
	assert_int_equal(pm.n, 0);
	free(line);
}

__attribute__((noinline)) static int known_function(int x)
{
	return x * 3 + 1;
}

static void test_target_self(void **state)
{
	struct target_loc loc = { 0 };
	char exe[4096];
	struct stat st;
	struct target *t;
	ssize_t n;
	int fd;

	(void)state;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	assert_int_equal(stat(exe, &st), 0);
	t = target__open(getpid());
	assert_non_null(t);
	assert_string_equal(target__exe(t), exe);
	assert_true(target__covers(t, (uint64_t)(uintptr_t)known_function));
	assert_int_equal(target__locate(t, (uint64_t)(uintptr_t)known_function,
					&loc), 0);
	assert_non_null(loc.mod);
	assert_string_equal(loc.mod->display, exe);
	/* the module is known by the very file, device included */
	assert_true(loc.mod->ino == st.st_ino);
	assert_true(loc.mod->dev == st.st_dev);
	assert_true(loc.mod->size == (uint64_t)st.st_size);
	assert_true(loc.mod_start <= (uint64_t)(uintptr_t)known_function &&
		    (uint64_t)(uintptr_t)known_function < loc.mod_end);
	/* its private copy has the file's bytes and cannot be resized */
	fd = target__module_copy(loc.mod);
	assert_true(fd >= 0);
	{
		struct stat cs;

		assert_int_equal(fstat(fd, &cs), 0);
		assert_true(cs.st_size == st.st_size);
		assert_true(ftruncate(fd, 0) < 0);
	}
	close(fd);
	/* an address in no module */
	assert_int_equal(target__locate(t, 8, &loc), -ENOENT);
	target__close(t);
	assert_int_equal(known_function(1), 4);
}

/* Write this process's perf map; returns its path. */
static const char *map_path(void)
{
	static char path[64];

	snprintf(path, sizeof(path), "/tmp/perf-%d.map", getpid());
	return path;
}

static void test_target_jit(void **state)
{
	struct sym_result r = { 0 };
	struct target *t;
	FILE *f;

	(void)state;
	unlink(map_path());
	f = fopen(map_path(), "w");
	assert_non_null(f);
	fprintf(f, "10000 100 jit_one\n");
	fclose(f);
	t = target__open(getpid());
	assert_non_null(t);
	assert_int_equal(target__jit_symbol(t, 0x10010, &r), 0);
	assert_int_equal(r.n_frames, 1);
	assert_string_equal(r.frames[0].function, "jit_one");
	assert_string_equal(r.module, "[jit]");
	sym_result__clear(&r);
	target__close(t);

	/* a symlink in its place is never followed */
	unlink(map_path());
	f = fopen("/tmp/memtel-test-target-decoy.map", "w");
	assert_non_null(f);
	fprintf(f, "10000 100 decoy_name\n");
	fclose(f);
	assert_int_equal(symlink("/tmp/memtel-test-target-decoy.map",
				 map_path()), 0);
	t = target__open(getpid());
	assert_non_null(t);
	assert_int_equal(target__jit_symbol(t, 0x10010, &r), 0);
	assert_int_equal(r.n_frames, 0);
	sym_result__clear(&r);
	target__close(t);
	unlink(map_path());
	unlink("/tmp/memtel-test-target-decoy.map");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_perfmap_parse),
		cmocka_unit_test(test_perfmap_bounds),
		cmocka_unit_test(test_target_self),
		cmocka_unit_test(test_target_jit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

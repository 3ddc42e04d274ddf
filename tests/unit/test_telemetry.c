// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_telemetry.c - unit tests of the metrics files: metrics.jsonl stops
 * at its cap with whole lines only and the summary counts the windows it
 * dropped; a link planted at metrics.jsonl or leaks.txt is replaced, and
 * the file it points at is left alone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model/memmetrics.h"
#include "model/overhead.h"
#include "model/stacks.h"
#include "sinks/telemetry.h"
#include "util/fileio.h"

struct fixture {
	char dir[64];
	char *jsonl, *leaks;
	struct memmetrics *mm;
	struct stacks *stacks;
	struct telemetry *t;
};

static void fixture__open(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_telemetry.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_true(asprintf(&f->jsonl, "%s/metrics.jsonl", f->dir) > 0);
	assert_true(asprintf(&f->leaks, "%s/leaks.txt", f->dir) > 0);
	f->mm = memmetrics__new("session", "test", 0, (double)time(NULL));
	assert_non_null(f->mm);
	f->stacks = stacks__new();
	assert_non_null(f->stacks);
}

static void fixture__start(struct fixture *f, uint64_t cap)
{
	struct telemetry_opts o = {
		.outdir = f->dir, .pid = getpid(), .exe_path = "/usr/bin/test",
		.stacks = f->stacks, .mm = f->mm, .session_id = "session",
		.jsonl_max = cap,
	};

	f->t = telemetry__new(&o);
	assert_non_null(f->t);
}

static void fixture__close(struct fixture *f)
{
	char *cmd;

	telemetry__free(f->t);
	stacks__free(f->stacks);
	memmetrics__free(f->mm);
	assert_true(asprintf(&cmd, "rm -rf '%s'", f->dir) > 0);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f->jsonl);
	free(f->leaks);
}

static char *slurp(const char *path, size_t *len)
{
	char *buf = NULL;

	assert_int_equal(fileio__read_text(path, FILEIO_REGULAR, 1 << 24,
					   &buf, len), 0);
	return buf;
}

/* What telemetry__print says, as a string. */
static char *summary(struct telemetry *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	assert_non_null(m);
	telemetry__print(t, m);
	fclose(m);
	return buf;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_jsonl_cap(void **state)
{
	struct fixture f;
	size_t len, first, lines, i;
	char *data, *sum, expect[128];
	double t0 = (double)time(NULL);
	(void)state;

	/* One window tells the size of a line. */
	fixture__open(&f);
	fixture__start(&f, 0);
	assert_int_equal(telemetry__window(f.t, t0), 0);
	data = slurp(f.jsonl, &first);
	assert_true(first > 100);
	assert_int_equal(count_lines(data), 1);
	free(data);
	telemetry__free(f.t);

	/* A cap of two and a half lines: two are written, the rest dropped. */
	fixture__start(&f, first * 5 / 2);
	for (i = 0; i < 6; i++)
		assert_int_equal(telemetry__window(f.t, t0 + 1 + i), 0);
	assert_int_equal(telemetry__finish(f.t, t0 + 10), 0);
	data = slurp(f.jsonl, &len);
	lines = count_lines(data);
	assert_true(len <= first * 5 / 2);
	assert_true(lines >= 2);
	assert_true(len > 0 && data[len - 1] == '\n');	/* whole lines */
	assert_non_null(strstr(data, "{\"resourceMetrics\""));
	free(data);

	sum = summary(f.t);
	snprintf(expect, sizeof(expect), "/metrics.jsonl (%zu windows, %zu dropped past its ",
		 lines, 7 - lines);
	assert_non_null(strstr(sum, expect));
	assert_non_null(strstr(sum, " cap)\n"));
	free(sum);
	fixture__close(&f);
}

static void test_default_cap_no_drops(void **state)
{
	struct fixture f;
	char *sum;
	(void)state;

	fixture__open(&f);
	fixture__start(&f, 0);
	assert_int_equal(telemetry__window(f.t, (double)time(NULL)), 0);
	assert_int_equal(telemetry__finish(f.t, (double)time(NULL) + 1), 0);
	sum = summary(f.t);
	/* the line integration tests read: no "dropped" */
	assert_non_null(strstr(sum, "/metrics.jsonl (2 windows)\n"));
	free(sum);
	fixture__close(&f);
}

/* As root into a directory others can write: links are replaced. */
/* With an overhead model, every window ends with the heap probes' cost:
 * the calibrated ns per hit, hits per pid, and the estimated slowdown for
 * the window and the session. */
static void test_overhead_points(void **state)
{
	struct overhead *ov = overhead__new(500.0);
	struct fixture f;
	char *text, want[128];
	size_t len;

	(void)state;
	assert_non_null(ov);
	fixture__open(&f);
	fixture__start(&f, 0);
	/* pid 4242: 2M hits x 500 ns = 1 s of probes in 11 s of CPU: 10% */
	assert_int_equal(overhead__update(ov, 4242, 0, 0, 0), 0);
	assert_int_equal(overhead__update(ov, 4242, 2000000, 11000000000ULL,
					  10000000000ULL), 0);
	telemetry__set_overhead(f.t, ov);
	assert_int_equal(telemetry__window(f.t, (double)time(NULL)), 0);
	assert_int_equal(telemetry__finish(f.t, (double)time(NULL) + 1), 0);
	text = slurp(f.jsonl, &len);
	assert_non_null(strstr(text, "\"memtel.probe.cost\""));
	assert_non_null(strstr(text, "\"asDouble\":500"));
	snprintf(want, sizeof(want), "\"memtel.probe.hits\"");
	assert_non_null(strstr(text, want));
	assert_non_null(strstr(text, "\"stringValue\":\"4242\""));
	assert_non_null(strstr(text, "\"stringValue\":\"window\""));
	assert_non_null(strstr(text, "\"stringValue\":\"session\""));
	assert_non_null(strstr(text, "\"asDouble\":0.1"));
	free(text);
	fixture__close(&f);
	overhead__free(ov);
}

static void test_planted_links(void **state)
{
	char victim[] = "/tmp/test_telemetry_victim.XXXXXX";
	struct fixture f;
	struct stat st;
	char *data;
	int fd;
	(void)state;

	fd = mkstemp(victim);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "victim\n", 7), 7);
	close(fd);

	fixture__open(&f);
	assert_int_equal(symlink(victim, f.jsonl), 0);
	assert_int_equal(symlink(victim, f.leaks), 0);
	fixture__start(&f, 0);
	assert_int_equal(telemetry__window(f.t, (double)time(NULL)), 0);
	assert_int_equal(telemetry__finish(f.t, (double)time(NULL) + 1), 0);

	data = slurp(victim, NULL);
	assert_string_equal(data, "victim\n");
	free(data);
	assert_int_equal(lstat(f.jsonl, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(lstat(f.leaks, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0644);
	data = slurp(f.leaks, NULL);
	assert_non_null(strstr(data, "leak suspects: "));
	free(data);

	fixture__close(&f);
	unlink(victim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jsonl_cap),
		cmocka_unit_test(test_default_cap_no_drops),
		cmocka_unit_test(test_planted_links),
		cmocka_unit_test(test_overhead_points),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_flamegraph.c - unit tests of the flame graph module: exact folded
 * output (merging, byte-order sorting, ';' and newline substitution), totals
 * and argument errors, and SVGs that are well-formed XML (checked with
 * python3's minidom when python3 is installed) with every name escaped,
 * narrow frames dropped, and a "no samples" picture for an empty graph.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sinks/file/flamegraph.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static char *make_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *dir;

	assert_true(asprintf(&dir, "%s/test_flamegraph.XXXXXX",
			     base && *base ? base : "/tmp") > 0);
	assert_non_null(mkdtemp(dir));
	return dir;
}

static void rm_tmpdir(char *dir)
{
	assert_int_equal(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
	free(dir);
}

static char *path_in(const char *dir, const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long len;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len >= 0);
	rewind(f);
	buf = malloc(len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static void add(struct flamegraph *fg, uint64_t value, size_t n, ...)
{
	const char *frames[16];
	va_list ap;
	size_t i;

	assert_true(n <= ARRAY_SIZE(frames));
	va_start(ap, n);
	for (i = 0; i < n; i++)
		frames[i] = va_arg(ap, const char *);
	va_end(ap);
	assert_int_equal(flamegraph__add(fg, frames, n, value), 0);
}

static size_t count_entries(const char *dir)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(dir);

	assert_non_null(d);
	/* Temporary files are dot files: count them too. */
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

/* Well-formed XML per python3's minidom; true (skipped) without python3. */
static bool xml_ok(const char *path)
{
	char *cmd;
	int rc;

	if (system("command -v python3 >/dev/null 2>&1") != 0) {
		print_message("python3 missing: XML check of %s skipped\n",
			      path);
		return true;
	}
	assert_true(asprintf(&cmd, "python3 -c 'import xml.dom.minidom,sys; "
			     "xml.dom.minidom.parse(sys.argv[1])' '%s'",
			     path) > 0);
	rc = system(cmd);
	free(cmd);
	return rc == 0;
}

static void test_folded_exact(void **state)
{
	struct flamegraph *fg = flamegraph__new();
	char *dir = make_tmpdir(), *path = path_in(dir, "cpu.folded"), *out;
	(void)state;

	assert_non_null(fg);
	add(fg, 3, 3, "main", "a", "b");
	add(fg, 2, 2, "main", "a");
	add(fg, 4, 3, "main", "a", "b");	/* merges: 7 */
	add(fg, 1, 2, "main", "c;d");		/* ';' -> ':' */
	add(fg, 2, 2, "main", "c:d");		/* now equal: 3 */
	add(fg, 5, 2, "main", "x\ny\r\tz");	/* controls -> ' ' */
	add(fg, 1, 2, "main", "a b");		/* ' ' sorts before ';' */
	add(fg, 6, 1, "other");
	add(fg, 1, 3, "main", "", "leaf");	/* "" -> [unknown] */
	add(fg, 9, 2, "main", "0zero");		/* '0' sorts before 'a' */

	assert_int_equal(flamegraph__write_folded(fg, path), 0);
	out = slurp(path);
	assert_string_equal(out,
			    "main;0zero 9\n"
			    "main;[unknown];leaf 1\n"
			    "main;a 2\n"
			    "main;a b 1\n"
			    "main;a;b 7\n"
			    "main;c:d 3\n"
			    "main;x y  z 5\n"
			    "other 6\n");
	free(out);
	/* Only the output: the temporary file was renamed, not left. */
	assert_int_equal(count_entries(dir), 1);

	/* Rewriting replaces the file. */
	add(fg, 1, 1, "other");
	assert_int_equal(flamegraph__write_folded(fg, path), 0);
	out = slurp(path);
	assert_non_null(strstr(out, "\nother 7\n"));
	free(out);

	free(path);
	rm_tmpdir(dir);
	flamegraph__free(fg);
}

static void test_totals_and_errors(void **state)
{
	struct flamegraph *fg = flamegraph__new();
	const char *frames[] = { "main", "work" };
	const char *with_null[] = { "main", NULL };
	char *dir = make_tmpdir(), *path;
	(void)state;

	assert_non_null(fg);
	assert_int_equal(flamegraph__total(NULL), 0);
	assert_int_equal(flamegraph__total(fg), 0);
	assert_int_equal(flamegraph__add(fg, frames, 2, 10), 0);
	assert_int_equal(flamegraph__add(fg, frames, 1, 5), 0);
	assert_int_equal(flamegraph__add(fg, frames, 2, 0), 0);
	assert_int_equal(flamegraph__total(fg), 15);

	assert_int_equal(flamegraph__add(NULL, frames, 2, 1), -EINVAL);
	assert_int_equal(flamegraph__add(fg, NULL, 2, 1), -EINVAL);
	assert_int_equal(flamegraph__add(fg, frames, 0, 1), -EINVAL);
	assert_int_equal(flamegraph__add(fg, with_null, 2, 1), -EINVAL);
	assert_int_equal(flamegraph__add(fg, frames, 2, UINT64_MAX - 14),
			 -EOVERFLOW);
	assert_int_equal(flamegraph__add(fg, frames, 2, UINT64_MAX - 15), 0);
	assert_true(flamegraph__total(fg) == UINT64_MAX);

	assert_int_equal(flamegraph__write_folded(NULL, "/tmp/x"), -EINVAL);
	assert_int_equal(flamegraph__write_folded(fg, NULL), -EINVAL);
	assert_int_equal(flamegraph__write_svg(NULL, "/tmp/x", NULL), -EINVAL);
	path = path_in(dir, "no/such/dir.svg");
	assert_int_equal(flamegraph__write_svg(fg, path, NULL), -ENOENT);
	assert_int_equal(flamegraph__write_folded(fg, path), -ENOENT);
	free(path);

	path = path_in(dir, "bad.svg");
	assert_int_equal(flamegraph__write_svg(fg, path,
		&(struct flamegraph_opts){ .palette = "rainbow" }), -EINVAL);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(count_entries(dir), 0);
	free(path);

	flamegraph__free(NULL);
	flamegraph__free(fg);
	rm_tmpdir(dir);
}

static void test_svg(void **state)
{
	const struct flamegraph_opts o = {
		.title = "CPU <profile> & \"friends\"",
		.subtitle = "pid 42",
		.unit = "samples",
		.palette = "hot",
	};
	struct flamegraph *fg = flamegraph__new();
	char *dir = make_tmpdir(), *path = path_in(dir, "cpu.svg"), *out;
	(void)state;

	assert_non_null(fg);
	add(fg, 500, 3, "main", "parse_config", "read_file");
	add(fg, 300, 3, "main", "compute", "operator<<(std::ostream&, \"x\")'s");
	add(fg, 199, 2, "main", "bad\xff\xfe utf8\x01");
	/* U+FFFE (not XML), an overlong '/', then a valid e-acute */
	add(fg, 100, 2, "main", "nc\xef\xbf\xbe ol\xc0\xaf caf\xc3\xa9");
	add(fg, 1, 2, "main", "tiny_frame_below_threshold");	/* 0.1% */
	add(fg, 1000, 2, "main", "compute");

	assert_int_equal(flamegraph__write_svg(fg, path, &o), 0);
	assert_true(xml_ok(path));
	out = slurp(path);
	assert_non_null(strstr(out, "<svg"));
	assert_non_null(strstr(out, "<script"));
	/* The viewer's script and style, embedded from flamegraph.js/.css. */
	assert_non_null(strstr(out, "<![CDATA[\n/* SPDX"));
	assert_non_null(strstr(out, "function zoom(f) {"));
	assert_non_null(strstr(out, "window.flamegraph = {"));
	assert_non_null(strstr(out, ".f:hover rect { stroke: #000;"));
	assert_null(strstr(out, "href"));		/* self-contained */
	assert_non_null(strstr(out, "CPU &lt;profile&gt; &amp; "
				    "&quot;friends&quot;"));
	assert_non_null(strstr(out, "pid 42"));
	assert_non_null(strstr(out, "<title>main\n"));
	assert_non_null(strstr(out, "<title>parse_config\n"));
	assert_non_null(strstr(out, "<title>read_file\n"));
	assert_non_null(strstr(out, "<title>operator&lt;&lt;(std::ostream&amp;,"
				    " &quot;x&quot;)&apos;s\n"));
	assert_null(strstr(out, "operator<<"));
	/* Bad bytes become U+FFFD, control characters spaces. */
	assert_non_null(strstr(out, "<title>bad\xEF\xBF\xBD\xEF\xBF\xBD utf8 \n"));
	assert_non_null(strstr(out, "<title>nc\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD ol"
				    "\xEF\xBF\xBD\xEF\xBF\xBD caf\xC3\xA9\n"));
	/* 1 of 2100 is under 0.1%: not drawn. 2100 samples is 100%. */
	assert_null(strstr(out, "tiny_frame_below_threshold"));
	assert_non_null(strstr(out, "<title>all\n2,100 samples, 100.00%"));
	assert_non_null(strstr(out, "<title>compute\n1,300 samples, 61.90%"));
	assert_non_null(strstr(out, "Reset Zoom"));
	assert_non_null(strstr(out, ">Search<"));
	free(out);
	assert_int_equal(count_entries(dir), 1);

	free(path);
	rm_tmpdir(dir);
	flamegraph__free(fg);
}

static void test_svg_bytes(void **state)
{
	const struct flamegraph_opts o = {
		.title = "Heap", .unit = "bytes", .palette = "mem",
	};
	struct flamegraph *fg = flamegraph__new();
	char *dir = make_tmpdir(), *path = path_in(dir, "heap.svg"), *out;
	(void)state;

	assert_non_null(fg);
	add(fg, 3 << 20, 2, "main", "big_alloc");
	add(fg, 1 << 20, 2, "main", "small_alloc");
	add(fg, 5000, 3, "main", "small_alloc", "odd");
	assert_int_equal(flamegraph__write_svg(fg, path, &o), 0);
	assert_true(xml_ok(path));
	out = slurp(path);
	assert_non_null(strstr(out, "<title>big_alloc\n3.00 MiB, 74.91%"));
	assert_non_null(strstr(out, "<title>odd\n4.88 KiB, 0.12%"));
	assert_non_null(strstr(out, "data-unit=\"bytes\""));
	free(out);

	free(path);
	rm_tmpdir(dir);
	flamegraph__free(fg);
}

static void test_svg_empty(void **state)
{
	struct flamegraph *fg = flamegraph__new();
	char *dir = make_tmpdir(), *path = path_in(dir, "empty.svg");
	char *folded = path_in(dir, "empty.folded"), *out;
	(void)state;

	assert_non_null(fg);
	assert_int_equal(flamegraph__write_svg(fg, path, NULL), 0);
	assert_true(xml_ok(path));
	out = slurp(path);
	assert_non_null(strstr(out, "no samples"));
	assert_non_null(strstr(out, "Flame Graph"));
	free(out);

	assert_int_equal(flamegraph__write_folded(fg, folded), 0);
	out = slurp(folded);
	assert_string_equal(out, "");
	free(out);

	free(folded);
	free(path);
	rm_tmpdir(dir);
	flamegraph__free(fg);
}

/* Many random stacks: folded lines are strictly sorted, distinct, and add
 * up to the total; the SVG stays well-formed. */
static void test_many(void **state)
{
	static const char *const names[] = {
		"main", "run", "loop", "alloc", "free", "hash;table", "parse",
		"emit", "x<y>", "a&b", "deep",
	};
	struct flamegraph *fg = flamegraph__new();
	char *dir = make_tmpdir(), *path = path_in(dir, "many.folded");
	char *svg = path_in(dir, "many.svg"), *out, *line, *save, *prev = NULL;
	uint64_t sum = 0, expect = 0;
	unsigned seed = 1;
	size_t i, j, lines = 0;
	(void)state;

	assert_non_null(fg);
	for (i = 0; i < 20000; i++) {
		const char *frames[12];
		size_t n = 1 + rand_r(&seed) % ARRAY_SIZE(frames);
		uint64_t v = 1 + rand_r(&seed) % 100;

		frames[0] = "main";
		for (j = 1; j < n; j++)
			frames[j] = names[rand_r(&seed) % 4 +
					  (j > 6 ? rand_r(&seed) % 7 : 0)];
		assert_int_equal(flamegraph__add(fg, frames, n, v), 0);
		expect += v;
	}
	assert_true(flamegraph__total(fg) == expect);
	assert_int_equal(flamegraph__write_folded(fg, path), 0);
	out = slurp(path);
	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *sp = strrchr(line, ' ');

		assert_non_null(sp);
		*sp = '\0';
		sum += strtoull(sp + 1, NULL, 10);
		if (prev)
			assert_true(strcmp(prev, line) < 0);
		prev = line;
		lines++;
	}
	assert_true(sum == expect);
	assert_true(lines > 1000);
	free(out);

	assert_int_equal(flamegraph__write_svg(fg, svg, NULL), 0);
	assert_true(xml_ok(svg));

	free(svg);
	free(path);
	rm_tmpdir(dir);
	flamegraph__free(fg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_folded_exact),
		cmocka_unit_test(test_totals_and_errors),
		cmocka_unit_test(test_svg),
		cmocka_unit_test(test_svg_bytes),
		cmocka_unit_test(test_svg_empty),
		cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

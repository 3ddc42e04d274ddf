// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_pprof.c - unit tests of the pprof builder: interning, every field
 * surviving serialize + protobuf-c unpack, the gzip file round trip, a large
 * profile, and (when `go` is installed) that `go tool pprof` reads our files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "sinks/file/pprof.h"
#include "profile.pb-c.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

typedef Perftools__Profiles__Profile profile_t;

static const char *heap_types[][2] = {
	{ "alloc_objects", "count" },
	{ "alloc_space", "bytes" },
	{ "inuse_objects", "count" },
	{ "inuse_space", "bytes" },
};

/* A builder set up the way the heap profile uses it. */
static struct pprof_builder *heap_builder(void)
{
	struct pprof_builder *b = pprof_builder__new();
	size_t i;

	assert_non_null(b);
	for (i = 0; i < ARRAY_SIZE(heap_types); i++)
		assert_int_equal(pprof_builder__add_sample_type(b,
			heap_types[i][0], heap_types[i][1]), 0);
	pprof_builder__set_period(b, "space", "bytes", 524288);
	return b;
}

static profile_t *unpack_builder(struct pprof_builder *b)
{
	profile_t *p;
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_int_equal(pprof_builder__serialize(b, &buf, &len), 0);
	assert_non_null(buf);
	p = perftools__profiles__profile__unpack(NULL, len, buf);
	free(buf);
	assert_non_null(p);
	return p;
}

static const char *str_at(const profile_t *p, int64_t idx)
{
	assert_true(idx >= 0 && (size_t)idx < p->n_string_table);
	return p->string_table[idx];
}

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

	assert_true(asprintf(&dir, "%s/test_pprof.XXXXXX",
			     base && *base ? base : "/tmp") > 0);
	assert_non_null(mkdtemp(dir));
	return dir;
}

static void rm_tmpdir(char *dir)
{
	assert_int_equal(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
	free(dir);
}

static void test_string_table_zero(void **state)
{
	struct pprof_builder *b = pprof_builder__new();
	profile_t *p;
	size_t i, j;

	(void)state;
	assert_non_null(b);
	p = unpack_builder(b);
	assert_int_equal(p->n_string_table, 1);
	assert_string_equal(p->string_table[0], "");
	perftools__profiles__profile__free_unpacked(p, NULL);
	pprof_builder__free(b);

	b = heap_builder();
	/* "" and NULL map to entry 0 rather than being added again. */
	assert_int_equal(pprof_builder__add_comment(b, ""), 0);
	assert_int_equal(pprof_builder__add_comment(b, "bytes"), 0);
	p = unpack_builder(b);
	assert_string_equal(p->string_table[0], "");
	for (i = 0; i < p->n_string_table; i++)
		for (j = i + 1; j < p->n_string_table; j++)
			assert_string_not_equal(p->string_table[i],
						p->string_table[j]);
	assert_int_equal(p->n_comment, 2);
	assert_int_equal(p->comment[0], 0);
	assert_string_equal(str_at(p, p->comment[1]), "bytes");
	perftools__profiles__profile__free_unpacked(p, NULL);
	pprof_builder__free(b);
}

static void test_interning(void **state)
{
	struct pprof_line a = { "main", "main", "app.c", 10, 5 };
	struct pprof_line a11 = { "main", "main", "app.c", 11, 5 };
	struct pprof_line c = { "work", "_Z4workv", "app.c", 30, 28 };
	struct pprof_line inl[2] = {
		{ "helper", NULL, "app.h", 3, 1 },
		{ "work", "_Z4workv", "app.c", 31, 28 },
	};
	struct pprof_builder *b = heap_builder();
	uint64_t m1, m2, l1, l2, l3, l4, l5, l6, l7, l8;
	profile_t *p;

	(void)state;
	m1 = pprof_builder__add_mapping(b, 0x400000, 0x500000, 0, "/bin/app",
					"abcd", 1, 1, 1);
	assert_int_equal(m1, 1);
	assert_int_equal(pprof_builder__add_mapping(b, 0x400000, 0x500000, 0,
						    "/bin/app", "abcd", 1, 1,
						    1), m1);
	m2 = pprof_builder__add_mapping(b, 0x7f0000, 0x7f1000, 0x1000,
					"/lib/libc.so.6", NULL, 0, 0, 0);
	assert_int_equal(m2, 2);

	l1 = pprof_builder__add_location(b, m1, 0x401000, &a, 1);
	assert_int_equal(l1, 1);
	/* Same (mapping, address): same id, whatever the lines say. */
	assert_int_equal(pprof_builder__add_location(b, m1, 0x401000, &c, 1),
			 l1);
	l2 = pprof_builder__add_location(b, m1, 0x401010, &a, 1);
	l3 = pprof_builder__add_location(b, m2, 0x401000, &a, 1);
	assert_int_equal(l2, 2);
	assert_int_equal(l3, 3);
	/* Address 0: interned on the lines. */
	l4 = pprof_builder__add_location(b, 0, 0, &a, 1);
	assert_int_equal(pprof_builder__add_location(b, 0, 0, &a, 1), l4);
	l5 = pprof_builder__add_location(b, 0, 0, &a11, 1);
	l6 = pprof_builder__add_location(b, 0, 0, &c, 1);
	l7 = pprof_builder__add_location(b, 0, 0, inl, 2);
	assert_int_equal(pprof_builder__add_location(b, 0, 0, inl, 2), l7);
	l8 = pprof_builder__add_location(b, 0, 0, inl, 1);
	assert_int_equal(l4, 4);
	assert_int_equal(l5, 5);
	assert_int_equal(l6, 6);
	assert_int_equal(l7, 7);
	assert_int_equal(l8, 8);

	p = unpack_builder(b);
	assert_int_equal(p->n_mapping, 2);
	assert_int_equal(p->n_location, 8);
	/* main, work, helper: a11 is another line of main, not a function. */
	assert_int_equal(p->n_function, 3);
	assert_int_equal(p->location[0]->line[0]->function_id,
			 p->location[1]->line[0]->function_id);
	assert_int_equal(p->location[4]->line[0]->line, 11);
	assert_int_equal(p->location[6]->n_line, 2);
	assert_string_equal(str_at(p, p->function[2]->name), "helper");
	assert_int_equal(p->function[2]->system_name, 0);
	assert_string_equal(str_at(p, p->function[1]->system_name),
			    "_Z4workv");
	perftools__profiles__profile__free_unpacked(p, NULL);
	pprof_builder__free(b);
}

static void test_roundtrip_fields(void **state)
{
	struct pprof_line leaf = { "xmalloc", "xmalloc", "/src/mem.c", 42, 40 };
	struct pprof_line inl[2] = {
		{ "parse_item", "_Z10parse_itemv", "/src/parse.h", 7, 5 },
		{ "parse_all", "_Z9parse_allv", "/src/parse.c", 99, 90 },
	};
	struct pprof_line mainl = { "main", NULL, "/src/main.c", 12, 3 };
	struct pprof_label labels[3] = {
		{ .key = "pid", .num = 1234 },
		{ .key = "bytes", .num = 4096, .num_unit = "bytes" },
		{ .key = "comm", .str = "app" },
	};
	int64_t v1[4] = { 3, 3 * 4096, 1, 4096 }, v2[4] = { 1, 100, 0, 0 };
	uint64_t m, locs[3], s2[2];
	struct pprof_builder *b = heap_builder();
	const Perftools__Profiles__Mapping *pm;
	const Perftools__Profiles__Location *pl;
	const Perftools__Profiles__Function *pf;
	const Perftools__Profiles__Sample *ps;
	const Perftools__Profiles__Label *lb;
	profile_t *p;
	size_t i;

	(void)state;
	pprof_builder__set_time(b, 1700000000123456789LL, 5000000000LL);
	assert_int_equal(pprof_builder__set_default_sample_type(b,
							"inuse_space"), 0);
	assert_int_equal(pprof_builder__add_comment(b, "memtel-bpf test"), 0);
	m = pprof_builder__add_mapping(b, 0x555500000000ULL, 0x555500010000ULL,
				       0x1000, "/usr/bin/app",
				       "0123456789abcdef", 1, 1, 0);
	assert_int_equal(m, 1);
	locs[0] = pprof_builder__add_location(b, m, 0x555500001234ULL, &leaf, 1);
	locs[1] = pprof_builder__add_location(b, m, 0x555500002000ULL, inl, 2);
	locs[2] = pprof_builder__add_location(b, 0, 0xffffffff81000000ULL,
					      &mainl, 1);
	assert_int_equal(pprof_builder__add_sample(b, locs, 3, v1, 4, labels,
						   3), 0);
	s2[0] = locs[0];
	s2[1] = locs[2];
	assert_int_equal(pprof_builder__add_sample(b, s2, 2, v2, 4, NULL, 0), 0);

	p = unpack_builder(b);
	assert_string_equal(p->string_table[0], "");

	assert_int_equal(p->n_sample_type, 4);
	for (i = 0; i < 4; i++) {
		assert_string_equal(str_at(p, p->sample_type[i]->type),
				    heap_types[i][0]);
		assert_string_equal(str_at(p, p->sample_type[i]->unit),
				    heap_types[i][1]);
	}
	assert_non_null(p->period_type);
	assert_string_equal(str_at(p, p->period_type->type), "space");
	assert_string_equal(str_at(p, p->period_type->unit), "bytes");
	assert_int_equal(p->period, 524288);
	assert_int_equal(p->time_nanos, 1700000000123456789LL);
	assert_int_equal(p->duration_nanos, 5000000000LL);
	assert_string_equal(str_at(p, p->default_sample_type), "inuse_space");
	assert_int_equal(p->n_comment, 1);
	assert_string_equal(str_at(p, p->comment[0]), "memtel-bpf test");
	assert_int_equal(p->drop_frames, 0);
	assert_int_equal(p->keep_frames, 0);

	assert_int_equal(p->n_mapping, 1);
	pm = p->mapping[0];
	assert_int_equal(pm->id, 1);
	assert_int_equal(pm->memory_start, 0x555500000000ULL);
	assert_int_equal(pm->memory_limit, 0x555500010000ULL);
	assert_int_equal(pm->file_offset, 0x1000);
	assert_string_equal(str_at(p, pm->filename), "/usr/bin/app");
	assert_string_equal(str_at(p, pm->build_id), "0123456789abcdef");
	assert_true(pm->has_functions);
	assert_true(pm->has_filenames);
	assert_false(pm->has_line_numbers);

	assert_int_equal(p->n_location, 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(p->location[i]->id, i + 1);
	pl = p->location[0];
	assert_int_equal(pl->mapping_id, 1);
	assert_int_equal(pl->address, 0x555500001234ULL);
	assert_int_equal(pl->n_line, 1);
	assert_int_equal(pl->line[0]->line, 42);
	pl = p->location[1];
	assert_int_equal(pl->n_line, 2);
	assert_int_equal(pl->line[0]->line, 7);
	assert_int_equal(pl->line[1]->line, 99);
	pf = p->function[pl->line[0]->function_id - 1];
	assert_int_equal(pf->id, pl->line[0]->function_id);
	assert_string_equal(str_at(p, pf->name), "parse_item");
	assert_string_equal(str_at(p, pf->system_name), "_Z10parse_itemv");
	assert_string_equal(str_at(p, pf->filename), "/src/parse.h");
	assert_int_equal(pf->start_line, 5);
	pf = p->function[pl->line[1]->function_id - 1];
	assert_string_equal(str_at(p, pf->name), "parse_all");
	pl = p->location[2];
	assert_int_equal(pl->mapping_id, 0);
	assert_int_equal(pl->address, 0xffffffff81000000ULL);
	pf = p->function[pl->line[0]->function_id - 1];
	assert_string_equal(str_at(p, pf->name), "main");
	assert_int_equal(pf->system_name, 0);
	assert_int_equal(p->n_function, 4);
	for (i = 0; i < p->n_function; i++)
		assert_int_equal(p->function[i]->id, i + 1);

	assert_int_equal(p->n_sample, 2);
	ps = p->sample[0];
	assert_int_equal(ps->n_location_id, 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(ps->location_id[i], locs[i]);
	assert_int_equal(ps->n_value, 4);
	assert_memory_equal(ps->value, v1, sizeof(v1));
	assert_int_equal(ps->n_label, 3);
	lb = ps->label[0];
	assert_string_equal(str_at(p, lb->key), "pid");
	assert_int_equal(lb->num, 1234);
	assert_int_equal(lb->num_unit, 0);
	assert_int_equal(lb->str, 0);
	lb = ps->label[1];
	assert_string_equal(str_at(p, lb->key), "bytes");
	assert_int_equal(lb->num, 4096);
	assert_string_equal(str_at(p, lb->num_unit), "bytes");
	lb = ps->label[2];
	assert_string_equal(str_at(p, lb->key), "comm");
	assert_string_equal(str_at(p, lb->str), "app");
	assert_int_equal(lb->num, 0);
	ps = p->sample[1];
	assert_int_equal(ps->n_location_id, 2);
	assert_int_equal(ps->location_id[0], locs[0]);
	assert_int_equal(ps->location_id[1], locs[2]);
	assert_memory_equal(ps->value, v2, sizeof(v2));
	assert_int_equal(ps->n_label, 0);

	perftools__profiles__profile__free_unpacked(p, NULL);
	pprof_builder__free(b);
}

static void test_errors(void **state)
{
	struct pprof_line a = { "f", NULL, NULL, 0, 0 };
	struct pprof_label nokey = { .key = NULL, .num = 1 };
	int64_t v[4] = { 1, 2, 3, 4 };
	struct pprof_builder *b = heap_builder();
	uint64_t loc, bad;
	profile_t *p;

	(void)state;
	pprof_builder__free(NULL);
	assert_int_equal(pprof_builder__add_sample_type(NULL, "a", "b"),
			 -EINVAL);
	assert_int_equal(pprof_builder__set_default_sample_type(b, "cpu"),
			 -ENOENT);
	assert_int_equal(pprof_builder__add_location(b, 7, 0x1000, &a, 1), 0);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(pprof_builder__add_mapping(b, 0x2000, 0x1000, 0, "x",
						    NULL, 0, 0, 0), 0);
	/* First location and sample with empty pools: no lines, labels. */
	assert_int_equal(pprof_builder__add_location(b, 0, 0x10, NULL, 0), 1);
	loc = pprof_builder__add_location(b, 0, 0x1000, &a, 1);
	assert_int_equal(loc, 2);
	bad = 3;
	assert_int_equal(pprof_builder__add_sample(b, &bad, 1, v, 4, NULL, 0),
			 -EINVAL);
	assert_int_equal(pprof_builder__add_sample(b, &loc, 1, v, 3, NULL, 0),
			 -EINVAL);
	assert_int_equal(pprof_builder__add_sample(b, &loc, 1, v, 4, &nokey,
						   1), -EINVAL);
	assert_int_equal(pprof_builder__add_sample(b, NULL, 0, v, 4, NULL, 0),
			 0);
	assert_int_equal(pprof_builder__add_sample(b, &loc, 1, v, 4, NULL, 0),
			 0);
	/* Sample types are fixed once a sample holds values for them. */
	assert_int_equal(pprof_builder__add_sample_type(b, "x", "count"),
			 -EINVAL);
	/* A frame nothing is known about gets no Line. */
	a.function = NULL;
	loc = pprof_builder__add_location(b, 0, 0x2000, &a, 1);
	assert_int_equal(loc, 3);
	assert_int_equal(pprof_builder__write_gz(b, "/nonexistent/dir/x.pb.gz"),
			 -ENOENT);
	p = unpack_builder(b);
	assert_int_equal(p->n_location, 3);
	assert_int_equal(p->location[0]->n_line, 0);
	assert_int_equal(p->location[2]->n_line, 0);
	assert_int_equal(p->n_sample, 2);
	assert_int_equal(p->sample[0]->n_location_id, 0);
	assert_int_equal(p->sample[1]->location_id[0], 2);
	perftools__profiles__profile__free_unpacked(p, NULL);
	pprof_builder__free(b);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc(n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, n, f), n);
	fclose(f);
	*len = n;
	return buf;
}

static uint8_t *gunzip(const uint8_t *in, size_t in_len, size_t *out_len)
{
	z_stream zs = { 0 };
	size_t cap = 4096, len = 0;
	uint8_t *out = malloc(cap);
	int ret;

	assert_non_null(out);
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = (uint8_t *)in;
	zs.avail_in = in_len;
	do {
		if (len == cap) {
			cap *= 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
		zs.next_out = out + len;
		zs.avail_out = cap - len;
		ret = inflate(&zs, Z_NO_FLUSH);
		assert_true(ret == Z_OK || ret == Z_STREAM_END);
		len = cap - zs.avail_out;
	} while (ret != Z_STREAM_END);
	assert_int_equal(zs.avail_in, 0);
	inflateEnd(&zs);
	*out_len = len;
	return out;
}

static void add_many(struct pprof_builder *b, size_t n_locs, size_t n_samples)
{
	struct pprof_label lb[2] = {
		{ .key = "pid" },
		{ .key = "comm", .str = "app" },
	};
	struct pprof_line ln = { .filename = "gen.c" };
	uint64_t m, ids[3];
	int64_t v[4];
	char name[32];
	size_t i;

	m = pprof_builder__add_mapping(b, 0x400000, 0x40000000, 0, "/bin/gen",
				       NULL, 1, 1, 1);
	assert_int_equal(m, 1);
	for (i = 0; i < n_locs; i++) {
		snprintf(name, sizeof(name), "fn_%zu", i / 4);
		ln.function = name;
		ln.line = i;
		assert_int_equal(pprof_builder__add_location(b, m,
						0x400000 + 16 * i, &ln, 1),
				 i + 1);
	}
	for (i = 0; i < n_samples; i++) {
		ids[0] = 1 + i % n_locs;
		ids[1] = 1 + (i / 7) % n_locs;
		ids[2] = 1;
		v[0] = 1;
		v[1] = i;
		v[2] = i & 1;
		v[3] = (i & 1) * i;
		lb[0].num = i;
		assert_int_equal(pprof_builder__add_sample(b, ids, 1 + i % 3, v,
							   4, lb, i % 3), 0);
	}
}

static void check_many(const profile_t *p, size_t n_locs, size_t n_samples)
{
	const Perftools__Profiles__Sample *s;
	size_t i;

	assert_int_equal(p->n_location, n_locs);
	assert_int_equal(p->n_function, (n_locs + 3) / 4);
	assert_int_equal(p->n_sample, n_samples);
	for (i = 0; i < n_samples; i++) {
		s = p->sample[i];
		assert_int_equal(s->n_location_id, 1 + i % 3);
		assert_int_equal(s->location_id[0], 1 + i % n_locs);
		assert_int_equal(s->n_value, 4);
		assert_int_equal(s->value[1], i);
		assert_int_equal(s->value[3], (i & 1) * i);
		assert_int_equal(s->n_label, i % 3);
		if (s->n_label)
			assert_int_equal(s->label[0]->num, i);
		if (s->n_label > 1)
			assert_string_equal(str_at(p, s->label[1]->str), "app");
	}
}

/* Entries of dir other than . and .. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_write_gz(void **state)
{
	struct pprof_builder *b = heap_builder();
	char *dir = make_tmpdir(), *path, *tmp, *victim;
	uint8_t *raw, *gz, *pb;
	size_t raw_len, gz_len, pb_len;
	struct stat st;
	profile_t *p;
	FILE *f;

	(void)state;
	/* More than one sample chunk, so the stream spans several blocks. */
	add_many(b, 1000, 10000);
	assert_true(asprintf(&path, "%s/heap.pb.gz", dir) > 0);
	assert_true(asprintf(&tmp, "%s.tmp", path) > 0);
	/* A link planted at the old fixed tmp name is neither followed nor
	 * in the way (util/fileio.h picks a new name with O_EXCL). */
	assert_true(asprintf(&victim, "%s/victim", dir) > 0);
	f = fopen(victim, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(symlink(victim, tmp), 0);
	assert_int_equal(pprof_builder__write_gz(b, path), 0);
	assert_int_equal(stat(victim, &st), 0);
	assert_int_equal(st.st_size, 0);
	/* Overwriting an existing profile works too, and a link planted at
	 * the final name is replaced, not written through. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(victim, path), 0);
	assert_int_equal(pprof_builder__write_gz(b, path), 0);
	assert_int_equal(pprof_builder__write_gz(b, path), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(stat(victim, &st), 0);
	assert_int_equal(st.st_size, 0);
	/* and no temporary file is left behind */
	assert_int_equal(count_entries(dir), 3);

	gz = read_file(path, &gz_len);
	assert_int_equal(gz[0], 0x1f);
	assert_int_equal(gz[1], 0x8b);
	pb = gunzip(gz, gz_len, &pb_len);
	assert_int_equal(pprof_builder__serialize(b, &raw, &raw_len), 0);
	assert_int_equal(pb_len, raw_len);
	assert_memory_equal(pb, raw, raw_len);

	p = perftools__profiles__profile__unpack(NULL, pb_len, pb);
	assert_non_null(p);
	check_many(p, 1000, 10000);
	perftools__profiles__profile__free_unpacked(p, NULL);

	free(raw);
	free(pb);
	free(gz);
	free(tmp);
	free(victim);
	free(path);
	rm_tmpdir(dir);
	pprof_builder__free(b);
}

static void test_many_samples(void **state)
{
	struct pprof_line ln = { .function = "fn_0", .filename = "gen.c" };
	struct pprof_builder *b = heap_builder();
	profile_t *p;

	(void)state;
	add_many(b, 100000, 1000000);
	/* Re-adding an existing location returns its id. */
	assert_int_equal(pprof_builder__add_location(b, 1, 0x400000, &ln, 1),
			 1);
	p = unpack_builder(b);
	check_many(p, 100000, 1000000);
	perftools__profiles__profile__free_unpacked(p, NULL);
	pprof_builder__free(b);
}

static bool have_go(void)
{
	const char *path = getenv("PATH");
	char *dirs, *d, *save = NULL, *exe;
	bool found = false;

	if (!path)
		return false;
	dirs = strdup(path);
	assert_non_null(dirs);
	for (d = strtok_r(dirs, ":", &save); d && !found;
	     d = strtok_r(NULL, ":", &save)) {
		assert_true(asprintf(&exe, "%s/go", *d ? d : ".") > 0);
		found = access(exe, X_OK) == 0;
		free(exe);
	}
	free(dirs);
	return found;
}

/* Output of `go tool pprof ARGS heap.pb.gz` run in dir; NULL-terminated. */
static char *run_pprof(const char *dir, const char *args)
{
	size_t len = 0, cap = 4096, n;
	char *cmd, *out = malloc(cap);
	FILE *f;

	assert_non_null(out);
	/* GOTOOLCHAIN=local: never download a toolchain (go >= 1.21). */
	assert_true(asprintf(&cmd, "cd '%s' && GOTOOLCHAIN=local "
				   "go tool pprof %s heap.pb.gz 2>&1",
			     dir, args) > 0);
	f = popen(cmd, "r");
	assert_non_null(f);
	while ((n = fread(out + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (len == cap - 1) {
			cap *= 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
	}
	out[len] = '\0';
	if (pclose(f) != 0)
		fail_msg("%s failed:\n%s", cmd, out);
	free(cmd);
	return out;
}

static bool has_word(const char *text, const char *word)
{
	size_t n = strlen(word);
	const char *s;

	for (s = strstr(text, word); s; s = strstr(s + 1, word)) {
		if ((s == text || strchr(" \t\n:", s[-1])) &&
		    strchr(" \t\n:", s[n]))
			return true;
	}
	return false;
}

/* Fail showing the whole tool output if it lacks s (as a word if word). */
static void assert_output(const char *out, const char *s, bool word)
{
	if (word ? !has_word(out, s) : !strstr(out, s))
		fail_msg("'%s' not in pprof output:\n%s", s, out);
}

static void test_go_pprof(void **state)
{
	struct pprof_line leaf = { "memtel_leaf_alloc", NULL, "/src/a.c", 10, 9 };
	struct pprof_line mid = { "memtel_caller", NULL, "/src/a.c", 20, 18 };
	struct pprof_line top = { "main", NULL, "/src/main.c", 5, 1 };
	struct pprof_label lb = { .key = "bytes", .num = 4096,
				  .num_unit = "bytes" };
	int64_t v1[4] = { 3, 12288, 2, 8192 }, v2[4] = { 5, 640, 1, 128 };
	struct pprof_builder *b;
	uint64_t m, l[3];
	char *dir, *path, *out;
	bool set_home = false;

	(void)state;
	if (!have_go())
		skip();

	dir = make_tmpdir();
	/* pprof keeps its state in $HOME/pprof. */
	if (!getenv("HOME")) {
		assert_int_equal(setenv("HOME", dir, 1), 0);
		set_home = true;
	}
	b = heap_builder();
	pprof_builder__set_time(b, 1700000000000000000LL, 1000000000LL);
	assert_int_equal(pprof_builder__set_default_sample_type(b,
							"inuse_space"), 0);
	m = pprof_builder__add_mapping(b, 0x400000, 0x500000, 0, "/usr/bin/app",
				       "deadbeef", 1, 1, 1);
	l[0] = pprof_builder__add_location(b, m, 0x401000, &leaf, 1);
	l[1] = pprof_builder__add_location(b, m, 0x402000, &mid, 1);
	l[2] = pprof_builder__add_location(b, m, 0x403000, &top, 1);
	assert_int_equal(pprof_builder__add_sample(b, l, 3, v1, 4, &lb, 1), 0);
	assert_int_equal(pprof_builder__add_sample(b, l + 1, 2, v2, 4, NULL, 0),
			 0);
	assert_true(asprintf(&path, "%s/heap.pb.gz", dir) > 0);
	assert_int_equal(pprof_builder__write_gz(b, path), 0);

	out = run_pprof(dir, "-raw");
	assert_output(out, "PeriodType: space bytes", false);
	assert_output(out, "Period: 524288", false);
	assert_output(out, "alloc_objects/count alloc_space/bytes "
				    "inuse_objects/count inuse_space/bytes", false);
	assert_output(out, "memtel_leaf_alloc", true);
	assert_output(out, "memtel_caller", true);
	assert_output(out, "main", true);
	assert_output(out, "12288", true);
	assert_output(out, "8192", true);
	assert_output(out, "640", true);
	free(out);

	/* Default sample type inuse_space: 8192 + 128 bytes. Byte values
	 * are scaled differently by pprof versions, percentages are not. */
	out = run_pprof(dir, "-top");
	assert_output(out, "Type: inuse_space", false);
	assert_output(out, "memtel_leaf_alloc", true);
	assert_output(out, "memtel_caller", true);
	assert_output(out, "98.46%", true);
	assert_output(out, "1.54%", true);
	free(out);

	/* 3 + 5 objects; the leaf has 3 of them. */
	out = run_pprof(dir, "-top -sample_index=alloc_objects");
	assert_output(out, "Type: alloc_objects", false);
	assert_output(out, "of 8 total", false);
	assert_output(out, "37.50%", true);
	free(out);

	if (set_home)
		unsetenv("HOME");
	free(path);
	rm_tmpdir(dir);
	pprof_builder__free(b);
}

/* Mapping 1 is what viewers call the main binary: the executable goes
 * first even when the kernel's pseudo-mapping and a library were interned
 * before it, and locations follow their mapping to its new id. */
static void test_main_mapping_first(void **state)
{
	struct pprof_line k = { "do_syscall_64", NULL, NULL, 0, 0 };
	struct pprof_line c = { "write", NULL, NULL, 0, 0 };
	struct pprof_line m = { "main", NULL, "app.c", 3, 1 };
	struct pprof_builder *b = heap_builder();
	uint64_t mk, ml, me, lk, ll, le, locs[3];
	int64_t vals[4] = { 1, 2, 3, 4 };
	profile_t *p;
	size_t i;

	(void)state;
	mk = pprof_builder__add_mapping(b, 0xffff800000000000ULL, ~0ULL, 0,
					"[kernel.kallsyms]", NULL, 1, 0, 0);
	ml = pprof_builder__add_mapping(b, 0x7f0000, 0x7f1000, 0,
					"/lib/libc.so.6", NULL, 1, 0, 0);
	me = pprof_builder__add_mapping(b, 0x400000, 0x500000, 0,
					"/usr/bin/app", NULL, 1, 1, 1);
	lk = pprof_builder__add_location(b, mk, 0xffffffff81000010ULL, &k, 1);
	ll = pprof_builder__add_location(b, ml, 0x7f0010, &c, 1);
	le = pprof_builder__add_location(b, me, 0x401000, &m, 1);
	locs[0] = lk;
	locs[1] = ll;
	locs[2] = le;
	assert_int_equal(pprof_builder__add_sample(b, locs, 3, vals, 4, NULL, 0),
			 0);
	p = unpack_builder(b);
	assert_int_equal(p->n_mapping, 3);
	assert_string_equal(str_at(p, p->mapping[0]->filename), "/usr/bin/app");
	assert_string_equal(str_at(p, p->mapping[1]->filename),
			    "[kernel.kallsyms]");
	assert_string_equal(str_at(p, p->mapping[2]->filename),
			    "/lib/libc.so.6");
	for (i = 0; i < 3; i++)
		assert_int_equal(p->mapping[i]->id, i + 1);
	/* each location still points at its own file */
	assert_int_equal(p->location[lk - 1]->mapping_id, 2);
	assert_int_equal(p->location[ll - 1]->mapping_id, 3);
	assert_int_equal(p->location[le - 1]->mapping_id, 1);
	perftools__profiles__profile__free_unpacked(p, NULL);
	pprof_builder__free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_string_table_zero),
		cmocka_unit_test(test_interning),
		cmocka_unit_test(test_main_mapping_first),
		cmocka_unit_test(test_roundtrip_fields),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_write_gz),
		cmocka_unit_test(test_many_samples),
		cmocka_unit_test(test_go_pprof),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pprof.c - build a pprof Profile and write it, gzipped, for `go tool pprof`
 * and other viewers. Strings, functions, locations and mappings live in the
 * profile dictionary OTLP profiles use too (sinks/profile/profdict.h), so
 * large profiles (millions of samples) build in linear time; samples are
 * appended as given (the caller aggregates). Everything is kept in compact arrays and turned into
 * protobuf-c messages only while packing; samples are packed in chunks, each
 * as its own Profile message, which protobuf's merge-by-concatenation rule
 * makes equivalent to one message and keeps peak memory small.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "sinks/file/pprof.h"
#include "util/fileio.h"
#include "profile.pb-c.h"

/* Samples packed per chunk (see the file comment). */
#define SAMPLE_CHUNK 4096
/* zlib staging buffers, in and out. */
#define GZ_BUF_SIZE (64 * 1024)

struct label_rec {
	int64_t key;
	int64_t str;
	int64_t num;
	int64_t num_unit;
};

struct sample_rec {
	size_t loc_off;   /* into pprof_builder.sample_locs */
	size_t label_off; /* into pprof_builder.labels */
	uint32_t n_locs;
	uint32_t n_labels;
};

struct pprof_builder {
	/* strings, functions, mappings and locations; its indices are
	 * pprof's ids as they are (entry 0 is the zero value), but for the
	 * main binary's mapping, which is moved to id 1 on packing */
	struct profdict d;

	Perftools__Profiles__ValueType *types;
	size_t n_types, cap_types;

	struct sample_rec *samples;
	size_t n_samples, cap_samples;
	uint64_t *sample_locs;
	size_t n_sample_locs, cap_sample_locs;
	int64_t *sample_vals; /* n_types values per sample */
	size_t n_sample_vals, cap_sample_vals;
	struct label_rec *labels;
	size_t n_labels, cap_labels;

	int64_t *comments;
	size_t n_comments, cap_comments;

	Perftools__Profiles__ValueType period_type;
	bool has_period_type;
	int64_t period;
	int64_t time_nanos;
	int64_t duration_nanos;
	int64_t default_sample_type;

	/* First error of a setter that cannot return one; reported when the
	 * profile is serialized so that it is never silently incomplete. */
	int err;
};

/* Output of the packer: protobuf-c's append() returns void, so errors are
 * recorded here and checked after each pack. */
struct sink {
	ProtobufCBuffer base;
	int err;
};

struct mem_sink {
	struct sink sink;
	uint8_t *data;
	size_t len, cap;
};

struct gz_sink {
	struct sink sink;
	z_stream zs;
	FILE *f;
	size_t n_in;
	uint8_t in[GZ_BUF_SIZE];
	uint8_t out[GZ_BUF_SIZE];
};

/* Grow array v (cap elements of size sz) to hold need elements; returns the
 * (possibly moved) array, or NULL with v and *cap untouched. */
static void *vec__grow(void *v, size_t *cap, size_t need, size_t sz)
{
	size_t new_cap;

	if (need <= *cap)
		return v;
	new_cap = *cap ? *cap : 16;
	while (new_cap < need) {
		if (new_cap > SIZE_MAX / 2)
			return NULL;
		new_cap *= 2;
	}
	if (new_cap > SIZE_MAX / sz)
		return NULL;
	v = realloc(v, new_cap * sz);
	if (v)
		*cap = new_cap;
	return v;
}

/* Reserve room for n more elements of array field f of builder b. */
#define BUILDER_RESERVE(b, f, n)                                             \
	({                                                                   \
		void *__p = NULL;                                            \
		int __err = 0;                                               \
		if ((n) > (b)->cap_##f - (b)->n_##f) {                       \
			if ((n) <= SIZE_MAX - (b)->n_##f)                    \
				__p = vec__grow((b)->f, &(b)->cap_##f,       \
						(b)->n_##f + (n),            \
						sizeof(*(b)->f));            \
			if (__p)                                             \
				(b)->f = __p;                                \
			else                                                 \
				__err = -ENOMEM;                             \
		}                                                            \
		__err;                                                       \
	})

/* String table index of s (NULL and "" are entry 0), or -errno. */
static int64_t builder__intern_str(struct pprof_builder *b, const char *s)
{
	uint32_t i = profdict__str(&b->d, s);

	if (!i && s && *s)
		return b->d.err ? b->d.err : -ENOMEM;
	return i;
}

struct pprof_builder *pprof_builder__new(void)
{
	struct pprof_builder *b;
	Perftools__Profiles__ValueType vt = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;

	b = calloc(1, sizeof(*b));
	if (!b || profdict__init(&b->d)) {
		free(b);
		errno = ENOMEM;
		return NULL;
	}
	b->period_type = vt;
	return b;
}

void pprof_builder__free(struct pprof_builder *b)
{
	if (!b)
		return;
	profdict__free(&b->d);
	free(b->types);
	free(b->samples);
	free(b->sample_locs);
	free(b->sample_vals);
	free(b->labels);
	free(b->comments);
	free(b);
}

struct profdict *pprof_builder__dict(struct pprof_builder *b)
{
	return &b->d;
}

int pprof_builder__add_sample_type(struct pprof_builder *b, const char *type,
				   const char *unit)
{
	Perftools__Profiles__ValueType vt = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
	int64_t t, u;
	int err;

	if (!b || !type)
		return -EINVAL;
	/* Every sample holds one value per type: too late once there are some. */
	if (b->n_samples)
		return -EINVAL;
	t = builder__intern_str(b, type);
	if (t < 0)
		return t;
	u = builder__intern_str(b, unit);
	if (u < 0)
		return u;
	err = BUILDER_RESERVE(b, types, 1);
	if (err)
		return err;
	vt.type = t;
	vt.unit = u;
	b->types[b->n_types++] = vt;
	return 0;
}

void pprof_builder__set_period(struct pprof_builder *b, const char *type,
			       const char *unit, int64_t period)
{
	int64_t t, u;

	if (!b)
		return;
	t = builder__intern_str(b, type);
	u = builder__intern_str(b, unit);
	if (t < 0 || u < 0) {
		if (!b->err)
			b->err = t < 0 ? t : u;
		return;
	}
	b->period_type.type = t;
	b->period_type.unit = u;
	b->has_period_type = true;
	b->period = period;
}

void pprof_builder__set_time(struct pprof_builder *b, int64_t time_nanos,
			     int64_t duration_nanos)
{
	if (!b)
		return;
	b->time_nanos = time_nanos;
	b->duration_nanos = duration_nanos;
}

int pprof_builder__set_default_sample_type(struct pprof_builder *b,
					   const char *type)
{
	size_t i;

	if (!b || !type)
		return -EINVAL;
	for (i = 0; i < b->n_types; i++) {
		if (strcmp(b->d.strs[b->types[i].type], type) == 0) {
			b->default_sample_type = b->types[i].type;
			return 0;
		}
	}
	return -ENOENT;
}

int pprof_builder__add_comment(struct pprof_builder *b, const char *comment)
{
	int64_t s;
	int err;

	if (!b || !comment)
		return -EINVAL;
	s = builder__intern_str(b, comment);
	if (s < 0)
		return s;
	err = BUILDER_RESERVE(b, comments, 1);
	if (err)
		return err;
	b->comments[b->n_comments++] = s;
	return 0;
}

uint64_t pprof_builder__add_mapping(struct pprof_builder *b, uint64_t start,
				    uint64_t limit, uint64_t offset,
				    const char *filename, const char *build_id,
				    int has_functions, int has_filenames,
				    int has_line_numbers)
{
	struct pd_mapping m = {
		.start = start, .limit = limit, .offset = offset,
		.has_functions = has_functions, .has_filenames = has_filenames,
		.has_line_numbers = has_line_numbers,
	};

	if (!b) {
		errno = EINVAL;
		return 0;
	}
	m.filename = profdict__str(&b->d, filename);
	m.build_id = profdict__str(&b->d, build_id);
	if (b->d.err) {
		errno = -b->d.err;
		return 0;
	}
	return profdict__mapping(&b->d, &m);
}

uint64_t pprof_builder__add_location(struct pprof_builder *b,
				     uint64_t mapping_id, uint64_t address,
				     const struct pprof_line *lines,
				     size_t n_lines)
{
	struct pd_line_in *in = NULL;
	uint32_t id;
	size_t i;

	if (!b || (n_lines && !lines) || mapping_id >= b->d.n_maps) {
		errno = EINVAL;
		return 0;
	}
	if (n_lines) {
		in = calloc(n_lines, sizeof(*in));
		if (!in) {
			errno = ENOMEM;
			return 0;
		}
	}
	for (i = 0; i < n_lines; i++)
		in[i] = (struct pd_line_in){
			.function = lines[i].function,
			.system_name = lines[i].system_name,
			.filename = lines[i].filename,
			.line = lines[i].line,
			.start_line = lines[i].start_line,
		};
	id = profdict__location(&b->d, (uint32_t)mapping_id, address,
				PD_FRAME_NATIVE, false, in, n_lines);
	free(in);
	return id;
}

int pprof_builder__add_sample(struct pprof_builder *b,
			      const uint64_t *location_ids, size_t n_locations,
			      const int64_t *values, size_t n_values,
			      const struct pprof_label *labels, size_t n_labels)
{
	struct label_rec *lr;
	struct sample_rec *s;
	size_t i;
	int err;

	if (!b || (n_locations && !location_ids) || (n_values && !values) ||
	    (n_labels && !labels))
		return -EINVAL;
	/* pprof rejects profiles whose samples and sample types disagree. */
	if (n_values != b->n_types)
		return -EINVAL;
	if (n_locations > UINT32_MAX || n_labels > UINT32_MAX)
		return -E2BIG;
	for (i = 0; i < n_locations; i++) {
		if (!location_ids[i] || location_ids[i] >= b->d.n_locs)
			return -EINVAL;
	}
	for (i = 0; i < n_labels; i++) {
		if (!labels[i].key)
			return -EINVAL;
	}

	err = BUILDER_RESERVE(b, samples, 1);
	if (!err)
		err = BUILDER_RESERVE(b, sample_locs, n_locations);
	if (!err)
		err = BUILDER_RESERVE(b, sample_vals, n_values);
	if (!err)
		err = BUILDER_RESERVE(b, labels, n_labels);
	if (err)
		return err;

	/* Labels are staged past the end of their pool, as locations' lines. */
	for (i = 0; i < n_labels; i++) {
		lr = &b->labels[b->n_labels + i];
		memset(lr, 0, sizeof(*lr));
		lr->key = builder__intern_str(b, labels[i].key);
		if (lr->key < 0)
			return lr->key;
		if (labels[i].str) {
			lr->str = builder__intern_str(b, labels[i].str);
			if (lr->str < 0)
				return lr->str;
		} else {
			lr->num = labels[i].num;
			lr->num_unit = builder__intern_str(b,
							   labels[i].num_unit);
			if (lr->num_unit < 0)
				return lr->num_unit;
		}
	}

	s = &b->samples[b->n_samples++];
	s->loc_off = b->n_sample_locs;
	s->n_locs = n_locations;
	s->label_off = b->n_labels;
	s->n_labels = n_labels;
	if (n_locations)
		memcpy(b->sample_locs + b->n_sample_locs, location_ids,
		       n_locations * sizeof(*location_ids));
	if (n_values)
		memcpy(b->sample_vals + b->n_sample_vals, values,
		       n_values * sizeof(*values));
	b->n_sample_locs += n_locations;
	b->n_sample_vals += n_values;
	b->n_labels += n_labels;
	return 0;
}

/* Pack the samples [first, first + n) as one Profile message. */
static int builder__pack_samples(const struct pprof_builder *b,
				 struct sink *out, size_t first, size_t n,
				 Perftools__Profiles__Sample *smp,
				 Perftools__Profiles__Sample **smp_ptrs,
				 Perftools__Profiles__Label **lbl,
				 Perftools__Profiles__Label ***lbl_ptrs,
				 size_t *lbl_cap)
{
	Perftools__Profiles__Profile prof = PERFTOOLS__PROFILES__PROFILE__INIT;
	Perftools__Profiles__Sample s0 = PERFTOOLS__PROFILES__SAMPLE__INIT;
	Perftools__Profiles__Label l0 = PERFTOOLS__PROFILES__LABEL__INIT;
	const struct sample_rec *last = &b->samples[first + n - 1];
	size_t lbl_off = b->samples[first].label_off;
	size_t n_lbl = last->label_off + last->n_labels - lbl_off;
	size_t lcap, pcap, i;
	const struct label_rec *lr;
	void *p;

	if (n_lbl > *lbl_cap) {
		lcap = pcap = *lbl_cap;
		p = vec__grow(*lbl, &lcap, n_lbl, sizeof(**lbl));
		if (!p)
			return -ENOMEM;
		*lbl = p;
		p = vec__grow(*lbl_ptrs, &pcap, n_lbl, sizeof(**lbl_ptrs));
		if (!p)
			return -ENOMEM;
		*lbl_ptrs = p;
		*lbl_cap = lcap < pcap ? lcap : pcap;
	}
	for (i = 0; i < n_lbl; i++) {
		lr = &b->labels[lbl_off + i];
		(*lbl)[i] = l0;
		(*lbl)[i].key = lr->key;
		(*lbl)[i].str = lr->str;
		(*lbl)[i].num = lr->num;
		(*lbl)[i].num_unit = lr->num_unit;
		(*lbl_ptrs)[i] = &(*lbl)[i];
	}
	for (i = 0; i < n; i++) {
		const struct sample_rec *r = &b->samples[first + i];

		smp[i] = s0;
		if (r->n_locs) {
			smp[i].n_location_id = r->n_locs;
			smp[i].location_id = b->sample_locs + r->loc_off;
		}
		if (b->n_types) {
			smp[i].n_value = b->n_types;
			smp[i].value = b->sample_vals + (first + i) * b->n_types;
		}
		if (r->n_labels) {
			smp[i].n_label = r->n_labels;
			smp[i].label = *lbl_ptrs + (r->label_off - lbl_off);
		}
		smp_ptrs[i] = &smp[i];
	}
	prof.n_sample = n;
	prof.sample = smp_ptrs;
	perftools__profiles__profile__pack_to_buffer(&prof, &out->base);
	return out->err;
}

/* Typed array of pointers to the n elements of arr (never NULL if OK). */
#define PTR_ARRAY(dst, arr, n)                                         \
	({                                                             \
		size_t __i;                                            \
		(dst) = calloc((n) ? (n) : 1, sizeof(*(dst)));         \
		for (__i = 0; (dst) && __i < (n); __i++)               \
			(dst)[__i] = &(arr)[__i];                      \
		(dst) ? 0 : -ENOMEM;                                   \
	})

/* The dictionary as pprof messages; entry 0 (the zero value) is left out:
 * pprof ids start at 1 and 0 means "none". */
struct pprof_tables {
	Perftools__Profiles__Mapping *maps, **map_ptrs;
	Perftools__Profiles__Function *funcs, **func_ptrs;
	Perftools__Profiles__Line *lines, **line_ptrs;
	Perftools__Profiles__Location *locs, **loc_ptrs;
};

static void pprof_tables__free(struct pprof_tables *t)
{
	free(t->maps);
	free(t->map_ptrs);
	free(t->funcs);
	free(t->func_ptrs);
	free(t->lines);
	free(t->line_ptrs);
	free(t->locs);
	free(t->loc_ptrs);
}

/* Is a mapping's file a shared library ("libc.so.6", "libx.so")? */
static bool is_library(const char *file)
{
	const char *so = strstr(file, ".so");

	for (; so; so = strstr(so + 1, ".so")) {
		if (so[3] == '\0' || so[3] == '.' || so[3] == '_')
			return true;
	}
	return false;
}

/* The dictionary's mapping that pprof should list first: viewers take
 * mapping 1 for the main binary (`go tool pprof` names the profile after
 * it), so the first executable file, not "[kernel.kallsyms]" (or any
 * "[...]" pseudo-file) nor a library that happened to be interned first.
 * 0 when there is none. */
static uint32_t main_mapping(const struct profdict *d)
{
	size_t i;

	for (i = 1; i < d->n_maps; i++) {
		const char *f = d->strs[d->maps[i].filename];

		if (f[0] && f[0] != '[' && !is_library(f))
			return (uint32_t)i;
	}
	return 0;
}

/* pprof id of dictionary mapping i when main goes first. */
static uint64_t mapping_id(uint32_t i, uint32_t main)
{
	if (!main || !i || i > main)
		return i;
	return i == main ? 1 : i + 1;
}

static int pprof_tables__fill(struct pprof_tables *t, const struct profdict *d)
{
	uint32_t main = main_mapping(d);
	Perftools__Profiles__Mapping m0 = PERFTOOLS__PROFILES__MAPPING__INIT;
	Perftools__Profiles__Function f0 = PERFTOOLS__PROFILES__FUNCTION__INIT;
	Perftools__Profiles__Line ln0 = PERFTOOLS__PROFILES__LINE__INIT;
	Perftools__Profiles__Location l0 = PERFTOOLS__PROFILES__LOCATION__INIT;
	size_t i;
	int err;

	t->maps = calloc(d->n_maps, sizeof(*t->maps));
	t->funcs = calloc(d->n_funcs, sizeof(*t->funcs));
	t->lines = calloc(d->n_lines ? d->n_lines : 1, sizeof(*t->lines));
	t->locs = calloc(d->n_locs, sizeof(*t->locs));
	if (!t->maps || !t->funcs || !t->lines || !t->locs)
		return -ENOMEM;
	err = PTR_ARRAY(t->map_ptrs, t->maps + 1, d->n_maps - 1);
	if (!err)
		err = PTR_ARRAY(t->func_ptrs, t->funcs + 1, d->n_funcs - 1);
	if (!err)
		err = PTR_ARRAY(t->line_ptrs, t->lines, d->n_lines);
	if (!err)
		err = PTR_ARRAY(t->loc_ptrs, t->locs + 1, d->n_locs - 1);
	if (err)
		return err;
	for (i = 1; i < d->n_maps; i++) {
		const struct pd_mapping *m = &d->maps[i];
		uint64_t id = mapping_id((uint32_t)i, main);

		t->maps[id] = m0;
		t->maps[id].id = id;
		t->maps[id].memory_start = m->start;
		t->maps[id].memory_limit = m->limit;
		t->maps[id].file_offset = m->offset;
		t->maps[id].filename = m->filename;
		t->maps[id].build_id = m->build_id;
		t->maps[id].has_functions = m->has_functions;
		t->maps[id].has_filenames = m->has_filenames;
		t->maps[id].has_line_numbers = m->has_line_numbers;
	}
	for (i = 1; i < d->n_funcs; i++) {
		t->funcs[i] = f0;
		t->funcs[i].id = i;
		t->funcs[i].name = d->funcs[i].name;
		t->funcs[i].system_name = d->funcs[i].system_name;
		t->funcs[i].filename = d->funcs[i].filename;
		t->funcs[i].start_line = d->funcs[i].start_line;
	}
	for (i = 0; i < d->n_lines; i++) {
		t->lines[i] = ln0;
		t->lines[i].function_id = d->lines[i].function;
		t->lines[i].line = d->lines[i].line;
	}
	for (i = 1; i < d->n_locs; i++) {
		t->locs[i] = l0;
		t->locs[i].id = i;
		t->locs[i].mapping_id = mapping_id(d->locs[i].mapping, main);
		t->locs[i].address = d->locs[i].address;
		if (d->locs[i].n_lines) {
			t->locs[i].n_line = d->locs[i].n_lines;
			t->locs[i].line = t->line_ptrs + d->locs[i].line_off;
		}
	}
	return 0;
}

static int builder__pack(struct pprof_builder *b, struct sink *out)
{
	Perftools__Profiles__Profile prof = PERFTOOLS__PROFILES__PROFILE__INIT;
	Perftools__Profiles__ValueType **types = NULL;
	Perftools__Profiles__Sample *smp = NULL, **smp_ptrs = NULL;
	Perftools__Profiles__Label *lbl = NULL, **lbl_ptrs = NULL;
	struct pprof_tables t = { 0 };
	size_t i, n, lbl_cap = 0;
	int err;

	if (b->err)
		return b->err;
	if (b->d.err)
		return b->d.err;
	err = PTR_ARRAY(types, b->types, b->n_types);
	if (!err)
		err = pprof_tables__fill(&t, &b->d);
	if (err)
		goto cleanup;

	prof.n_sample_type = b->n_types;
	prof.sample_type = types;
	prof.n_mapping = b->d.n_maps - 1;
	prof.mapping = t.map_ptrs;
	prof.n_location = b->d.n_locs - 1;
	prof.location = t.loc_ptrs;
	prof.n_function = b->d.n_funcs - 1;
	prof.function = t.func_ptrs;
	prof.n_string_table = b->d.n_strs;
	prof.string_table = b->d.strs;
	prof.time_nanos = b->time_nanos;
	prof.duration_nanos = b->duration_nanos;
	if (b->has_period_type)
		prof.period_type = &b->period_type;
	prof.period = b->period;
	prof.n_comment = b->n_comments;
	prof.comment = b->comments;
	prof.default_sample_type = b->default_sample_type;
	perftools__profiles__profile__pack_to_buffer(&prof, &out->base);
	err = out->err;
	if (err || !b->n_samples)
		goto cleanup;

	n = b->n_samples < SAMPLE_CHUNK ? b->n_samples : SAMPLE_CHUNK;
	smp = calloc(n, sizeof(*smp));
	smp_ptrs = calloc(n, sizeof(*smp_ptrs));
	if (!smp || !smp_ptrs) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < b->n_samples; i += n) {
		n = b->n_samples - i;
		if (n > SAMPLE_CHUNK)
			n = SAMPLE_CHUNK;
		err = builder__pack_samples(b, out, i, n, smp, smp_ptrs, &lbl,
					    &lbl_ptrs, &lbl_cap);
		if (err)
			goto cleanup;
	}

cleanup:
	free(types);
	pprof_tables__free(&t);
	free(smp);
	free(smp_ptrs);
	free(lbl);
	free(lbl_ptrs);
	return err;
}

static void mem_sink__append(ProtobufCBuffer *buf, size_t len,
			     const uint8_t *data)
{
	struct mem_sink *s = (struct mem_sink *)buf;
	void *p = NULL;

	if (s->sink.err || !len)
		return;
	if (len <= SIZE_MAX - s->len)
		p = vec__grow(s->data, &s->cap, s->len + len, 1);
	if (!p) {
		s->sink.err = -ENOMEM;
		return;
	}
	s->data = p;
	memcpy(s->data + s->len, data, len);
	s->len += len;
}

int pprof_builder__serialize(struct pprof_builder *b, uint8_t **buf,
			     size_t *len)
{
	struct mem_sink s = { .sink.base.append = mem_sink__append };
	int err;

	if (!b || !buf || !len)
		return -EINVAL;
	err = builder__pack(b, &s.sink);
	if (err) {
		free(s.data);
		return err;
	}
	*buf = s.data;
	*len = s.len;
	return 0;
}

/* Compress the staged input with flush mode `flush` (zlib's zpipe.c loop). */
static int gz_sink__deflate(struct gz_sink *s, int flush)
{
	size_t n;
	int ret;

	s->zs.next_in = s->in;
	s->zs.avail_in = s->n_in;
	do {
		s->zs.next_out = s->out;
		s->zs.avail_out = sizeof(s->out);
		ret = deflate(&s->zs, flush);
		if (ret == Z_STREAM_ERROR)
			return -EINVAL;
		n = sizeof(s->out) - s->zs.avail_out;
		if (n && fwrite(s->out, 1, n, s->f) != n)
			return errno ? -errno : -EIO;
	} while (s->zs.avail_out == 0);
	s->n_in = 0;
	if (flush == Z_FINISH && ret != Z_STREAM_END)
		return -EIO;
	return 0;
}

static void gz_sink__append(ProtobufCBuffer *buf, size_t len,
			    const uint8_t *data)
{
	struct gz_sink *s = (struct gz_sink *)buf;
	size_t n;

	/* protobuf-c appends field by field, often a few bytes: stage them. */
	while (len && !s->sink.err) {
		n = sizeof(s->in) - s->n_in;
		if (n > len)
			n = len;
		memcpy(s->in + s->n_in, data, n);
		s->n_in += n;
		data += n;
		len -= n;
		if (s->n_in == sizeof(s->in))
			s->sink.err = gz_sink__deflate(s, Z_NO_FLUSH);
	}
}

int pprof_builder__write_gz(struct pprof_builder *b, const char *path)
{
	struct outfile of = { 0 };
	struct gz_sink *s = NULL;
	bool zinit = false;
	int ret, err;

	if (!b || !path)
		return -EINVAL;
	if (b->err)
		return b->err;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->sink.base.append = gz_sink__append;
	/* windowBits 15 + 16: gzip header and trailer instead of zlib's. */
	ret = deflateInit2(&s->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16,
			   8, Z_DEFAULT_STRATEGY);
	if (ret != Z_OK) {
		err = ret == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
		goto cleanup;
	}
	zinit = true;
	/* the tree's one atomic writer: a new temporary file (O_EXCL |
	 * O_NOFOLLOW), fsync, rename; never a link someone planted */
	err = outfile__open(&of, path);
	if (err)
		goto cleanup;
	s->f = of.f;
	err = builder__pack(b, &s->sink);
	if (!err)
		err = gz_sink__deflate(s, Z_FINISH);
	if (!err)
		err = outfile__commit(&of);
cleanup:
	outfile__discard(&of);
	if (zinit)
		deflateEnd(&s->zs);
	free(s);
	return err;
}

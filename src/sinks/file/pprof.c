// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pprof.c - build a pprof Profile and write it, gzipped, for `go tool pprof`
 * and other viewers. Strings, functions, locations and mappings are interned
 * through small open-addressing hash tables so that large profiles (millions
 * of samples) build in linear time; samples are appended as given (the
 * caller aggregates). Everything is kept in compact arrays and turned into
 * protobuf-c messages only while packing; samples are packed in chunks, each
 * as its own Profile message, which protobuf's merge-by-concatenation rule
 * makes equivalent to one message and keeps peak memory small.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "sinks/file/pprof.h"
#include "profile.pb-c.h"

/* Samples packed per chunk (see the file comment). */
#define SAMPLE_CHUNK 4096
/* zlib staging buffers, in and out. */
#define GZ_BUF_SIZE (64 * 1024)

/* One hash table slot; idx1 is the item index + 1, 0 marks an empty slot. */
struct htab_ent {
	uint32_t hash;
	uint32_t idx1;
};

struct htab {
	struct htab_ent *ents;
	size_t cap; /* power of two, or 0 */
	size_t len;
};

struct loc_rec {
	uint64_t mapping_id;
	uint64_t address;
	size_t line_off; /* into pprof_builder.lines */
	size_t n_lines;
};

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
	char **strs;
	size_t n_strs, cap_strs;
	struct htab str_ht;

	Perftools__Profiles__ValueType *types;
	size_t n_types, cap_types;

	Perftools__Profiles__Mapping *maps;
	size_t n_maps, cap_maps;
	struct htab map_ht;

	Perftools__Profiles__Function *funcs;
	size_t n_funcs, cap_funcs;
	struct htab func_ht;

	struct loc_rec *locs;
	size_t n_locs, cap_locs;
	struct htab loc_ht;
	Perftools__Profiles__Line *lines;
	size_t n_lines, cap_lines;

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

typedef bool (*htab_eq_fn)(const struct pprof_builder *b, size_t idx,
			   const void *key);

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
	int fd;
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

static uint64_t hash_mix(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 32);
}

/* MurmurHash3's fmix64 finalizer: spreads the bits linear probing uses. */
static uint32_t hash_fin(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (uint32_t)h;
}

static uint32_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return hash_fin(h);
}

static uint32_t htab__lookup(const struct htab *h, uint32_t hash,
			     htab_eq_fn eq, const struct pprof_builder *b,
			     const void *key)
{
	size_t mask, i;

	if (!h->cap)
		return 0;
	mask = h->cap - 1;
	for (i = hash & mask; h->ents[i].idx1; i = (i + 1) & mask) {
		if (h->ents[i].hash == hash && eq(b, h->ents[i].idx1 - 1, key))
			return h->ents[i].idx1;
	}
	return 0;
}

static void htab__place(struct htab_ent *ents, size_t cap, uint32_t hash,
			uint32_t idx1)
{
	size_t mask = cap - 1, i;

	for (i = hash & mask; ents[i].idx1; i = (i + 1) & mask)
		;
	ents[i].hash = hash;
	ents[i].idx1 = idx1;
}

/* Insert item idx, known to be absent; keeps the load factor <= 3/4. */
static int htab__insert(struct htab *h, uint32_t hash, size_t idx)
{
	struct htab_ent *ents;
	size_t new_cap, i;

	if (idx >= UINT32_MAX)
		return -E2BIG;
	if ((h->len + 1) * 4 > h->cap * 3) {
		new_cap = h->cap ? h->cap * 2 : 64;
		ents = calloc(new_cap, sizeof(*ents));
		if (!ents)
			return -ENOMEM;
		for (i = 0; i < h->cap; i++) {
			if (h->ents[i].idx1)
				htab__place(ents, new_cap, h->ents[i].hash,
					    h->ents[i].idx1);
		}
		free(h->ents);
		h->ents = ents;
		h->cap = new_cap;
	}
	htab__place(h->ents, h->cap, hash, (uint32_t)(idx + 1));
	h->len++;
	return 0;
}

static bool str_eq(const struct pprof_builder *b, size_t idx, const void *key)
{
	return strcmp(b->strs[idx], key) == 0;
}

/* String table index of s (NULL and "" are entry 0), or -errno. */
static int64_t builder__intern_str(struct pprof_builder *b, const char *s)
{
	uint32_t hash, idx1;
	char *dup;
	int err;

	if (!s || !*s)
		return 0;
	hash = hash_str(s);
	idx1 = htab__lookup(&b->str_ht, hash, str_eq, b, s);
	if (idx1)
		return idx1 - 1;

	err = BUILDER_RESERVE(b, strs, 1);
	if (err)
		return err;
	dup = strdup(s);
	if (!dup)
		return -ENOMEM;
	err = htab__insert(&b->str_ht, hash, b->n_strs);
	if (err) {
		free(dup);
		return err;
	}
	b->strs[b->n_strs] = dup;
	return b->n_strs++;
}

struct pprof_builder *pprof_builder__new(void)
{
	struct pprof_builder *b;
	Perftools__Profiles__ValueType vt = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;

	b = calloc(1, sizeof(*b));
	if (!b)
		goto err_out;
	b->period_type = vt;
	if (BUILDER_RESERVE(b, strs, 1))
		goto err_out;
	/* Entry 0 is "" by the spec; it is never hashed (see intern_str). */
	b->strs[0] = strdup("");
	if (!b->strs[0])
		goto err_out;
	b->n_strs = 1;
	return b;

err_out:
	pprof_builder__free(b);
	errno = ENOMEM;
	return NULL;
}

void pprof_builder__free(struct pprof_builder *b)
{
	size_t i;

	if (!b)
		return;
	for (i = 0; i < b->n_strs; i++)
		free(b->strs[i]);
	free(b->strs);
	free(b->str_ht.ents);
	free(b->types);
	free(b->maps);
	free(b->map_ht.ents);
	free(b->funcs);
	free(b->func_ht.ents);
	free(b->locs);
	free(b->loc_ht.ents);
	free(b->lines);
	free(b->samples);
	free(b->sample_locs);
	free(b->sample_vals);
	free(b->labels);
	free(b->comments);
	free(b);
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
		if (strcmp(b->strs[b->types[i].type], type) == 0) {
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

struct map_key {
	uint64_t start, limit, offset;
	int64_t filename, build_id;
};

static bool map_eq(const struct pprof_builder *b, size_t idx, const void *key)
{
	const Perftools__Profiles__Mapping *m = &b->maps[idx];
	const struct map_key *k = key;

	return m->memory_start == k->start && m->memory_limit == k->limit &&
	       m->file_offset == k->offset && m->filename == k->filename &&
	       m->build_id == k->build_id;
}

uint64_t pprof_builder__add_mapping(struct pprof_builder *b, uint64_t start,
				    uint64_t limit, uint64_t offset,
				    const char *filename, const char *build_id,
				    int has_functions, int has_filenames,
				    int has_line_numbers)
{
	Perftools__Profiles__Mapping m = PERFTOOLS__PROFILES__MAPPING__INIT;
	struct map_key k = { .start = start, .limit = limit, .offset = offset };
	uint32_t hash, idx1;
	int err;

	if (!b || limit < start) {
		errno = EINVAL;
		return 0;
	}
	k.filename = builder__intern_str(b, filename);
	if (k.filename < 0) {
		err = k.filename;
		goto err_out;
	}
	k.build_id = builder__intern_str(b, build_id);
	if (k.build_id < 0) {
		err = k.build_id;
		goto err_out;
	}
	hash = hash_fin(hash_mix(hash_mix(hash_mix(hash_mix(hash_mix(0,
		start), limit), offset), k.filename), k.build_id));
	/* The symbolization flags are not part of the key: first one wins. */
	idx1 = htab__lookup(&b->map_ht, hash, map_eq, b, &k);
	if (idx1)
		return idx1;

	err = BUILDER_RESERVE(b, maps, 1);
	if (err)
		goto err_out;
	err = htab__insert(&b->map_ht, hash, b->n_maps);
	if (err)
		goto err_out;
	m.id = b->n_maps + 1;
	m.memory_start = start;
	m.memory_limit = limit;
	m.file_offset = offset;
	m.filename = k.filename;
	m.build_id = k.build_id;
	m.has_functions = !!has_functions;
	m.has_filenames = !!has_filenames;
	m.has_line_numbers = !!has_line_numbers;
	b->maps[b->n_maps++] = m;
	return m.id;

err_out:
	errno = -err;
	return 0;
}

struct func_key {
	int64_t name, system_name, filename, start_line;
};

static bool func_eq(const struct pprof_builder *b, size_t idx, const void *key)
{
	const Perftools__Profiles__Function *f = &b->funcs[idx];
	const struct func_key *k = key;

	return f->name == k->name && f->system_name == k->system_name &&
	       f->filename == k->filename && f->start_line == k->start_line;
}

/* Function id (>0) for line l, or -errno. */
static int64_t builder__intern_func(struct pprof_builder *b,
				    const struct pprof_line *l)
{
	Perftools__Profiles__Function f = PERFTOOLS__PROFILES__FUNCTION__INIT;
	struct func_key k = { .start_line = l->start_line };
	uint32_t hash, idx1;
	int err;

	/* pprof shows only the name: fall back to the raw symbol. */
	k.name = builder__intern_str(b, l->function ? l->function
						    : l->system_name);
	if (k.name < 0)
		return k.name;
	k.system_name = builder__intern_str(b, l->system_name);
	if (k.system_name < 0)
		return k.system_name;
	k.filename = builder__intern_str(b, l->filename);
	if (k.filename < 0)
		return k.filename;
	hash = hash_fin(hash_mix(hash_mix(hash_mix(hash_mix(0, k.name),
		k.system_name), k.filename), k.start_line));
	idx1 = htab__lookup(&b->func_ht, hash, func_eq, b, &k);
	if (idx1)
		return idx1;

	err = BUILDER_RESERVE(b, funcs, 1);
	if (err)
		return err;
	err = htab__insert(&b->func_ht, hash, b->n_funcs);
	if (err)
		return err;
	f.id = b->n_funcs + 1;
	f.name = k.name;
	f.system_name = k.system_name;
	f.filename = k.filename;
	f.start_line = k.start_line;
	b->funcs[b->n_funcs++] = f;
	return f.id;
}

struct loc_key {
	uint64_t mapping_id, address;
	const Perftools__Profiles__Line *lines; /* only used if !address */
	size_t n_lines;
};

static bool loc_eq(const struct pprof_builder *b, size_t idx, const void *key)
{
	const struct loc_rec *r = &b->locs[idx];
	const struct loc_key *k = key;
	const Perftools__Profiles__Line *l;
	size_t i;

	if (r->mapping_id != k->mapping_id || r->address != k->address)
		return false;
	if (k->address)
		return true;
	if (r->n_lines != k->n_lines)
		return false;
	for (i = 0; i < k->n_lines; i++) {
		l = &b->lines[r->line_off + i];
		if (l->function_id != k->lines[i].function_id ||
		    l->line != k->lines[i].line)
			return false;
	}
	return true;
}

uint64_t pprof_builder__add_location(struct pprof_builder *b,
				     uint64_t mapping_id, uint64_t address,
				     const struct pprof_line *lines,
				     size_t n_lines)
{
	Perftools__Profiles__Line ln = PERFTOOLS__PROFILES__LINE__INIT;
	struct loc_key k = { .mapping_id = mapping_id, .address = address };
	Perftools__Profiles__Line *tent;
	uint32_t hash, idx1;
	int64_t fid;
	size_t i;
	int err;

	if (!b || (n_lines && !lines) || mapping_id > b->n_maps) {
		errno = EINVAL;
		return 0;
	}
	hash = hash_fin(hash_mix(hash_mix(0, mapping_id), address));
	if (address) {
		idx1 = htab__lookup(&b->loc_ht, hash, loc_eq, b, &k);
		if (idx1)
			return idx1;
	}

	/* Lines are written past the end of the pool and only kept (n_lines
	 * advanced) if the location turns out to be new. */
	err = BUILDER_RESERVE(b, lines, n_lines);
	if (err)
		goto err_out;
	tent = n_lines ? &b->lines[b->n_lines] : NULL;
	for (i = 0; i < n_lines; i++) {
		/* Nothing known: no Line, pprof then shows the address. */
		if (!lines[i].function && !lines[i].system_name &&
		    !lines[i].filename)
			continue;
		fid = builder__intern_func(b, &lines[i]);
		if (fid < 0) {
			err = fid;
			goto err_out;
		}
		ln.function_id = fid;
		ln.line = lines[i].line;
		tent[k.n_lines++] = ln;
	}
	if (!address) {
		k.lines = tent;
		for (i = 0; i < k.n_lines; i++)
			hash = hash_mix(hash_mix(hash, tent[i].function_id),
					tent[i].line);
		hash = hash_fin(hash);
		idx1 = htab__lookup(&b->loc_ht, hash, loc_eq, b, &k);
		if (idx1)
			return idx1;
	}

	err = BUILDER_RESERVE(b, locs, 1);
	if (err)
		goto err_out;
	err = htab__insert(&b->loc_ht, hash, b->n_locs);
	if (err)
		goto err_out;
	b->locs[b->n_locs].mapping_id = mapping_id;
	b->locs[b->n_locs].address = address;
	b->locs[b->n_locs].line_off = b->n_lines;
	b->locs[b->n_locs].n_lines = k.n_lines;
	b->n_lines += k.n_lines;
	return ++b->n_locs;

err_out:
	errno = -err;
	return 0;
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
		if (!location_ids[i] || location_ids[i] > b->n_locs)
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

static int builder__pack(struct pprof_builder *b, struct sink *out)
{
	Perftools__Profiles__Profile prof = PERFTOOLS__PROFILES__PROFILE__INIT;
	Perftools__Profiles__Location l0 = PERFTOOLS__PROFILES__LOCATION__INIT;
	Perftools__Profiles__ValueType **types = NULL;
	Perftools__Profiles__Mapping **maps = NULL;
	Perftools__Profiles__Function **funcs = NULL;
	Perftools__Profiles__Line **lines = NULL;
	Perftools__Profiles__Location *locs = NULL, **loc_ptrs = NULL;
	Perftools__Profiles__Sample *smp = NULL, **smp_ptrs = NULL;
	Perftools__Profiles__Label *lbl = NULL, **lbl_ptrs = NULL;
	size_t i, n, lbl_cap = 0;
	int err;

	if (b->err)
		return b->err;
	err = PTR_ARRAY(types, b->types, b->n_types);
	if (!err)
		err = PTR_ARRAY(maps, b->maps, b->n_maps);
	if (!err)
		err = PTR_ARRAY(funcs, b->funcs, b->n_funcs);
	if (!err)
		err = PTR_ARRAY(lines, b->lines, b->n_lines);
	if (err)
		goto cleanup;
	locs = calloc(b->n_locs ? b->n_locs : 1, sizeof(*locs));
	if (!locs || PTR_ARRAY(loc_ptrs, locs, b->n_locs)) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < b->n_locs; i++) {
		locs[i] = l0;
		locs[i].id = i + 1;
		locs[i].mapping_id = b->locs[i].mapping_id;
		locs[i].address = b->locs[i].address;
		if (b->locs[i].n_lines) {
			locs[i].n_line = b->locs[i].n_lines;
			locs[i].line = lines + b->locs[i].line_off;
		}
	}

	prof.n_sample_type = b->n_types;
	prof.sample_type = types;
	prof.n_mapping = b->n_maps;
	prof.mapping = maps;
	prof.n_location = b->n_locs;
	prof.location = loc_ptrs;
	prof.n_function = b->n_funcs;
	prof.function = funcs;
	prof.n_string_table = b->n_strs;
	prof.string_table = b->strs;
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
	free(maps);
	free(funcs);
	free(lines);
	free(locs);
	free(loc_ptrs);
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

static int write_all(int fd, const uint8_t *data, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		data += n;
		len -= n;
	}
	return 0;
}

/* Compress the staged input with flush mode `flush` (zlib's zpipe.c loop). */
static int gz_sink__deflate(struct gz_sink *s, int flush)
{
	int ret, err;

	s->zs.next_in = s->in;
	s->zs.avail_in = s->n_in;
	do {
		s->zs.next_out = s->out;
		s->zs.avail_out = sizeof(s->out);
		ret = deflate(&s->zs, flush);
		if (ret == Z_STREAM_ERROR)
			return -EINVAL;
		err = write_all(s->fd, s->out, sizeof(s->out) - s->zs.avail_out);
		if (err)
			return err;
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
	struct gz_sink *s = NULL;
	bool zinit = false, created = false;
	char *tmp = NULL;
	int fd = -1, ret, err;

	if (!b || !path)
		return -EINVAL;
	if (b->err)
		return b->err;
	if (asprintf(&tmp, "%s.tmp", path) < 0) {
		tmp = NULL;
		err = -ENOMEM;
		goto cleanup;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		err = -ENOMEM;
		goto cleanup;
	}
	s->sink.base.append = gz_sink__append;
	/* windowBits 15 + 16: gzip header and trailer instead of zlib's. */
	ret = deflateInit2(&s->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16,
			   8, Z_DEFAULT_STRATEGY);
	if (ret != Z_OK) {
		err = ret == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
		goto cleanup;
	}
	zinit = true;

	/* We usually run as root: never follow or reuse whatever sits at the
	 * tmp name (a symlink planted there), replace it with a new file. */
	if (unlink(tmp) && errno != ENOENT) {
		err = -errno;
		goto cleanup;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0644);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	created = true;
	s->fd = fd;

	err = builder__pack(b, &s->sink);
	if (!err)
		err = gz_sink__deflate(s, Z_FINISH);
	if (err)
		goto cleanup;
	ret = close(fd);
	fd = -1;
	if (ret) {
		err = -errno;
		goto cleanup;
	}
	if (rename(tmp, path)) {
		err = -errno;
		goto cleanup;
	}
	created = false;

cleanup:
	if (fd >= 0)
		close(fd);
	if (created)
		unlink(tmp);
	if (zinit)
		deflateEnd(&s->zs);
	free(s);
	free(tmp);
	return err;
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * otlp_profiles.c - OTLP profiles in the opentelemetry-proto v1.11.0 layout
 * (profiles/v1development). Strings, functions, mappings, locations and
 * stacks are interned in the shared profile dictionary (profdict), fed by
 * the shared stack translator (profstack); this file adds what only OTLP
 * has: the attribute table (process.executable.build_id.gnu / .htlhash on
 * mappings, profile.frame.type on locations, thread.id / thread.name on
 * samples, named as the semantic conventions name them), one Profile per
 * sample type, and the sample identity rule: samples with the same
 * {stack, attribute set, link} are merged into one, and every sample has
 * the same shape (one value, no timestamps). Index 0 of every table is the
 * zero value, as the spec requires, so 0 means "none" everywhere.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "sinks/otlp/otlp_profiles.h"
#include "sinks/profile/profdict.h"
#include "sinks/profile/profstack.h"
#include "util/arena.h"
#include "util/hash.h"
#include "util/table.h"
#include "util/u64map.h"
#include "util/utf8.h"
#include "otlp_profiles_service.pb-c.h"

typedef Opentelemetry__Proto__Profiles__V1development__Mapping PMapping;
typedef Opentelemetry__Proto__Profiles__V1development__Location PLocation;
typedef Opentelemetry__Proto__Profiles__V1development__Function PFunction;
typedef Opentelemetry__Proto__Profiles__V1development__Line PLine;
typedef Opentelemetry__Proto__Profiles__V1development__Stack PStack;
typedef Opentelemetry__Proto__Profiles__V1development__KeyValueAndUnit PAttr;
typedef Opentelemetry__Proto__Profiles__V1development__Profile PProfile;
typedef Opentelemetry__Proto__Profiles__V1development__Sample PSample;
typedef Opentelemetry__Proto__Profiles__V1development__ValueType PValueType;
typedef Opentelemetry__Proto__Profiles__V1development__Link PLink;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;

/* Sample attributes: thread.id and thread.name. */
#define SAMPLE_ATTRS 2

/* A growable array of pointers. */
struct vec {
	void **v;
	size_t n, cap;
};

/* Room for one more element of size sz in *arr (n used of *cap). */
static int grow_one(void **arr, size_t *cap, size_t n, size_t sz)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	p = realloc(*arr, ncap * sz);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static int vec_push(struct vec *v, void *p)
{
	if (!p || grow_one((void **)&v->v, &v->cap, v->n, sizeof(*v->v)))
		return -ENOMEM;
	v->v[v->n++] = p;
	return 0;
}

/* An attribute-table entry: a key and a string or an integer value. */
struct attr_rec {
	uint32_t key;		/* dictionary string */
	uint32_t sval;		/* dictionary string, if is_str */
	int64_t ival;
	bool is_str;
};

/* A sample being built: its identity and its (merged) value. */
struct sample_rec {
	int32_t stack;
	int32_t attrs[SAMPLE_ATTRS];	/* sorted; n_attrs used */
	uint32_t n_attrs;
	int64_t value;
};

struct proc_profiles {
	uint32_t pid;
	const struct otlp_resource *res;
	struct vec profiles;	/* PProfile * */
};

struct otlp_profiles {
	struct stacks *st;
	struct symcache *sc;
	struct profdict d;
	struct profstack *ps;
	struct arena a;
	struct attr_rec *attrs;	/* [0] is the zero entry */
	size_t n_attrs, cap_attrs;
	struct table attr_t;
	struct u64map stack_idx;	/* stack id -> dictionary stack */
	struct vec procs;	/* struct proc_profiles * */
	PProfile *cur;
	struct sample_rec *samples;	/* of the current profile */
	size_t n_samples, cap_samples;
	struct table sample_t;
	int err;
};

static int nomem(struct otlp_profiles *b)
{
	if (!b->err)
		b->err = -ENOMEM;
	return -ENOMEM;
}

/* nomem() for the builders that return a pointer. */
static void *nomem_null(struct otlp_profiles *b)
{
	nomem(b);
	return NULL;
}

struct attr_ctx {
	const struct otlp_profiles *b;
	const struct attr_rec *r;
};

static bool attr_eq(const void *ctx, size_t idx)
{
	const struct attr_ctx *c = ctx;
	const struct attr_rec *x = &c->b->attrs[idx], *y = c->r;

	return x->key == y->key && x->is_str == y->is_str &&
	       (x->is_str ? x->sval == y->sval : x->ival == y->ival);
}

/* Attribute-table index of key = sval (sval != NULL) or key = ival. */
static int32_t attr(struct otlp_profiles *b, const char *key, const char *sval,
		    int64_t ival)
{
	struct attr_rec r = { .key = profdict__str(&b->d, key),
			      .is_str = sval != NULL };
	struct attr_ctx c = { .b = b, .r = &r };
	uint64_t h;
	int64_t hit;

	if (sval)
		r.sval = profdict__str(&b->d, sval);
	else
		r.ival = ival;
	h = hash__u64(hash__u64(HASH_SEED, (uint64_t)r.key << 1 | r.is_str),
		      r.is_str ? r.sval : (uint64_t)r.ival);
	hit = table__find(&b->attr_t, h, attr_eq, &c);
	if (hit >= 0)
		return (int32_t)hit;
	if (grow_one((void **)&b->attrs, &b->cap_attrs, b->n_attrs,
		     sizeof(*b->attrs)) ||
	    table__add(&b->attr_t, h, b->n_attrs))
		return nomem(b), 0;
	b->attrs[b->n_attrs] = r;
	return (int32_t)b->n_attrs++;
}

/* Dictionary stack of an interned stack id, translated once. */
static int32_t stack(struct otlp_profiles *b, uint32_t stack_id)
{
	uint64_t ids[PROFSTACK_MAX_FRAMES], *hit;
	struct stack_view v;
	uint32_t idx;
	size_t n;

	hit = u64map__get(&b->stack_idx, stack_id);
	if (hit)
		return (int32_t)*hit;
	if (!stacks__get(b->st, stack_id, &v))
		return 0;
	n = profstack__locations(b->ps, &v, ids, sizeof(ids) / sizeof(ids[0]));
	idx = profdict__stack(&b->d, ids, n);
	if (idx && u64map__set(&b->stack_idx, stack_id, idx))
		return nomem(b), 0;
	return (int32_t)idx;
}

struct otlp_profiles *otlp_profiles__new(struct stacks *st,
					 struct symcache *sc)
{
	struct otlp_profiles *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->st = st;
	b->sc = sc;
	if (profdict__init(&b->d)) {
		free(b);
		errno = ENOMEM;
		return NULL;
	}
	b->ps = profstack__new(&b->d, sc);
	b->attrs = calloc(16, sizeof(*b->attrs));	/* [0]: zero entry */
	if (!b->ps || !b->attrs) {
		otlp_profiles__free(b);
		errno = ENOMEM;
		return NULL;
	}
	b->cap_attrs = 16;
	b->n_attrs = 1;
	return b;
}

void otlp_profiles__free(struct otlp_profiles *b)
{
	size_t i;

	if (!b)
		return;
	for (i = 0; i < b->procs.n; i++) {
		struct proc_profiles *p = b->procs.v[i];

		free(p->profiles.v);
		free(p);
	}
	free(b->procs.v);
	free(b->attrs);
	free(b->samples);
	table__free(&b->attr_t);
	table__free(&b->sample_t);
	u64map__free(&b->stack_idx);
	profstack__free(b->ps);
	profdict__free(&b->d);
	arena__free(&b->a);
	free(b);
}

/* Turn the current profile's merged samples into messages. */
static void end_profile(struct otlp_profiles *b)
{
	PSample **v;
	size_t i;

	if (!b->cur)
		return;
	v = arena__alloc(&b->a, (b->n_samples + 1) * sizeof(*v));
	if (!v) {
		nomem(b);
		goto out;
	}
	for (i = 0; i < b->n_samples; i++) {
		const struct sample_rec *r = &b->samples[i];
		PSample *s = arena__alloc(&b->a, sizeof(*s));
		int64_t *val = arena__alloc(&b->a, sizeof(*val));
		int32_t *ai = arena__alloc(&b->a, sizeof(r->attrs));

		if (!s || !val || !ai) {
			nomem(b);
			goto out;
		}
		opentelemetry__proto__profiles__v1development__sample__init(s);
		s->stack_index = r->stack;
		*val = r->value;
		s->values = val;
		s->n_values = 1;
		memcpy(ai, r->attrs, sizeof(r->attrs));
		s->attribute_indices = ai;
		s->n_attribute_indices = r->n_attrs;
		v[i] = s;
	}
	b->cur->samples = v;
	b->cur->n_samples = b->n_samples;
out:
	b->n_samples = 0;
	table__clear(&b->sample_t);
	b->cur = NULL;
}

static PValueType *value_type(struct otlp_profiles *b, const char *type,
			      const char *unit)
{
	PValueType *vt = arena__alloc(&b->a, sizeof(*vt));

	if (!vt)
		return NULL;
	opentelemetry__proto__profiles__v1development__value_type__init(vt);
	vt->type_strindex = (int32_t)profdict__str(&b->d, type);
	vt->unit_strindex = (int32_t)profdict__str(&b->d, unit);
	return vt;
}

int otlp_profiles__begin(struct otlp_profiles *b, uint32_t pid,
			 const struct otlp_resource *res,
			 const struct otlp_profile_desc *d)
{
	struct proc_profiles *p = NULL;
	PProfile *pr;
	size_t i;

	end_profile(b);
	for (i = 0; i < b->procs.n; i++)
		if (((struct proc_profiles *)b->procs.v[i])->pid == pid)
			p = b->procs.v[i];
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p || vec_push(&b->procs, p)) {
			free(p);
			return nomem(b);
		}
		p->pid = pid;
		p->res = res;
	}
	pr = arena__alloc(&b->a, sizeof(*pr));
	if (!pr)
		return nomem(b);
	opentelemetry__proto__profiles__v1development__profile__init(pr);
	pr->sample_type = value_type(b, d->type, d->unit);
	pr->period_type = value_type(b, d->period_type, d->period_unit);
	pr->period = d->period;
	pr->time_unix_nano = d->time_unix_nano;
	pr->duration_nano = d->duration_nano;
	pr->profile_id.len = 16;
	pr->profile_id.data = arena__alloc(&b->a, 16);
	if (!pr->sample_type || !pr->period_type || !pr->profile_id.data)
		return nomem(b);
	/* an all-zero id is invalid */
	if (getrandom(pr->profile_id.data, 16, 0) != 16)
		memcpy(pr->profile_id.data, &pr, sizeof(pr));
	pr->profile_id.data[0] |= 1;
	if (vec_push(&p->profiles, pr))
		return nomem(b);
	b->cur = pr;
	return 0;
}

struct sample_ctx {
	const struct otlp_profiles *b;
	const struct sample_rec *r;
};

static bool sample_eq(const void *ctx, size_t idx)
{
	const struct sample_ctx *c = ctx;
	const struct sample_rec *x = &c->b->samples[idx], *y = c->r;

	return x->stack == y->stack && x->n_attrs == y->n_attrs &&
	       !memcmp(x->attrs, y->attrs, y->n_attrs * sizeof(y->attrs[0]));
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return x < y ? -1 : x > y;
}

static int add_sample(struct otlp_profiles *b, struct sample_rec *rp,
		      int64_t value);

int otlp_profiles__sample(struct otlp_profiles *b, uint32_t stack_id,
			  int64_t value, uint32_t tid, const char *thread_name)
{
	struct sample_rec r = { 0 };

	if (!b->cur)
		return -EINVAL;
	r.stack = stack(b, stack_id);
	if (tid) {
		r.attrs[0] = attr(b, "thread.id", NULL, tid);
		r.attrs[1] = attr(b, "thread.name",
				  thread_name ? thread_name : "", 0);
		r.n_attrs = 2;
		/* the identity holds a *set* of attributes: one order */
		qsort(r.attrs, r.n_attrs, sizeof(r.attrs[0]), cmp_i32);
	}
	return add_sample(b, &r, value);
}

int otlp_profiles__sample_unverified(struct otlp_profiles *b,
				     uint32_t stack_id, int64_t value)
{
	struct sample_rec r = { 0 };

	if (!b->cur)
		return -EINVAL;
	r.stack = stack(b, stack_id);
	r.attrs[0] = attr(b, "memtel.unverified", "true", 0);
	r.n_attrs = 1;
	return add_sample(b, &r, value);
}

/* r's sample in the current profile, merged by {stack, attributes}. */
static int add_sample(struct otlp_profiles *b, struct sample_rec *rp,
		      int64_t value)
{
	struct sample_rec r = *rp;
	struct sample_ctx c = { .b = b, .r = &r };
	uint64_t h;
	int64_t hit;

	if (b->err || b->d.err)
		return b->err ? b->err : b->d.err;
	/* link_index is always 0 here, so it is not part of the key */
	h = hash__bytes(hash__u64(HASH_SEED, (uint32_t)r.stack), r.attrs,
			r.n_attrs * sizeof(r.attrs[0]));
	hit = table__find(&b->sample_t, h, sample_eq, &c);
	if (hit >= 0) {
		b->samples[hit].value += value;
		return 0;
	}
	if (grow_one((void **)&b->samples, &b->cap_samples, b->n_samples,
		     sizeof(*b->samples)) ||
	    table__add(&b->sample_t, h, b->n_samples))
		return nomem(b);
	r.value = value;
	b->samples[b->n_samples++] = r;
	return 0;
}

size_t otlp_profiles__count(const struct otlp_profiles *b)
{
	size_t i, n = 0;

	for (i = 0; i < b->procs.n; i++)
		n += ((struct proc_profiles *)b->procs.v[i])->profiles.n;
	return n;
}

/* A string AnyValue; s is copied into the arena, made valid UTF-8. */
static AnyValue *any_str(struct otlp_profiles *b, const char *s)
{
	AnyValue *v = arena__alloc(&b->a, sizeof(*v));
	char *copy = NULL;
	const char *ok;

	if (!v)
		return NULL;
	opentelemetry__proto__common__v1__any_value__init(v);
	ok = utf8__sanitize(s ? s : "", &copy);
	if (!ok)
		return NULL;
	v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	v->string_value = arena__strdup(&b->a, ok);
	free(copy);
	return v->string_value ? v : NULL;
}

static KeyValue **resource_attrs(struct otlp_profiles *b,
				 const struct otlp_resource *r)
{
	KeyValue **v = arena__alloc(&b->a, (r->n + 1) * sizeof(*v));
	size_t i;

	if (!v)
		return NULL;
	for (i = 0; i < r->n; i++) {
		KeyValue *kv = arena__alloc(&b->a, sizeof(*kv));

		if (!kv)
			return NULL;
		opentelemetry__proto__common__v1__key_value__init(kv);
		kv->key = r->attrs[i].key;
		kv->value = any_str(b, r->attrs[i].str);
		if (!kv->value)
			return NULL;
		if (!r->attrs[i].str) {
			kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
			kv->value->int_value = r->attrs[i].num;
		}
		v[i] = kv;
	}
	return v;
}

/* Pointer array of n messages of size sz, each made by init(). */
static void **messages(struct otlp_profiles *b, size_t n, size_t sz,
		       void (*init)(void *))
{
	void **v = arena__alloc(&b->a, (n ? n : 1) * sizeof(*v));
	size_t i;

	if (!v)
		return NULL;
	for (i = 0; i < n; i++) {
		v[i] = arena__alloc(&b->a, sz);
		if (!v[i])
			return NULL;
		init(v[i]);
	}
	return v;
}

#define MESSAGES(b, n, T, init)                                              \
	((T **)messages(b, n, sizeof(T), (void (*)(void *))(init)))

/* The dictionary's tables as messages, one builder each; NULL (and
 * b->err) when out of memory. */
static PMapping **dict_mappings(struct otlp_profiles *b)
{
	const struct profdict *d = &b->d;
	PMapping **maps;
	size_t i;

	maps = MESSAGES(b, d->n_maps, PMapping,
			opentelemetry__proto__profiles__v1development__mapping__init);
	if (!maps)
		return nomem_null(b);
	for (i = 1; i < d->n_maps; i++) {
		const struct pd_mapping *m = &d->maps[i];
		int32_t *ai = arena__alloc(&b->a, 2 * sizeof(*ai));
		size_t n = 0;

		if (!ai)
			return nomem_null(b);
		maps[i]->memory_start = m->start;
		maps[i]->memory_limit = m->limit;
		maps[i]->file_offset = m->offset;
		maps[i]->filename_strindex = (int32_t)m->filename;
		if (m->build_id)
			ai[n++] = attr(b, "process.executable.build_id.gnu",
				       d->strs[m->build_id], 0);
		if (m->htlhash)
			ai[n++] = attr(b, "process.executable.build_id.htlhash",
				       d->strs[m->htlhash], 0);
		maps[i]->attribute_indices = ai;
		maps[i]->n_attribute_indices = n;
	}
	return maps;
}

static PFunction **dict_functions(struct otlp_profiles *b)
{
	const struct profdict *d = &b->d;
	PFunction **funcs;
	size_t i;

	funcs = MESSAGES(b, d->n_funcs, PFunction,
			 opentelemetry__proto__profiles__v1development__function__init);
	if (!funcs)
		return nomem_null(b);
	for (i = 1; i < d->n_funcs; i++) {
		const struct pd_function *f = &d->funcs[i];

		funcs[i]->name_strindex = (int32_t)f->name;
		funcs[i]->system_name_strindex =
			(int32_t)(f->system_name ? f->system_name : f->name);
		funcs[i]->filename_strindex = (int32_t)f->filename;
		funcs[i]->start_line = f->start_line;
	}
	return funcs;
}

static PLocation **dict_locations(struct otlp_profiles *b,
				   int32_t *frame_attr)
{
	const struct profdict *d = &b->d;
	PLocation **locs;
	size_t i, k;

	locs = MESSAGES(b, d->n_locs, PLocation,
			opentelemetry__proto__profiles__v1development__location__init);
	if (!locs)
		return nomem_null(b);
	for (i = 1; i < d->n_locs; i++) {
		const struct pd_location *l = &d->locs[i];
		PLine **lines = MESSAGES(b, l->n_lines, PLine,
			opentelemetry__proto__profiles__v1development__line__init);

		if (!lines)
			return nomem_null(b);
		for (k = 0; k < l->n_lines; k++) {
			lines[k]->function_index =
				(int32_t)d->lines[l->line_off + k].function;
			lines[k]->line = d->lines[l->line_off + k].line;
		}
		locs[i]->mapping_index = (int32_t)l->mapping;
		locs[i]->address = l->address;
		locs[i]->lines = lines;
		locs[i]->n_lines = l->n_lines;
		locs[i]->attribute_indices = &frame_attr[l->frame];
		locs[i]->n_attribute_indices = 1;
	}
	return locs;
}

static PStack **dict_stacks(struct otlp_profiles *b)
{
	const struct profdict *d = &b->d;
	PStack **stacks;
	size_t i, k;

	stacks = MESSAGES(b, d->n_stacks, PStack,
			  opentelemetry__proto__profiles__v1development__stack__init);
	if (!stacks)
		return nomem_null(b);
	for (i = 1; i < d->n_stacks; i++) {
		const struct pd_stack *s = &d->stacks[i];
		int32_t *li = arena__alloc(&b->a, (s->n_locs + 1) * sizeof(*li));

		if (!li)
			return nomem_null(b);
		for (k = 0; k < s->n_locs; k++)
			li[k] = (int32_t)d->stack_locs[s->loc_off + k];
		stacks[i]->location_indices = li;
		stacks[i]->n_location_indices = s->n_locs;
	}
	return stacks;
}

static PAttr **dict_attrs(struct otlp_profiles *b)
{
	const struct profdict *d = &b->d;
	PAttr **attrs;
	size_t i;

	/* the attribute table last: the loops above add to it */
	attrs = MESSAGES(b, b->n_attrs, PAttr,
			 opentelemetry__proto__profiles__v1development__key_value_and_unit__init);
	if (!attrs)
		return nomem_null(b);
	for (i = 1; i < b->n_attrs; i++) {
		const struct attr_rec *r = &b->attrs[i];

		attrs[i]->key_strindex = (int32_t)r->key;
		attrs[i]->value = any_str(b, r->is_str ? d->strs[r->sval] : "");
		if (!attrs[i]->value)
			return nomem_null(b);
		if (!r->is_str) {
			attrs[i]->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
			attrs[i]->value->int_value = r->ival;
		}
	}
	return attrs;
}

static PLink **dict_links(struct otlp_profiles *b)
{
	PLink **links;

	links = MESSAGES(b, 1, PLink,
			 opentelemetry__proto__profiles__v1development__link__init);
	if (!links)
		return nomem_null(b);
	/* all-zero ids of the full lengths: the spec's advice for codecs that
	 * expect 16- and 8-byte ids */
	links[0]->trace_id.data = arena__alloc(&b->a, 16);
	links[0]->span_id.data = arena__alloc(&b->a, 8);
	if (!links[0]->trace_id.data || !links[0]->span_id.data)
		return nomem_null(b);
	links[0]->trace_id.len = 16;
	links[0]->span_id.len = 8;
	return links;
}

/* The dictionary's tables as messages (after every attribute is known:
 * mappings and locations add theirs here, so the attribute table is built
 * last). */
static int dictionary(struct otlp_profiles *b,
		      Opentelemetry__Proto__Profiles__V1development__ProfilesDictionary *dict)
{
	const struct profdict *d = &b->d;
	int32_t *frame_attr = arena__alloc(&b->a, 2 * sizeof(*frame_attr));
	PMapping **maps;
	PLocation **locs;
	PFunction **funcs;
	PStack **stacks;
	PAttr **attrs;
	PLink **links;

	if (!frame_attr)
		return nomem(b);
	frame_attr[PD_FRAME_NATIVE] = attr(b, "profile.frame.type", "native", 0);
	frame_attr[PD_FRAME_KERNEL] = attr(b, "profile.frame.type", "kernel", 0);
	maps = dict_mappings(b);
	funcs = maps ? dict_functions(b) : NULL;
	locs = funcs ? dict_locations(b, frame_attr) : NULL;
	stacks = locs ? dict_stacks(b) : NULL;
	attrs = stacks ? dict_attrs(b) : NULL;
	links = attrs ? dict_links(b) : NULL;
	if (!links)
		return nomem(b);
	if (b->err || d->err)
		return b->err ? b->err : d->err;
	dict->n_mapping_table = d->n_maps;
	dict->mapping_table = maps;
	dict->n_location_table = d->n_locs;
	dict->location_table = locs;
	dict->n_function_table = d->n_funcs;
	dict->function_table = funcs;
	dict->n_link_table = 1;
	dict->link_table = links;
	dict->n_string_table = d->n_strs;
	dict->string_table = d->strs;
	dict->n_attribute_table = b->n_attrs;
	dict->attribute_table = attrs;
	dict->n_stack_table = d->n_stacks;
	dict->stack_table = stacks;
	return 0;
}

int otlp_profiles__encode(struct otlp_profiles *b, uint8_t **buf, size_t *len)
{
	Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest req =
		OPENTELEMETRY__PROTO__COLLECTOR__PROFILES__V1DEVELOPMENT__EXPORT_PROFILES_SERVICE_REQUEST__INIT;
	Opentelemetry__Proto__Profiles__V1development__ProfilesDictionary dict =
		OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__PROFILES_DICTIONARY__INIT;
	Opentelemetry__Proto__Common__V1__InstrumentationScope scope =
		OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
	Opentelemetry__Proto__Profiles__V1development__ResourceProfiles **rps;
	size_t i;
	int err;

	end_profile(b);
	rps = arena__alloc(&b->a, (b->procs.n + 1) * sizeof(*rps));
	if (!rps)
		return -ENOMEM;
	scope.name = (char *)OTLP_SCOPE_NAME;
	scope.version = (char *)MEMTEL_VERSION;
	for (i = 0; i < b->procs.n; i++) {
		struct proc_profiles *p = b->procs.v[i];
		Opentelemetry__Proto__Profiles__V1development__ResourceProfiles *rp;
		Opentelemetry__Proto__Profiles__V1development__ScopeProfiles *sp, **spp;
		Opentelemetry__Proto__Resource__V1__Resource *res;

		rp = arena__alloc(&b->a, sizeof(*rp));
		sp = arena__alloc(&b->a, sizeof(*sp));
		spp = arena__alloc(&b->a, sizeof(*spp));
		res = arena__alloc(&b->a, sizeof(*res));
		if (!rp || !sp || !spp || !res)
			return -ENOMEM;
		opentelemetry__proto__profiles__v1development__resource_profiles__init(rp);
		opentelemetry__proto__profiles__v1development__scope_profiles__init(sp);
		opentelemetry__proto__resource__v1__resource__init(res);
		res->attributes = resource_attrs(b, p->res);
		if (!res->attributes)
			return -ENOMEM;
		res->n_attributes = p->res->n;
		sp->scope = &scope;
		sp->n_profiles = p->profiles.n;
		sp->profiles = (PProfile **)p->profiles.v;
		spp[0] = sp;
		rp->resource = res;
		rp->n_scope_profiles = 1;
		rp->scope_profiles = spp;
		rps[i] = rp;
	}
	err = dictionary(b, &dict);
	if (err)
		return err;
	if (b->a.failed)
		return -ENOMEM;
	req.n_resource_profiles = b->procs.n;
	req.resource_profiles = rps;
	req.dictionary = &dict;

	*len = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__get_packed_size(&req);
	*buf = malloc(*len ? *len : 1);
	if (!*buf)
		return -ENOMEM;
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__pack(&req, *buf);
	return 0;
}

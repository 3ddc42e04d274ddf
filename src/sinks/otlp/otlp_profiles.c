// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * otlp_profiles.c - OTLP profiles (v1development, opentelemetry-proto
 * 1.8.0). Everything a profile references is interned into the shared
 * dictionary: strings, functions, mappings (carrying
 * process.executable.build_id.gnu and .htlhash attributes), locations
 * (with profile.frame.type native or kernel), stacks and sample attributes
 * (thread.id, thread.name). Index 0 of every table is the zero value, as
 * the spec requires, so 0 can mean "none" everywhere.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util/arena.h"
#include "symbolize/ksyms.h"
#include "sinks/otlp/otlp_profiles.h"
#include "otlp_profiles_service.pb-c.h"
#include "util/u64map.h"

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

/* A growable array of message pointers. */
struct vec {
	void **v;
	size_t n, cap;
};

static int vec_push(struct vec *v, void *p)
{
	if (!p)
		return -ENOMEM;
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		void **nv = realloc(v->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		v->v = nv;
		v->cap = cap;
	}
	v->v[v->n++] = p;
	return 0;
}

struct proc_profiles {
	uint32_t pid;
	const struct otlp_resource *res;
	struct vec profiles;	/* PProfile * */
};

struct otlp_profiles {
	struct stacks *st;
	struct symcache *sc;
	struct arena a;
	struct vec strings;	/* char * */
	struct u64map str_idx;	/* hash -> index (verified) */
	struct vec mappings, locations, functions, attrs, stacks_t, links;
	struct u64map map_idx;	/* hash(pid, mod_start) -> index */
	struct u64map loc_idx;	/* per pid: see loc_key() */
	struct u64map fn_idx;
	struct u64map attr_idx;
	struct u64map stack_idx;	/* stack id -> index */
	struct vec procs;	/* struct proc_profiles * */
	struct proc_profiles *cur_proc;
	PProfile *cur;
	struct vec cur_samples;
	bool failed;
};

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
	const unsigned char *c = p;

	while (n--) {
		h ^= *c++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV0 0xcbf29ce484222325ULL

static int32_t str(struct otlp_profiles *b, const char *s)
{
	uint64_t h, *hit;
	size_t i;

	if (!s || !*s)
		return 0;
	h = fnv(s, strlen(s), FNV0);
	hit = u64map__get(&b->str_idx, h);
	if (hit && !strcmp(b->strings.v[*hit], s))
		return (int32_t)*hit;
	if (hit) {	/* hash collision: scan */
		for (i = 1; i < b->strings.n; i++)
			if (!strcmp(b->strings.v[i], s))
				return (int32_t)i;
	}
	if (vec_push(&b->strings, arena__strdup(&b->a, s))) {
		b->failed = true;
		return 0;
	}
	if (!hit)
		u64map__set(&b->str_idx, h, b->strings.n - 1);
	return (int32_t)(b->strings.n - 1);
}

static AnyValue *any_str(struct otlp_profiles *b, const char *s)
{
	AnyValue *v = arena__alloc(&b->a, sizeof(*v));

	if (!v)
		return NULL;
	opentelemetry__proto__common__v1__any_value__init(v);
	v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	v->string_value = arena__strdup(&b->a, s ? s : "");
	return v;
}

/* Attribute-table index of (key, string value) or (key, int value). */
static int32_t attr(struct otlp_profiles *b, const char *key, const char *sval,
		    int64_t ival)
{
	uint64_t h = fnv(key, strlen(key), FNV0), *hit;
	PAttr *a;

	h = sval ? fnv(sval, strlen(sval) + 1, h) : fnv(&ival, sizeof(ival), h ^ 1);
	hit = u64map__get(&b->attr_idx, h);
	if (hit)
		return (int32_t)*hit;
	a = arena__alloc(&b->a, sizeof(*a));
	if (!a)
		goto fail;
	opentelemetry__proto__profiles__v1development__key_value_and_unit__init(a);
	a->key_strindex = str(b, key);
	if (sval) {
		a->value = any_str(b, sval);
	} else {
		a->value = any_str(b, "");
		if (a->value) {
			a->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
			a->value->int_value = ival;
		}
	}
	if (!a->value || vec_push(&b->attrs, a))
		goto fail;
	u64map__set(&b->attr_idx, h, b->attrs.n - 1);
	return (int32_t)(b->attrs.n - 1);
fail:
	b->failed = true;
	return 0;
}

static int32_t function(struct otlp_profiles *b, const char *name,
			const char *file)
{
	int32_t n = str(b, name), f = str(b, file);
	uint64_t key = ((uint64_t)(uint32_t)n << 32) | (uint32_t)f, *hit;
	PFunction *fn;

	hit = u64map__get(&b->fn_idx, key);
	if (hit)
		return (int32_t)*hit;
	fn = arena__alloc(&b->a, sizeof(*fn));
	if (!fn)
		goto fail;
	opentelemetry__proto__profiles__v1development__function__init(fn);
	fn->name_strindex = n;
	fn->system_name_strindex = n;
	fn->filename_strindex = f;
	if (vec_push(&b->functions, fn))
		goto fail;
	u64map__set(&b->fn_idx, key, b->functions.n - 1);
	return (int32_t)(b->functions.n - 1);
fail:
	b->failed = true;
	return 0;
}

static int32_t mapping(struct otlp_profiles *b, uint32_t pid,
		       const struct sym_result *r)
{
	uint64_t key, *hit;
	PMapping *m;
	int n = 0;

	if (!r->module)
		return 0;
	key = fnv(&r->mod_start, sizeof(r->mod_start),
		  fnv(&pid, sizeof(pid), FNV0));
	key = fnv(r->module, strlen(r->module), key);
	hit = u64map__get(&b->map_idx, key);
	if (hit)
		return (int32_t)*hit;
	m = arena__alloc(&b->a, sizeof(*m));
	if (!m)
		goto fail;
	opentelemetry__proto__profiles__v1development__mapping__init(m);
	m->memory_start = r->mod_start;
	m->memory_limit = r->mod_end;
	m->file_offset = 0;
	m->filename_strindex = str(b, r->module);
	m->attribute_indices = arena__alloc(&b->a, 2 * sizeof(int32_t));
	if (!m->attribute_indices)
		goto fail;
	if (r->build_id && r->build_id[0])
		m->attribute_indices[n++] =
			attr(b, "process.executable.build_id.gnu", r->build_id, 0);
	if (r->htlhash && r->htlhash[0])
		m->attribute_indices[n++] =
			attr(b, "process.executable.build_id.htlhash",
			     r->htlhash, 0);
	m->n_attribute_indices = (size_t)n;
	if (vec_push(&b->mappings, m))
		goto fail;
	u64map__set(&b->map_idx, key, b->mappings.n - 1);
	return (int32_t)(b->mappings.n - 1);
fail:
	b->failed = true;
	return 0;
}

static int32_t location(struct otlp_profiles *b, uint32_t pid, uint64_t pc,
			bool is_return)
{
	bool kernel = ksyms__is_kernel(pc);
	uint64_t key, *hit;
	const struct sym_result *r;
	PLocation *l;
	int i;

	key = fnv(&pc, sizeof(pc), fnv(&pid, sizeof(pid), FNV0)) ^ is_return;
	if (kernel)
		key = fnv(&pc, sizeof(pc), FNV0 ^ 7) ^ is_return;
	hit = u64map__get(&b->loc_idx, key);
	if (hit)
		return (int32_t)*hit;
	r = symcache__get(b->sc, pid, pc, is_return);
	l = arena__alloc(&b->a, sizeof(*l));
	if (!l)
		goto fail;
	opentelemetry__proto__profiles__v1development__location__init(l);
	l->mapping_index = mapping(b, pid, r);
	l->address = pc;
	if (r->n_frames) {
		l->line = arena__alloc(&b->a, r->n_frames * sizeof(*l->line));
		if (!l->line)
			goto fail;
		for (i = 0; i < r->n_frames; i++) {
			PLine *ln = arena__alloc(&b->a, sizeof(*ln));

			if (!ln)
				goto fail;
			opentelemetry__proto__profiles__v1development__line__init(ln);
			ln->function_index = function(b, r->frames[i].function,
						      r->frames[i].file);
			ln->line = r->frames[i].line;
			l->line[i] = ln;
		}
		l->n_line = (size_t)r->n_frames;
	}
	l->attribute_indices = arena__alloc(&b->a, sizeof(int32_t));
	if (!l->attribute_indices)
		goto fail;
	l->attribute_indices[0] = attr(b, "profile.frame.type",
				       kernel ? "kernel" : "native", 0);
	l->n_attribute_indices = 1;
	if (vec_push(&b->locations, l))
		goto fail;
	u64map__set(&b->loc_idx, key, b->locations.n - 1);
	return (int32_t)(b->locations.n - 1);
fail:
	b->failed = true;
	return 0;
}

static int32_t stack(struct otlp_profiles *b, uint32_t stack_id)
{
	uint64_t *hit = u64map__get(&b->stack_idx, stack_id);
	struct stack_view v;
	PStack *s;
	uint32_t k;

	if (hit)
		return (int32_t)*hit;
	if (!stacks__get(b->st, stack_id, &v))
		return 0;
	s = arena__alloc(&b->a, sizeof(*s));
	if (!s)
		goto fail;
	opentelemetry__proto__profiles__v1development__stack__init(s);
	s->location_indices = arena__alloc(&b->a, (v.n + 1) * sizeof(int32_t));
	if (!s->location_indices)
		goto fail;
	for (k = 0; k < v.n; k++)
		s->location_indices[k] = location(b, v.pid, v.pcs[k],
						  stack_view__is_return(&v, k));
	s->n_location_indices = v.n;
	if (vec_push(&b->stacks_t, s))
		goto fail;
	u64map__set(&b->stack_idx, stack_id, b->stacks_t.n - 1);
	return (int32_t)(b->stacks_t.n - 1);
fail:
	b->failed = true;
	return 0;
}

/* Index 0 of every table is the zero value. */
static int zero_entries(struct otlp_profiles *b)
{
	PMapping *m = arena__alloc(&b->a, sizeof(*m));
	PLocation *l = arena__alloc(&b->a, sizeof(*l));
	PFunction *f = arena__alloc(&b->a, sizeof(*f));
	PAttr *a = arena__alloc(&b->a, sizeof(*a));
	PStack *s = arena__alloc(&b->a, sizeof(*s));
	PLink *k = arena__alloc(&b->a, sizeof(*k));

	if (b->a.failed)
		return -ENOMEM;
	opentelemetry__proto__profiles__v1development__mapping__init(m);
	opentelemetry__proto__profiles__v1development__location__init(l);
	opentelemetry__proto__profiles__v1development__function__init(f);
	opentelemetry__proto__profiles__v1development__key_value_and_unit__init(a);
	opentelemetry__proto__profiles__v1development__stack__init(s);
	opentelemetry__proto__profiles__v1development__link__init(k);
	if (vec_push(&b->strings, arena__strdup(&b->a, "")) ||
	    vec_push(&b->mappings, m) || vec_push(&b->locations, l) ||
	    vec_push(&b->functions, f) || vec_push(&b->attrs, a) ||
	    vec_push(&b->stacks_t, s) || vec_push(&b->links, k))
		return -ENOMEM;
	return 0;
}

struct otlp_profiles *otlp_profiles__new(struct stacks *st,
					 struct symcache *sc)
{
	struct otlp_profiles *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->st = st;
	b->sc = sc;
	if (zero_entries(b)) {
		otlp_profiles__free(b);
		errno = ENOMEM;
		return NULL;
	}
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
	free(b->strings.v);
	free(b->mappings.v);
	free(b->locations.v);
	free(b->functions.v);
	free(b->attrs.v);
	free(b->stacks_t.v);
	free(b->links.v);
	free(b->cur_samples.v);
	u64map__free(&b->str_idx);
	u64map__free(&b->map_idx);
	u64map__free(&b->loc_idx);
	u64map__free(&b->fn_idx);
	u64map__free(&b->attr_idx);
	u64map__free(&b->stack_idx);
	arena__free(&b->a);
	free(b);
}

static void end_profile(struct otlp_profiles *b)
{
	PSample **v;

	if (!b->cur)
		return;
	v = arena__alloc(&b->a, (b->cur_samples.n + 1) * sizeof(*v));
	if (!v) {
		b->failed = true;
	} else {
		if (b->cur_samples.n)
			memcpy(v, b->cur_samples.v,
			       b->cur_samples.n * sizeof(*v));
		b->cur->sample = v;
		b->cur->n_sample = b->cur_samples.n;
	}
	b->cur_samples.n = 0;
	b->cur = NULL;
}

static PValueType *value_type(struct otlp_profiles *b, const char *type,
			      const char *unit, int temporality)
{
	PValueType *vt = arena__alloc(&b->a, sizeof(*vt));

	if (!vt)
		return NULL;
	opentelemetry__proto__profiles__v1development__value_type__init(vt);
	vt->type_strindex = str(b, type);
	vt->unit_strindex = str(b, unit);
	vt->aggregation_temporality = temporality;
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
			return -ENOMEM;
		}
		p->pid = pid;
		p->res = res;
	}
	pr = arena__alloc(&b->a, sizeof(*pr));
	if (!pr)
		return -ENOMEM;
	opentelemetry__proto__profiles__v1development__profile__init(pr);
	pr->sample_type = value_type(b, d->type, d->unit, d->temporality);
	pr->period_type = value_type(b, d->period_type, d->period_unit,
				     d->temporality);
	pr->period = d->period;
	pr->time_unix_nano = d->time_unix_nano;
	pr->duration_nano = d->duration_nano;
	pr->profile_id.len = 16;
	pr->profile_id.data = arena__alloc(&b->a, 16);
	if (!pr->sample_type || !pr->period_type || !pr->profile_id.data)
		return -ENOMEM;
	/* an all-zero id is invalid */
	if (getrandom(pr->profile_id.data, 16, 0) != 16)
		memcpy(pr->profile_id.data, &pr, sizeof(pr));
	pr->profile_id.data[0] |= 1;
	if (vec_push(&p->profiles, pr))
		return -ENOMEM;
	b->cur = pr;
	b->cur_proc = p;
	return 0;
}

int otlp_profiles__sample(struct otlp_profiles *b, uint32_t stack_id,
			  int64_t value, uint32_t tid, const char *thread_name)
{
	PSample *s;

	if (!b->cur)
		return -EINVAL;
	s = arena__alloc(&b->a, sizeof(*s));
	if (!s)
		return -ENOMEM;
	opentelemetry__proto__profiles__v1development__sample__init(s);
	s->stack_index = stack(b, stack_id);
	s->values = arena__alloc(&b->a, sizeof(int64_t));
	if (!s->values)
		return -ENOMEM;
	s->values[0] = value;
	s->n_values = 1;
	if (tid) {
		s->attribute_indices = arena__alloc(&b->a, 2 * sizeof(int32_t));
		if (!s->attribute_indices)
			return -ENOMEM;
		s->attribute_indices[0] = attr(b, "thread.id", NULL, tid);
		s->attribute_indices[1] = attr(b, "thread.name",
					       thread_name ? thread_name : "", 0);
		s->n_attribute_indices = 2;
	}
	if (vec_push(&b->cur_samples, s))
		return -ENOMEM;
	return b->failed ? -ENOMEM : 0;
}

size_t otlp_profiles__count(const struct otlp_profiles *b)
{
	size_t i, n = 0;

	for (i = 0; i < b->procs.n; i++)
		n += ((struct proc_profiles *)b->procs.v[i])->profiles.n;
	return n;
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
	if (b->failed || b->a.failed)
		return -ENOMEM;
	dict.n_mapping_table = b->mappings.n;
	dict.mapping_table = (PMapping **)b->mappings.v;
	dict.n_location_table = b->locations.n;
	dict.location_table = (PLocation **)b->locations.v;
	dict.n_function_table = b->functions.n;
	dict.function_table = (PFunction **)b->functions.v;
	dict.n_link_table = b->links.n;
	dict.link_table = (PLink **)b->links.v;
	dict.n_string_table = b->strings.n;
	dict.string_table = (char **)b->strings.v;
	dict.n_attribute_table = b->attrs.n;
	dict.attribute_table = (PAttr **)b->attrs.v;
	dict.n_stack_table = b->stacks_t.n;
	dict.stack_table = (PStack **)b->stacks_t.v;
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

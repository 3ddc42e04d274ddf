// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_otlp_profiles.c - unit tests of the OTLP profiles builder: requests
 * built from synthetic stacks (pcs of this test's own functions, symbolized
 * for real through targets/symdb/symcache, and kernel pcs named by a
 * kallsyms file of our own), decoded with protobuf-c and checked for the
 * v1.11.0 rules: the zero entry of every dictionary table, samples with the
 * same {stack, attribute set} merged, one sample shape, the times given,
 * the semantic-convention attribute names, strings made valid UTF-8, and
 * the dictionary shared by the profiles of a request.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/stacks.h"
#include "process/targets.h"
#include "sinks/otlp/otlp_profiles.h"
#include "symbolize/ksyms.h"
#include "symbolize/symcache.h"
#include "symbolize/symdb.h"
#include "otlp_profiles_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest req_t;
typedef Opentelemetry__Proto__Profiles__V1development__ProfilesDictionary dict_t;
typedef Opentelemetry__Proto__Profiles__V1development__Profile profile_t;
typedef Opentelemetry__Proto__Profiles__V1development__Sample sample_t;

#define KBASE 0xffffffff81000000ULL

/* Functions whose pcs make the synthetic stacks. */
__attribute__((noinline)) int otlpt_leaf(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 3 + 1;
}

__attribute__((noinline)) int otlpt_caller(int x)
{
	__asm__ volatile("" ::: "memory");
	return otlpt_leaf(x) + 2;
}

struct fixture {
	struct symdb *db;
	struct targets *tg;
	struct ksyms *ks;
	struct symcache *sc;
	struct stacks *st;
	struct otlp_profiles *b;
	struct otlp_resource res;
	struct otlp_attr res_attrs[2];
	char ksyms_path[64];
	uint32_t user, kernel;	/* stack ids */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint64_t user[2], kern[3];
	FILE *kf;
	int fd;

	assert_non_null(f);
	strcpy(f->ksyms_path, "/tmp/test_otlp_profiles.XXXXXX");
	fd = mkstemp(f->ksyms_path);
	assert_true(fd >= 0);
	kf = fdopen(fd, "w");
	assert_non_null(kf);
	fprintf(kf, "%llx T otlpt_kfunc\n%llx T otlpt_kcaller\n%llx T _etext\n",
		KBASE, KBASE + 0x1000, KBASE + 0x2000);
	fclose(kf);
	f->ks = ksyms__load(f->ksyms_path);
	assert_non_null(f->ks);
	f->db = symdb__new();
	assert_non_null(f->db);
	f->tg = targets__new(8);
	assert_non_null(f->tg);
	assert_non_null(targets__get(f->tg, getpid()));
	f->sc = symcache__new(f->tg, f->ks, f->db);
	assert_non_null(f->sc);
	f->st = stacks__new();
	assert_non_null(f->st);
	/* return addresses inside the functions (looked up at pc - 1) */
	user[0] = (uint64_t)(uintptr_t)&otlpt_leaf + 4;
	user[1] = (uint64_t)(uintptr_t)&otlpt_caller + 4;
	f->user = stacks__intern(f->st, (uint32_t)getpid(),
				   targets__image(f->tg, getpid()), user, 2, false);
	kern[0] = KBASE + 0x10;
	kern[1] = KBASE + 0x1010;
	kern[2] = user[0];
	f->kernel = stacks__intern(f->st, (uint32_t)getpid(),
				     targets__image(f->tg, getpid()), kern, 3, true);
	assert_true(f->user && f->kernel);
	f->res_attrs[0] = (struct otlp_attr){ .key = "service.name",
					      .str = "test\xff" "svc" };
	f->res_attrs[1] = (struct otlp_attr){ .key = "process.pid",
					      .num = getpid() };
	f->res.attrs = f->res_attrs;
	f->res.n = 2;
	f->b = otlp_profiles__new(f->st, f->sc);
	assert_non_null(f->b);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	otlp_profiles__free(f->b);
	stacks__free(f->st);
	symcache__free(f->sc);
	targets__free(f->tg);
	symdb__free(f->db);
	ksyms__free(f->ks);
	unlink(f->ksyms_path);
	free(f);
	return 0;
}

static const struct otlp_profile_desc cpu_desc = {
	.type = "samples", .unit = "count",
	.period_type = "cpu", .period_unit = "nanoseconds", .period = 10101010,
	.time_unix_nano = 1700000000000000000ULL, .duration_nano = 5000000000ULL,
};

static req_t *encode(struct fixture *f)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	req_t *r;

	assert_int_equal(otlp_profiles__encode(f->b, &buf, &len), 0);
	r = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__unpack(NULL, len, buf);
	free(buf);
	assert_non_null(r);
	assert_non_null(r->dictionary);
	return r;
}

static void free_req(req_t *r)
{
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked(r, NULL);
}

static const char *str(const dict_t *d, int32_t i)
{
	assert_true(i >= 0 && (size_t)i < d->n_string_table);
	return d->string_table[i];
}

/* key and value (string, or the int printed) of attribute i. */
static void attr_at(const dict_t *d, int32_t i, const char **key, char *val,
		    size_t len)
{
	const Opentelemetry__Proto__Profiles__V1development__KeyValueAndUnit *a;

	assert_true(i > 0 && (size_t)i < d->n_attribute_table);
	a = d->attribute_table[i];
	*key = str(d, a->key_strindex);
	assert_non_null(a->value);
	if (a->value->value_case ==
	    OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE)
		snprintf(val, len, "%lld", (long long)a->value->int_value);
	else
		snprintf(val, len, "%s", a->value->string_value);
}

static const profile_t *profile_of(const req_t *r, size_t i)
{
	assert_int_equal(r->n_resource_profiles, 1);
	assert_int_equal(r->resource_profiles[0]->n_scope_profiles, 1);
	assert_true(i < r->resource_profiles[0]->scope_profiles[0]->n_profiles);
	return r->resource_profiles[0]->scope_profiles[0]->profiles[i];
}

/* Function names of a stack, leaf first. */
static size_t stack_names(const dict_t *d, int32_t si, const char **out,
			  size_t max)
{
	const Opentelemetry__Proto__Profiles__V1development__Stack *s;
	size_t n = 0, k, j;

	assert_true(si > 0 && (size_t)si < d->n_stack_table);
	s = d->stack_table[si];
	for (k = 0; k < s->n_location_indices; k++) {
		const Opentelemetry__Proto__Profiles__V1development__Location *l;
		int32_t li = s->location_indices[k];

		assert_true(li > 0 && (size_t)li < d->n_location_table);
		l = d->location_table[li];
		for (j = 0; j < l->n_lines && n < max; j++) {
			int32_t fi = l->lines[j]->function_index;

			assert_true(fi > 0 && (size_t)fi < d->n_function_table);
			out[n++] = str(d, d->function_table[fi]->name_strindex);
		}
	}
	return n;
}

static void test_zero_entries(void **state)
{
	struct fixture *f = *state;
	const dict_t *d;
	req_t *r;

	assert_int_equal(otlp_profiles__begin(f->b, getpid(), &f->res,
					      &cpu_desc), 0);
	assert_int_equal(otlp_profiles__sample(f->b, f->user, 1, 0, NULL), 0);
	r = encode(f);
	d = r->dictionary;
	assert_true(d->n_string_table > 1);
	assert_string_equal(d->string_table[0], "");
	assert_true(d->n_mapping_table > 1 && d->n_location_table > 1 &&
		    d->n_function_table > 1 && d->n_stack_table > 1 &&
		    d->n_attribute_table > 1);
	/* protobuf-c unpacks an absent field as its default: a zero entry
	 * packs to nothing, so re-packing it gives 0 bytes */
	assert_int_equal(opentelemetry__proto__profiles__v1development__mapping__get_packed_size(d->mapping_table[0]), 0);
	assert_int_equal(opentelemetry__proto__profiles__v1development__location__get_packed_size(d->location_table[0]), 0);
	assert_int_equal(opentelemetry__proto__profiles__v1development__function__get_packed_size(d->function_table[0]), 0);
	assert_int_equal(opentelemetry__proto__profiles__v1development__stack__get_packed_size(d->stack_table[0]), 0);
	assert_int_equal(opentelemetry__proto__profiles__v1development__key_value_and_unit__get_packed_size(d->attribute_table[0]), 0);
	/* the zero link: 16 and 8 zero bytes, as the spec advises */
	assert_int_equal(d->n_link_table, 1);
	assert_int_equal(d->link_table[0]->trace_id.len, 16);
	assert_int_equal(d->link_table[0]->span_id.len, 8);
	assert_true(d->link_table[0]->trace_id.data[0] == 0 &&
		    d->link_table[0]->trace_id.data[15] == 0 &&
		    d->link_table[0]->span_id.data[7] == 0);
	free_req(r);
}

static void test_merge_and_shape(void **state)
{
	struct fixture *f = *state;
	const profile_t *p;
	const dict_t *d;
	int64_t by_tid[3] = { 0 };
	size_t i, k;
	req_t *r;

	assert_int_equal(otlp_profiles__begin(f->b, getpid(), &f->res,
					      &cpu_desc), 0);
	/* the same stack and thread three times: one sample of 6 */
	assert_int_equal(otlp_profiles__sample(f->b, f->user, 1, 11, "w1"), 0);
	assert_int_equal(otlp_profiles__sample(f->b, f->user, 2, 11, "w1"), 0);
	assert_int_equal(otlp_profiles__sample(f->b, f->user, 3, 11, "w1"), 0);
	/* another thread, another stack: samples of their own */
	assert_int_equal(otlp_profiles__sample(f->b, f->user, 5, 12, "w2"), 0);
	assert_int_equal(otlp_profiles__sample(f->b, f->kernel, 7, 11, "w1"), 0);
	r = encode(f);
	d = r->dictionary;
	p = profile_of(r, 0);
	assert_int_equal(p->n_samples, 3);
	for (i = 0; i < p->n_samples; i++) {
		const sample_t *s = p->samples[i];
		int64_t tid = -1;

		/* one shape: one aggregated value, no timestamps */
		assert_int_equal(s->n_values, 1);
		assert_int_equal(s->n_timestamps_unix_nano, 0);
		assert_int_equal(s->link_index, 0);
		assert_int_equal(s->n_attribute_indices, 2);
		for (k = 0; k < s->n_attribute_indices; k++) {
			const char *key;
			char val[64];

			attr_at(d, s->attribute_indices[k], &key, val,
				sizeof(val));
			if (!strcmp(key, "thread.id"))
				tid = atoll(val);
			else
				assert_string_equal(key, "thread.name");
		}
		assert_true(tid == 11 || tid == 12);
		if (s->stack_index == p->samples[0]->stack_index)
			by_tid[tid - 10] += s->values[0];
		else
			assert_int_equal(s->values[0], 7);
	}
	assert_int_equal(by_tid[1], 6);
	assert_int_equal(by_tid[2], 5);
	free_req(r);
}

/* Under the overhead budget: unverified in-use apart, labelled. */
static void test_unverified_sample(void **state)
{
	struct fixture *f = *state;
	const profile_t *p;
	const dict_t *d;
	size_t i, labelled = 0;
	req_t *r;

	assert_int_equal(otlp_profiles__begin(f->b, getpid(), &f->res,
					      &cpu_desc), 0);
	assert_int_equal(otlp_profiles__sample(f->b, f->user, 10, 0, NULL), 0);
	assert_int_equal(otlp_profiles__sample_unverified(f->b, f->user, 4), 0);
	assert_int_equal(otlp_profiles__sample_unverified(f->b, f->user, 1), 0);
	r = encode(f);
	d = r->dictionary;
	p = profile_of(r, 0);
	assert_int_equal(p->n_samples, 2);
	for (i = 0; i < p->n_samples; i++) {
		const sample_t *s = p->samples[i];
		const char *key;
		char val[64];

		if (!s->n_attribute_indices) {
			assert_int_equal(s->values[0], 10);
			continue;
		}
		assert_int_equal(s->n_attribute_indices, 1);
		attr_at(d, s->attribute_indices[0], &key, val, sizeof(val));
		assert_string_equal(key, "memtel.unverified");
		assert_string_equal(val, "true");
		assert_int_equal(s->values[0], 5);
		labelled++;
	}
	assert_int_equal(labelled, 1);
	free_req(r);
}

static void test_times_types_and_ids(void **state)
{
	struct fixture *f = *state;
	struct otlp_profile_desc heap = {
		.type = "inuse_space", .unit = "bytes", .period_type = "space",
		.period_unit = "bytes", .period = 524288,
		.time_unix_nano = 1600000000000000000ULL,	/* process start */
		.duration_nano = 100000000000000000ULL,		/* until now */
	};
	const profile_t *p0, *p1;
	const dict_t *d;
	req_t *r;

	assert_int_equal(otlp_profiles__begin(f->b, getpid(), &f->res,
					      &cpu_desc), 0);
	assert_int_equal(otlp_profiles__sample(f->b, f->user, 4, 0, NULL), 0);
	assert_int_equal(otlp_profiles__begin(f->b, getpid(), &f->res, &heap), 0);
	assert_int_equal(otlp_profiles__sample(f->b, f->user, 4096, 0, NULL), 0);
	assert_int_equal(otlp_profiles__sample(f->b, f->user, 4096, 0, NULL), 0);
	assert_int_equal(otlp_profiles__count(f->b), 2);
	r = encode(f);
	d = r->dictionary;
	p0 = profile_of(r, 0);
	p1 = profile_of(r, 1);
	assert_string_equal(str(d, p0->sample_type->type_strindex), "samples");
	assert_string_equal(str(d, p0->period_type->type_strindex), "cpu");
	assert_int_equal(p0->period, 10101010);
	assert_int_equal(p0->time_unix_nano, cpu_desc.time_unix_nano);
	assert_int_equal(p0->duration_nano, cpu_desc.duration_nano);
	assert_string_equal(str(d, p1->sample_type->type_strindex),
			    "inuse_space");
	assert_string_equal(str(d, p1->sample_type->unit_strindex), "bytes");
	assert_int_equal(p1->time_unix_nano, heap.time_unix_nano);
	assert_int_equal(p1->duration_nano, heap.duration_nano);
	/* no thread: no attributes; the two 4096s are one sample */
	assert_int_equal(p1->n_samples, 1);
	assert_int_equal(p1->samples[0]->n_attribute_indices, 0);
	assert_int_equal(p1->samples[0]->values[0], 8192);
	/* the dictionary is shared: both profiles' samples name one stack */
	assert_int_equal(p0->samples[0]->stack_index,
			 p1->samples[0]->stack_index);
	assert_int_equal(d->n_stack_table, 2);
	assert_int_equal(p0->profile_id.len, 16);
	assert_int_equal(p1->profile_id.len, 16);
	assert_memory_not_equal(p0->profile_id.data, p1->profile_id.data, 16);
	free_req(r);
}

static void test_frames_and_attributes(void **state)
{
	struct fixture *f = *state;
	const char *names[16], *key;
	bool gnu = false, kernel_type = false, native_type = false;
	const int32_t *ul, *kl;
	const dict_t *d;
	char val[256];
	size_t n, i, k;
	req_t *r;

	assert_int_equal(otlp_profiles__begin(f->b, getpid(), &f->res,
					      &cpu_desc), 0);
	assert_int_equal(otlp_profiles__sample(f->b, f->user, 1, 5,
					       "bad\xc3(name"), 0);
	assert_int_equal(otlp_profiles__sample(f->b, f->kernel, 1, 5,
					       "bad\xc3(name"), 0);
	r = encode(f);
	d = r->dictionary;
	n = stack_names(d, profile_of(r, 0)->samples[0]->stack_index, names,
			16);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "otlpt_leaf");
	assert_string_equal(names[1], "otlpt_caller");
	n = stack_names(d, profile_of(r, 0)->samples[1]->stack_index, names,
			16);
	assert_int_equal(n, 3);
	assert_string_equal(names[0], "otlpt_kfunc");
	assert_string_equal(names[1], "otlpt_kcaller");
	/* the exact user pc under kernel frames is its own location: the
	 * same address as the user stack's return address, looked up at pc
	 * rather than pc - 1 */
	assert_string_equal(names[2], "otlpt_leaf");
	ul = d->stack_table[profile_of(r, 0)->samples[0]->stack_index]
		     ->location_indices;
	kl = d->stack_table[profile_of(r, 0)->samples[1]->stack_index]
		     ->location_indices;
	assert_int_equal(d->location_table[ul[0]]->address,
			 d->location_table[kl[2]]->address);
	assert_int_not_equal(ul[0], kl[2]);
	for (i = 1; i < d->n_location_table; i++) {
		const Opentelemetry__Proto__Profiles__V1development__Location *l =
			d->location_table[i];

		assert_int_equal(l->n_attribute_indices, 1);
		attr_at(d, l->attribute_indices[0], &key, val, sizeof(val));
		assert_string_equal(key, "profile.frame.type");
		if (l->address >= KBASE) {
			assert_string_equal(val, "kernel");
			kernel_type = true;
		} else {
			assert_string_equal(val, "native");
			native_type = true;
			assert_true(l->mapping_index > 0);
		}
	}
	assert_true(kernel_type && native_type);
	for (i = 1; i < d->n_mapping_table; i++)
		for (k = 0; k < d->mapping_table[i]->n_attribute_indices; k++) {
			attr_at(d, d->mapping_table[i]->attribute_indices[k],
				&key, val, sizeof(val));
			assert_true(!strcmp(key, "process.executable.build_id.gnu") ||
				    !strcmp(key, "process.executable.build_id.htlhash"));
			if (!strcmp(key, "process.executable.build_id.gnu")) {
				assert_true(strlen(val) >= 16);
				gnu = true;
			}
		}
	assert_true(gnu);	/* this test binary has a GNU build id */
	/* strings the target chose arrive as valid UTF-8 */
	for (i = 1; i < d->n_attribute_table; i++) {
		attr_at(d, (int32_t)i, &key, val, sizeof(val));
		if (!strcmp(key, "thread.name"))
			assert_string_equal(val, "bad\xef\xbf\xbd(name");
	}
	for (i = 0; i < r->resource_profiles[0]->resource->n_attributes; i++) {
		const Opentelemetry__Proto__Common__V1__KeyValue *kv =
			r->resource_profiles[0]->resource->attributes[i];

		if (!strcmp(kv->key, "service.name"))
			assert_string_equal(kv->value->string_value,
					    "test\xef\xbf\xbdsvc");
	}
	free_req(r);
}

static void test_sample_without_profile(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(otlp_profiles__sample(f->b, f->user, 1, 0, NULL),
			 -EINVAL);
	assert_int_equal(otlp_profiles__count(f->b), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_zero_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unverified_sample, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_merge_and_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_times_types_and_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frames_and_attributes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sample_without_profile, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

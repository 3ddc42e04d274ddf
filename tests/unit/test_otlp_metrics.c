// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_otlp_metrics.c - the metrics encoders against strings a target
 * chose (issue 10): a component name and an executable path with invalid
 * UTF-8 must come out of both the protobuf request and the OTLP/JSON line
 * as valid UTF-8, the bad bytes replaced by U+FFFD and the rest kept. The
 * request is read back with protobuf-c's decoder.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/utf8.h"
#include "sinks/otlp/otlp_metrics.h"
#include "sinks/otlp/otlp_resource.h"
#include "otlp_metrics_service.pb-c.h"

#define BAD_COMPONENT "leak_\xff\xfe_fn\xc3"
#define BAD_EXE "/tmp/w\xe9ird/\xed\xa0\x80svc"
#define FFFD "\xef\xbf\xbd"

static void snapshot_with(struct mm_snapshot *s, struct mm_point *p)
{
	memset(s, 0, sizeof(*s));
	memset(p, 0, sizeof(*p));
	p->name = "memory.leak_suspect_bytes";
	p->unit = "By";
	p->description = "live bytes of a suspect";
	p->kind = MM_KIND_GAUGE;
	p->n_labels = 1;
	p->labels[0].key = "component";
	p->labels[0].value = BAD_COMPONENT;
	p->value = 4096;
	p->time_s = 1700000000;
	s->points = p;
	s->n_points = 1;
}

static void test_protobuf_strings_valid(void **state)
{
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *req;
	Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm;
	Opentelemetry__Proto__Metrics__V1__Metric *m;
	struct otlp_resource r;
	struct mm_snapshot s;
	struct mm_point p;
	const char *exe_path = NULL, *exe_name = NULL, *comp;
	uint8_t *buf;
	size_t len, i;

	(void)state;
	snapshot_with(&s, &p);
	assert_int_equal(otlp_resource__build(&r, NULL, getpid(), BAD_EXE), 0);
	assert_int_equal(otlp_metrics__encode(&s, &r, &buf, &len), 0);
	req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, len, buf);
	assert_non_null(req);
	assert_int_equal(req->n_resource_metrics, 1);
	rm = req->resource_metrics[0];
	for (i = 0; i < rm->resource->n_attributes; i++) {
		Opentelemetry__Proto__Common__V1__KeyValue *kv =
			rm->resource->attributes[i];

		assert_true(utf8__valid(kv->key));
		if (kv->value->value_case !=
		    OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
			continue;
		assert_true(utf8__valid(kv->value->string_value));
		if (!strcmp(kv->key, "process.executable.path"))
			exe_path = kv->value->string_value;
		if (!strcmp(kv->key, "process.executable.name"))
			exe_name = kv->value->string_value;
	}
	assert_non_null(exe_path);
	assert_string_equal(exe_path, "/tmp/w" FFFD "ird/" FFFD FFFD FFFD "svc");
	assert_string_equal(exe_name, FFFD FFFD FFFD "svc");

	m = rm->scope_metrics[0]->metrics[0];
	assert_string_equal(m->name, "memory.leak_suspect_bytes");
	comp = m->gauge->data_points[0]->attributes[0]->value->string_value;
	assert_true(utf8__valid(comp));
	assert_string_equal(comp, "leak_" FFFD FFFD "_fn" FFFD);
	assert_true(m->gauge->data_points[0]->as_double == 4096);

	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(req, NULL);
	free(buf);
	otlp_resource__free(&r);
}

static void test_json_valid(void **state)
{
	struct otlp_resource r;
	struct mm_snapshot s;
	struct mm_point p;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	snapshot_with(&s, &p);
	assert_int_equal(otlp_resource__build(&r, NULL, getpid(), BAD_EXE), 0);
	f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(otlp_metrics__write_json(&s, &r, f), 0);
	assert_int_equal(fclose(f), 0);
	assert_true(utf8__valid(text));
	assert_non_null(strstr(text, "\"leak_" FFFD FFFD "_fn" FFFD "\""));
	assert_non_null(strstr(text, "/tmp/w" FFFD "ird/"));
	free(text);
	otlp_resource__free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protobuf_strings_valid),
		cmocka_unit_test(test_json_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

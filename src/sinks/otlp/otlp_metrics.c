// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * otlp_metrics.c - encode a memmetrics snapshot as OTLP. Points of one
 * metric are contiguous in the snapshot and become one Metric: gauges as
 * Gauge, counters as monotonic cumulative Sum, histograms as cumulative
 * explicit-bucket Histogram. The protobuf message tree is built in an
 * arena and packed with protobuf-c; the JSON form follows the OTLP/JSON
 * mapping (lowerCamelCase names, 64-bit integers as strings, enums as
 * numbers). Label values and resource attributes name what a target
 * chose (its component and function names, its executable's path): every
 * string goes out as valid UTF-8, invalid bytes replaced by U+FFFD, or a
 * receiver would refuse the whole request.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/utf8.h"
#include "sinks/otlp/otlp_metrics.h"
#include "otlp_metrics_service.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint NumberDataPoint;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint HistogramDataPoint;

static uint64_t nanos(double s)
{
	return s > 0 ? (uint64_t)llround(s * 1e9) : 0;
}

/* s as valid UTF-8: s itself, or a repaired copy owned by a. */
static char *str_utf8(struct arena *a, const char *s)
{
	const char *v;
	char *copy, *dup;

	if (!s)
		return (char *)"";
	v = utf8__sanitize(s, &copy);
	if (!copy) {
		if (!v)
			a->failed = true;
		return (char *)(v ? v : "");
	}
	dup = arena__strdup(a, copy);
	free(copy);
	return dup ? dup : (char *)"";
}

static KeyValue *kv_str(struct arena *a, const char *key, const char *val)
{
	KeyValue *kv = arena__alloc(a, sizeof(*kv));
	AnyValue *v = arena__alloc(a, sizeof(*v));

	if (!kv || !v)
		return NULL;
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(v);
	kv->key = str_utf8(a, key);
	v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	v->string_value = str_utf8(a, val);
	kv->value = v;
	return kv;
}

static KeyValue *kv_int(struct arena *a, const char *key, int64_t val)
{
	KeyValue *kv = kv_str(a, key, "");

	if (!kv)
		return NULL;
	kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
	kv->value->int_value = val;
	return kv;
}

static KeyValue **labels(struct arena *a, const struct mm_point *p)
{
	KeyValue **v = arena__alloc(a, (p->n_labels + 1) * sizeof(*v));
	size_t i;

	if (!v)
		return NULL;
	for (i = 0; i < p->n_labels; i++)
		v[i] = kv_str(a, p->labels[i].key, p->labels[i].value);
	return v;
}

static NumberDataPoint *number_point(struct arena *a, const struct mm_point *p)
{
	NumberDataPoint *dp = arena__alloc(a, sizeof(*dp));

	if (!dp)
		return NULL;
	opentelemetry__proto__metrics__v1__number_data_point__init(dp);
	dp->n_attributes = p->n_labels;
	dp->attributes = labels(a, p);
	if (p->kind != MM_KIND_GAUGE)
		dp->start_time_unix_nano = nanos(p->start_s);
	dp->time_unix_nano = nanos(p->time_s);
	dp->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
	dp->as_double = isfinite(p->value) ? p->value : 0;
	return dp;
}

static HistogramDataPoint *hist_point(struct arena *a, const struct mm_point *p,
				      const struct mm_snapshot *s)
{
	HistogramDataPoint *dp = arena__alloc(a, sizeof(*dp));

	if (!dp)
		return NULL;
	opentelemetry__proto__metrics__v1__histogram_data_point__init(dp);
	dp->n_attributes = p->n_labels;
	dp->attributes = labels(a, p);
	dp->start_time_unix_nano = nanos(p->start_s);
	dp->time_unix_nano = nanos(p->time_s);
	dp->count = p->hist.count;
	dp->opt_sum_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__OPT_SUM_SUM;
	dp->sum = p->hist.sum;
	dp->n_bucket_counts = s->n_hist_bounds + 1;
	dp->bucket_counts = (uint64_t *)p->hist.bucket_counts;
	dp->n_explicit_bounds = s->n_hist_bounds;
	dp->explicit_bounds = (double *)s->hist_bounds;
	if (p->hist.count) {
		dp->opt_min_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__OPT_MIN_MIN;
		dp->min = p->hist.min;
		dp->opt_max_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__OPT_MAX_MAX;
		dp->max = p->hist.max;
	}
	return dp;
}

/* One Metric for points [i, j) (same name). */
static Metric *metric(struct arena *a, const struct mm_snapshot *s, size_t i,
		      size_t j)
{
	const struct mm_point *p = &s->points[i];
	Metric *m = arena__alloc(a, sizeof(*m));
	size_t k, n = j - i;

	if (!m)
		return NULL;
	opentelemetry__proto__metrics__v1__metric__init(m);
	m->name = str_utf8(a, p->name);
	m->description = str_utf8(a, p->description);
	m->unit = str_utf8(a, p->unit);
	if (p->kind == MM_KIND_HISTOGRAM) {
		Opentelemetry__Proto__Metrics__V1__Histogram *h =
			arena__alloc(a, sizeof(*h));
		HistogramDataPoint **dps = arena__alloc(a, n * sizeof(*dps));

		if (!h || !dps)
			return NULL;
		opentelemetry__proto__metrics__v1__histogram__init(h);
		for (k = 0; k < n; k++)
			dps[k] = hist_point(a, &s->points[i + k], s);
		h->n_data_points = n;
		h->data_points = dps;
		h->aggregation_temporality = OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
		m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
		m->histogram = h;
	} else {
		NumberDataPoint **dps = arena__alloc(a, n * sizeof(*dps));

		if (!dps)
			return NULL;
		for (k = 0; k < n; k++)
			dps[k] = number_point(a, &s->points[i + k]);
		if (p->kind == MM_KIND_GAUGE) {
			Opentelemetry__Proto__Metrics__V1__Gauge *g =
				arena__alloc(a, sizeof(*g));

			if (!g)
				return NULL;
			opentelemetry__proto__metrics__v1__gauge__init(g);
			g->n_data_points = n;
			g->data_points = dps;
			m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
			m->gauge = g;
		} else {
			Opentelemetry__Proto__Metrics__V1__Sum *sum =
				arena__alloc(a, sizeof(*sum));

			if (!sum)
				return NULL;
			opentelemetry__proto__metrics__v1__sum__init(sum);
			sum->n_data_points = n;
			sum->data_points = dps;
			sum->aggregation_temporality = OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
			sum->is_monotonic = 1;
			m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
			m->sum = sum;
		}
	}
	return m;
}

int otlp_metrics__encode(const struct mm_snapshot *s,
			 const struct otlp_resource *r, uint8_t **buf,
			 size_t *len)
{
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest req =
		OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
	Opentelemetry__Proto__Metrics__V1__ResourceMetrics rm =
		OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT, *rmp = &rm;
	Opentelemetry__Proto__Metrics__V1__ScopeMetrics sm =
		OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT, *smp = &sm;
	Opentelemetry__Proto__Resource__V1__Resource res =
		OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
	Opentelemetry__Proto__Common__V1__InstrumentationScope scope =
		OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
	struct arena a = {};
	Metric **metrics;
	size_t i, j, n = 0;
	int err = 0;

	res.attributes = arena__alloc(&a, (r->n + 1) * sizeof(KeyValue *));
	metrics = arena__alloc(&a, (s->n_points + 1) * sizeof(*metrics));
	if (!res.attributes || !metrics)
		goto nomem;
	for (i = 0; i < r->n; i++)
		res.attributes[i] = r->attrs[i].str ?
			kv_str(&a, r->attrs[i].key, r->attrs[i].str) :
			kv_int(&a, r->attrs[i].key, r->attrs[i].num);
	res.n_attributes = r->n;
	for (i = 0; i < s->n_points; i = j) {
		for (j = i + 1; j < s->n_points &&
			    !strcmp(s->points[j].name, s->points[i].name); j++)
			;
		metrics[n++] = metric(&a, s, i, j);
	}
	if (a.failed)
		goto nomem;
	scope.name = (char *)OTLP_SCOPE_NAME;
	scope.version = (char *)MEMTEL_VERSION;
	sm.scope = &scope;
	sm.n_metrics = n;
	sm.metrics = metrics;
	rm.resource = &res;
	rm.n_scope_metrics = 1;
	rm.scope_metrics = &smp;
	req.n_resource_metrics = 1;
	req.resource_metrics = &rmp;

	*len = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__get_packed_size(&req);
	*buf = malloc(*len ? *len : 1);
	if (!*buf)
		goto nomem;
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__pack(&req, *buf);
	goto out;
nomem:
	err = -ENOMEM;
out:
	arena__free(&a);
	return err;
}

/* --- OTLP/JSON ---------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
	char *copy = NULL;

	/* JSON text is UTF-8 too (RFC 8259 section 8.1). */
	s = s ? utf8__sanitize(s, &copy) : NULL;
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
	free(copy);
}

static void json_num(FILE *f, double v)
{
	if (!isfinite(v))
		v = 0;
	if (v == floor(v) && fabs(v) < 1e15)
		fprintf(f, "%.0f", v);
	else
		fprintf(f, "%.17g", v);
}

static void json_attrs(FILE *f, const struct mm_point *p)
{
	size_t i;

	fputs("\"attributes\":[", f);
	for (i = 0; i < p->n_labels; i++) {
		fputs(i ? ",{\"key\":" : "{\"key\":", f);
		json_str(f, p->labels[i].key);
		fputs(",\"value\":{\"stringValue\":", f);
		json_str(f, p->labels[i].value);
		fputs("}}", f);
	}
	fputc(']', f);
}

static void json_point(FILE *f, const struct mm_point *p,
		       const struct mm_snapshot *s)
{
	size_t k;

	fputc('{', f);
	json_attrs(f, p);
	if (p->kind != MM_KIND_GAUGE)
		fprintf(f, ",\"startTimeUnixNano\":\"%llu\"",
			(unsigned long long)nanos(p->start_s));
	fprintf(f, ",\"timeUnixNano\":\"%llu\"",
		(unsigned long long)nanos(p->time_s));
	if (p->kind != MM_KIND_HISTOGRAM) {
		fputs(",\"asDouble\":", f);
		json_num(f, p->value);
		fputc('}', f);
		return;
	}
	fprintf(f, ",\"count\":\"%llu\",\"sum\":",
		(unsigned long long)p->hist.count);
	json_num(f, p->hist.sum);
	fputs(",\"bucketCounts\":[", f);
	for (k = 0; k <= s->n_hist_bounds; k++)
		fprintf(f, "%s\"%llu\"", k ? "," : "",
			(unsigned long long)p->hist.bucket_counts[k]);
	fputs("],\"explicitBounds\":[", f);
	for (k = 0; k < s->n_hist_bounds; k++) {
		if (k)
			fputc(',', f);
		json_num(f, s->hist_bounds[k]);
	}
	fputc(']', f);
	if (p->hist.count) {
		fputs(",\"min\":", f);
		json_num(f, p->hist.min);
		fputs(",\"max\":", f);
		json_num(f, p->hist.max);
	}
	fputc('}', f);
}

int otlp_metrics__write_json(const struct mm_snapshot *s,
			     const struct otlp_resource *r, FILE *f)
{
	size_t i, j, k;

	fputs("{\"resourceMetrics\":[{\"resource\":{\"attributes\":[", f);
	for (i = 0; i < r->n; i++) {
		fputs(i ? ",{\"key\":" : "{\"key\":", f);
		json_str(f, r->attrs[i].key);
		if (r->attrs[i].str) {
			fputs(",\"value\":{\"stringValue\":", f);
			json_str(f, r->attrs[i].str);
			fputs("}}", f);
		} else {
			fprintf(f, ",\"value\":{\"intValue\":\"%lld\"}}",
				(long long)r->attrs[i].num);
		}
	}
	fputs("]},\"scopeMetrics\":[{\"scope\":{\"name\":", f);
	json_str(f, OTLP_SCOPE_NAME);
	fputs(",\"version\":", f);
	json_str(f, MEMTEL_VERSION);
	fputs("},\"metrics\":[", f);
	for (i = 0; i < s->n_points; i = j) {
		const struct mm_point *p = &s->points[i];

		for (j = i + 1; j < s->n_points &&
			    !strcmp(s->points[j].name, p->name); j++)
			;
		fputs(i ? ",{\"name\":" : "{\"name\":", f);
		json_str(f, p->name);
		fputs(",\"description\":", f);
		json_str(f, p->description ? p->description : "");
		fputs(",\"unit\":", f);
		json_str(f, p->unit ? p->unit : "");
		fputs(p->kind == MM_KIND_GAUGE ? ",\"gauge\":{" :
		      p->kind == MM_KIND_COUNTER ? ",\"sum\":{" :
						   ",\"histogram\":{", f);
		fputs("\"dataPoints\":[", f);
		for (k = i; k < j; k++) {
			if (k > i)
				fputc(',', f);
			json_point(f, &s->points[k], s);
		}
		fputc(']', f);
		if (p->kind == MM_KIND_COUNTER)
			fputs(",\"aggregationTemporality\":2,\"isMonotonic\":true", f);
		else if (p->kind == MM_KIND_HISTOGRAM)
			fputs(",\"aggregationTemporality\":2", f);
		fputs("}}", f);
	}
	fputs("]}]}]}", f);
	return ferror(f) ? -EIO : 0;
}

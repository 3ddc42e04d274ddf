/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * otlp_test_util.h - helpers shared by the OTLP unit tests
 * (test_otlp_export.c over HTTP, test_otlp_grpc.c over gRPC): clocks, a
 * loopback port, a config and an exporter aimed at 127.0.0.1, and a real
 * ExportMetricsServiceRequest to send. Each test is one translation unit,
 * so everything here is static inline.
 */
#ifndef OTLP_TEST_UTIL_H
#define OTLP_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "util/clock.h"
#include "sinks/otlp/otlp_export.h"
#include "otlp_metrics_service.pb-c.h"

/* The loader's clock, in the name the tests use. */
static inline uint64_t now_ms(void)
{
	return clock__mono_ms();
}

static inline void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A listening socket on 127.0.0.1 with an ephemeral port. */
static inline int listen_loopback(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int fd;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* A config pointing both signals at http://127.0.0.1:port/path, from a
 * clean env. */
static inline void config_loopback(struct otel_config *c, int port,
				   const char *path)
{
	char err[256], url[64];

	unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
	unsetenv("OTEL_EXPORTER_OTLP_HEADERS");
	unsetenv("OTEL_EXPORTER_OTLP_PROTOCOL");
	unsetenv("OTEL_SDK_DISABLED");
	assert_int_equal(otel_config__load(c, err, sizeof(err)), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/%s", port, path);
	assert_int_equal(otel_config__set_endpoint(c, url, err, sizeof(err)), 0);
}

/* An exporter with a short, bounded retry policy. */
static inline struct otlp_exporter *exporter_for(const struct otel_config *c,
						 size_t queue_max,
						 int initial_ms, int attempts)
{
	struct otlp_retry_policy p = {
		.initial_backoff_ms = initial_ms,
		.max_backoff_ms = 200,
		.max_attempts = attempts,
		.budget_ms = 10000,
	};
	struct otlp_exporter *e = otlp_exporter__new(c, queue_max);

	assert_non_null(e);
	otlp_exporter__set_retry_policy(e, &p);
	return e;
}

/* A real ExportMetricsServiceRequest: one gauge "memtel.test" = v. */
static inline uint8_t *metrics_request(int64_t v, size_t *len)
{
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest req =
		OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
	Opentelemetry__Proto__Metrics__V1__ResourceMetrics rm =
		OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT;
	Opentelemetry__Proto__Metrics__V1__ScopeMetrics sm =
		OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT;
	Opentelemetry__Proto__Metrics__V1__Metric m =
		OPENTELEMETRY__PROTO__METRICS__V1__METRIC__INIT;
	Opentelemetry__Proto__Metrics__V1__Gauge g =
		OPENTELEMETRY__PROTO__METRICS__V1__GAUGE__INIT;
	Opentelemetry__Proto__Metrics__V1__NumberDataPoint dp =
		OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__INIT;
	Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rms[] = { &rm };
	Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sms[] = { &sm };
	Opentelemetry__Proto__Metrics__V1__Metric *ms[] = { &m };
	Opentelemetry__Proto__Metrics__V1__NumberDataPoint *dps[] = { &dp };
	uint8_t *buf;

	dp.value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
	dp.as_int = v;
	dp.time_unix_nano = 1700000000000000000ull;
	g.n_data_points = 1;
	g.data_points = dps;
	m.name = "memtel.test";
	m.unit = "By";
	m.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
	m.gauge = &g;
	sm.n_metrics = 1;
	sm.metrics = ms;
	rm.n_scope_metrics = 1;
	rm.scope_metrics = sms;
	req.n_resource_metrics = 1;
	req.resource_metrics = rms;

	*len = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__get_packed_size(&req);
	buf = malloc(*len ? *len : 1);
	assert_non_null(buf);
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__pack(&req, buf);
	return buf;
}

/* Queue metrics_request(v) on the exporter, which takes the buffer. */
static inline void enqueue_value(struct otlp_exporter *e, int64_t v)
{
	size_t len;
	uint8_t *b = metrics_request(v, &len);

	assert_int_equal(otlp_exporter__enqueue(e, OTLP_METRICS, b, len), 0);
}

/* Flush within flush_ms (must succeed), read the stats, free e. */
static inline void flush_stats_free(struct otlp_exporter *e, int flush_ms,
				    struct otlp_export_stats *st)
{
	assert_int_equal(otlp_exporter__flush(e, flush_ms), 0);
	otlp_exporter__stats(e, st);
	otlp_exporter__free(e);
}

#endif /* OTLP_TEST_UTIL_H */

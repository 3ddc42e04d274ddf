// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_otel_config.c - unit tests of the OpenTelemetry configuration: every
 * OTEL_* variable memtel-bpf reads, with the spec's edge cases (trailing
 * slashes, signal endpoints used as-is, percent-decoding, precedence of
 * signal-specific variables, of OTEL_SERVICE_NAME and of the command line),
 * and the one-line errors, which must never quote a header value.
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

#include "sinks/otlp/otel_config.h"

extern char **environ;

struct fixture {
	struct otel_config c;
	char err[256];
};

/* Unset every OTEL_* variable so tests see only what they set. */
static void clear_otel_env(void)
{
	char name[256];
	size_t n;
	int i;

again:
	for (i = 0; environ[i]; i++) {
		if (strncmp(environ[i], "OTEL_", 5))
			continue;
		n = strcspn(environ[i], "=");
		snprintf(name, sizeof(name), "%.*s", (int)n, environ[i]);
		unsetenv(name);
		goto again; /* environ changed under us */
	}
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	clear_otel_env();
	*state = f;
	return f ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	otel_config__free(&f->c);
	free(f);
	clear_otel_env();
	return 0;
}

static int load(struct fixture *f)
{
	otel_config__free(&f->c);
	f->err[0] = '\0';
	return otel_config__load(&f->c, f->err, sizeof(f->err));
}

/* load() must fail with EINVAL and exactly this one-line message. */
static void expect_error(struct fixture *f, const char *msg)
{
	assert_int_equal(load(f), -EINVAL);
	assert_string_equal(f->err, msg);
}

/* load() must fail with a one-line message containing part. */
static void expect_error_has(struct fixture *f, const char *part)
{
	assert_int_equal(load(f), -EINVAL);
	assert_non_null(strstr(f->err, part));
	assert_null(strchr(f->err, '\n'));
}

static const char *header(const struct otel_config *c, enum otlp_signal sig,
			  const char *key)
{
	const struct otel_signal_config *s = &c->signal[sig];
	size_t i;

	for (i = 0; i < s->n_headers; i++)
		if (!strcmp(s->headers[i].key, key))
			return s->headers[i].value;
	return NULL;
}

static const char *attr(const struct otel_config *c, const char *key)
{
	size_t i;

	for (i = 0; i < c->n_resource_attrs; i++)
		if (!strcmp(c->resource_attrs[i].key, key))
			return c->resource_attrs[i].value;
	return NULL;
}

static void test_defaults(void **state)
{
	struct fixture *f = *state;
	int i;

	assert_int_equal(load(f), 0);
	assert_string_equal(f->err, "");
	assert_false(f->c.sdk_disabled);
	assert_int_equal(f->c.interval_ms, 10000);
	assert_int_equal(f->c.export_timeout_ms, 30000);
	assert_null(f->c.service_name);
	assert_int_equal(f->c.n_resource_attrs, 0);
	for (i = 0; i < OTLP_SIGNAL_CNT; i++) {
		/* No endpoint configured: nothing is exported. */
		assert_false(otel_config__enabled(&f->c, i));
		assert_null(f->c.signal[i].url);
		assert_int_equal(f->c.signal[i].timeout_ms, 10000);
		assert_int_equal(f->c.signal[i].compression, OTEL_COMPRESSION_NONE);
		assert_int_equal(f->c.signal[i].protocol,
				 OTEL_PROTOCOL_HTTP_PROTOBUF);
		assert_int_equal(f->c.signal[i].n_headers, 0);
	}
}

static void test_base_endpoint(void **state)
{
	static const char *const cases[][3] = {
		{ "http://collector:4318", "http://collector:4318/v1/metrics",
		  "http://collector:4318/v1development/profiles" },
		{ "http://collector:4318/", "http://collector:4318/v1/metrics",
		  "http://collector:4318/v1development/profiles" },
		{ "https://otlp.example.com/prefix//",
		  "https://otlp.example.com/prefix/v1/metrics",
		  "https://otlp.example.com/prefix/v1development/profiles" },
		{ " HTTP://127.0.0.1:4318 ", "HTTP://127.0.0.1:4318/v1/metrics",
		  "HTTP://127.0.0.1:4318/v1development/profiles" },
	};
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setenv("OTEL_EXPORTER_OTLP_ENDPOINT", cases[i][0], 1);
		assert_int_equal(load(f), 0);
		assert_true(otel_config__enabled(&f->c, OTLP_METRICS));
		assert_true(otel_config__enabled(&f->c, OTLP_PROFILES));
		assert_string_equal(f->c.signal[OTLP_METRICS].url, cases[i][1]);
		assert_string_equal(f->c.signal[OTLP_PROFILES].url, cases[i][2]);
	}
}

static void test_signal_endpoint_as_is(void **state)
{
	struct fixture *f = *state;

	/* A signal endpoint is used as-is: no path appended, even if it has
	 * none, and a trailing slash is kept. */
	setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:9000/", 1);
	assert_int_equal(load(f), 0);
	assert_string_equal(f->c.signal[OTLP_METRICS].url, "http://m:9000/");
	assert_true(otel_config__enabled(&f->c, OTLP_METRICS));
	assert_false(otel_config__enabled(&f->c, OTLP_PROFILES));

	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318", 1);
	setenv("OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT",
	       "https://p.example/custom/path", 1);
	assert_int_equal(load(f), 0);
	assert_string_equal(f->c.signal[OTLP_METRICS].url, "http://m:9000/");
	assert_string_equal(f->c.signal[OTLP_PROFILES].url,
			    "https://p.example/custom/path");

	/* Empty means unset (spec). */
	setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "", 1);
	assert_int_equal(load(f), 0);
	assert_string_equal(f->c.signal[OTLP_METRICS].url,
			    "http://base:4318/v1/metrics");
}

static void test_bad_endpoint(void **state)
{
	struct fixture *f = *state;

	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", 1);
	expect_error(f, "OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' is not an http:// or https:// URL");
	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://", 1);
	expect_error_has(f, "is not an http:// or https:// URL");
	unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
	/* Credentials in a bad URL are not echoed. */
	setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "ftp://user:hunter2@h/", 1);
	expect_error(f, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'ftp://***@h/' is not an http:// or https:// URL");
}

static void test_headers(void **state)
{
	struct fixture *f = *state;
	char buf[256];

	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", 1);
	setenv("OTEL_EXPORTER_OTLP_HEADERS",
	       " api-key = secret%20value ,X-Tenant=t1%2Ct2%3Dx,, Empty= ,", 1);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->c.signal[OTLP_METRICS].n_headers, 3);
	assert_string_equal(header(&f->c, OTLP_METRICS, "api-key"),
			    "secret value");
	assert_string_equal(header(&f->c, OTLP_METRICS, "X-Tenant"), "t1,t2=x");
	assert_string_equal(header(&f->c, OTLP_METRICS, "Empty"), "");
	assert_string_equal(header(&f->c, OTLP_PROFILES, "api-key"),
			    "secret value");

	/* Logs get names only. */
	otel_config__redacted_headers(&f->c, OTLP_METRICS, buf, sizeof(buf));
	assert_string_equal(buf, "api-key=<redacted>, X-Tenant=<redacted>, Empty=<redacted>");
	assert_null(strstr(buf, "secret"));

	/* The signal variable replaces the general list for its signal. */
	setenv("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "authorization=Bearer%20abc", 1);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->c.signal[OTLP_METRICS].n_headers, 1);
	assert_string_equal(header(&f->c, OTLP_METRICS, "authorization"),
			    "Bearer abc");
	assert_null(header(&f->c, OTLP_METRICS, "api-key"));
	assert_int_equal(f->c.signal[OTLP_PROFILES].n_headers, 3);

	/* A repeated name (any case) keeps the last value. */
	unsetenv("OTEL_EXPORTER_OTLP_METRICS_HEADERS");
	setenv("OTEL_EXPORTER_OTLP_HEADERS", "a=1,A=2", 1);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->c.signal[OTLP_METRICS].n_headers, 1);
	assert_string_equal(f->c.signal[OTLP_METRICS].headers[0].value, "2");

	otel_config__free(&f->c);
	memset(&f->c, 0, sizeof(f->c));
	otel_config__redacted_headers(&f->c, OTLP_METRICS, buf, sizeof(buf));
	assert_string_equal(buf, "none");
}

static void test_bad_headers(void **state)
{
	struct fixture *f = *state;

	setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=supersecret,justatoken", 1);
	expect_error(f, "OTEL_EXPORTER_OTLP_HEADERS: entry 2 has no '=' (expected key=value)");

	setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=super%zzsecret", 1);
	expect_error(f, "OTEL_EXPORTER_OTLP_HEADERS: entry 1 ('api-key'): bad percent-encoding");
	assert_null(strstr(f->err, "super"));

	setenv("OTEL_EXPORTER_OTLP_HEADERS", "a=x%0D%0AEvil: 1", 1);
	expect_error(f, "OTEL_EXPORTER_OTLP_HEADERS: header 'a' has control characters in its value");

	setenv("OTEL_EXPORTER_OTLP_HEADERS", "a=%00", 1);
	expect_error_has(f, "bad percent-encoding");

	setenv("OTEL_EXPORTER_OTLP_HEADERS", "bad name=x", 1);
	expect_error(f, "OTEL_EXPORTER_OTLP_HEADERS: entry 1: 'bad name' is not a valid header name");

	setenv("OTEL_EXPORTER_OTLP_HEADERS", " =x", 1);
	expect_error(f, "OTEL_EXPORTER_OTLP_HEADERS: entry 1 has an empty key");

	unsetenv("OTEL_EXPORTER_OTLP_HEADERS");
	setenv("OTEL_EXPORTER_OTLP_PROFILES_HEADERS", "k=v,nope", 1);
	expect_error(f, "OTEL_EXPORTER_OTLP_PROFILES_HEADERS: entry 2 has no '=' (expected key=value)");
}

static void test_timeout(void **state)
{
	struct fixture *f = *state;

	setenv("OTEL_EXPORTER_OTLP_TIMEOUT", " 2500 ", 1);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->c.signal[OTLP_METRICS].timeout_ms, 2500);
	assert_int_equal(f->c.signal[OTLP_PROFILES].timeout_ms, 2500);

	setenv("OTEL_EXPORTER_OTLP_PROFILES_TIMEOUT", "60000", 1);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->c.signal[OTLP_METRICS].timeout_ms, 2500);
	assert_int_equal(f->c.signal[OTLP_PROFILES].timeout_ms, 60000);
	unsetenv("OTEL_EXPORTER_OTLP_PROFILES_TIMEOUT");

	setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "abc", 1);
	expect_error(f, "OTEL_EXPORTER_OTLP_TIMEOUT: 'abc' is not a number of milliseconds");
	setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "10s", 1);
	expect_error(f, "OTEL_EXPORTER_OTLP_TIMEOUT: '10s' is not a number of milliseconds");
	setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0", 1);
	expect_error(f, "OTEL_EXPORTER_OTLP_TIMEOUT: '0' is not between 1 and 2147483647 milliseconds");
	setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "-5", 1);
	expect_error_has(f, "is not between 1 and");
	setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "99999999999999999999", 1);
	expect_error_has(f, "is not between 1 and");
	unsetenv("OTEL_EXPORTER_OTLP_TIMEOUT");
	setenv("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "1.5", 1);
	expect_error(f, "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: '1.5' is not a number of milliseconds");
}

static void test_compression(void **state)
{
	struct fixture *f = *state;

	setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->c.signal[OTLP_METRICS].compression, OTEL_COMPRESSION_GZIP);
	assert_int_equal(f->c.signal[OTLP_PROFILES].compression, OTEL_COMPRESSION_GZIP);

	setenv("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "NONE", 1);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->c.signal[OTLP_METRICS].compression, OTEL_COMPRESSION_NONE);
	assert_int_equal(f->c.signal[OTLP_PROFILES].compression, OTEL_COMPRESSION_GZIP);

	setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", 1);
	expect_error(f, "OTEL_EXPORTER_OTLP_COMPRESSION: 'zstd' is not gzip or none");
}

static void test_protocol(void **state)
{
	struct fixture *f = *state;

	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317/", 1);
	setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", 1);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->c.signal[OTLP_METRICS].protocol,
			 OTEL_PROTOCOL_HTTP_PROTOBUF);

	/* gRPC is recorded, and its base endpoint is used as-is (spec). */
	setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", 1);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->c.signal[OTLP_METRICS].protocol, OTEL_PROTOCOL_GRPC);
	assert_string_equal(f->c.signal[OTLP_METRICS].url, "http://c:4317/");

	setenv("OTEL_EXPORTER_OTLP_PROFILES_PROTOCOL", "http/protobuf", 1);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->c.signal[OTLP_PROFILES].protocol,
			 OTEL_PROTOCOL_HTTP_PROTOBUF);
	assert_string_equal(f->c.signal[OTLP_PROFILES].url,
			    "http://c:4317/v1development/profiles");

	setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", 1);
	expect_error(f, "OTEL_EXPORTER_OTLP_PROTOCOL: http/json is not supported; use http/protobuf (or grpc)");
	setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift", 1);
	expect_error(f, "OTEL_EXPORTER_OTLP_PROTOCOL: 'thrift' is not one of http/protobuf, grpc");
}

static void test_certificates(void **state)
{
	struct fixture *f = *state;
	char path[] = "/tmp/test_otel_config_ca_XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", path, 1);
	setenv("OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE", path, 1);
	setenv("OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY", path, 1);
	assert_int_equal(load(f), 0);
	assert_string_equal(f->c.signal[OTLP_METRICS].certificate, path);
	assert_string_equal(f->c.signal[OTLP_PROFILES].certificate, path);
	assert_string_equal(f->c.signal[OTLP_METRICS].client_certificate, path);
	assert_string_equal(f->c.signal[OTLP_METRICS].client_key, path);
	assert_null(f->c.signal[OTLP_PROFILES].client_key);
	unlink(path);

	setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem", 1);
	expect_error(f, "OTEL_EXPORTER_OTLP_CERTIFICATE: cannot read '/nonexistent/ca.pem': No such file or directory");
}

static void test_sdk_disabled(void **state)
{
	struct fixture *f = *state;

	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", 1);
	setenv("OTEL_SDK_DISABLED", "TRUE", 1);
	assert_int_equal(load(f), 0);
	assert_true(f->c.sdk_disabled);
	assert_false(otel_config__enabled(&f->c, OTLP_METRICS));
	assert_false(otel_config__enabled(&f->c, OTLP_PROFILES));

	setenv("OTEL_SDK_DISABLED", "false", 1);
	assert_int_equal(load(f), 0);
	assert_true(otel_config__enabled(&f->c, OTLP_METRICS));

	/* Anything but "true" is false (with a warning), per the spec. */
	setenv("OTEL_SDK_DISABLED", "yes", 1);
	assert_int_equal(load(f), 0);
	assert_false(f->c.sdk_disabled);

	unsetenv("OTEL_SDK_DISABLED");
	setenv("OTEL_METRICS_EXPORTER", "none", 1);
	assert_int_equal(load(f), 0);
	assert_false(otel_config__enabled(&f->c, OTLP_METRICS));
	assert_true(otel_config__enabled(&f->c, OTLP_PROFILES));
	setenv("OTEL_METRICS_EXPORTER", "otlp", 1);
	assert_int_equal(load(f), 0);
	assert_true(otel_config__enabled(&f->c, OTLP_METRICS));
	setenv("OTEL_METRICS_EXPORTER", "prometheus", 1);
	expect_error(f, "OTEL_METRICS_EXPORTER: 'prometheus' is not supported (otlp or none)");
}

static void test_resource_attributes(void **state)
{
	struct fixture *f = *state;

	setenv("OTEL_RESOURCE_ATTRIBUTES",
	       "deployment.environment=prod, team = a%3Db%2Cc ,service.name=from%20attrs,k8s.pod.name=web-1", 1);
	assert_int_equal(load(f), 0);
	assert_string_equal(f->c.service_name, "from attrs");
	assert_int_equal(f->c.n_resource_attrs, 3);
	assert_string_equal(attr(&f->c, "deployment.environment"), "prod");
	assert_string_equal(attr(&f->c, "team"), "a=b,c");
	assert_string_equal(attr(&f->c, "k8s.pod.name"), "web-1");
	assert_null(attr(&f->c, "service.name"));

	/* OTEL_SERVICE_NAME wins over service.name in the attributes. */
	setenv("OTEL_SERVICE_NAME", "checkout", 1);
	assert_int_equal(load(f), 0);
	assert_string_equal(f->c.service_name, "checkout");
	assert_null(attr(&f->c, "service.name"));
	assert_int_equal(f->c.n_resource_attrs, 3);

	/* A later duplicate key wins. */
	setenv("OTEL_RESOURCE_ATTRIBUTES", "a=1,a=2", 1);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->c.n_resource_attrs, 1);
	assert_string_equal(attr(&f->c, "a"), "2");

	setenv("OTEL_RESOURCE_ATTRIBUTES", "a=1,lonely", 1);
	expect_error(f, "OTEL_RESOURCE_ATTRIBUTES: entry 2 has no '=' (expected key=value)");
	setenv("OTEL_RESOURCE_ATTRIBUTES", "a=%G1", 1);
	expect_error(f, "OTEL_RESOURCE_ATTRIBUTES: entry 1 ('a'): bad percent-encoding");
}

static void test_interval(void **state)
{
	struct fixture *f = *state;

	setenv("OTEL_METRIC_EXPORT_INTERVAL", "5000", 1);
	setenv("OTEL_METRIC_EXPORT_TIMEOUT", "7000", 1);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->c.interval_ms, 5000);
	assert_int_equal(f->c.export_timeout_ms, 7000);
	/* The command line overrides the environment. */
	assert_int_equal(otel_config__set_interval_ms(&f->c, 2000), 0);
	assert_int_equal(f->c.interval_ms, 2000);
	assert_int_equal(otel_config__set_interval_ms(&f->c, 0), -EINVAL);
	assert_int_equal(f->c.interval_ms, 2000);

	setenv("OTEL_METRIC_EXPORT_INTERVAL", "soon", 1);
	expect_error(f, "OTEL_METRIC_EXPORT_INTERVAL: 'soon' is not a number of milliseconds");
}

static void test_cli_overrides(void **state)
{
	struct fixture *f = *state;
	int i;

	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318", 1);
	setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://env-metrics:1/x", 1);
	setenv("OTEL_EXPORTER_OTLP_HEADERS", "Api-Key=env,keep=1", 1);
	setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1000", 1);
	setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "none", 1);
	setenv("OTEL_SERVICE_NAME", "env-svc", 1);
	assert_int_equal(load(f), 0);

	assert_int_equal(otel_config__set_endpoint(&f->c, "https://cli:4318/",
						   f->err, sizeof(f->err)), 0);
	assert_string_equal(f->c.signal[OTLP_METRICS].url,
			    "https://cli:4318/v1/metrics");
	assert_string_equal(f->c.signal[OTLP_PROFILES].url,
			    "https://cli:4318/v1development/profiles");
	assert_int_equal(otel_config__add_header(&f->c, "api-key = cli%21",
						 f->err, sizeof(f->err)), 0);
	assert_int_equal(otel_config__set_timeout_ms(&f->c, 3000), 0);
	assert_int_equal(otel_config__set_compression(&f->c, "gzip", f->err,
						      sizeof(f->err)), 0);
	assert_int_equal(otel_config__set_service_name(&f->c, "cli-svc"), 0);
	for (i = 0; i < OTLP_SIGNAL_CNT; i++) {
		assert_int_equal(f->c.signal[i].n_headers, 2);
		assert_string_equal(f->c.signal[i].headers[0].key, "api-key");
		assert_string_equal(f->c.signal[i].headers[0].value, "cli!");
		assert_string_equal(header(&f->c, i, "keep"), "1");
		assert_int_equal(f->c.signal[i].timeout_ms, 3000);
		assert_int_equal(f->c.signal[i].compression, OTEL_COMPRESSION_GZIP);
	}
	assert_string_equal(f->c.service_name, "cli-svc");

	assert_int_equal(otel_config__set_protocol(&f->c, "grpc", f->err,
						   sizeof(f->err)), 0);
	assert_string_equal(f->c.signal[OTLP_METRICS].url, "https://cli:4318/");

	/* Bad command-line values: one line, the setting unchanged. */
	assert_int_equal(otel_config__set_protocol(&f->c, "http/json", f->err,
						   sizeof(f->err)), -EINVAL);
	assert_string_equal(f->err, "OTLP protocol: http/json is not supported; use http/protobuf (or grpc)");
	assert_int_equal(f->c.signal[OTLP_METRICS].protocol, OTEL_PROTOCOL_GRPC);
	assert_int_equal(otel_config__set_compression(&f->c, "br", f->err,
						      sizeof(f->err)), -EINVAL);
	assert_string_equal(f->err, "OTLP compression: 'br' is not gzip or none");
	assert_int_equal(otel_config__set_endpoint(&f->c, "localhost:4318",
						   f->err, sizeof(f->err)), -EINVAL);
	assert_string_equal(f->err, "OTLP endpoint: 'localhost:4318' is not an http:// or https:// URL");
	assert_string_equal(f->c.signal[OTLP_METRICS].url, "https://cli:4318/");
	assert_int_equal(otel_config__add_header(&f->c, "Bearer xyz", f->err,
						 sizeof(f->err)), -EINVAL);
	assert_string_equal(f->err, "OTLP header: argument has no '=' (expected key=value)");
	assert_int_equal(otel_config__set_timeout_ms(&f->c, -1), -EINVAL);
	assert_int_equal(otel_config__set_service_name(&f->c, ""), -EINVAL);
}

static void test_percent_decode(void **state)
{
	static const char *const good[][2] = {
		{ "plain", "plain" },
		{ "a%20b%2c%2C", "a b,," },
		{ "%41%42%e2%82%ac", "AB\xe2\x82\xac" },
		{ "", "" },
	};
	static const char *const bad[] = { "%", "%4", "100%", "%zz", "%00", "%g0" };
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", good[i][0]);
		assert_int_equal(otel_percent_decode(buf), 0);
		assert_string_equal(buf, good[i][1]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", bad[i]);
		assert_int_equal(otel_percent_decode(buf), -EINVAL);
	}
}

static void test_redact_url(void **state)
{
	char buf[128];

	(void)state;
	otel_redact_url("https://user:pw@h:1/v1/metrics?x=1", buf, sizeof(buf));
	assert_string_equal(buf, "https://***@h:1/v1/metrics?***");
	/* An '@' in the path is no userinfo. */
	otel_redact_url("http://h:1/a@b", buf, sizeof(buf));
	assert_string_equal(buf, "http://h:1/a@b");
	/* issue 10: a password with an '@' leaked what followed it. */
	otel_redact_url("http://user:p@ssw0rd@h:4318/v1", buf, sizeof(buf));
	assert_string_equal(buf, "http://***@h:4318/v1");
	assert_null(strstr(buf, "ssw0rd"));
	/* issue 10: tokens in the query string went into logs. */
	otel_redact_url("https://h/v1/metrics?api_key=SECRET&x=1", buf, sizeof(buf));
	assert_string_equal(buf, "https://h/v1/metrics?***");
	otel_redact_url("https://h?token=SECRET", buf, sizeof(buf));
	assert_string_equal(buf, "https://h?***");
	otel_redact_url("https://u:SECRET@h#frag", buf, sizeof(buf));
	assert_string_equal(buf, "https://***@h?***");
	/* Not a URL: no scheme to keep, nothing after '?' or '#' shown. */
	otel_redact_url("#x?token=SECRET://h", buf, sizeof(buf));
	assert_string_equal(buf, "?***");
	otel_redact_url("u:SECRET@h:1/p", buf, sizeof(buf));
	assert_string_equal(buf, "***@h:1/p");
	/* Found by fuzz_otel_config: junk before the scheme hid the
	 * userinfo from the authority scan. */
	otel_redact_url("\xa5http://u:p@ss@h:4318/x?k=SECRET", buf, sizeof(buf));
	assert_string_equal(buf, "***@h:4318/x?***");
	otel_redact_url("http://h:1", buf, sizeof(buf));
	assert_string_equal(buf, "http://h:1");
	/* Cut to fit, like snprintf(). */
	assert_int_equal(otel_redact_url("http://u:SECRET@h/x?y", buf, 8), 18);
	assert_string_equal(buf, "http://");
	otel_redact_url(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "(none)");
	assert_string_equal(otlp_signal__name(OTLP_METRICS), "metrics");
	assert_string_equal(otlp_signal__name(OTLP_PROFILES), "profiles");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_base_endpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signal_endpoint_as_is, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_endpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compression, setup, teardown),
		cmocka_unit_test_setup_teardown(test_protocol, setup, teardown),
		cmocka_unit_test_setup_teardown(test_certificates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sdk_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resource_attributes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli_overrides, setup, teardown),
		cmocka_unit_test(test_percent_decode),
		cmocka_unit_test(test_redact_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

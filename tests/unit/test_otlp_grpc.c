// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_otlp_grpc.c - unit tests of the OTLP/gRPC transport: the 5-byte
 * message framing both ways, which status codes are retried (the OTLP
 * spec's table, RESOURCE_EXHAUSTED only with RetryInfo), grpc-timeout
 * values, RetryInfo read from grpc-status-details-bin, and round trips
 * through a real gRPC server (tests/lib/grpc_receiver.py on Debian's
 * python3-grpcio, 127.0.0.1 and an ephemeral port): metadata, gzip,
 * UNAVAILABLE retried, INVALID_ARGUMENT not, RetryInfo delays, partial
 * success and the profiles method. Without /usr/bin/python3 and its grpc
 * module the round trips are skipped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "google_rpc_retryinfo.pb-c.h"
#include "google_rpc_status.pb-c.h"
#include "log.h"
#include "otlp_export.h"
#include "otlp_metrics_service.pb-c.h"
#include "otlp_profiles_service.pb-c.h"

#define PYTHON "/usr/bin/python3"
#define RECEIVER "tests/lib/grpc_receiver.py"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* --- framing ---------------------------------------------------------------------- */

static void test_frame_encode(void **state)
{
	static const uint8_t msg[] = { 0x0a, 0x02, 0x08, 0x01 };
	uint8_t hdr[OTLP_GRPC_FRAME_HDR], *out;
	size_t len;

	(void)state;
	otlp_grpc_frame_header(hdr, false, 0x01020304);
	assert_memory_equal(hdr, "\x00\x01\x02\x03\x04", 5);
	otlp_grpc_frame_header(hdr, true, 300);
	assert_memory_equal(hdr, "\x01\x00\x00\x01\x2c", 5);

	assert_int_equal(otlp_grpc_frame(msg, sizeof(msg), false, &out, &len), 0);
	assert_int_equal(len, 9);
	assert_memory_equal(out, "\x00\x00\x00\x00\x04\x0a\x02\x08\x01", 9);
	free(out);
	assert_int_equal(otlp_grpc_frame(msg, sizeof(msg), true, &out, &len), 0);
	assert_int_equal(out[0], 1);
	free(out);
	/* An empty message is five bytes of header. */
	assert_int_equal(otlp_grpc_frame(NULL, 0, false, &out, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(out, "\x00\x00\x00\x00\x00", 5);
	free(out);
	assert_int_equal(otlp_grpc_frame(msg, (size_t)UINT32_MAX + 1, false,
					 &out, &len), -E2BIG);
}

static void test_frame_decode(void **state)
{
	static const uint8_t one[] = { 0, 0, 0, 0, 3, 'a', 'b', 'c' };
	static const uint8_t gz[] = { 1, 0, 0, 0, 1, 'z' };
	static const uint8_t empty[] = { 0, 0, 0, 0, 0 };
	uint8_t buf[16];
	const uint8_t *msg;
	size_t mlen;
	bool comp;

	(void)state;
	assert_int_equal(otlp_grpc_unframe(one, sizeof(one), &msg, &mlen, &comp), 0);
	assert_ptr_equal(msg, one + 5);
	assert_int_equal(mlen, 3);
	assert_false(comp);
	assert_int_equal(otlp_grpc_unframe(gz, sizeof(gz), &msg, &mlen, &comp), 0);
	assert_true(comp);
	assert_int_equal(mlen, 1);
	assert_int_equal(otlp_grpc_unframe(empty, 5, &msg, &mlen, &comp), 0);
	assert_int_equal(mlen, 0);

	/* No body; a cut header; a message shorter or longer than said; two
	 * messages; a flag that is neither 0 nor 1. */
	assert_int_equal(otlp_grpc_unframe(one, 0, &msg, &mlen, &comp), -ENODATA);
	assert_int_equal(otlp_grpc_unframe(one, 4, &msg, &mlen, &comp), -EBADMSG);
	assert_int_equal(otlp_grpc_unframe(one, 7, &msg, &mlen, &comp), -EBADMSG);
	memcpy(buf, one, sizeof(one));
	buf[8] = 'd';
	assert_int_equal(otlp_grpc_unframe(buf, 9, &msg, &mlen, &comp), -EBADMSG);
	memcpy(buf + 8, empty, 5);
	assert_int_equal(otlp_grpc_unframe(buf, 13, &msg, &mlen, &comp), -EBADMSG);
	buf[0] = 2;
	assert_int_equal(otlp_grpc_unframe(buf, 8, &msg, &mlen, &comp), -EBADMSG);
	/* A length near 4 GiB must not wrap anything. */
	memcpy(buf, "\x00\xff\xff\xff\xff", 5);
	assert_int_equal(otlp_grpc_unframe(buf, 8, &msg, &mlen, &comp), -EBADMSG);
}

/* --- status codes ------------------------------------------------------------------- */

static void test_retry_classification(void **state)
{
	/* OTLP spec, "OTLP/gRPC Response": retryable or not, per code. */
	static const struct {
		int code;
		bool retry, retry_with_info;
		const char *name;
	} want[] = {
		{ OTLP_GRPC_OK, false, false, "OK" },
		{ OTLP_GRPC_CANCELLED, true, true, "CANCELLED" },
		{ OTLP_GRPC_UNKNOWN, false, false, "UNKNOWN" },
		{ OTLP_GRPC_INVALID_ARGUMENT, false, false, "INVALID_ARGUMENT" },
		{ OTLP_GRPC_DEADLINE_EXCEEDED, true, true, "DEADLINE_EXCEEDED" },
		{ OTLP_GRPC_NOT_FOUND, false, false, "NOT_FOUND" },
		{ OTLP_GRPC_ALREADY_EXISTS, false, false, "ALREADY_EXISTS" },
		{ OTLP_GRPC_PERMISSION_DENIED, false, false, "PERMISSION_DENIED" },
		{ OTLP_GRPC_RESOURCE_EXHAUSTED, false, true, "RESOURCE_EXHAUSTED" },
		{ OTLP_GRPC_FAILED_PRECONDITION, false, false, "FAILED_PRECONDITION" },
		{ OTLP_GRPC_ABORTED, true, true, "ABORTED" },
		{ OTLP_GRPC_OUT_OF_RANGE, true, true, "OUT_OF_RANGE" },
		{ OTLP_GRPC_UNIMPLEMENTED, false, false, "UNIMPLEMENTED" },
		{ OTLP_GRPC_INTERNAL, false, false, "INTERNAL" },
		{ OTLP_GRPC_UNAVAILABLE, true, true, "UNAVAILABLE" },
		{ OTLP_GRPC_DATA_LOSS, true, true, "DATA_LOSS" },
		{ OTLP_GRPC_UNAUTHENTICATED, false, false, "UNAUTHENTICATED" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(want[i].code, (int)i);
		assert_int_equal(otlp_grpc_retryable(want[i].code, false),
				 want[i].retry);
		assert_int_equal(otlp_grpc_retryable(want[i].code, true),
				 want[i].retry_with_info);
		assert_string_equal(otlp_grpc_code_name(want[i].code), want[i].name);
	}
	assert_false(otlp_grpc_retryable(17, true));
	assert_false(otlp_grpc_retryable(-1, true));
	assert_string_equal(otlp_grpc_code_name(17), "UNKNOWN");
	assert_string_equal(otlp_grpc_code_name(-1), "UNKNOWN");
}

static void test_timeout_header(void **state)
{
	static const struct {
		int ms;
		const char *want;
	} cases[] = {
		{ 1, "1m" },
		{ 250, "250m" },
		{ 10000, "10000m" },
		{ 99999999, "99999999m" },
		/* Past 8 digits of ms: seconds, rounded up. */
		{ 100000000, "100000S" },
		{ 100000001, "100001S" },
		{ INT_MAX, "2147484S" },
	};
	char buf[16];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(otlp_grpc_timeout(cases[i].ms, buf, sizeof(buf)),
				 strlen(cases[i].want));
		assert_string_equal(buf, cases[i].want);
	}
	assert_int_equal(otlp_grpc_timeout(0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(otlp_grpc_timeout(-5, buf, sizeof(buf)), -EINVAL);
	/* Like snprintf(): the length it needed, cut to fit. */
	assert_int_equal(otlp_grpc_timeout(12345, buf, 4), 6);
	assert_string_equal(buf, "123");
}

/* --- RetryInfo ---------------------------------------------------------------------- */

static char *base64(const uint8_t *p, size_t n, bool pad)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc(n / 3 * 4 + 5), *w = out;
	uint32_t v;
	size_t i;

	assert_non_null(out);
	for (i = 0; i + 2 < n; i += 3) {
		v = p[i] << 16 | p[i + 1] << 8 | p[i + 2];
		*w++ = tab[v >> 18];
		*w++ = tab[v >> 12 & 63];
		*w++ = tab[v >> 6 & 63];
		*w++ = tab[v & 63];
	}
	if (n - i == 1) {
		v = p[i] << 16;
		*w++ = tab[v >> 18];
		*w++ = tab[v >> 12 & 63];
		if (pad)
			*w++ = '=', *w++ = '=';
	} else if (n - i == 2) {
		v = p[i] << 16 | p[i + 1] << 8;
		*w++ = tab[v >> 18];
		*w++ = tab[v >> 12 & 63];
		*w++ = tab[v >> 6 & 63];
		if (pad)
			*w++ = '=';
	}
	*w = '\0';
	return out;
}

/* grpc-status-details-bin for a Status with an unrelated detail, then a
 * RetryInfo of (s, ns) unless s < 0 (none), or without a delay if
 * no_delay. */
static char *details_bin(int64_t s, int32_t ns, bool no_delay, bool pad)
{
	Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
	Google__Rpc__RetryInfo ri = GOOGLE__RPC__RETRY_INFO__INIT;
	Google__Rpc__RetryInfo__Duration d = GOOGLE__RPC__RETRY_INFO__DURATION__INIT;
	Google__Rpc__Any other = GOOGLE__RPC__ANY__INIT, info = GOOGLE__RPC__ANY__INIT;
	Google__Rpc__Any *details[] = { &other, &info };
	uint8_t ri_buf[64], buf[256];
	size_t n;

	st.code = OTLP_GRPC_UNAVAILABLE;
	st.message = "busy";
	other.type_url = "type.googleapis.com/google.rpc.DebugInfo";
	other.value.data = (uint8_t *)"\x0a\x01x";
	other.value.len = 3;
	d.seconds = s;
	d.nanos = ns;
	if (!no_delay)
		ri.retry_delay = &d;
	info.type_url = "type.googleapis.com/google.rpc.RetryInfo";
	info.value.len = google__rpc__retry_info__pack(&ri, ri_buf);
	info.value.data = ri_buf;
	st.details = details;
	st.n_details = s < 0 && !no_delay ? 1 : 2;
	n = google__rpc__status__pack(&st, buf);
	return base64(buf, n, pad);
}

static void test_retry_info(void **state)
{
	char *b;

	(void)state;
	b = details_bin(2, 500000000, false, true);
	assert_int_equal(otlp_grpc_retry_delay_ms(b), 2500);
	free(b);
	b = details_bin(0, 250000000, false, false); /* unpadded, as gRPC may */
	assert_int_equal(otlp_grpc_retry_delay_ms(b), 250);
	free(b);
	b = details_bin(7, 0, false, false);
	assert_int_equal(otlp_grpc_retry_delay_ms(b), 7000);
	free(b);
	/* RetryInfo without a delay: retry, no wait imposed. */
	b = details_bin(0, 0, true, true);
	assert_int_equal(otlp_grpc_retry_delay_ms(b), 0);
	free(b);
	/* A century is a day; a negative delay is none. */
	b = details_bin(3153600000LL, 0, false, true);
	assert_int_equal(otlp_grpc_retry_delay_ms(b), 86400000);
	free(b);
	b = details_bin(-1, 0, true, true);
	assert_int_equal(otlp_grpc_retry_delay_ms(b), 0);
	free(b);
	/* No RetryInfo among the details. */
	b = details_bin(-1, 0, false, true);
	assert_int_equal(otlp_grpc_retry_delay_ms(b), -1);
	free(b);
	assert_int_equal(otlp_grpc_retry_delay_ms(NULL), -1);
	assert_int_equal(otlp_grpc_retry_delay_ms(""), -1);
	assert_int_equal(otlp_grpc_retry_delay_ms("not base64!"), -1);
	assert_int_equal(otlp_grpc_retry_delay_ms("CA4S"), -1); /* cut Status */
}

/* --- configuration ------------------------------------------------------------------- */

static void test_grpc_config(void **state)
{
	struct otel_config c;
	char err[256];

	(void)state;
	unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
	unsetenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
	unsetenv("OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT");
	unsetenv("OTEL_SDK_DISABLED");
	/* grpc alone: the spec's localhost:4317 is not used, export is off. */
	setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", 1);
	assert_int_equal(otel_config__load(&c, err, sizeof(err)), 0);
	assert_int_equal(c.signal[OTLP_METRICS].protocol, OTEL_PROTOCOL_GRPC);
	assert_false(otel_config__enabled(&c, OTLP_METRICS));
	assert_false(otel_config__enabled(&c, OTLP_PROFILES));
	errno = 0;
	assert_null(otlp_exporter__new(&c, 8));
	assert_int_equal(errno, EINVAL);
	otel_config__free(&c);

	/* The base endpoint gets no /v1/metrics for gRPC. */
	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317", 1);
	assert_int_equal(otel_config__load(&c, err, sizeof(err)), 0);
	assert_string_equal(c.signal[OTLP_METRICS].url, "http://collector:4317");
	assert_string_equal(c.signal[OTLP_PROFILES].url, "http://collector:4317");
	otel_config__free(&c);
	unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
	unsetenv("OTEL_EXPORTER_OTLP_PROTOCOL");
}

/* --- round trips through a real gRPC server ------------------------------------------ */

struct receiver {
	pid_t pid;
	int port;
	char dir[PATH_MAX / 2];
	char record[PATH_MAX];
};

static const char *receiver_script(void)
{
	static char path[PATH_MAX];
	const char *root = getenv("MEMTEL_ROOT");

	snprintf(path, sizeof(path), "%s/%s", root && *root ? root : ".",
		 RECEIVER);
	return path;
}

/* Whether the round trips can run here; prints why not. */
static bool grpc_available(void)
{
	static int avail = -1;

	if (avail < 0) {
		avail = access(PYTHON, X_OK) == 0 &&
			access(receiver_script(), R_OK) == 0 &&
			system(PYTHON " -c 'import grpc' >/dev/null 2>&1") == 0;
		if (!avail)
			fprintf(stderr, "no " PYTHON " with grpc (python3-grpcio) or no %s: round trips skipped\n",
				receiver_script());
	}
	return avail;
}

/* Start the receiver with extra arguments (NULL-terminated); wait for its
 * port. */
static void receiver_start(struct receiver *r, ...)
{
	const char *argv[24] = {
		PYTHON, receiver_script(), "serve", "--lifetime", "60",
	};
	char portfile[PATH_MAX], buf[16];
	uint64_t deadline;
	size_t argc = 5;
	va_list ap;
	FILE *f;

	memset(r, 0, sizeof(*r));
	snprintf(r->dir, sizeof(r->dir), "%s/grpc.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(r->dir));
	snprintf(portfile, sizeof(portfile), "%s/port", r->dir);
	snprintf(r->record, sizeof(r->record), "%s/calls.jsonl", r->dir);
	argv[argc++] = "--port-file";
	argv[argc++] = portfile;
	argv[argc++] = "--record";
	argv[argc++] = r->record;
	va_start(ap, r);
	while (argc < sizeof(argv) / sizeof(argv[0]) - 1 &&
	       (argv[argc] = va_arg(ap, const char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;

	r->pid = fork();
	assert_true(r->pid >= 0);
	if (!r->pid) {
		int fd = open("/dev/null", O_RDONLY);

		dup2(fd, STDIN_FILENO);
		dup2(STDERR_FILENO, STDOUT_FILENO);
		execv(PYTHON, (char **)argv);
		_exit(127);
	}
	deadline = now_ms() + 15000;
	while (now_ms() < deadline) {
		f = fopen(portfile, "r");
		if (f) {
			if (fgets(buf, sizeof(buf), f))
				r->port = atoi(buf);
			fclose(f);
			break;
		}
		if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
			r->pid = 0;
			break;
		}
		sleep_ms(20);
	}
	assert_true(r->port > 0);
}

/* Stop the receiver; returns the calls it recorded, one JSON object a
 * line (malloc'ed), and how many in *n. */
static char *receiver_stop(struct receiver *r, int *n)
{
	char *text = calloc(1, 1 << 20);
	char cmd[PATH_MAX + 16], *p;
	size_t len = 0;
	FILE *f;

	assert_non_null(text);
	if (r->pid > 0) {
		kill(r->pid, SIGTERM);
		waitpid(r->pid, NULL, 0);
	}
	f = fopen(r->record, "r");
	if (f) {
		len = fread(text, 1, (1 << 20) - 1, f);
		fclose(f);
	}
	text[len] = '\0';
	*n = 0;
	for (p = text; (p = strchr(p, '\n')); p++)
		(*n)++;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
	assert_int_equal(system(cmd), 0);
	return text;
}

/* Line i (0-based) of text, in a static buffer. */
static const char *line_of(const char *text, int i)
{
	static char buf[1 << 18];
	const char *p = text;

	while (i-- > 0) {
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(p, "\n"), p);
	return buf;
}

static void config_grpc(struct otel_config *c, int port)
{
	char err[256], url[64];

	unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
	unsetenv("OTEL_EXPORTER_OTLP_HEADERS");
	unsetenv("OTEL_EXPORTER_OTLP_PROTOCOL");
	unsetenv("OTEL_SDK_DISABLED");
	assert_int_equal(otel_config__load(c, err, sizeof(err)), 0);
	/* A path is ignored by gRPC: the method's path replaces it. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/ignored", port);
	assert_int_equal(otel_config__set_endpoint(c, url, err, sizeof(err)), 0);
	assert_int_equal(otel_config__set_protocol(c, "grpc", err, sizeof(err)), 0);
}

static struct otlp_exporter *exporter_for(const struct otel_config *c,
					  int initial_ms, int attempts)
{
	struct otlp_retry_policy p = {
		.initial_backoff_ms = initial_ms,
		.max_backoff_ms = 200,
		.max_attempts = attempts,
		.budget_ms = 10000,
	};
	struct otlp_exporter *e = otlp_exporter__new(c, 8);

	assert_non_null(e);
	otlp_exporter__set_retry_policy(e, &p);
	return e;
}

/* A real ExportMetricsServiceRequest: one gauge "memtel.test" = v. */
static uint8_t *metrics_request(int64_t v, size_t *len)
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
	g.n_data_points = 1;
	g.data_points = dps;
	m.name = "memtel.test";
	m.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
	m.gauge = &g;
	sm.n_metrics = 1;
	sm.metrics = ms;
	rm.n_scope_metrics = 1;
	rm.scope_metrics = sms;
	req.n_resource_metrics = 1;
	req.resource_metrics = rms;

	*len = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__get_packed_size(&req);
	buf = malloc(*len);
	assert_non_null(buf);
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__pack(&req, buf);
	return buf;
}

static void enqueue_metrics(struct otlp_exporter *e, int64_t v)
{
	size_t len;
	uint8_t *b = metrics_request(v, &len);

	assert_int_equal(otlp_exporter__enqueue(e, OTLP_METRICS, b, len), 0);
}

static void test_grpc_metrics_unavailable_retried(void **state)
{
	struct otlp_export_stats st;
	struct receiver r;
	struct otel_config c;
	struct otlp_exporter *e;
	char err[256], *calls;
	const char *l;
	int n;

	(void)state;
	if (!grpc_available())
		skip();
	receiver_start(&r, "--statuses", "UNAVAILABLE,OK", NULL);
	config_grpc(&c, r.port);
	assert_int_equal(otel_config__add_header(&c, "X-Api-Key=s3cr%65t", err,
						 sizeof(err)), 0);
	/* Reserved names are gRPC's own: dropped from the metadata. */
	assert_int_equal(otel_config__add_header(&c, "grpc-timeout=1S", err,
						 sizeof(err)), 0);
	assert_int_equal(otel_config__set_timeout_ms(&c, 4000), 0);
	e = exporter_for(&c, 10, 3);
	otel_config__free(&c);
	enqueue_metrics(e, 42);
	assert_int_equal(otlp_exporter__flush(e, 8000), 0);
	otlp_exporter__stats(e, &st);
	otlp_exporter__free(e);
	calls = receiver_stop(&r, &n);
	assert_int_equal(n, 2);
	for (n = 0; n < 2; n++) {
		l = line_of(calls, n);
		fprintf(stderr, "call: %.300s...\n", l);
		assert_non_null(strstr(l, "\"method\": \"/opentelemetry.proto.collector.metrics.v1.MetricsService/Export\""));
		/* Metadata keys lowercase, values decoded. */
		assert_non_null(strstr(l, "[\"x-api-key\", \"s3cret\"]"));
		assert_non_null(strstr(l, "[\"user-agent\", \"memtel-bpf/"));
		assert_null(strstr(l, "\"accept\""));
		assert_non_null(strstr(l, "\"metrics\": [\"memtel.test\"]"));
		assert_null(strstr(l, "decode_error"));
		/* grpc-timeout: ours (4 s), not the configured one. */
		assert_non_null(strstr(l, "\"time_remaining\": 3."));
		assert_non_null(strstr(l, n ? "\"status\": \"OK\"" :
					      "\"status\": \"UNAVAILABLE\""));
	}
	free(calls);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.retried, 1);
	assert_int_equal(st.failed + st.dropped_after_retries, 0);
}

static void test_grpc_invalid_argument_final(void **state)
{
	struct otlp_export_stats st;
	struct receiver r;
	struct otel_config c;
	struct otlp_exporter *e;
	char *calls;
	int n;

	(void)state;
	if (!grpc_available())
		skip();
	receiver_start(&r, "--statuses", "INVALID_ARGUMENT", NULL);
	config_grpc(&c, r.port);
	e = exporter_for(&c, 10, 5);
	otel_config__free(&c);
	enqueue_metrics(e, 1);
	assert_int_equal(otlp_exporter__flush(e, 8000), 0);
	sleep_ms(200); /* a retry would show up by now */
	otlp_exporter__stats(e, &st);
	otlp_exporter__free(e);
	calls = receiver_stop(&r, &n);
	free(calls);
	assert_int_equal(n, 1);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.retried, 0);
	assert_int_equal(st.sent, 0);
	assert_string_equal(st.last_error,
			    "gRPC INVALID_ARGUMENT (3): scripted INVALID_ARGUMENT (call 1)");
}

static void test_grpc_resource_exhausted(void **state)
{
	struct otlp_export_stats st;
	struct receiver r;
	struct otel_config c;
	struct otlp_exporter *e;
	const char *l;
	char *calls;
	double t0, t1;
	int n;

	(void)state;
	if (!grpc_available())
		skip();
	/* Without RetryInfo: final. */
	receiver_start(&r, "--statuses", "RESOURCE_EXHAUSTED", NULL);
	config_grpc(&c, r.port);
	e = exporter_for(&c, 10, 5);
	otel_config__free(&c);
	enqueue_metrics(e, 1);
	assert_int_equal(otlp_exporter__flush(e, 8000), 0);
	otlp_exporter__stats(e, &st);
	otlp_exporter__free(e);
	calls = receiver_stop(&r, &n);
	free(calls);
	assert_int_equal(n, 1);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.retried, 0);

	/* With RetryInfo of 600 ms and a 10 ms backoff: only RetryInfo can
	 * explain the wait. */
	receiver_start(&r, "--statuses", "RESOURCE_EXHAUSTED@600,OK", NULL);
	config_grpc(&c, r.port);
	e = exporter_for(&c, 10, 5);
	otel_config__free(&c);
	enqueue_metrics(e, 1);
	assert_int_equal(otlp_exporter__flush(e, 8000), 0);
	otlp_exporter__stats(e, &st);
	otlp_exporter__free(e);
	calls = receiver_stop(&r, &n);
	assert_int_equal(n, 2);
	l = strstr(line_of(calls, 0), "\"time\": ");
	assert_non_null(l);
	t0 = strtod(l + 8, NULL);
	l = strstr(line_of(calls, 1), "\"time\": ");
	assert_non_null(l);
	t1 = strtod(l + 8, NULL);
	free(calls);
	fprintf(stderr, "RetryInfo 600 ms: retried after %.0f ms\n",
		(t1 - t0) * 1000);
	assert_true(t1 - t0 >= 0.55);
	assert_true(t1 - t0 < 3.0);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.retried, 1);
}

static void test_grpc_gzip_profiles_partial(void **state)
{
	Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest req =
		OPENTELEMETRY__PROTO__COLLECTOR__PROFILES__V1DEVELOPMENT__EXPORT_PROFILES_SERVICE_REQUEST__INIT;
	Opentelemetry__Proto__Profiles__V1development__ResourceProfiles rp =
		OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__RESOURCE_PROFILES__INIT;
	Opentelemetry__Proto__Profiles__V1development__ResourceProfiles *rps[] = { &rp };
	struct otlp_export_stats st;
	struct receiver r;
	struct otel_config c;
	struct otlp_exporter *e;
	char err[256], *calls;
	const char *l;
	uint8_t *b;
	size_t len;
	int n;

	(void)state;
	if (!grpc_available())
		skip();
	receiver_start(&r, "--partial", "3:3 points had a NaN value", NULL);
	config_grpc(&c, r.port);
	assert_int_equal(otel_config__set_compression(&c, "gzip", err,
						      sizeof(err)), 0);
	e = exporter_for(&c, 10, 3);
	otel_config__free(&c);
	enqueue_metrics(e, 7);
	req.n_resource_profiles = 1;
	req.resource_profiles = rps;
	len = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__get_packed_size(&req);
	b = malloc(len);
	assert_non_null(b);
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__pack(&req, b);
	assert_int_equal(otlp_exporter__enqueue(e, OTLP_PROFILES, b, len), 0);
	assert_int_equal(otlp_exporter__flush(e, 8000), 0);
	otlp_exporter__stats(e, &st);
	otlp_exporter__free(e);
	calls = receiver_stop(&r, &n);
	assert_int_equal(n, 2);
	/* The server inflated what we compressed: it decodes. */
	l = line_of(calls, 0);
	assert_non_null(strstr(l, "\"kind\": \"metrics\""));
	assert_non_null(strstr(l, "\"metrics\": [\"memtel.test\"]"));
	l = line_of(calls, 1);
	assert_non_null(strstr(l, "\"method\": \"/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export\""));
	assert_non_null(strstr(l, "\"resource_profiles\": 1"));
	assert_null(strstr(l, "decode_error"));
	free(calls);
	assert_int_equal(st.sent, 2);
	assert_int_equal(st.retried, 0);
	/* The answers' partial_success: 3 points + 3 profiles. */
	assert_int_equal(st.partial_success_rejected, 6);
}

static void test_grpc_connection_refused(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	struct otlp_export_stats st;
	struct otel_config c;
	struct otlp_exporter *e;
	int fd;

	(void)state;
	/* A port nobody listens on: bound, then closed. */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	close(fd);
	config_grpc(&c, ntohs(a.sin_port));
	e = exporter_for(&c, 10, 3);
	otel_config__free(&c);
	enqueue_metrics(e, 1);
	assert_int_equal(otlp_exporter__flush(e, 5000), 0);
	otlp_exporter__stats(e, &st);
	otlp_exporter__free(e);
	/* Connection trouble is UNAVAILABLE in gRPC terms: retried. */
	assert_int_equal(st.retried, 2);
	assert_int_equal(st.dropped_after_retries, 1);
	assert_int_equal(st.sent + st.failed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_encode),
		cmocka_unit_test(test_frame_decode),
		cmocka_unit_test(test_retry_classification),
		cmocka_unit_test(test_timeout_header),
		cmocka_unit_test(test_retry_info),
		cmocka_unit_test(test_grpc_config),
		cmocka_unit_test(test_grpc_connection_refused),
		cmocka_unit_test(test_grpc_metrics_unavailable_retried),
		cmocka_unit_test(test_grpc_invalid_argument_final),
		cmocka_unit_test(test_grpc_resource_exhausted),
		cmocka_unit_test(test_grpc_gzip_profiles_partial),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

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

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "google_rpc_retryinfo.pb-c.h"
#include "google_rpc_status.pb-c.h"
#include "util/log.h"
#include "sinks/otlp/otlp_export.h"
#include "sinks/otlp/otlp_grpc.h"
#include "otlp_metrics_service.pb-c.h"
#include "otlp_profiles_service.pb-c.h"
#include "otlp_test_util.h"

#define PYTHON "/usr/bin/python3"
#define RECEIVER "tests/lib/grpc_receiver.py"

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

/* --- compressed answers ------------------------------------------------------------ */

/* in compressed as gzip (gzip) or zlib ("deflate"), malloc'ed. */
static uint8_t *compress_buf(const uint8_t *in, size_t len, bool gzip,
			     size_t *out_len)
{
	z_stream zs = {};
	uint8_t *out;
	size_t cap;

	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, gzip ? 15 + 16 : 15,
				      9, Z_DEFAULT_STRATEGY), Z_OK);
	cap = deflateBound(&zs, len);
	out = malloc(cap);
	assert_non_null(out);
	zs.next_in = (Bytef *)in;
	zs.avail_in = len;
	zs.next_out = out;
	zs.avail_out = cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	*out_len = zs.total_out;
	deflateEnd(&zs);
	return out;
}

/* A framed answer: n bytes of 'A' compressed (gzip or deflate). */
static uint8_t *framed_bomb(size_t n, bool gzip, size_t *len)
{
	uint8_t *plain = malloc(n), *z, *framed;
	size_t zlen;

	assert_non_null(plain);
	memset(plain, 'A', n);
	z = compress_buf(plain, n, gzip, &zlen);
	free(plain);
	assert_int_equal(otlp_grpc_frame(z, zlen, true, &framed, len), 0);
	free(z);
	return framed;
}

static void test_inflate_bounded(void **state)
{
	uint8_t *body, *out = NULL;
	size_t len, olen = 0;

	(void)state;
	/* 60 KB in ~100 bytes: inflated in full when it fits the cap, in a
	 * buffer of its own (the frame was far smaller). */
	body = framed_bomb(60000, true, &len);
	fprintf(stderr, "60000 bytes gzip'ed and framed: %zu bytes\n", len);
	assert_true(len < 200);
	assert_int_equal(otlp_grpc_message(body, len, "gzip", 65536, &out, &olen), 0);
	assert_int_equal(olen, 60000);
	assert_int_equal(out[0], 'A');
	assert_int_equal(out[59999], 'A');
	free(out);
	/* One byte over the cap is refused, not truncated. */
	assert_int_equal(otlp_grpc_message(body, len, "gzip", 59999, &out, &olen),
			 -E2BIG);
	assert_int_equal(otlp_grpc_message(body, len, "GZIP", 60000, &out, &olen), 0);
	free(out);
	/* A compressed frame needs a compression it names. */
	assert_int_equal(otlp_grpc_message(body, len, "", 65536, &out, &olen),
			 -EPROTO);
	assert_int_equal(otlp_grpc_message(body, len, "snappy", 65536, &out, &olen),
			 -EPROTO);
	/* Cut anywhere inside the stream: malformed, never a crash. */
	body[4] -= 3;
	assert_int_equal(otlp_grpc_message(body, len - 3, "gzip", 65536, &out, &olen),
			 -EBADMSG);
	free(body);

	/* A zip bomb (16 MB in ~16 KB) costs the cap, then stops. */
	body = framed_bomb(16 << 20, false, &len);
	assert_int_equal(otlp_grpc_message(body, len, "deflate", 65536, &out, &olen),
			 -E2BIG);
	free(body);

	/* An uncompressed message past the cap is refused too. */
	body = malloc(OTLP_GRPC_FRAME_HDR + 100);
	assert_non_null(body);
	otlp_grpc_frame_header(body, false, 100);
	memset(body + OTLP_GRPC_FRAME_HDR, 'x', 100);
	assert_int_equal(otlp_grpc_message(body, 105, "identity", 99, &out, &olen),
			 -E2BIG);
	assert_int_equal(otlp_grpc_message(body, 105, "identity", 100, &out, &olen), 0);
	assert_int_equal(olen, 100);
	free(out);
	free(body);
	/* Garbage flagged compressed. */
	assert_int_equal(otlp_grpc_inflate((const uint8_t *)"garbage!", 8, 4096,
					   &out, &olen), -EBADMSG);
}

/* --- headers and trailers ------------------------------------------------------------ */

static void header(struct otlp_grpc_answer *r, const char *line)
{
	otlp_grpc_answer__header(r, line, strlen(line));
}

static void test_answer_headers(void **state)
{
	struct otlp_grpc_answer r;
	char *big;

	(void)state;
	otlp_grpc_answer__init(&r);
	assert_int_equal(r.code, -1);
	header(&r, "HTTP/2 200\r\n");
	header(&r, "Content-Type: application/grpc+proto\r\n");
	header(&r, "grpc-encoding:  gzip \r\n");
	assert_true(r.grpc_ctype);
	assert_string_equal(r.encoding, "gzip");
	/* The trailer wins over a header; codes we do not know are UNKNOWN. */
	header(&r, "grpc-status: 0\r\n");
	header(&r, "grpc-status: 14\r\n");
	assert_int_equal(r.code, OTLP_GRPC_UNAVAILABLE);
	header(&r, "grpc-status: 17\r\n");
	assert_int_equal(r.code, OTLP_GRPC_UNKNOWN);
	header(&r, "grpc-status: -1\r\n");
	assert_int_equal(r.code, OTLP_GRPC_UNKNOWN);
	header(&r, "grpc-status: 99999999999999999999\r\n");
	assert_int_equal(r.code, OTLP_GRPC_UNKNOWN);
	header(&r, "grpc-status: 4x\r\n");
	assert_int_equal(r.code, OTLP_GRPC_UNKNOWN);
	header(&r, "grpc-message: bad%20things%zz%00%\r\n");
	otlp_grpc_message_decode(r.message);
	assert_string_equal(r.message, "bad things%zz%00%");

	/* A collector picks the sizes: 100 KB values are cut to our
	 * buffers; cut details are marked and never decoded. */
	big = malloc(100100);
	assert_non_null(big);
	memcpy(big, "grpc-message: ", 14);
	memset(big + 14, 'm', 100000);
	big[100014] = '\0';
	header(&r, big);
	assert_int_equal(strlen(r.message), OTLP_GRPC_MESSAGE_MAX - 1);
	memcpy(big, "grpc-status-details-bin: ", 25);
	memset(big + 25, 'Q', 99975);
	otlp_grpc_answer__header(&r, big, 100000);
	assert_true(r.details_cut);
	assert_int_equal(strlen(r.details), OTLP_GRPC_DETAILS_MAX - 1);
	memcpy(big, "grpc-encoding: ", 15);
	memset(big + 15, 'e', 1000);
	otlp_grpc_answer__header(&r, big, 1015);
	assert_int_equal(strlen(r.encoding), sizeof(r.encoding) - 1);
	free(big);
	/* A details value past the limit is no RetryInfo. */
	big = malloc(OTLP_GRPC_DETAILS_MAX + 2);
	assert_non_null(big);
	memset(big, 'A', OTLP_GRPC_DETAILS_MAX + 1);
	big[OTLP_GRPC_DETAILS_MAX + 1] = '\0';
	assert_int_equal(otlp_grpc_retry_delay_ms(big), -1);
	free(big);
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
	char err[256];

	/* A path is ignored by gRPC: the method's path replaces it. */
	config_loopback(c, port, "ignored");
	assert_int_equal(otel_config__set_protocol(c, "grpc", err, sizeof(err)), 0);
}

/* The "time" (seconds) the receiver recorded for call i of calls. */
static double call_time(const char *calls, int i)
{
	const char *l = strstr(line_of(calls, i), "\"time\": ");

	assert_non_null(l);
	return strtod(l + 8, NULL);
}

/* One metrics request (value 1) to a receiver answering with statuses,
 * from an exporter of 5 attempts; settle_ms after the flush before the
 * stats are read. Returns the recorded calls and their number in *n. */
static char *grpc_send_one(const char *statuses, int settle_ms,
			   struct otlp_export_stats *st, int *n)
{
	struct receiver r;
	struct otel_config c;
	struct otlp_exporter *e;

	receiver_start(&r, "--statuses", statuses, NULL);
	config_grpc(&c, r.port);
	e = exporter_for(&c, 8, 10, 5);
	otel_config__free(&c);
	enqueue_value(e, 1);
	assert_int_equal(otlp_exporter__flush(e, 8000), 0);
	if (settle_ms)
		sleep_ms(settle_ms);
	otlp_exporter__stats(e, st);
	otlp_exporter__free(e);
	return receiver_stop(&r, n);
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
	e = exporter_for(&c, 8, 10, 3);
	otel_config__free(&c);
	enqueue_value(e, 42);
	flush_stats_free(e, 8000, &st);
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
	int n;

	(void)state;
	if (!grpc_available())
		skip();
	/* 200 ms to settle: a retry would show up by then. */
	free(grpc_send_one("INVALID_ARGUMENT", 200, &st, &n));
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
	char *calls;
	double t0, t1;
	int n;

	(void)state;
	if (!grpc_available())
		skip();
	/* Without RetryInfo: final. */
	free(grpc_send_one("RESOURCE_EXHAUSTED", 0, &st, &n));
	assert_int_equal(n, 1);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.retried, 0);

	/* With RetryInfo of 600 ms and a 10 ms backoff: only RetryInfo can
	 * explain the wait. */
	calls = grpc_send_one("RESOURCE_EXHAUSTED@600,OK", 0, &st, &n);
	assert_int_equal(n, 2);
	t0 = call_time(calls, 0);
	t1 = call_time(calls, 1);
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
	e = exporter_for(&c, 8, 10, 3);
	otel_config__free(&c);
	enqueue_value(e, 7);
	req.n_resource_profiles = 1;
	req.resource_profiles = rps;
	len = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__get_packed_size(&req);
	b = malloc(len);
	assert_non_null(b);
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__pack(&req, b);
	assert_int_equal(otlp_exporter__enqueue(e, OTLP_PROFILES, b, len), 0);
	flush_stats_free(e, 8000, &st);
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

/* One metrics request to a receiver whose OK answer is gzip'ed and
 * carries a partial_success of partial ("N:") padded with pad bytes. */
static void send_compressed_answer(const char *partial, const char *pad,
				   struct otlp_export_stats *st)
{
	struct receiver r;
	struct otel_config c;
	struct otlp_exporter *e;
	int n;

	receiver_start(&r, "--compress", "--partial", partial, "--pad", pad,
		       NULL);
	config_grpc(&c, r.port);
	e = exporter_for(&c, 8, 10, 3);
	otel_config__free(&c);
	enqueue_value(e, 1);
	flush_stats_free(e, 8000, st);
	free(receiver_stop(&r, &n));
	assert_int_equal(n, 1);
}

static void test_grpc_compressed_answer_overflow(void **state)
{
	struct otlp_export_stats st;

	(void)state;
	if (!grpc_available())
		skip();
	/* issue 10: a gzip'ed OK answer of a few hundred bytes whose
	 * partial_success inflates to 60 KB was inflated into the buffer
	 * that held the compressed bytes: a heap overflow (ASan aborts
	 * here without the fix). Now it is read in full: 2 rejected. */
	send_compressed_answer("2:", "60000", &st);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.partial_success_rejected, 2);

	/* A zip bomb (8 MB inflated): ignored past 64 KiB, the export
	 * still counts as delivered, and nothing is retried. */
	send_compressed_answer("5:", "8000000", &st);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.retried, 0);
	assert_int_equal(st.partial_success_rejected, 0);
}

static void test_grpc_silent_collector(void **state)
{
	struct otlp_export_stats st;
	struct otel_config c;
	struct otlp_exporter *e;
	uint64_t t0, took;
	int fd, port;

	(void)state;
	/* A collector that accepts and never answers: the kernel completes
	 * the handshake for a listening socket nobody accept()s, and our
	 * HTTP/2 preface and request then wait for an answer that never
	 * comes. Each attempt ends at the signal's timeout. */
	fd = listen_loopback(&port);
	config_grpc(&c, port);
	assert_int_equal(otel_config__set_timeout_ms(&c, 300), 0);
	e = exporter_for(&c, 8, 10, 2);
	otel_config__free(&c);
	t0 = now_ms();
	enqueue_value(e, 1);
	assert_int_equal(otlp_exporter__flush(e, 5000), 0);
	took = now_ms() - t0;
	otlp_exporter__stats(e, &st);
	otlp_exporter__free(e);
	fprintf(stderr, "silent collector, 2 x 300 ms attempts: %llu ms\n",
		(unsigned long long)took);
	assert_true(took >= 550);
	assert_true(took < 2500);
	assert_int_equal(st.retried, 1);
	assert_int_equal(st.dropped_after_retries, 1);
	assert_int_equal(st.sent, 0);
	assert_non_null(strstr(st.last_error, "imed out"));

	/* With a 30 s timeout, the final flush still ends at its deadline
	 * and free() aborts the attempt in flight at once (the transfer
	 * looks at the stop flag every 50 ms, not once a second as
	 * libcurl's progress callback does while a server is silent). */
	config_grpc(&c, port);
	assert_int_equal(otel_config__set_timeout_ms(&c, 30000), 0);
	e = exporter_for(&c, 8, 10, 2);
	otel_config__free(&c);
	enqueue_value(e, 1);
	sleep_ms(100);
	t0 = now_ms();
	assert_int_equal(otlp_exporter__flush(e, 300), -ETIMEDOUT);
	took = now_ms() - t0;
	assert_true(took >= 290);
	assert_true(took < 1000);
	t0 = now_ms();
	otlp_exporter__free(e);
	took = now_ms() - t0;
	fprintf(stderr, "free() with an attempt in flight: %llu ms\n",
		(unsigned long long)took);
	assert_true(took < 300);
	close(fd);
}

static void test_grpc_connection_refused(void **state)
{
	struct otlp_export_stats st;
	struct otel_config c;
	struct otlp_exporter *e;
	int fd, port;

	(void)state;
	/* A port nobody listens on: bound, then closed. */
	fd = listen_loopback(&port);
	close(fd);
	config_grpc(&c, port);
	e = exporter_for(&c, 8, 10, 3);
	otel_config__free(&c);
	enqueue_value(e, 1);
	flush_stats_free(e, 5000, &st);
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
		cmocka_unit_test(test_inflate_bounded),
		cmocka_unit_test(test_answer_headers),
		cmocka_unit_test(test_grpc_config),
		cmocka_unit_test(test_grpc_connection_refused),
		cmocka_unit_test(test_grpc_silent_collector),
		cmocka_unit_test(test_grpc_metrics_unavailable_retried),
		cmocka_unit_test(test_grpc_invalid_argument_final),
		cmocka_unit_test(test_grpc_resource_exhausted),
		cmocka_unit_test(test_grpc_gzip_profiles_partial),
		cmocka_unit_test(test_grpc_compressed_answer_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

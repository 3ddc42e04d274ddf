// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * otlp_export.c - the OTLP exporter: a bounded FIFO of serialized export
 * requests filled by the session under a mutex, and one thread that sends
 * them in order. Delivery follows the OTLP specification ("OTLP/HTTP
 * Response", "OTLP/gRPC Response", "Failures", "Throttling"): success is
 * HTTP 2xx or gRPC OK, and its Export*ServiceResponse's partial_success is
 * logged, not retried; transient failures (HTTP 429/502/503/504, the gRPC
 * codes the spec lists as retryable, connection failures and timeouts) are
 * retried after the server's Retry-After or RetryInfo, else a jittered
 * exponential backoff, within a number of attempts and a time budget; any
 * other answer is final, and its google.rpc.Status message (or a text
 * excerpt) is logged. Logging is rate-limited to state changes so an
 * unreachable collector does not flood stderr. The wire work sits behind
 * struct otlp_transport, one per signal: OTLP/HTTP (HTTP/1.1 or 2 via
 * libcurl) and OTLP/gRPC (HTTP/2 via libcurl and nghttp2, gRPC's framing
 * and trailers done here: no gRPC library is needed).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <zlib.h>

#include "google_rpc_retryinfo.pb-c.h"
#include "google_rpc_status.pb-c.h"
#include "util/log.h"
#include "sinks/otlp/otlp_export.h"
#include "otlp_metrics_service.pb-c.h"
#include "otlp_profiles_service.pb-c.h"

/* curl_easy_header() (Retry-After, Content-Type) came in 7.83. */
#if LIBCURL_VERSION_NUM < 0x075300
#error "libcurl 7.83 or later is needed"
#endif

#ifndef MEMTEL_VERSION
#define MEMTEL_VERSION "dev"
#endif

/* Response bodies kept (partial success, error status); the rest of a
 * larger one is read and discarded. */
#define RESP_MAX (64 * 1024)
/* Characters of a text error body quoted in a log line. */
#define EXCERPT_MAX 160
/* Retry-After and RetryInfo delays beyond this are taken as this (a day). */
#define RETRY_AFTER_MAX_S 86400
/* grpc-message and grpc-status-details-bin values kept; longer ones are
 * cut (the message) or ignored (the details). */
#define GRPC_MESSAGE_MAX 512
#define GRPC_DETAILS_MAX 4096
/* struct attempt's error_code for gRPC status N: apart from HTTP statuses
 * (100-599) and negated CURLcodes, so log deduplication tells them apart. */
#define GRPC_ERROR_CODE_BASE 1000

enum attempt_outcome {
	ATTEMPT_OK,
	ATTEMPT_RETRY,		/* transient: try again later */
	ATTEMPT_FAIL,		/* final */
	ATTEMPT_ABORTED,	/* the exporter is stopping */
};

/* What one send produced. */
struct attempt {
	enum attempt_outcome outcome;
	long status;		/* HTTP status, 0 if none */
	int retry_after_ms;	/* Retry-After or RetryInfo, -1 if none */
	int error_code;		/* status or transport error, for log dedup */
	char error[200];	/* set unless ATTEMPT_OK */
	uint8_t *resp;		/* response body, at most RESP_MAX bytes */
	size_t resp_len;
};

struct otlp_transport;

/* One signal's destination, copied out of the config. */
struct otlp_target {
	const struct otlp_transport *transport;
	CURL *curl;		/* thread-only; kept for connection reuse */
	char *url;		/* NULL: signal not exported; gRPC: method URL */
	char *log_url;		/* url without credentials */
	struct curl_slist *headers;
	int timeout_ms;
	bool gzip;
	char *cainfo;
	char *sslcert;
	char *sslkey;
};

struct otlp_exporter;

/* A wire protocol, picked per signal: init() sets up the target's URL and
 * request headers in new(), send() runs once per attempt on the exporter's
 * thread with t->curl and maps the answer into struct attempt. Queueing,
 * gzip, retries, partial-success handling and statistics are shared. */
struct otlp_transport {
	const char *name;
	int (*init)(struct otlp_target *t, const struct otel_signal_config *s,
		    enum otlp_signal sig);
	void (*send)(struct otlp_exporter *e, const struct otlp_target *t,
		     const uint8_t *body, size_t len, struct attempt *a);
};

struct otlp_entry {
	enum otlp_signal sig;
	uint8_t *body;
	size_t len;
};

struct otlp_exporter {
	struct otlp_target target[OTLP_SIGNAL_CNT];
	struct otlp_retry_policy policy;
	unsigned int seed;		/* jitter; thread-only */

	pthread_mutex_t lock;
	pthread_cond_t work;		/* queue non-empty, or stopping */
	pthread_cond_t idle;		/* queue drained */
	pthread_t thread;
	bool thread_started;
	atomic_bool stopping;

	/* Under lock: a ring of cap entries, len of them from head. */
	struct otlp_entry *ring;
	size_t cap, head, len;
	bool busy;			/* the thread holds one entry */
	size_t aborted;			/* entries given up on by stopping */
	struct otlp_export_stats stats;
	bool failing;			/* last request was lost (log once) */
	int logged_code;		/* error_code of the last logged loss */
	uint64_t lost_since_log;
};

static pthread_mutex_t curl_global_lock = PTHREAD_MUTEX_INITIALIZER;
static int curl_global_users;

/* libcurl's global state: set up by the first exporter, torn down by the
 * last (curl_global_init() is not thread-safe, hence the lock). */
static int curl_global_get(void)
{
	int ret = 0;

	pthread_mutex_lock(&curl_global_lock);
	if (!curl_global_users && curl_global_init(CURL_GLOBAL_DEFAULT))
		ret = -ENOMEM;
	else
		curl_global_users++;
	pthread_mutex_unlock(&curl_global_lock);
	return ret;
}

static void curl_global_put(void)
{
	pthread_mutex_lock(&curl_global_lock);
	if (curl_global_users && !--curl_global_users)
		curl_global_cleanup();
	pthread_mutex_unlock(&curl_global_lock);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void deadline_after(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* Printable excerpt of a server's text for a log line. */
static void excerpt(char *dst, size_t dlen, const uint8_t *src, size_t slen)
{
	size_t i, n = 0;

	for (i = 0; i < slen && n + 1 < dlen && i < EXCERPT_MAX; i++) {
		if (src[i] == '\r' || src[i] == '\n' || src[i] == '\t')
			dst[n++] = ' ';
		else
			dst[n++] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '.';
	}
	while (n && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

/* --- gzip ------------------------------------------------------------------ */

/* A gzip stream (RFC 1952, as Content-Encoding: gzip means) of in. */
static int gzip_body(const uint8_t *in, size_t len, uint8_t **out,
		     size_t *out_len)
{
	z_stream zs = {};
	uint8_t *buf = NULL;
	uLong bound;
	int ret;

	if (len > UINT32_MAX)
		return -E2BIG;
	/* windowBits 15 + 16: a gzip header and trailer, not zlib's. */
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	bound = deflateBound(&zs, len);
	buf = malloc(bound);
	if (!buf) {
		ret = -ENOMEM;
		goto cleanup;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = len;
	zs.next_out = buf;
	zs.avail_out = bound;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		ret = -EIO;
		goto cleanup;
	}
	*out = buf;
	*out_len = zs.total_out;
	buf = NULL;
	ret = 0;
cleanup:
	deflateEnd(&zs);
	free(buf);
	return ret;
}

static int slist_add(struct curl_slist **l, const char *s)
{
	struct curl_slist *n = curl_slist_append(*l, s);

	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

/* --- OTLP/HTTP transport ---------------------------------------------------- */

struct http_resp {
	struct attempt *a;
	size_t cap;
};

static size_t http_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_resp *r = arg;
	struct attempt *a = r->a;
	size_t n = size * nmemb, take, cap;
	uint8_t *tmp;

	take = a->resp_len < RESP_MAX ? RESP_MAX - a->resp_len : 0;
	if (take > n)
		take = n;
	if (!take)
		return n;
	if (a->resp_len + take > r->cap) {
		cap = r->cap ? r->cap * 2 : 4096;
		while (cap < a->resp_len + take)
			cap *= 2;
		tmp = realloc(a->resp, cap);
		if (!tmp)
			return n; /* keep what we have; the body is advisory */
		a->resp = tmp;
		r->cap = cap;
	}
	memcpy(a->resp + a->resp_len, data, take);
	a->resp_len += take;
	return n;
}

/* Called by libcurl many times a second during a transfer: a non-zero
 * return aborts it (CURLE_ABORTED_BY_CALLBACK), so free() never waits for
 * a slow server. */
static int http_progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
			    curl_off_t ultotal, curl_off_t ulnow)
{
	struct otlp_exporter *e = arg;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return atomic_load(&e->stopping);
}

/* RFC 9110 Retry-After: delay-seconds or an HTTP-date; -1 if absent or
 * unparsable. */
static int http_retry_after_ms(CURL *curl)
{
	struct curl_header *h;
	const char *v;
	char *end;
	long long s;
	time_t t;

	if (curl_easy_header(curl, "Retry-After", 0, CURLH_HEADER, -1, &h) !=
	    CURLHE_OK)
		return -1;
	v = h->value;
	while (*v == ' ' || *v == '\t')
		v++;
	if (*v >= '0' && *v <= '9') {
		errno = 0;
		s = strtoll(v, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		if (*end)
			return -1;
		if (errno == ERANGE || s > RETRY_AFTER_MAX_S)
			s = RETRY_AFTER_MAX_S;
		return (int)(s * 1000);
	}
	t = curl_getdate(v, NULL);
	if (t == (time_t)-1)
		return -1;
	s = (long long)t - (long long)time(NULL);
	if (s < 0)
		s = 0;
	if (s > RETRY_AFTER_MAX_S)
		s = RETRY_AFTER_MAX_S;
	return (int)(s * 1000);
}

/* "HTTP 400: <Status.message or text excerpt>" into a->error. */
static void http_error_text(CURL *curl, struct attempt *a)
{
	char text[EXCERPT_MAX + 1] = "";
	Google__Rpc__Status *st = NULL;
	struct curl_header *h;

	/* Spec: 4xx/5xx bodies are a google.rpc.Status encoded like the
	 * request; anything else (a proxy's HTML page) is quoted as text. */
	if (a->resp_len &&
	    curl_easy_header(curl, "Content-Type", 0, CURLH_HEADER, -1, &h) ==
		    CURLHE_OK &&
	    !strncasecmp(h->value, "application/x-protobuf", 22))
		st = google__rpc__status__unpack(NULL, a->resp_len, a->resp);
	if (st && st->message && *st->message)
		excerpt(text, sizeof(text), (const uint8_t *)st->message,
			strlen(st->message));
	else if (!st)
		excerpt(text, sizeof(text), a->resp, a->resp_len);
	google__rpc__status__free_unpacked(st, NULL);
	snprintf(a->error, sizeof(a->error), "HTTP %ld%s%s", a->status,
		 *text ? ": " : "", text);
}

/* Spec: retry on connection-level trouble, never on what resending cannot
 * fix (bad URL, TLS verification, unsupported scheme). */
static bool http_curl_retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

/* Options every attempt of either transport sets on t->curl. */
static void curl_setup(struct otlp_exporter *e, const struct otlp_target *t,
		       const uint8_t *body, size_t len, char *errbuf,
		       struct http_resp *resp)
{
	CURL *curl = t->curl;

	/* One handle per target keeps its connection alive between
	 * exports; reset drops the previous request's options. */
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, t->url);
	curl_easy_setopt(curl, CURLOPT_POST, 1L);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "memtel-bpf/" MEMTEL_VERSION);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)t->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM */
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, http_progress_cb);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, e);
	if (t->cainfo)
		curl_easy_setopt(curl, CURLOPT_CAINFO, t->cainfo);
	if (t->sslcert)
		curl_easy_setopt(curl, CURLOPT_SSLCERT, t->sslcert);
	if (t->sslkey)
		curl_easy_setopt(curl, CURLOPT_SSLKEY, t->sslkey);
}

/* a for a transfer that did not complete (rc != CURLE_OK). */
static void curl_failed(struct otlp_exporter *e, CURLcode rc,
			const char *errbuf, struct attempt *a)
{
	a->status = 0;
	a->error_code = -(int)rc;
	if (rc == CURLE_ABORTED_BY_CALLBACK && atomic_load(&e->stopping))
		a->outcome = ATTEMPT_ABORTED;
	else
		a->outcome = http_curl_retryable(rc) ? ATTEMPT_RETRY :
						       ATTEMPT_FAIL;
	snprintf(a->error, sizeof(a->error), "%.*s",
		 (int)sizeof(a->error) - 1,
		 *errbuf ? errbuf : curl_easy_strerror(rc));
}

/* Add "name: value" for each configured header that ours() does not
 * claim, the name lowercased if lower (HTTP/2 wants lowercase names). */
static int add_config_headers(struct otlp_target *t,
			      const struct otel_signal_config *s,
			      enum otlp_signal sig,
			      bool (*ours)(const char *name), bool lower)
{
	char *line, *p;
	size_t i;
	int ret;

	for (i = 0; i < s->n_headers; i++) {
		if (ours(s->headers[i].key)) {
			mt_debug("OTLP %s export: header %s is set by memtel-bpf; ignored",
				 otlp_signal__name(sig), s->headers[i].key);
			continue;
		}
		/* "Name;" is libcurl's way to send an empty header ("Name:"
		 * would remove it). */
		if (asprintf(&line, *s->headers[i].value ? "%s: %s" : "%s;",
			     s->headers[i].key, s->headers[i].value) < 0)
			return -ENOMEM;
		for (p = line; lower && *p != ':' && *p != ';'; p++)
			*p = tolower((unsigned char)*p);
		ret = slist_add(&t->headers, line);
		free(line);
		if (ret)
			return ret;
	}
	return 0;
}

static bool http_header_ours(const char *name)
{
	return !strcasecmp(name, "Content-Type") ||
	       !strcasecmp(name, "Content-Encoding") ||
	       !strcasecmp(name, "Content-Length");
}

/* The configured headers (but for the framing ones we set ourselves),
 * then ours; the URL as configured. */
static int http_init(struct otlp_target *t, const struct otel_signal_config *s,
		     enum otlp_signal sig)
{
	int ret;

	t->url = strdup(s->url);
	if (!t->url)
		return -ENOMEM;
	ret = add_config_headers(t, s, sig, http_header_ours, false);
	if (!ret)
		ret = slist_add(&t->headers, "Content-Type: application/x-protobuf");
	if (!ret && t->gzip)
		ret = slist_add(&t->headers, "Content-Encoding: gzip");
	/* No "Expect: 100-continue" round trip before large bodies. */
	if (!ret)
		ret = slist_add(&t->headers, "Expect:");
	return ret;
}

static void http_send(struct otlp_exporter *e, const struct otlp_target *t,
		      const uint8_t *body, size_t len, struct attempt *a)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct http_resp resp = { .a = a };
	CURL *curl = t->curl;
	CURLcode rc;

	curl_setup(e, t, body, len, errbuf, &resp);
	curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		curl_failed(e, rc, errbuf, a);
		return;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a->status);
	a->error_code = (int)a->status;
	if (a->status >= 200 && a->status < 300) {
		a->outcome = ATTEMPT_OK;
		return;
	}
	switch (a->status) {
	case 429:
	case 503:
		a->retry_after_ms = http_retry_after_ms(curl);
		/* fall through */
	case 502:
	case 504:
		a->outcome = ATTEMPT_RETRY;
		break;
	default:
		a->outcome = ATTEMPT_FAIL;
		break;
	}
	http_error_text(curl, a);
}

static const struct otlp_transport http_transport = {
	.name = "http/protobuf",
	.init = http_init,
	.send = http_send,
};

/* --- OTLP/gRPC transport ------------------------------------------------------ */

/* gRPC over HTTP/2 ("PROTOCOL-HTTP2.md" of grpc/grpc): a POST to
 * /<package>.<Service>/<Method> with content-type application/grpc and
 * te: trailers, the body one Length-Prefixed-Message (a compressed-flag
 * byte, a 4-byte big-endian length, the message), the answer the same
 * framing followed by trailers with grpc-status, grpc-message (percent-
 * encoded) and grpc-status-details-bin (a base64 google.rpc.Status). A
 * failure without a message may come as headers alone ("Trailers-Only"). */

static const char *const grpc_methods[OTLP_SIGNAL_CNT] = {
	[OTLP_METRICS] = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
	[OTLP_PROFILES] = "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export",
};

static const char *const grpc_code_names[] = {
	[OTLP_GRPC_OK] = "OK",
	[OTLP_GRPC_CANCELLED] = "CANCELLED",
	[OTLP_GRPC_UNKNOWN] = "UNKNOWN",
	[OTLP_GRPC_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
	[OTLP_GRPC_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
	[OTLP_GRPC_NOT_FOUND] = "NOT_FOUND",
	[OTLP_GRPC_ALREADY_EXISTS] = "ALREADY_EXISTS",
	[OTLP_GRPC_PERMISSION_DENIED] = "PERMISSION_DENIED",
	[OTLP_GRPC_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
	[OTLP_GRPC_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
	[OTLP_GRPC_ABORTED] = "ABORTED",
	[OTLP_GRPC_OUT_OF_RANGE] = "OUT_OF_RANGE",
	[OTLP_GRPC_UNIMPLEMENTED] = "UNIMPLEMENTED",
	[OTLP_GRPC_INTERNAL] = "INTERNAL",
	[OTLP_GRPC_UNAVAILABLE] = "UNAVAILABLE",
	[OTLP_GRPC_DATA_LOSS] = "DATA_LOSS",
	[OTLP_GRPC_UNAUTHENTICATED] = "UNAUTHENTICATED",
};

const char *otlp_grpc_code_name(int code)
{
	if (code < 0 || code >= (int)(sizeof(grpc_code_names) /
				      sizeof(grpc_code_names[0])))
		return "UNKNOWN";
	return grpc_code_names[code];
}

bool otlp_grpc_retryable(int code, bool retry_info)
{
	/* OTLP spec, "OTLP/gRPC Response", "Failures": the table of
	 * retryable codes; RESOURCE_EXHAUSTED only when the server says it
	 * can recover, which it does by adding RetryInfo ("Throttling"). */
	switch (code) {
	case OTLP_GRPC_CANCELLED:
	case OTLP_GRPC_DEADLINE_EXCEEDED:
	case OTLP_GRPC_ABORTED:
	case OTLP_GRPC_OUT_OF_RANGE:
	case OTLP_GRPC_UNAVAILABLE:
	case OTLP_GRPC_DATA_LOSS:
		return true;
	case OTLP_GRPC_RESOURCE_EXHAUSTED:
		return retry_info;
	default:
		return false;
	}
}

int otlp_grpc_timeout(int ms, char *buf, size_t len)
{
	/* TimeoutValue is at most 8 digits: the finest unit that fits,
	 * rounding up so the server never cuts a request short. */
	static const struct {
		char unit;
		int64_t ms;
	} units[] = {
		{ 'm', 1 }, { 'S', 1000 }, { 'M', 60000 }, { 'H', 3600000 },
	};
	int64_t v;
	size_t i;

	if (ms <= 0)
		return -EINVAL;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		v = ((int64_t)ms + units[i].ms - 1) / units[i].ms;
		if (v <= 99999999)
			return snprintf(buf, len, "%" PRId64 "%c", v,
					units[i].unit);
	}
	return -ERANGE; /* not reached for an int */
}

void otlp_grpc_frame_header(uint8_t hdr[OTLP_GRPC_FRAME_HDR], bool compressed,
			    uint32_t len)
{
	hdr[0] = compressed;
	hdr[1] = len >> 24;
	hdr[2] = len >> 16;
	hdr[3] = len >> 8;
	hdr[4] = len;
}

int otlp_grpc_frame(const uint8_t *msg, size_t len, bool compressed,
		    uint8_t **out, size_t *out_len)
{
	uint8_t *buf;

	if (len > UINT32_MAX)
		return -E2BIG;
	buf = malloc(OTLP_GRPC_FRAME_HDR + len);
	if (!buf)
		return -ENOMEM;
	otlp_grpc_frame_header(buf, compressed, len);
	if (len)
		memcpy(buf + OTLP_GRPC_FRAME_HDR, msg, len);
	*out = buf;
	*out_len = OTLP_GRPC_FRAME_HDR + len;
	return 0;
}

int otlp_grpc_unframe(const uint8_t *buf, size_t len, const uint8_t **msg,
		      size_t *msg_len, bool *compressed)
{
	uint32_t n;

	if (!len)
		return -ENODATA;
	if (len < OTLP_GRPC_FRAME_HDR || buf[0] > 1)
		return -EBADMSG;
	n = (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 |
	    (uint32_t)buf[3] << 8 | buf[4];
	/* A unary answer is exactly one message. */
	if (n != len - OTLP_GRPC_FRAME_HDR)
		return -EBADMSG;
	*msg = buf + OTLP_GRPC_FRAME_HDR;
	*msg_len = n;
	*compressed = buf[0];
	return 0;
}

/* RFC 4648 base64, padded or not (gRPC accepts both for -bin values).
 * Bytes written to out, or -EINVAL. */
static ssize_t base64_decode(const char *in, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	size_t n = 0;
	int bits = 0, v;
	const char *p;

	for (p = in; *p && *p != '='; p++) {
		if (*p >= 'A' && *p <= 'Z')
			v = *p - 'A';
		else if (*p >= 'a' && *p <= 'z')
			v = *p - 'a' + 26;
		else if (*p >= '0' && *p <= '9')
			v = *p - '0' + 52;
		else if (*p == '+' || *p == '-')
			v = 62;
		else if (*p == '/' || *p == '_')
			v = 63;
		else
			return -EINVAL;
		acc = acc << 6 | v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap)
				return -EINVAL;
			out[n++] = acc >> bits;
		}
	}
	while (*p == '=')
		p++;
	return *p || bits >= 6 ? -EINVAL : (ssize_t)n;
}

int otlp_grpc_retry_delay_ms(const char *details_bin)
{
	static const char type[] = "type.googleapis.com/google.rpc.RetryInfo";
	Google__Rpc__RetryInfo *ri = NULL;
	Google__Rpc__Status *st = NULL;
	uint8_t *raw = NULL;
	int64_t ms = -1;
	ssize_t n;
	size_t i;

	if (!details_bin || !*details_bin)
		return -1;
	raw = malloc(strlen(details_bin) / 4 * 3 + 3);
	if (!raw)
		return -1;
	n = base64_decode(details_bin, raw, strlen(details_bin) / 4 * 3 + 3);
	if (n < 0)
		goto cleanup;
	st = google__rpc__status__unpack(NULL, n, raw);
	for (i = 0; st && i < st->n_details; i++) {
		if (!st->details[i]->type_url ||
		    strcmp(st->details[i]->type_url, type))
			continue;
		ri = google__rpc__retry_info__unpack(NULL, st->details[i]->value.len,
						     st->details[i]->value.data);
		if (!ri)
			continue;
		ms = 0; /* present, even without a delay: retry at once */
		if (ri->retry_delay) {
			if (ri->retry_delay->seconds > RETRY_AFTER_MAX_S)
				ms = (int64_t)RETRY_AFTER_MAX_S * 1000;
			else if (ri->retry_delay->seconds >= 0)
				ms = ri->retry_delay->seconds * 1000 +
				     (ri->retry_delay->nanos > 0 ?
				      ri->retry_delay->nanos / 1000000 : 0);
		}
		break;
	}
cleanup:
	google__rpc__retry_info__free_unpacked(ri, NULL);
	google__rpc__status__free_unpacked(st, NULL);
	free(raw);
	return (int)ms;
}

/* What the headers and trailers of one gRPC answer said. */
struct grpc_resp {
	struct http_resp body;
	int code;			/* grpc-status, -1 if none */
	bool grpc_ctype;		/* content-type: application/grpc... */
	bool details_cut;		/* grpc-status-details-bin too long */
	char encoding[32];		/* grpc-encoding */
	char message[GRPC_MESSAGE_MAX];	/* grpc-message, still encoded */
	char details[GRPC_DETAILS_MAX];	/* grpc-status-details-bin */
};

/* Copy a header's value (up to \r\n) into dst; false if it was cut. */
static bool header_value(char *dst, size_t dlen, const char *v, size_t vlen)
{
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
			v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	while (vlen && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	snprintf(dst, dlen, "%.*s", (int)vlen, v);
	return vlen < dlen;
}

/* libcurl hands every header line here, and the trailers too, after the
 * body (for HTTP/2 since 7.64): a later value (trailer) wins. */
static size_t grpc_header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct grpc_resp *r = arg;
	size_t n = size * nmemb, nlen;
	const char *colon = memchr(data, ':', n);
	char value[64];
	char *end;
	long v;

	if (!colon)
		return n; /* status line or the blank line */
	nlen = colon - data;
	colon++;
#define IS(name) (nlen == sizeof(name) - 1 && !strncasecmp(data, name, nlen))
	if (IS("grpc-status")) {
		header_value(value, sizeof(value), colon, n - (colon - data));
		errno = 0;
		v = strtol(value, &end, 10);
		/* gRPC: a code we do not know is UNKNOWN. */
		if (end == value || *end || errno || v < 0 ||
		    v > OTLP_GRPC_UNAUTHENTICATED)
			v = OTLP_GRPC_UNKNOWN;
		r->code = (int)v;
	} else if (IS("grpc-message")) {
		header_value(r->message, sizeof(r->message), colon,
			     n - (colon - data));
	} else if (IS("grpc-status-details-bin")) {
		r->details_cut = !header_value(r->details, sizeof(r->details),
					       colon, n - (colon - data));
	} else if (IS("grpc-encoding")) {
		header_value(r->encoding, sizeof(r->encoding), colon,
			     n - (colon - data));
	} else if (IS("content-type")) {
		header_value(value, sizeof(value), colon, n - (colon - data));
		r->grpc_ctype = !strncasecmp(value, "application/grpc", 16);
	}
#undef IS
	return n;
}

/* grpc-message is percent-encoded; a malformed escape is kept as it is
 * (gRPC: never fail a call over its message). */
static void grpc_message_decode(char *s)
{
	char *w = s;
	unsigned int c;

	for (; *s; s++) {
		if (*s == '%' && isxdigit((unsigned char)s[1]) &&
		    isxdigit((unsigned char)s[2]) &&
		    sscanf(s + 1, "%2x", &c) == 1 && c) {
			*w++ = (char)c;
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/* gRPC's mapping of an HTTP status that came without grpc-status
 * ("http-grpc-status-mapping.md" of grpc/grpc). */
static int grpc_code_of_http(long status)
{
	switch (status) {
	case 400:
		return OTLP_GRPC_INTERNAL;
	case 401:
		return OTLP_GRPC_UNAUTHENTICATED;
	case 403:
		return OTLP_GRPC_PERMISSION_DENIED;
	case 404:
		return OTLP_GRPC_UNIMPLEMENTED;
	case 429:
	case 502:
	case 503:
	case 504:
		return OTLP_GRPC_UNAVAILABLE;
	default:
		return OTLP_GRPC_UNKNOWN;
	}
}

/* Inflate a compressed answer message (gzip or deflate, i.e. zlib) into
 * a new buffer of at most RESP_MAX bytes. */
static int grpc_inflate(const uint8_t *in, size_t len, uint8_t **out,
			size_t *out_len)
{
	z_stream zs = {};
	uint8_t *buf;
	int ret, zr;

	buf = malloc(RESP_MAX);
	if (!buf)
		return -ENOMEM;
	/* windowBits 15 + 32: either header, detected. */
	if (inflateInit2(&zs, 15 + 32) != Z_OK) {
		free(buf);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = len;
	zs.next_out = buf;
	zs.avail_out = RESP_MAX;
	zr = inflate(&zs, Z_FINISH);
	if (zr == Z_STREAM_END) {
		*out = buf;
		*out_len = zs.total_out;
		buf = NULL;
		ret = 0;
	} else {
		ret = zr == Z_BUF_ERROR ? -E2BIG : -EBADMSG;
	}
	inflateEnd(&zs);
	free(buf);
	return ret;
}

/* Replace a's framed answer body by the message it carries (empty if
 * none or malformed: the call succeeded all the same). */
static void grpc_take_message(struct attempt *a, const struct grpc_resp *r)
{
	const uint8_t *msg;
	uint8_t *plain = NULL;
	size_t mlen, plen = 0;
	bool compressed;
	int ret;

	ret = otlp_grpc_unframe(a->resp, a->resp_len, &msg, &mlen, &compressed);
	if (!ret && compressed) {
		if (!strcasecmp(r->encoding, "gzip") ||
		    !strcasecmp(r->encoding, "deflate"))
			ret = grpc_inflate(msg, mlen, &plain, &plen);
		else
			ret = -EPROTO;
		msg = plain;
		mlen = plen;
	}
	if (ret) {
		if (ret != -ENODATA)
			mt_debug("OTLP gRPC answer message unreadable (%s); ignored",
				 strerror(-ret));
		a->resp_len = 0;
		return;
	}
	memmove(a->resp, msg, mlen);
	a->resp_len = mlen;
	free(plain);
}

static bool grpc_header_ours(const char *name)
{
	static const char *const reserved[] = {
		"content-type", "content-encoding", "content-length", "te",
		"host", "connection", "keep-alive", "proxy-connection",
		"transfer-encoding", "upgrade", "expect",
	};
	size_t i;

	/* gRPC reserves the grpc- prefix for itself. */
	if (!strncasecmp(name, "grpc-", 5))
		return true;
	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (!strcasecmp(name, reserved[i]))
			return true;
	return false;
}

/* URL: the endpoint's scheme and authority plus the method path (gRPC
 * has no use for a path in the target, so one is ignored); headers: the
 * configured ones as metadata, then gRPC's own. */
static int grpc_init(struct otlp_target *t, const struct otel_signal_config *s,
		     enum otlp_signal sig)
{
	const char *auth = strstr(s->url, "://");
	char line[64], tmo[16];
	size_t alen;
	int ret;

	auth = auth ? auth + 3 : s->url;
	alen = auth - s->url + strcspn(auth, "/?#");
	if (s->url[alen] && strcmp(s->url + alen, "/"))
		mt_debug("OTLP %s export: gRPC ignores the endpoint's path '%s'",
			 otlp_signal__name(sig), s->url + alen);
	if (asprintf(&t->url, "%.*s%s", (int)alen, s->url,
		     grpc_methods[sig]) < 0) {
		t->url = NULL;
		return -ENOMEM;
	}
	ret = add_config_headers(t, s, sig, grpc_header_ours, true);
	if (!ret)
		ret = slist_add(&t->headers, "content-type: application/grpc");
	if (!ret)
		ret = slist_add(&t->headers, "te: trailers");
	if (!ret)
		ret = slist_add(&t->headers, "grpc-accept-encoding: identity,deflate,gzip");
	if (!ret && t->gzip)
		ret = slist_add(&t->headers, "grpc-encoding: gzip");
	/* The server's deadline, so it can give up when we do. */
	if (!ret && otlp_grpc_timeout(t->timeout_ms, tmo, sizeof(tmo)) > 0) {
		snprintf(line, sizeof(line), "grpc-timeout: %s", tmo);
		ret = slist_add(&t->headers, line);
	}
	/* libcurl's default "accept: * / *" means nothing to gRPC. */
	if (!ret)
		ret = slist_add(&t->headers, "accept:");
	return ret;
}

static void grpc_send(struct otlp_exporter *e, const struct otlp_target *t,
		      const uint8_t *body, size_t len, struct attempt *a)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	char text[EXCERPT_MAX + 1] = "";
	struct grpc_resp *r;
	CURL *curl = t->curl;
	uint8_t *framed = NULL;
	size_t flen;
	long version = 0;
	int ret, delay;
	CURLcode rc;

	/* t->gzip: body is already compressed (deliver()). */
	r = calloc(1, sizeof(*r));
	ret = r ? otlp_grpc_frame(body, len, t->gzip, &framed, &flen) : -ENOMEM;
	if (ret) {
		a->outcome = ATTEMPT_FAIL;
		a->error_code = ret;
		snprintf(a->error, sizeof(a->error), "gRPC framing: %s",
			 strerror(-ret));
		goto cleanup;
	}
	r->body.a = a;
	r->code = -1;
	curl_setup(e, t, framed, flen, errbuf, &r->body);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, grpc_header_cb);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
	/* h2c with prior knowledge, as gRPC clients do: no Upgrade dance;
	 * over TLS, h2 through ALPN. */
	if (strncasecmp(t->url, "https://", 8)) {
		curl_easy_setopt(curl, CURLOPT_HTTP_VERSION,
				 (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
		/* libcurl before 8.0.0 fails every request on a reused
		 * prior-knowledge connection with "Error in the HTTP2
		 * framing layer" (curl/curl#10634, fixed by #10643). */
		if (curl_version_info(CURLVERSION_NOW)->version_num < 0x080000)
			curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
	} else {
		curl_easy_setopt(curl, CURLOPT_HTTP_VERSION,
				 (long)CURL_HTTP_VERSION_2TLS);
	}
	/* Through a proxy, HTTP/2 needs a CONNECT tunnel (as gRPC does). */
	curl_easy_setopt(curl, CURLOPT_HTTPPROXYTUNNEL, 1L);

	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		curl_failed(e, rc, errbuf, a);
		goto cleanup;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a->status);
	curl_easy_getinfo(curl, CURLINFO_HTTP_VERSION, &version);
	if (version != CURL_HTTP_VERSION_2_0) {
		a->outcome = ATTEMPT_FAIL;
		a->error_code = (int)a->status;
		snprintf(a->error, sizeof(a->error),
			 "HTTP %ld over HTTP/1: the server does not speak HTTP/2 (not a gRPC endpoint?)",
			 a->status);
		goto cleanup;
	}
	if (r->code < 0) {
		/* No grpc-status at all: a proxy's answer, or a server that
		 * died mid-call. */
		if (a->status != 200)
			r->code = grpc_code_of_http(a->status);
		else
			r->code = OTLP_GRPC_INTERNAL;
		snprintf(r->message, sizeof(r->message),
			 "HTTP %ld without grpc-status%s", a->status,
			 r->grpc_ctype ? "" : " (not a gRPC answer)");
	}
	a->error_code = GRPC_ERROR_CODE_BASE + r->code;
	if (r->code == OTLP_GRPC_OK) {
		a->outcome = ATTEMPT_OK;
		grpc_take_message(a, r);
		goto cleanup;
	}
	delay = r->details_cut ? -1 : otlp_grpc_retry_delay_ms(r->details);
	if (otlp_grpc_retryable(r->code, delay >= 0)) {
		a->outcome = ATTEMPT_RETRY;
		a->retry_after_ms = delay;
	} else {
		a->outcome = ATTEMPT_FAIL;
	}
	grpc_message_decode(r->message);
	excerpt(text, sizeof(text), (const uint8_t *)r->message,
		strlen(r->message));
	snprintf(a->error, sizeof(a->error), "gRPC %s (%d)%s%s",
		 otlp_grpc_code_name(r->code), r->code, *text ? ": " : "", text);
cleanup:
	free(framed);
	free(r);
}

static const struct otlp_transport grpc_transport = {
	.name = "grpc",
	.init = grpc_init,
	.send = grpc_send,
};

/* --- delivery --------------------------------------------------------------- */

/* Sleep ms unless the exporter stops first; false if it did. */
static bool sleep_unless_stopping(struct otlp_exporter *e, int ms)
{
	struct timespec ts;
	bool stopping;

	deadline_after(&ts, ms);
	pthread_mutex_lock(&e->lock);
	while (!atomic_load(&e->stopping) &&
	       pthread_cond_timedwait(&e->work, &e->lock, &ts) != ETIMEDOUT)
		;
	stopping = atomic_load(&e->stopping);
	pthread_mutex_unlock(&e->lock);
	return !stopping;
}

/* Log a 2xx answer's partial_success (spec: not to be retried) and return
 * how many items the server rejected. */
static int64_t check_partial_success(enum otlp_signal sig,
				     const struct attempt *a)
{
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse *mr = NULL;
	Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceResponse *pr = NULL;
	char msg[EXCERPT_MAX + 1] = "";
	const char *what = "data points";
	const char *text = NULL;
	int64_t rejected = 0;

	if (!a->resp_len)
		return 0;
	if (sig == OTLP_METRICS) {
		mr = opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__unpack(
			NULL, a->resp_len, a->resp);
		if (mr && mr->partial_success) {
			rejected = mr->partial_success->rejected_data_points;
			text = mr->partial_success->error_message;
		}
	} else {
		what = "profiles";
		pr = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_response__unpack(
			NULL, a->resp_len, a->resp);
		if (pr && pr->partial_success) {
			rejected = pr->partial_success->rejected_profiles;
			text = pr->partial_success->error_message;
		}
	}
	if (!mr && !pr)
		mt_debug("OTLP %s export: the 2xx answer is not an export response; ignored",
			 otlp_signal__name(sig));
	if (text)
		excerpt(msg, sizeof(msg), (const uint8_t *)text, strlen(text));
	if (rejected > 0)
		mt_err("OTLP %s export: the collector rejected %" PRId64 " %s%s%s",
		       otlp_signal__name(sig), rejected, what, *msg ? ": " : "", msg);
	else if (*msg)
		mt_err("OTLP %s export: the collector warns: %s",
		       otlp_signal__name(sig), msg);
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__free_unpacked(mr, NULL);
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_response__free_unpacked(pr, NULL);
	return rejected > 0 ? rejected : 0;
}

/* Record a lost request; log it unless the same error was just logged. */
static void note_loss(struct otlp_exporter *e, enum otlp_signal sig,
		      const struct attempt *a, bool retryable, int attempts)
{
	char line[sizeof(e->stats.last_error)];
	bool log;

	snprintf(line, sizeof(line), "%s%s", a->error,
		 retryable ? " (gave up retrying)" : "");
	pthread_mutex_lock(&e->lock);
	if (retryable)
		e->stats.dropped_after_retries++;
	else
		e->stats.failed++;
	snprintf(e->stats.last_error, sizeof(e->stats.last_error), "%s", line);
	log = !e->failing || e->logged_code != a->error_code;
	if (log) {
		e->failing = true;
		e->logged_code = a->error_code;
		e->lost_since_log = 0;
	} else {
		e->lost_since_log++;
	}
	pthread_mutex_unlock(&e->lock);
	if (log)
		mt_err("OTLP %s export to %s failed after %d attempt%s: %s",
		       otlp_signal__name(sig), e->target[sig].log_url, attempts,
		       attempts == 1 ? "" : "s", line);
	else
		mt_debug("OTLP %s export failed again: %s",
			 otlp_signal__name(sig), line);
}

static void note_sent(struct otlp_exporter *e, enum otlp_signal sig,
		      int64_t rejected)
{
	uint64_t lost = 0;
	bool recovered;

	pthread_mutex_lock(&e->lock);
	e->stats.sent++;
	e->stats.partial_success_rejected += rejected;
	recovered = e->failing;
	if (recovered)
		lost = e->lost_since_log;
	e->failing = false;
	pthread_mutex_unlock(&e->lock);
	if (recovered)
		mt_info("OTLP %s export: delivering again (%" PRIu64 " more request%s lost meanwhile)",
			otlp_signal__name(sig), lost, lost == 1 ? "" : "s");
}

/* Send one request until it is delivered, refused, out of attempts or
 * time (true: done with it), or the exporter stops (false). */
static bool deliver(struct otlp_exporter *e, struct otlp_entry *en)
{
	const struct otlp_target *t = &e->target[en->sig];
	struct otlp_retry_policy p;
	uint8_t *gz = NULL;
	const uint8_t *body = en->body;
	size_t len = en->len;
	struct attempt a;
	uint64_t start;
	int attempts = 0, backoff, wait, ret;
	bool done = true;

	pthread_mutex_lock(&e->lock);
	p = e->policy;
	pthread_mutex_unlock(&e->lock);
	backoff = p.initial_backoff_ms;

	if (t->gzip) {
		ret = gzip_body(en->body, en->len, &gz, &len);
		if (ret) {
			memset(&a, 0, sizeof(a));
			a.error_code = ret;
			snprintf(a.error, sizeof(a.error), "gzip: %s",
				 strerror(-ret));
			note_loss(e, en->sig, &a, false, 0);
			return true;
		}
		body = gz;
	}

	start = now_ms();
	for (;;) {
		memset(&a, 0, sizeof(a));
		a.retry_after_ms = -1;
		t->transport->send(e, t, body, len, &a);
		attempts++;
		if (a.outcome == ATTEMPT_OK) {
			note_sent(e, en->sig, check_partial_success(en->sig, &a));
			break;
		}
		if (a.outcome == ATTEMPT_ABORTED) {
			done = false;
			break;
		}
		if (a.outcome == ATTEMPT_FAIL) {
			note_loss(e, en->sig, &a, false, attempts);
			break;
		}
		/* Spec: a server's Retry-After overrides our backoff. */
		if (a.retry_after_ms >= 0) {
			wait = a.retry_after_ms;
		} else {
			wait = backoff / 2 + rand_r(&e->seed) % (backoff / 2 + 1);
			backoff = backoff > p.max_backoff_ms / 2 ?
				  p.max_backoff_ms : backoff * 2;
		}
		if (attempts >= p.max_attempts ||
		    now_ms() + wait > start + (uint64_t)p.budget_ms) {
			note_loss(e, en->sig, &a, true, attempts);
			break;
		}
		mt_debug("OTLP %s export: %s; retry %d in %d ms",
			 otlp_signal__name(en->sig), a.error, attempts, wait);
		free(a.resp);
		a.resp = NULL;
		if (!sleep_unless_stopping(e, wait)) {
			done = false;
			break;
		}
		pthread_mutex_lock(&e->lock);
		e->stats.retried++;
		pthread_mutex_unlock(&e->lock);
	}
	free(a.resp);
	free(gz);
	return done;
}

static void *worker(void *arg)
{
	struct otlp_exporter *e = arg;
	struct otlp_entry en;
	bool done;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		while (!atomic_load(&e->stopping) && !e->len)
			pthread_cond_wait(&e->work, &e->lock);
		if (atomic_load(&e->stopping))
			break;
		en = e->ring[e->head];
		e->head = (e->head + 1) % e->cap;
		e->len--;
		e->busy = true;
		pthread_mutex_unlock(&e->lock);

		done = deliver(e, &en);

		pthread_mutex_lock(&e->lock);
		e->busy = false;
		free(en.body);
		if (!done) {
			e->aborted++; /* stopping: free() reports it */
			break;
		}
		if (!e->len)
			pthread_cond_broadcast(&e->idle);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/* --- public API ------------------------------------------------------------- */

static void target_fini(struct otlp_target *t)
{
	curl_easy_cleanup(t->curl);
	free(t->url);
	free(t->log_url);
	curl_slist_free_all(t->headers);
	free(t->cainfo);
	free(t->sslcert);
	free(t->sslkey);
}

static char *strdup_or_null(const char *s, int *ret)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*ret = -ENOMEM;
	return d;
}

/* sig's destination from c: the settings both transports use, a libcurl
 * handle, then the transport's URL and headers. curl_global_get() first. */
static int target_init(struct otlp_target *t, const struct otel_config *c,
		       enum otlp_signal sig)
{
	const struct otel_signal_config *s = &c->signal[sig];
	char red[512];
	int ret = 0;

	t->transport = s->protocol == OTEL_PROTOCOL_GRPC ? &grpc_transport :
							  &http_transport;
	t->cainfo = strdup_or_null(s->certificate, &ret);
	t->sslcert = strdup_or_null(s->client_certificate, &ret);
	t->sslkey = strdup_or_null(s->client_key, &ret);
	t->timeout_ms = s->timeout_ms;
	t->gzip = s->compression == OTEL_COMPRESSION_GZIP;
	if (ret)
		return ret;
	t->curl = curl_easy_init();
	if (!t->curl)
		return -ENOMEM;
	ret = t->transport->init(t, s, sig);
	if (ret)
		return ret;
	/* Logs name the URL used (gRPC: the method's), sans credentials. */
	otel_redact_url(t->url, red, sizeof(red));
	t->log_url = strdup_or_null(red, &ret);
	return ret;
}

struct otlp_exporter *otlp_exporter__new(const struct otel_config *c,
					 size_t queue_max)
{
	struct otlp_exporter *e = NULL;
	pthread_condattr_t ca;
	bool curl_ref = false, any = false;
	char hdrs[512];
	int i, ret;

	if (!c || !queue_max) {
		ret = -EINVAL;
		goto cleanup;
	}
	for (i = 0; i < OTLP_SIGNAL_CNT; i++)
		any |= otel_config__enabled(c, i);
	if (!any) {
		ret = -EINVAL;
		goto cleanup;
	}

	e = calloc(1, sizeof(*e));
	if (!e) {
		ret = -ENOMEM;
		goto cleanup;
	}
	e->cap = queue_max;
	e->policy.initial_backoff_ms = OTLP_INITIAL_BACKOFF_MS;
	e->policy.max_backoff_ms = OTLP_MAX_BACKOFF_MS;
	e->policy.max_attempts = OTLP_MAX_ATTEMPTS;
	e->policy.budget_ms = c->export_timeout_ms > 0 ?
			      c->export_timeout_ms : OTEL_DEFAULT_EXPORT_TIMEOUT_MS;
	e->seed = (unsigned int)(time(NULL) ^ getpid() ^ (uintptr_t)e);
	atomic_init(&e->stopping, false);
	pthread_mutex_init(&e->lock, NULL);
	/* Waits are against CLOCK_MONOTONIC: immune to clock changes. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->work, &ca);
	pthread_cond_init(&e->idle, &ca);
	pthread_condattr_destroy(&ca);

	e->ring = calloc(queue_max, sizeof(*e->ring));
	if (!e->ring) {
		ret = -ENOMEM;
		goto cleanup;
	}
	ret = curl_global_get();
	if (ret)
		goto cleanup;
	curl_ref = true;
	for (i = 0; i < OTLP_SIGNAL_CNT; i++) {
		if (!otel_config__enabled(c, i))
			continue;
		ret = target_init(&e->target[i], c, i);
		if (ret)
			goto cleanup;
		otel_config__redacted_headers(c, i, hdrs, sizeof(hdrs));
		mt_debug("OTLP %s export: %s to %s, headers: %s, timeout %d ms%s",
			 otlp_signal__name(i), e->target[i].transport->name,
			 e->target[i].log_url, hdrs, e->target[i].timeout_ms,
			 e->target[i].gzip ? ", gzip" : "");
	}
	ret = -pthread_create(&e->thread, NULL, worker, e);
	if (ret)
		goto cleanup;
	e->thread_started = true;
	return e;

cleanup:
	if (e) {
		for (i = 0; i < OTLP_SIGNAL_CNT; i++)
			target_fini(&e->target[i]);
		free(e->ring);
		pthread_mutex_destroy(&e->lock);
		pthread_cond_destroy(&e->work);
		pthread_cond_destroy(&e->idle);
		free(e);
	}
	if (curl_ref)
		curl_global_put();
	errno = -ret;
	return NULL;
}

void otlp_exporter__free(struct otlp_exporter *e)
{
	size_t dropped;
	int i;

	if (!e)
		return;
	pthread_mutex_lock(&e->lock);
	atomic_store(&e->stopping, true);
	pthread_cond_broadcast(&e->work);
	pthread_mutex_unlock(&e->lock);
	if (e->thread_started)
		pthread_join(e->thread, NULL);

	dropped = e->len + e->aborted;
	while (e->len) {
		free(e->ring[e->head].body);
		e->head = (e->head + 1) % e->cap;
		e->len--;
	}
	if (dropped)
		mt_err("OTLP export: %zu request%s still queued at exit dropped",
		       dropped, dropped == 1 ? "" : "s");

	for (i = 0; i < OTLP_SIGNAL_CNT; i++)
		target_fini(&e->target[i]);
	curl_global_put();
	free(e->ring);
	pthread_mutex_destroy(&e->lock);
	pthread_cond_destroy(&e->work);
	pthread_cond_destroy(&e->idle);
	free(e);
}

void otlp_exporter__set_retry_policy(struct otlp_exporter *e,
				     const struct otlp_retry_policy *p)
{
	pthread_mutex_lock(&e->lock);
	if (p->initial_backoff_ms > 0)
		e->policy.initial_backoff_ms = p->initial_backoff_ms;
	if (p->max_backoff_ms > 0)
		e->policy.max_backoff_ms = p->max_backoff_ms;
	if (p->max_attempts > 0)
		e->policy.max_attempts = p->max_attempts;
	if (p->budget_ms > 0)
		e->policy.budget_ms = p->budget_ms;
	pthread_mutex_unlock(&e->lock);
}

int otlp_exporter__enqueue(struct otlp_exporter *e, enum otlp_signal sig,
			   uint8_t *body, size_t len)
{
	struct otlp_entry *slot;

	if (!e || !body || (int)sig < 0 || sig >= OTLP_SIGNAL_CNT) {
		free(body);
		return -EINVAL;
	}
	if (!e->target[sig].url) {
		free(body);
		return -EDESTADDRREQ;
	}
	pthread_mutex_lock(&e->lock);
	if (e->len == e->cap) {
		/* Newest data is worth most: push out the oldest. */
		free(e->ring[e->head].body);
		e->head = (e->head + 1) % e->cap;
		e->len--;
		e->stats.dropped_queue_full++;
	}
	slot = &e->ring[(e->head + e->len) % e->cap];
	slot->sig = sig;
	slot->body = body;
	slot->len = len;
	e->len++;
	pthread_cond_signal(&e->work);
	pthread_mutex_unlock(&e->lock);
	return 0;
}

int otlp_exporter__flush(struct otlp_exporter *e, int deadline_ms)
{
	struct timespec ts;
	int ret = 0;

	if (!e)
		return -EINVAL;
	if (deadline_ms >= 0)
		deadline_after(&ts, deadline_ms);
	pthread_mutex_lock(&e->lock);
	while ((e->len || e->busy) && !ret) {
		if (deadline_ms < 0)
			pthread_cond_wait(&e->idle, &e->lock);
		else
			ret = -pthread_cond_timedwait(&e->idle, &e->lock, &ts);
	}
	if (e->len || e->busy)
		ret = -ETIMEDOUT;
	pthread_mutex_unlock(&e->lock);
	return ret;
}

void otlp_exporter__stats(const struct otlp_exporter *e,
			  struct otlp_export_stats *s)
{
	struct otlp_exporter *m = (struct otlp_exporter *)e;

	pthread_mutex_lock(&m->lock);
	*s = e->stats;
	s->queued = e->len + e->busy;
	pthread_mutex_unlock(&m->lock);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * otlp_export.c - the OTLP exporter: a bounded FIFO of serialized export
 * requests filled by the session under a mutex, and one thread that sends
 * them in order. Delivery follows the OTLP specification ("OTLP/HTTP
 * Response", "Failures", "Throttling"): 2xx is success and its body an
 * Export*ServiceResponse whose partial_success is logged, not retried;
 * 429/502/503/504 and connection failures or timeouts are retried after
 * Retry-After (429/503) or a jittered exponential backoff, within a number
 * of attempts and a time budget; every other answer is final, and its
 * google.rpc.Status message (or a text excerpt) is logged. Logging is
 * rate-limited to state changes so an unreachable collector does not flood
 * stderr. The wire work sits behind struct otlp_transport: OTLP/HTTP via
 * libcurl now, gRPC to come.
 */
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

#include "google_rpc_status.pb-c.h"
#include "log.h"
#include "otlp_export.h"
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
/* Retry-After values beyond this are taken as this (a day). */
#define RETRY_AFTER_MAX_S 86400

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
	int retry_after_ms;	/* server's Retry-After, -1 if none */
	int error_code;		/* status or transport error, for log dedup */
	char error[200];	/* set unless ATTEMPT_OK */
	uint8_t *resp;		/* response body, at most RESP_MAX bytes */
	size_t resp_len;
};

/* One signal's destination, copied out of the config. */
struct otlp_target {
	char *url;		/* NULL: signal not exported */
	char *log_url;		/* url without credentials */
	struct curl_slist *headers;
	int timeout_ms;
	bool gzip;
	char *cainfo;
	char *sslcert;
	char *sslkey;
};

struct otlp_exporter;

/* A wire protocol: init/fini in new()/free(), send() once per attempt from
 * the exporter's thread. gRPC (a later issue) plugs in here with its own
 * status mapping into struct attempt; queueing, retries, partial-success
 * handling and statistics are shared. */
struct otlp_transport {
	const char *name;
	int (*init)(struct otlp_exporter *e);
	void (*send)(struct otlp_exporter *e, const struct otlp_target *t,
		     const uint8_t *body, size_t len, struct attempt *a);
	void (*fini)(struct otlp_exporter *e);
};

struct otlp_entry {
	enum otlp_signal sig;
	uint8_t *body;
	size_t len;
};

struct otlp_exporter {
	const struct otlp_transport *transport;
	struct otlp_target target[OTLP_SIGNAL_CNT];
	struct otlp_retry_policy policy;
	CURL *curl;			/* HTTP transport; thread-only */
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

static int http_init(struct otlp_exporter *e)
{
	e->curl = curl_easy_init();
	return e->curl ? 0 : -ENOMEM;
}

static void http_fini(struct otlp_exporter *e)
{
	curl_easy_cleanup(e->curl);
	e->curl = NULL;
}

static void http_send(struct otlp_exporter *e, const struct otlp_target *t,
		      const uint8_t *body, size_t len, struct attempt *a)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct http_resp resp = { .a = a };
	CURL *curl = e->curl;
	CURLcode rc;

	/* One handle for every request keeps the connection alive between
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
	curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, http_progress_cb);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, e);
	if (t->cainfo)
		curl_easy_setopt(curl, CURLOPT_CAINFO, t->cainfo);
	if (t->sslcert)
		curl_easy_setopt(curl, CURLOPT_SSLCERT, t->sslcert);
	if (t->sslkey)
		curl_easy_setopt(curl, CURLOPT_SSLKEY, t->sslkey);

	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
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
	.fini = http_fini,
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
		e->transport->send(e, t, body, len, &a);
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
	free(t->url);
	free(t->log_url);
	curl_slist_free_all(t->headers);
	free(t->cainfo);
	free(t->sslcert);
	free(t->sslkey);
}

static int slist_add(struct curl_slist **l, const char *s)
{
	struct curl_slist *n = curl_slist_append(*l, s);

	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
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

/* Headers of every request to this target: the configured ones (but for
 * the framing ones we set ourselves), then ours. */
static int target_init(struct otlp_target *t, const struct otel_config *c,
		       enum otlp_signal sig)
{
	static const char *const ours[] = {
		"Content-Type", "Content-Encoding", "Content-Length",
	};
	const struct otel_signal_config *s = &c->signal[sig];
	char red[512];
	char *line;
	size_t i, j;
	int ret = 0;

	t->url = strdup_or_null(s->url, &ret);
	otel_redact_url(s->url, red, sizeof(red));
	t->log_url = strdup_or_null(red, &ret);
	t->cainfo = strdup_or_null(s->certificate, &ret);
	t->sslcert = strdup_or_null(s->client_certificate, &ret);
	t->sslkey = strdup_or_null(s->client_key, &ret);
	t->timeout_ms = s->timeout_ms;
	t->gzip = s->compression == OTEL_COMPRESSION_GZIP;
	if (ret)
		return ret;
	for (i = 0; i < s->n_headers; i++) {
		for (j = 0; j < sizeof(ours) / sizeof(ours[0]); j++)
			if (!strcasecmp(s->headers[i].key, ours[j]))
				break;
		if (j < sizeof(ours) / sizeof(ours[0])) {
			mt_debug("OTLP %s export: header %s is set by memtel-bpf; ignored",
				 otlp_signal__name(sig), s->headers[i].key);
			continue;
		}
		/* "Name;" is libcurl's way to send an empty header ("Name:"
		 * would remove it). */
		if (asprintf(&line, *s->headers[i].value ? "%s: %s" : "%s;",
			     s->headers[i].key, s->headers[i].value) < 0)
			return -ENOMEM;
		ret = slist_add(&t->headers, line);
		free(line);
		if (ret)
			return ret;
	}
	ret = slist_add(&t->headers, "Content-Type: application/x-protobuf");
	if (!ret && t->gzip)
		ret = slist_add(&t->headers, "Content-Encoding: gzip");
	/* No "Expect: 100-continue" round trip before large bodies. */
	if (!ret)
		ret = slist_add(&t->headers, "Expect:");
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
	for (i = 0; i < OTLP_SIGNAL_CNT; i++) {
		if (!otel_config__enabled(c, i))
			continue;
		any = true;
		if (c->signal[i].protocol == OTEL_PROTOCOL_GRPC) {
			/* The gRPC transport (HTTP/2 + gRPC framing) is a
			 * later issue; it will be picked here. */
			mt_err("OTLP %s export: the grpc protocol is not built yet; use http/protobuf",
			       otlp_signal__name(i));
			ret = -EPROTONOSUPPORT;
			goto cleanup;
		}
	}
	if (!any) {
		ret = -EINVAL;
		goto cleanup;
	}

	e = calloc(1, sizeof(*e));
	if (!e) {
		ret = -ENOMEM;
		goto cleanup;
	}
	e->transport = &http_transport;
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
	for (i = 0; i < OTLP_SIGNAL_CNT; i++) {
		if (!otel_config__enabled(c, i))
			continue;
		ret = target_init(&e->target[i], c, i);
		if (ret)
			goto cleanup;
		otel_config__redacted_headers(c, i, hdrs, sizeof(hdrs));
		mt_debug("OTLP %s export: %s to %s, headers: %s, timeout %d ms%s",
			 otlp_signal__name(i), e->transport->name,
			 e->target[i].log_url, hdrs, e->target[i].timeout_ms,
			 e->target[i].gzip ? ", gzip" : "");
	}

	ret = curl_global_get();
	if (ret)
		goto cleanup;
	curl_ref = true;
	ret = e->transport->init(e);
	if (ret)
		goto cleanup;
	ret = -pthread_create(&e->thread, NULL, worker, e);
	if (ret)
		goto cleanup;
	e->thread_started = true;
	return e;

cleanup:
	if (e) {
		if (curl_ref)
			e->transport->fini(e);
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

	e->transport->fini(e);
	curl_global_put();
	for (i = 0; i < OTLP_SIGNAL_CNT; i++)
		target_fini(&e->target[i]);
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

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * otlp_export.c - the OTLP exporter: a bounded FIFO of serialized export
 * requests filled by the session under a mutex, and one thread that sends
 * them in order through the signal's transport (otlp_http.c, otlp_grpc.c).
 * Delivery follows the OTLP specification ("Failures", "Throttling"):
 * success is HTTP 2xx or gRPC OK, and its Export*ServiceResponse's
 * partial_success is logged, not retried; transient failures (the
 * transport says which) are retried after the server's Retry-After or
 * RetryInfo, else a jittered exponential backoff, within a number of
 * attempts and a time budget; any other answer is final. Logging is
 * rate-limited to state changes so an unreachable collector does not
 * flood stderr. Every wait is bounded: an attempt by the signal's timeout,
 * a backoff by the budget, a flush by its caller's deadline, and free()
 * cuts any of them short.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "util/clock.h"
#include "util/log.h"
#include "sinks/otlp/otlp_export.h"
#include "sinks/otlp/otlp_transport.h"
#include "otlp_metrics_service.pb-c.h"
#include "otlp_profiles_service.pb-c.h"

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

/* Sleep ms unless the exporter stops first; false if it did. */
static bool sleep_unless_stopping(struct otlp_exporter *e, int ms)
{
	struct timespec ts;
	bool stopping;

	ts = clock__mono_after_ms(ms > 0 ? (uint64_t)ms : 0);
	pthread_mutex_lock(&e->lock);
	while (!atomic_load(&e->stopping) &&
	       pthread_cond_timedwait(&e->work, &e->lock, &ts) != ETIMEDOUT)
		;
	stopping = atomic_load(&e->stopping);
	pthread_mutex_unlock(&e->lock);
	return !stopping;
}

int otlp_export_partial_success(enum otlp_signal sig, const uint8_t *resp,
				size_t len, int64_t *rejected, char *msg,
				size_t msglen)
{
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse *mr = NULL;
	Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceResponse *pr = NULL;
	const char *text = NULL;
	int64_t n = 0;
	int ret = 0;

	*rejected = 0;
	if (msglen)
		msg[0] = '\0';
	if (!len)
		return 0;
	if (sig == OTLP_METRICS) {
		mr = opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__unpack(
			NULL, len, resp);
		if (mr && mr->partial_success) {
			n = mr->partial_success->rejected_data_points;
			text = mr->partial_success->error_message;
		}
	} else {
		pr = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_response__unpack(
			NULL, len, resp);
		if (pr && pr->partial_success) {
			n = pr->partial_success->rejected_profiles;
			text = pr->partial_success->error_message;
		}
	}
	if (!mr && !pr)
		ret = -EBADMSG;
	if (text)
		otlp_excerpt(msg, msglen, (const uint8_t *)text, strlen(text));
	*rejected = n > 0 ? n : 0;
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__free_unpacked(mr, NULL);
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_response__free_unpacked(pr, NULL);
	return ret;
}

/* Log a 2xx answer's partial_success and return how many items the
 * server rejected. */
static int64_t check_partial_success(enum otlp_signal sig,
				     const struct otlp_attempt *a)
{
	char msg[OTLP_EXCERPT_MAX + 1];
	int64_t rejected;

	if (otlp_export_partial_success(sig, a->resp, a->resp_len, &rejected,
					msg, sizeof(msg)))
		mt_debug("OTLP %s export: the 2xx answer is not an export response; ignored",
			 otlp_signal__name(sig));
	if (rejected > 0)
		mt_err("OTLP %s export: the collector rejected %" PRId64 " %s%s%s",
		       otlp_signal__name(sig), rejected,
		       sig == OTLP_METRICS ? "data points" : "profiles",
		       *msg ? ": " : "", msg);
	else if (*msg)
		mt_err("OTLP %s export: the collector warns: %s",
		       otlp_signal__name(sig), msg);
	return rejected;
}

/* Record a lost request; log it unless the same error was just logged. */
static void note_loss(struct otlp_exporter *e, enum otlp_signal sig,
		      const struct otlp_attempt *a, bool retryable, int attempts)
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
	struct otlp_attempt a;
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

	start = clock__mono_ms();
	for (;;) {
		memset(&a, 0, sizeof(a));
		a.retry_after_ms = -1;
		t->transport->send(t, body, len, &e->stopping, &a);
		attempts++;
		if (a.outcome == OTLP_ATTEMPT_OK) {
			note_sent(e, en->sig, check_partial_success(en->sig, &a));
			break;
		}
		if (a.outcome == OTLP_ATTEMPT_ABORTED) {
			done = false;
			break;
		}
		if (a.outcome == OTLP_ATTEMPT_FAIL) {
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
		    clock__mono_ms() + wait > start + (uint64_t)p.budget_ms) {
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
	curl_multi_cleanup(t->multi);
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
 * handle, then the transport's URL and headers. otlp_curl__get() first. */
static int target_init(struct otlp_target *t, const struct otel_config *c,
		       enum otlp_signal sig)
{
	const struct otel_signal_config *s = &c->signal[sig];
	char red[512];
	int ret = 0;

	t->transport = s->protocol == OTEL_PROTOCOL_GRPC ? &otlp_grpc_transport :
							  &otlp_http_transport;
	t->cainfo = strdup_or_null(s->certificate, &ret);
	t->sslcert = strdup_or_null(s->client_certificate, &ret);
	t->sslkey = strdup_or_null(s->client_key, &ret);
	t->timeout_ms = s->timeout_ms;
	t->gzip = s->compression == OTEL_COMPRESSION_GZIP;
	if (ret)
		return ret;
	t->curl = curl_easy_init();
	t->multi = curl_multi_init();
	if (!t->curl || !t->multi)
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
	ret = otlp_curl__get();
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
		otlp_curl__put();
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
	otlp_curl__put();
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
		ts = clock__mono_after_ms((uint64_t)deadline_ms);
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

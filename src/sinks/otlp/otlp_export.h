/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * otlp_export.h - deliver serialized OTLP export requests (metrics now,
 * profiles later) to a collector from a background thread. Producers hand
 * over finished request bodies to a bounded queue and never wait for the
 * network; the thread sends them over OTLP/HTTP or OTLP/gRPC (per signal,
 * as configured) with the specification's retry rules (HTTP 429, 502, 503,
 * 504, the retryable gRPC codes and connection failures are retried with
 * backoff or after Retry-After / RetryInfo; other errors are final) and
 * keeps counters of what happened.
 */
#ifndef MEMTEL_OTLP_EXPORT_H
#define MEMTEL_OTLP_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sinks/otlp/otel_config.h"

struct otlp_exporter;

struct otlp_export_stats {
	uint64_t sent;			/* requests accepted (2xx, gRPC OK) */
	uint64_t failed;		/* final errors: 4xx, TLS, bad URL... */
	uint64_t retried;		/* attempts after the first, all requests */
	uint64_t dropped_queue_full;	/* oldest request pushed out by a newer */
	uint64_t dropped_after_retries;	/* retryable errors out of attempts/time */
	uint64_t partial_success_rejected; /* points/profiles refused in a 2xx */
	size_t queued;			/* waiting or in flight right now */
	char last_error[256];		/* "" if none yet; never header values */
};

/* Delivery of one request: backoff doubles from initial_backoff_ms up to
 * max_backoff_ms (each wait jittered to 50-100 %), at most max_attempts
 * sends, and no wait that would end past budget_ms after the first send. */
struct otlp_retry_policy {
	int initial_backoff_ms;
	int max_backoff_ms;
	int max_attempts;
	int budget_ms;
};

/* Defaults: 1 s, 30 s, 5 attempts; the budget is the config's
 * export_timeout_ms (OTEL_METRIC_EXPORT_TIMEOUT, 30 s). */
#define OTLP_INITIAL_BACKOFF_MS	1000
#define OTLP_MAX_BACKOFF_MS	30000
#define OTLP_MAX_ATTEMPTS	5

/* Start an exporter for every enabled signal of c (c is copied; it may be
 * freed afterwards), holding at most queue_max requests. Protocol grpc
 * sends to the endpoint's scheme and authority (any path is ignored) over
 * HTTP/2: cleartext with prior knowledge for http://, ALPN for https://.
 * NULL with errno set: EINVAL if no signal is enabled or queue_max is 0,
 * ENOMEM, or pthread_create()'s error. */
struct otlp_exporter *otlp_exporter__new(const struct otel_config *c,
					 size_t queue_max);
/* Stop the thread at once: a backoff wait is cut short, a request in
 * flight aborted (within OTLP_STOP_POLL_MS, 50 ms); whatever was still
 * queued is dropped and logged. NULL-safe. */
void otlp_exporter__free(struct otlp_exporter *e);

/* Replace the retry policy (tests, tuning); values <= 0 keep the current
 * ones. */
void otlp_exporter__set_retry_policy(struct otlp_exporter *e,
				     const struct otlp_retry_policy *p);

/* Queue body (from malloc(), a serialized Export*ServiceRequest) for sig.
 * The exporter owns body from here on, on failure too. Never blocks on
 * I/O; a full queue drops its oldest request. -EDESTADDRREQ if sig has no
 * endpoint, -EINVAL on bad arguments. */
int otlp_exporter__enqueue(struct otlp_exporter *e, enum otlp_signal sig,
			   uint8_t *body, size_t len);

/* Wait until every queued request has been delivered or given up on, at
 * most deadline_ms (< 0: no limit; the session's final flush passes what
 * is left of its stop grace). -ETIMEDOUT if some are still pending: they
 * stay queued, and otlp_exporter__free() aborts them at once. */
int otlp_exporter__flush(struct otlp_exporter *e, int deadline_ms);

/* A consistent snapshot of the counters. */
void otlp_exporter__stats(const struct otlp_exporter *e,
			  struct otlp_export_stats *s);

/* A 2xx answer's Export*ServiceResponse (len bytes from the collector):
 * *rejected gets the data points or profiles its partial_success refused
 * (0 if none), msg a printable excerpt of its error_message ("" if none).
 * 0, or -EBADMSG if resp is no such message. The exporter logs these
 * (the spec says not to retry them). Exposed for tests and the fuzzer. */
int otlp_export_partial_success(enum otlp_signal sig, const uint8_t *resp,
				size_t len, int64_t *rejected, char *msg,
				size_t msglen);

#endif /* MEMTEL_OTLP_EXPORT_H */

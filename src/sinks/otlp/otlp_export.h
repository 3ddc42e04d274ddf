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
/* Stop the thread at once (a request in flight is aborted, a backoff wait
 * cut short); whatever was still queued is dropped and logged. NULL-safe. */
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
 * most deadline_ms (< 0: no limit). -ETIMEDOUT if some are still pending. */
int otlp_exporter__flush(struct otlp_exporter *e, int deadline_ms);

/* A consistent snapshot of the counters. */
void otlp_exporter__stats(const struct otlp_exporter *e,
			  struct otlp_export_stats *s);

/* --- gRPC wire helpers (exposed for tests) ------------------------------------ */

/* google.rpc.Code, the gRPC status codes. */
enum otlp_grpc_code {
	OTLP_GRPC_OK = 0,
	OTLP_GRPC_CANCELLED = 1,
	OTLP_GRPC_UNKNOWN = 2,
	OTLP_GRPC_INVALID_ARGUMENT = 3,
	OTLP_GRPC_DEADLINE_EXCEEDED = 4,
	OTLP_GRPC_NOT_FOUND = 5,
	OTLP_GRPC_ALREADY_EXISTS = 6,
	OTLP_GRPC_PERMISSION_DENIED = 7,
	OTLP_GRPC_RESOURCE_EXHAUSTED = 8,
	OTLP_GRPC_FAILED_PRECONDITION = 9,
	OTLP_GRPC_ABORTED = 10,
	OTLP_GRPC_OUT_OF_RANGE = 11,
	OTLP_GRPC_UNIMPLEMENTED = 12,
	OTLP_GRPC_INTERNAL = 13,
	OTLP_GRPC_UNAVAILABLE = 14,
	OTLP_GRPC_DATA_LOSS = 15,
	OTLP_GRPC_UNAUTHENTICATED = 16,
};

/* Bytes before each gRPC message: compressed flag, 32-bit BE length. */
#define OTLP_GRPC_FRAME_HDR 5

/* "UNAVAILABLE" for 14; "UNKNOWN" for a code out of range. */
const char *otlp_grpc_code_name(int code);
/* Whether the OTLP spec has code retried; RESOURCE_EXHAUSTED only if the
 * status carried a google.rpc.RetryInfo (retry_info). */
bool otlp_grpc_retryable(int code, bool retry_info);
/* The grpc-timeout value for ms ("250m", "100000S"): at most 8 digits,
 * rounded up. snprintf()'s result, or -EINVAL if ms <= 0. */
int otlp_grpc_timeout(int ms, char *buf, size_t len);
/* Fill hdr for a message of len bytes. */
void otlp_grpc_frame_header(uint8_t hdr[OTLP_GRPC_FRAME_HDR], bool compressed,
			    uint32_t len);
/* *out (malloc'ed, *out_len bytes) = header + msg. -E2BIG past 4 GiB. */
int otlp_grpc_frame(const uint8_t *msg, size_t len, bool compressed,
		    uint8_t **out, size_t *out_len);
/* The one message of a unary answer's body buf (msg points into buf).
 * -ENODATA if len is 0, -EBADMSG if buf is not exactly one message. */
int otlp_grpc_unframe(const uint8_t *buf, size_t len, const uint8_t **msg,
		      size_t *msg_len, bool *compressed);
/* RetryInfo.retry_delay in ms (capped at a day) from a
 * grpc-status-details-bin value (a base64 google.rpc.Status); 0 if the
 * RetryInfo has no delay, -1 if there is none or the value is malformed. */
int otlp_grpc_retry_delay_ms(const char *details_bin);

#endif /* MEMTEL_OTLP_EXPORT_H */

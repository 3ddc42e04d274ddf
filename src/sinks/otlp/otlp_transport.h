/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * otlp_transport.h - what the exporter's queue (otlp_export.c) and its two
 * wire protocols (otlp_http.c, otlp_grpc.c) share: one signal's
 * destination, the result of one send, the transport interface, and the
 * libcurl plumbing both protocols run on (otlp_transport.c). Internal to
 * src/sinks/otlp/.
 */
#ifndef MEMTEL_OTLP_TRANSPORT_H
#define MEMTEL_OTLP_TRANSPORT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "sinks/otlp/otel_config.h"

/* Response bodies kept (partial success, error status), compressed or
 * inflated; the rest of a larger one is read and discarded. */
#define OTLP_RESP_MAX (64 * 1024)
/* Characters of a server's text quoted in a log line. */
#define OTLP_EXCERPT_MAX 160
/* How often a transfer in progress looks at the stop flag. */
#define OTLP_STOP_POLL_MS 50
/* Retry-After and RetryInfo delays beyond this are taken as this (a day). */
#define OTLP_RETRY_AFTER_MAX_S 86400

enum otlp_outcome {
	OTLP_ATTEMPT_OK,
	OTLP_ATTEMPT_RETRY,	/* transient: try again later */
	OTLP_ATTEMPT_FAIL,	/* final */
	OTLP_ATTEMPT_ABORTED,	/* the exporter is stopping */
};

/* What one send produced. */
struct otlp_attempt {
	enum otlp_outcome outcome;
	long status;		/* HTTP status, 0 if none */
	int retry_after_ms;	/* Retry-After or RetryInfo, -1 if none */
	int error_code;		/* status or transport error, for log dedup */
	char error[200];	/* set unless OTLP_ATTEMPT_OK */
	uint8_t *resp;		/* response body, at most OTLP_RESP_MAX bytes */
	size_t resp_len;
	size_t resp_cap;	/* bytes allocated at resp */
	bool resp_cut;		/* the answer had more than OTLP_RESP_MAX */
	bool stop_at_cap;	/* then end the transfer (CURLE_WRITE_ERROR) */
};

struct otlp_transport;

/* One signal's destination, copied out of the config. */
struct otlp_target {
	const struct otlp_transport *transport;
	CURL *curl;		/* exporter thread only; kept for reuse */
	CURLM *multi;		/* runs curl; holds the connection cache */
	char *url;		/* NULL: signal not exported; gRPC: method URL */
	char *log_url;		/* url without credentials or query */
	struct curl_slist *headers;
	int timeout_ms;		/* one attempt, connect included */
	bool gzip;
	char *cainfo;
	char *sslcert;
	char *sslkey;
};

/* A wire protocol, picked per signal: init() sets up the target's URL and
 * request headers when the exporter is created; send() runs once per
 * attempt on the exporter's thread and maps the answer into a; it gives up
 * within t->timeout_ms, or soon after *stop becomes true. Queueing, gzip
 * of the request, retries, partial success and statistics are the
 * exporter's. */
struct otlp_transport {
	const char *name;
	int (*init)(struct otlp_target *t, const struct otel_signal_config *s,
		    enum otlp_signal sig);
	void (*send)(const struct otlp_target *t, const uint8_t *body,
		     size_t len, const atomic_bool *stop,
		     struct otlp_attempt *a);
};

extern const struct otlp_transport otlp_http_transport;
extern const struct otlp_transport otlp_grpc_transport;

/* --- libcurl plumbing (otlp_transport.c) ---------------------------------- */

/* libcurl's global state, reference-counted across exporters. 0 or
 * -ENOMEM. */
int otlp_curl__get(void);
void otlp_curl__put(void);
/* Reset t->curl and set what every attempt of either protocol needs: URL,
 * body, headers, the attempt's timeout, errbuf, a's body collector (at
 * most OTLP_RESP_MAX bytes kept) and the abort-on-*stop callback. */
void otlp_curl__setup(const struct otlp_target *t, const uint8_t *body,
		      size_t len, const atomic_bool *stop, char *errbuf,
		      struct otlp_attempt *a);
/* Run the transfer set up on t->curl to its end, or until *stop: then
 * CURLE_ABORTED_BY_CALLBACK within OTLP_STOP_POLL_MS. */
CURLcode otlp_curl__perform(const struct otlp_target *t,
			    const atomic_bool *stop);
/* a for a transfer that did not complete (rc != CURLE_OK). */
void otlp_curl__failed(CURLcode rc, const atomic_bool *stop,
		       const char *errbuf, struct otlp_attempt *a);
/* Append s to *l. 0 or -ENOMEM. */
int otlp_curl__slist_add(struct curl_slist **l, const char *s);
/* Add "name: value" for each header of s that ours() does not claim, the
 * name lowercased if lower (HTTP/2 wants lowercase names). */
int otlp_curl__config_headers(struct otlp_target *t,
			      const struct otel_signal_config *s,
			      enum otlp_signal sig,
			      bool (*ours)(const char *name), bool lower);

/* Printable excerpt (at most OTLP_EXCERPT_MAX characters) of a server's
 * text for a log line: controls and non-ASCII bytes become '.'. */
void otlp_excerpt(char *dst, size_t dlen, const uint8_t *src, size_t slen);

#endif /* MEMTEL_OTLP_TRANSPORT_H */

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * otel_config.h - OpenTelemetry exporter configuration, read from the
 * standard OTEL_* environment variables (OpenTelemetry specification,
 * "OTLP Exporter Configuration", "General SDK Configuration", "Resource SDK"
 * and "Metrics SDK") and then overridden by command-line setters. Each
 * signal (metrics, profiles) gets its own resolved endpoint URL, headers,
 * timeout, compression, protocol and TLS files; an empty variable counts as
 * unset, a signal-specific variable wins over the general one, and a bad
 * value is an error naming the variable (never echoing a header value).
 */
#ifndef MEMTEL_OTEL_CONFIG_H
#define MEMTEL_OTEL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum otlp_signal {
	OTLP_METRICS,
	OTLP_PROFILES,
	OTLP_SIGNAL_CNT,
};

enum otel_protocol {
	OTEL_PROTOCOL_HTTP_PROTOBUF,	/* the spec's default */
	OTEL_PROTOCOL_GRPC,		/* OTLP/gRPC over HTTP/2 */
};

enum otel_compression {
	OTEL_COMPRESSION_NONE,
	OTEL_COMPRESSION_GZIP,
};

/* Defaults: OTEL_EXPORTER_OTLP_TIMEOUT and OTEL_METRIC_EXPORT_TIMEOUT per
 * the spec; the interval is the project's (the spec says 60000). */
#define OTEL_DEFAULT_TIMEOUT_MS		10000
#define OTEL_DEFAULT_EXPORT_TIMEOUT_MS	30000
#define OTEL_DEFAULT_INTERVAL_MS	10000

/* A header or resource attribute, both strings already percent-decoded. */
struct otel_kv {
	char *key;
	char *value;
};

/*
 * Export is on only when an endpoint is configured: the spec's defaults
 * (http://localhost:4318 for http/protobuf, http://localhost:4317 for grpc)
 * are not applied, so OTEL_EXPORTER_OTLP_PROTOCOL=grpc alone leaves it off.
 * For grpc, OTEL_EXPORTER_OTLP_ENDPOINT gets no signal path appended; the
 * exporter calls the service's Export method on the endpoint's host.
 */
struct otel_signal_config {
	char *url;		/* resolved endpoint URL; NULL = not exported */
	char *endpoint;		/* OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT, as-is */
	struct otel_kv *headers;
	size_t n_headers;
	int timeout_ms;		/* one request, connect included */
	enum otel_compression compression;
	enum otel_protocol protocol;
	char *certificate;	/* CA bundle to verify the server, or NULL */
	char *client_certificate; /* mTLS client certificate, or NULL */
	char *client_key;	/* mTLS client key, or NULL */
	bool disabled;		/* OTEL_METRICS_EXPORTER=none */
};

struct otel_config {
	bool sdk_disabled;	/* OTEL_SDK_DISABLED=true */
	char *endpoint;		/* OTEL_EXPORTER_OTLP_ENDPOINT (base URL) */
	struct otel_signal_config signal[OTLP_SIGNAL_CNT];
	int interval_ms;	/* metric export interval */
	int export_timeout_ms;	/* one export, retries included */
	/* service.name: CLI > OTEL_SERVICE_NAME > OTEL_RESOURCE_ATTRIBUTES;
	 * NULL if none of them set it (the caller picks a default). */
	char *service_name;
	/* OTEL_RESOURCE_ATTRIBUTES without service.name, keys unique. */
	struct otel_kv *resource_attrs;
	size_t n_resource_attrs;
};

/* Initialize c to defaults, then apply the OTEL_* environment. On a bad
 * value -EINVAL with one line in err, -ENOMEM on allocation failure; c is
 * to be released with otel_config__free() whatever the result. */
int otel_config__load(struct otel_config *c, char *err, size_t errlen);
/* Release what c owns; c may be NULL or zeroed. */
void otel_config__free(struct otel_config *c);

/* Command-line overrides, applied after load() to every signal. String
 * setters return -EINVAL with one line in err on a bad value. */

/* Base endpoint, as OTEL_EXPORTER_OTLP_ENDPOINT; it replaces the
 * signal-specific endpoints from the environment too. */
int otel_config__set_endpoint(struct otel_config *c, const char *url,
			      char *err, size_t errlen);
/* Add (or replace, by case-insensitive name) a header given as "k=v"; the
 * value is percent-decoded like OTEL_EXPORTER_OTLP_HEADERS's. */
int otel_config__add_header(struct otel_config *c, const char *kv,
			    char *err, size_t errlen);
/* "gzip" or "none". */
int otel_config__set_compression(struct otel_config *c, const char *name,
				 char *err, size_t errlen);
/* "http/protobuf" or "grpc"; "http/json" is rejected. Sets no endpoint:
 * the URLs are re-resolved from those already configured. */
int otel_config__set_protocol(struct otel_config *c, const char *name,
			      char *err, size_t errlen);
int otel_config__set_service_name(struct otel_config *c, const char *name);
/* Positive milliseconds, else -EINVAL. */
int otel_config__set_timeout_ms(struct otel_config *c, int ms);
int otel_config__set_interval_ms(struct otel_config *c, int ms);

/* Whether sig is to be exported: not disabled and it has an endpoint. */
bool otel_config__enabled(const struct otel_config *c, enum otlp_signal sig);

/* "name1=<redacted>, name2=<redacted>" for sig's headers (or "none"), for
 * logs: header values are secrets (API keys, bearer tokens). Returns the
 * length snprintf() would have written. */
int otel_config__redacted_headers(const struct otel_config *c,
				  enum otlp_signal sig, char *buf, size_t len);
/* url for logs: its userinfo ("user:password@", up to the authority's
 * last '@') replaced by "***@", and its query and fragment by "?***". */
int otel_redact_url(const char *url, char *buf, size_t len);

/* "metrics" or "profiles". */
const char *otlp_signal__name(enum otlp_signal sig);

/* Decode %XX escapes of s in place. -EINVAL on a malformed escape or one
 * that decodes to NUL (s is then unspecified). */
int otel_percent_decode(char *s);

#endif /* MEMTEL_OTEL_CONFIG_H */

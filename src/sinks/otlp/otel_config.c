// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * otel_config.c - read the OpenTelemetry exporter settings from the OTEL_*
 * environment as the specification defines them, let the command line
 * override them, and resolve one endpoint URL per signal. Everything the
 * exporter needs is decoded and validated here, once, so that a typo stops
 * memtel-bpf at start-up with one line naming the variable rather than
 * failing every export later. Header values (API keys, tokens) are never
 * copied into an error message; logs get otel_config__redacted_headers().
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/log.h"
#include "sinks/otlp/otel_config.h"

#define ENV_NAME_MAX 64
/* Longest piece of a bad value quoted back in an error. */
#define QUOTE_MAX 64

/* Spec: OTLP/HTTP paths appended to OTEL_EXPORTER_OTLP_ENDPOINT. */
static const char *const signal_paths[OTLP_SIGNAL_CNT] = {
	[OTLP_METRICS] = "/v1/metrics",
	[OTLP_PROFILES] = "/v1development/profiles",
};

static const char *const signal_env[OTLP_SIGNAL_CNT] = {
	[OTLP_METRICS] = "METRICS",
	[OTLP_PROFILES] = "PROFILES",
};

enum kv_kind {
	KV_HEADER,
	KV_RESOURCE,
};

static __attribute__((format(printf, 3, 4)))
int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

const char *otlp_signal__name(enum otlp_signal sig)
{
	return sig == OTLP_PROFILES ? "profiles" : "metrics";
}

/* Spec ("Configuration: environment variables"): an empty value is the
 * same as an unset one. */
static const char *env_get(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* OTEL_EXPORTER_OTLP_<SIGNAL>_<what>, else OTEL_EXPORTER_OTLP_<what>; the
 * name of the one used goes to name (for errors). */
static const char *env_signal(enum otlp_signal sig, const char *what,
			      char *name, size_t len)
{
	const char *v;

	snprintf(name, len, "OTEL_EXPORTER_OTLP_%s_%s", signal_env[sig], what);
	v = env_get(name);
	if (v)
		return v;
	snprintf(name, len, "OTEL_EXPORTER_OTLP_%s", what);
	return env_get(name);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

int otel_percent_decode(char *s)
{
	char *w = s;
	int hi, lo;

	for (; *s; s++) {
		if (*s != '%') {
			*w++ = *s;
			continue;
		}
		hi = hexval((unsigned char)s[1]);
		lo = hi < 0 ? -1 : hexval((unsigned char)s[2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -EINVAL;
		*w++ = (char)(hi << 4 | lo);
		s += 2;
	}
	*w = '\0';
	return 0;
}

int otel_redact_url(const char *url, char *buf, size_t len)
{
	const char *auth, *end, *at, *p, *q;

	if (!url)
		return snprintf(buf, len, "(none)");
	/* Only a real scheme (RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" /
	 * "." )) is kept as it is; anything else is redacted as authority. */
	auth = url + strspn(url, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
	/* RFC 3986: the authority ends at the first '/', '?' or '#'; the
	 * userinfo at its last '@' (a password may hold an unencoded '@').
	 * Without a scheme there is no telling where the authority ends, so
	 * anything up to the last '@' before a query counts as userinfo. */
	if (auth > url && !strncmp(auth, "://", 3)) {
		auth += 3;
		end = auth + strcspn(auth, "/?#");
	} else {
		auth = url;
		end = url + strcspn(url, "?#");
	}
	at = NULL;
	for (p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	/* A query holds tokens as often as the userinfo does ("?api_key=");
	 * neither it nor a fragment goes into a log. */
	q = end + strcspn(end, "?#");
	return snprintf(buf, len, "%.*s%s%.*s%s", (int)(auth - url), url,
			at ? "***" : "", (int)(q - (at ? at : auth)),
			at ? at : auth, *q ? "?***" : "");
}

/* "%s: '<value>'" material: at most QUOTE_MAX characters of v. */
#define Q(v) QUOTE_MAX, (v)

static int parse_ms(const char *what, const char *s, int *out,
		    char *err, size_t errlen)
{
	char *end;
	long v;

	while (isspace((unsigned char)*s))
		s++;
	errno = 0;
	v = strtol(s, &end, 10);
	while (end != s && isspace((unsigned char)*end))
		end++;
	if (end == s || *end || (errno && errno != ERANGE))
		return fail(err, errlen,
			    "%s: '%.*s' is not a number of milliseconds",
			    what, Q(s));
	if (errno == ERANGE || v <= 0 || v > INT_MAX)
		return fail(err, errlen,
			    "%s: '%.*s' is not between 1 and %d milliseconds",
			    what, Q(s), INT_MAX);
	*out = (int)v;
	return 0;
}

static int parse_compression(const char *what, const char *s,
			     enum otel_compression *out,
			     char *err, size_t errlen)
{
	char buf[QUOTE_MAX + 1];
	char *v;

	snprintf(buf, sizeof(buf), "%s", s);
	v = trim(buf);
	if (!strcasecmp(v, "gzip"))
		*out = OTEL_COMPRESSION_GZIP;
	else if (!strcasecmp(v, "none"))
		*out = OTEL_COMPRESSION_NONE;
	else
		return fail(err, errlen, "%s: '%s' is not gzip or none",
			    what, v);
	return 0;
}

static int parse_protocol(const char *what, const char *s,
			  enum otel_protocol *out, char *err, size_t errlen)
{
	char buf[QUOTE_MAX + 1];
	char *v;

	snprintf(buf, sizeof(buf), "%s", s);
	v = trim(buf);
	if (!strcasecmp(v, "http/protobuf"))
		*out = OTEL_PROTOCOL_HTTP_PROTOBUF;
	else if (!strcasecmp(v, "grpc"))
		*out = OTEL_PROTOCOL_GRPC;
	else if (!strcasecmp(v, "http/json"))
		return fail(err, errlen,
			    "%s: http/json is not supported; use http/protobuf (or grpc)",
			    what);
	else
		return fail(err, errlen,
			    "%s: '%s' is not one of http/protobuf, grpc",
			    what, v);
	return 0;
}

/* A copy of the trimmed URL s, which must be http:// or https://. */
static int parse_url(const char *what, const char *s, char **out,
		     char *err, size_t errlen)
{
	char red[256];
	char *dup, *v;
	size_t skip;
	int ret;

	dup = strdup(s);
	if (!dup)
		return -ENOMEM;
	v = trim(dup);
	skip = !strncasecmp(v, "http://", 7) ? 7 :
	       !strncasecmp(v, "https://", 8) ? 8 : 0;
	if (!skip || !v[skip] || strchr("/?#", v[skip]) ||
	    strpbrk(v, " \t\r\n")) {
		otel_redact_url(v, red, sizeof(red));
		ret = fail(err, errlen,
			   "%s: '%.*s' is not an http:// or https:// URL",
			   what, Q(red));
		goto cleanup;
	}
	memmove(dup, v, strlen(v) + 1);
	*out = dup;
	dup = NULL;
	ret = 0;
cleanup:
	free(dup);
	return ret;
}

static int parse_file(const char *what, const char *s, char **out,
		      char *err, size_t errlen)
{
	char *path;

	if (access(s, R_OK))
		return fail(err, errlen, "%s: cannot read '%s': %s", what, s,
			    strerror(errno));
	path = strdup(s);
	if (!path)
		return -ENOMEM;
	free(*out);
	*out = path;
	return 0;
}

static void kv_free(struct otel_kv *kv, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

/* RFC 9110 token characters: what a header name may be made of. */
static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	return true;
}

static bool has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return true;
	return false;
}

/* Set key to value in *arr (replacing an existing key: case-insensitively
 * for headers); takes ownership of key and value, even on failure. */
static int kv_set(struct otel_kv **arr, size_t *n, enum kv_kind kind,
		  char *key, char *value)
{
	struct otel_kv *tmp;
	size_t i;

	for (i = 0; i < *n; i++) {
		if (kind == KV_HEADER ? strcasecmp((*arr)[i].key, key) :
					strcmp((*arr)[i].key, key))
			continue;
		free((*arr)[i].key);
		free((*arr)[i].value);
		(*arr)[i].key = key;
		(*arr)[i].value = value;
		return 0;
	}
	tmp = realloc(*arr, (*n + 1) * sizeof(*tmp));
	if (!tmp) {
		free(key);
		free(value);
		return -ENOMEM;
	}
	tmp[*n].key = key;
	tmp[*n].value = value;
	*arr = tmp;
	(*n)++;
	return 0;
}

/*
 * One "key=value" entry (entry is modified). idx is its 1-based position
 * in a list, for errors, or 0 for a lone one. Keys and values are trimmed
 * and percent-decoded (spec: OTEL_EXPORTER_OTLP_HEADERS follows the W3C
 * Baggage format; OTEL_RESOURCE_ATTRIBUTES percent-encodes ',' and '=').
 * A header's value is never quoted back: it is likely a secret.
 */
static int kv_parse_entry(const char *what, char *entry, size_t idx,
			  enum kv_kind kind, struct otel_kv **arr, size_t *n,
			  char *err, size_t errlen)
{
	char where[32] = " argument";
	char *eq, *key, *value, *k = NULL, *v = NULL;
	int ret;

	if (idx)
		snprintf(where, sizeof(where), " entry %zu", idx);
	eq = strchr(entry, '=');
	if (!eq)
		return fail(err, errlen, "%s:%s has no '=' (expected key=value)",
			    what, where);
	*eq = '\0';
	key = trim(entry);
	value = trim(eq + 1);
	k = strdup(key);
	v = strdup(value);
	if (!k || !v) {
		ret = -ENOMEM;
		goto cleanup;
	}
	if (!*k) {
		ret = fail(err, errlen, "%s:%s has an empty key", what, where);
		goto cleanup;
	}
	if (otel_percent_decode(k) || otel_percent_decode(v)) {
		ret = fail(err, errlen, "%s:%s ('%.*s'): bad percent-encoding",
			   what, where, Q(key));
		goto cleanup;
	}
	if (kind == KV_HEADER && !is_token(k)) {
		ret = fail(err, errlen, "%s:%s: '%.*s' is not a valid header name",
			   what, where, Q(k));
		goto cleanup;
	}
	if (kind == KV_HEADER && has_ctl(v)) {
		ret = fail(err, errlen,
			   "%s: header '%.*s' has control characters in its value",
			   what, Q(k));
		goto cleanup;
	}
	ret = kv_set(arr, n, kind, k, v);
	k = v = NULL;
cleanup:
	free(k);
	free(v);
	return ret;
}

/* A comma-separated list of entries, appended to (or replacing keys of)
 * *arr. Empty entries (",,", a trailing ',') are skipped. */
static int kv_parse_list(const char *what, const char *s, enum kv_kind kind,
			 struct otel_kv **arr, size_t *n,
			 char *err, size_t errlen)
{
	char *dup, *entry, *save = NULL;
	size_t idx = 0;
	int ret = 0;

	dup = strdup(s);
	if (!dup)
		return -ENOMEM;
	for (entry = strtok_r(dup, ",", &save); entry;
	     entry = strtok_r(NULL, ",", &save)) {
		idx++;
		if (!*trim(entry))
			continue;
		ret = kv_parse_entry(what, entry, idx, kind, arr, n, err, errlen);
		if (ret)
			break;
	}
	free(dup);
	return ret;
}

static int kv_copy(struct otel_kv **dst, size_t *n, const struct otel_kv *src,
		   size_t cnt)
{
	char *k, *v;
	size_t i;
	int ret;

	for (i = 0; i < cnt; i++) {
		k = strdup(src[i].key);
		v = strdup(src[i].value);
		if (!k || !v) {
			free(k);
			free(v);
			return -ENOMEM;
		}
		ret = kv_set(dst, n, KV_HEADER, k, v);
		if (ret)
			return ret;
	}
	return 0;
}

/* Recompute every signal's URL from the base and signal endpoints. Spec:
 * a signal-specific endpoint is used as-is; the base one gets the signal's
 * path appended for OTLP/HTTP, and is used as-is for gRPC (whose method
 * path the exporter adds). No endpoint, no URL: the spec's defaults
 * (localhost:4318, or 4317 for gRPC) would export from every run. */
static int resolve_urls(struct otel_config *c)
{
	struct otel_signal_config *s;
	size_t blen;
	int i;

	for (i = 0; i < OTLP_SIGNAL_CNT; i++) {
		s = &c->signal[i];
		free(s->url);
		s->url = NULL;
		if (s->disabled)
			continue;
		if (s->endpoint) {
			s->url = strdup(s->endpoint);
		} else if (!c->endpoint) {
			continue;
		} else if (s->protocol == OTEL_PROTOCOL_GRPC) {
			s->url = strdup(c->endpoint);
		} else {
			/* "http://h:4318/" gives "http://h:4318/v1/metrics" */
			blen = strlen(c->endpoint);
			while (blen && c->endpoint[blen - 1] == '/')
				blen--;
			if (asprintf(&s->url, "%.*s%s", (int)blen, c->endpoint,
				     signal_paths[i]) < 0)
				s->url = NULL;
		}
		if (!s->url)
			return -ENOMEM;
	}
	return 0;
}

static int load_signal(struct otel_config *c, enum otlp_signal sig,
		       const struct otel_kv *gen_headers, size_t n_gen_headers,
		       char *err, size_t errlen)
{
	struct otel_signal_config *s = &c->signal[sig];
	char name[ENV_NAME_MAX];
	const char *v;
	int ret;

	snprintf(name, sizeof(name), "OTEL_EXPORTER_OTLP_%s_ENDPOINT",
		 signal_env[sig]);
	v = env_get(name);
	if (v && (ret = parse_url(name, v, &s->endpoint, err, errlen)))
		return ret;

	/* Spec: the signal-specific variable takes precedence, so its list
	 * replaces the general one rather than adding to it. */
	snprintf(name, sizeof(name), "OTEL_EXPORTER_OTLP_%s_HEADERS",
		 signal_env[sig]);
	v = env_get(name);
	if (v)
		ret = kv_parse_list(name, v, KV_HEADER, &s->headers,
				    &s->n_headers, err, errlen);
	else
		ret = kv_copy(&s->headers, &s->n_headers, gen_headers,
			      n_gen_headers);
	if (ret)
		return ret;

	v = env_signal(sig, "TIMEOUT", name, sizeof(name));
	if (v && (ret = parse_ms(name, v, &s->timeout_ms, err, errlen)))
		return ret;
	v = env_signal(sig, "COMPRESSION", name, sizeof(name));
	if (v && (ret = parse_compression(name, v, &s->compression, err, errlen)))
		return ret;
	v = env_signal(sig, "PROTOCOL", name, sizeof(name));
	if (v && (ret = parse_protocol(name, v, &s->protocol, err, errlen)))
		return ret;
	v = env_signal(sig, "CERTIFICATE", name, sizeof(name));
	if (v && (ret = parse_file(name, v, &s->certificate, err, errlen)))
		return ret;
	v = env_signal(sig, "CLIENT_CERTIFICATE", name, sizeof(name));
	if (v && (ret = parse_file(name, v, &s->client_certificate, err, errlen)))
		return ret;
	v = env_signal(sig, "CLIENT_KEY", name, sizeof(name));
	if (v && (ret = parse_file(name, v, &s->client_key, err, errlen)))
		return ret;
	return 0;
}

static int load_resource(struct otel_config *c, char *err, size_t errlen)
{
	const char *v;
	size_t i;
	int ret;

	v = env_get("OTEL_RESOURCE_ATTRIBUTES");
	if (v) {
		ret = kv_parse_list("OTEL_RESOURCE_ATTRIBUTES", v, KV_RESOURCE,
				    &c->resource_attrs, &c->n_resource_attrs,
				    err, errlen);
		if (ret)
			return ret;
	}
	/* service.name is kept apart; spec: OTEL_SERVICE_NAME wins. */
	for (i = 0; i < c->n_resource_attrs; i++) {
		if (strcmp(c->resource_attrs[i].key, "service.name"))
			continue;
		c->service_name = c->resource_attrs[i].value;
		free(c->resource_attrs[i].key);
		c->resource_attrs[i] = c->resource_attrs[--c->n_resource_attrs];
		break;
	}
	v = env_get("OTEL_SERVICE_NAME");
	if (v)
		return otel_config__set_service_name(c, v);
	return 0;
}

int otel_config__load(struct otel_config *c, char *err, size_t errlen)
{
	struct otel_kv *gen_headers = NULL;
	size_t n_gen_headers = 0;
	char buf[QUOTE_MAX + 1];
	const char *v;
	int i, ret;

	memset(c, 0, sizeof(*c));
	c->interval_ms = OTEL_DEFAULT_INTERVAL_MS;
	c->export_timeout_ms = OTEL_DEFAULT_EXPORT_TIMEOUT_MS;
	for (i = 0; i < OTLP_SIGNAL_CNT; i++)
		c->signal[i].timeout_ms = OTEL_DEFAULT_TIMEOUT_MS;
	if (err && errlen)
		err[0] = '\0';

	/* Spec: a boolean is true only for "true" (any case); anything
	 * else but "false" deserves a warning. */
	v = env_get("OTEL_SDK_DISABLED");
	if (v) {
		c->sdk_disabled = !strcasecmp(v, "true");
		if (!c->sdk_disabled && strcasecmp(v, "false"))
			mt_err("warning: OTEL_SDK_DISABLED: '%.*s' is not true or false; taken as false",
			       Q(v));
	}

	v = env_get("OTEL_METRICS_EXPORTER");
	if (v) {
		snprintf(buf, sizeof(buf), "%s", v);
		if (!strcasecmp(trim(buf), "none")) {
			c->signal[OTLP_METRICS].disabled = true;
		} else if (strcasecmp(trim(buf), "otlp")) {
			ret = fail(err, errlen,
				   "OTEL_METRICS_EXPORTER: '%s' is not supported (otlp or none)",
				   trim(buf));
			goto cleanup;
		}
	}

	v = env_get("OTEL_EXPORTER_OTLP_ENDPOINT");
	if (v && (ret = parse_url("OTEL_EXPORTER_OTLP_ENDPOINT", v,
				  &c->endpoint, err, errlen)))
		goto cleanup;

	v = env_get("OTEL_EXPORTER_OTLP_HEADERS");
	if (v && (ret = kv_parse_list("OTEL_EXPORTER_OTLP_HEADERS", v,
				      KV_HEADER, &gen_headers, &n_gen_headers,
				      err, errlen)))
		goto cleanup;

	for (i = 0; i < OTLP_SIGNAL_CNT; i++) {
		ret = load_signal(c, i, gen_headers, n_gen_headers, err, errlen);
		if (ret)
			goto cleanup;
	}

	v = env_get("OTEL_METRIC_EXPORT_INTERVAL");
	if (v && (ret = parse_ms("OTEL_METRIC_EXPORT_INTERVAL", v,
				 &c->interval_ms, err, errlen)))
		goto cleanup;
	v = env_get("OTEL_METRIC_EXPORT_TIMEOUT");
	if (v && (ret = parse_ms("OTEL_METRIC_EXPORT_TIMEOUT", v,
				 &c->export_timeout_ms, err, errlen)))
		goto cleanup;

	ret = load_resource(c, err, errlen);
	if (ret)
		goto cleanup;
	ret = resolve_urls(c);
cleanup:
	kv_free(gen_headers, n_gen_headers);
	if (ret == -ENOMEM && err && errlen && !err[0])
		snprintf(err, errlen, "OpenTelemetry configuration: %s",
			 strerror(ENOMEM));
	return ret;
}

void otel_config__free(struct otel_config *c)
{
	struct otel_signal_config *s;
	int i;

	if (!c)
		return;
	for (i = 0; i < OTLP_SIGNAL_CNT; i++) {
		s = &c->signal[i];
		free(s->url);
		free(s->endpoint);
		kv_free(s->headers, s->n_headers);
		free(s->certificate);
		free(s->client_certificate);
		free(s->client_key);
	}
	free(c->endpoint);
	free(c->service_name);
	kv_free(c->resource_attrs, c->n_resource_attrs);
	memset(c, 0, sizeof(*c));
}

int otel_config__set_endpoint(struct otel_config *c, const char *url,
			      char *err, size_t errlen)
{
	char *base = NULL;
	int i, ret;

	ret = parse_url("OTLP endpoint", url, &base, err, errlen);
	if (ret)
		return ret;
	free(c->endpoint);
	c->endpoint = base;
	for (i = 0; i < OTLP_SIGNAL_CNT; i++) {
		free(c->signal[i].endpoint);
		c->signal[i].endpoint = NULL;
	}
	return resolve_urls(c);
}

int otel_config__add_header(struct otel_config *c, const char *kv,
			    char *err, size_t errlen)
{
	char *entry;
	int i, ret = 0;

	for (i = 0; i < OTLP_SIGNAL_CNT && !ret; i++) {
		entry = strdup(kv);
		if (!entry)
			return -ENOMEM;
		ret = kv_parse_entry("OTLP header", entry, 0, KV_HEADER,
				     &c->signal[i].headers,
				     &c->signal[i].n_headers, err, errlen);
		free(entry);
	}
	return ret;
}

int otel_config__set_compression(struct otel_config *c, const char *name,
				 char *err, size_t errlen)
{
	enum otel_compression v = OTEL_COMPRESSION_NONE;
	int i, ret;

	ret = parse_compression("OTLP compression", name, &v, err, errlen);
	if (ret)
		return ret;
	for (i = 0; i < OTLP_SIGNAL_CNT; i++)
		c->signal[i].compression = v;
	return 0;
}

int otel_config__set_protocol(struct otel_config *c, const char *name,
			      char *err, size_t errlen)
{
	enum otel_protocol v = OTEL_PROTOCOL_HTTP_PROTOBUF;
	int i, ret;

	ret = parse_protocol("OTLP protocol", name, &v, err, errlen);
	if (ret)
		return ret;
	for (i = 0; i < OTLP_SIGNAL_CNT; i++)
		c->signal[i].protocol = v;
	return resolve_urls(c);
}

int otel_config__set_service_name(struct otel_config *c, const char *name)
{
	char *dup;

	if (!name || !*name)
		return -EINVAL;
	dup = strdup(name);
	if (!dup)
		return -ENOMEM;
	free(c->service_name);
	c->service_name = dup;
	return 0;
}

int otel_config__set_timeout_ms(struct otel_config *c, int ms)
{
	int i;

	if (ms <= 0)
		return -EINVAL;
	for (i = 0; i < OTLP_SIGNAL_CNT; i++)
		c->signal[i].timeout_ms = ms;
	return 0;
}

int otel_config__set_interval_ms(struct otel_config *c, int ms)
{
	if (ms <= 0)
		return -EINVAL;
	c->interval_ms = ms;
	return 0;
}

bool otel_config__enabled(const struct otel_config *c, enum otlp_signal sig)
{
	return c && !c->sdk_disabled && (int)sig >= 0 && sig < OTLP_SIGNAL_CNT &&
	       c->signal[sig].url;
}

int otel_config__redacted_headers(const struct otel_config *c,
				  enum otlp_signal sig, char *buf, size_t len)
{
	const struct otel_signal_config *s = &c->signal[sig];
	size_t i, off = 0;
	int n;

	if (len)
		buf[0] = '\0';
	if (!s->n_headers)
		return snprintf(buf, len, "none");
	for (i = 0; i < s->n_headers; i++) {
		n = snprintf(off < len ? buf + off : NULL, off < len ? len - off : 0,
			     "%s%s=<redacted>", i ? ", " : "", s->headers[i].key);
		if (n < 0)
			return n;
		off += n;
	}
	return (int)off;
}

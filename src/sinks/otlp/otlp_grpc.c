// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * otlp_grpc.c - the OTLP/gRPC transport over libcurl's HTTP/2, with gRPC's
 * own layer done here ("PROTOCOL-HTTP2.md" of grpc/grpc): a POST to
 * /<package>.<Service>/<Method> with content-type application/grpc and
 * te: trailers, the body one Length-Prefixed-Message (a compressed-flag
 * byte, a 4-byte big-endian length, the message), the answer the same
 * framing followed by trailers with grpc-status, grpc-message (percent-
 * encoded) and grpc-status-details-bin (a base64 google.rpc.Status, whose
 * RetryInfo detail sets the retry delay). A failure without a message may
 * come as headers alone ("Trailers-Only"). Every size in an answer is the
 * collector's choice, so each is bounded before it is used.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include <zlib.h>

#include "google_rpc_retryinfo.pb-c.h"
#include "google_rpc_status.pb-c.h"
#include "util/log.h"
#include "sinks/otlp/otlp_grpc.h"
#include "sinks/otlp/otlp_transport.h"

/* struct otlp_attempt's error_code for gRPC status N: apart from HTTP
 * statuses (100-599) and negated CURLcodes, so log deduplication tells
 * them apart. */
#define GRPC_ERROR_CODE_BASE 1000

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
	int64_t ms = -1, s, ns;
	size_t i, len, cap;
	ssize_t n;

	if (!details_bin || !*details_bin)
		return -1;
	len = strnlen(details_bin, OTLP_GRPC_DETAILS_MAX + 1);
	if (len > OTLP_GRPC_DETAILS_MAX)
		return -1;
	cap = len / 4 * 3 + 3;
	raw = malloc(cap);
	if (!raw)
		return -1;
	n = base64_decode(details_bin, raw, cap);
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
		if (ri->retry_delay && ri->retry_delay->seconds >= 0) {
			/* Duration: nanos within a second; a server's
			 * out-of-range one is clamped, never multiplied. */
			s = ri->retry_delay->seconds;
			ns = ri->retry_delay->nanos;
			if (ns < 0)
				ns = 0;
			if (ns > 999999999)
				ns = 999999999;
			if (s >= OTLP_RETRY_AFTER_MAX_S)
				ms = (int64_t)OTLP_RETRY_AFTER_MAX_S * 1000;
			else
				ms = s * 1000 + ns / 1000000;
		}
		break;
	}
cleanup:
	google__rpc__retry_info__free_unpacked(ri, NULL);
	google__rpc__status__free_unpacked(st, NULL);
	free(raw);
	return (int)ms;
}

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

void otlp_grpc_answer__init(struct otlp_grpc_answer *r)
{
	memset(r, 0, sizeof(*r));
	r->code = -1;
}

void otlp_grpc_answer__header(struct otlp_grpc_answer *r, const char *line,
			      size_t n)
{
	const char *colon = memchr(line, ':', n);
	char value[64];
	size_t nlen, vlen;
	char *end;
	long v;

	if (!colon)
		return; /* status line or the blank line */
	nlen = colon - line;
	colon++;
	vlen = n - (colon - line);
#define IS(name) (nlen == sizeof(name) - 1 && !strncasecmp(line, name, nlen))
	if (IS("grpc-status")) {
		header_value(value, sizeof(value), colon, vlen);
		errno = 0;
		v = strtol(value, &end, 10);
		/* gRPC: a code we do not know is UNKNOWN. */
		if (end == value || *end || errno || v < 0 ||
		    v > OTLP_GRPC_UNAUTHENTICATED)
			v = OTLP_GRPC_UNKNOWN;
		r->code = (int)v;
	} else if (IS("grpc-message")) {
		header_value(r->message, sizeof(r->message), colon, vlen);
	} else if (IS("grpc-status-details-bin")) {
		r->details_cut = !header_value(r->details, sizeof(r->details),
					       colon, vlen);
	} else if (IS("grpc-encoding")) {
		header_value(r->encoding, sizeof(r->encoding), colon, vlen);
	} else if (IS("content-type")) {
		header_value(value, sizeof(value), colon, vlen);
		r->grpc_ctype = !strncasecmp(value, "application/grpc", 16);
	}
#undef IS
}

/* libcurl hands every header line here, and the trailers too, after the
 * body (for HTTP/2 since 7.64). */
static size_t header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	otlp_grpc_answer__header(arg, data, size * nmemb);
	return size * nmemb;
}

void otlp_grpc_message_decode(char *s)
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

int otlp_grpc_inflate(const uint8_t *in, size_t len, size_t max,
		      uint8_t **out, size_t *out_len)
{
	z_stream zs = {};
	uint8_t *buf = NULL, *tmp;
	size_t cap;
	int ret, zr;

	if (len > UINT32_MAX || !max)
		return -E2BIG;
	/* windowBits 15 + 32: a gzip or a zlib header, detected. */
	if (inflateInit2(&zs, 15 + 32) != Z_OK)
		return -ENOMEM;
	/* Start near the compressed size and double: what the answer says
	 * it holds is not believed, only what it inflates to, up to max. */
	cap = len < max / 4 ? (len < 256 ? 1024 : len * 4) : max;
	if (cap > max)
		cap = max;
	zs.next_in = (Bytef *)in;
	zs.avail_in = len;
	for (;;) {
		tmp = realloc(buf, cap);
		if (!tmp) {
			ret = -ENOMEM;
			goto cleanup;
		}
		buf = tmp;
		zs.next_out = buf + zs.total_out;
		zs.avail_out = cap - zs.total_out;
		zr = inflate(&zs, Z_NO_FLUSH);
		if (zr == Z_STREAM_END)
			break;
		if (zr != Z_OK && zr != Z_BUF_ERROR) {
			ret = -EBADMSG;
			goto cleanup;
		}
		if (zs.avail_out) {
			/* out of input with room left: a cut stream */
			ret = -EBADMSG;
			goto cleanup;
		}
		if (cap == max) {
			ret = -E2BIG;
			goto cleanup;
		}
		cap = cap > max / 2 ? max : cap * 2;
	}
	/* Bytes after the stream's end are not part of the message. */
	if (zs.avail_in) {
		ret = -EBADMSG;
		goto cleanup;
	}
	*out = buf;
	*out_len = zs.total_out;
	buf = NULL;
	ret = 0;
cleanup:
	inflateEnd(&zs);
	free(buf);
	return ret;
}

int otlp_grpc_message(const uint8_t *body, size_t len, const char *encoding,
		      size_t max, uint8_t **out, size_t *out_len)
{
	const uint8_t *msg;
	size_t mlen;
	bool compressed;
	int ret;

	ret = otlp_grpc_unframe(body, len, &msg, &mlen, &compressed);
	if (ret)
		return ret;
	if (compressed) {
		if (strcasecmp(encoding, "gzip") && strcasecmp(encoding, "deflate"))
			return -EPROTO;
		return otlp_grpc_inflate(msg, mlen, max, out, out_len);
	}
	if (mlen > max)
		return -E2BIG;
	*out = malloc(mlen ? mlen : 1);
	if (!*out)
		return -ENOMEM;
	if (mlen)
		memcpy(*out, msg, mlen);
	*out_len = mlen;
	return 0;
}

/* Replace a's framed answer body by the message it carries, in a buffer
 * of its own (empty if none or malformed: the call succeeded all the
 * same). */
static void take_message(struct otlp_attempt *a, const struct otlp_grpc_answer *r)
{
	uint8_t *plain = NULL;
	size_t plen = 0;
	int ret;

	ret = otlp_grpc_message(a->resp, a->resp_len, r->encoding,
				OTLP_RESP_MAX, &plain, &plen);
	if (ret && ret != -ENODATA)
		mt_debug("OTLP gRPC answer message unreadable (%s); ignored",
			 strerror(-ret));
	free(a->resp);
	a->resp = ret ? NULL : plain;
	a->resp_len = ret ? 0 : plen;
	a->resp_cap = a->resp_len;
}

static bool header_ours(const char *name)
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
	ret = otlp_curl__config_headers(t, s, sig, header_ours, true);
	if (!ret)
		ret = otlp_curl__slist_add(&t->headers, "content-type: application/grpc");
	if (!ret)
		ret = otlp_curl__slist_add(&t->headers, "te: trailers");
	if (!ret)
		ret = otlp_curl__slist_add(&t->headers, "grpc-accept-encoding: identity,deflate,gzip");
	if (!ret && t->gzip)
		ret = otlp_curl__slist_add(&t->headers, "grpc-encoding: gzip");
	/* The server's deadline, so it can give up when we do. */
	if (!ret && otlp_grpc_timeout(t->timeout_ms, tmo, sizeof(tmo)) > 0) {
		snprintf(line, sizeof(line), "grpc-timeout: %s", tmo);
		ret = otlp_curl__slist_add(&t->headers, line);
	}
	/* libcurl's default "accept: * / *" means nothing to gRPC. */
	if (!ret)
		ret = otlp_curl__slist_add(&t->headers, "accept:");
	return ret;
}

/* a from the answer's HTTP status and gRPC headers/trailers r. */
static void grpc_verdict(struct otlp_attempt *a, struct otlp_grpc_answer *r)
{
	char text[OTLP_EXCERPT_MAX + 1] = "";
	int delay;

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
		a->outcome = OTLP_ATTEMPT_OK;
		take_message(a, r);
		return;
	}
	delay = r->details_cut ? -1 : otlp_grpc_retry_delay_ms(r->details);
	if (otlp_grpc_retryable(r->code, delay >= 0)) {
		a->outcome = OTLP_ATTEMPT_RETRY;
		a->retry_after_ms = delay;
	} else {
		a->outcome = OTLP_ATTEMPT_FAIL;
	}
	otlp_grpc_message_decode(r->message);
	otlp_excerpt(text, sizeof(text), (const uint8_t *)r->message,
		     strlen(r->message));
	snprintf(a->error, sizeof(a->error), "gRPC %s (%d)%s%s",
		 otlp_grpc_code_name(r->code), r->code, *text ? ": " : "", text);
}

static void grpc_send(const struct otlp_target *t, const uint8_t *body,
		      size_t len, const atomic_bool *stop,
		      struct otlp_attempt *a)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct otlp_grpc_answer *r;
	CURL *curl = t->curl;
	uint8_t *framed = NULL;
	size_t flen;
	long version = 0;
	int ret;
	CURLcode rc;

	/* t->gzip: body is already compressed (the exporter did it). */
	r = malloc(sizeof(*r));
	ret = r ? otlp_grpc_frame(body, len, t->gzip, &framed, &flen) : -ENOMEM;
	if (ret) {
		a->outcome = OTLP_ATTEMPT_FAIL;
		a->error_code = ret;
		snprintf(a->error, sizeof(a->error), "gRPC framing: %s",
			 strerror(-ret));
		goto cleanup;
	}
	otlp_grpc_answer__init(r);
	otlp_curl__setup(t, framed, flen, stop, errbuf, a);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_cb);
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

	rc = otlp_curl__perform(t, stop);
	if (rc != CURLE_OK) {
		otlp_curl__failed(rc, stop, errbuf, a);
		goto cleanup;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a->status);
	curl_easy_getinfo(curl, CURLINFO_HTTP_VERSION, &version);
	if (version != CURL_HTTP_VERSION_2_0) {
		a->outcome = OTLP_ATTEMPT_FAIL;
		a->error_code = (int)a->status;
		snprintf(a->error, sizeof(a->error),
			 "HTTP %ld over HTTP/1: the server does not speak HTTP/2 (not a gRPC endpoint?)",
			 a->status);
		goto cleanup;
	}
	grpc_verdict(a, r);
cleanup:
	free(framed);
	free(r);
}

const struct otlp_transport otlp_grpc_transport = {
	.name = "grpc",
	.init = grpc_init,
	.send = grpc_send,
};

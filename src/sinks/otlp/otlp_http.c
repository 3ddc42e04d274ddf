// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * otlp_http.c - the OTLP/HTTP transport (OTLP specification, "OTLP/HTTP"):
 * a POST of the binary protobuf request to the signal's URL; 2xx is
 * success, 429/502/503/504 are retried (after Retry-After when the server
 * gives one), any other status is final and its google.rpc.Status message
 * (or a text excerpt of a proxy's page) is reported.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "google_rpc_status.pb-c.h"
#include "sinks/otlp/otlp_http.h"
#include "sinks/otlp/otlp_transport.h"

/* curl_easy_header() (Retry-After, Content-Type) came in 7.83. */
#if LIBCURL_VERSION_NUM < 0x075300
#error "libcurl 7.83 or later is needed"
#endif

int otlp_http_retry_after_ms(const char *v, time_t now)
{
	char *end;
	long long s;
	time_t t;

	while (*v == ' ' || *v == '\t')
		v++;
	if (*v >= '0' && *v <= '9') {
		errno = 0;
		s = strtoll(v, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		if (*end)
			return -1;
		if (errno == ERANGE || s > OTLP_RETRY_AFTER_MAX_S)
			s = OTLP_RETRY_AFTER_MAX_S;
		return (int)(s * 1000);
	}
	t = curl_getdate(v, NULL);
	if (t == (time_t)-1)
		return -1;
	/* compared before subtracting: a date in the year 9999 must not
	 * overflow the int we return */
	if ((long long)t > (long long)now + OTLP_RETRY_AFTER_MAX_S)
		return OTLP_RETRY_AFTER_MAX_S * 1000;
	s = (long long)t - (long long)now;
	return s < 0 ? 0 : (int)(s * 1000);
}

static int retry_after_ms(CURL *curl)
{
	struct curl_header *h;

	if (curl_easy_header(curl, "Retry-After", 0, CURLH_HEADER, -1, &h) !=
	    CURLHE_OK)
		return -1;
	return otlp_http_retry_after_ms(h->value, time(NULL));
}

/* "HTTP 400: <Status.message or text excerpt>" into a->error. */
static void error_text(CURL *curl, struct otlp_attempt *a)
{
	char text[OTLP_EXCERPT_MAX + 1] = "";
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
		otlp_excerpt(text, sizeof(text), (const uint8_t *)st->message,
			     strlen(st->message));
	else if (!st)
		otlp_excerpt(text, sizeof(text), a->resp, a->resp_len);
	google__rpc__status__free_unpacked(st, NULL);
	snprintf(a->error, sizeof(a->error), "HTTP %ld%s%s", a->status,
		 *text ? ": " : "", text);
}

static bool header_ours(const char *name)
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
	ret = otlp_curl__config_headers(t, s, sig, header_ours, false);
	if (!ret)
		ret = otlp_curl__slist_add(&t->headers,
					   "Content-Type: application/x-protobuf");
	if (!ret && t->gzip)
		ret = otlp_curl__slist_add(&t->headers, "Content-Encoding: gzip");
	/* No "Expect: 100-continue" round trip before large bodies. */
	if (!ret)
		ret = otlp_curl__slist_add(&t->headers, "Expect:");
	return ret;
}

static void http_send(const struct otlp_target *t, const uint8_t *body,
		      size_t len, const atomic_bool *stop,
		      struct otlp_attempt *a)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *curl = t->curl;
	CURLcode rc;

	otlp_curl__setup(t, body, len, stop, errbuf, a);
	/* libcurl inflates a compressed answer into the collector, which
	 * ends the transfer past OTLP_RESP_MAX inflated bytes: the status
	 * line and headers are in by then, and what we keep is all we read. */
	curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
	a->stop_at_cap = true;
	rc = otlp_curl__perform(t, stop);
	if (rc == CURLE_WRITE_ERROR && a->resp_cut)
		rc = CURLE_OK;
	if (rc != CURLE_OK) {
		otlp_curl__failed(rc, stop, errbuf, a);
		return;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a->status);
	a->error_code = (int)a->status;
	if (a->status >= 200 && a->status < 300) {
		a->outcome = OTLP_ATTEMPT_OK;
		return;
	}
	switch (a->status) {
	case 429:
	case 503:
		a->retry_after_ms = retry_after_ms(curl);
		/* fall through */
	case 502:
	case 504:
		a->outcome = OTLP_ATTEMPT_RETRY;
		break;
	default:
		a->outcome = OTLP_ATTEMPT_FAIL;
		break;
	}
	error_text(curl, a);
}

const struct otlp_transport otlp_http_transport = {
	.name = "http/protobuf",
	.init = http_init,
	.send = http_send,
};

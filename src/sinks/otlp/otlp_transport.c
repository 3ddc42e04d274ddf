// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * otlp_transport.c - the libcurl plumbing under both OTLP transports: the
 * global init reference count, the options every attempt sets (one
 * per-attempt timeout that covers connect, send and the wait for an
 * answer; transfers run on the multi interface in 50 ms slices, so that
 * stopping never waits for a server),
 * a response collector that keeps at most OTLP_RESP_MAX bytes whatever the
 * server sends, which curl errors are worth a retry, and the configured
 * headers turned into request lines.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "sinks/otlp/otlp_transport.h"

#ifndef MEMTEL_VERSION
#define MEMTEL_VERSION "dev"
#endif

static pthread_mutex_t curl_global_lock = PTHREAD_MUTEX_INITIALIZER;
static int curl_global_users;

/* curl_global_init() is not thread-safe, hence the lock. */
int otlp_curl__get(void)
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

void otlp_curl__put(void)
{
	pthread_mutex_lock(&curl_global_lock);
	if (curl_global_users && !--curl_global_users)
		curl_global_cleanup();
	pthread_mutex_unlock(&curl_global_lock);
}

void otlp_excerpt(char *dst, size_t dlen, const uint8_t *src, size_t slen)
{
	size_t i, n = 0;

	if (!dlen)
		return;
	for (i = 0; i < slen && n + 1 < dlen && i < OTLP_EXCERPT_MAX; i++) {
		if (src[i] == '\r' || src[i] == '\n' || src[i] == '\t')
			dst[n++] = ' ';
		else
			dst[n++] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '.';
	}
	while (n && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

/* The server decides how much it sends; we keep OTLP_RESP_MAX bytes at
 * most and read (and drop) the rest, or with a->stop_at_cap end the
 * transfer there: what libcurl inflates for us (a gzip'ed OTLP/HTTP
 * answer) could otherwise be a zip bomb that burns the whole timeout. */
static size_t write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct otlp_attempt *a = arg;
	size_t n = size * nmemb, take, cap;
	uint8_t *tmp;

	take = a->resp_len < OTLP_RESP_MAX ? OTLP_RESP_MAX - a->resp_len : 0;
	if (take > n)
		take = n;
	if (take < n)
		a->resp_cut = true;
	if (!take)
		return a->stop_at_cap ? 0 : n;
	if (a->resp_len + take > a->resp_cap) {
		cap = a->resp_cap ? a->resp_cap * 2 : 4096;
		while (cap < a->resp_len + take)
			cap *= 2;
		tmp = realloc(a->resp, cap);
		if (!tmp)
			return n; /* keep what we have; the body is advisory */
		a->resp = tmp;
		a->resp_cap = cap;
	}
	memcpy(a->resp + a->resp_len, data, take);
	a->resp_len += take;
	return n;
}

/* Called by libcurl during a transfer: a non-zero return aborts it
 * (CURLE_ABORTED_BY_CALLBACK). otlp_curl__perform() checks the flag
 * itself between its short waits; this also covers what libcurl does
 * between them (a long resolve, a TLS handshake). */
static int progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	const atomic_bool *stop = arg;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return atomic_load(stop);
}

void otlp_curl__setup(const struct otlp_target *t, const uint8_t *body,
		      size_t len, const atomic_bool *stop, char *errbuf,
		      struct otlp_attempt *a)
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
	/* The whole attempt: resolve, connect, TLS, send, wait, receive. A
	 * collector that accepts and never answers costs this much. */
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)t->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)t->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM */
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)stop);
	if (t->cainfo)
		curl_easy_setopt(curl, CURLOPT_CAINFO, t->cainfo);
	if (t->sslcert)
		curl_easy_setopt(curl, CURLOPT_SSLCERT, t->sslcert);
	if (t->sslkey)
		curl_easy_setopt(curl, CURLOPT_SSLKEY, t->sslkey);
}

/* curl_easy_perform() would only notice a stop in the progress callback,
 * which libcurl calls once a second while a server is silent; the multi
 * interface lets us wait in short slices instead. */
CURLcode otlp_curl__perform(const struct otlp_target *t,
			    const atomic_bool *stop)
{
	CURLcode rc = CURLE_OK;
	CURLMsg *msg;
	int running = 1, left;

	if (curl_multi_add_handle(t->multi, t->curl) != CURLM_OK)
		return CURLE_OUT_OF_MEMORY;
	for (;;) {
		if (curl_multi_perform(t->multi, &running) != CURLM_OK) {
			rc = CURLE_OUT_OF_MEMORY;
			break;
		}
		if (!running)
			break;
		if (atomic_load(stop)) {
			rc = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
		if (curl_multi_poll(t->multi, NULL, 0, OTLP_STOP_POLL_MS, NULL) !=
		    CURLM_OK) {
			rc = CURLE_OUT_OF_MEMORY;
			break;
		}
	}
	while (!running && (msg = curl_multi_info_read(t->multi, &left)))
		if (msg->msg == CURLMSG_DONE)
			rc = msg->data.result;
	curl_multi_remove_handle(t->multi, t->curl);
	return rc;
}

/* Spec: retry on connection-level trouble, never on what resending cannot
 * fix (bad URL, TLS verification, unsupported scheme). */
static bool curl_retryable(CURLcode rc)
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

void otlp_curl__failed(CURLcode rc, const atomic_bool *stop,
		       const char *errbuf, struct otlp_attempt *a)
{
	a->status = 0;
	a->error_code = -(int)rc;
	if (rc == CURLE_ABORTED_BY_CALLBACK && atomic_load(stop))
		a->outcome = OTLP_ATTEMPT_ABORTED;
	else
		a->outcome = curl_retryable(rc) ? OTLP_ATTEMPT_RETRY :
						  OTLP_ATTEMPT_FAIL;
	snprintf(a->error, sizeof(a->error), "%.*s",
		 (int)sizeof(a->error) - 1,
		 *errbuf ? errbuf : curl_easy_strerror(rc));
}

int otlp_curl__slist_add(struct curl_slist **l, const char *s)
{
	struct curl_slist *n = curl_slist_append(*l, s);

	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

int otlp_curl__config_headers(struct otlp_target *t,
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
		ret = otlp_curl__slist_add(&t->headers, line);
		free(line);
		if (ret)
			return ret;
	}
	return 0;
}

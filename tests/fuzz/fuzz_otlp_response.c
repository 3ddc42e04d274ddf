// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_otlp_response.c - what a collector answers an export, as the
 * exporter reads it: HTTP/2 response headers and gRPC trailers
 * (grpc-status, grpc-message, grpc-encoding, grpc-status-details-bin: a
 * base64 google.rpc.Status with a RetryInfo detail), Retry-After values,
 * and the body: a framed, maybe gzip/deflate-compressed message that is
 * an Export*ServiceResponse with partial_success.
 *
 * Input: header lines ("name: value\n") up to an empty line, then the
 * body; the first byte of the body picks the signal. Parsing must never
 * crash, and every number taken from the answer must stay in its bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sinks/otlp/otlp_export.h"
#include "sinks/otlp/otlp_grpc.h"
#include "sinks/otlp/otlp_http.h"

#define DAY_MS (86400 * 1000)
#define MSG_MAX (64 * 1024)
/* A fixed "now" for HTTP-dates: the run must be reproducible. */
#define NOW 1700000000

static void one_header(struct otlp_grpc_answer *r, const char *line, size_t n)
{
	const char *colon = memchr(line, ':', n);
	char *value;
	int ms;

	otlp_grpc_answer__header(r, line, n);
	if (!colon || (size_t)(colon - line) != 11 ||
	    strncasecmp(line, "retry-after", 11))
		return;
	value = strndup(colon + 1, n - (colon + 1 - line));
	if (!value)
		return;
	ms = otlp_http_retry_after_ms(value, NOW);
	if (ms < -1 || ms > DAY_MS)
		abort();
	free(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	struct otlp_grpc_answer *r = malloc(sizeof(*r));
	uint8_t *msg = NULL;
	size_t mlen = 0;
	int64_t rejected;
	char text[200];
	int ms, ret;

	if (!r)
		return 0;
	otlp_grpc_answer__init(r);
	while (p < end) {
		nl = memchr(p, '\n', end - p);
		if (!nl)
			nl = end;
		if (nl == p) {
			p++;
			break; /* the empty line: the body follows */
		}
		one_header(r, p, nl - p);
		p = nl < end ? nl + 1 : end;
	}
	if (r->code < -1 || r->code > OTLP_GRPC_UNAUTHENTICATED)
		abort();
	if (memchr(r->message, '\0', sizeof(r->message)) == NULL ||
	    memchr(r->details, '\0', sizeof(r->details)) == NULL ||
	    memchr(r->encoding, '\0', sizeof(r->encoding)) == NULL)
		abort();
	if (!r->details_cut) {
		ms = otlp_grpc_retry_delay_ms(r->details);
		if (ms < -1 || ms > DAY_MS)
			abort();
	}
	otlp_grpc_message_decode(r->message);
	(void)otlp_grpc_retryable(r->code, true);
	(void)otlp_grpc_code_name(r->code);

	if (p < end) {
		enum otlp_signal sig = (*p & 1) ? OTLP_PROFILES : OTLP_METRICS;

		p++;
		ret = otlp_grpc_message((const uint8_t *)p, end - p, r->encoding,
					MSG_MAX, &msg, &mlen);
		if (!ret) {
			if (mlen > MSG_MAX)
				abort();
			if (!otlp_export_partial_success(sig, msg, mlen, &rejected,
							 text, sizeof(text)) &&
			    (rejected < 0 || strlen(text) >= sizeof(text)))
				abort();
			free(msg);
		}
		/* The same bytes as an OTLP/HTTP body (not framed). */
		(void)otlp_export_partial_success(sig, (const uint8_t *)p,
						  end - p, &rejected, text,
						  sizeof(text));
	}
	free(r);
	return 0;
}

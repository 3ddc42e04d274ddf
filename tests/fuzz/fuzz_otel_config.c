// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_otel_config.c - the OTEL_* environment as a deployment (or whoever
 * writes a pod spec) sets it: endpoints, header lists, timeouts,
 * compression, protocol, resource attributes, the exporter switch. The
 * input is NUL-separated values for the variables below, in order; the
 * same values also go through the command-line setters. Loading must
 * never crash nor leak, an error must fit its buffer, and no redacted URL
 * or header list may show a header value or a URL's userinfo or query.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/otlp/otel_config.h"

static const char *const vars[] = {
	"OTEL_EXPORTER_OTLP_ENDPOINT",
	"OTEL_EXPORTER_OTLP_HEADERS",
	"OTEL_EXPORTER_OTLP_METRICS_HEADERS",
	"OTEL_EXPORTER_OTLP_TIMEOUT",
	"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
	"OTEL_EXPORTER_OTLP_COMPRESSION",
	"OTEL_EXPORTER_OTLP_PROTOCOL",
	"OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT",
	"OTEL_RESOURCE_ATTRIBUTES",
	"OTEL_SERVICE_NAME",
	"OTEL_METRIC_EXPORT_INTERVAL",
	"OTEL_METRIC_EXPORT_TIMEOUT",
	"OTEL_METRICS_EXPORTER",
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

/* A redacted URL keeps no userinfo and no query. */
static void check_redacted(const char *url)
{
	char buf[512];
	const char *auth, *at, *q;

	/* A cut result may end inside "?***"; what fits is checked. */
	if (otel_redact_url(url, buf, sizeof(buf)) >= (int)sizeof(buf) || !url)
		return;
	auth = strstr(buf, "://");
	auth = auth ? auth + 3 : buf;
	q = strchr(buf, '?');
	if (q && strcmp(q, "?***"))
		abort();
	if (strchr(buf, '#'))
		abort();
	at = memchr(auth, '@', strcspn(auth, "/?#"));
	if (at && (at - auth != 3 || strncmp(auth, "***", 3)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *p, *val[NVARS] = { 0 };
	struct otel_config c;
	char err[256], hdrs[1024], want[1024];
	size_t i, n = 0, off;
	int s;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (p = copy; n < NVARS && p <= copy + size; p += strlen(p) + 1)
		val[n++] = p;
	for (i = 0; i < NVARS; i++) {
		if (i < n && *val[i])
			setenv(vars[i], val[i], 1);
		else
			unsetenv(vars[i]);
	}
	err[0] = '\0';
	if (otel_config__load(&c, err, sizeof(err)) == 0) {
		if (n > 0)
			(void)otel_config__set_endpoint(&c, val[0], err, sizeof(err));
		if (n > 1)
			(void)otel_config__add_header(&c, val[1], err, sizeof(err));
		if (n > 5)
			(void)otel_config__set_compression(&c, val[5], err, sizeof(err));
		if (n > 6)
			(void)otel_config__set_protocol(&c, val[6], err, sizeof(err));
		for (s = 0; s < OTLP_SIGNAL_CNT; s++) {
			if (c.signal[s].timeout_ms <= 0)
				abort();
			check_redacted(c.signal[s].url);
			/* Names only: exactly "k1=<redacted>, k2=<redacted>". */
			otel_config__redacted_headers(&c, s, hdrs, sizeof(hdrs));
			want[0] = '\0';
			for (i = 0, off = 0; i < c.signal[s].n_headers; i++)
				off += snprintf(off < sizeof(want) ? want + off : NULL,
						off < sizeof(want) ?
						sizeof(want) - off : 0,
						"%s%s=<redacted>", i ? ", " : "",
						c.signal[s].headers[i].key);
			if (!c.signal[s].n_headers)
				snprintf(want, sizeof(want), "none");
			if (strncmp(hdrs, want, sizeof(hdrs) - 1))
				abort();
		}
		if (c.interval_ms <= 0 || c.export_timeout_ms <= 0)
			abort();
	}
	if (strnlen(err, sizeof(err)) == sizeof(err))
		abort();
	otel_config__free(&c);
	for (i = 0; i < n; i++)
		check_redacted(val[i]);
	free(copy);
	return 0;
}
